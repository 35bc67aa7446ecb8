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
    for (int m = m0; m < m1; m++) {
        const float *row = x + (size_t)m * ldx;
        // x[m, k] * kscale[k] is formed where it is used (the same float product both times).
#define SC_ACT(k) (kscale ? row[k] * kscale[k] : row[k])
        float mx = 0.0f;
        for (int k = 0; k < K; k++) { float a = fabsf(SC_ACT(k)); mx = a > mx ? a : mx; }
        uint8_t *q = qa + (size_t)m * Kp;
        if (!(mx > 0.0f) || !isfinite(mx)) {
            // All zeros (or non-finite: the row's outputs become NaN through the scale, as fp32 would).
            memset(q, 128, (size_t)Kp);
            sa[m] = (mx > 0.0f) ? NAN : 0.0f;
            continue;
        }
        float s = mx / 127.0f, inv = 127.0f / mx;
        for (int k = 0; k < K; k++) {
            float v = nearbyintf(SC_ACT(k) * inv);
            v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
            q[k] = (uint8_t)((int)v + 128);
        }
#undef SC_ACT
        for (int k = K; k < Kp; k++) q[k] = 128;
        sa[m] = s;
    }
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

#ifdef SC_HAVE_VNNI
// The same bytes and sums as pack_block, with 4-byte moves ([out, in]: a transpose of words) or in-register
// interleaving ([in, out]: byte/word unpacks of four k rows, 16 columns at a time); the column sums are
// taken from the packed block with VPDPBUSD against ones.
static void pack_block_fast(int inOut, const int8_t *w, int K, int Kp, int N, int n0, int8_t *bp, int32_t *colsum) {
    memset(bp, 0, (size_t)Kp * 32);
    int nb = N - n0 < 32 ? N - n0 : 32;
    if (!inOut) {
        int kw = K / 4;
        for (int j = 0; j < nb; j++) {
            const int8_t *row = w + (size_t)(n0 + j) * K;
            for (int kb = 0; kb < kw; kb++) memcpy(bp + ((size_t)kb * 32 + j) * 4, row + 4 * kb, 4);
            for (int k = 4 * kw; k < K; k++) bp[((size_t)kw * 32 + j) * 4 + (k & 3)] = row[k];
        }
    } else {
        for (int k = 0; k < K; k += 4) {
            int8_t *dst = bp + (size_t)(k >> 2) * 128;
            for (int c0 = 0; c0 < nb; c0 += 16) {
                __mmask16 mc = nb - c0 >= 16 ? 0xffff : (__mmask16)((1u << (nb - c0)) - 1);
                const int8_t *src = w + (size_t)k * N + n0 + c0;
                __m128i r0 = _mm_maskz_loadu_epi8(mc, src);
                __m128i r1 = k + 1 < K ? _mm_maskz_loadu_epi8(mc, src + N) : _mm_setzero_si128();
                __m128i r2 = k + 2 < K ? _mm_maskz_loadu_epi8(mc, src + 2 * (size_t)N) : _mm_setzero_si128();
                __m128i r3 = k + 3 < K ? _mm_maskz_loadu_epi8(mc, src + 3 * (size_t)N) : _mm_setzero_si128();
                __m128i a = _mm_unpacklo_epi8(r0, r1), b = _mm_unpackhi_epi8(r0, r1);
                __m128i c = _mm_unpacklo_epi8(r2, r3), d = _mm_unpackhi_epi8(r2, r3);
                _mm_storeu_si128((__m128i *)(dst + c0 * 4), _mm_unpacklo_epi16(a, c));
                _mm_storeu_si128((__m128i *)(dst + c0 * 4 + 16), _mm_unpackhi_epi16(a, c));
                _mm_storeu_si128((__m128i *)(dst + c0 * 4 + 32), _mm_unpacklo_epi16(b, d));
                _mm_storeu_si128((__m128i *)(dst + c0 * 4 + 48), _mm_unpackhi_epi16(b, d));
            }
        }
    }
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    for (int kb = 0; kb < Kp / 4; kb++) {
        s0 = _mm512_dpbusd_epi32(s0, ones, _mm512_loadu_si512((const void *)(bp + (size_t)kb * 128)));
        s1 = _mm512_dpbusd_epi32(s1, ones, _mm512_loadu_si512((const void *)(bp + (size_t)kb * 128 + 64)));
    }
    _mm512_storeu_si512((void *)colsum, s0);
    _mm512_storeu_si512((void *)(colsum + 16), s1);
}
#endif

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
typedef void (*qgemm_kernel_fn)(const uint8_t *, int, const int8_t *, const __m512i, const __m512i, int, const float *,
                                const float *, int, int, float *, int, int);
static const qgemm_kernel_fn qgemm_kernels[8] = { kernel_1, kernel_2, kernel_3, kernel_4,
                                                  kernel_5, kernel_6, kernel_7, kernel_8 };
#endif

void sc_qgemm_u8s8(int inOut, const int8_t *w, const float *wscale, int K, int N, int n0, int n1,
                   const uint8_t *qa, int Kp, const float *sa, int M, float *y, int ldy, int accumulate, int portable) {
    int8_t *bp = (int8_t *)aligned_alloc(64, (size_t)Kp * 32);
    int32_t colsum[32];
    int32_t *tmp = NULL;
    const float *sw = inOut ? NULL : wscale;
    for (int nb0 = n0; nb0 < n1; nb0 += 32) {
        int nb = n1 - nb0 < 32 ? n1 - nb0 : 32;
#ifdef SC_HAVE_VNNI
        if (!portable) pack_block_fast(inOut, w, K, Kp, N, nb0, bp, colsum);
        else
#endif
        pack_block(inOut, w, K, Kp, N, nb0, bp, colsum);
#ifdef SC_HAVE_VNNI
        if (!portable) {
            __m512i c0 = _mm512_mullo_epi32(_mm512_loadu_si512((const void *)colsum), _mm512_set1_epi32(128));
            __m512i c1 = _mm512_mullo_epi32(_mm512_loadu_si512((const void *)(colsum + 16)), _mm512_set1_epi32(128));
            for (int m = 0; m < M; m += 8) {
                int mr = M - m < 8 ? M - m : 8;
                qgemm_kernels[mr - 1](qa, Kp, bp, c0, c1, m, sa, sw, nb0, nb, y, ldy, accumulate);
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

// ---- Few input rows (decode steps): no packing, the weights are read in their stored layout. ----
//
// [out, in] (nk): four output rows of W at a time, 64 k per VPDPBUSD, horizontal sums at the end.
// [in, out] (kn): 64 output columns x 4 k per step, the four k rows interleaved in registers into VNNI order.
// The plain C loop below is the reference: the vector kernels give bit-identical int32 sums.

static void gemv_i8_portable(int inOut, const int8_t *w, const float *wscale, int K, int N, int n0, int n1,
                             const uint8_t *qa, int Kp, const float *sa, int M, float *y, int ldy, int accumulate) {
    for (int n = n0; n < n1; n++) {
        int32_t wsum = 0;
        for (int k = 0; k < K; k++) wsum += inOut ? w[(size_t)k * N + n] : w[(size_t)n * K + k];
        for (int m = 0; m < M; m++) {
            const uint8_t *a = qa + (size_t)m * Kp;
            int32_t acc = 0;
            for (int k = 0; k < K; k++) acc += (int32_t)a[k] * (int32_t)(inOut ? w[(size_t)k * N + n] : w[(size_t)n * K + k]);
            float v = (float)(acc - 128 * wsum) * sa[m] * (inOut ? 1.0f : wscale[n]);
            float *yp = y + (size_t)m * ldy + n;
            *yp = accumulate ? *yp + v : v;
        }
    }
}

#ifdef SC_HAVE_VNNI
// The vector kernels flip the roles of the +128 offset: the weights become the unsigned operand
// (w ^ 0x80 = w + 128) and the activations the signed one (qa ^ 0x80 = qa - 128), so
//   sum_k (w + 128) a = sum_k w a + 128 asum,  asum = sum_k a  (one number per input row, per call),
// which costs one XOR per weight vector instead of a second VPDPBUSD for the weight sums.
// Activation bytes past K are 128 (signed 0), so padding contributes nothing whatever the weights hold.

// [out, in]: MR input rows x 4 weight rows, one weight row after the other (one sequential stream: reading
// the four rows interleaved ran at 40 % of the bandwidth), 64 k per step; the 4 x MR sums reduced with unpacks.
#define SC_GEMV_NK(MR)                                                                                      \
static void gemv_nk_##MR(const int8_t *w, const float *wscale, int K, int n, int nb, const uint8_t *qa,       \
                         int Kp, const float *sa, const int32_t *asum, int m0, float *y, int ldy, int accumulate) { \
    const __m512i flip = _mm512_set1_epi8((char)0x80);                                                      \
    const int8_t *wr[4];                                                                                    \
    for (int j = 0; j < 4; j++) wr[j] = w + (size_t)(n + (j < nb ? j : 0)) * K;                             \
    __m512i acc[MR][4];                                                                                     \
    for (int r = 0; r < MR; r++)                                                                            \
        for (int j = 0; j < 4; j++) acc[r][j] = _mm512_setzero_si512();                                     \
    for (int j = 0; j < 4; j++) {                                                                           \
        for (int k = 0; k < K; k += 64) {                                                                   \
            __mmask64 mk = K - k >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (K - k)) - 1);                  \
            __m512i bj = _mm512_xor_si512(_mm512_maskz_loadu_epi8(mk, wr[j] + k), flip);                    \
            for (int r = 0; r < MR; r++) {                                                                  \
                __m512i a = _mm512_xor_si512(_mm512_mask_loadu_epi8(flip, mk, qa + (size_t)(m0 + r) * Kp + k), flip); \
                acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], bj, a);                                          \
            }                                                                                               \
        }                                                                                                   \
    }                                                                                                       \
    __mmask8 mn = (__mmask8)((1u << nb) - 1);                                                               \
    __m128 ws = _mm_maskz_loadu_ps(mn, wscale + n);                                                         \
    for (int r = 0; r < MR; r++) {                                                                          \
        __m512i t0 = _mm512_add_epi32(_mm512_unpacklo_epi32(acc[r][0], acc[r][1]), _mm512_unpackhi_epi32(acc[r][0], acc[r][1])); \
        __m512i t1 = _mm512_add_epi32(_mm512_unpacklo_epi32(acc[r][2], acc[r][3]), _mm512_unpackhi_epi32(acc[r][2], acc[r][3])); \
        __m512i u = _mm512_add_epi32(_mm512_unpacklo_epi64(t0, t1), _mm512_unpackhi_epi64(t0, t1));        \
        __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(u), _mm512_extracti64x4_epi64(u, 1));          \
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));              \
        s = _mm_sub_epi32(s, _mm_set1_epi32(128 * asum[m0 + r]));                                           \
        __m128 v = _mm_mul_ps(_mm_mul_ps(_mm_cvtepi32_ps(s), _mm_set1_ps(sa[m0 + r])), ws);                 \
        float *yr = y + (size_t)(m0 + r) * ldy + n;                                                         \
        if (accumulate) v = _mm_add_ps(_mm_maskz_loadu_ps(mn, yr), v);                                      \
        _mm_mask_storeu_ps(yr, mn, v);                                                                      \
    }                                                                                                       \
}

// [in, out]: MR input rows x 64 output columns; 4 k per step, the four weight rows interleaved into VNNI
// order with byte/word unpacks. Element e of accumulator i then holds column 16 (e / 4) + 4 i + e % 4.
#define SC_GEMV_KN(MR)                                                                                      \
static void gemv_kn_##MR(const int8_t *w, int K, int N, int n, int nb, const uint8_t *qa, int Kp,           \
                         const float *sa, const int32_t *asum, int m0, float *y, int ldy, int accumulate) { \
    const __m512i flip = _mm512_set1_epi8((char)0x80);                                                      \
    __mmask64 mn = nb >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << nb) - 1);                                 \
    __m512i acc[MR][4];                                                                                     \
    for (int r = 0; r < MR; r++)                                                                            \
        for (int i = 0; i < 4; i++) acc[r][i] = _mm512_setzero_si512();                                     \
    for (int k = 0; k < K; k += 4) {                                                                        \
        const int8_t *wk = w + (size_t)k * N + n;                                                           \
        __m512i r0 = _mm512_maskz_loadu_epi8(mn, wk);                                                       \
        __m512i r1 = k + 1 < K ? _mm512_maskz_loadu_epi8(mn, wk + N) : _mm512_setzero_si512();              \
        __m512i r2 = k + 2 < K ? _mm512_maskz_loadu_epi8(mn, wk + 2 * (size_t)N) : _mm512_setzero_si512();  \
        __m512i r3 = k + 3 < K ? _mm512_maskz_loadu_epi8(mn, wk + 3 * (size_t)N) : _mm512_setzero_si512();  \
        __m512i lo = _mm512_unpacklo_epi8(r0, r1), hi = _mm512_unpackhi_epi8(r0, r1);                      \
        __m512i lo2 = _mm512_unpacklo_epi8(r2, r3), hi2 = _mm512_unpackhi_epi8(r2, r3);                    \
        __m512i p[4] = { _mm512_xor_si512(_mm512_unpacklo_epi16(lo, lo2), flip),                            \
                         _mm512_xor_si512(_mm512_unpackhi_epi16(lo, lo2), flip),                            \
                         _mm512_xor_si512(_mm512_unpacklo_epi16(hi, hi2), flip),                            \
                         _mm512_xor_si512(_mm512_unpackhi_epi16(hi, hi2), flip) };                          \
        for (int r = 0; r < MR; r++) {                                                                      \
            uint32_t word;                                                                                  \
            memcpy(&word, qa + (size_t)(m0 + r) * Kp + k, 4);                                               \
            __m512i a = _mm512_set1_epi32((int32_t)(word ^ 0x80808080u));                                   \
            for (int i = 0; i < 4; i++) acc[r][i] = _mm512_dpbusd_epi32(acc[r][i], p[i], a);               \
        }                                                                                                   \
    }                                                                                                       \
    for (int r = 0; r < MR; r++) {                                                                          \
        int32_t sums[4][16];                                                                                \
        for (int i = 0; i < 4; i++) _mm512_storeu_si512((void *)sums[i], acc[r][i]);                       \
        float *yr = y + (size_t)(m0 + r) * ldy + n;                                                         \
        const int32_t off = 128 * asum[m0 + r];                                                             \
        for (int i = 0; i < 4; i++)                                                                         \
            for (int e = 0; e < 16; e++) {                                                                  \
                int c = 16 * (e >> 2) + 4 * i + (e & 3);                                                    \
                if (c >= nb) continue;                                                                      \
                float v = (float)(sums[i][e] - off) * sa[m0 + r];                                           \
                yr[c] = accumulate ? yr[c] + v : v;                                                         \
            }                                                                                               \
    }                                                                                                       \
}
SC_GEMV_NK(1)
SC_GEMV_NK(2)
SC_GEMV_NK(3)
SC_GEMV_NK(4)
SC_GEMV_KN(1)
SC_GEMV_KN(2)
SC_GEMV_KN(3)
SC_GEMV_KN(4)

typedef void (*gemv_nk_fn)(const int8_t *, const float *, int, int, int, const uint8_t *, int, const float *,
                           const int32_t *, int, float *, int, int);
typedef void (*gemv_kn_fn)(const int8_t *, int, int, int, int, const uint8_t *, int, const float *,
                           const int32_t *, int, float *, int, int);
static const gemv_nk_fn gemv_nk[4] = { gemv_nk_1, gemv_nk_2, gemv_nk_3, gemv_nk_4 };
static const gemv_kn_fn gemv_kn[4] = { gemv_kn_1, gemv_kn_2, gemv_kn_3, gemv_kn_4 };
#endif

void sc_qgemv_u8s8(int inOut, const int8_t *w, const float *wscale, int K, int N, int n0, int n1,
                   const uint8_t *qa, int Kp, const float *sa, int M, float *y, int ldy, int accumulate, int portable) {
#ifdef SC_HAVE_VNNI
    if (!portable) {
        int32_t asum[M > 0 ? M : 1];
        for (int m = 0; m < M; m++) {
            int32_t s = 0;
            const uint8_t *a = qa + (size_t)m * Kp;
            for (int k = 0; k < K; k++) s += (int32_t)a[k] - 128;
            asum[m] = s;
        }
        int width = inOut ? 64 : 4;
        for (int n = n0; n < n1; n += width) {
            int nb = n1 - n < width ? n1 - n : width;
            for (int m = 0; m < M; m += 4) {
                int mr = M - m < 4 ? M - m : 4;
                if (inOut) gemv_kn[mr - 1](w, K, N, n, nb, qa, Kp, sa, asum, m, y, ldy, accumulate);
                else gemv_nk[mr - 1](w, wscale, K, n, nb, qa, Kp, sa, asum, m, y, ldy, accumulate);
            }
        }
        return;
    }
#endif
    gemv_i8_portable(inOut, w, wscale, K, N, n0, n1, qa, Kp, sa, M, y, ldy, accumulate);
}
