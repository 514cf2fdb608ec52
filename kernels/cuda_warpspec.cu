// cuda-warpspec: a warp-specialised tensor-core kernel for Hopper (sm_90).
//
// Reduced form, as two products on the tensor cores (M = queries, N = keys, K = dimensions):
//
//   scores[b,s] = alpha[b] * sum_d Qp'[b,d] * cb'[K_idx[s,d]] + beta[b] * gamma[s] * sum_d Qs'[b,d] * sign[s,d]
//
// where Qp', Qs' and cb' are Qp, Qs and the codebook scaled by powers of two (alpha, beta undo the scaling and
// fold in sqrt(pi/2)/D). Each f32 operand x is split into fp16 hi + lo (hi = rn(x), lo = rn(x - hi)), and
//   Qp'.cb' ~ Qp_hi.cb_hi + Qp_lo.cb_hi + Qp_hi.cb_lo        (3 mma; the dropped lo.lo term is ~2^-22)
//   Qs'.sign = Qs_hi.sign + Qs_lo.sign                        (2 mma; sign = +-1 is exact in fp16)
// with f32 accumulation: about 22 bits of operand precision.
//
// warpspec_prologue (one block per query row and matrix) computes Qp, Qs once per solve, scales and splits
// them and stores them in the A-fragment layout of mma.m16n8k16, with the codebook table and alpha/beta.
// warpspec_scores is launched with programmatic dependent launch: its producer warp starts streaming at once,
// its consumers wait for the prologue (griddepcontrol.wait) before reading its results.
//
// warpspec_scores: persistent grid (one block per SM), 1 producer warp + 4 groups of 2 consumer warps.
// The producer streams tiles of 64 keys (indices, signs, gamma) with bulk copies (cp.async.bulk) into a ring
// of NS shared-memory stages, completing on an mbarrier per stage; consumer groups take tiles in turn, each
// warp 32 keys of a tile, and release the stage through a second mbarrier. The prologue's results (32 KB at the
// perf shape) reach shared memory by one bulk copy on a third mbarrier.
//
// Dimension order: the mma's K index is a permutation of d. Within each group of 64 dimensions, thread t of a
// quad (t = lane % 4) holds bytes [16t, 16t+16) of a key row; k-step j uses bytes 4j..4j+3 of those, which
// stand for K positions 2t, 2t+1, 2t+8, 2t+9 (the B-fragment rows of the thread). The prologue lays Qp/Qs out
// with the same permutation, so one 16-byte shared load gives a thread its operands for 4 k-steps.

typedef unsigned int u32;
typedef unsigned long long u64;

#define TILE_KEYS 64   // keys per stage
#define NCW 2          // consumer warps per group (32 keys each)
#define NGROUPS 4      // consumer groups
#define THREADS (32 * (1 + NCW * NGROUPS))

// ---------------------------------------------------------------------------------------------------------------
// Small device helpers (PTX for sm_90).

__device__ __forceinline__ u32 smem_u32(const void* p) { return (u32)__cvta_generic_to_shared(p); }

// fp16 hi/lo split of x, packed as {hi in bits 0..15, lo in bits 16..31}.
__device__ __forceinline__ u32 split_f16(float x) {
    unsigned short h, l;
    float hf;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(x));
    asm("cvt.f32.f16 %0, %1;" : "=f"(hf) : "h"(h));
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(l) : "f"(x - hf));
    return (u32)h | ((u32)l << 16);
}

__device__ __forceinline__ void mbar_init(u64* bar, u32 count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_u32(bar)), "r"(count) : "memory");
}

__device__ __forceinline__ void mbar_arrive_expect_tx(u64* bar, u32 bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_u32(bar)), "r"(bytes)
                 : "memory");
}

__device__ __forceinline__ void mbar_arrive(u64* bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_u32(bar)) : "memory");
}

__device__ __forceinline__ void mbar_wait(u64* bar, u32 parity) {
    asm volatile(
        "{\n\t"
        ".reg .pred done;\n\t"
        "spin:\n\t"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n\t"
        "@!done bra spin;\n\t"
        "}" ::"r"(smem_u32(bar)),
        "r"(parity)
        : "memory");
}

// Bulk copy of `bytes` (a multiple of 16) from global to shared memory, completing on `bar`.
__device__ __forceinline__ void bulk_g2s(void* dst, const void* src, u32 bytes, u64* bar) {
    asm volatile(
        "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
            smem_u32(dst)),
        "l"(src), "r"(bytes), "r"(smem_u32(bar))
        : "memory");
}

// D += A * B, m16n8k16, fp16 operands, f32 accumulators.
__device__ __forceinline__ void mma16816(float (&d)[4], u32 a0, u32 a1, u32 a2, u32 a3, u32 b0, u32 b1) {
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Exponent e with m < 2^e <= 2m for m > 0 (0 when m == 0), clamped to [-120, 120].
__device__ __forceinline__ int exponent_of(float m) {
    int e = 0;
    if (m > 0.0f) frexpf(m, &e);
    return max(-120, min(120, e));  // keeps 2^-e and 2^e finite
}

// Block-wide max of v over 256 threads.
__device__ float block_max(float v, float* red) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    float m = red[0];
    for (int i = 1; i < 8; ++i) m = fmaxf(m, red[i]);
    return m;
}

// ---------------------------------------------------------------------------------------------------------------
// Prologue. grid (MT*16, 2), 256 threads: row b = blockIdx.x of Qp (blockIdx.y = 0, from Pi) or Qs (1, S_mat).
//
// qfrag, in 16-byte units: index ((ks*MT + mt)*4 + arr*2 + hl)*32 + lane, arr 0 = Qp, 1 = Qs; hl 0 = hi,
// 1 = lo; the unit holds the 4 A-fragment registers of that lane for k-step ks and query tile mt.
// scales[b] = alpha[b], scales[32 + b] = beta[b]. cbtab[c] = split(cb[c] * 2^-ecb), zero past C.
extern "C" __global__ void __launch_bounds__(256) warpspec_prologue(
    const float* __restrict__ Q, const float* __restrict__ Pi, const float* __restrict__ Smat,
    const float* __restrict__ codebook, int B, int D, int C, float coef, int KS, int MT, u32* __restrict__ qfrag,
    float* __restrict__ scales, u32* __restrict__ cbtab) {
    asm volatile("griddepcontrol.launch_dependents;");
    __shared__ float qrow[256];
    __shared__ float vals[256];
    __shared__ float red[8];
    const int tid = threadIdx.x, b = blockIdx.x, mat = blockIdx.y;
    const float* M = mat == 0 ? Pi : Smat;
    const int Dpad = KS * 16;
    for (int j = tid; j < D; j += 256) qrow[j] = b < B ? Q[(size_t)b * D + j] : 0.0f;
    __syncthreads();

    // tpo threads per output (a power of two, at most 32), each summing a strided part of the dot product.
    int p2 = 1;
    while (p2 < D) p2 <<= 1;
    const int tpo = min(32, max(1, 256 / p2));
    const int part = tid % tpo, per_pass = 256 / tpo;
    for (int base = 0; base < Dpad; base += per_pass) {  // uniform trip count: the shuffles see every lane
        const int d = base + tid / tpo;
        float acc = 0.0f;
        if (d < D && b < B) {
            const float* row = M + (size_t)d * D;
            if ((D & 3) == 0) {
                // Issue up to 16 loads before the first use: one memory latency instead of one per load.
                float part_sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
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
                        part_sum[u & 3] = fmaf(qrow[4 * c], m4[u].x, part_sum[u & 3]);
                        part_sum[u & 3] = fmaf(qrow[4 * c + 1], m4[u].y, part_sum[u & 3]);
                        part_sum[u & 3] = fmaf(qrow[4 * c + 2], m4[u].z, part_sum[u & 3]);
                        part_sum[u & 3] = fmaf(qrow[4 * c + 3], m4[u].w, part_sum[u & 3]);
                    }
                }
                acc = (part_sum[0] + part_sum[1]) + (part_sum[2] + part_sum[3]);
            } else {
                for (int j = part; j < D; j += tpo) acc = fmaf(qrow[j], row[j], acc);
            }
        }
        for (int o = tpo / 2; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        if (part == 0 && d < Dpad) vals[d] = acc;
    }
    __syncthreads();
    float m = 0.0f;
    for (int d = tid; d < Dpad; d += 256) m = fmaxf(m, fabsf(vals[d]));
    const int e = exponent_of(block_max(m, red));
    float mc = 0.0f;
    for (int c = tid; c < C; c += 256) mc = fmaxf(mc, fabsf(codebook[c]));
    const int ecb = exponent_of(block_max(mc, red));
    const float scale = ldexpf(1.0f, -e);

    if (tid == 0) {
        if (mat == 0)
            scales[b] = ldexpf(1.0f, e + ecb);  // 1 / (2^-e * 2^-ecb)
        else
            scales[32 + b] = coef * ldexpf(1.0f, e);
    }
    if (mat == 0 && b == 0) {
        const float cscale = ldexpf(1.0f, -ecb);
        for (int c = tid; c < 256; c += 256) cbtab[c] = c < C ? split_f16(codebook[c] * cscale) : 0u;
    }
    // Fragments: row b is row r = b % 16 of query tile mt = b / 16: fragment row g = r % 8, upper half r / 8.
    const int mt = b / 16, r = b % 16, g = r % 8, upper = r / 8;
    for (int item = tid; item < KS * 4; item += 256) {
        const int ks = item / 4, t = item % 4;
        const int d0 = 64 * (ks / 4) + 16 * t + 4 * (ks % 4);
        const u32 p0 = split_f16(vals[d0] * scale), p1 = split_f16(vals[d0 + 1] * scale);
        const u32 p2v = split_f16(vals[d0 + 2] * scale), p3 = split_f16(vals[d0 + 3] * scale);
        const u32 hi01 = (p0 & 0xffffu) | (p1 << 16), hi23 = (p2v & 0xffffu) | (p3 << 16);
        const u32 lo01 = (p0 >> 16) | (p1 & 0xffff0000u), lo23 = (p2v >> 16) | (p3 & 0xffff0000u);
        const int lane = g * 4 + t;
        const size_t hi_unit = ((size_t)(ks * MT + mt) * 4 + mat * 2 + 0) * 32 + lane;
        const size_t lo_unit = ((size_t)(ks * MT + mt) * 4 + mat * 2 + 1) * 32 + lane;
        qfrag[hi_unit * 4 + upper] = hi01;
        qfrag[hi_unit * 4 + 2 + upper] = hi23;
        qfrag[lo_unit * 4 + upper] = lo01;
        qfrag[lo_unit * 4 + 2 + upper] = lo23;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Repack for D not a multiple of 16 (rows must be 16-byte multiples for bulk copies): [S][D] -> [Spad][Drow],
// zero-filled. Part of the solve when it is needed.
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
// Main kernel. Shared memory layout (bytes), computed the same way on the host (warpspec.rs):
//   [0, 128)                    full[NS], empty[NS] mbarriers (NS <= 7), then the fragments' mbarrier
//   [128, 1152)                 codebook table, 256 x u32
//   [1152, 1408)                alpha[32], beta[32]
//   [1408, 1408 + KS*MT*2048)   Qp/Qs fragments
//   then NS stages of stage_bytes (128-aligned): indices [64][Drow], signs [64][Drow], gamma [64] f32.
#define OFF_TAB 128
#define OFF_SCALES 1152
#define OFF_QF 1408

template <int MT>
__device__ __forceinline__ void scores_body(const unsigned char* __restrict__ kidx,
                                            const unsigned char* __restrict__ signs,
                                            const float* __restrict__ gamma, const uint4* __restrict__ qfrag,
                                            const float* __restrict__ scales, const u32* __restrict__ cbtab,
                                            float* __restrict__ scores, int B, int S, int Drow, int KS, int ntiles,
                                            int NS, int stage_bytes) {
    extern __shared__ __align__(128) unsigned char smem[];
    u64* full = reinterpret_cast<u64*>(smem);
    u64* empty = full + 7;
    u64* qbar = full + 14;
    u32* tab = reinterpret_cast<u32*>(smem + OFF_TAB);
    float* scl = reinterpret_cast<float*>(smem + OFF_SCALES);
    uint4* qf = reinterpret_cast<uint4*>(smem + OFF_QF);
    unsigned char* stages = smem + ((OFF_QF + KS * MT * 2048 + 127) / 128) * 128;

    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int my_tiles = blockIdx.x < ntiles ? (ntiles - 1 - blockIdx.x) / gridDim.x + 1 : 0;
    const u32 row_bytes = (u32)(TILE_KEYS * Drow);

    if (tid == 0) {
        for (int i = 0; i < NS; ++i) {
            mbar_init(&full[i], 1);
            mbar_init(&empty[i], NCW);
        }
        mbar_init(qbar, 1);
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();

    if (warp == 0) {
        // Producer: one thread issues the bulk copies of every tile of this block, NS stages ahead.
        if (lane == 0) {
            for (int k = 0; k < my_tiles; ++k) {
                const int st = k % NS;
                if (k >= NS) mbar_wait(&empty[st], (u32)((k / NS - 1) & 1));
                const size_t tile = (size_t)blockIdx.x + (size_t)k * gridDim.x;
                unsigned char* base = stages + (size_t)st * stage_bytes;
                mbar_arrive_expect_tx(&full[st], 2 * row_bytes + TILE_KEYS * 4);
                bulk_g2s(base, kidx + tile * row_bytes, row_bytes, &full[st]);
                bulk_g2s(base + row_bytes, signs + tile * row_bytes, row_bytes, &full[st]);
                bulk_g2s(base + 2 * row_bytes, gamma + tile * TILE_KEYS, TILE_KEYS * 4, &full[st]);
            }
        }
        return;
    }

    // Consumers: one thread waits for the prologue and bulk-copies its results (fragments, codebook table,
    // scales) into shared memory; every consumer waits for them on qbar.
    if (tid == 32) {
        asm volatile("griddepcontrol.wait;" ::: "memory");
        const u32 qbytes = (u32)(KS * MT * 4 * 32 * 16);
        mbar_arrive_expect_tx(qbar, qbytes + 1024 + 256);
        bulk_g2s(qf, qfrag, qbytes, qbar);
        bulk_g2s(tab, cbtab, 1024, qbar);
        bulk_g2s(scl, scales, 256, qbar);
    }
    mbar_wait(qbar, 0);

    const int cw = warp - 1, grp = cw / NCW, half = cw % NCW;
    const int g = lane >> 2, t = lane & 3;
    float alpha[MT][2], beta[MT][2];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int h = 0; h < 2; ++h) {
            alpha[mt][h] = scl[16 * mt + g + 8 * h];
            beta[mt][h] = scl[32 + 16 * mt + g + 8 * h];
        }
    const int KG = KS / 4;
    const bool even_s = (S & 1) == 0;

    for (int k = grp; k < my_tiles; k += NGROUPS) {
        const int st = k % NS;
        mbar_wait(&full[st], (u32)((k / NS) & 1));
        const unsigned char* sidx = stages + (size_t)st * stage_bytes;
        const unsigned char* ssgn = sidx + row_bytes;
        const float* sgam = reinterpret_cast<const float*>(sidx + 2 * row_bytes);

        float acc1[MT][4][4], acc2[MT][4][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int i = 0; i < 4; ++i)
#pragma unroll
                for (int x = 0; x < 4; ++x) acc1[mt][i][x] = acc2[mt][i][x] = 0.0f;

        for (int G = 0; G < KG; ++G) {
            uint4 ri[4], rs[4];
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const int off = (32 * half + 8 * i + g) * Drow + 64 * G + 16 * t;
                ri[i] = *reinterpret_cast<const uint4*>(sidx + off);
                rs[i] = *reinterpret_cast<const uint4*>(ssgn + off);
            }
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int ks = 4 * G + j;
                uint4 a[MT][4];
#pragma unroll
                for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                    for (int x = 0; x < 4; ++x) a[mt][x] = qf[((ks * MT + mt) * 4 + x) * 32 + lane];
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    const u32 w = j == 0 ? ri[i].x : j == 1 ? ri[i].y : j == 2 ? ri[i].z : ri[i].w;
                    const u32 sw = j == 0 ? rs[i].x : j == 1 ? rs[i].y : j == 2 ? rs[i].z : rs[i].w;
                    const u32 e0 = tab[w & 0xffu], e1 = tab[(w >> 8) & 0xffu];
                    const u32 e2 = tab[(w >> 16) & 0xffu], e3 = tab[w >> 24];
                    const u32 kh0 = __byte_perm(e0, e1, 0x5410), kh1 = __byte_perm(e2, e3, 0x5410);
                    const u32 kl0 = __byte_perm(e0, e1, 0x7632), kl1 = __byte_perm(e2, e3, 0x7632);
                    const u32 s0 = (__byte_perm(sw, 0u, 0x1000) & 0x80008000u) | 0x3c003c00u;
                    const u32 s1 = (__byte_perm(sw, 0u, 0x3020) & 0x80008000u) | 0x3c003c00u;
#pragma unroll
                    for (int mt = 0; mt < MT; ++mt) {
                        mma16816(acc1[mt][i], a[mt][0].x, a[mt][0].y, a[mt][0].z, a[mt][0].w, kh0, kh1);
                        mma16816(acc1[mt][i], a[mt][1].x, a[mt][1].y, a[mt][1].z, a[mt][1].w, kh0, kh1);
                        mma16816(acc1[mt][i], a[mt][0].x, a[mt][0].y, a[mt][0].z, a[mt][0].w, kl0, kl1);
                        mma16816(acc2[mt][i], a[mt][2].x, a[mt][2].y, a[mt][2].z, a[mt][2].w, s0, s1);
                        mma16816(acc2[mt][i], a[mt][3].x, a[mt][3].y, a[mt][3].z, a[mt][3].w, s0, s1);
                    }
                }
            }
        }

        // Epilogue: C fragment rows are queries (g, g + 8 of each tile), columns keys (2t, 2t + 1).
        const size_t tile = (size_t)blockIdx.x + (size_t)k * gridDim.x;
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            const int kl = 32 * half + 8 * i + 2 * t;
            const int s = (int)(tile * TILE_KEYS) + kl;
            const float g0 = sgam[kl], g1 = sgam[kl + 1];
#pragma unroll
            for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                for (int h = 0; h < 2; ++h) {
                    const int b = 16 * mt + g + 8 * h;
                    if (b >= B || s >= S) continue;
                    const float v0 = fmaf(beta[mt][h] * g0, acc2[mt][i][2 * h], alpha[mt][h] * acc1[mt][i][2 * h]);
                    const float v1 =
                        fmaf(beta[mt][h] * g1, acc2[mt][i][2 * h + 1], alpha[mt][h] * acc1[mt][i][2 * h + 1]);
                    float* dst = scores + (size_t)b * S + s;
                    if (even_s) {
                        *reinterpret_cast<float2*>(dst) = make_float2(v0, v1);  // s even, S even: s + 1 < S
                    } else {
                        dst[0] = v0;
                        if (s + 1 < S) dst[1] = v1;
                    }
                }
        }
        __syncwarp();
        if (lane == 0) mbar_arrive(&empty[st]);
    }
}

extern "C" __global__ void __launch_bounds__(THREADS, 1)
    warpspec_scores_mt1(const unsigned char* __restrict__ kidx, const unsigned char* __restrict__ signs,
                        const float* __restrict__ gamma, const uint4* __restrict__ qfrag,
                        const float* __restrict__ scales, const u32* __restrict__ cbtab, float* __restrict__ scores,
                        int B, int S, int Drow, int KS, int ntiles, int NS, int stage_bytes) {
    scores_body<1>(kidx, signs, gamma, qfrag, scales, cbtab, scores, B, S, Drow, KS, ntiles, NS, stage_bytes);
}

extern "C" __global__ void __launch_bounds__(THREADS, 1)
    warpspec_scores_mt2(const unsigned char* __restrict__ kidx, const unsigned char* __restrict__ signs,
                        const float* __restrict__ gamma, const uint4* __restrict__ qfrag,
                        const float* __restrict__ scales, const u32* __restrict__ cbtab, float* __restrict__ scores,
                        int B, int S, int Drow, int KS, int ntiles, int NS, int stage_bytes) {
    scores_body<2>(kidx, signs, gamma, qfrag, scales, cbtab, scores, B, S, Drow, KS, ntiles, NS, stage_bytes);
}
