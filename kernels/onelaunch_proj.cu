// The query projections, shared by both CUDA variants (this file is prepended to each of their sources):
//
//   Qp = Q * Pi^T,   Qs = Q * S_mat^T        (f32, computed once per solve)
//
// inside the variant's own persistent kernel, so a solve is one launch. The 2D rows of [Pi; S_mat] are spread
// over the grid: block i computes rows i, i + G, i + 2G, ... (G = gridDim.x) for all 32 (padded) queries and
// writes them to QT[2][32][Dp] (QT[mat][b][d], mat 0 = Qp, 1 = Qs; d >= D is never written and stays zero).
// Then every block arrives at a grid-wide barrier (an atomic counter; the grid is launched cooperatively, so
// all blocks are resident) and after it reads the whole of QT.
//
// The counter is never reset: solve number e (from 1) waits until it reaches e * G (wrapping arithmetic).

typedef unsigned int u32;
typedef unsigned long long u64;

// This block's share of Qp and Qs, straight from global memory (one round trip: no staging, no block-wide
// synchronisation). Each warp takes (row, query) pairs, 4 at a time: lane l multiplies dimensions l, l + 32, ...
// of the matrix row and the query, and the warp sums by shuffles. Writes QT[mat][b][d] for all 32 queries
// (zeros for b >= B).
__device__ __forceinline__ void proj_slice(const float* __restrict__ Q, const float* __restrict__ Pi,
                                           const float* __restrict__ Smat, int B, int D, int Dp,
                                           float* __restrict__ QT) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
    const int G = gridDim.x, R = 2 * D;
    const int mine = blockIdx.x < R ? (R - 1 - blockIdx.x) / G + 1 : 0;
    const int npairs = mine * 32;
    for (int p0 = warp; p0 < npairs; p0 += 4 * nwarps) {
        float acc[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            const int p = p0 + u * nwarps;
            const int r = blockIdx.x + (p >> 5) * G, b = p & 31;
            const bool ok = p < npairs && b < B;
            const float* M = r < D ? Pi + (size_t)r * D : Smat + (size_t)(r - D) * D;
            const float* q = Q + (size_t)b * D;
            float a = 0.0f;
#pragma unroll
            for (int i = 0; i < 8; ++i) {  // D <= 256
                const int j = lane + 32 * i;
                if (ok && j < D) a = fmaf(__ldg(M + j), __ldg(q + j), a);
            }
            acc[u] = a;
        }
#pragma unroll
        for (int u = 0; u < 4; ++u)
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) acc[u] += __shfl_xor_sync(0xffffffffu, acc[u], o);
        if (lane == 0) {
#pragma unroll
            for (int u = 0; u < 4; ++u) {
                const int p = p0 + u * nwarps;
                if (p < npairs) {
                    const int r = blockIdx.x + (p >> 5) * G, b = p & 31;
                    const int mat = r < D ? 0 : 1, d = r < D ? r : r - D;
                    QT[((size_t)mat * 32 + b) * Dp + d] = acc[u];
                }
            }
        }
    }
}

// Grid-wide barrier: every block of the (cooperatively launched) grid arrives once per solve; returns when all
// have. Writes before it (by any thread of any block) are visible after it; read them through L2 (__ldcg).
__device__ __forceinline__ void grid_barrier(u32* counter, u32 target) {
    __syncthreads();
    if (threadIdx.x == 0) {
        // Release (cumulative over the block's writes ordered by the barrier above), then acquire.
        asm volatile("red.release.gpu.global.add.u32 [%0], 1;" ::"l"(counter) : "memory");
        u32 v;
        while (true) {
            asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(counter) : "memory");
            if ((int)(v - target) >= 0) break;
            __nanosleep(32);
        }
    }
    __syncthreads();
}

// Measurement aid: thread 0 of each block stamps phase p (`stamp`, kernels/trace.cuh, prepended).
__device__ __forceinline__ void trace_stamp(u64* trace, int p) {
    if (threadIdx.x == 0) stamp(trace, p);
}
