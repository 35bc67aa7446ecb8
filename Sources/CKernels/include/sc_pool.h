#ifndef SWIFTCAP_SC_POOL_H
#define SWIFTCAP_SC_POOL_H

/// A persistent worker pool for short parallel regions. Workers spin briefly (`spin_us`) after each
/// region before sleeping on a condition variable, so back-to-back regions (one per conv or GEMM-less
/// op) do not pay a thread wake-up each. One region runs at a time; a caller that finds the pool busy
/// (another thread, or a nested region) runs its chunks itself.
typedef struct sc_pool sc_pool;
typedef void (*sc_pool_task)(void *ctx, long chunk);

/// A pool with `workers` threads (the caller is the extra one). NULL if threads cannot be created.
sc_pool *sc_pool_create(int workers, int spin_us);
/// Stops and joins the workers and frees the pool.
void sc_pool_destroy(sc_pool *pool);
/// Runs task(ctx, c) for c in [0, chunks) on the workers and the calling thread; returns when all ran.
void sc_pool_run(sc_pool *pool, long chunks, sc_pool_task task, void *ctx);

#endif
