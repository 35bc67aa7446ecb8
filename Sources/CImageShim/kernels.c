// Hot loops of SwiftCapImage: Pillow-compatible 8-bit separable resampling, normalisation to
// planar float, EXIF orientation. Callers split rows across threads.
#include "CImageShim.h"

#define CIS_PRECISION_BITS (32 - 8 - 2)

static inline uint8_t cis_clip8(int v) {
    if (v >= (1 << CIS_PRECISION_BITS << 8)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> CIS_PRECISION_BITS);
}

void cis_resample_h(const uint8_t *src, int src_stride, int src_row_offset, int src_col_shift, uint8_t *dst,
                    int dst_stride, int y0, int y1, int x0, int x1,
                    const int32_t *bounds, const int32_t *kk, int ksize) {
    for (int y = y0; y < y1; y++) {
        const uint8_t *in = src + (size_t)(y + src_row_offset) * (size_t)src_stride;
        uint8_t *o = dst + (size_t)(y - y0) * (size_t)dst_stride;
        for (int xx = x0; xx < x1; xx++) {
            const int xmin = bounds[xx * 2], xmax = bounds[xx * 2 + 1];
            const int32_t *k = kk + (size_t)xx * (size_t)ksize;
            const uint8_t *p = in + (size_t)(xmin - src_col_shift) * 3;
            int s0 = 1 << (CIS_PRECISION_BITS - 1), s1 = s0, s2 = s0;
            for (int x = 0; x < xmax; x++) {
                const int32_t w = k[x];
                s0 += p[x * 3 + 0] * w;
                s1 += p[x * 3 + 1] * w;
                s2 += p[x * 3 + 2] * w;
            }
            uint8_t *q = o + (size_t)(xx - x0) * 3;
            q[0] = cis_clip8(s0);
            q[1] = cis_clip8(s1);
            q[2] = cis_clip8(s2);
        }
    }
}

void cis_resample_v(const uint8_t *src, int src_stride, int src_row_shift, uint8_t *dst,
                    int dst_stride, int y0, int y1, int width,
                    const int32_t *bounds, const int32_t *kk, int ksize) {
    const int n = width * 3;
    for (int yy = y0; yy < y1; yy++) {
        const int ymin = bounds[yy * 2] - src_row_shift, ymax = bounds[yy * 2 + 1];
        const int32_t *k = kk + (size_t)yy * (size_t)ksize;
        uint8_t *o = dst + (size_t)(yy - y0) * (size_t)dst_stride;
        const uint8_t *base = src + (size_t)ymin * (size_t)src_stride;
        // Column blocks keep the accumulators in cache while walking the taps.
        enum { BLOCK = 256 };
        int acc[BLOCK];
        for (int i0 = 0; i0 < n; i0 += BLOCK) {
            const int len = (n - i0) < BLOCK ? (n - i0) : BLOCK;
            for (int i = 0; i < len; i++) acc[i] = 1 << (CIS_PRECISION_BITS - 1);
            for (int y = 0; y < ymax; y++) {
                const int32_t w = k[y];
                const uint8_t *row = base + (size_t)y * (size_t)src_stride + i0;
                for (int i = 0; i < len; i++) acc[i] += row[i] * w;
            }
            for (int i = 0; i < len; i++) o[i0 + i] = cis_clip8(acc[i]);
        }
    }
}

void cis_normalize_chw(const uint8_t *src, int w, int h, int y0, int y1, float *dst, int mode,
                       const float *mean, const float *std) {
    const size_t plane = (size_t)w * (size_t)h;
    for (int c = 0; c < 3; c++) {
        const float m = mean[c], s = std[c];
        for (int y = y0; y < y1; y++) {
            const uint8_t *in = src + (size_t)y * (size_t)w * 3 + c;
            float *o = dst + (size_t)c * plane + (size_t)y * (size_t)w;
            if (mode == 0) {
                for (int x = 0; x < w; x++) {
                    const float unit = (float)in[x * 3] / 255.0f;   // torchvision: to float, / 255
                    o[x] = (unit - m) / s;
                }
            } else {
                for (int x = 0; x < w; x++) o[x] = ((float)in[x * 3] - m) / s;
            }
        }
    }
}

void cis_orient(const uint8_t *src, int w, int h, int ch, int orientation, uint8_t *dst) {
    const int swap = orientation >= 5 && orientation <= 8;
    const int ow = swap ? h : w, oh = swap ? w : h;
    for (int y = 0; y < oh; y++) {
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (orientation) {
            case 2: sx = w - 1 - x; sy = y; break;                 // mirror horizontally
            case 3: sx = w - 1 - x; sy = h - 1 - y; break;         // rotate 180
            case 4: sx = x; sy = h - 1 - y; break;                 // mirror vertically
            case 5: sx = y; sy = x; break;                         // transpose
            case 6: sx = y; sy = h - 1 - x; break;                 // rotate 90 clockwise
            case 7: sx = w - 1 - y; sy = h - 1 - x; break;         // transverse
            case 8: sx = w - 1 - y; sy = x; break;                 // rotate 90 counter-clockwise
            default: sx = x; sy = y; break;
            }
            const uint8_t *p = src + ((size_t)sy * (size_t)w + (size_t)sx) * (size_t)ch;
            uint8_t *q = dst + ((size_t)y * (size_t)ow + (size_t)x) * (size_t)ch;
            for (int c = 0; c < ch; c++) q[c] = p[c];
        }
    }
}
