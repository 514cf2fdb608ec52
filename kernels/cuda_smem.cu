// cuda-smem: the reduced form on CUDA cores, in f32.
//
//   scores[b,s] = sum_d Qp[b,d] * codebook[K_idx[s,d]] + sum_d Qs[b,d] * W[s,d]
//   W[s,d]      = coef * gamma[s] * sign[s,d]
//
// qproj_f32 (kernels/qproj.cu) computes Qp = Q * Pi^T and Qs = Q * S_mat^T once per solve, transposed to
// [Drows][32] (queries padded to 32 with zeros, Drows = D rounded up to 32, zero rows past D). smem_scores gives
// each block of 128 threads 128 keys and all queries. Per chunk of 32 dimensions the block expands each key's
// indices (through the codebook) and signs (as +-coef*gamma, so that one set of accumulators takes both sums) into
// f32 tiles in shared memory, and stages the chunk's Qp/Qs rows beside them (prefetched into registers during the
// previous chunk's math). Warp w multiplies queries 16 (w & 1) .. + 15 over half of the chunk's dimensions
// (w >> 1): each thread accumulates 16 queries x 4 keys, 128 FFMA per dimension for 10 shared loads, and the two
// halves are summed through shared memory at the end. smem_scores starts after qproj_f32 has finished (stream
// order; programmatic dependent launch was slower, kernels/NOTES.md).

#define QP_STRIDE 32     // queries per row of QpT/QsT
#define TILE_KEYS 128    // keys per block (one per thread)
#define CHUNK_D 32       // dimensions per shared-memory chunk
#define HALF_D 16        // dimensions of a chunk per warp
#define WARP_Q 16        // queries per warp

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

// Writes acc's query rows FROM .. FROM + 7 to red, [b0 + FROM + i][j][lane], for the warp that stores them.
template <int FROM>
__device__ __forceinline__ void hand_over(const float (&acc)[WARP_Q][4], float* red, int b0, int lane) {
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) red[((b0 + FROM + i) * 4 + j) * 32 + lane] = acc[FROM + i][j];
}

// Stores query rows b0 + FROM .. + 7 of keys sk .. sk + 3: acc plus the other half's sums from red.
template <int FROM>
__device__ __forceinline__ void store_rows(const float (&acc)[WARP_Q][4], const float* red,
                                           float* __restrict__ scores, int b0, int sk, int lane, int B, int S) {
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const int b = b0 + FROM + i;
        if (b >= B) break;
        float o[4];
#pragma unroll
        for (int j = 0; j < 4; ++j) o[j] = acc[FROM + i][j] + red[(b * 4 + j) * 32 + lane];
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

// grid ceil(S/128), 128 threads. Thread t expands key t; warp w multiplies for queries 16 (w & 1) .. + 15 over
// dimensions 16 (w >> 1) .. + 15 of each chunk, lane l for keys 4l..4l+3.
//
// Past D the staged Qp/Qs rows are zero, and past S the keys' bytes and gamma are zero, so the expanded values
// there are finite and contribute nothing to a stored score: the expansion needs no bounds tests.
extern "C" __global__ void __launch_bounds__(128, 2) smem_scores(
    const unsigned char* __restrict__ kidx, const unsigned char* __restrict__ signs,
    const float* __restrict__ gamma, const float* __restrict__ codebook, const float* __restrict__ QpT,
    const float* __restrict__ QsT, float* __restrict__ scores, int B, int S, int D, int C, float coef) {
    __shared__ float cb[256];
    __shared__ __align__(16) float V[CHUNK_D][TILE_KEYS];
    __shared__ __align__(16) float W[CHUNK_D][TILE_KEYS];
    __shared__ __align__(16) float QpC[CHUNK_D][QP_STRIDE];
    __shared__ __align__(16) float QsC[CHUNK_D][QP_STRIDE];

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int s0 = blockIdx.x * TILE_KEYS;
    for (int c = tid; c < 256; c += blockDim.x) cb[c] = c < C ? codebook[c] : 0.0f;
    // coef * gamma of key t as bits: a sign is applied by flipping bit 31.
    const unsigned int cg = __float_as_uint(s0 + tid < S ? coef * gamma[s0 + tid] : 0.0f);

    const int b0 = WARP_Q * (warp & 1), kh = HALF_D * (warp >> 1);
    const bool active = b0 < B;
    float acc[WARP_Q][4];
#pragma unroll
    for (int i = 0; i < WARP_Q; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

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
            V[k][tid] = cb[(wi[k >> 2] >> shift) & 0xffu];
            // Bit 7 of the sign byte to bit 31.
            W[k][tid] = __uint_as_float(cg ^ ((ws[k >> 2] << (24 - shift)) & 0x80000000u));
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
#pragma unroll 4
            for (int kk = 0; kk < HALF_D; ++kk) {
                const int k = kh + kk;
                float qp[WARP_Q], qs[WARP_Q];
#pragma unroll
                for (int i = 0; i < WARP_Q; i += 4) {
                    const float4 a = *reinterpret_cast<const float4*>(&QpC[k][b0 + i]);
                    const float4 s = *reinterpret_cast<const float4*>(&QsC[k][b0 + i]);
                    qp[i] = a.x; qp[i + 1] = a.y; qp[i + 2] = a.z; qp[i + 3] = a.w;
                    qs[i] = s.x; qs[i + 1] = s.y; qs[i + 2] = s.z; qs[i + 3] = s.w;
                }
                const float4 v = *reinterpret_cast<const float4*>(&V[k][4 * lane]);
                const float4 w = *reinterpret_cast<const float4*>(&W[k][4 * lane]);
                const float va[4] = {v.x, v.y, v.z, v.w}, wa[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
                for (int i = 0; i < WARP_Q; ++i)
#pragma unroll
                    for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(qs[i], wa[j], fmaf(qp[i], va[j], acc[i][j]));
            }
        }
    }

    // The two halves of the dimensions: each warp hands the other the 8 query rows that the other stores, through
    // V (4,096 floats: [16 (w & 1) + i][j][lane] for the 32 query rows i), and stores its own 8. The two cases are
    // written out so that every index into acc is a constant (acc stays in registers).
    __syncthreads();  // no warp reads V any more
    float* red = &V[0][0];
    const bool low = (warp >> 1) == 0;  // stores query rows b0 .. b0 + 7
    if (active) {
        if (low) hand_over<8>(acc, red, b0, lane);
        else hand_over<0>(acc, red, b0, lane);
    }
    __syncthreads();
    if (!active) return;
    if (low) store_rows<0>(acc, red, scores, b0, s0 + 4 * lane, lane, B, S);
    else store_rows<8>(acc, red, scores, b0, s0 + 4 * lane, lane, B, S);
}
