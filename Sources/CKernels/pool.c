// Persistent worker pool (see sc_pool.h). The region's ticket packs (generation << 32 | next chunk) in one
// atomic, so a worker that wakes late can only claim chunks of the region that is current: its CAS fails
// once the generation moved on. fn/ctx/chunks are written before the ticket is published (release) and are
// not changed until every chunk of that generation has finished.
#define _GNU_SOURCE
#include "sc_pool.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define SC_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define SC_RELAX() __asm__ __volatile__("yield")
#else
#define SC_RELAX() ((void)0)
#endif

struct sc_pool {
    int workers;
    int spin_us;
    pthread_t *threads;
    pthread_mutex_t run_lock;
    pthread_mutex_t sleep_lock;
    pthread_cond_t wake;
    _Atomic unsigned long long ticket;
    _Atomic long done;
    _Atomic int stop;
    unsigned long long generation;   // written by the running caller only
    _Atomic long chunks;             // read by late workers before their claim fails, so atomic
    sc_pool_task task;
    void *ctx;
};

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec * 1e-3;
}

// Claims and runs chunks of generation `gen` until none are left.
static void run_chunks(sc_pool *p, unsigned long long gen) {
    for (;;) {
        unsigned long long t = atomic_load_explicit(&p->ticket, memory_order_acquire);
        if ((t >> 32) != gen) return;
        long next = (long)(t & 0xffffffffULL);
        if (next >= atomic_load_explicit(&p->chunks, memory_order_relaxed)) return;
        if (!atomic_compare_exchange_weak_explicit(&p->ticket, &t, t + 1, memory_order_acq_rel, memory_order_acquire))
            continue;
        p->task(p->ctx, next);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
    }
}

static void *worker_main(void *arg) {
    sc_pool *p = arg;
    unsigned long long seen = 0;
    for (;;) {
        unsigned long long gen = atomic_load_explicit(&p->ticket, memory_order_acquire) >> 32;
        if (gen == seen) {
            double start = now_us();
            int spins = 0;
            while ((gen = atomic_load_explicit(&p->ticket, memory_order_acquire) >> 32) == seen) {
                if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
                SC_RELAX();
                if ((++spins & 63) == 0 && now_us() - start > p->spin_us) {
                    pthread_mutex_lock(&p->sleep_lock);
                    while ((atomic_load_explicit(&p->ticket, memory_order_acquire) >> 32) == seen
                           && !atomic_load_explicit(&p->stop, memory_order_acquire))
                        pthread_cond_wait(&p->wake, &p->sleep_lock);
                    pthread_mutex_unlock(&p->sleep_lock);
                    start = now_us();
                }
            }
        }
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
        seen = gen;
        run_chunks(p, gen);
    }
}

sc_pool *sc_pool_create(int workers, int spin_us) {
    if (workers < 1) return NULL;
    sc_pool *p = calloc(1, sizeof(sc_pool));
    if (!p) return NULL;
    p->workers = workers;
    p->spin_us = spin_us < 0 ? 0 : spin_us;
    pthread_mutex_init(&p->run_lock, NULL);
    pthread_mutex_init(&p->sleep_lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    atomic_init(&p->ticket, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->stop, 0);
    atomic_init(&p->chunks, 0);
    p->threads = calloc((size_t)workers, sizeof(pthread_t));
    if (!p->threads) { free(p); return NULL; }
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
            p->workers = i;
            sc_pool_destroy(p);
            return NULL;
        }
    }
    return p;
}

void sc_pool_destroy(sc_pool *p) {
    if (!p) return;
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    pthread_mutex_lock(&p->sleep_lock);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->sleep_lock);
    for (int i = 0; i < p->workers; i++) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->sleep_lock);
    pthread_mutex_destroy(&p->run_lock);
    free(p->threads);
    free(p);
}

void sc_pool_run(sc_pool *p, long chunks, sc_pool_task task, void *ctx) {
    if (chunks <= 0) return;
    if (!p || chunks == 1 || pthread_mutex_trylock(&p->run_lock) != 0) {
        for (long c = 0; c < chunks; c++) task(ctx, c);
        return;
    }
    // Close the previous region first: a worker of the previous generation that loaded the ticket but has
    // not claimed yet must not see the new chunk count with the old ticket and claim a chunk that would
    // run the new task (or count towards the new region's `done`). With every chunk bit set its claim fails.
    // (Found by ThreadSanitizer: WorkerPoolTests under scripts/sanitize.sh thread.)
    atomic_fetch_or_explicit(&p->ticket, 0xffffffffULL, memory_order_acq_rel);
    p->task = task;
    p->ctx = ctx;
    atomic_store_explicit(&p->chunks, chunks, memory_order_relaxed);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    // 32-bit generations; 0 is skipped on wrap-around so it never matches a fresh worker's `seen`.
    unsigned long long gen = (++p->generation) & 0xffffffffULL;
    if (gen == 0) gen = (++p->generation) & 0xffffffffULL;
    atomic_store_explicit(&p->ticket, gen << 32, memory_order_release);
    pthread_mutex_lock(&p->sleep_lock);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->sleep_lock);
    run_chunks(p, gen);
    while (atomic_load_explicit(&p->done, memory_order_acquire) < chunks) SC_RELAX();
    pthread_mutex_unlock(&p->run_lock);
}
