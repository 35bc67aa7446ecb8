// Weight quantization kernels; see sc_quant.h for the formats.
#include "sc_quant.h"
#include <math.h>
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
    if (scheme == SC_QUANT_INT8) {
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

static float dot(const float *a, const float *b, int n) {
#if defined(__clang__)
#pragma clang fp reassociate(on)
#endif
    float acc = 0.0f;
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

void sc_qlinear_rows(int scheme, const void *q, const float *scales, int K, int n0, int n1,
                     const float *x, int M, int ldx, float *y, int ldy, int accumulate, float *scratch) {
    for (int n = n0; n < n1; n++) {
        dequant_row(scheme, q, scales, K, n, scratch);
        for (int m = 0; m < M; m++) {
            float v = dot(x + (size_t)m * ldx, scratch, K);
            float *dst = y + (size_t)m * ldy + n;
            *dst = accumulate ? *dst + v : v;
        }
    }
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
