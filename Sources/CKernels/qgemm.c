// int8 x int8 GEMM for many input rows (encoder and prompt shapes) on int8 weights; see sc_quant.h.
//
// y[m, n] (+)= sa[m] * sw[n] * sum_k qa[m, k] * qw[n, k]
// qa: each input row quantized to int8 with its own scale (dynamic, symmetric), stored as qa + 128 (u8)
//     because VPDPBUSD multiplies unsigned by signed bytes; the +128 is taken back out with the weight
//     column sums: sum_k (qa + 128) qw = sum_k qa qw + 128 * sum_k qw.
// [in, out] weights (int8 scales per input row) fold their scales into the activations before the
//     activations are quantized: x[m, k] * s[k], then sw[n] = 1.
// The weights are packed per block of 32 output columns into [K/4][32][4] bytes (VNNI order) by the
// thread that uses the block, so nothing beyond the int8 matrix is kept between calls.
#include "sc_quant.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__) && defined(__AVX512VNNI__) && defined(__AVX512BW__)
#include <immintrin.h>
#define SC_HAVE_VNNI 1
#endif

int sc_qgemm_has_vnni(void) {
#ifdef SC_HAVE_VNNI
    return 1;
#else
    return 0;
#endif
}

void sc_quantize_activations_u8(const float *x, int ldx, const float *kscale, int K, int Kp, int m0, int m1,
                                uint8_t *qa, float *sa) {
    float *tmp = kscale ? (float *)malloc((size_t)K * sizeof(float)) : NULL;
    for (int m = m0; m < m1; m++) {
        const float *row = x + (size_t)m * ldx;
        if (tmp) { for (int k = 0; k < K; k++) tmp[k] = row[k] * kscale[k]; row = tmp; }
        float mx = 0.0f;
        for (int k = 0; k < K; k++) { float a = fabsf(row[k]); mx = a > mx ? a : mx; }
        uint8_t *q = qa + (size_t)m * Kp;
        if (!(mx > 0.0f) || !isfinite(mx)) {
            // All zeros (or non-finite: the row's outputs become NaN through the scale, as fp32 would).
            memset(q, 128, (size_t)Kp);
            sa[m] = (mx > 0.0f) ? NAN : 0.0f;
            continue;
        }
        float s = mx / 127.0f, inv = 127.0f / mx;
        for (int k = 0; k < K; k++) {
            float v = nearbyintf(row[k] * inv);
            v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
            q[k] = (uint8_t)((int)v + 128);
        }
        for (int k = K; k < Kp; k++) q[k] = 128;
        sa[m] = s;
    }
    free(tmp);
}

// Packs output columns [n0, n0 + 32) (zero beyond N) into bp[(kb * 32 + j) * 4 + i] = w(n0 + j, 4 kb + i),
// zero for k >= K, and their column sums.
static void pack_block(int inOut, const int8_t *w, int K, int Kp, int N, int n0, int8_t *bp, int32_t *colsum) {
    memset(bp, 0, (size_t)Kp * 32);
    for (int j = 0; j < 32; j++) colsum[j] = 0;
    int nb = N - n0 < 32 ? N - n0 : 32;
    if (!inOut) {
        for (int j = 0; j < nb; j++) {
            const int8_t *row = w + (size_t)(n0 + j) * K;
            int32_t sum = 0;
            for (int k = 0; k < K; k++) {
                bp[((size_t)(k >> 2) * 32 + j) * 4 + (k & 3)] = row[k];
                sum += row[k];
            }
            colsum[j] = sum;
        }
    } else {
        for (int k = 0; k < K; k++) {
            const int8_t *row = w + (size_t)k * N + n0;
            int8_t *dst = bp + (size_t)(k >> 2) * 128 + (k & 3);
            for (int j = 0; j < nb; j++) { dst[j * 4] = row[j]; colsum[j] += row[j]; }
        }
    }
}

// Portable inner product over one packed block (reference for the vector kernel).
static void block_portable(const uint8_t *qa, int Kp, const int8_t *bp, const int32_t *colsum, int m0, int m1,
                           int32_t *out /* [m1 - m0][32] */) {
    for (int m = m0; m < m1; m++) {
        const uint8_t *a = qa + (size_t)m * Kp;
        for (int j = 0; j < 32; j++) {
            int32_t acc = 0;
            for (int kb = 0; kb < Kp / 4; kb++)
                for (int i = 0; i < 4; i++) acc += (int32_t)a[kb * 4 + i] * (int32_t)bp[(kb * 32 + j) * 4 + i];
            out[(m - m0) * 32 + j] = acc - 128 * colsum[j];
        }
    }
}

static inline void write_row(const int32_t *acc, const int32_t *colsum, float sa, const float *sw, int n0, int nb,
                             float *y, int accumulate) {
    for (int j = 0; j < nb; j++) {
        float v = (float)acc[j] * sa * (sw ? sw[n0 + j] : 1.0f);
        y[n0 + j] = accumulate ? y[n0 + j] + v : v;
    }
    (void)colsum;
}

#ifdef SC_HAVE_VNNI
// MR input rows x 32 output columns: 2 MR accumulators of 16 int32.
#define SC_QGEMM_KERNEL(MR)                                                                                 \
static void kernel_##MR(const uint8_t *qa, int Kp, const int8_t *bp, const __m512i c0, const __m512i c1,    \
                        int m, const float *sa, const float *sw, int n0, int nb, float *y, int ldy, int accumulate) { \
    __m512i acc[MR][2];                                                                                     \
    for (int r = 0; r < MR; r++) { acc[r][0] = _mm512_setzero_si512(); acc[r][1] = _mm512_setzero_si512(); } \
    const uint8_t *a = qa + (size_t)m * Kp;                                                                 \
    for (int kb = 0; kb < Kp / 4; kb++) {                                                                   \
        __m512i b0 = _mm512_loadu_si512((const void *)(bp + (size_t)kb * 128));                             \
        __m512i b1 = _mm512_loadu_si512((const void *)(bp + (size_t)kb * 128 + 64));                        \
        for (int r = 0; r < MR; r++) {                                                                      \
            int32_t word;                                                                                   \
            memcpy(&word, a + (size_t)r * Kp + (size_t)kb * 4, 4);                                          \
            __m512i av = _mm512_set1_epi32(word);                                                           \
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], av, b0);                                             \
            acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], av, b1);                                             \
        }                                                                                                   \
    }                                                                                                       \
    __m512 s0 = _mm512_set1_ps(1.0f), s1 = s0;                                                              \
    __mmask16 k0 = nb >= 16 ? 0xffff : (__mmask16)((1u << nb) - 1);                                        \
    __mmask16 k1 = nb >= 32 ? 0xffff : (nb > 16 ? (__mmask16)((1u << (nb - 16)) - 1) : 0);                  \
    if (sw) { s0 = _mm512_maskz_loadu_ps(k0, sw + n0); s1 = _mm512_maskz_loadu_ps(k1, sw + n0 + 16); }     \
    for (int r = 0; r < MR; r++) {                                                                          \
        __m512 sr = _mm512_set1_ps(sa[m + r]);                                                              \
        __m512 v0 = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][0], c0)), sr), s0); \
        __m512 v1 = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][1], c1)), sr), s1); \
        float *yr = y + (size_t)(m + r) * ldy + n0;                                                         \
        if (accumulate) {                                                                                   \
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(k0, yr));                                          \
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(k1, yr + 16));                                     \
        }                                                                                                   \
        _mm512_mask_storeu_ps(yr, k0, v0);                                                                  \
        _mm512_mask_storeu_ps(yr + 16, k1, v1);                                                             \
    }                                                                                                       \
}
SC_QGEMM_KERNEL(1)
SC_QGEMM_KERNEL(2)
SC_QGEMM_KERNEL(3)
SC_QGEMM_KERNEL(4)
SC_QGEMM_KERNEL(5)
SC_QGEMM_KERNEL(6)
SC_QGEMM_KERNEL(7)
SC_QGEMM_KERNEL(8)
#endif

void sc_qgemm_u8s8(int inOut, const int8_t *w, const float *wscale, int K, int N, int n0, int n1,
                   const uint8_t *qa, int Kp, const float *sa, int M, float *y, int ldy, int accumulate, int portable) {
    int8_t *bp = (int8_t *)aligned_alloc(64, (size_t)Kp * 32);
    int32_t colsum[32];
    int32_t *tmp = NULL;
    const float *sw = inOut ? NULL : wscale;
    for (int nb0 = n0; nb0 < n1; nb0 += 32) {
        int nb = n1 - nb0 < 32 ? n1 - nb0 : 32;
        pack_block(inOut, w, K, Kp, N, nb0, bp, colsum);
#ifdef SC_HAVE_VNNI
        if (!portable) {
            __m512i c0 = _mm512_mullo_epi32(_mm512_loadu_si512((const void *)colsum), _mm512_set1_epi32(128));
            __m512i c1 = _mm512_mullo_epi32(_mm512_loadu_si512((const void *)(colsum + 16)), _mm512_set1_epi32(128));
            int m = 0;
            for (; m + 8 <= M; m += 8) kernel_8(qa, Kp, bp, c0, c1, m, sa, sw, nb0, nb, y, ldy, accumulate);
            switch (M - m) {
            case 7: kernel_7(qa, Kp, bp, c0, c1, m, sa, sw, nb0, nb, y, ldy, accumulate); break;
            case 6: kernel_6(qa, Kp, bp, c0, c1, m, sa, sw, nb0, nb, y, ldy, accumulate); break;
            case 5: kernel_5(qa, Kp, bp, c0, c1, m, sa, sw, nb0, nb, y, ldy, accumulate); break;
            case 4: kernel_4(qa, Kp, bp, c0, c1, m, sa, sw, nb0, nb, y, ldy, accumulate); break;
            case 3: kernel_3(qa, Kp, bp, c0, c1, m, sa, sw, nb0, nb, y, ldy, accumulate); break;
            case 2: kernel_2(qa, Kp, bp, c0, c1, m, sa, sw, nb0, nb, y, ldy, accumulate); break;
            case 1: kernel_1(qa, Kp, bp, c0, c1, m, sa, sw, nb0, nb, y, ldy, accumulate); break;
            default: break;
            }
            continue;
        }
#endif
        if (!tmp) tmp = (int32_t *)malloc(sizeof(int32_t) * 32 * 8);
        for (int m = 0; m < M; m += 8) {
            int m1 = m + 8 < M ? m + 8 : M;
            block_portable(qa, Kp, bp, colsum, m, m1, tmp);
            for (int r = m; r < m1; r++)
                write_row(tmp + (r - m) * 32, colsum, sa[r], sw, nb0, nb, y + (size_t)r * ldy, accumulate);
        }
    }
    free(tmp);
    free(bp);
}
