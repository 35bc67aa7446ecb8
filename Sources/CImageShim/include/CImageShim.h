#ifndef SWIFTCAP_CIMAGESHIM_H
#define SWIFTCAP_CIMAGESHIM_H
// C side of SwiftCapImage: libjpeg-turbo / libpng calls wrapped so that every library error
// returns a status code (setjmp/longjmp stays inside C), plus the 8-bit resampling and
// normalisation hot loops (compiled with optimisation even in debug builds).
#include <stddef.h>
#include <stdint.h>

/// Status codes returned by the decode/encode functions.
enum {
    CIS_OK = 0,
    CIS_ERR_CORRUPT = 1,     // the library rejected the data (message in msg)
    CIS_ERR_TRUNCATED = 2,   // the data ended early
    CIS_ERR_TOO_LARGE = 3,   // width * height above max_pixels (width/height filled in)
    CIS_ERR_NOMEM = 4,       // allocation failed
    CIS_ERR_LIMIT = 5        // a safety limit other than size was hit (e.g. too many JPEG scans)
};

/// Colour model of the source file.
enum {
    CIS_MODEL_GRAY = 0, CIS_MODEL_RGB = 1, CIS_MODEL_YCBCR = 2, CIS_MODEL_CMYK = 3,
    CIS_MODEL_YCCK = 4, CIS_MODEL_PALETTE = 5, CIS_MODEL_GRAY_ALPHA = 6, CIS_MODEL_RGBA = 7,
    CIS_MODEL_OTHER = 8
};

/// A decoded image. `pixels` is malloc'd: [height, width, channels] uint8, channels 3 (RGB) or 4
/// (RGBA, straight alpha). Free with cis_free.
typedef struct {
    int width, height, channels;
    int color_model;        // CIS_MODEL_*
    int components;         // components in the file (JPEG) or PNG channels before transforms
    int bit_depth;          // bits per sample in the file
    int progressive;        // JPEG: progressive (multi-scan) coding; PNG: Adam7 interlacing
    int adobe_inverted;     // JPEG CMYK/YCCK with an Adobe APP14 marker (inverted polarity)
    int has_transparency;   // PNG alpha channel or tRNS chunk
    uint8_t *pixels;
} cis_image;

/// Decodes a JPEG from memory to RGB (grayscale replicated, CMYK converted as Pillow does, with
/// Adobe polarity inverted when the APP14 marker is present). Fails with CIS_ERR_TOO_LARGE before
/// allocating when width*height > max_pixels. msg receives a human-readable reason.
int cis_jpeg_decode(const uint8_t *data, size_t size, int64_t max_pixels, cis_image *out,
                    char *msg, size_t msg_len);

/// Decodes a PNG from memory to RGB or RGBA 8-bit (16-bit samples keep their high byte, palette
/// expanded, gray replicated, tRNS turned into alpha).
int cis_png_decode(const uint8_t *data, size_t size, int64_t max_pixels, cis_image *out,
                   char *msg, size_t msg_len);

/// Encodes [height, width, 3] RGB8 as PNG into a malloc'd buffer (*out, *out_size; free with cis_free).
int cis_png_encode_rgb8(const uint8_t *rgb, int width, int height, uint8_t **out, size_t *out_size,
                        char *msg, size_t msg_len);

void cis_free(void *p);

/// EXIF orientation (1-8) applied to [h, w, ch] src; dst is [w, h, ch] for 5-8, else [h, w, ch].
void cis_orient(const uint8_t *src, int w, int h, int ch, int orientation, uint8_t *dst);

/// Pillow ImagingResampleHorizontal_8bpc for RGB rows: for rows y in [y0, y1) and output columns
/// xx in [x0, x1): dst[(y - y0) * dst_stride + (xx - x0) * 3 + c] =
/// clip8(sum_k src[(y + src_row_offset) * src_stride + (bounds[2xx] - src_col_shift + k) * 3 + c] * kk[xx * ksize + k]).
void cis_resample_h(const uint8_t *src, int src_stride, int src_row_offset, int src_col_shift, uint8_t *dst,
                    int dst_stride, int y0, int y1, int x0, int x1,
                    const int32_t *bounds, const int32_t *kk, int ksize);

/// Pillow ImagingResampleVertical_8bpc for RGB: output rows yy in [y0, y1), `width` pixels each;
/// source row index is bounds[2yy] - src_row_shift + k.
void cis_resample_v(const uint8_t *src, int src_stride, int src_row_shift, uint8_t *dst,
                    int dst_stride, int y0, int y1, int width,
                    const int32_t *bounds, const int32_t *kk, int ksize);

/// [h, w, 3] uint8 rows [y0, y1) -> planar float [3, h, w]:
/// mode 0: (x / 255 - mean[c]) / std[c];  mode 1: (x - mean[c]) / std[c]  (float32 arithmetic).
void cis_normalize_chw(const uint8_t *src, int w, int h, int y0, int y1, float *dst, int mode,
                       const float *mean, const float *std);

#endif
