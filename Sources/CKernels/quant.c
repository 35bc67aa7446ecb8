// Weight quantization kernels; see sc_quant.h for the formats.
#include "sc_quant.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

uint16_t sc_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    int exp = (int)((x >> 23) & 0xff);
    uint32_t mant = x & 0x7fffff;
    if (exp == 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
    int e = exp - 127 + 15;
    if (e >= 31) return sign | 0x7c00;
    if (e <= 0) {
        if (e < -10) return sign;
        mant |= 0x800000;
        unsigned shift = (unsigned)(14 - e);
        uint32_t kept = mant >> shift, rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (kept & 1))) kept++;
        return sign | (uint16_t)kept;
    }
    uint32_t h = ((uint32_t)e << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return sign | (uint16_t)h;
}

float sc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        float v = (float)mant * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (exp == 31) bits = sign | 0x7f800000 | (mant << 13);
    else bits = sign | ((exp + 112) << 23) | (mant << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float max_abs(const float *w, int n) {
    float m = 0.0f;
    for (int i = 0; i < n; i++) { float a = fabsf(w[i]); m = a > m ? a : m; }
    return m;
}

void sc_quantize_int8_rows(const float *w, int cols, int r0, int r1, int8_t *q, float *scales) {
    for (int r = r0; r < r1; r++) {
        const float *row = w + (size_t)r * cols;
        int8_t *qr = q + (size_t)r * cols;
        float s = max_abs(row, cols) / 127.0f;
        scales[r] = s;
        if (s == 0.0f || !isfinite(s)) { memset(qr, 0, (size_t)cols); continue; }
        float inv = 1.0f / s;
        for (int c = 0; c < cols; c++) {
            float v = nearbyintf(row[c] * inv);
            v = v > 127.0f ? 127.0f : (v < -127.0f ? -127.0f : v);
            qr[c] = (int8_t)v;
        }
    }
}

void sc_quantize_q4_rows(const float *w, int cols, int r0, int r1, uint8_t *q, uint16_t *scales_f16) {
    const int G = SC_QUANT_Q4_GROUP, groups = cols / G;
    for (int r = r0; r < r1; r++) {
        for (int g = 0; g < groups; g++) {
            const float *x = w + (size_t)r * cols + (size_t)g * G;
            uint8_t *out = q + (size_t)r * (cols / 2) + (size_t)g * (G / 2);
            float m = max_abs(x, G);
            uint16_t h = sc_f32_to_f16(m / 7.0f);
            // Round the stored scale up until 7 * s covers the group's largest magnitude, so
            // round(x / s) never clips and the error stays within s / 2.
            while ((h & 0x7c00) != 0x7c00 && sc_f16_to_f32(h) * 7.0f < m) h++;
            if (m > 0.0f && h == 0) h = 1;  // smallest subnormal
            scales_f16[(size_t)r * groups + g] = h;
            float s = sc_f16_to_f32(h);
            float inv = (s > 0.0f && isfinite(s)) ? 1.0f / s : 0.0f;
            for (int j = 0; j < G / 2; j++) {
                float lo = nearbyintf(x[j] * inv), hi = nearbyintf(x[j + G / 2] * inv);
                lo = lo > 7.0f ? 7.0f : (lo < -8.0f ? -8.0f : lo);
                hi = hi > 7.0f ? 7.0f : (hi < -8.0f ? -8.0f : hi);
                out[j] = (uint8_t)(((int)lo + 8) | (((int)hi + 8) << 4));
            }
        }
    }
}

static void dequant_row(int scheme, const void *q, const float *scales, int cols, int r, float *restrict out) {
    if (scheme == SC_QUANT_F16) {
        const uint16_t *restrict hr = (const uint16_t *)q + (size_t)r * cols;
        int c = 0;
#if defined(__AVX512F__)
        for (; c + 16 <= cols; c += 16) _mm512_storeu_ps(out + c, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(hr + c))));
#endif
        for (; c < cols; c++) out[c] = sc_f16_to_f32(hr[c]);
    } else if (scheme == SC_QUANT_INT8) {
        const int8_t *restrict qr = (const int8_t *)q + (size_t)r * cols;
        const float s = scales[r];
        for (int c = 0; c < cols; c++) out[c] = s * (float)qr[c];
    } else {
        const int G = SC_QUANT_Q4_GROUP, groups = cols / G;
        const uint8_t *restrict qr = (const uint8_t *)q + (size_t)r * (cols / 2);
        const float *restrict sr = scales + (size_t)r * groups;
        for (int g = 0; g < groups; g++) {
            const uint8_t *restrict b = qr + g * 16;
            float *restrict o = out + g * 32;
            const float s = sr[g];
#if defined(__AVX512F__)
            // 16 bytes -> 32 floats: low nibbles are elements 0..15, high nibbles 16..31.
            __m128i bytes = _mm_loadu_si128((const __m128i *)b);
            __m128i mask = _mm_set1_epi8(15);
            __m128i lo = _mm_and_si128(bytes, mask), hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
            __m512 vs = _mm512_set1_ps(s), v8 = _mm512_set1_ps(8.0f);
            _mm512_storeu_ps(o, _mm512_mul_ps(vs, _mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(lo)), v8)));
            _mm512_storeu_ps(o + 16, _mm512_mul_ps(vs, _mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(hi)), v8)));
#else
            // Two fixed 16-wide loops (low nibbles -> elements 0..15, high -> 16..31) vectorize fully.
            for (int j = 0; j < 16; j++) o[j] = s * (float)((int)(b[j] & 15) - 8);
            for (int j = 0; j < 16; j++) o[16 + j] = s * (float)((int)(b[j] >> 4) - 8);
#endif
        }
    }
}

void sc_dequantize_rows(int scheme, const void *q, const float *scales, int cols, int r0, int r1, float *out) {
    for (int r = r0; r < r1; r++) dequant_row(scheme, q, scales, cols, r, out + (size_t)(r - r0) * cols);
}

void sc_f32_to_f16_array(const float *src, uint16_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = sc_f32_to_f16(src[i]);
}

// k-th smallest (0-based) of a[0..n) by quickselect (Hoare partition, median-of-three pivot); reorders a.
static float select_kth(float *a, size_t n, size_t k) {
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        float x = a[lo], y = a[mid], z = a[hi];
        float pivot = (x < y) ? ((y < z) ? y : (x < z ? z : x)) : ((x < z) ? x : (y < z ? z : y));
        size_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) {
                float t = a[i]; a[i] = a[j]; a[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return a[k];
    }
    return a[k];
}

void sc_prune_magnitude(float *w, size_t n, size_t drop, float *scratch) {
    if (drop == 0 || n == 0) return;
    if (drop > n) drop = n;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) if (!isnan(w[i])) scratch[m++] = fabsf(w[i]);
    if (m == 0) return;
    if (drop > m) drop = m;
    float threshold = select_kth(scratch, m, drop - 1);
    size_t below = 0;
    for (size_t i = 0; i < n; i++) if (fabsf(w[i]) < threshold) below++;
    size_t ties = drop - below;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(w[i]);
        if (a < threshold) w[i] = 0.0f;
        else if (a == threshold && ties > 0) { w[i] = 0.0f; ties--; }
    }
}

// ---------------------------------------------------------------------------------------------
// Fused dequantize-and-dot kernels for few input rows. Weights are converted to fp32 in registers and
// multiplied with fp32 inputs (no activation quantization), so the result equals the product with the
// dequantized matrix up to fp32 rounding.

int sc_quant_has_vector_kernels(void) {
#if defined(__AVX512F__)
    return 1;
#else
    return 0;
#endif
}

static inline float q4_value(const uint8_t *row, int c) {
    // Element c of a q4 row: group c / 32, byte (c % 32) % 16, low nibble for the first 16 elements.
    const uint8_t b = row[(c >> 5) * 16 + (c & 15)];
    return (float)((int)((c & 16) ? (b >> 4) : (b & 15)) - 8);
}

/// One q4 group (16 bytes) -> 32 floats s * q: two fixed 16-wide loops that vectorize.
static inline void unpack_q4_group(const uint8_t *b, float s, float *restrict o) {
    for (int j = 0; j < 16; j++) o[j] = s * (float)((int)(b[j] & 15) - 8);
    for (int j = 0; j < 16; j++) o[16 + j] = s * (float)((int)(b[j] >> 4) - 8);
}

static float dot_portable(const float *restrict a, const float *restrict b, int n) {
#if defined(__clang__)
    // Let the sum run in vector lanes (as any SIMD kernel does).
#pragma clang fp reassociate(on)
#endif
    float acc = 0.0f;
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

static float dot_i8_portable(const float *restrict a, const int8_t *restrict b, int n) {
#if defined(__clang__)
#pragma clang fp reassociate(on)
#endif
    float acc = 0.0f;
    for (int i = 0; i < n; i++) acc += a[i] * (float)b[i];
    return acc;
}

static void qgemv_nk_portable(int scheme, const void *q, const float *scales, int K, int n0, int n1,
                              const float *x, int M, int ldx, float *y, int ldy, int accumulate) {
    // q4 rows are unpacked once into a scratch row and reused for all M inputs.
    float *row = scheme == SC_QUANT_INT8 ? NULL : (float *)malloc(sizeof(float) * (size_t)K);
    for (int n = n0; n < n1; n++) {
        if (row && scheme == SC_QUANT_F16) {
            const uint16_t *hr = (const uint16_t *)q + (size_t)n * K;
            for (int k = 0; k < K; k++) row[k] = sc_f16_to_f32(hr[k]);
        } else if (row) {
            const int G = K / SC_QUANT_Q4_GROUP;
            const uint8_t *qr = (const uint8_t *)q + (size_t)n * (K / 2);
            for (int g = 0; g < G; g++) unpack_q4_group(qr + g * 16, scales[(size_t)n * G + g], row + g * 32);
        }
        for (int m = 0; m < M; m++) {
            const float *xr = x + (size_t)m * ldx;
            float sum = 0.0f;
            if (scheme == SC_QUANT_INT8) {
                const int8_t *qr = (const int8_t *)q + (size_t)n * K;
                sum = dot_i8_portable(xr, qr, K) * scales[n];
            } else if (row) {
                sum = dot_portable(xr, row, K);
            } else if (scheme == SC_QUANT_F16) {  // no scratch memory: element by element
                const uint16_t *hr = (const uint16_t *)q + (size_t)n * K;
                for (int k = 0; k < K; k++) sum += xr[k] * sc_f16_to_f32(hr[k]);
            } else {
                const int G = K / SC_QUANT_Q4_GROUP;
                const uint8_t *qr = (const uint8_t *)q + (size_t)n * (K / 2);
                for (int k = 0; k < K; k++) sum += xr[k] * scales[(size_t)n * G + (k >> 5)] * q4_value(qr, k);
            }
            float *dst = y + (size_t)m * ldy + n;
            *dst = accumulate ? *dst + sum : sum;
        }
    }
    free(row);
}

static void qgemv_kn_portable(int scheme, const void *q, const float *scales, int K, int N, int n0, int n1,
                              const float *x, int M, int ldx, float *y, int ldy, int accumulate) {
    const int G = N / SC_QUANT_Q4_GROUP;
    const int width = n1 - n0;
    if (width <= 0) return;
    if (!accumulate)
        for (int m = 0; m < M; m++) memset(y + (size_t)m * ldy + n0, 0, sizeof(float) * (size_t)width);
    // q4 slices of whole groups are unpacked once per input row k into a scratch and reused for all M.
    const int grouped = scheme == SC_QUANT_F16 || (scheme == SC_QUANT_Q4 && (n0 & 31) == 0 && (n1 & 31) == 0);
    float *slice = grouped ? (float *)malloc(sizeof(float) * (size_t)width) : NULL;
    for (int k = 0; k < K; k++) {
        if (scheme == SC_QUANT_INT8) {
            const int8_t *restrict qr = (const int8_t *)q + (size_t)k * N;
            for (int m = 0; m < M; m++) {
                float *restrict yr = y + (size_t)m * ldy;
                const float c = x[(size_t)m * ldx + k] * scales[k];
                for (int n = n0; n < n1; n++) yr[n] += c * (float)qr[n];
            }
        } else if (slice) {
            if (scheme == SC_QUANT_F16) {
                const uint16_t *hr = (const uint16_t *)q + (size_t)k * N;
                for (int j = 0; j < width; j++) slice[j] = sc_f16_to_f32(hr[n0 + j]);
            } else {
                const uint8_t *qr = (const uint8_t *)q + (size_t)k * (N / 2);
                for (int g = n0 >> 5; g < (n1 >> 5); g++) unpack_q4_group(qr + g * 16, scales[(size_t)k * G + g], slice + (g * 32 - n0));
            }
            for (int m = 0; m < M; m++) {
                float *restrict yr = y + (size_t)m * ldy + n0;
                const float c = x[(size_t)m * ldx + k];
                for (int j = 0; j < width; j++) yr[j] += c * slice[j];
            }
        } else if (scheme == SC_QUANT_F16) {  // no scratch memory: element by element
            const uint16_t *hr = (const uint16_t *)q + (size_t)k * N;
            for (int m = 0; m < M; m++) {
                float *yr = y + (size_t)m * ldy;
                const float xv = x[(size_t)m * ldx + k];
                for (int n = n0; n < n1; n++) yr[n] += xv * sc_f16_to_f32(hr[n]);
            }
        } else {  // partial groups or no scratch memory: element by element
            const uint8_t *qr = (const uint8_t *)q + (size_t)k * (N / 2);
            for (int m = 0; m < M; m++) {
                float *yr = y + (size_t)m * ldy;
                const float xv = x[(size_t)m * ldx + k];
                for (int n = n0; n < n1; n++) yr[n] += xv * scales[(size_t)k * G + (n >> 5)] * q4_value(qr, n);
            }
        }
    }
    free(slice);
}

#if defined(__AVX512F__)
static inline __m512 i8x16_to_ps(const int8_t *p) {
    return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)p)));
}

/// 16 bytes of a q4 group -> elements 0..15 (*lo) and 16..31 (*hi) as floats q (not yet scaled).
static inline void q4x32_to_ps(const uint8_t *p, __m512 *lo, __m512 *hi) {
    const __m128i b = _mm_loadu_si128((const __m128i *)p), mask = _mm_set1_epi8(15);
    const __m512i eight = _mm512_set1_epi32(8);
    *lo = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(b, mask)), eight));
    *hi = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(b, 4), mask)), eight));
}

/// [out, in] layout, 4 weight rows n..n+3 against MR (1..4) input rows; K tail handled in scalar.
static inline __attribute__((always_inline))
void nk_block(int scheme, const void *q, const float *scales, int K, int n, const float *x, int ldx, int MR,
              float *y, int ldy, int accumulate) {
    __m512 acc[4][4];
    for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_ps();
    float tail[4][4] = {{0}};
    if (scheme == SC_QUANT_F16) {
        const uint16_t *hb = (const uint16_t *)q + (size_t)n * K;
        int k = 0;
        for (; k + 16 <= K; k += 16) {
            __m512 xv[4];
            for (int j = 0; j < MR; j++) xv[j] = _mm512_loadu_ps(x + (size_t)j * ldx + k);
            for (int i = 0; i < 4; i++) {
                const __m512 w = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(hb + (size_t)i * K + k)));
                for (int j = 0; j < MR; j++) acc[i][j] = _mm512_fmadd_ps(w, xv[j], acc[i][j]);
            }
        }
        for (; k < K; k++)
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < MR; j++) tail[i][j] += x[(size_t)j * ldx + k] * sc_f16_to_f32(hb[(size_t)i * K + k]);
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < MR; j++) {
                const float v = _mm512_reduce_add_ps(acc[i][j]) + tail[i][j];
                float *dst = y + (size_t)j * ldy + n + i;
                *dst = accumulate ? *dst + v : v;
            }
    } else if (scheme == SC_QUANT_INT8) {
        const int8_t *qb = (const int8_t *)q + (size_t)n * K;
        int k = 0;
        for (; k + 16 <= K; k += 16) {
            __m512 xv[4];
            for (int j = 0; j < MR; j++) xv[j] = _mm512_loadu_ps(x + (size_t)j * ldx + k);
            for (int i = 0; i < 4; i++) {
                const __m512 w = i8x16_to_ps(qb + (size_t)i * K + k);
                for (int j = 0; j < MR; j++) acc[i][j] = _mm512_fmadd_ps(w, xv[j], acc[i][j]);
            }
        }
        for (; k < K; k++)
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < MR; j++) tail[i][j] += x[(size_t)j * ldx + k] * (float)qb[(size_t)i * K + k];
        for (int i = 0; i < 4; i++) {
            const float s = scales[n + i];
            for (int j = 0; j < MR; j++) {
                const float v = (_mm512_reduce_add_ps(acc[i][j]) + tail[i][j]) * s;
                float *dst = y + (size_t)j * ldy + n + i;
                *dst = accumulate ? *dst + v : v;
            }
        }
    } else {
        const int G = K / SC_QUANT_Q4_GROUP;
        const uint8_t *qb = (const uint8_t *)q + (size_t)n * (K / 2);
        for (int g = 0; g < G; g++) {
            __m512 xlo[4], xhi[4];
            for (int j = 0; j < MR; j++) {
                xlo[j] = _mm512_loadu_ps(x + (size_t)j * ldx + g * 32);
                xhi[j] = _mm512_loadu_ps(x + (size_t)j * ldx + g * 32 + 16);
            }
            for (int i = 0; i < 4; i++) {
                __m512 lo, hi;
                q4x32_to_ps(qb + (size_t)i * (K / 2) + g * 16, &lo, &hi);
                const __m512 s = _mm512_set1_ps(scales[(size_t)(n + i) * G + g]);
                lo = _mm512_mul_ps(lo, s);
                hi = _mm512_mul_ps(hi, s);
                for (int j = 0; j < MR; j++) {
                    acc[i][j] = _mm512_fmadd_ps(lo, xlo[j], acc[i][j]);
                    acc[i][j] = _mm512_fmadd_ps(hi, xhi[j], acc[i][j]);
                }
            }
        }
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < MR; j++) {
                const float v = _mm512_reduce_add_ps(acc[i][j]);
                float *dst = y + (size_t)j * ldy + n + i;
                *dst = accumulate ? *dst + v : v;
            }
    }
}

/// [in, out] layout: output columns nb..nb+63 for MR (1..4) input rows, all K.
static inline __attribute__((always_inline))
void kn_block(int scheme, const void *q, const float *scales, int K, int N, int nb, const float *x, int ldx, int MR,
              float *y, int ldy, int accumulate) {
    __m512 acc[4][4];
    for (int j = 0; j < 4; j++) for (int v = 0; v < 4; v++) acc[j][v] = _mm512_setzero_ps();
    if (scheme == SC_QUANT_F16) {
        for (int k = 0; k < K; k++) {
            const uint16_t *hr = (const uint16_t *)q + (size_t)k * N + nb;
            __m512 w[4];
            for (int v = 0; v < 4; v++) w[v] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(hr + 16 * v)));
            for (int j = 0; j < MR; j++) {
                const __m512 c = _mm512_set1_ps(x[(size_t)j * ldx + k]);
                for (int v = 0; v < 4; v++) acc[j][v] = _mm512_fmadd_ps(w[v], c, acc[j][v]);
            }
        }
    } else if (scheme == SC_QUANT_INT8) {
        for (int k = 0; k < K; k++) {
            const int8_t *qr = (const int8_t *)q + (size_t)k * N + nb;
            __m512 w[4];
            for (int v = 0; v < 4; v++) w[v] = i8x16_to_ps(qr + 16 * v);
            const float s = scales[k];
            for (int j = 0; j < MR; j++) {
                const __m512 c = _mm512_set1_ps(x[(size_t)j * ldx + k] * s);
                for (int v = 0; v < 4; v++) acc[j][v] = _mm512_fmadd_ps(w[v], c, acc[j][v]);
            }
        }
    } else {
        const int G = N / SC_QUANT_Q4_GROUP, g0 = nb / SC_QUANT_Q4_GROUP;
        for (int k = 0; k < K; k++) {
            const uint8_t *qr = (const uint8_t *)q + (size_t)k * (N / 2) + nb / 2;
            __m512 w[4];
            q4x32_to_ps(qr, &w[0], &w[1]);
            q4x32_to_ps(qr + 16, &w[2], &w[3]);
            const float s0 = scales[(size_t)k * G + g0], s1 = scales[(size_t)k * G + g0 + 1];
            for (int j = 0; j < MR; j++) {
                const float xv = x[(size_t)j * ldx + k];
                const __m512 c0 = _mm512_set1_ps(xv * s0), c1 = _mm512_set1_ps(xv * s1);
                acc[j][0] = _mm512_fmadd_ps(w[0], c0, acc[j][0]);
                acc[j][1] = _mm512_fmadd_ps(w[1], c0, acc[j][1]);
                acc[j][2] = _mm512_fmadd_ps(w[2], c1, acc[j][2]);
                acc[j][3] = _mm512_fmadd_ps(w[3], c1, acc[j][3]);
            }
        }
    }
    for (int j = 0; j < MR; j++)
        for (int v = 0; v < 4; v++) {
            float *dst = y + (size_t)j * ldy + nb + 16 * v;
            __m512 r = acc[j][v];
            if (accumulate) r = _mm512_add_ps(r, _mm512_loadu_ps(dst));
            _mm512_storeu_ps(dst, r);
        }
}

static void qgemv_nk_avx512(int scheme, const void *q, const float *scales, int K, int n0, int n1,
                            const float *x, int M, int ldx, float *y, int ldy, int accumulate) {
    int n = n0;
    for (; n + 4 <= n1; n += 4) {
        for (int m0 = 0; m0 < M; m0 += 4) {
            const float *xm = x + (size_t)m0 * ldx;
            float *ym = y + (size_t)m0 * ldy;
            switch (M - m0 >= 4 ? 4 : M - m0) {
            case 1: nk_block(scheme, q, scales, K, n, xm, ldx, 1, ym, ldy, accumulate); break;
            case 2: nk_block(scheme, q, scales, K, n, xm, ldx, 2, ym, ldy, accumulate); break;
            case 3: nk_block(scheme, q, scales, K, n, xm, ldx, 3, ym, ldy, accumulate); break;
            default: nk_block(scheme, q, scales, K, n, xm, ldx, 4, ym, ldy, accumulate); break;
            }
        }
    }
    if (n < n1) qgemv_nk_portable(scheme, q, scales, K, n, n1, x, M, ldx, y, ldy, accumulate);
}

static void qgemv_kn_avx512(int scheme, const void *q, const float *scales, int K, int N, int n0, int n1,
                            const float *x, int M, int ldx, float *y, int ldy, int accumulate) {
    int nb = n0;
    // The q4 block spans two whole groups, so it must start on a group boundary.
    if (scheme != SC_QUANT_Q4 || nb % SC_QUANT_Q4_GROUP == 0) {
        for (; nb + 64 <= n1; nb += 64) {
            for (int m0 = 0; m0 < M; m0 += 4) {
                const float *xm = x + (size_t)m0 * ldx;
                float *ym = y + (size_t)m0 * ldy;
                switch (M - m0 >= 4 ? 4 : M - m0) {
                case 1: kn_block(scheme, q, scales, K, N, nb, xm, ldx, 1, ym, ldy, accumulate); break;
                case 2: kn_block(scheme, q, scales, K, N, nb, xm, ldx, 2, ym, ldy, accumulate); break;
                case 3: kn_block(scheme, q, scales, K, N, nb, xm, ldx, 3, ym, ldy, accumulate); break;
                default: kn_block(scheme, q, scales, K, N, nb, xm, ldx, 4, ym, ldy, accumulate); break;
                }
            }
        }
    }
    if (nb < n1) qgemv_kn_portable(scheme, q, scales, K, N, nb, n1, x, M, ldx, y, ldy, accumulate);
}
#endif

void sc_qgemv_nk(int scheme, const void *q, const float *scales, int K, int n0, int n1,
                 const float *x, int M, int ldx, float *y, int ldy, int accumulate, int portable) {
#if defined(__AVX512F__)
    if (!portable) { qgemv_nk_avx512(scheme, q, scales, K, n0, n1, x, M, ldx, y, ldy, accumulate); return; }
#endif
    (void)portable;
    qgemv_nk_portable(scheme, q, scales, K, n0, n1, x, M, ldx, y, ldy, accumulate);
}

void sc_qgemv_kn(int scheme, const void *q, const float *scales, int K, int N, int n0, int n1,
                 const float *x, int M, int ldx, float *y, int ldy, int accumulate, int portable) {
#if defined(__AVX512F__)
    if (!portable) { qgemv_kn_avx512(scheme, q, scales, K, N, n0, n1, x, M, ldx, y, ldy, accumulate); return; }
#endif
    (void)portable;
    qgemv_kn_portable(scheme, q, scales, K, N, n0, n1, x, M, ldx, y, ldy, accumulate);
}
