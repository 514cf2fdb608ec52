// cuda-smem: the reduced form on CUDA cores, in f32.
//
//   scores[b,s] = sum_d Qp[b,d] * codebook[K_idx[s,d]] + coef * gamma[s] * sum_d Qs[b,d] * sign[s,d]
//
// qproj_f32 (kernels/qproj.cu) computes Qp = Q * Pi^T and Qs = Q * S_mat^T once per solve, transposed to
// [Drows][32] (queries padded to 32 with zeros, Drows = D rounded up to 32). smem_scores gives each block of 128
// threads 128 keys and all queries: per chunk of 32 dimensions the block expands indices (through the codebook)
// and signs into f32 tiles in shared memory, stages the chunk's Qp/Qs rows beside them (prefetched into
// registers during the previous chunk's math), then each thread accumulates 8 queries x 4 keys x 2 sums.
// smem_scores starts after qproj_f32 has finished (stream order). Launched with programmatic dependent launch
// it was slower (31 vs 26 us warm at perf on an H100, kernels/NOTES.md).

#define QP_STRIDE 32     // queries per row of QpT/QsT
#define TILE_KEYS 128    // keys per block (one per thread)
#define CHUNK_D 32       // dimensions per shared-memory chunk

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
extern "C" __global__ void __launch_bounds__(128, 2) smem_scores(
    const unsigned char* __restrict__ kidx, const unsigned char* __restrict__ signs,
    const float* __restrict__ gamma, const float* __restrict__ codebook, const float* __restrict__ QpT,
    const float* __restrict__ QsT, float* __restrict__ scores, int B, int S, int D, int C, float coef) {
    __shared__ float cb[256];
    __shared__ __align__(16) float V[CHUNK_D][TILE_KEYS];
    __shared__ __align__(16) float Sg[CHUNK_D][TILE_KEYS];
    __shared__ __align__(16) float QpC[CHUNK_D][QP_STRIDE];
    __shared__ __align__(16) float QsC[CHUNK_D][QP_STRIDE];

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

    // A chunk's Qp/Qs rows are 1024 floats each: thread t holds floats 8t..8t+7 of both.
    unsigned int wi[8], ws[8];
    float4 q[4];
    load_chunk(kidx, s0 + tid, S, D, 0, wi);
    load_chunk(signs, s0 + tid, S, D, 0, ws);
    {
        const float4* p4 = reinterpret_cast<const float4*>(QpT);
        const float4* s4 = reinterpret_cast<const float4*>(QsT);
        q[0] = p4[2 * tid]; q[1] = p4[2 * tid + 1]; q[2] = s4[2 * tid]; q[3] = s4[2 * tid + 1];
    }
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
        reinterpret_cast<float4*>(&QpC[0][0])[2 * tid] = q[0];
        reinterpret_cast<float4*>(&QpC[0][0])[2 * tid + 1] = q[1];
        reinterpret_cast<float4*>(&QsC[0][0])[2 * tid] = q[2];
        reinterpret_cast<float4*>(&QsC[0][0])[2 * tid + 1] = q[3];
        __syncthreads();
        if (ch + 1 < nchunks) {  // in flight during the math; QpT/QsT have whole 32-row chunks, zero past D
            load_chunk(kidx, s0 + tid, S, D, d0 + CHUNK_D, wi);
            load_chunk(signs, s0 + tid, S, D, d0 + CHUNK_D, ws);
            const float4* p4 = reinterpret_cast<const float4*>(QpT + (size_t)(d0 + CHUNK_D) * QP_STRIDE);
            const float4* s4 = reinterpret_cast<const float4*>(QsT + (size_t)(d0 + CHUNK_D) * QP_STRIDE);
            q[0] = p4[2 * tid]; q[1] = p4[2 * tid + 1]; q[2] = s4[2 * tid]; q[3] = s4[2 * tid + 1];
        }
        if (active) {
#pragma unroll 8
            for (int k = 0; k < CHUNK_D; ++k) {
                const float4 pa = *reinterpret_cast<const float4*>(&QpC[k][b0]);
                const float4 pb = *reinterpret_cast<const float4*>(&QpC[k][b0 + 4]);
                const float4 sa = *reinterpret_cast<const float4*>(&QsC[k][b0]);
                const float4 sb = *reinterpret_cast<const float4*>(&QsC[k][b0 + 4]);
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
