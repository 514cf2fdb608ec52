// cuda-smem: the reduced form on CUDA cores, in f32.
//
//   scores[b,s] = sum_d Qp[b,d] * codebook[K_idx[s,d]] + coef * gamma[s] * sum_d Qs[b,d] * sign[s,d]
//
// smem_qproj computes Qp = Q * Pi^T and Qs = Q * S_mat^T once per solve, transposed to [D][32] (queries padded
// to 32 with zeros). smem_scores gives each block 128 keys and all queries: per chunk of 32 dimensions the
// block expands indices (through the codebook) and signs into f32 tiles in shared memory, then each thread
// accumulates 4 queries x 4 keys x 2 sums in registers.

#define QP_STRIDE 32     // queries per row of QpT/QsT
#define TILE_KEYS 128    // keys per block
#define CHUNK_D 32       // dimensions per shared-memory chunk

// grid (ceil(D/8), 2): blockIdx.y = 0 for Pi (Qp), 1 for S_mat (Qs). 256 threads; warp w computes row
// d = 8*blockIdx.x + w for every query (lane = query). Dynamic shared memory: 32*(D|1 or D+1) + 8*D floats.
extern "C" __global__ void __launch_bounds__(256) smem_qproj(const float* __restrict__ Q,
                                                             const float* __restrict__ Pi,
                                                             const float* __restrict__ Smat, int B, int D,
                                                             float* __restrict__ QpT, float* __restrict__ QsT) {
    extern __shared__ float sh[];
    const int stride = (D % 2 == 0) ? D + 1 : D + 2;  // odd: lanes b read distinct banks
    float* qs = sh;                                    // [32][stride]
    float* rows = sh + QP_STRIDE * stride;             // [8][D]
    const float* M = blockIdx.y == 0 ? Pi : Smat;
    float* out = blockIdx.y == 0 ? QpT : QsT;
    for (int i = threadIdx.x; i < QP_STRIDE * D; i += blockDim.x) {
        int b = i / D, j = i - b * D;
        qs[b * stride + j] = b < B ? Q[b * D + j] : 0.0f;
    }
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int d = blockIdx.x * 8 + warp;
    float* row = rows + warp * D;
    if (d < D) {
        for (int j = lane; j < D; j += 32) row[j] = M[(size_t)d * D + j];
    }
    __syncthreads();
    if (d >= D) return;
    float acc = 0.0f;
    const float* qb = qs + lane * stride;
    for (int j = 0; j < D; ++j) acc = fmaf(qb[j], row[j], acc);
    out[d * QP_STRIDE + lane] = acc;
}

// Loads the 32 bytes of row `key` (chunk d0..d0+31) of `src` into w[0..7], zeros past D or past the last key.
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
        for (int k = 0; k < CHUNK_D && d0 + k < D; ++k) w[k >> 2] |= (unsigned int)row[d0 + k] << (8 * (k & 3));
    }
}

// grid ceil(S/128), 256 threads.
extern "C" __global__ void __launch_bounds__(256, 2) smem_scores(
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

    // Expansion role: threads 0..127 expand indices of key (tid), 128..255 signs of key (tid - 128).
    const bool is_sign = tid >= TILE_KEYS;
    const int ekey = tid & (TILE_KEYS - 1);
    const unsigned char* src = is_sign ? signs : kidx;
    const bool key_ok = s0 + ekey < S;

    // Compute role: warp w owns queries 4w..4w+3, lane owns keys 4*lane..4*lane+3.
    const int b0 = warp * 4;
    const bool active = b0 < B;
    float acc1[4][4], acc2[4][4];
#pragma unroll
    for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc1[i][j] = acc2[i][j] = 0.0f;

    unsigned int w[8];
    load_chunk(src, s0 + ekey, S, D, 0, w);
    const int nchunks = (D + CHUNK_D - 1) / CHUNK_D;
    for (int ch = 0; ch < nchunks; ++ch) {
        const int d0 = ch * CHUNK_D;
        __syncthreads();  // the previous chunk's tiles are no longer read
#pragma unroll
        for (int k = 0; k < CHUNK_D; ++k) {
            const unsigned int byte = (w[k >> 2] >> (8 * (k & 3))) & 0xffu;
            const bool ok = key_ok && d0 + k < D;
            if (is_sign) {
                Sg[k][ekey] = ok ? ((byte & 0x80u) ? -1.0f : 1.0f) : 0.0f;
            } else {
                V[k][ekey] = ok ? cb[byte] : 0.0f;
            }
        }
        // QpT/QsT have rows up to a multiple of 32, zero past D.
        {
            const float4* gp = reinterpret_cast<const float4*>(QpT + (size_t)d0 * QP_STRIDE);
            const float4* gs = reinterpret_cast<const float4*>(QsT + (size_t)d0 * QP_STRIDE);
            reinterpret_cast<float4*>(&QpC[0][0])[tid] = gp[tid];
            reinterpret_cast<float4*>(&QsC[0][0])[tid] = gs[tid];
        }
        __syncthreads();
        if (ch + 1 < nchunks) load_chunk(src, s0 + ekey, S, D, d0 + CHUNK_D, w);  // in flight during the math
        if (active) {
#pragma unroll 8
            for (int k = 0; k < CHUNK_D; ++k) {
                const float4 qp = *reinterpret_cast<const float4*>(&QpC[k][b0]);
                const float4 qs = *reinterpret_cast<const float4*>(&QsC[k][b0]);
                const float4 v = *reinterpret_cast<const float4*>(&V[k][4 * lane]);
                const float4 sg = *reinterpret_cast<const float4*>(&Sg[k][4 * lane]);
                const float qpa[4] = {qp.x, qp.y, qp.z, qp.w}, qsa[4] = {qs.x, qs.y, qs.z, qs.w};
                const float va[4] = {v.x, v.y, v.z, v.w}, sa[4] = {sg.x, sg.y, sg.z, sg.w};
#pragma unroll
                for (int i = 0; i < 4; ++i)
#pragma unroll
                    for (int j = 0; j < 4; ++j) {
                        acc1[i][j] = fmaf(qpa[i], va[j], acc1[i][j]);
                        acc2[i][j] = fmaf(qsa[i], sa[j], acc2[i][j]);
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
    for (int i = 0; i < 4; ++i) {
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
