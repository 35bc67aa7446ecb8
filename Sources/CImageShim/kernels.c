// Hot loops of SwiftCapImage: Pillow-compatible 8-bit separable resampling, normalisation to
// planar float, EXIF orientation. Callers split rows across threads.
#include "CImageShim.h"
#include <string.h>

#define CIS_PRECISION_BITS (32 - 8 - 2)

static inline uint8_t cis_clip8(int v) {
    if (v >= (1 << CIS_PRECISION_BITS << 8)) return 255;
    if (v <= 0) return 0;
    return (uint8_t)(v >> CIS_PRECISION_BITS);
}

// Four int32 lanes per pixel (R, G, B and one spare); integer sums are exact, so the order of
// accumulation cannot change a result.
typedef int32_t cis_v4si __attribute__((vector_size(16)));
typedef uint8_t cis_v4qu __attribute__((vector_size(4)));

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
            const int half = 1 << (CIS_PRECISION_BITS - 1);
            cis_v4si acc = {half, half, half, 0};
            int x = 0;
            // 4-byte loads take one byte of the following pixel; the last tap is done separately so
            // no load reaches past the pixels this output reads.
            for (; x < xmax - 1; x++) {
                cis_v4qu b;
                memcpy(&b, p + x * 3, 4);
                acc += __builtin_convertvector(b, cis_v4si) * k[x];
            }
            int s0 = acc[0], s1 = acc[1], s2 = acc[2];
            if (x < xmax) {
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
    // 256-entry table per channel, each entry computed with the reference formula in float32,
    // so the lookup gives the same bits as evaluating the formula per pixel.
    float table[3][256];
    for (int c = 0; c < 3; c++) {
        const float m = mean[c], s = std[c];
        for (int v = 0; v < 256; v++) {
            if (mode == 0) {
                const float unit = (float)v / 255.0f;   // torchvision: to float, / 255
                table[c][v] = (unit - m) / s;
            } else {
                table[c][v] = ((float)v - m) / s;
            }
        }
    }
    for (int y = y0; y < y1; y++) {
        const uint8_t *in = src + (size_t)y * (size_t)w * 3;
        float *o0 = dst + (size_t)y * (size_t)w, *o1 = o0 + plane, *o2 = o1 + plane;
        for (int x = 0; x < w; x++) {
            o0[x] = table[0][in[x * 3]];
            o1[x] = table[1][in[x * 3 + 1]];
            o2[x] = table[2][in[x * 3 + 2]];
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
