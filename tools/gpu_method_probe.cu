// Probe of the GPU timing method: how much of a short measured call is the method, the memory system waking
// up, or the work. Stand-alone (CUDA runtime API); not part of the judge. Build and run on a GPU machine:
//
//     nvcc -O2 -arch=native -o /tmp/probe tools/gpu_method_probe.cu && /tmp/probe
//
// Each sample is taken as the judge takes one (harness/src/gpu/sampler.rs): the warming call (warm) or a
// 256 MB read flush (cold), a hold kernel, the start event, the work, the end event, the host releases the
// hold, device-wide synchronize. The hold varies:
//   idle     one thread polls a mapped host flag with __nanosleep(500) (the judge's hold);
//   l2busy   as idle, while 132 x 256 threads keep reading an 8 MB device buffer until the release;
//   spin     one thread spins 200 us on %globaltimer, touching no memory, and ends by itself;
//   none     no hold (the host launch latency leaks in).
// The work:
//   empty    an empty kernel (1 block of 32 threads);
//   chase    one thread, 8 dependent 4-byte loads 2 MB + 4 KB apart, each timed in SM cycles;
//   copy     cudaMemcpyAsync device to device of 12,861,504 bytes (the perf preset's minimum bytes);
//   read     a kernel reading the same bytes (132 x 4 blocks of 256 threads, 16-byte loads);
//   kcopy    the judge's copy kernel (judge_copy, kernels/harness.cu) on the same bytes: grid-stride, 132 x 4 blocks
//            of 256 threads, 16-byte loads and stores;
//   kcopy4   a kernel copying them in one pass, each thread 4 16-byte units, its 4 loads issued before its stores;
//   kcopy1   a kernel copying them in one pass, each thread one 16-byte unit.
// Prints, per (regime, hold, work), the median and p10/p90 of the event time over the samples, and for chase
// the median cycles of each of its 8 loads.

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cuda_check.cuh"
// judge_copy, the judge's copy kernel (the kcopy row), as the judge compiles it.
#include "../kernels/harness.cu"

static const size_t COPY_BYTES = 12861504;
static const int CHAIN = 8;

__global__ void hold_idle(const volatile unsigned* release) {
    if (threadIdx.x != 0) return;
    while (*release == 0u) __nanosleep(500);
}

__global__ void hold_l2busy(const volatile unsigned* release, volatile unsigned* stop, unsigned epoch,
                            const uint4* __restrict__ buf, size_t n16, unsigned* sink) {
    if (blockIdx.x == 0 && threadIdx.x == 0) {
        while (*release == 0u) {
        }
        *stop = epoch;
        return;
    }
    unsigned acc = 0;
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    while (*stop != epoch) {
        for (int k = 0; k < 8; ++k) {
            uint4 v = buf[i];
            acc ^= v.x ^ v.w;
            i += stride;
            if (i >= n16) i -= n16;
        }
    }
    if (acc == 0x9e3779b9u) atomicAdd(sink, 1u);
}

__global__ void hold_spin(unsigned long long ns) {
    unsigned long long t0, t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
    do {
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    } while (t - t0 < ns);
}

__global__ void empty() {}

// buf[a_k] = a_{k+1}; cycles[k] = SM cycles of load k.
__global__ void chase(const unsigned* __restrict__ buf, unsigned start, long long* cycles) {
    unsigned a = start;
    long long t[CHAIN + 1];
    t[0] = clock64();
#pragma unroll
    for (int k = 0; k < CHAIN; ++k) {
        a = *(const volatile unsigned*)(buf + a);
        t[k + 1] = clock64() + (a == 0xffffffffu);  // keeps the stamp after the load's use
    }
#pragma unroll
    for (int k = 0; k < CHAIN; ++k) cycles[k] = t[k + 1] - t[k];
}

__global__ void read_bytes(const uint4* __restrict__ buf, size_t n16, unsigned* sink) {
    unsigned acc = 0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n16; i += (size_t)gridDim.x * blockDim.x) {
        uint4 v = buf[i];
        acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x9e3779b9u) atomicAdd(sink, 1u);
}

// Block b's threads copy units [b * 4 * blockDim, (b + 1) * 4 * blockDim), thread t units t + k * blockDim.
__global__ void copy_by4(const uint4* __restrict__ src, uint4* __restrict__ dst, size_t n16) {
    const size_t base = (size_t)blockIdx.x * blockDim.x * 4 + threadIdx.x;
    uint4 v[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        size_t i = base + (size_t)k * blockDim.x;
        if (i < n16) v[k] = src[i];
    }
#pragma unroll
    for (int k = 0; k < 4; ++k) {
        size_t i = base + (size_t)k * blockDim.x;
        if (i < n16) dst[i] = v[k];
    }
}

__global__ void copy_by1(const uint4* __restrict__ src, uint4* __restrict__ dst, size_t n16) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n16) dst[i] = src[i];
}

struct Ctx {
    cudaStream_t s;
    cudaEvent_t e0, e1;
    unsigned* release_h;
    unsigned* release_d;
    unsigned* stop;
    unsigned epoch = 0;
    uint4* busy;
    size_t busy16;
    uint4* flush;
    size_t flush16;
    unsigned* sink;
    unsigned* chain;
    long long* cycles;
    unsigned char* src[4];
    unsigned char* dst[4];
    int sms;
};

enum Work { EMPTY, CHASE, COPY, READ, KCOPY, KCOPY4, KCOPY1, WORKS };
enum HoldKind { IDLE, L2BUSY, SPIN, NONE };
static const char* WORK_NAME[] = {"empty", "chase", "copy", "read", "kcopy", "kcopy4", "kcopy1"};
static const char* HOLD_NAME[] = {"idle", "l2busy", "spin", "none"};

static void work(Ctx& c, Work w, int set) {
    switch (w) {
        case EMPTY: empty<<<1, 32, 0, c.s>>>(); break;
        case CHASE: chase<<<1, 1, 0, c.s>>>(c.chain + (size_t)set * (64u << 20) / 4, 0, c.cycles); break;
        case COPY: CHECK(cudaMemcpyAsync(c.dst[set], c.src[set], COPY_BYTES, cudaMemcpyDeviceToDevice, c.s)); break;
        case READ: read_bytes<<<c.sms * 4, 256, 0, c.s>>>((const uint4*)c.src[set], COPY_BYTES / 16, c.sink); break;
        case KCOPY:
            judge_copy<<<c.sms * 4, 256, 0, c.s>>>((const uint4*)c.src[set], (uint4*)c.dst[set], COPY_BYTES);
            break;
        case KCOPY4:
            copy_by4<<<(unsigned)((COPY_BYTES / 16 + 1023) / 1024), 256, 0, c.s>>>((const uint4*)c.src[set],
                                                                                   (uint4*)c.dst[set], COPY_BYTES / 16);
            break;
        case KCOPY1:
            copy_by1<<<(unsigned)((COPY_BYTES / 16 + 255) / 256), 256, 0, c.s>>>((const uint4*)c.src[set],
                                                                                 (uint4*)c.dst[set], COPY_BYTES / 16);
            break;
    }
    CHECK(cudaGetLastError());
}

static float sample(Ctx& c, Work w, HoldKind h, bool cold, int set, long long* cyc_out) {
    if (cold) {
        read_bytes<<<c.sms * 8, 256, 0, c.s>>>(c.flush, c.flush16, c.sink);
    } else {
        work(c, w, set);
    }
    *(volatile unsigned*)c.release_h = 0u;
    ++c.epoch;
    switch (h) {
        case IDLE: hold_idle<<<1, 32, 0, c.s>>>(c.release_d); break;
        case L2BUSY:
            hold_l2busy<<<c.sms, 256, 0, c.s>>>(c.release_d, c.stop, c.epoch, c.busy, c.busy16, c.sink);
            break;
        case SPIN: hold_spin<<<1, 1, 0, c.s>>>(200000ull); break;
        case NONE: break;
    }
    CHECK(cudaGetLastError());
    CHECK(cudaEventRecord(c.e0, c.s));
    work(c, w, set);
    CHECK(cudaEventRecord(c.e1, c.s));
    *(volatile unsigned*)c.release_h = 1u;
    CHECK(cudaDeviceSynchronize());
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, c.e0, c.e1));
    if (cyc_out) CHECK(cudaMemcpy(cyc_out, c.cycles, CHAIN * sizeof(long long), cudaMemcpyDeviceToHost));
    return ms * 1000.0f;
}

int main(int argc, char** argv) {
    int n = argc > 1 ? atoi(argv[1]) : 200;
    Ctx c;
    cudaDeviceProp prop;
    CHECK(cudaGetDeviceProperties(&prop, 0));
    c.sms = prop.multiProcessorCount;
    printf("%s, %d SMs, L2 %d MB; %d samples per row\n", prop.name, c.sms, prop.l2CacheSize >> 20, n);
    CHECK(cudaStreamCreateWithFlags(&c.s, cudaStreamNonBlocking));
    CHECK(cudaEventCreate(&c.e0));
    CHECK(cudaEventCreate(&c.e1));
    CHECK(cudaHostAlloc(&c.release_h, 4, cudaHostAllocMapped));
    CHECK(cudaHostGetDevicePointer(&c.release_d, c.release_h, 0));
    CHECK(cudaMalloc(&c.stop, 4));
    CHECK(cudaMemset(c.stop, 0, 4));
    c.busy16 = (8u << 20) / 16;
    CHECK(cudaMalloc(&c.busy, c.busy16 * 16));
    CHECK(cudaMemset(c.busy, 0, c.busy16 * 16));
    c.flush16 = (256ull << 20) / 16;
    CHECK(cudaMalloc(&c.flush, c.flush16 * 16));
    CHECK(cudaMemset(c.flush, 0, c.flush16 * 16));
    CHECK(cudaMalloc(&c.sink, 4));
    CHECK(cudaMalloc(&c.cycles, CHAIN * sizeof(long long)));
    // 4 chains (one per input set), each in its own 64 MB region: element a_k = k * (2 MB + 4 KB) / 4.
    CHECK(cudaMalloc(&c.chain, 4 * (64ull << 20)));
    {
        std::vector<unsigned> h((64u << 20) / 4, 0u);
        for (int k = 0; k < CHAIN; ++k) {
            unsigned a = (unsigned)((size_t)k * ((2u << 20) + 4096) / 4);
            unsigned next = (unsigned)((size_t)(k + 1) * ((2u << 20) + 4096) / 4);
            h[a] = next;
        }
        for (int s = 0; s < 4; ++s)
            CHECK(cudaMemcpy(c.chain + (size_t)s * (64u << 20) / 4, h.data(), h.size() * 4, cudaMemcpyHostToDevice));
    }
    for (int s = 0; s < 4; ++s) {
        CHECK(cudaMalloc(&c.src[s], COPY_BYTES));
        CHECK(cudaMalloc(&c.dst[s], COPY_BYTES));
        CHECK(cudaMemset(c.src[s], 1, COPY_BYTES));
        CHECK(cudaMemset(c.dst[s], 0, COPY_BYTES));
    }
    CHECK(cudaDeviceSynchronize());

    printf("%-5s %-7s %-6s %8s %8s %8s   %s\n", "mode", "hold", "work", "p10 us", "median", "p90 us",
           "chase: median cycles of loads 1..8");
    for (int cold = 0; cold < 2; ++cold) {
        for (int h = 0; h < 4; ++h) {
            if (cold && h == L2BUSY) continue;  // its buffer would refill the flushed L2
            for (int w = 0; w < WORKS; ++w) {
                std::vector<float> t;
                std::vector<std::vector<long long>> cyc(CHAIN);
                for (int i = 0; i < n + 10; ++i) {
                    long long cy[CHAIN];
                    float us = sample(c, (Work)w, (HoldKind)h, cold, i % 4, w == CHASE ? cy : nullptr);
                    if (i < 10) continue;  // warm-up
                    t.push_back(us);
                    if (w == CHASE)
                        for (int k = 0; k < CHAIN; ++k) cyc[k].push_back(cy[k]);
                }
                std::sort(t.begin(), t.end());
                printf("%-5s %-7s %-6s %8.2f %8.2f %8.2f  ", cold ? "cold" : "warm", HOLD_NAME[h], WORK_NAME[w],
                       t[t.size() / 10], t[t.size() / 2], t[t.size() * 9 / 10]);
                if (w == CHASE) {
                    for (int k = 0; k < CHAIN; ++k) {
                        std::sort(cyc[k].begin(), cyc[k].end());
                        printf(" %5lld", cyc[k][cyc[k].size() / 2]);
                    }
                }
                printf("\n");
                fflush(stdout);
            }
        }
    }
    return 0;
}
