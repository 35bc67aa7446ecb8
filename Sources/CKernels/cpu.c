#include "CKernels.h"
#if defined(__GLIBC__)
#include <malloc.h>
#endif

size_t sc_heap_bytes_in_use(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    return mallinfo2().uordblks;
#else
    return 0;
#endif
}
uint64_t sc_read_checksum(const void *p, size_t n) {
    // One running sum over consecutive words: compilers vectorize it into contiguous vector loads and adds
    // (an 8-way split of the sum was turned into gathers by clang, at a quarter of the bandwidth).
    const uint64_t *w = (const uint64_t *)p;
    uint64_t s = 0;
    for (size_t i = 0; i < n / 8; i++) s += w[i];
    return s;
}

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
sc_cpu_features sc_detect_cpu_features(void) {
    sc_cpu_features f = {0};
    unsigned a, b, c, d;
    if (__get_cpuid_count(1, 0, &a, &b, &c, &d)) {
        f.fma = (c >> 12) & 1;
    }
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        f.avx2 = (b >> 5) & 1;
        f.avx512f = (b >> 16) & 1;
        f.avx512bw = (b >> 30) & 1;
        f.avx512vnni = (c >> 11) & 1;
        f.amx_bf16 = (d >> 22) & 1;
        f.amx_tile = (d >> 24) & 1;
        f.amx_int8 = (d >> 25) & 1;
    }
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) {
        f.avx512bf16 = (a >> 5) & 1;
    }
    return f;
}
#else
sc_cpu_features sc_detect_cpu_features(void) {
    sc_cpu_features f = {0};
#if defined(__aarch64__)
    f.neon = 1;
#endif
    return f;
}
#endif

void sc_sgemm_ref(int transA, int transB, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    for (int i = 0; i < m; i++) {
        float *crow = c + (size_t)i * ldc;
        if (beta == 0.0f) { for (int j = 0; j < n; j++) crow[j] = 0.0f; }
        else if (beta != 1.0f) { for (int j = 0; j < n; j++) crow[j] *= beta; }
        for (int p = 0; p < k; p++) {
            float av = alpha * (transA ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p]);
            if (av == 0.0f) continue;
            if (!transB) {
                const float *brow = b + (size_t)p * ldb;
                for (int j = 0; j < n; j++) crow[j] += av * brow[j];
            } else {
                for (int j = 0; j < n; j++) crow[j] += av * b[(size_t)j * ldb + p];
            }
        }
    }
}

#if defined(__GLIBC__)
#include <malloc.h>
#endif
int sc_release_freed_heap(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}
