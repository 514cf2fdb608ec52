// cuda-smem: the reduced form on CUDA cores, in f32.
//
//   scores[b,s] = sum_d Qp[b,d] * codebook[K_idx[s,d]] + coef * gamma[s] * sum_g T[b, g, n(s, g)]
//
// where the QJL sum is taken 4 dimensions at a time: n(s, g) is the 4-bit number whose bit i is set where key s
// has sign -1 at dimension 4g + i, and T[b, g, n] = sum_i (bit i of n ? -Qs[b, 4g+i] : Qs[b, 4g+i]) is one of 16
// precomputed sums of query b's weights. So that term costs one table load and one FFMA per 4 dimensions instead
// of 4 FFMA (the CPU's AVX-512 path does the same with a register permute).
//
// qproj_f32 (kernels/qproj.cu) computes Qp = Q * Pi^T and Qs = Q * S_mat^T once per solve, transposed to
// [Drows][32] (queries padded to 32 with zeros, Drows = D rounded up to 32, zero rows past D). smem_scores gives
// each block of 128 threads 128 keys and all queries. Per chunk of 32 dimensions the block expands each key's
// indices through the codebook into an f32 tile in shared memory and packs its signs into one 32-bit word of
// nibbles, builds the chunk's sign tables T (8 groups x 32 queries x 16 sums) and stages the chunk's Qp rows; the
// raw bytes and the Qp/Qs values come from registers loaded during the previous chunk's math. Warp w multiplies
// queries 16 (w & 1) .. + 15 over half of the chunk's dimensions (w >> 1): each thread accumulates 16 queries x 4
// keys (coef * gamma applied by the table term's FFMA, so one set of accumulators takes both terms), and the two
// halves are summed through shared memory at the end. smem_scores starts after qproj_f32 has finished (stream
// order; programmatic dependent launch was slower, kernels/NOTES.md).

#define QP_STRIDE 32     // queries per row of QpT/QsT
#define TILE_KEYS 128    // keys per block (one per thread)
#define CHUNK_D 16       // dimensions per shared-memory chunk
#define HALF_D 8         // dimensions of a chunk per warp
#define WARP_Q 16        // queries per warp
#define GROUPS 4         // groups of 4 dimensions per chunk

// Loads the 16 bytes of row `key` (dimensions d0..d0+15) of `src` into w[0..3], zeros past D or past the last key.
__device__ __forceinline__ void load_chunk(const unsigned char* __restrict__ src, int key, int S, int D, int d0,
                                           unsigned int (&w)[4]) {
#pragma unroll
    for (int k = 0; k < 4; ++k) w[k] = 0u;
    if (key >= S) return;
    const unsigned char* row = src + (size_t)key * D;
    if ((D & 15) == 0) {
        if (d0 < D) {
            const uint4 v = *reinterpret_cast<const uint4*>(row + d0);
            w[0] = v.x; w[1] = v.y; w[2] = v.z; w[3] = v.w;
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

// The tiles of one chunk, double-buffered: the block expands chunk c + 1 into one buffer while it multiplies chunk c
// from the other, with one barrier per chunk.
struct Tiles {
    float V[2][CHUNK_D][TILE_KEYS];       // codebook values, [buffer][dimension][key]
    float T[2][GROUPS][QP_STRIDE][16];    // sign tables, [buffer][group][query][nibble]
    float QpC[2][CHUNK_D][QP_STRIDE];     // Qp rows
    unsigned int N[2][TILE_KEYS];         // sign nibbles of each key, group g at bits 4g..4g+3
};

// The registers that carry one chunk from global memory to its expansion: the key's index and sign bytes, thread t's
// 4 floats of the chunk's Qp rows, and the Qs values of query t & 31 at the 4 dimensions of group t >> 5.
struct Staged {
    unsigned int wi[4], ws[4];
    float4 qp;
    float qs[4];
};

__device__ __forceinline__ void load_staged(Staged& r, const unsigned char* __restrict__ kidx,
                                            const unsigned char* __restrict__ signs, const float* __restrict__ QpT,
                                            const float* __restrict__ QsT, int key, int S, int D, int d0, int tid) {
    load_chunk(kidx, key, S, D, d0, r.wi);
    load_chunk(signs, key, S, D, d0, r.ws);
    // QpT/QsT have whole 32-row chunks, zero past D.
    r.qp = reinterpret_cast<const float4*>(QpT + (size_t)d0 * QP_STRIDE)[tid];
#pragma unroll
    for (int i = 0; i < 4; ++i) r.qs[i] = QsT[(size_t)(d0 + 4 * (tid >> 5) + i) * QP_STRIDE + (tid & 31)];
}

// Expands a staged chunk into buffer `buf`: thread t's key, its sign nibbles, one sign table and 4 Qp values.
__device__ __forceinline__ void expand(Tiles& sm, const float* cb, const Staged& r, int buf, int tid) {
#pragma unroll
    for (int k = 0; k < CHUNK_D; ++k) sm.V[buf][k][tid] = cb[(r.wi[k >> 2] >> (8 * (k & 3))) & 0xffu];
    unsigned int nib = 0;
#pragma unroll
    for (int k = 0; k < 4; ++k)  // bits 7, 15, 23, 31 of the word to bits 28..31, without carries
        nib |= (((r.ws[k] & 0x80808080u) * 0x00204081u) >> 28) << (4 * k);
    sm.N[buf][tid] = nib;
    // T[n] = sum_i +-q_i, - where bit i of n is set: from the 4 sums of dimensions 0, 1 and of 2, 3.
    const float a = r.qs[0], b = r.qs[1], c = r.qs[2], d = r.qs[3];
    const float lo[4] = {a + b, b - a, a - b, -a - b};
    const float hi[4] = {c + d, d - c, c - d, -c - d};
    float4* row = reinterpret_cast<float4*>(&sm.T[buf][tid >> 5][tid & 31][0]);
#pragma unroll
    for (int u = 0; u < 4; ++u) row[u] = make_float4(lo[0] + hi[u], lo[1] + hi[u], lo[2] + hi[u], lo[3] + hi[u]);
    reinterpret_cast<float4*>(&sm.QpC[buf][0][0])[tid] = r.qp;
}

// grid ceil(S/128), 128 threads. Thread t expands key t and builds the sign table of query t & 31 for group t >> 5;
// warp w multiplies for queries 16 (w & 1) .. + 15 over dimensions 8 (w >> 1) .. + 7 of each chunk, lane l for keys
// 4l..4l+3.
//
// Past D the staged Qp/Qs rows are zero (so are the tables), and past S the keys' bytes and gamma are zero, so
// the expanded values there are finite and contribute nothing to a stored score: the expansion needs no bounds
// tests.
extern "C" __global__ void __launch_bounds__(128, 2) smem_scores(
    const unsigned char* __restrict__ kidx, const unsigned char* __restrict__ signs,
    const float* __restrict__ gamma, const float* __restrict__ codebook, const float* __restrict__ QpT,
    const float* __restrict__ QsT, float* __restrict__ scores, int B, int S, int D, int C, float coef) {
    __shared__ float cb[256];
    __shared__ __align__(16) Tiles sm;

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int s0 = blockIdx.x * TILE_KEYS;
    Staged r;
    load_staged(r, kidx, signs, QpT, QsT, s0 + tid, S, D, 0, tid);
    for (int c = tid; c < 256; c += blockDim.x) cb[c] = c < C ? codebook[c] : 0.0f;
    float cg[4];  // coef * gamma of the lane's keys
#pragma unroll
    for (int j = 0; j < 4; ++j) cg[j] = s0 + 4 * lane + j < S ? coef * gamma[s0 + 4 * lane + j] : 0.0f;

    const int b0 = WARP_Q * (warp & 1), kh = HALF_D * (warp >> 1);
    const bool active = b0 < B;
    float acc[WARP_Q][4];
#pragma unroll
    for (int i = 0; i < WARP_Q; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

    const int nchunks = (D + CHUNK_D - 1) / CHUNK_D;
    __syncthreads();  // cb
    expand(sm, cb, r, 0, tid);
    if (nchunks > 1) load_staged(r, kidx, signs, QpT, QsT, s0 + tid, S, D, CHUNK_D, tid);
    __syncthreads();
    for (int ch = 0; ch < nchunks; ++ch) {
        const int buf = ch & 1;
        // Chunk ch + 1 into the other buffer, whose last readers (chunk ch - 1) passed the previous barrier; then its
        // successor's loads, in flight during this chunk's math.
        if (ch + 1 < nchunks) {
            expand(sm, cb, r, buf ^ 1, tid);
            if (ch + 2 < nchunks) load_staged(r, kidx, signs, QpT, QsT, s0 + tid, S, D, (ch + 2) * CHUNK_D, tid);
        }
        if (active) {
            const uint4 n4 = *reinterpret_cast<const uint4*>(&sm.N[buf][4 * lane]);
            const unsigned int nw[4] = {n4.x >> kh, n4.y >> kh, n4.z >> kh, n4.w >> kh};  // the warp's 2 groups
#pragma unroll
            for (int gg = 0; gg < HALF_D / 4; ++gg) {
#pragma unroll
                for (int dd = 0; dd < 4; ++dd) {
                    const int k = kh + 4 * gg + dd;
                    float qp[WARP_Q];
#pragma unroll
                    for (int i = 0; i < WARP_Q; i += 4) {
                        const float4 a = *reinterpret_cast<const float4*>(&sm.QpC[buf][k][b0 + i]);
                        qp[i] = a.x; qp[i + 1] = a.y; qp[i + 2] = a.z; qp[i + 3] = a.w;
                    }
                    const float4 v = *reinterpret_cast<const float4*>(&sm.V[buf][k][4 * lane]);
                    const float va[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
                    for (int i = 0; i < WARP_Q; ++i)
#pragma unroll
                        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(qp[i], va[j], acc[i][j]);
                }
                const float* tg_base = &sm.T[buf][kh / 4 + gg][b0][0];
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const float* t = tg_base + ((nw[j] >> (4 * gg)) & 15u);
#pragma unroll
                    for (int i = 0; i < WARP_Q; ++i) acc[i][j] = fmaf(t[16 * i], cg[j], acc[i][j]);
                }
            }
        }
        __syncthreads();
    }

    // The two halves of the dimensions: each warp hands the other the 8 query rows that the other stores, through
    // the V tiles (4,096 floats: [16 (w & 1) + i][j][lane] for the 32 query rows i), and stores its own 8. The two
    // cases are written out so that every index into acc is a constant (acc stays in registers). No warp reads
    // the tiles any more (the loop's last barrier).
    float* red = &sm.V[0][0][0];
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
