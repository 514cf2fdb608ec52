// cuda-smem, one-launch version (v5; selected with JUDGE_CUDA_ONE_LAUNCH): the reduced form on CUDA cores, in f32.
// (kernels/onelaunch_proj.cu, prepended to this file, holds the projection slice and the grid barrier.)
//
//   scores[b,s] = sum_d Qp[b,d] * V[s,d] + sum_d Qs[b,d] * W[s,d],   V = codebook[K_idx],
//                                                                     W = coef * gamma[s] * sign[s,d]
//
// (gamma folded into the sign operand: one set of accumulators for both sums, i.e. one product with K = 2D).
//
// One persistent block of 256 threads per multiprocessor (cooperative launch), tiles of 256 keys x 32 queries.
// 1. Each thread loads the raw indices and signs of its key (32 dimensions = 2 x 32 bytes) for the first two
//    chunks at once; the block computes its slice of Qp/Qs (proj_slice), expands chunk 0 (which needs no Qp),
//    and meets the grid barrier; then every block copies all of Qp/Qs (from L2) into shared memory as [d][b].
// 2. Per chunk of 32 dimensions, from a double-buffered shared-memory tile of V and W columns: each thread
//    accumulates 8 queries x 4 keys (per dimension 2 broadcast float4 loads of Qp, 2 of Qs, one float4 of V
//    and of W, and 64 FFMA) and, between blocks of 8 dimensions, expands 8 dimensions of its key for the next
//    chunk into the other buffer, while the raw bytes of the chunk after that are in flight. One __syncthreads
//    per chunk.

#define SM_THREADS 256
#define SM_KEYS 256   // keys per tile (one per thread for the expansion)
#define SM_CHUNK 32   // dimensions per chunk

// Shared memory (dynamic), in floats:
//   [0, 256)                      codebook
//   [256, 256 + 2*2*32*256)       V[2][32][256], W[2][32][256]
//   then QP[Dp][32], QS[Dp][32]   (Dp = D rounded up to 32; rows >= D zero)
#define SM_OFF_VW 256
#define SM_VW_FLOATS (2 * 2 * SM_CHUNK * SM_KEYS)

// Loads the 32 bytes of row `key` (dimensions d0..d0+31) of `src` into w[0..7], zeros past D or past the last key.
__device__ __forceinline__ void load_chunk(const unsigned char* __restrict__ src, int key, int S, int D, int d0,
                                           u32 (&w)[8]) {
#pragma unroll
    for (int k = 0; k < 8; ++k) w[k] = 0u;
    if (key >= S) return;
    const unsigned char* row = src + (size_t)key * D;
    if ((D & 15) == 0) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            if (d0 + 16 * h < D) {
                const uint4 v = *reinterpret_cast<const uint4*>(row + d0 + 16 * h);
                w[4 * h] = v.x;
                w[4 * h + 1] = v.y;
                w[4 * h + 2] = v.z;
                w[4 * h + 3] = v.w;
            }
        }
    } else {
#pragma unroll
        for (int k = 0; k < SM_CHUNK; ++k)  // unrolled: w stays in registers
            if (d0 + k < D) w[k >> 2] |= (u32)row[d0 + k] << (8 * (k & 3));
    }
}

// Expands dimensions 8h .. 8h + 7 of this thread's key (raw words wi[2h], wi[2h + 1], ws[...]) into column
// `col` of V and W.
__device__ __forceinline__ void expand8(const float* cb, float* V, float* W, int col, int h, u32 wi0, u32 wi1,
                                        u32 ws0, u32 ws1, u32 cgb) {
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        const u32 wi = k < 4 ? wi0 : wi1, ws = k < 4 ? ws0 : ws1, sh = 8 * (k & 3);
        V[(8 * h + k) * SM_KEYS + col] = cb[(wi >> sh) & 0xffu];
        W[(8 * h + k) * SM_KEYS + col] = __uint_as_float(cgb ^ ((ws << (24 - sh)) & 0x80000000u));
    }
}

// QT: [2][32][Dp] f32 (QT[mat][b][d]), zero for d >= D; sync: the grid barrier's counter; epoch: this solve's
// number (from 1); trace: see trace_stamp (null in normal use).
extern "C" __global__ void __launch_bounds__(SM_THREADS, 1) smem_scores(
    const unsigned char* __restrict__ kidx, const unsigned char* __restrict__ signs,
    const float* __restrict__ gamma, const float* __restrict__ Q, const float* __restrict__ Pi,
    const float* __restrict__ Smat, const float* __restrict__ codebook, float* __restrict__ QT, u32* sync,
    float* __restrict__ scores, int B, int S, int D, int C, float coef, int Dp, int ntiles, u32 epoch, u64* trace) {
    extern __shared__ __align__(16) float shm[];
    float* cb = shm;
    float* VW = shm + SM_OFF_VW;
    float* QP = VW + SM_VW_FLOATS;
    float* QS = QP + Dp * 32;

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int G = gridDim.x;
    const int my_tiles = blockIdx.x < ntiles ? (ntiles - 1 - blockIdx.x) / G + 1 : 0;
    const int nchunks = (D + SM_CHUNK - 1) / SM_CHUNK;
    const int total = my_tiles * nchunks;
    trace_stamp(trace, 0);

    // Raw bytes of chunk c of this block (tile c / nchunks, dimensions 32 (c % nchunks) ...) for this thread's
    // key, and coef * gamma of that key.
    auto load = [&](int c, u32(&wi)[8], u32(&ws)[8], float& cg) {
        const int key = (blockIdx.x + (c / nchunks) * G) * SM_KEYS + tid;
        const int d0 = (c % nchunks) * SM_CHUNK;
        load_chunk(kidx, key, S, D, d0, wi);
        load_chunk(signs, key, S, D, d0, ws);
        cg = key < S ? coef * __ldg(gamma + key) : 0.0f;
    };
    u32 ai[8], as[8], bi[8] = {}, bs[8] = {};  // chunk it + 1 (being expanded), chunk it + 2 (in flight)
    float acg = 0.0f, bcg = 0.0f;
    load(0, ai, as, acg);
    if (total > 1) load(1, bi, bs, bcg);

    for (int c = tid; c < 256; c += SM_THREADS) cb[c] = c < C ? codebook[c] : 0.0f;
    proj_slice(Q, Pi, Smat, B, D, Dp, QT);
    trace_stamp(trace, 1);
    __syncthreads();  // cb
    // Chunk 0 into buffer 0 (it does not depend on Qp/Qs).
    {
        const u32 cgb = __float_as_uint(acg);
#pragma unroll
        for (int h = 0; h < 4; ++h) expand8(cb, VW, VW + SM_CHUNK * SM_KEYS, tid, h, ai[2 * h], ai[2 * h + 1], as[2 * h], as[2 * h + 1], cgb);
    }
    grid_barrier(sync, epoch * (u32)G);
    trace_stamp(trace, 2);
    // Qp/Qs into shared memory as QP[d][b], QS[d][b]: thread reads 4 dimensions of one (mat, b) row.
    {
        const int n4 = 2 * 32 * (Dp / 4);
        for (int i0 = 0; i0 < n4; i0 += 4 * SM_THREADS) {
            float4 v[4];
#pragma unroll
            for (int u = 0; u < 4; ++u) {
                const int i = i0 + u * SM_THREADS + tid;
                if (i < n4) v[u] = __ldcg(reinterpret_cast<const float4*>(QT) + i);
            }
#pragma unroll
            for (int u = 0; u < 4; ++u) {
                const int i = i0 + u * SM_THREADS + tid;
                if (i < n4) {
                    const int row = i / (Dp / 4), d = 4 * (i % (Dp / 4)), mat = row >> 5, b = row & 31;
                    float* dst = (mat == 0 ? QP : QS) + d * 32 + b;
                    dst[0] = v[u].x;
                    dst[32] = v[u].y;
                    dst[64] = v[u].z;
                    dst[96] = v[u].w;
                }
            }
        }
    }
    // Chunk 1's raw bytes are the next to expand.
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        ai[k] = bi[k];
        as[k] = bs[k];
    }
    acg = bcg;
    __syncthreads();
    trace_stamp(trace, 3);

    // Compute mapping: warp w multiplies queries q0..q0+7 for keys k0..k0+3 of the tile.
    const int q0 = 8 * (warp & 3);
    const int k0 = 128 * (warp >> 2) + 4 * lane;
    const bool active = q0 < B;
    float acc[8][4];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;

    for (int it = 0; it < total; ++it) {
        const int k = it / nchunks, ch = it % nchunks;
        const float* V = VW + (it & 1) * (2 * SM_CHUNK * SM_KEYS);
        const float* W = V + SM_CHUNK * SM_KEYS;
        float* Vn = VW + ((it + 1) & 1) * (2 * SM_CHUNK * SM_KEYS);  // chunk it + 1 goes here
        float* Wn = Vn + SM_CHUNK * SM_KEYS;
        const bool expand = it + 1 < total;
        if (it + 2 < total) load(it + 2, bi, bs, bcg);  // in flight during this chunk
        const u32 cgb = __float_as_uint(acg);
        const int dbase = ch * SM_CHUNK;
        // Four blocks of 8 dimensions; each also expands 8 dimensions of the next chunk.
#pragma unroll 1
        for (int h = 0; h < 4; ++h) {
            if (active) {
#pragma unroll
                for (int kk = 8 * h; kk < 8 * h + 8; ++kk) {
                    const float4 pa = *reinterpret_cast<const float4*>(&QP[(dbase + kk) * 32 + q0]);
                    const float4 pb = *reinterpret_cast<const float4*>(&QP[(dbase + kk) * 32 + q0 + 4]);
                    const float4 sa = *reinterpret_cast<const float4*>(&QS[(dbase + kk) * 32 + q0]);
                    const float4 sb = *reinterpret_cast<const float4*>(&QS[(dbase + kk) * 32 + q0 + 4]);
                    const float4 v = *reinterpret_cast<const float4*>(&V[kk * SM_KEYS + k0]);
                    const float4 w = *reinterpret_cast<const float4*>(&W[kk * SM_KEYS + k0]);
                    const float qp[8] = {pa.x, pa.y, pa.z, pa.w, pb.x, pb.y, pb.z, pb.w};
                    const float qs[8] = {sa.x, sa.y, sa.z, sa.w, sb.x, sb.y, sb.z, sb.w};
                    const float va[4] = {v.x, v.y, v.z, v.w}, wa[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
                    for (int i = 0; i < 8; ++i)
#pragma unroll
                        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(qs[i], wa[j], fmaf(qp[i], va[j], acc[i][j]));
                }
            }
            if (expand) expand8(cb, Vn, Wn, tid, h, ai[0], ai[1], as[0], as[1], cgb);
            // Next 8 dimensions' raw words to the front (compile-time register indices only).
#pragma unroll
            for (int x = 0; x < 6; ++x) {
                ai[x] = ai[x + 2];
                as[x] = as[x + 2];
            }
        }
        if (ch == nchunks - 1) {
            if (active) {
                const int sk = (blockIdx.x + k * G) * SM_KEYS + k0;
#pragma unroll
                for (int i = 0; i < 8; ++i) {
                    const int b = q0 + i;
                    if (b < B) {
                        float* dst = scores + (size_t)b * S + sk;
                        if ((S & 3) == 0 && sk + 3 < S) {
                            *reinterpret_cast<float4*>(dst) = make_float4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
                        } else {
#pragma unroll
                            for (int j = 0; j < 4; ++j)
                                if (sk + j < S) dst[j] = acc[i][j];
                        }
                    }
                }
            }
#pragma unroll
            for (int i = 0; i < 8; ++i)
#pragma unroll
                for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f;
        }
#pragma unroll
        for (int x = 0; x < 8; ++x) {
            ai[x] = bi[x];
            as[x] = bs[x];
        }
        acg = bcg;
        __syncthreads();  // chunk it + 1 expanded; chunk it no longer read
    }
    trace_stamp(trace, 6);
}
