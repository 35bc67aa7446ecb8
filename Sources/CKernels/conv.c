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

void sc_conv_depthwise_ref(const float *x, int H, int W, const float *w, int kh, int kw,
                       int sh, int sw, int pt, int pl, int dh, int dw,
                       const float *bias, float *y, int OH, int OW, int c0, int c1,
                       int act, float actA, float actB) {
    // Each channel is copied into a zero-padded plane so the inner loops have no bounds tests.
    const int PH = (OH - 1) * sh + (kh - 1) * dh + 1;
    const int PW = (OW - 1) * sw + (kw - 1) * dw + 1;
    // Small stride-1 planes: one multiply-add pass per tap over the whole flattened padded plane
    // (output rows computed PW wide, the kw - 1 extra columns dropped), so loops are long enough
    // to vectorise even for 7x7 maps.
    const int flat = sh == 1 && sw == 1 && dh == 1 && dw == 1 && OH * PW <= 4096;
    float *pad = (float *)malloc(sizeof(float) * ((size_t)PH * PW + (size_t)kw + 16));
    float *restrict acc = (float *)malloc(sizeof(float) * (size_t)(flat ? OH * PW + 16 : OW + 16));
    if (!pad || !acc) { free(pad); free(acc); return; }
    for (int t = 0; t < kw + 16; t++) pad[(size_t)PH * PW + t] = 0.f;
    const int halfW = (PW + 1) / 2;
    float *deint = (!flat && sw == 2 && dw == 1) ? (float *)malloc(sizeof(float) * (size_t)PH * 2 * halfW) : NULL;
    if (!flat && sw == 2 && dw == 1 && !deint) { free(pad); free(acc); return; }
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
        if (deint) {
            // row r of the padded plane -> [even columns | odd columns], each halfW wide
            for (int r = 0; r < PH; r++) {
                const float *src = pad + (size_t)r * PW;
                float *ev = deint + (size_t)r * 2 * halfW, *od = ev + halfW;
                for (int m = 0; m < halfW; m++) {
                    ev[m] = 2 * m < PW ? src[2 * m] : 0.f;
                    od[m] = 2 * m + 1 < PW ? src[2 * m + 1] : 0.f;
                }
            }
        }
        if (flat) {
            const int n = OH * PW;
            for (int q = 0; q < n; q++) acc[q] = 0.f;
            for (int i = 0; i < kh; i++) {
                for (int j = 0; j < kw; j++) {
                    const float wv = wc[i * kw + j];
                    const float *restrict p = pad + (size_t)i * PW + j;
                    for (int q = 0; q < n; q++) acc[q] += wv * p[q];
                }
            }
            for (int oh = 0; oh < OH; oh++) {
                float *out = yc + (size_t)oh * OW;
                for (int o = 0; o < OW; o++) out[o] = acc[oh * PW + o];
                sc_act_row(out, OW, b, act, actA, actB);
            }
            continue;
        }
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
                    } else if (sw == 2 && dw == 1) {
                        // even/odd columns of this padded row were split into two unit-stride halves
                        const float *half = ((j & 1) ? deint + halfW : deint) + (j >> 1);
                        (void)p;
                        const float *hrow = half + (size_t)(oh * sh + i * dh) * 2 * halfW;
                        for (int o = 0; o < OW; o++) acc[o] += wv * hrow[o];
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
    free(deint);
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
    // Per output row: the column-wise max over the window's rows into a -inf padded line (a
    // unit-stride loop that vectorises), then the max over the window's columns of that line.
    // NaN anywhere in a window wins, as in the reference comparison `v > m || v != v`.
    int hiCol = (OW - 1) * sw - pl + (kw - 1) * dw + 1;
    if (hiCol < W) hiCol = W;
    const int L = pl + hiCol;
    float *line = (float *)malloc(sizeof(float) * (size_t)L);
    if (!line) return;
    for (int q = 0; q < L; q++) line[q] = -INFINITY;
    float *mid = line + pl;
    for (int p = p0; p < p1; p++) {
        const float *xp = x + (size_t)p * H * W;
        float *yp = y + (size_t)p * OH * OW;
        for (int i = 0; i < OH; i++) {
            const int hs = i * sh - pt;
            for (int q = 0; q < W; q++) mid[q] = -INFINITY;
            for (int a = 0; a < kh; a++) {
                const int r = hs + a * dh;
                if (r < 0 || r >= H) continue;
                const float *row = xp + (size_t)r * W;
                for (int q = 0; q < W; q++) {
                    const float v = row[q], m = mid[q];
                    mid[q] = (v > m || v != v) ? v : m;
                }
            }
            float *out = yp + (size_t)i * OW;
            for (int j = 0; j < OW; j++) {
                const float *win = line + j * sw;   // window column b at win[b * dw] (line is -pl based)
                float m = -INFINITY;
                for (int b = 0; b < kw; b++) {
                    const float v = win[b * dw];
                    if (v > m || v != v) m = v;
                }
                out[j] = m;
            }
        }
    }
    free(line);
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

typedef float sc_v8 __attribute__((vector_size(32)));

static inline sc_v8 sc_load8(const float *p) { sc_v8 v; __builtin_memcpy(&v, p, sizeof v); return v; }
static inline void sc_store8(float *p, sc_v8 v) { __builtin_memcpy(p, &v, sizeof v); }

void sc_gemm_smallk(const float *w, int M, int K, const float *x, int ldx, float *y, int ldy,
                    const float *bias, int p0, int p1, int act, float actA, float actB) {
    // 4 output rows x 16 columns held in eight 8-wide accumulators across the whole K loop.
    int o = 0;
    for (; o + 4 <= M; o += 4) {
        const float *w0 = w + (size_t)o * K, *w1 = w0 + K, *w2 = w1 + K, *w3 = w2 + K;
        float *y0 = y + (size_t)o * ldy, *y1 = y0 + ldy, *y2 = y1 + ldy, *y3 = y2 + ldy;
        int j = p0;
        for (; j + 16 <= p1; j += 16) {
            sc_v8 a0 = {0}, b0 = {0}, a1 = {0}, b1 = {0}, a2 = {0}, b2 = {0}, a3 = {0}, b3 = {0};
            const float *xp = x + j;
            for (int k = 0; k < K; k++, xp += ldx) {
                const sc_v8 u = sc_load8(xp), v = sc_load8(xp + 8);
                const float c0 = w0[k], c1 = w1[k], c2 = w2[k], c3 = w3[k];
                a0 += c0 * u; b0 += c0 * v; a1 += c1 * u; b1 += c1 * v;
                a2 += c2 * u; b2 += c2 * v; a3 += c3 * u; b3 += c3 * v;
            }
            sc_store8(y0 + j, a0); sc_store8(y0 + j + 8, b0); sc_store8(y1 + j, a1); sc_store8(y1 + j + 8, b1);
            sc_store8(y2 + j, a2); sc_store8(y2 + j + 8, b2); sc_store8(y3 + j, a3); sc_store8(y3 + j + 8, b3);
        }
        for (; j < p1; j++) {
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (int k = 0; k < K; k++) {
                const float v = x[(size_t)k * ldx + j];
                s0 += w0[k] * v; s1 += w1[k] * v; s2 += w2[k] * v; s3 += w3[k] * v;
            }
            y0[j] = s0; y1[j] = s1; y2[j] = s2; y3[j] = s3;
        }
        for (int r = 0; r < 4; r++)
            sc_act_row(y + (size_t)(o + r) * ldy + p0, p1 - p0, bias ? bias[o + r] : 0.f, act, actA, actB);
    }
    for (; o < M; o++) {
        const float *wr = w + (size_t)o * K;
        float *yr = y + (size_t)o * ldy;
        for (int j = p0; j < p1; j++) yr[j] = 0.f;
        for (int k = 0; k < K; k++) {
            const float *xr = x + (size_t)k * ldx;
            const float c = wr[k];
            for (int j = p0; j < p1; j++) yr[j] += c * xr[j];
        }
        sc_act_row(yr + p0, p1 - p0, bias ? bias[o] : 0.f, act, actA, actB);
    }
}

typedef float sc_v16 __attribute__((vector_size(64)));
static inline sc_v16 sc_load16(const float *p) { sc_v16 v; __builtin_memcpy(&v, p, sizeof v); return v; }
static inline void sc_store16(float *p, sc_v16 v) { __builtin_memcpy(p, &v, sizeof v); }

// Bias + activation on 16 values in registers, the same arithmetic as sc_act_row (which the
// kernels below still call for sigmoid, SC_ACT_SIGMOID being the one case not done here).
static inline sc_v16 sc_act16(sc_v16 v, float bias, int act, float a, float b) {
    const sc_v16 zero = {0}, six = zero + 6.f;
    v += bias;
    switch (act) {
    case SC_ACT_RELU: return __builtin_elementwise_max(v, zero);
    case SC_ACT_RELU6: return __builtin_elementwise_min(__builtin_elementwise_max(v, zero), six);
    case SC_ACT_HARDSWISH: {
        sc_v16 t = __builtin_elementwise_min(__builtin_elementwise_max(v + 3.f, zero), six);
        return v * t / 6.f;
    }
    case SC_ACT_HARDSIGMOID: {
        sc_v16 t = a * v + b;
        return __builtin_elementwise_min(__builtin_elementwise_max(t, zero), zero + 1.f);
    }
    default: return v;
    }
}

// Sum over the kh*kw taps for 16*NV consecutive outputs starting at `base` (phase-plane
// coordinates), accumulators held in registers for the whole tap loop. Tap t reads
// base + off[t]; weights wt[t]. Taps are added in (i, j) order from zero, as the reference loop does.
#define SC_DW_BLOCK(NV)                                                                            \
    static inline void sc_dw_block##NV(const float *base, const long *off, const float *wt, int taps, \
                                       float *dst, float bias, int act, float actA, float actB) { \
        sc_v16 a[NV];                                                                              \
        for (int v = 0; v < NV; v++) a[v] = (sc_v16){0};                                          \
        for (int t = 0; t < taps; t++) {                                                           \
            const float *p = base + off[t];                                                        \
            const float wv = wt[t];                                                                \
            for (int v = 0; v < NV; v++) a[v] += wv * sc_load16(p + 16 * v);                       \
        }                                                                                          \
        for (int v = 0; v < NV; v++) sc_store16(dst + 16 * v, sc_act16(a[v], bias, act, actA, actB)); \
    }
SC_DW_BLOCK(1)
SC_DW_BLOCK(4)

void sc_conv_depthwise(const float *x, int H, int W, const float *w, int kh, int kw,
                       int sh, int sw, int pt, int pl, int dh, int dw,
                       const float *bias, float *y, int OH, int OW, int c0, int c1,
                       int act, float actA, float actB) {
    // Strides 1 and 2 without dilation: the zero-padded input of one channel is split into s*s
    // "phase planes" (rows a, a+s, ...; columns b, b+s, ...), so every tap reads unit-stride runs
    // and 16-wide register accumulators sum all taps before one store. Other cases: reference loop.
    const int s = sh;
    if (sh != sw || (s != 1 && s != 2) || dh != 1 || dw != 1 || kh * kw > 64) {
        sc_conv_depthwise_ref(x, H, W, w, kh, kw, sh, sw, pt, pl, dh, dw, bias, y, OH, OW, c0, c1, act, actA, actB);
        return;
    }
    const int PH = (OH - 1) * s + kh, PW = (OW - 1) * s + kw;  // padded extent actually read
    const int PHs = (PH + s - 1) / s, PWs = (PW + s - 1) / s;   // one phase plane
    const size_t slack = (size_t)PWs + 64;                      // over-reads of the last 16-wide block
    const size_t phaseSize = (size_t)PHs * PWs + slack;
    // Small output rows: compute OH*PWs flattened outputs (PWs - OW junk columns per row) into a
    // buffer, then copy rows out; wide rows are computed straight into y.
    const int flat = OW < 32;
    const size_t nflat = (size_t)OH * PWs;
    const size_t nflatRound = (nflat + 63) / 64 * 64;
    float *phases = (float *)malloc(sizeof(float) * phaseSize * (size_t)(s * s));
    float *buf = (float *)malloc(sizeof(float) * (flat ? nflatRound : 64));
    if (!phases || !buf) { free(phases); free(buf); return; }
    memset(phases, 0, sizeof(float) * phaseSize * (size_t)(s * s));
    long off[64];
    const int taps = kh * kw;
    for (int i = 0; i < kh; i++)
        for (int j = 0; j < kw; j++)
            off[i * kw + j] = (long)((i % s) * s + (j % s)) * (long)phaseSize + (long)(i / s) * PWs + (j / s);
    for (int c = c0; c < c1; c++) {
        const float *xc = x + (size_t)c * H * W;
        const float *wc = w + (size_t)c * taps;
        float *yc = y + (size_t)c * OH * OW;
        // Fill the phase planes (borders stay zero from the first memset; interior overwritten).
        for (int a = 0; a < s; a++) {
            for (int b = 0; b < s; b++) {
                float *ph = phases + (size_t)(a * s + b) * phaseSize;
                // columns m with 0 <= b + s*m - pl < W
                int mlo = pl - b > 0 ? (pl - b + s - 1) / s : 0;
                int mhi = (W - 1 + pl - b) >= 0 ? (W - 1 + pl - b) / s + 1 : 0;
                if (mhi > PWs) mhi = PWs;
                for (int r = 0; r < PHs; r++) {
                    const int sr = a + s * r - pt;
                    float *dst = ph + (size_t)r * PWs;
                    if (sr < 0 || sr >= H || mhi <= mlo) continue;
                    const float *src = xc + (size_t)sr * W + (b + s * mlo - pl);
                    if (s == 1) memcpy(dst + mlo, src, sizeof(float) * (size_t)(mhi - mlo));
                    else for (int m = 0; m < mhi - mlo; m++) dst[mlo + m] = src[2 * m];
                }
            }
        }
        // Zero-padding cells hold zeros because every phase cell outside [mlo, mhi) x valid rows
        // is written only by the memset above; the interior is rewritten per channel.
        // Bias and activation are applied in registers before the store; sigmoid afterwards per row.
        const float b0 = bias ? bias[c] : 0.f;
        const int late = act == SC_ACT_SIGMOID;
        const float bv = late ? 0.f : b0;
        const int av = late ? SC_ACT_NONE : act;
        if (flat) {
            size_t q = 0;
            for (; q + 64 <= nflat; q += 64) sc_dw_block4(phases + q, off, wc, taps, buf + q, bv, av, actA, actB);
            for (; q < nflat; q += 16) sc_dw_block1(phases + q, off, wc, taps, buf + q, bv, av, actA, actB);
            for (int oh = 0; oh < OH; oh++) {
                float *out = yc + (size_t)oh * OW;
                memcpy(out, buf + (size_t)oh * PWs, sizeof(float) * (size_t)OW);
                if (late) sc_act_row(out, OW, b0, act, actA, actB);
            }
        } else {
            for (int oh = 0; oh < OH; oh++) {
                const float *rowBase = phases + (size_t)oh * PWs;
                float *out = yc + (size_t)oh * OW;
                int o = 0;
                for (; o + 64 <= OW; o += 64) sc_dw_block4(rowBase + o, off, wc, taps, out + o, bv, av, actA, actB);
                for (; o + 16 <= OW; o += 16) sc_dw_block1(rowBase + o, off, wc, taps, out + o, bv, av, actA, actB);
                if (o < OW) {
                    sc_dw_block1(rowBase + o, off, wc, taps, buf, bv, av, actA, actB);
                    memcpy(out + o, buf, sizeof(float) * (size_t)(OW - o));
                }
                if (late) sc_act_row(out, OW, b0, act, actA, actB);
            }
        }
    }
    free(phases);
    free(buf);
}

// One R x (16*NV) tile of y = w @ x: accumulators stay in registers for the whole K loop
// (terms added in k order from zero), then one store per vector.
#define SC_GEMM_TILE(R, NV)                                                                        \
    static inline void sc_gemm_tile_##R##x##NV(const float *w, int K, const float *x, int ldx,     \
                                               float *y, int ldy, const float *bias, int act,     \
                                               float actA, float actB) {                          \
        sc_v16 a[R][NV];                                                                           \
        for (int r = 0; r < R; r++)                                                                \
            for (int v = 0; v < NV; v++) a[r][v] = (sc_v16){0};                                   \
        for (int k = 0; k < K; k++) {                                                              \
            const float *xp = x + (size_t)k * ldx;                                                 \
            sc_v16 u[NV];                                                                          \
            for (int v = 0; v < NV; v++) u[v] = sc_load16(xp + 16 * v);                            \
            for (int r = 0; r < R; r++) {                                                          \
                const float c = w[(size_t)r * K + k];                                              \
                for (int v = 0; v < NV; v++) a[r][v] += c * u[v];                                  \
            }                                                                                      \
        }                                                                                          \
        for (int r = 0; r < R; r++) {                                                              \
            const float br = bias ? bias[r] : 0.f;                                                 \
            for (int v = 0; v < NV; v++)                                                           \
                sc_store16(y + (size_t)r * ldy + 16 * v, sc_act16(a[r][v], br, act, actA, actB));  \
        }                                                                                          \
    }
SC_GEMM_TILE(8, 2)
SC_GEMM_TILE(4, 2)
SC_GEMM_TILE(1, 2)
SC_GEMM_TILE(8, 1)
SC_GEMM_TILE(4, 1)
SC_GEMM_TILE(1, 1)

// Rows [m0, m1) of one column strip of width 16*NV: 8-row tiles, then 4, then 1.
#define SC_GEMM_STRIP(NV)                                                                          \
    static void sc_gemm_strip##NV(const float *w, int K, const float *x, int ldx, float *y, int ldy, \
                                  int m0, int m1, const float *bias, int act, float actA, float actB) { \
        int o = m0;                                                                                \
        for (; o + 8 <= m1; o += 8)                                                                \
            sc_gemm_tile_8x##NV(w + (size_t)o * K, K, x, ldx, y + (size_t)o * ldy, ldy,            \
                                bias ? bias + o : NULL, act, actA, actB);                          \
        for (; o + 4 <= m1; o += 4)                                                                \
            sc_gemm_tile_4x##NV(w + (size_t)o * K, K, x, ldx, y + (size_t)o * ldy, ldy,            \
                                bias ? bias + o : NULL, act, actA, actB);                          \
        for (; o < m1; o++)                                                                        \
            sc_gemm_tile_1x##NV(w + (size_t)o * K, K, x, ldx, y + (size_t)o * ldy, ldy,            \
                                bias ? bias + o : NULL, act, actA, actB);                          \
    }
SC_GEMM_STRIP(2)
SC_GEMM_STRIP(1)

void sc_conv_gemm(const float *w, int M, int K, const float *x, int ldx, float *y, int ldy,
                  const float *bias, int m0, int m1, int p0, int p1, int act, float actA, float actB) {
    (void)M;
    if (m1 <= m0 || p1 <= p0) return;
    // Bias and activation are applied in registers as each tile is stored; sigmoid (not done
    // there) runs per column strip afterwards, while the strip is still in cache.
    const int late = act == SC_ACT_SIGMOID;
    const float *tb = late ? NULL : bias;
    const int ta = late ? SC_ACT_NONE : act;
#define SC_STRIP_EPILOGUE(J, WIDTH)                                                                \
    if (late)                                                                                      \
        for (int o = m0; o < m1; o++)                                                              \
            sc_act_row(y + (size_t)o * ldy + (J), (WIDTH), bias ? bias[o] : 0.f, act, actA, actB);
    int j = p0;
    for (; j + 32 <= p1; j += 32) {
        sc_gemm_strip2(w, K, x + j, ldx, y + j, ldy, m0, m1, tb, ta, actA, actB);
        SC_STRIP_EPILOGUE(j, 32)
    }
    for (; j + 16 <= p1; j += 16) {
        sc_gemm_strip1(w, K, x + j, ldx, y + j, ldy, m0, m1, tb, ta, actA, actB);
        SC_STRIP_EPILOGUE(j, 16)
    }
    if (j < p1 && (p1 - j) * (K / 16 + 12) < K) {
        // A few last columns and a long K (7x7 maps: 49 = 32 + 16 + 1): each output is a dot
        // product over K, vectorised along K on a transposed copy of those x columns, instead of
        // a mostly empty 16-wide strip.
        const int tail = p1 - j;
        float *xt = (float *)malloc(sizeof(float) * (size_t)K * (size_t)tail);
        if (xt) {
            for (int k = 0; k < K; k++)
                for (int t = 0; t < tail; t++) xt[(size_t)t * K + k] = x[(size_t)k * ldx + j + t];
            for (int o = m0; o < m1; o++) {
                const float *wr = w + (size_t)o * K;
                for (int t = 0; t < tail; t++) {
                    const float *xc = xt + (size_t)t * K;
                    sc_v16 a0 = {0}, a1 = {0};
                    int k = 0;
                    for (; k + 32 <= K; k += 32) {
                        a0 += sc_load16(wr + k) * sc_load16(xc + k);
                        a1 += sc_load16(wr + k + 16) * sc_load16(xc + k + 16);
                    }
                    for (; k + 16 <= K; k += 16) a0 += sc_load16(wr + k) * sc_load16(xc + k);
                    a0 += a1;
                    float sum = 0.f;
                    for (int l = 0; l < 16; l++) sum += a0[l];
                    for (; k < K; k++) sum += wr[k] * xc[k];
                    y[(size_t)o * ldy + j + t] = sum;
                }
                sc_act_row(y + (size_t)o * ldy + j, tail, bias ? bias[o] : 0.f, act, actA, actB);
            }
            free(xt);
            j = p1;
        }
    }
    if (j < p1) {
        // Last < 16 columns: x columns copied into a zero-padded [K, 16] panel, results through a
        // [m1 - m0, 16] buffer, so nothing reads or writes past the caller's arrays.
        const int tail = p1 - j;
        float *xt = (float *)malloc(sizeof(float) * ((size_t)K * 16 + (size_t)(m1 - m0) * 16));
        if (xt) {
            float *yt = xt + (size_t)K * 16;
            for (int k = 0; k < K; k++) {
                float *d = xt + (size_t)k * 16;
                memcpy(d, x + (size_t)k * ldx + j, sizeof(float) * (size_t)tail);
                for (int t = tail; t < 16; t++) d[t] = 0.f;
            }
            sc_gemm_strip1(w + (size_t)m0 * K, K, xt, 16, yt, 16, 0, m1 - m0, tb ? tb + m0 : NULL, ta, actA, actB);
            for (int o = m0; o < m1; o++)
                memcpy(y + (size_t)o * ldy + j, yt + (size_t)(o - m0) * 16, sizeof(float) * (size_t)tail);
            SC_STRIP_EPILOGUE(j, tail)
            free(xt);
        } else {
            for (int o = m0; o < m1; o++)
                for (int q = j; q < p1; q++) {
                    float s = 0.f;
                    for (int k = 0; k < K; k++) s += w[(size_t)o * K + k] * x[(size_t)k * ldx + q];
                    y[(size_t)o * ldy + q] = s;
                }
            for (int o = m0; o < m1; o++)
                sc_act_row(y + (size_t)o * ldy + j, tail, bias ? bias[o] : 0.f, act, actA, actB);
        }
    }
#undef SC_STRIP_EPILOGUE
}
