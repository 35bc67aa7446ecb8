// Opens OpenBLAS with dlopen so SwiftCap can choose its kernel set (core type) before the
// library initialises. See sc_blas.h.
#include "sc_blas.h"
#include <string.h>
#include <stdio.h>

#if defined(__linux__)
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

// CBLAS enum values (stable ABI, from the reference cblas.h).
enum { SC_CBLAS_ROW_MAJOR = 101, SC_CBLAS_NO_TRANS = 111, SC_CBLAS_TRANS = 112 };

typedef void (*sc_sgemm_fn)(int, int, int, int, int, int, float, const float *, int,
                            const float *, int, float, float *, int);
typedef void (*sc_sgemv_fn)(int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
typedef void (*sc_set_threads_fn)(int);
typedef int (*sc_get_threads_fn)(void);
typedef char *(*sc_string_fn)(void);

// Process-wide by nature: a shared library is loaded at most once per process. Written once
// under the mutex, read-only afterwards.
static pthread_mutex_t sc_blas_lock = PTHREAD_MUTEX_INITIALIZER;
static int sc_blas_status = 0;  // 0 = not tried, 1 = open, -1 = failed
static char sc_blas_error[512];
static sc_sgemm_fn sc_sgemm_ptr;
static sc_sgemv_fn sc_sgemv_ptr;
static sc_set_threads_fn sc_set_threads_ptr;
static sc_get_threads_fn sc_get_threads_ptr;
static sc_string_fn sc_corename_ptr, sc_config_ptr;

int sc_blas_open(const char *library, const char *coretype, char *error, size_t error_len) {
    pthread_mutex_lock(&sc_blas_lock);
    if (sc_blas_status == 0) {
        const char *lib = library ? library : "libopenblas.so.0";
        char *saved = NULL;
        int had = 0;
        if (coretype) {
            const char *old = getenv("OPENBLAS_CORETYPE");
            if (old) { had = 1; saved = strdup(old); }
            setenv("OPENBLAS_CORETYPE", coretype, 1);
        }
        void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
        if (coretype) {
            if (had && saved) setenv("OPENBLAS_CORETYPE", saved, 1);
            else unsetenv("OPENBLAS_CORETYPE");
            free(saved);
        }
        if (!h) {
            const char *msg = dlerror();
            snprintf(sc_blas_error, sizeof sc_blas_error, "dlopen(%s) failed: %s", lib, msg ? msg : "unknown error");
            sc_blas_status = -1;
        } else {
            sc_sgemm_ptr = (sc_sgemm_fn)dlsym(h, "cblas_sgemm");
            sc_sgemv_ptr = (sc_sgemv_fn)dlsym(h, "cblas_sgemv");
            sc_set_threads_ptr = (sc_set_threads_fn)dlsym(h, "openblas_set_num_threads");
            sc_get_threads_ptr = (sc_get_threads_fn)dlsym(h, "openblas_get_num_threads");
            sc_corename_ptr = (sc_string_fn)dlsym(h, "openblas_get_corename");
            sc_config_ptr = (sc_string_fn)dlsym(h, "openblas_get_config");
            if (!sc_sgemm_ptr) {
                snprintf(sc_blas_error, sizeof sc_blas_error, "%s has no cblas_sgemm symbol", lib);
                sc_blas_status = -1;
            } else {
                sc_blas_status = 1;
            }
        }
    }
    int ok = sc_blas_status == 1;
    if (!ok && error && error_len > 0) snprintf(error, error_len, "%s", sc_blas_error);
    pthread_mutex_unlock(&sc_blas_lock);
    return ok;
}

int sc_blas_state(void) {
    pthread_mutex_lock(&sc_blas_lock);
    int s = sc_blas_status;
    pthread_mutex_unlock(&sc_blas_lock);
    return s;
}

// Matrix-vector products go to sgemv: OpenBLAS 0.3.21's sgemm with M = 1 is 3-5x slower than its
// sgemv on the same data (measured: docs/performance.md). beta == 0 clears y first so that
// stale NaNs in C cannot leak through (BLAS defines beta == 0 as "C is not read").
void sc_blas_sgemm(int transA, int transB, int m, int n, int k, float alpha,
                   const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (sc_sgemv_ptr && m == 1 && n > 1 && k > 0) {
        // c[0, :] = alpha * a · op(B): with B [n, k] (transB) that is B a, else Bᵀ a; a is one row (or column).
        int incx = transA ? lda : 1;
        if (beta == 0.0f) for (int j = 0; j < n; j++) c[j] = 0.0f;
        if (transB) sc_sgemv_ptr(SC_CBLAS_ROW_MAJOR, SC_CBLAS_NO_TRANS, n, k, alpha, b, ldb, a, incx, beta, c, 1);
        else sc_sgemv_ptr(SC_CBLAS_ROW_MAJOR, SC_CBLAS_TRANS, k, n, alpha, b, ldb, a, incx, beta, c, 1);
        return;
    }
    if (sc_sgemv_ptr && n == 1 && m > 1 && k > 0) {
        // c[:, 0] = alpha * op(A) x, x = op(B)'s single column.
        int incx = transB ? 1 : ldb;
        if (beta == 0.0f) for (int i = 0; i < m; i++) c[(size_t)i * ldc] = 0.0f;
        if (transA) sc_sgemv_ptr(SC_CBLAS_ROW_MAJOR, SC_CBLAS_TRANS, k, m, alpha, a, lda, b, incx, beta, c, ldc);
        else sc_sgemv_ptr(SC_CBLAS_ROW_MAJOR, SC_CBLAS_NO_TRANS, m, k, alpha, a, lda, b, incx, beta, c, ldc);
        return;
    }
    sc_sgemm_ptr(SC_CBLAS_ROW_MAJOR, transA ? SC_CBLAS_TRANS : SC_CBLAS_NO_TRANS,
                 transB ? SC_CBLAS_TRANS : SC_CBLAS_NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void sc_blas_set_num_threads(int threads) { if (sc_set_threads_ptr) sc_set_threads_ptr(threads); }
int sc_blas_get_num_threads(void) { return sc_get_threads_ptr ? sc_get_threads_ptr() : 1; }
const char *sc_blas_corename(void) {
    const char *s = sc_corename_ptr ? sc_corename_ptr() : NULL;
    return s ? s : "";
}
const char *sc_blas_config(void) {
    const char *s = sc_config_ptr ? sc_config_ptr() : NULL;
    return s ? s : "";
}

#else
int sc_blas_open(const char *library, const char *coretype, char *error, size_t error_len) {
    (void)library; (void)coretype;
    if (error && error_len > 0) snprintf(error, error_len, "run-time OpenBLAS loading is implemented for Linux only");
    return 0;
}
void sc_blas_sgemm(int transA, int transB, int m, int n, int k, float alpha,
                   const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    (void)transA; (void)transB; (void)m; (void)n; (void)k; (void)alpha; (void)a; (void)lda;
    (void)b; (void)ldb; (void)beta; (void)c; (void)ldc;
}
int sc_blas_state(void) { return -1; }
void sc_blas_set_num_threads(int threads) { (void)threads; }
int sc_blas_get_num_threads(void) { return 1; }
const char *sc_blas_corename(void) { return ""; }
const char *sc_blas_config(void) { return ""; }
#endif
