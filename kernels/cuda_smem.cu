// cuda-smem: the reduced form on CUDA cores, in f32.
//
//   scores[b,s] = sum_d Qp[b,d] * codebook[K_idx[s,d]] + sum_d Qs[b,d] * W[s,d]
//   W[s,d]      = coef * gamma[s] * sign[s,d]
//
// qproj_f32 (kernels/qproj.cu) computes Qp = Q * Pi^T and Qs = Q * S_mat^T once per solve, transposed to
// [Drows][32] (queries padded to 32 with zeros, Drows = D rounded up to 32, zero rows past D). smem_scores gives
// each block 128 keys and all queries, and splits its eight warps by role:
//
// * four producer warps (warps 0-3, one key per thread) walk the dimensions in chunks of 16: they load each
//   chunk's index and sign bytes (the next chunk's loads in flight while this one is expanded), expand indices
//   through the codebook and signs as +-coef*gamma (so that one set of accumulators takes both sums) into f32
//   tiles, and copy the chunk's Qp/Qs rows beside them, into a ring of two shared-memory stages;
// * four math warps (warps 4-7) multiply: math warp m takes queries 16 (m & 1) .. + 15 over half of each chunk's
//   dimensions (m >> 1); each thread accumulates 16 queries x 4 keys, 128 FFMA per dimension for 10 shared
//   loads, each sum's 5 loads written before the other sum's 64 FFMA. The two halves are summed through shared
//   memory at the end.
//
// Producers and math warps meet only at named barriers, one pair per stage ("full": producers arrive, math
// waits; "empty": math arrives, producers wait), so the expansion of the next chunk runs beside the math of this
// one instead of between barriers that every warp waits at. smem_scores starts after qproj_f32 has finished
// (stream order; programmatic dependent launch was slower, kernels/NOTES.md).

#define QP_STRIDE 32      // queries per row of QpT/QsT
#define TILE_KEYS 128     // keys per block
#define CHUNK_D 16        // dimensions per stage
#define HALF_D 8          // dimensions of a chunk per math warp
#define WARP_Q 16         // queries per math warp
#define STAGES 2          // stages in the ring
#define PROD_THREADS 128  // producer threads: one key each
#define MATH_THREADS 128  // math threads
#define THREADS (PROD_THREADS + MATH_THREADS)

// Named barriers (0 is __syncthreads'): full and empty per stage, then one among the producers and one among the
// math warps.
#define BAR_FULL(s) (1 + (s))
#define BAR_EMPTY(s) (1 + STAGES + (s))
#define BAR_PROD (1 + 2 * STAGES)
#define BAR_MATH (2 + 2 * STAGES)

// One stage of the ring (20 KB; the host sizes the dynamic shared memory as STAGES of these).
struct Stage {
    float V[CHUNK_D][TILE_KEYS];   // codebook values, [dimension][key]
    float W[CHUNK_D][TILE_KEYS];   // +-coef*gamma
    float Qp[CHUNK_D][QP_STRIDE];  // the chunk's rows of QpT
    float Qs[CHUNK_D][QP_STRIDE];  // and of QsT
};

// Barrier numbers are immediates, so that ptxas counts only the barriers used.
template <int ID>
__device__ __forceinline__ void bar_sync(int count) {
    asm volatile("bar.sync %0, %1;" ::"n"(ID), "r"(count) : "memory");
}
template <int ID>
__device__ __forceinline__ void bar_arrive(int count) {
    asm volatile("bar.arrive %0, %1;" ::"n"(ID), "r"(count) : "memory");
}
// The same for the barrier of stage `st` (0 or 1).
template <bool FULL>
__device__ __forceinline__ void stage_sync(int st) {
    if (st == 0) bar_sync<FULL ? BAR_FULL(0) : BAR_EMPTY(0)>(THREADS);
    else bar_sync<FULL ? BAR_FULL(1) : BAR_EMPTY(1)>(THREADS);
}
template <bool FULL>
__device__ __forceinline__ void stage_arrive(int st) {
    if (st == 0) bar_arrive<FULL ? BAR_FULL(0) : BAR_EMPTY(0)>(THREADS);
    else bar_arrive<FULL ? BAR_FULL(1) : BAR_EMPTY(1)>(THREADS);
}

// The 16 bytes of row `key` (dimensions d0..d0+15) of `src` into w[0..3]; zeros past D or past the last key.
__device__ __forceinline__ void load_chunk(const unsigned char* __restrict__ src, int key, int S, int D, int d0,
                                           uint4& w) {
    w = make_uint4(0u, 0u, 0u, 0u);
    if (key >= S) return;
    const unsigned char* row = src + (size_t)key * D;
    if ((D & 15) == 0) {  // d0 < D, so the whole 16 bytes lie in the row (and are 16-byte aligned)
        w = *reinterpret_cast<const uint4*>(row + d0);
    } else {
        unsigned int v[4] = {0u, 0u, 0u, 0u};
#pragma unroll
        for (int k = 0; k < CHUNK_D; ++k)  // unrolled: v stays in registers
            if (d0 + k < D) v[k >> 2] |= (unsigned int)row[d0 + k] << (8 * (k & 3));
        w = make_uint4(v[0], v[1], v[2], v[3]);
    }
}

// What a producer thread loads for one chunk: its key's index and sign bytes, and one float4 unit of the chunk's
// Qp rows and one of its Qs rows (thread p holds unit p of the 128 of each).
struct ChunkLoad {
    uint4 idx, sgn;
    float4 qp, qs;
};

__device__ __forceinline__ void load_producer(ChunkLoad& L, const unsigned char* __restrict__ kidx,
                                              const unsigned char* __restrict__ signs,
                                              const float* __restrict__ QpT, const float* __restrict__ QsT,
                                              int key, int S, int D, int d0, int p) {
    load_chunk(kidx, key, S, D, d0, L.idx);
    load_chunk(signs, key, S, D, d0, L.sgn);
    // QpT/QsT have whole 32-row chunks (zero past D), so rows d0 .. d0 + 15 exist.
    L.qp = reinterpret_cast<const float4*>(QpT + (size_t)d0 * QP_STRIDE)[p];
    L.qs = reinterpret_cast<const float4*>(QsT + (size_t)d0 * QP_STRIDE)[p];
}

// Byte k (0..15) of w.
__device__ __forceinline__ unsigned int byte_of(const uint4& w, int k) {
    const unsigned int word = (k >> 2) == 0 ? w.x : (k >> 2) == 1 ? w.y : (k >> 2) == 2 ? w.z : w.w;
    return (word >> (8 * (k & 3))) & 0xffu;
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

// A math thread's operands of dimension k of a stage for one of the two sums: Qp (or Qs) of its 16 queries in
// q[0..3], and the codebook values (or signs) of its 4 keys in v.
template <bool SIGNS>
__device__ __forceinline__ void load_half(const Stage& sg, int k, int b0, int lane, float4 (&q)[4], float4& v) {
    const float* qrow = SIGNS ? &sg.Qs[k][b0] : &sg.Qp[k][b0];
#pragma unroll
    for (int i = 0; i < 4; ++i) q[i] = *reinterpret_cast<const float4*>(qrow + 4 * i);
    v = *reinterpret_cast<const float4*>(SIGNS ? &sg.W[k][4 * lane] : &sg.V[k][4 * lane]);
}

// acc[i][j] += q[i] * v[j]: one sum's 64 FFMA of one dimension.
__device__ __forceinline__ void fma_half(float (&acc)[WARP_Q][4], const float4 (&q)[4], const float4& v) {
    const float va[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float qa[4] = {q[i].x, q[i].y, q[i].z, q[i].w};
#pragma unroll
        for (int r = 0; r < 4; ++r)
#pragma unroll
            for (int j = 0; j < 4; ++j) acc[4 * i + r][j] = fmaf(qa[r], va[j], acc[4 * i + r][j]);
    }
}

// The producers' part: producer thread p expands key s0 + p.
//
// Past D the staged Qp/Qs rows are zero, and past S the keys' bytes and gamma are zero, so the expanded values
// there are finite and contribute nothing to a stored score: the expansion needs no bounds tests.
__device__ __forceinline__ void produce(Stage* ring, float* cb, const unsigned char* __restrict__ kidx,
                                        const unsigned char* __restrict__ signs, const float* __restrict__ gamma,
                                        const float* __restrict__ codebook, const float* __restrict__ QpT,
                                        const float* __restrict__ QsT, int S, int D, int C, float coef, int s0,
                                        int p, int nchunks) {
    const int key = s0 + p;
    ChunkLoad cur, next;
    load_producer(cur, kidx, signs, QpT, QsT, key, S, D, 0, p);
    for (int c = p; c < 256; c += PROD_THREADS) cb[c] = c < C ? codebook[c] : 0.0f;
    // coef * gamma of the key as bits: a sign is applied by flipping bit 31.
    const unsigned int cg = __float_as_uint(key < S ? coef * gamma[key] : 0.0f);
    bar_sync<BAR_PROD>(PROD_THREADS);  // cb is written

    for (int ch = 0; ch < nchunks; ++ch) {
        const int st = ch % STAGES;
        if (ch + 1 < nchunks) load_producer(next, kidx, signs, QpT, QsT, key, S, D, (ch + 1) * CHUNK_D, p);
        if (ch >= STAGES) stage_sync<false>(st);  // the math is done with chunk ch - STAGES
        Stage& sg = ring[st];
#pragma unroll
        for (int k = 0; k < CHUNK_D; ++k) {
            sg.V[k][p] = cb[byte_of(cur.idx, k)];
            // Bit 7 of the sign byte to bit 31.
            sg.W[k][p] = __uint_as_float(cg ^ ((byte_of(cur.sgn, k) << 24) & 0x80000000u));
        }
        reinterpret_cast<float4*>(&sg.Qp[0][0])[p] = cur.qp;
        reinterpret_cast<float4*>(&sg.Qs[0][0])[p] = cur.qs;
        stage_arrive<true>(st);
        cur = next;
    }
}

// grid ceil(S/128), 256 threads, dynamic shared memory STAGES * sizeof(Stage): warps 0-3 produce, warps 4-7
// multiply. Math warp m (warp 4 + m) takes queries 16 (m & 1) .. + 15 over dimensions 8 (m >> 1) .. + 7 of each
// chunk, lane l keys 4l..4l+3.
extern "C" __global__ void __launch_bounds__(THREADS, 2) smem_scores(
    const unsigned char* __restrict__ kidx, const unsigned char* __restrict__ signs,
    const float* __restrict__ gamma, const float* __restrict__ codebook, const float* __restrict__ QpT,
    const float* __restrict__ QsT, float* __restrict__ scores, int B, int S, int D, int C, float coef) {
    extern __shared__ __align__(16) unsigned char dyn_smem[];  // STAGES * sizeof(Stage) bytes
    Stage* ring = reinterpret_cast<Stage*>(dyn_smem);
    __shared__ float cb[256];

    const int s0 = blockIdx.x * TILE_KEYS;
    const int nchunks = (D + CHUNK_D - 1) / CHUNK_D;
    if (threadIdx.x < PROD_THREADS) {
        produce(ring, cb, kidx, signs, gamma, codebook, QpT, QsT, S, D, C, coef, s0, threadIdx.x, nchunks);
        return;
    }
    const int tid = threadIdx.x - PROD_THREADS, warp = tid >> 5, lane = tid & 31;  // warp: m above

    const int b0 = WARP_Q * (warp & 1), kh = HALF_D * (warp >> 1);
    const bool active = b0 < B;
    float acc[WARP_Q][4];
#pragma unroll
    for (int i = 0; i < WARP_Q; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

    for (int ch = 0; ch < nchunks; ++ch) {
        const int st = ch % STAGES;
        stage_sync<true>(st);
        const Stage& sg = ring[st];
        if (active) {
            // Software-pipelined by half dimensions: in the source, one sum's 5 shared loads come before the
            // other sum's 64 FFMA, so only two operand sets (40 registers) need be live beside the 64
            // accumulators, where loading a whole dimension ahead asks for 80. ptxas schedules the loads
            // itself either way (the SASS puts a load 44 instructions before its first use on average, against
            // 45 for the whole-dimension version), but this version uses 121 registers instead of 125 and
            // measured 1-2% faster (kernels/NOTES.md, ws-d).
            float4 qp[4], qs[4], v, w;
            load_half<false>(sg, kh, b0, lane, qp, v);
#pragma unroll
            for (int kk = 0; kk < HALF_D; ++kk) {
                load_half<true>(sg, kh + kk, b0, lane, qs, w);
                fma_half(acc, qp, v);
                if (kk + 1 < HALF_D) load_half<false>(sg, kh + kk + 1, b0, lane, qp, v);
                fma_half(acc, qs, w);
            }
        }
        if (ch + STAGES < nchunks) stage_arrive<false>(st);  // a producer waits for it
    }

    // The two halves of the dimensions: each warp hands the other the 8 query rows that the other stores, through
    // the first stage (4,096 floats: [16 (m & 1) + i][j][lane] for the 32 query rows i), and stores its
    // own 8. The producers have written their last chunk (every math warp waited for it), so after the math
    // warps' barrier no thread reads the ring any more. The two cases are written out so that every index into
    // acc is a constant (acc stays in registers).
    bar_sync<BAR_MATH>(MATH_THREADS);
    float* red = reinterpret_cast<float*>(&ring[0]);  // 5,120 floats
    const bool low = (warp >> 1) == 0;  // stores query rows b0 .. b0 + 7
    if (active) {
        if (low) hand_over<8>(acc, red, b0, lane);
        else hand_over<0>(acc, red, b0, lane);
    }
    bar_sync<BAR_MATH>(MATH_THREADS);
    if (!active) return;
    if (low) store_rows<0>(acc, red, scores, b0, s0 + 4 * lane, lane, B, S);
    else store_rows<8>(acc, red, scores, b0, s0 + 4 * lane, lane, B, S);
}
