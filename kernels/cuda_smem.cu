// cuda-smem: the reduced form on CUDA cores, in f32.
//
//   scores[b,s] = sum_d Qp[b,d] * codebook[K_idx[s,d]] + coef * gamma[s] * sum_d Qs[b,d] * sign[s,d]
//
// smem_qproj computes Qp = Q * Pi^T and Qs = Q * S_mat^T once per solve, transposed to [D][32] (queries padded
// to 32 with zeros). smem_scores gives each block of 128 threads 128 keys and all queries: per chunk of 32
// dimensions the block expands indices (through the codebook) and signs into f32 tiles in shared memory, then
// each thread accumulates 8 queries x 4 keys x 2 sums in registers, reading Qp/Qs through the L1 cache.
// On sm_90 the two kernels overlap through programmatic dependent launch: smem_scores expands its first chunk
// while smem_qproj runs, and waits for it (griddepcontrol.wait) before the first multiply.

#define QP_STRIDE 32     // queries per row of QpT/QsT
#define TILE_KEYS 128    // keys per block (one per thread)
#define CHUNK_D 32       // dimensions per shared-memory chunk

__device__ __forceinline__ void launch_dependents() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;");
#endif
}

__device__ __forceinline__ void wait_prerequisites() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// grid (32, 2), 256 threads: row b = blockIdx.x of Qp (blockIdx.y = 0, from Pi) or Qs (1, S_mat); rows b >= B are
// written as zeros. tpo threads share each output's dot product; each issues its loads in batches of 16.
extern "C" __global__ void __launch_bounds__(256) smem_qproj(const float* __restrict__ Q,
                                                             const float* __restrict__ Pi,
                                                             const float* __restrict__ Smat, int B, int D,
                                                             float* __restrict__ QpT, float* __restrict__ QsT) {
    launch_dependents();
    __shared__ float qrow[256];
    const int tid = threadIdx.x, b = blockIdx.x;
    const float* M = blockIdx.y == 0 ? Pi : Smat;
    float* out = blockIdx.y == 0 ? QpT : QsT;
    for (int j = tid; j < D; j += 256) qrow[j] = b < B ? Q[(size_t)b * D + j] : 0.0f;
    __syncthreads();
    int p2 = 1;
    while (p2 < D) p2 <<= 1;
    const int tpo = min(32, max(1, 256 / p2));
    const int part = tid % tpo, per_pass = 256 / tpo;
    for (int base = 0; base < D; base += per_pass) {  // uniform trip count: the shuffles see every lane
        const int d = base + tid / tpo;
        float acc = 0.0f;
        if (d < D && b < B) {
            const float* row = M + (size_t)d * D;
            if ((D & 3) == 0) {
                float ps[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                for (int c0 = part; c0 < D / 4; c0 += 16 * tpo) {
                    float4 m4[16];
#pragma unroll
                    for (int u = 0; u < 16; ++u) {
                        const int c = c0 + u * tpo;
                        m4[u] = c < D / 4 ? *reinterpret_cast<const float4*>(row + 4 * c) : make_float4(0.f, 0.f, 0.f, 0.f);
                    }
#pragma unroll
                    for (int u = 0; u < 16; ++u) {
                        const int c = min(c0 + u * tpo, D / 4 - 1);
                        ps[u & 3] = fmaf(qrow[4 * c], m4[u].x, ps[u & 3]);
                        ps[u & 3] = fmaf(qrow[4 * c + 1], m4[u].y, ps[u & 3]);
                        ps[u & 3] = fmaf(qrow[4 * c + 2], m4[u].z, ps[u & 3]);
                        ps[u & 3] = fmaf(qrow[4 * c + 3], m4[u].w, ps[u & 3]);
                    }
                }
                acc = (ps[0] + ps[1]) + (ps[2] + ps[3]);
            } else {
                for (int j = part; j < D; j += tpo) acc = fmaf(qrow[j], row[j], acc);
            }
        }
        for (int o = tpo / 2; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        if (part == 0 && d < D) out[d * QP_STRIDE + b] = acc;
    }
}

// Loads the 32 bytes of row `key` (dimensions d0..d0+31) of `src` into w[0..7], zeros past D or past the last key.
__device__ __forceinline__ void load_chunk(const unsigned char* __restrict__ src, int key, int S, int D, int d0,
                                           unsigned int (&w)[8]) {
#pragma unroll
    for (int k = 0; k < 8; ++k) w[k] = 0u;
    if (key >= S) return;
    const unsigned char* row = src + (size_t)key * D;
    if ((D & 15) == 0) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            if (d0 + 16 * h < D) {
                uint4 v = *reinterpret_cast<const uint4*>(row + d0 + 16 * h);
                w[4 * h] = v.x; w[4 * h + 1] = v.y; w[4 * h + 2] = v.z; w[4 * h + 3] = v.w;
            }
        }
    } else {
#pragma unroll
        for (int k = 0; k < CHUNK_D; ++k)  // unrolled: w stays in registers
            if (d0 + k < D) w[k >> 2] |= (unsigned int)row[d0 + k] << (8 * (k & 3));
    }
}

// grid ceil(S/128), 128 threads. Thread t expands key t; warp w multiplies for queries 8w..8w+7, lane l for
// keys 4l..4l+3.
extern "C" __global__ void __launch_bounds__(128, 3) smem_scores(
    const unsigned char* __restrict__ kidx, const unsigned char* __restrict__ signs,
    const float* __restrict__ gamma, const float* __restrict__ codebook, const float* __restrict__ QpT,
    const float* __restrict__ QsT, float* __restrict__ scores, int B, int S, int D, int C, float coef) {
    __shared__ float cb[256];
    __shared__ __align__(16) float V[CHUNK_D][TILE_KEYS];
    __shared__ __align__(16) float Sg[CHUNK_D][TILE_KEYS];

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int s0 = blockIdx.x * TILE_KEYS;
    for (int c = tid; c < 256; c += blockDim.x) cb[c] = c < C ? codebook[c] : 0.0f;
    const bool key_ok = s0 + tid < S;

    const int b0 = warp * 8;
    const bool active = b0 < B;
    float acc1[8][4], acc2[8][4];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc1[i][j] = acc2[i][j] = 0.0f;

    unsigned int wi[8], ws[8];
    load_chunk(kidx, s0 + tid, S, D, 0, wi);
    load_chunk(signs, s0 + tid, S, D, 0, ws);
    const int nchunks = (D + CHUNK_D - 1) / CHUNK_D;
    for (int ch = 0; ch < nchunks; ++ch) {
        const int d0 = ch * CHUNK_D;
        __syncthreads();  // the previous chunk's tiles are no longer read
#pragma unroll
        for (int k = 0; k < CHUNK_D; ++k) {
            const unsigned int shift = 8 * (k & 3);
            const bool ok = key_ok && d0 + k < D;
            V[k][tid] = ok ? cb[(wi[k >> 2] >> shift) & 0xffu] : 0.0f;
            Sg[k][tid] = ok ? (((ws[k >> 2] >> shift) & 0x80u) ? -1.0f : 1.0f) : 0.0f;
        }
        __syncthreads();
        if (ch + 1 < nchunks) {  // in flight during the math
            load_chunk(kidx, s0 + tid, S, D, d0 + CHUNK_D, wi);
            load_chunk(signs, s0 + tid, S, D, d0 + CHUNK_D, ws);
        }
        if (ch == 0) wait_prerequisites();  // QpT/QsT are smem_qproj's output
        if (active) {
            // QpT/QsT have rows up to a multiple of 32, zero past D; all lanes read the same 32 bytes (one L1
            // transaction each).
            const float4* qp4 = reinterpret_cast<const float4*>(QpT + (size_t)d0 * QP_STRIDE + b0);
            const float4* qs4 = reinterpret_cast<const float4*>(QsT + (size_t)d0 * QP_STRIDE + b0);
#pragma unroll 4
            for (int k = 0; k < CHUNK_D; ++k) {
                const float4 pa = __ldg(qp4 + k * (QP_STRIDE / 4)), pb = __ldg(qp4 + k * (QP_STRIDE / 4) + 1);
                const float4 sa = __ldg(qs4 + k * (QP_STRIDE / 4)), sb = __ldg(qs4 + k * (QP_STRIDE / 4) + 1);
                const float4 v = *reinterpret_cast<const float4*>(&V[k][4 * lane]);
                const float4 sg = *reinterpret_cast<const float4*>(&Sg[k][4 * lane]);
                const float qp[8] = {pa.x, pa.y, pa.z, pa.w, pb.x, pb.y, pb.z, pb.w};
                const float qs[8] = {sa.x, sa.y, sa.z, sa.w, sb.x, sb.y, sb.z, sb.w};
                const float va[4] = {v.x, v.y, v.z, v.w}, sv[4] = {sg.x, sg.y, sg.z, sg.w};
#pragma unroll
                for (int i = 0; i < 8; ++i)
#pragma unroll
                    for (int j = 0; j < 4; ++j) {
                        acc1[i][j] = fmaf(qp[i], va[j], acc1[i][j]);
                        acc2[i][j] = fmaf(qs[i], sv[j], acc2[i][j]);
                    }
            }
        }
    }
    if (!active) return;
    const int sk = s0 + 4 * lane;
    float g[4];
#pragma unroll
    for (int j = 0; j < 4; ++j) g[j] = sk + j < S ? coef * gamma[sk + j] : 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const int b = b0 + i;
        if (b >= B) break;
        float o[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) o[j] = fmaf(g[j], acc2[i][j], acc1[i][j]);
        float* dst = scores + (size_t)b * S + sk;
        if ((S & 3) == 0 && sk + 3 < S) {
            *reinterpret_cast<float4*>(dst) = make_float4(o[0], o[1], o[2], o[3]);
        } else {
#pragma unroll
            for (int j = 0; j < 4; ++j)
                if (sk + j < S) dst[j] = o[j];
        }
    }
}
