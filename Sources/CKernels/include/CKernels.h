#ifndef SWIFTCAP_CKERNELS_H
#define SWIFTCAP_CKERNELS_H
#include <stddef.h>
#include <stdint.h>

/// CPU feature bits detected with cpuid (x86-64); all zero elsewhere.
typedef struct {
    int avx2, fma, avx512f, avx512bw, avx512vnni, avx512bf16, amx_tile, amx_bf16, amx_int8, neon;
} sc_cpu_features;

sc_cpu_features sc_detect_cpu_features(void);
/// Returns heap memory freed by malloc to the OS (glibc malloc_trim(0)); 0 elsewhere or when nothing was released.
int sc_release_freed_heap(void);

/// Bytes of heap in use (glibc's mallinfo2 `uordblks`), or 0 where it is not available; for leak tests.
size_t sc_heap_bytes_in_use(void);

/// Reads n bytes (n a multiple of 64) and returns a checksum of them, so the reads cannot be elided; the
/// probe behind `Device.measureReadBandwidth` (streaming 64-byte loads, summed as 64-bit words).
uint64_t sc_read_checksum(const void *p, size_t n);

/// Reference single-threaded sgemm, row-major: C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C.
void sc_sgemm_ref(int transA, int transB, int m, int n, int k, float alpha,
                  const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

#include "sc_conv.h"
#include "sc_blas.h"
#include "sc_quant.h"
#include "sc_pool.h"

#endif
