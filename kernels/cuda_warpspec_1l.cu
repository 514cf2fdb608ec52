// cuda-warpspec, one-launch version (v5; selected with JUDGE_CUDA_ONE_LAUNCH): a warp-specialised tensor-core
// kernel for Hopper, one launch per solve.
// (kernels/onelaunch_proj.cu, prepended to this file, holds the projection slice and the grid barrier.)
//
// Reduced form as two products on the tensor cores, keys as the M dimension, queries as N, dimensions as K:
//
//   scores[b,s] = alpha[b] * sum_d cb'[K_idx[s,d]] * Qp'[b,d]  +  beta[b] * gamma[s] * sum_d sign[s,d] * Qs''[b,d]
//
// * Qp' and cb' are Qp and the codebook scaled by powers of two (largest magnitude of a query row, of the
//   codebook, in [0.5, 1)) and split into fp16 hi + lo: cb'.Qp' ~ cb_hi.Qp_hi + cb_hi.Qp_lo + cb_lo.Qp_hi
//   (3 products, f32 accumulation; the dropped lo.lo term is ~2^-22 relative).
// * Qs'' is Qs of each query row scaled so its largest magnitude is below 2^22 and rounded to an integer,
//   written as three signed 8-bit limbs (n = l2 * 2^16 + l1 * 2^8 + l0). The raw sign bytes (+-1 as i8) are
//   the int8 operand, with no conversion; the three limbs are the N columns 0-31, 32-63, 64-95 of one int8
//   product with s32 accumulation, exact; the limbs are recombined exactly in s32 and converted once.
// * alpha and beta undo the scalings (beta also holds sqrt(pi/2)/D).
//
// One persistent block per multiprocessor (cooperative launch), 288 threads: 2 consumer warpgroups (warps 0-7)
// and a producer warp (warp 8).
// 1. The producer starts streaming at once: 64-key tiles of indices, signs and gamma by bulk copies
//    (cp.async.bulk) into a ring of NS shared-memory stages completing on mbarriers (at the perf preset the
//    block's whole share, 4 tiles, is in flight at the start).
// 2. Meanwhile the whole block computes its slice of Qp/Qs (proj_slice), the codebook table, and meets the
//    other blocks at the grid barrier.
// 3. Each block then reads all of Qp/Qs (32 KB at D = 128, from L2), finds each row's largest magnitude, and
//    writes the constant operands into shared memory in the wgmma "K-major, no swizzle" layout: Qp hi, Qp lo
//    (fp16, 1 KB per k-step of 16) and the Qs limbs (int8, 3 KB per k-step of 32).
// 4. Consumer warpgroups take the tiles in turn. Per group of 64 dimensions, each thread expands the indices
//    of its two keys through the table into the fp16 A fragments of 4 k-steps (in registers), loads the sign
//    words (the int8 A fragments of 2 k-steps of 32), and the warpgroup issues after one wgmma.fence, per
//    k-step of 16, three wgmma.m64n32k16 (fp16, B from shared memory) and per k-step of 32 one
//    wgmma.m64n96k32 (s8): 14 asynchronous wgmma in one commit group. The group's registers are rewritten only
//    after it completes (wgmma.wait_group 0 before the next group's expansion); meanwhile the other warpgroup
//    expands, so the tensor cores alternate between the two.
//
// Dimension order: the MMA's K index is a permutation of d (the B operands are written with the same one).
// Within each group of 64 dimensions, thread t of a quad (t = lane % 4) holds bytes [16t, 16t+16) of a key row,
// as 4 words w0..w3. fp16 k-step j (of 4 per group) uses word j: its bytes 0,1 are K positions 2t, 2t+1 and
// bytes 2,3 positions 2t+8, 2t+9 (the A-fragment columns of the thread). int8 k-step h (of 2 per group) uses
// words 2h and 2h+1, K positions 4t..4t+3 and 16+4t..16+4t+3.
//
// The same kernel body also has an mma.sync path (USE_WGMMA false): the same A fragments, B fragments read
// from the same shared-memory layout, mma.m16n8k16 (fp16) and mma.m16n8k32 (s8). It is what runs where the
// module is not compiled for sm_90a, and a comparison point.

#define TILE_KEYS 64
#define NWG 2                    // consumer warpgroups
#define NCONS (128 * NWG)        // consumer threads
#define THREADS (NCONS + 32)     // and the producer warp
#define MAX_STAGES 16

// Shared memory layout (bytes), mirrored on the host (warpspec.rs):
//   [0, 256)        full[16], empty[16] mbarriers
//   [256, 1280)     codebook table: 256 x u32 (fp16 hi | lo << 16)
//   [1280, 1664)    alpha[32], beta[32], the codebook's exponent [32] (as int bits)
//   [4096, ...)     constant operands: Qp hi [KS][1024], Qp lo [KS][1024], Qs limbs [KS/2][3072]
//   then NS stages of stage_bytes (128-aligned, at off_stages): indices [64][Drow], signs [64][Drow], gamma [64]
//   and 64 bytes of slack (a thread reads up to 48 bytes past the last row of a stage when D < 64 * KG).
#define OFF_TAB 256
#define OFF_SCL 1280
#define OFF_OPS 4096

// ---------------------------------------------------------------------------------------------------------------
// Small device helpers beyond those of kernels/sm90.cuh (prepended).

// mma.sync: D += A * B, m16n8k32 s8 -> s32 (the fp16 one, mma_f16, is in kernels/sm90.cuh).
__device__ __forceinline__ void mma_s8(int* d, u32 a0, u32 a1, u32 a2, u32 a3, u32 b0, u32 b1) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

#if HAVE_WGMMA
// wgmma with A from registers (the same fragment layout as mma.sync's A, per warp: rows 16 * (warp % 4) ...)
// and B from shared memory through a descriptor. scale_d == 0: D = A * B, else D += A * B.
__device__ __forceinline__ void wgmma_f16_n32(float* d, u32 a0, u32 a1, u32 a2, u32 a3, u64 desc, int scale_d) {
    asm volatile(
        "{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %21, 0;\n\t"
        "wgmma.mma_async.sync.aligned.m64n32k16.f32.f16.f16 "
        "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, {%16,%17,%18,%19}, %20, p, 1, 1, 0;\n\t}"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "l"(desc), "r"(scale_d));
}

#endif

// ---------------------------------------------------------------------------------------------------------------
// Repack for D not a multiple of 16 (rows must be 16-byte multiples for bulk copies): [S][D] -> [Spad][Drow],
// zero-filled. Part of the solve when it is needed (a second launch, before the main kernel).
extern "C" __global__ void warpspec_repack(const unsigned char* __restrict__ idx, const unsigned char* __restrict__ sgn,
                                           unsigned char* __restrict__ idx_out, unsigned char* __restrict__ sgn_out,
                                           int S, int D, int Spad, int Drow) {
    const size_t total = (size_t)Spad * Drow;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        const int s = (int)(i / Drow), d = (int)(i % Drow);
        const bool ok = s < S && d < D;
        idx_out[i] = ok ? idx[(size_t)s * D + d] : 0;
        sgn_out[i] = ok ? sgn[(size_t)s * D + d] : 0;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Main kernel.
//
// QT: [2][32][KS*16] f32 (QT[mat][b][d]), zero for d >= D (written here, read by every block after the grid barrier);
// sync: the grid barrier's counter; epoch: this solve's number (from 1). lbo/sbo: the descriptors' byte offsets
// (128 and 256 for the layout above). ablation (a measurement aid, 0 in normal use; outputs then wrong):
// 1 = consumers skip the products, 2 = the producer copies nothing, 3 = stop after the operands are built,
// 4 = skip the projection and the grid barrier (operands from the previous solve's QT). trace: see trace_stamp
// (null in normal use).
#define SCORES_PARAMS                                                                                           \
    const unsigned char *__restrict__ kidx, const unsigned char *__restrict__ signs,                           \
        const float *__restrict__ gamma, const float *__restrict__ Q, const float *__restrict__ Pi,            \
        const float *__restrict__ Smat, const float *__restrict__ codebook, float *__restrict__ QT, u32 *sync, \
        float *__restrict__ scores, int B, int S, int D, int C, float coef, int Drow, int KS, int ntiles,        \
        int NS, int stage_bytes, int off_stages, u32 epoch, u32 lbo, u32 sbo, int ablation, u64 *trace
#define SCORES_ARGS                                                                                            \
    kidx, signs, gamma, Q, Pi, Smat, codebook, QT, sync, scores, B, S, D, C, coef, Drow, KS, ntiles, NS,       \
        stage_bytes, off_stages, epoch, lbo, sbo, ablation, trace

template <bool USE_WGMMA>
__device__ __forceinline__ void scores_body(SCORES_PARAMS) {
    extern __shared__ __align__(128) unsigned char smem[];
    u64* full = reinterpret_cast<u64*>(smem);
    u64* empty = full + MAX_STAGES;
    u32* tab = reinterpret_cast<u32*>(smem + OFF_TAB);
    float* scl = reinterpret_cast<float*>(smem + OFF_SCL);
    unsigned char* ops = smem + OFF_OPS;
    unsigned char* stages = smem + off_stages;

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int G = gridDim.x;
    const int my_tiles = blockIdx.x < ntiles ? (ntiles - 1 - blockIdx.x) / G + 1 : 0;
    const u32 row_bytes = (u32)(TILE_KEYS * Drow);
    const bool producer = warp == NCONS / 32;
    const int Dp = KS * 16;
    trace_stamp(trace, 0);

    if (producer && lane == 0) {
        for (int i = 0; i < NS; ++i) {
            mbar_init(&full[i], 1);
            mbar_init(&empty[i], 4);  // the 4 warps of the consuming warpgroup
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();

    // Producer: the first NS tiles at once.
    auto issue = [&](int k) {
        const int st = k % NS;
        const size_t tile = (size_t)blockIdx.x + (size_t)k * G;
        if (ablation == 2) {
            mbar_arrive(&full[st]);
            return;
        }
        request_tile(stages + (size_t)st * stage_bytes, &full[st], kidx + tile * row_bytes, signs + tile * row_bytes,
                     gamma + tile * TILE_KEYS, row_bytes, 0, TILE_KEYS * 4);
    };
    if (producer && lane == 0)
        for (int k = 0; k < min(NS, my_tiles); ++k) issue(k);

    // Codebook: largest |level| and the table (every block; no dependence on Q).
    {
        float mc = 0.0f;
        for (int c = lane; c < C; c += 32) mc = fmaxf(mc, fabsf(__ldg(codebook + c)));
        for (int o = 16; o > 0; o >>= 1) mc = fmaxf(mc, __shfl_xor_sync(0xffffffffu, mc, o));
        const int ecb = exponent_of(mc);  // every warp finds the same
        for (int c = tid; c < 256; c += THREADS) tab[c] = c < C ? split_f16(__ldg(codebook + c) * ldexpf(1.0f, -ecb)) : 0u;
        if (tid < 32) scl[64 + tid] = __int_as_float(ecb);
    }

    // Projection slice and grid barrier.
    if (ablation != 4) {
        proj_slice(Q, Pi, Smat, B, D, Dp, QT);
        trace_stamp(trace, 1);
        grid_barrier(sync, epoch * (u32)G);
        trace_stamp(trace, 2);
    } else {
        __syncthreads();
    }

    // Operand build: warp w takes the rows (mat, b) = w, w + 9, ... of QT (64 rows); lane l the dimensions
    // 4l .. 4l + 3 and 128 + 4l .. (one 16-byte load each), the row's largest magnitude by shuffles, then writes
    // the row's fp16 hi/lo (Qp) or int8 limbs (Qs) in the wgmma layout.
    {
        const int ecb = __float_as_int(scl[64 + lane]);
        unsigned char* qph = ops;
        unsigned char* qpl = ops + KS * 1024;
        unsigned char* qsl = ops + KS * 2048;
        const int nq = Dp / 4;  // 16-byte items per row
        float4 v[8][2];
#pragma unroll
        for (int u = 0; u < 8; ++u) {
            const int row = warp + u * (THREADS / 32);
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int dq = lane + 32 * h;
                v[u][h] = row < 64 && dq < nq ? __ldcg(reinterpret_cast<const float4*>(QT + (size_t)row * Dp) + dq)
                                              : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            }
        }
#pragma unroll
        for (int u = 0; u < 8; ++u) {
            const int row = warp + u * (THREADS / 32);
            if (row >= 64) break;  // warp-uniform
            const int mat = row >> 5, b = row & 31;
            float m = 0.0f;
#pragma unroll
            for (int h = 0; h < 2; ++h)
                m = fmaxf(m, fmaxf(fmaxf(fabsf(v[u][h].x), fabsf(v[u][h].y)), fmaxf(fabsf(v[u][h].z), fabsf(v[u][h].w))));
#pragma unroll
            for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
            const int e = exponent_of(m);
            if (lane == 0) scl[row] = mat == 0 ? ldexpf(1.0f, e + ecb) : coef * ldexpf(1.0f, e - 22);  // alpha, beta
            const float sc = mat == 0 ? ldexpf(1.0f, -e) : ldexpf(1.0f, 22 - e);
            const int nrow = (b & 7) * 16, ngrp = b >> 3;
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                const int dq = lane + 32 * h;
                if (dq >= nq) continue;
                const int d = 4 * dq, grp = d >> 6, dl = d & 63, t = dl >> 4;
                const float x[4] = {v[u][h].x * sc, v[u][h].y * sc, v[u][h].z * sc, v[u][h].w * sc};
                if (mat == 0) {
                    const int off = (4 * grp + ((dl >> 2) & 3)) * 1024 + ngrp * 256 + nrow + 4 * t;
                    const u32 p0 = split_f16(x[0]), p1 = split_f16(x[1]), p2 = split_f16(x[2]), p3 = split_f16(x[3]);
                    *reinterpret_cast<u32*>(qph + off) = (p0 & 0xffffu) | (p1 << 16);
                    *reinterpret_cast<u32*>(qph + off + 128) = (p2 & 0xffffu) | (p3 << 16);
                    *reinterpret_cast<u32*>(qpl + off) = (p0 >> 16) | (p1 & 0xffff0000u);
                    *reinterpret_cast<u32*>(qpl + off + 128) = (p2 >> 16) | (p3 & 0xffff0000u);
                } else {
                    const int off = (2 * grp + ((dl >> 3) & 1)) * 3072 + ((dl >> 2) & 1) * 128 + nrow + 4 * t;
                    u32 l0 = 0, l1 = 0, l2 = 0;
#pragma unroll
                    for (int r = 0; r < 4; ++r) {
                        const int n = __float2int_rn(x[r]);  // |n| <= 2^22
                        const int a0 = ((n + 128) & 255) - 128;
                        const int n1 = (n - a0) >> 8;
                        const int a1 = ((n1 + 128) & 255) - 128;
                        const int a2 = (n1 - a1) >> 8;
                        l0 |= (u32)(a0 & 255) << (8 * r);
                        l1 |= (u32)(a1 & 255) << (8 * r);
                        l2 |= (u32)(a2 & 255) << (8 * r);
                    }
                    *reinterpret_cast<u32*>(qsl + off + ngrp * 256) = l0;
                    *reinterpret_cast<u32*>(qsl + off + (4 + ngrp) * 256) = l1;
                    *reinterpret_cast<u32*>(qsl + off + (8 + ngrp) * 256) = l2;
                }
            }
        }
    }
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");  // the tensor cores read what was written
    __syncthreads();
    trace_stamp(trace, 3);
    if (ablation == 3) return;

    if (producer) {
        if (lane == 0)
            for (int k = NS; k < my_tiles; ++k) {
                const int st = k % NS;
                mbar_wait(&empty[st], (u32)((k / NS - 1) & 1));
                issue(k);
            }
        return;
    }

    // Consumers.
    const int wg = warp >> 2, wq = warp & 3, g = lane >> 2, t = lane & 3;
    const int rowg = 16 * wq + g;
    const int KG = KS / 4;
    const u32 ops_s = smem_u32(ops);
    const u32 qph_s = ops_s, qpl_s = ops_s + KS * 1024, qsl_s = ops_s + KS * 2048;
    (void)qph_s;
    (void)qpl_s;
    (void)qsl_s;

    for (int k = wg; k < my_tiles; k += NWG) {
        const int st = k % NS;
        mbar_wait(&full[st], (u32)((k / NS) & 1));
        if (k == wg) trace_stamp(trace, 4);
        const unsigned char* sidx = stages + (size_t)st * stage_bytes;
        const unsigned char* ssgn = sidx + row_bytes;
        const float* sgam = reinterpret_cast<const float*>(sidx + 2 * row_bytes);
        const float gam0 = sgam[rowg], gam1 = sgam[rowg + 8];

        float acc1[16];
        int acc2[48];
#pragma unroll
        for (int i = 0; i < 16; ++i) acc1[i] = 0.0f;
#pragma unroll
        for (int i = 0; i < 48; ++i) acc2[i] = 0;

        for (int Gi = 0; Gi < (ablation == 1 ? 0 : KG); ++Gi) {
            const int off = rowg * Drow + 64 * Gi + 16 * t;
#if HAVE_WGMMA
            // The registers written below were read by the previous group's wgmma: wait for them.
            if (USE_WGMMA) wgmma_wait<0>();
#endif
            const uint4 i0 = *reinterpret_cast<const uint4*>(sidx + off);
            const uint4 i8 = *reinterpret_cast<const uint4*>(sidx + off + 8 * Drow);
            const uint4 s0 = *reinterpret_cast<const uint4*>(ssgn + off);
            const uint4 s8 = *reinterpret_cast<const uint4*>(ssgn + off + 8 * Drow);
            // fp16 A fragments of the 4 k-steps: word j of the index rows of keys rowg (e) and rowg + 8 (f).
            u32 hi[4][4], lo[4][4];
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const u32 w = j == 0 ? i0.x : j == 1 ? i0.y : j == 2 ? i0.z : i0.w;
                const u32 w8 = j == 0 ? i8.x : j == 1 ? i8.y : j == 2 ? i8.z : i8.w;
                const u32 e0 = tab[w & 0xffu], e1 = tab[(w >> 8) & 0xffu];
                const u32 e2 = tab[(w >> 16) & 0xffu], e3 = tab[w >> 24];
                const u32 f0 = tab[w8 & 0xffu], f1 = tab[(w8 >> 8) & 0xffu];
                const u32 f2 = tab[(w8 >> 16) & 0xffu], f3 = tab[w8 >> 24];
                hi[j][0] = __byte_perm(e0, e1, 0x5410);
                hi[j][1] = __byte_perm(f0, f1, 0x5410);
                hi[j][2] = __byte_perm(e2, e3, 0x5410);
                hi[j][3] = __byte_perm(f2, f3, 0x5410);
                lo[j][0] = __byte_perm(e0, e1, 0x7632);
                lo[j][1] = __byte_perm(f0, f1, 0x7632);
                lo[j][2] = __byte_perm(e2, e3, 0x7632);
                lo[j][3] = __byte_perm(f2, f3, 0x7632);
            }
            // int8 A fragments of the 2 k-steps of 32: words 2h, 2h + 1 of the sign rows.
            const u32 sg[2][4] = {{s0.x, s8.x, s0.y, s8.y}, {s0.z, s8.z, s0.w, s8.w}};
            if (USE_WGMMA) {
#if HAVE_WGMMA
                wgmma_fence();
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const u32 ks = 4 * Gi + j;
                    wgmma_f16_n32(acc1, hi[j][0], hi[j][1], hi[j][2], hi[j][3], make_desc(qph_s + ks * 1024, lbo, sbo), 1);
                    wgmma_f16_n32(acc1, hi[j][0], hi[j][1], hi[j][2], hi[j][3], make_desc(qpl_s + ks * 1024, lbo, sbo), 1);
                    wgmma_f16_n32(acc1, lo[j][0], lo[j][1], lo[j][2], lo[j][3], make_desc(qph_s + ks * 1024, lbo, sbo), 1);
                    if (j & 1) {
                        const u32 J = 2 * Gi + (j >> 1);
                        wgmma_s8_n96(acc2, sg[j >> 1][0], sg[j >> 1][1], sg[j >> 1][2], sg[j >> 1][3],
                                     make_desc(qsl_s + J * 3072, lbo, sbo), 1);
                    }
                }
                wgmma_commit();
#endif
            } else {
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const int ks = 4 * Gi + j;
                    const unsigned char* qph = ops + ks * 1024 + g * 16 + 4 * t;
                    const unsigned char* qpl = qph + KS * 1024;
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        const u32 bh0 = *reinterpret_cast<const u32*>(qph + i * 256);
                        const u32 bh1 = *reinterpret_cast<const u32*>(qph + i * 256 + 128);
                        const u32 bl0 = *reinterpret_cast<const u32*>(qpl + i * 256);
                        const u32 bl1 = *reinterpret_cast<const u32*>(qpl + i * 256 + 128);
                        mma_f16(&acc1[4 * i], hi[j][0], hi[j][1], hi[j][2], hi[j][3], bh0, bh1);
                        mma_f16(&acc1[4 * i], hi[j][0], hi[j][1], hi[j][2], hi[j][3], bl0, bl1);
                        mma_f16(&acc1[4 * i], lo[j][0], lo[j][1], lo[j][2], lo[j][3], bh0, bh1);
                    }
                    if (j & 1) {
                        const int J = 2 * Gi + (j >> 1);
                        const unsigned char* qs = ops + KS * 2048 + J * 3072 + g * 16 + 4 * t;
#pragma unroll
                        for (int i = 0; i < 12; ++i) {
                            const u32 b0 = *reinterpret_cast<const u32*>(qs + i * 256);
                            const u32 b1 = *reinterpret_cast<const u32*>(qs + i * 256 + 128);
                            mma_s8(&acc2[4 * i], sg[j >> 1][0], sg[j >> 1][1], sg[j >> 1][2], sg[j >> 1][3], b0, b1);
                        }
                    }
                }
            }
        }
        // Every A operand of this tile is in registers: the stage can be refilled.
        __syncwarp();
        if (lane == 0) mbar_arrive(&empty[st]);
#if HAVE_WGMMA
        if (USE_WGMMA) {
            wgmma_wait<0>();
#pragma unroll
            for (int i = 0; i < 16; ++i) keep(acc1[i]);
#pragma unroll
            for (int i = 0; i < 48; ++i) keep(acc2[i]);
        }
#endif
        if (k == wg) trace_stamp(trace, 5);

        // Epilogue: accumulator n8-tile i holds (key rowg, queries 8i + 2t, +1) and (key rowg + 8, same).
        const int s_base = (int)(((size_t)blockIdx.x + (size_t)k * G) * TILE_KEYS) + rowg;
#pragma unroll
        for (int i = 0; i < 4; ++i)
#pragma unroll
            for (int x = 0; x < 4; ++x) {
                const int b = 8 * i + 2 * t + (x & 1);
                const int s = s_base + 8 * (x >> 1);
                const int q = acc2[4 * (i + 8) + x] * 65536 + acc2[4 * (i + 4) + x] * 256 + acc2[4 * i + x];
                const float gm = (x >> 1) ? gam1 : gam0;
                const float val = fmaf(scl[32 + b] * gm, (float)q, scl[b] * acc1[4 * i + x]);
                if (b < B && s < S) scores[(size_t)b * S + s] = val;
            }
    }
    trace_stamp(trace, 6);
}

extern "C" __global__ void __launch_bounds__(THREADS, 1) warpspec_scores_wgmma(SCORES_PARAMS) {
#if HAVE_WGMMA
    scores_body<true>(SCORES_ARGS);
#else
    __trap();  // needs the module compiled for sm_90a (the host never launches it otherwise)
#endif
}

extern "C" __global__ void __launch_bounds__(THREADS, 1) warpspec_scores_mma(SCORES_PARAMS) {
    scores_body<false>(SCORES_ARGS);
}
