#include "sc_conv.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static inline float sc_act(float v, int act, float a, float b) {
    switch (act) {
    case SC_ACT_RELU: return v > 0.f ? v : 0.f;
    case SC_ACT_RELU6: return v < 0.f ? 0.f : (v > 6.f ? 6.f : v);
    case SC_ACT_HARDSWISH: {
        float t = v + 3.f;
        t = t < 0.f ? 0.f : (t > 6.f ? 6.f : t);
        return v * t / 6.f;
    }
    case SC_ACT_HARDSIGMOID: {
        float t = a * v + b;
        return t < 0.f ? 0.f : (t > 1.f ? 1.f : t);
    }
    case SC_ACT_SIGMOID: return 1.f / (1.f + expf(-v));
    default: return v;
    }
}

// Applies the activation to n values; written per case so each loop vectorizes.
static void sc_act_row(float *y, int n, float bias, int act, float a, float b) {
    int i;
    switch (act) {
    case SC_ACT_NONE:
        if (bias != 0.f) for (i = 0; i < n; i++) y[i] += bias;
        break;
    case SC_ACT_RELU:
        for (i = 0; i < n; i++) { float v = y[i] + bias; y[i] = v > 0.f ? v : 0.f; }
        break;
    case SC_ACT_RELU6:
        for (i = 0; i < n; i++) { float v = y[i] + bias; v = v < 0.f ? 0.f : v; y[i] = v > 6.f ? 6.f : v; }
        break;
    case SC_ACT_HARDSWISH:
        for (i = 0; i < n; i++) {
            float v = y[i] + bias, t = v + 3.f;
            t = t < 0.f ? 0.f : t; t = t > 6.f ? 6.f : t;
            y[i] = v * t / 6.f;
        }
        break;
    case SC_ACT_HARDSIGMOID:
        for (i = 0; i < n; i++) {
            float t = a * (y[i] + bias) + b;
            t = t < 0.f ? 0.f : t; y[i] = t > 1.f ? 1.f : t;
        }
        break;
    default:
        for (i = 0; i < n; i++) y[i] = sc_act(y[i] + bias, act, a, b);
    }
}

void sc_bias_act(float *y, int n, const float *bias, int c0, int c1, int act, float actA, float actB) {
    for (int c = c0; c < c1; c++) sc_act_row(y + (size_t)c * n, n, bias ? bias[c] : 0.f, act, actA, actB);
}

void sc_conv_depthwise(const float *x, int H, int W, const float *w, int kh, int kw,
                       int sh, int sw, int pt, int pl, int dh, int dw,
                       const float *bias, float *y, int OH, int OW, int c0, int c1,
                       int act, float actA, float actB) {
    // Each channel is copied into a zero-padded plane so the inner loops have no bounds tests.
    const int PH = (OH - 1) * sh + (kh - 1) * dh + 1;
    const int PW = (OW - 1) * sw + (kw - 1) * dw + 1;
    float *pad = (float *)malloc(sizeof(float) * (size_t)PH * PW);
    float *acc = (float *)malloc(sizeof(float) * (size_t)(OW + 16));
    if (!pad || !acc) { free(pad); free(acc); return; }
    for (int c = c0; c < c1; c++) {
        const float *xc = x + (size_t)c * H * W;
        const float *wc = w + (size_t)c * kh * kw;
        float *yc = y + (size_t)c * OH * OW;
        memset(pad, 0, sizeof(float) * (size_t)PH * PW);
        for (int r = 0; r < PH; r++) {
            int sr = r - pt;
            if (sr < 0 || sr >= H) continue;
            int lo = pl, hi = pl + W;           // destination columns covered by the source row
            int s0 = 0;
            if (lo < 0) { s0 = -lo; lo = 0; }
            if (hi > PW) hi = PW;
            if (hi > lo) memcpy(pad + (size_t)r * PW + lo, xc + (size_t)sr * W + s0, sizeof(float) * (size_t)(hi - lo));
        }
        const float b = bias ? bias[c] : 0.f;
        for (int oh = 0; oh < OH; oh++) {
            float *out = yc + (size_t)oh * OW;
            for (int o = 0; o < OW; o++) acc[o] = 0.f;
            for (int i = 0; i < kh; i++) {
                const float *prow = pad + (size_t)(oh * sh + i * dh) * PW;
                for (int j = 0; j < kw; j++) {
                    const float wv = wc[i * kw + j];
                    const float *p = prow + j * dw;
                    if (sw == 1) {
                        for (int o = 0; o < OW; o++) acc[o] += wv * p[o];
                    } else if (sw == 2) {
                        for (int o = 0; o < OW; o++) acc[o] += wv * p[2 * o];
                    } else {
                        for (int o = 0; o < OW; o++) acc[o] += wv * p[o * sw];
                    }
                }
            }
            for (int o = 0; o < OW; o++) out[o] = acc[o];
            sc_act_row(out, OW, b, act, actA, actB);
        }
    }
    free(pad);
    free(acc);
}

void sc_im2col(const float *x, int H, int W, int kh, int kw, int sh, int sw, int pt, int pl,
               int dh, int dw, int OH, int OW, float *col, int r0, int r1) {
    const size_t n = (size_t)OH * OW;
    for (int r = r0; r < r1; r++) {
        const int j = r % kw, i = (r / kw) % kh, c = r / (kw * kh);
        const float *xc = x + (size_t)c * H * W;
        float *dst = col + (size_t)r * n;
        for (int oh = 0; oh < OH; oh++) {
            const int ih = oh * sh + i * dh - pt;
            float *d = dst + (size_t)oh * OW;
            if (ih < 0 || ih >= H) { memset(d, 0, sizeof(float) * (size_t)OW); continue; }
            const float *srow = xc + (size_t)ih * W;
            const int off = j * dw - pl;
            if (sw == 1) {
                // valid ow range: 0 <= ow + off < W
                int lo = off < 0 ? -off : 0;
                int hi = W - off; if (hi > OW) hi = OW; if (hi < lo) hi = lo;
                for (int o = 0; o < lo && o < OW; o++) d[o] = 0.f;
                if (hi > lo) memcpy(d + lo, srow + lo + off, sizeof(float) * (size_t)(hi - lo));
                for (int o = hi; o < OW; o++) d[o] = 0.f;
            } else {
                for (int o = 0; o < OW; o++) {
                    const int iw = o * sw + off;
                    d[o] = (iw >= 0 && iw < W) ? srow[iw] : 0.f;
                }
            }
        }
    }
}

void sc_bias_act_block(float *y, int ld, int cols, const float *bias, int c0, int c1, int act, float actA, float actB) {
    for (int c = c0; c < c1; c++) sc_act_row(y + (size_t)c * ld, cols, bias ? bias[c] : 0.f, act, actA, actB);
}

void sc_maxpool(const float *x, int H, int W, float *y, int OH, int OW, int kh, int kw, int sh, int sw,
                int pt, int pl, int dh, int dw, int p0, int p1) {
    for (int p = p0; p < p1; p++) {
        const float *xp = x + (size_t)p * H * W;
        float *yp = y + (size_t)p * OH * OW;
        for (int i = 0; i < OH; i++) {
            const int hs = i * sh - pt;
            for (int j = 0; j < OW; j++) {
                const int ws = j * sw - pl;
                float m = -INFINITY;
                for (int a = 0; a < kh; a++) {
                    const int r = hs + a * dh;
                    if (r < 0 || r >= H) continue;
                    const float *row = xp + (size_t)r * W;
                    for (int b = 0; b < kw; b++) {
                        const int q = ws + b * dw;
                        if (q < 0 || q >= W) continue;
                        const float v = row[q];
                        if (v > m || v != v) m = v;
                    }
                }
                yp[(size_t)i * OW + j] = m;
            }
        }
    }
}

void sc_plane_mean(const float *x, int n, float *y, int p0, int p1) {
    for (int p = p0; p < p1; p++) {
        const float *r = x + (size_t)p * n;
        float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        int i = 0;
        for (; i + 8 <= n; i += 8)
            for (int k = 0; k < 8; k++) acc[k] += r[i + k];
        float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
        for (; i < n; i++) s += r[i];
        y[p] = s / (float)n;
    }
}
