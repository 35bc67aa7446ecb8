// libjpeg-turbo decoding with an error manager that longjmps back here instead of exit().
#include "CImageShim.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>

/// Most scans a JPEG may have; crafted progressive files with thousands of scans are a known
/// way to make libjpeg spend minutes on a few kilobytes.
#define CIS_JPEG_MAX_SCANS 1000

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int status;
    char message[JMSG_LENGTH_MAX + 64];
} cis_jpeg_error;

static void cis_jpeg_error_exit(j_common_ptr cinfo) {
    cis_jpeg_error *err = (cis_jpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    err->status = CIS_ERR_CORRUPT;
    longjmp(err->jump, 1);
}

static void cis_jpeg_emit_message(j_common_ptr cinfo, int level) {
    cis_jpeg_error *err = (cis_jpeg_error *)cinfo->err;
    if (level < 0) {
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
            // jpeg_mem_src hit the end of the data and would pad with a fake EOI.
            (*cinfo->err->format_message)(cinfo, err->message);
            err->status = CIS_ERR_TRUNCATED;
            longjmp(err->jump, 1);
        }
        cinfo->err->num_warnings++;   // corrupt-data warnings: keep decoding, as Pillow does
    }
    // trace messages (level >= 0) are ignored; nothing is printed.
}

static void cis_jpeg_progress(j_common_ptr cinfo) {
    if (cinfo->is_decompressor) {
        j_decompress_ptr d = (j_decompress_ptr)cinfo;
        if (d->input_scan_number > CIS_JPEG_MAX_SCANS) {
            cis_jpeg_error *err = (cis_jpeg_error *)cinfo->err;
            snprintf(err->message, sizeof err->message, "more than %d scans", CIS_JPEG_MAX_SCANS);
            err->status = CIS_ERR_LIMIT;
            longjmp(err->jump, 1);
        }
    }
}

static void cis_copy_message(char *msg, size_t msg_len, const char *text) {
    if (msg && msg_len > 0) {
        snprintf(msg, msg_len, "%s", text);
    }
}

/// Pillow's CMYK -> RGB (Convert.c cmyk2rgb): r = nk - nk*c/255 with nk = 255 - k, rounded as MULDIV255.
static inline uint8_t cis_cmyk_channel(int c, int nk) {
    int tmp = c * nk + 128;
    int v = nk - (((tmp >> 8) + tmp) >> 8);
    return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

int cis_jpeg_decode(const uint8_t *data, size_t size, int64_t max_pixels, cis_image *out,
                    char *msg, size_t msg_len) {
    struct jpeg_decompress_struct cinfo;
    cis_jpeg_error err;
    struct jpeg_progress_mgr progress;
    // volatile: modified between setjmp and longjmp.
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile row = NULL;

    memset(out, 0, sizeof *out);
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = cis_jpeg_error_exit;
    err.pub.emit_message = cis_jpeg_emit_message;
    err.status = CIS_OK;
    err.message[0] = 0;
    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        free(row);
        cis_copy_message(msg, msg_len, err.message);
        return err.status == CIS_OK ? CIS_ERR_CORRUPT : err.status;
    }
    jpeg_create_decompress(&cinfo);
    progress.progress_monitor = cis_jpeg_progress;
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);

    out->width = (int)cinfo.image_width;
    out->height = (int)cinfo.image_height;
    out->components = cinfo.num_components;
    out->bit_depth = cinfo.data_precision;
    out->progressive = cinfo.progressive_mode ? 1 : 0;
    if ((int64_t)cinfo.image_width * (int64_t)cinfo.image_height > max_pixels) {
        jpeg_destroy_decompress(&cinfo);
        cis_copy_message(msg, msg_len, "image too large");
        return CIS_ERR_TOO_LARGE;
    }
    int cmyk = 0;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: out->color_model = CIS_MODEL_GRAY; cinfo.out_color_space = JCS_RGB; break;
    case JCS_YCbCr: out->color_model = CIS_MODEL_YCBCR; cinfo.out_color_space = JCS_RGB; break;
    case JCS_RGB: out->color_model = CIS_MODEL_RGB; cinfo.out_color_space = JCS_RGB; break;
    case JCS_CMYK: out->color_model = CIS_MODEL_CMYK; cinfo.out_color_space = JCS_CMYK; cmyk = 1; break;
    case JCS_YCCK: out->color_model = CIS_MODEL_YCCK; cinfo.out_color_space = JCS_CMYK; cmyk = 1; break;
    default:
        jpeg_destroy_decompress(&cinfo);
        cis_copy_message(msg, msg_len, "unsupported JPEG colour space");
        return CIS_ERR_CORRUPT;
    }
    out->adobe_inverted = (cmyk && cinfo.saw_Adobe_marker) ? 1 : 0;
    jpeg_start_decompress(&cinfo);

    const size_t w = cinfo.output_width, h = cinfo.output_height;
    if (w == 0 || h == 0 || (int)cinfo.output_components != (cmyk ? 4 : 3)) {
        jpeg_destroy_decompress(&cinfo);
        cis_copy_message(msg, msg_len, "unexpected output geometry");
        return CIS_ERR_CORRUPT;
    }
    pixels = (uint8_t *)malloc(w * h * 3);
    if (cmyk) row = (uint8_t *)malloc(w * 4);
    if (!pixels || (cmyk && !row)) {
        jpeg_destroy_decompress(&cinfo);
        free(pixels);
        free(row);
        cis_copy_message(msg, msg_len, "out of memory");
        return CIS_ERR_NOMEM;
    }
    const int inverted = out->adobe_inverted;
    while (cinfo.output_scanline < cinfo.output_height) {
        const size_t y = cinfo.output_scanline;
        if (!cmyk) {
            JSAMPROW dst = (JSAMPROW)(pixels + y * w * 3);
            jpeg_read_scanlines(&cinfo, &dst, 1);
        } else {
            JSAMPROW dst = (JSAMPROW)row;
            jpeg_read_scanlines(&cinfo, &dst, 1);
            uint8_t *o = pixels + y * w * 3;
            for (size_t x = 0; x < w; x++) {
                const uint8_t *p = row + x * 4;
                int c = p[0], m = p[1], yy = p[2], k = p[3];
                if (inverted) { c = 255 - c; m = 255 - m; yy = 255 - yy; k = 255 - k; }
                const int nk = 255 - k;
                o[x * 3 + 0] = cis_cmyk_channel(c, nk);
                o[x * 3 + 1] = cis_cmyk_channel(m, nk);
                o[x * 3 + 2] = cis_cmyk_channel(yy, nk);
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    out->width = (int)w;
    out->height = (int)h;
    out->channels = 3;
    out->pixels = pixels;
    return CIS_OK;
}

void cis_free(void *p) { free(p); }
