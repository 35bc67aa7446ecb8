// libpng decoding/encoding from memory; libpng errors longjmp back here (png_jmpbuf).
#include "CImageShim.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <png.h>

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    int status;
    char message[256];
} cis_png_state;

static void cis_png_error_fn(png_structp png, png_const_charp text) {
    cis_png_state *st = (cis_png_state *)png_get_error_ptr(png);
    if (st) {
        if (st->status == CIS_OK) st->status = CIS_ERR_CORRUPT;
        if (st->message[0] == 0) snprintf(st->message, sizeof st->message, "%s", text);
    }
    png_longjmp(png, 1);
}

static void cis_png_warning_fn(png_structp png, png_const_charp text) {
    (void)png; (void)text;   // benign problems (bad ancillary chunks): ignored, nothing printed
}

static void cis_png_read_fn(png_structp png, png_bytep dst, size_t length) {
    cis_png_state *st = (cis_png_state *)png_get_io_ptr(png);
    if (length > st->size - st->pos) {
        st->status = CIS_ERR_TRUNCATED;
        snprintf(st->message, sizeof st->message, "data ends at byte %zu, %zu more needed",
                 st->size, length - (st->size - st->pos));
        png_error(png, "truncated");
    }
    memcpy(dst, st->data + st->pos, length);
    st->pos += length;
}

static void cis_copy(char *msg, size_t msg_len, const char *text) {
    if (msg && msg_len > 0) snprintf(msg, msg_len, "%s", text);
}

int cis_png_decode(const uint8_t *data, size_t size, int64_t max_pixels, cis_image *out,
                   char *msg, size_t msg_len) {
    cis_png_state st;
    memset(&st, 0, sizeof st);
    st.data = data;
    st.size = size;
    memset(out, 0, sizeof *out);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, cis_png_error_fn,
                                             cis_png_warning_fn);
    if (!png) { cis_copy(msg, msg_len, "out of memory"); return CIS_ERR_NOMEM; }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        cis_copy(msg, msg_len, "out of memory");
        return CIS_ERR_NOMEM;
    }
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pixels);
        free(rows);
        cis_copy(msg, msg_len, st.message[0] ? st.message : "libpng error");
        return st.status == CIS_OK ? CIS_ERR_CORRUPT : st.status;
    }
    png_set_read_fn(png, &st, cis_png_read_fn);
    // libpng's own default caps width and height at 1,000,000 each; lift them so that the caller's
    // pixel limit (checked below, before allocating) decides, and reports the size.
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);

    png_uint_32 w = 0, h = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &w, &h, &bit_depth, &color_type, &interlace, NULL, NULL);
    out->width = (int)w;
    out->height = (int)h;
    out->bit_depth = bit_depth;
    out->progressive = interlace != PNG_INTERLACE_NONE;
    out->components = png_get_channels(png, info);
    if ((int64_t)w * (int64_t)h > max_pixels) {
        png_destroy_read_struct(&png, &info, NULL);
        cis_copy(msg, msg_len, "image too large");
        return CIS_ERR_TOO_LARGE;
    }
    const int trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY: out->color_model = CIS_MODEL_GRAY; break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: out->color_model = CIS_MODEL_GRAY_ALPHA; break;
    case PNG_COLOR_TYPE_RGB: out->color_model = CIS_MODEL_RGB; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: out->color_model = CIS_MODEL_RGBA; break;
    case PNG_COLOR_TYPE_PALETTE: out->color_model = CIS_MODEL_PALETTE; break;
    default: out->color_model = CIS_MODEL_OTHER; break;
    }
    out->has_transparency = trns || (color_type & PNG_COLOR_MASK_ALPHA) != 0;

    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (trns) png_set_tRNS_to_alpha(png);
    if (bit_depth == 16) png_set_strip_16(png);   // keep the high byte, as Pillow's ;16B modes do
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    const int channels = png_get_channels(png, info);
    const size_t rowbytes = png_get_rowbytes(png, info);
    if ((channels != 3 && channels != 4) || png_get_bit_depth(png, info) != 8 ||
        rowbytes != (size_t)w * (size_t)channels) {
        snprintf(st.message, sizeof st.message, "unexpected layout after transforms (%d channels)", channels);
        png_error(png, st.message);
    }
    pixels = (uint8_t *)malloc(rowbytes * h);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * h);
    if (!pixels || !rows) {
        st.status = CIS_ERR_NOMEM;
        snprintf(st.message, sizeof st.message, "out of memory");
        png_error(png, st.message);
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = pixels + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    out->channels = channels;
    out->pixels = pixels;
    return CIS_OK;
}

typedef struct {
    uint8_t *data;
    size_t size, capacity;
    int status;
    char message[256];
} cis_png_sink;

static void cis_png_write_fn(png_structp png, png_bytep src, size_t length) {
    cis_png_sink *sink = (cis_png_sink *)png_get_io_ptr(png);
    if (length > sink->capacity - sink->size) {
        size_t cap = sink->capacity ? sink->capacity : 65536;
        while (cap - sink->size < length) cap *= 2;
        uint8_t *grown = (uint8_t *)realloc(sink->data, cap);
        if (!grown) {
            sink->status = CIS_ERR_NOMEM;
            png_error(png, "out of memory");
        }
        sink->data = grown;
        sink->capacity = cap;
    }
    memcpy(sink->data + sink->size, src, length);
    sink->size += length;
}

static void cis_png_flush_fn(png_structp png) { (void)png; }

int cis_png_encode_rgb8(const uint8_t *rgb, int width, int height, uint8_t **out, size_t *out_size,
                        char *msg, size_t msg_len) {
    *out = NULL;
    *out_size = 0;
    if (width <= 0 || height <= 0) { cis_copy(msg, msg_len, "empty image"); return CIS_ERR_CORRUPT; }
    cis_png_state st;
    memset(&st, 0, sizeof st);
    cis_png_sink sink;
    memset(&sink, 0, sizeof sink);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &st, cis_png_error_fn,
                                              cis_png_warning_fn);
    if (!png) { cis_copy(msg, msg_len, "out of memory"); return CIS_ERR_NOMEM; }
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        cis_copy(msg, msg_len, "out of memory");
        return CIS_ERR_NOMEM;
    }
    png_bytep *volatile rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        free(sink.data);
        cis_copy(msg, msg_len, st.message[0] ? st.message : "libpng error");
        return sink.status != CIS_OK ? sink.status : (st.status == CIS_OK ? CIS_ERR_CORRUPT : st.status);
    }
    png_set_write_fn(png, &sink, cis_png_write_fn, cis_png_flush_fn);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * (size_t)height);
    if (!rows) {
        sink.status = CIS_ERR_NOMEM;
        png_error(png, "out of memory");
    }
    for (int y = 0; y < height; y++) rows[y] = (png_bytep)(rgb + (size_t)y * (size_t)width * 3);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    *out = sink.data;
    *out_size = sink.size;
    return CIS_OK;
}
