// Phase trace, a measurement aid (JUDGE_KERNEL_TRACE; solutions/src/cuda/trace.rs reads and summarises it).
// Prepended to the sources of the kernels that stamp phases. The trace buffer is [gridDim.x][TRACE_SLOTS][2]
// u64: per block and slot, the global timer (ns) and the multiprocessor's cycle counter.

#define TRACE_SLOTS 16  // slots per block (PHASES in solutions/src/cuda/trace.rs)

// Records slot p of this block; nothing when trace is null. The caller picks the thread that stamps.
__device__ __forceinline__ void stamp(unsigned long long* trace, int p) {
    if (trace == nullptr) return;
    unsigned long long g;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(g)::"memory");
    const unsigned long long c = clock64();
    trace[(blockIdx.x * TRACE_SLOTS + p) * 2] = g;
    trace[(blockIdx.x * TRACE_SLOTS + p) * 2 + 1] = c;
}

