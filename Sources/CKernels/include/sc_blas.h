#ifndef SWIFTCAP_SC_BLAS_H
#define SWIFTCAP_SC_BLAS_H
#include <stddef.h>

/// OpenBLAS opened at run time (Linux): the process links no BLAS, so the core type can be
/// chosen before OpenBLAS initialises (it reads OPENBLAS_CORETYPE in its constructor).
///
/// sc_blas_open: opens `library` (NULL = "libopenblas.so.0") once per process with
/// OPENBLAS_CORETYPE set to `coretype` while the library initialises (NULL = leave the
/// environment as it is); the previous value is restored afterwards. Later calls return the
/// result of the first call (OpenBLAS cannot switch cores once initialised).
/// Returns 1 when cblas_sgemm is available; else 0 with a message in `error`.
int sc_blas_open(const char *library, const char *coretype, char *error, size_t error_len);

/// 1 when a previous sc_blas_open succeeded, -1 when it failed, 0 before any call.
int sc_blas_state(void);

/// Row-major sgemm through the opened library (call only after sc_blas_open returned 1).
void sc_blas_sgemm(int transA, int transB, int m, int n, int k, float alpha,
                   const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/// OpenBLAS's process-wide worker count (no-op / 1 when the symbol is missing).
void sc_blas_set_num_threads(int threads);
int sc_blas_get_num_threads(void);

/// The core OpenBLAS chose and its build configuration ("" when unknown).
const char *sc_blas_corename(void);
const char *sc_blas_config(void);

#endif
