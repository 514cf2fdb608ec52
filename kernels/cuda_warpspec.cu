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
// qproj_f32 (kernels/qproj.cu) computes Qp, Qs in f32 once per solve, in the order of this kernel's fragments,
// with the largest |value| of each row.
// warpspec_scores is launched after it with programmatic dependent launch: its producer warp starts streaming at
// once; its consumers build the codebook table, wait for qproj_f32 (griddepcontrol.wait), then scale and split
// Qp/Qs into fp16 hi/lo operands in shared memory (a format conversion of 32 x D values per block), and start.
//
// warpspec_scores: persistent grid (one block per SM), 8 consumer warps (warps 0-7) + 1 producer warp (warp 8).
// The producer streams tiles of 64 keys (indices, signs, gamma) with bulk copies (cp.async.bulk) into a ring
// of NS shared-memory stages, completing on an mbarrier per stage; consumers take tiles in turn and release the
// stage through a second mbarrier. Only each consumer group's first tile is requested at once; the others after
// the consumers' set-up, so that they do not share the L2's bandwidth with the set-up's loads. Two consumer paths
// (HAVE_WGMMA):
//   sm_90a: two warpgroups, each taking whole tiles; the keys, expanded in registers, are wgmma's A (M = 64 keys),
//           Qp/Qs hi|lo in shared memory its B (N = queries), so the query operands are read by the tensor cores
//           once per warpgroup instead of by every warp; a tile's scores go out through shared memory, by 16-byte
//           stores of whole rows (when S is a multiple of 4).
//   other targets: 4 groups of 2 warps running mma.sync m16n8k16, each warp 32 keys of a tile as B, Qp/Qs as A
//           fragments loaded from shared memory.
//
// Dimension order: the mma's K index is a permutation of d. Within each group of 64 dimensions, thread t of a
// quad (t = lane % 4) holds bytes [16t, 16t+16) of a key row; k-step j uses bytes 4j..4j+3 of those, which
// stand for K positions 2t, 2t+1, 2t+8, 2t+9 (the fragment rows of the thread, as A or as B). Qp/Qs are laid out
// with the same permutation (qproj_f32's fragment order), so one 16-byte shared load gives a thread its key
// bytes for 4 k-steps.

#define TILE_KEYS 64   // keys per stage
#define NCW 2          // consumer warps per group, each taking TILE_KEYS / NCW keys of a tile
#define NGROUPS 4      // consumer groups
#define NWARPS (NCW * NGROUPS)  // consumer warps 0..NWARPS-1 (two warpgroups); the producer is warp NWARPS
#define THREADS (32 * (1 + NWARPS))

#if HAVE_WGMMA  // (kernels/sm90.cuh)
// sm_90a: the consumers run wgmma (two warpgroups, each taking whole 64-key tiles in turn).
#define TILE_ARRIVALS 4  // consumer warps releasing a stage
#define TILE_GROUPS 2    // consumer groups, each taking whole tiles
#else
// Any other target of this kernel: mma.sync (four groups of two warps, each warp 32 keys of a tile).
#define TILE_ARRIVALS NCW
#define TILE_GROUPS NGROUPS
#endif

// ---------------------------------------------------------------------------------------------------------------
// Small device helpers beyond those of kernels/sm90.cuh (prepended).

#if HAVE_WGMMA
// D += A * B with A (64 keys x 16 dimensions, fp16) from registers, in mma.sync's A-fragment layout per warp (warp
// q of the warpgroup: rows 16q..16q+15), B (16 dimensions x N queries, fp16) from shared memory through a
// descriptor, D in f32.
__device__ __forceinline__ void wgmma_n64(float (&d)[32], const u32 (&a)[4], u64 desc) {
    asm volatile(
        "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16 "
        "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15,%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,"
        "%28,%29,%30,%31}, {%32,%33,%34,%35}, %36, 1, 1, 1, 0;"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc));
}
// The same with N = 32, accumulating into d[0..15] (the first 32 columns of an N = 64 accumulator).
__device__ __forceinline__ void wgmma_n32(float (&d)[32], const u32 (&a)[4], u64 desc) {
    asm volatile(
        "wgmma.mma_async.sync.aligned.m64n32k16.f32.f16.f16 "
        "{%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15}, {%16,%17,%18,%19}, %20, 1, 1, 1, 0;"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc));
}
// Keeps an operand's registers alive up to this point (keep, kernels/sm90.cuh).
__device__ __forceinline__ void keep(u32 (&a)[4]) {
#pragma unroll
    for (int i = 0; i < 4; ++i) keep(a[i]);
}
__device__ __forceinline__ void keep(float (&d)[32]) {
#pragma unroll
    for (int i = 0; i < 32; ++i) keep(d[i]);
}
#endif

// Two fp16 +-1.0 from the sign bits 15 and 31 of x: (x & 0x80008000) | 0x3c003c00 in one instruction (written
// in C, it compiled to two, each taking one of the constants as its immediate).
__device__ __forceinline__ u32 sign_f16x2(u32 x) {
    u32 r;
    asm("lop3.b32 %0, %1, 0x80008000, 0x3c003c00, 0xea;" : "=r"(r) : "r"(x));
    return r;
}

// The entry of the 1024-aligned u32 table at shared address `base` whose index sits in bits 2..9 of x.
__device__ __forceinline__ u32 tab_entry(u32 base, u32 x) {
    u32 v;
    asm("ld.shared.u32 %0, [%1];" : "=r"(v) : "r"(base | (x & 0x3fcu)));
    return v;
}

// Word j (0..3) of v.
__device__ __forceinline__ u32 word(const uint4& v, int j) { return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w; }

// One key's operands for one k-step, from its 4 index bytes w and 4 sign bytes sw (K positions 2t, 2t+1, 2t+8,
// 2t+9): codebook hi, codebook lo and signs as fp16 pairs, [0] for K 2t..2t+1 and [1] for K 2t+8..2t+9.
__device__ __forceinline__ void expand_word(u32 tab_base, u32 w, u32 sw, u32 (&hi)[2], u32 (&lo)[2],
                                            u32 (&sg)[2]) {
    const u32 e0 = tab_entry(tab_base, w << 2), e1 = tab_entry(tab_base, w >> 6);
    const u32 e2 = tab_entry(tab_base, w >> 14), e3 = tab_entry(tab_base, w >> 22);
    hi[0] = __byte_perm(e0, e1, 0x5410);
    hi[1] = __byte_perm(e2, e3, 0x5410);
    lo[0] = __byte_perm(e0, e1, 0x7632);
    lo[1] = __byte_perm(e2, e3, 0x7632);
    sg[0] = sign_f16x2(__byte_perm(sw, 0u, 0x1000));
    sg[1] = sign_f16x2(__byte_perm(sw, 0u, 0x3020));
}

#if HAVE_WGMMA
// The key bytes of 64-dimension group G for the A rows of lane (g, t): rows row0 (i = 0) and row0 + 8 (i = 1), bytes
// 64 G + 16 t .. + 15 of the indices (ri) and signs (rs). A quarter-warp reads rows g and g + 1 at the same offset:
// 128 bytes apart (D = 128), the same banks. So lanes of odd g read the signs first and the indices second; the
// signs lie SGN_SKEW bytes off the row grid (stage layout below), and each load instruction then touches 8
// different 16-byte bank groups.
__device__ __forceinline__ void load_group(const unsigned char* sidx, const unsigned char* ssgn, int row0, int Drow,
                                           int G, int t, bool odd, uint4 (&ri)[2], uint4 (&rs)[2]) {
    const unsigned char* first = odd ? ssgn : sidx;
    const unsigned char* second = odd ? sidx : ssgn;
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const int off = (row0 + 8 * i) * Drow + 64 * G + 16 * t;
        const uint4 a = *reinterpret_cast<const uint4*>(first + off);
        const uint4 b = *reinterpret_cast<const uint4*>(second + off);
        ri[i] = odd ? b : a;
        rs[i] = odd ? a : b;
    }
}

// A registers of k-step 4G + j of group G (whose bytes are ri, rs): codebook hi, codebook lo and signs, each in the
// order (row g, K 2t..2t+1), (row g + 8, same K), (row g, K 2t+8..2t+9), (row g + 8, same K).
__device__ __forceinline__ void expand_step(u32 tab_base, const uint4 (&ri)[2], const uint4 (&rs)[2], int j,
                                            u32 (&hi)[4], u32 (&lo)[4], u32 (&sg)[4]) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        u32 h[2], l[2], s[2];
        expand_word(tab_base, word(ri[i], j), word(rs[i], j), h, l, s);
        hi[i] = h[0];
        hi[2 + i] = h[1];
        lo[i] = l[0];
        lo[2 + i] = l[1];
        sg[i] = s[0];
        sg[2 + i] = s[1];
    }
}

// One commit group, the 3 wgmma of a k-step whose Qp operand is at shared address qp (its Qs operand qs_off bytes
// further), the signs' issued between the two that accumulate into acc1:
//   acc1[n < 32] += cb_hi . Qp_hi, acc1[n >= 32] += cb_hi . Qp_lo   (N = 64)
//   acc1[n < 32] += cb_lo . Qp_hi                                     (N = 32)
//   acc2[n < 32] += sign . Qs_hi,  acc2[n >= 32] += sign . Qs_lo     (N = 64)
__device__ __forceinline__ void issue_step(float (&acc1)[32], float (&acc2)[32], const u32 (&hi)[4],
                                           const u32 (&lo)[4], const u32 (&sg)[4], u32 qp, u32 qs_off) {
    wgmma_fence();
    wgmma_n64(acc1, hi, make_desc(qp, 128, 256));
    wgmma_n64(acc2, sg, make_desc(qp + qs_off, 128, 256));
    wgmma_n32(acc1, lo, make_desc(qp, 128, 256));
    wgmma_commit();
}
#endif

// Trace slots of scores_body (`stamp`, kernels/trace.cuh, prepended; the _trace kernels only): 0 start;
// producer: 1 copies issued (the last ones after the set-up), 2 first tile landed, 3 last tile landed; first
// consumer warp: 4 past griddepcontrol.wait, 5 operands built, 6 set-up done (barrier); group 0: 7 tile ready,
// 8 products done, 9 epilogue done; last group: 10 tile ready, 11 products done, 12 all its tiles done. (A group
// is a warpgroup with wgmma, a pair of warps with mma.sync; the stamps are of its first tile.)

// ---------------------------------------------------------------------------------------------------------------
// Repack for D not a multiple of 16 (rows must be 16-byte multiples for bulk copies): [S][D] -> [Spad][Drow],
// zero-filled. Part of the solve when it is needed.
extern "C" __global__ void warpspec_repack(const unsigned char* __restrict__ idx,
                                           const unsigned char* __restrict__ sgn,
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
//   [0, 128)                    full[NS], empty[NS] mbarriers (NS <= 8)
//   [128, 384)                  alpha[32], beta[32]
//   [384, 384 + KS*4096)        Qp/Qs operands, 2 KB per matrix and k-step. mma.sync: 16-byte unit
//                               ((ks*MT + mt)*4 + arr*2 + hl)*32 + lane holds the A-fragment registers of lane for
//                               k-step ks, query tile mt, Qp/Qs (arr), hi/lo (hl). wgmma: the B layout written by
//                               the set-up (below).
//   then (128-aligned) OUT_BYTES: per warpgroup a tile's scores [32 queries][OUT_LD] f32 on their way out (wgmma)
//   then NS stages of stage_bytes (128-aligned): indices [64][Drow], SGN_SKEW bytes of padding, signs [64][Drow],
//   gamma [64] f32.
// The codebook table, 256 x u32 (fp16 hi | lo << 16), is static shared memory (1 KB beside the above), aligned to
// its size: a lookup's address is then the table's address OR-ed with the index times 4, one instruction
// together with the index's extraction (tab_entry).
#define OFF_SCALES 128
// Offset of a stage's signs from the end of its indices: half of a 128-byte row of banks (load_group).
#define SGN_SKEW 64
#define OFF_QF 384
// A query's row of staged scores: 64 keys and 4 floats of padding, so that the epilogue's shared stores (8 keys x
// 4 queries 2 apart per instruction) fall in 32 different banks; 272 bytes keep every row 16-byte aligned.
#define OUT_LD (TILE_KEYS + 4)
#define OUT_BYTES (2 * 32 * OUT_LD * 4)

// Both main kernels' shared memory past the operands (KS * 4 KB from OFF_QF): the staged scores, then the stages.
__device__ __forceinline__ float* staged_scores(unsigned char* smem, int KS) {
    return reinterpret_cast<float*>(smem + ((OFF_QF + KS * 4096 + 127) / 128) * 128);
}

// The ring of stages, after the staged scores.
__device__ __forceinline__ unsigned char* ring_stages(float* out_stage) {
    return reinterpret_cast<unsigned char*>(out_stage) + OUT_BYTES;
}

// Tiles of this block: blockIdx.x, blockIdx.x + gridDim.x, ... below ntiles.
__device__ __forceinline__ int block_tiles(int ntiles) {
    return blockIdx.x < ntiles ? (ntiles - 1 - blockIdx.x) / gridDim.x + 1 : 0;
}

// The tile (of all S / 64) that is this block's tile k.
__device__ __forceinline__ size_t block_tile(int k) { return (size_t)blockIdx.x + (size_t)k * gridDim.x; }

// A stage of the ring: its index, and the tile's key rows of indices and signs and its gamma in it.
struct Stage {
    int st;
    const unsigned char* idx;
    const unsigned char* sgn;
    const float* gam;
};

// The stage of this block's tile k. The caller waits for its data first (wait_stage): one helper that waited and
// returned the addresses made NVRTC 13.0 serialise the int8 kernels' wgmma (C7520, "WG.AR in divergent path").
__device__ __forceinline__ Stage stage_of(int k, const unsigned char* stages, int NS, int stage_bytes,
                                          u32 row_bytes) {
    const int st = k % NS;
    const unsigned char* idx = stages + (size_t)st * stage_bytes;
    return {st, idx, idx + row_bytes + SGN_SKEW, reinterpret_cast<const float*>(idx + 2 * row_bytes + SGN_SKEW)};
}

// Waits until the bulk copies of this block's tile k have landed in its stage.
__device__ __forceinline__ void wait_stage(int k, u64* full, int NS) {
    mbar_wait(&full[k % NS], (u32)((k / NS) & 1));
}

// Requests this block's tile k (indices, signs, gamma; stage k mod NS, completing on full[k mod NS]). With
// ablation 2 (a measurement aid) it copies nothing and completes the stage's phase at once.
__device__ __forceinline__ void request_block_tile(int k, unsigned char* stages, u64* full, int NS, int stage_bytes,
                                                   const unsigned char* kidx, const unsigned char* signs,
                                                   const float* gamma, u32 row_bytes, int ablation) {
    const int st = k % NS;
    if (ablation == 2) {
        mbar_arrive(&full[st]);
        return;
    }
    const size_t tile = block_tile(k);
    request_tile(stages + (size_t)st * stage_bytes, &full[st], kidx + tile * row_bytes, signs + tile * row_bytes,
                 gamma + tile * TILE_KEYS, row_bytes, SGN_SKEW, TILE_KEYS * 4);
}

// The exponent ecb that scales the codebook (C <= 256 levels) so its largest |level| lies in [0.5, 1): every
// lane of the calling warp gets it.
__device__ __forceinline__ int codebook_exponent(const float* codebook, int C, int lane) {
    float mc = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) mc = fmaxf(mc, lane + 32 * i < C ? fabsf(codebook[lane + 32 * i]) : 0.0f);
    for (int o = 16; o > 0; o >>= 1) mc = fmaxf(mc, __shfl_xor_sync(0xffffffffu, mc, o));
    return exponent_of(mc);
}

// The output scales of query row b < 32 into scl: alpha = 1 / (2^-e * 2^-ecb) undoes the scaling of Qp's row
// (largest |value| rmp, as float bits) and of the codebook; beta = coef / 2^-e that of Qs's row (rms).
__device__ __forceinline__ void store_scales(float* scl, int b, u32 rmp, u32 rms, int ecb, float coef) {
    scl[b] = ldexpf(1.0f, exponent_of_bits(rmp) + ecb);
    scl[32 + b] = coef * ldexpf(1.0f, exponent_of_bits(rms));
}

#if HAVE_WGMMA
// The output scales of the queries 8j + 2t + e (e = 0, 1) whose scores thread t holds in a wgmma accumulator:
// alpha (codebook term) and beta (signs), from scl[0..63].
__device__ __forceinline__ void load_scales(const float* scl, int t, float (&alpha)[4][2], float (&beta)[4][2]) {
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
            alpha[j][e] = scl[8 * j + 2 * t + e];
            beta[j][e] = scl[32 + 8 * j + 2 * t + e];
        }
}

// Stores a warpgroup's tile of scores (keys s0 .. s0 + 63, every query): score(r, j, e) is, in thread (wq, lane),
// the score of key row 16 wq + g + 8r and query 8j + 2t + e, where (g, t) = (lane / 4, lane % 4). Where S is a
// multiple of 4 (wide_out), through shared memory: the warpgroup writes the tile's scores into its staging rows
// (out_rows), then stores whole rows with 16-byte stores, each warp two rows (256 bytes each) per instruction, 4
// stores a thread, instead of 64 4-byte stores a thread that each touched four rows. `synced`: the warpgroup
// has met at its barrier since its previous tile's rows were read (else that barrier comes first here).
template <typename Score>
__device__ __forceinline__ void store_tile(Score score, bool wide_out, bool synced, float* out_rows, float* scores,
                                           int wg, int wq, int lane, int B, int S, int s0) {
    const int g = lane >> 2, t = lane & 3;
    if (wide_out) {
        if (!synced) asm volatile("bar.sync %0, 128;" ::"r"(2 + wg) : "memory");  // the previous tile's rows are read
        // One base address per thread, the rest immediate offsets: (query 2t, key 16 wq + g) here.
        float* const mine = out_rows + 2 * t * OUT_LD + 16 * wq + g;
#pragma unroll
        for (int r = 0; r < 2; ++r)
#pragma unroll
            for (int j = 0; j < 4; ++j)
#pragma unroll
                for (int e = 0; e < 2; ++e) mine[(8 * j + e) * OUT_LD + 8 * r] = score(r, j, e);
        asm volatile("bar.sync %0, 128;" ::"r"(2 + wg) : "memory");
        // Thread (wq, lane) copies 16 bytes of rows 8i + 2wq + lane / 16 (i = 0..3), at key 4 (lane % 16).
        const int b0 = 2 * wq + (lane >> 4), c = 4 * (lane & 15);
        const float* const from = out_rows + b0 * OUT_LD + c;
        float* const to = scores + (size_t)b0 * S + s0 + c;
        const bool in_tile = c < min(TILE_KEYS, S - s0);
#pragma unroll
        for (int i = 0; i < 4; ++i)
            if (in_tile && b0 + 8 * i < B)
                *reinterpret_cast<float4*>(to + (size_t)(8 * i) * S) =
                    *reinterpret_cast<const float4*>(from + 8 * i * OUT_LD);
    } else {
#pragma unroll
        for (int r = 0; r < 2; ++r) {
            const int s = s0 + 16 * wq + g + 8 * r;
#pragma unroll
            for (int j = 0; j < 4; ++j)
#pragma unroll
                for (int e = 0; e < 2; ++e) {
                    const int b = 8 * j + 2 * t + e;
                    if (b < B && s < S) scores[(size_t)b * S + s] = score(r, j, e);
                }
        }
    }
}
#endif

template <int MT, bool TR>
__device__ __forceinline__ void scores_body(const unsigned char* __restrict__ kidx,
                                            const unsigned char* __restrict__ signs,
                                            const float* __restrict__ gamma, const float* __restrict__ QT,
                                            unsigned int* __restrict__ rowmax, const float* __restrict__ codebook,
                                            float* __restrict__ scores, int B, int S, int C, float coef, int Drow,
                                            int KS, int ntiles, int NS, int stage_bytes, int parity,
                                            int ablation, u64* trace) {
    extern __shared__ __align__(128) unsigned char smem[];
    u64* full = reinterpret_cast<u64*>(smem);
    u64* empty = full + 8;
    __shared__ __align__(1024) u32 tab[256];
    const u32 tab_base = smem_u32(tab);
    float* scl = reinterpret_cast<float*>(smem + OFF_SCALES);
    uint4* qf = reinterpret_cast<uint4*>(smem + OFF_QF);
    // Qp/Qs operands: 2 KB per matrix and k-step (both query tiles, whatever B), then the staged scores, then the
    // stages.
    float* out_stage = staged_scores(smem, KS);
    unsigned char* stages = ring_stages(out_stage);

    if (!TR) trace = nullptr;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int my_tiles = block_tiles(ntiles);
    const u32 row_bytes = (u32)(TILE_KEYS * Drow);

    if (tid == 0) {
        for (int i = 0; i < NS; ++i) {
            mbar_init(&full[i], 1);
            mbar_init(&empty[i], TILE_ARRIVALS);
        }
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();

    if (tid == 0) stamp(trace, 0);
    if (warp == NWARPS) {
        // Producer: one thread issues the bulk copies of every tile of this block, NS stages ahead. Only the first
        // tile of each consumer group goes out at once; the rest wait for the consumers' set-up (its barrier), whose
        // loads of the projections would otherwise share the L2's bandwidth with them.
        auto issue = [&](int k) {
            if (k >= NS) mbar_wait(&empty[k % NS], (u32)((k / NS - 1) & 1));
            request_block_tile(k, stages, full, NS, stage_bytes, kidx, signs, gamma, row_bytes, ablation);
        };
        const int early = min(my_tiles, min(NS, TILE_GROUPS));
        if (lane == 0)
            for (int k = 0; k < early; ++k) issue(k);
        __syncwarp();
        asm volatile("bar.sync 1, %0;" ::"r"(32 * (NWARPS + 1)) : "memory");  // the consumers' set-up is done
        if (lane == 0) {
            for (int k = early; k < my_tiles; ++k) issue(k);
            stamp(trace, 1);
            if (trace != nullptr && my_tiles > 0 && my_tiles <= NS) {
                mbar_wait(&full[0], 0u);
                stamp(trace, 2);
                mbar_wait(&full[my_tiles - 1], 0u);
                stamp(trace, 3);
            }
        }
        return;
    }

    // Consumers. First what does not need the projection: the codebook, scaled by 2^-ecb (largest |level| then
    // in [0.5, 1); each warp finds it itself) and split into fp16 hi + lo, into its table.
    static_assert(NWARPS >= 8, "the codebook table needs 256 consumer threads");
    const int ctid = tid;
    const float cbv = ctid < C ? codebook[ctid] : 0.0f;
    const int ecb = codebook_exponent(codebook, C, lane);
    if (ctid < 256) tab[ctid] = ctid < C ? split_f16(cbv * ldexpf(1.0f, -ecb)) : 0u;

    // Then wait for qproj_f32 and build this block's Qp/Qs operands in shared memory. Every load of this part is
    // issued before the first is used, so it costs one memory round trip.
    asm volatile("griddepcontrol.wait;" ::: "memory");
    if (tid == 0) stamp(trace, 4);
    const unsigned int* rmax = rowmax + parity * 64;
    if (blockIdx.x == 0 && ctid < 64) rowmax[(1 - parity) * 64 + ctid] = 0u;  // for the next solve
    // The output scales (alpha, beta) of query row ctid.
    const u32 rmp = ctid < 32 ? rmax[ctid] : 0u, rms = ctid < 32 ? rmax[32 + ctid] : 0u;
    // Fragments: task (mat, ks, mt) is one warp's: lane (g8, t) = (lane / 4, lane % 4) builds its 16-byte hi and
    // lo units, the A-fragment registers of query rows 16 mt + g8 and 16 mt + g8 + 8 for dimensions d0..d0+3 of
    // Qp (mat 0) or Qs (1), each row scaled by 2^-e (largest |value| then in [0.5, 1)) and split. qproj_f32 wrote
    // these 8 values of a lane next to each other (its fragment order), so they take two 16-byte loads. Four
    // tasks' loads are in flight at once.
    const int ntasks = 2 * KS * MT;
    const float4* qt4 = reinterpret_cast<const float4*>(QT);
    for (int task0 = warp; task0 < ntasks; task0 += 4 * NWARPS) {
        float4 v[4][2];
        u32 rm[4][2];
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            // Task = (mat KS + ks) MT + mt; its unit in frag_index's order (qproj.cu), which always has 2 query
            // tiles, is ((mat KS + ks) 2 + mt) 32 + lane.
            // Past the last task a warp reloads the last one (unused): loads without conditions stay straight-line
            // code, all issued before the first use (with branches around them, the compiler placed the first
            // task's conversion before the last tasks' loads, so the set-up waited for two round trips).
            const int task = min(task0 + u * NWARPS, ntasks - 1);
            const int mt = task % MT, mat = task >= KS * MT;
            const int unit = task * (2 / MT) * 32 + lane;
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                rm[u][h] = rmax[mat * 32 + 16 * mt + (lane >> 2) + 8 * h];
                v[u][h] = qt4[2 * unit + h];
            }
        }
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            // Converted whether or not the task exists (only the stores are conditional), so that the loads above
            // stay unconditional.
            const int task = task0 + u * NWARPS;
            const int mat = task >= KS * MT;
            float sc[2];
#pragma unroll
            for (int h = 0; h < 2; ++h) sc[h] = __int_as_float((127 - exponent_of_bits(rm[u][h])) << 23);  // 2^-e
            uint4 hi, lo;
            split2_f16(v[u][0].x * sc[0], v[u][0].y * sc[0], hi.x, lo.x);
            split2_f16(v[u][1].x * sc[1], v[u][1].y * sc[1], hi.y, lo.y);
            split2_f16(v[u][0].z * sc[0], v[u][0].w * sc[0], hi.z, lo.z);
            split2_f16(v[u][1].z * sc[1], v[u][1].w * sc[1], hi.w, lo.w);
            if (task < ntasks) {
#if HAVE_WGMMA
                // wgmma's B layout (K-major, no swizzle) per matrix and k-step, 2 KB: queries n = 0..31 with hi,
                // then n = 32..63 with lo; core matrix (n / 8, k / 8) of 8 queries x 8 dimensions (16-byte rows)
                // at (n / 8) * 256 + (k / 8) * 128. This lane's values are queries 16 mt + g + 8 h at K positions
                // 2t, 2t + 1 (x, y) and 2t + 8, 2t + 9 (z, w).
                const int ks = (task - mat * KS * MT) / MT, mt = task % MT;
                unsigned char* at = reinterpret_cast<unsigned char*>(qf) + (mat * KS + ks) * 2048 + mt * 512 +
                                    (lane >> 2) * 16 + (lane & 3) * 4;
                const u32 h4[4] = {hi.x, hi.y, hi.z, hi.w}, l4[4] = {lo.x, lo.y, lo.z, lo.w};
#pragma unroll
                for (int r = 0; r < 4; ++r) {  // r: (h, khalf) = (r & 1, r >> 1)
                    *reinterpret_cast<u32*>(at + (r & 1) * 256 + (r >> 1) * 128) = h4[r];
                    *reinterpret_cast<u32*>(at + 1024 + (r & 1) * 256 + (r >> 1) * 128) = l4[r];
                }
#else
                const int at = ((task - mat * KS * MT) * 4 + mat * 2) * 32 + lane;  // unit of (ks, mt, mat, hi)
                qf[at] = hi;
                qf[at + 32] = lo;
#endif
            }
        }
    }
    if (tid == 0) stamp(trace, 5);
    if (ctid < 32) store_scales(scl, ctid, rmp, rms, ecb, coef);
#if HAVE_WGMMA
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");  // the tensor cores read what was written
#endif
    asm volatile("bar.sync 1, %0;" ::"r"(32 * (NWARPS + 1)) : "memory");  // with the producer
    if (tid == 0) stamp(trace, 6);

#if HAVE_WGMMA
    // wgmma consumers: warpgroup wg takes tiles wg, wg + 2, ...; warp q of it the keys 16q..16q+15 of a tile as
    // M rows, lane (g, t) the keys 16q + g and 16q + g + 8; three wgmma per k-step of 16 dimensions
    // (issue_group), the queries as N.
    {
        const int wg = warp >> 2, wq = warp & 3;
        const int g = lane >> 2, t = lane & 3;
        const u32 qf_s = smem_u32(qf);
        float alpha[4][2], beta[4][2];
        load_scales(scl, t, alpha, beta);
        const int KG = KS / 4;
        // Rows of 64 keys start on 16 bytes in scores when S is a multiple of 4: then the scores leave through
        // shared memory by 16-byte stores.
        const bool wide_out = (S & 3) == 0;
        float* out_rows = out_stage + wg * 32 * OUT_LD;
        for (int k = wg; k < my_tiles; k += 2) {
            wait_stage(k, full, NS);
            if (lane == 0 && wq == 0 && k == wg) {
                if (wg == 0) stamp(trace, 7);
                if (wg == 1) stamp(trace, 10);
            }
            const Stage stage = stage_of(k, stages, NS, stage_bytes, row_bytes);
            float acc1[32], acc2[32];
#pragma unroll
            for (int x = 0; x < 32; ++x) acc1[x] = acc2[x] = 0.0f;
            // Two register sets, for even and odd k-steps: k-step ks + 1 is expanded while the wgmma of k-step ks
            // run. (Expanding two k-steps at a time, with two sets of twice the size, was slower: 12.4-12.6
            // against 12.1-12.3 us.)
            u32 ah[2][4], al[2][4], as[2][4];
            const int KGe = ablation == 1 ? 0 : KG;
            for (int G = 0; G < KGe; ++G) {
                uint4 ri[2], rs[2];
                load_group(stage.idx, stage.sgn, 16 * wq + g, Drow, G, t, (g & 1) != 0, ri, rs);
#pragma unroll
                for (int j = 0; j < 4; ++j) {
                    const int b = j & 1;
                    expand_step(tab_base, ri, rs, j, ah[b], al[b], as[b]);
                    issue_step(acc1, acc2, ah[b], al[b], as[b], qf_s + (4 * G + j) * 2048, KS * 2048);
                    // k-step 4G + j - 1 is then complete: its registers (the other set) may be rewritten.
                    wgmma_wait<1>();
                    keep(ah[b ^ 1]);
                    keep(al[b ^ 1]);
                    keep(as[b ^ 1]);
                }
            }
            wgmma_wait<0>();
            keep(acc1);
            keep(acc2);
            if (lane == 0 && wq == 0 && k == wg) {
                if (wg == 0) stamp(trace, 8);
                if (wg == 1) stamp(trace, 11);
            }
            // Epilogue: accumulator element 4j + x is key row 16 wq + g + 8 (x >> 1), query column
            // 8j + 2t + (x & 1), for columns j < 4 (hi) and j + 4 (the same query, lo).
            const int s0 = (int)(block_tile(k) * TILE_KEYS);
            float gm[2];
#pragma unroll
            for (int r = 0; r < 2; ++r) gm[r] = stage.gam[16 * wq + g + 8 * r];
            __syncwarp();
            if (lane == 0) mbar_arrive(&empty[stage.st]);  // the stage is read: the producer may refill it
            // The score of key row 16 wq + g + 8r and query 8j + 2t + e: hi and lo columns summed, scaled back.
            auto score = [&](int r, int j, int e) {
                const int x = 2 * r + e;
                const float v1 = acc1[4 * j + x] + acc1[4 * (j + 4) + x];
                const float v2 = acc2[4 * j + x] + acc2[4 * (j + 4) + x];
                return fmaf(beta[j][e] * gm[r], v2, alpha[j][e] * v1);
            };
            store_tile(score, wide_out, false, out_rows, scores, wg, wq, lane, B, S, s0);
            if (tid == 0 && k == 0) stamp(trace, 9);
        }
        if (lane == 0 && wq == 0 && wg == 1) stamp(trace, 12);
    }
#else
    constexpr int KPW = TILE_KEYS / NCW;  // keys per consumer warp
    constexpr int NT = KPW / 8;           // 8-key mma tiles per consumer warp (even)
    const int cw = warp, grp = cw / NCW, half = cw % NCW;
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
        wait_stage(k, full, NS);
        if (lane == 0 && half == 0 && k == grp) {
            if (grp == 0) stamp(trace, 7);
            if (grp == NGROUPS - 1) stamp(trace, 10);
        }
        const Stage stage = stage_of(k, stages, NS, stage_bytes, row_bytes);

        float acc1[MT][NT][4], acc2[MT][NT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int i = 0; i < NT; ++i)
#pragma unroll
                for (int x = 0; x < 4; ++x) acc1[mt][i][x] = acc2[mt][i][x] = 0.0f;

        for (int G = 0; G < (ablation == 1 ? 0 : KG); ++G) {
            uint4 ri[NT], rs[NT];
#pragma unroll
            for (int i = 0; i < NT; ++i) {
                const int off = (KPW * half + 8 * i + g) * Drow + 64 * G + 16 * t;
                ri[i] = *reinterpret_cast<const uint4*>(stage.idx + off);
                rs[i] = *reinterpret_cast<const uint4*>(stage.sgn + off);
            }
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int ks = 4 * G + j;
                uint4 a[MT][4];
#pragma unroll
                for (int mt = 0; mt < MT; ++mt)
#pragma unroll
                    for (int x = 0; x < 4; ++x) a[mt][x] = qf[((ks * MT + mt) * 4 + x) * 32 + lane];
                // Two key tiles at a time: expand both, then three phases of mma on 8, 8 and 4 different
                // accumulators, so no mma waits for the one just before it.
#pragma unroll
                for (int ip = 0; ip < NT / 2; ++ip) {
                    u32 kh[2][2], kl[2][2], sg[2][2];
#pragma unroll
                    for (int ii = 0; ii < 2; ++ii) {
                        const int i = 2 * ip + ii;
                        expand_word(tab_base, word(ri[i], j), word(rs[i], j), kh[ii], kl[ii], sg[ii]);
                    }
#pragma unroll
                    for (int ii = 0; ii < 2; ++ii)
#pragma unroll
                        for (int mt = 0; mt < MT; ++mt) {
                            const uint4& ph = a[mt][0];
                            const uint4& sh = a[mt][2];
                            mma_f16(acc1[mt][2 * ip + ii], ph.x, ph.y, ph.z, ph.w, kh[ii][0], kh[ii][1]);
                            mma_f16(acc2[mt][2 * ip + ii], sh.x, sh.y, sh.z, sh.w, sg[ii][0], sg[ii][1]);
                        }
#pragma unroll
                    for (int ii = 0; ii < 2; ++ii)
#pragma unroll
                        for (int mt = 0; mt < MT; ++mt) {
                            const uint4& pl = a[mt][1];
                            const uint4& sl = a[mt][3];
                            mma_f16(acc1[mt][2 * ip + ii], pl.x, pl.y, pl.z, pl.w, kh[ii][0], kh[ii][1]);
                            mma_f16(acc2[mt][2 * ip + ii], sl.x, sl.y, sl.z, sl.w, sg[ii][0], sg[ii][1]);
                        }
#pragma unroll
                    for (int ii = 0; ii < 2; ++ii)
#pragma unroll
                        for (int mt = 0; mt < MT; ++mt) {
                            const uint4& ph = a[mt][0];
                            mma_f16(acc1[mt][2 * ip + ii], ph.x, ph.y, ph.z, ph.w, kl[ii][0], kl[ii][1]);
                        }
                }
            }
        }

        if (lane == 0 && half == 0 && k == grp) {
            if (grp == 0) stamp(trace, 8);
            if (grp == NGROUPS - 1) stamp(trace, 11);
        }
        // Epilogue: C fragment rows are queries (g, g + 8 of each tile), columns keys (2t, 2t + 1).
        const int s0 = (int)(block_tile(k) * TILE_KEYS);
#pragma unroll
        for (int i = 0; i < NT; ++i) {
            const int kl = KPW * half + 8 * i + 2 * t;
            const int s = s0 + kl;
            const float g0 = stage.gam[kl], g1 = stage.gam[kl + 1];
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
        if (lane == 0) mbar_arrive(&empty[stage.st]);
        if (tid == 0 && k == 0) stamp(trace, 9);
    }
    if (lane == 0 && half == 0 && grp == NGROUPS - 1) stamp(trace, 12);
#endif
}

// QT: qproj_f32's output in its fragment order (frag_index in kernels/qproj.cu); rowmax: [2 parities][2][32],
// this solve's at `parity` (the other is cleared for the next solve); codebook: [C]. ablation (a measurement aid, 0 in normal use): 1 = consumers skip
// the mma (streaming and pipeline only), 2 = the producer loads nothing (compute on stale shared memory only).
#define SCORES_PARAMS                                                                                      \
    const unsigned char *__restrict__ kidx, const unsigned char *__restrict__ signs,                      \
        const float *__restrict__ gamma, const float *__restrict__ QT, unsigned int *__restrict__ rowmax, \
        const float *__restrict__ codebook, float *__restrict__ scores, int B, int S, int C, float coef,  \
        int Drow, int KS, int ntiles, int NS, int stage_bytes, int parity, int ablation, u64 *trace
#define SCORES_ARGS \
    kidx, signs, gamma, QT, rowmax, codebook, scores, B, S, C, coef, Drow, KS, ntiles, NS, stage_bytes, parity, \
        ablation, trace

#define KERNEL(name, mt, tr)                                                    \
    extern "C" __global__ void __launch_bounds__(THREADS, 1) name(SCORES_PARAMS) { \
        scores_body<mt, tr>(SCORES_ARGS);                                          \
    }
KERNEL(warpspec_scores_mt1, 1, false)
KERNEL(warpspec_scores_mt2, 2, false)
KERNEL(warpspec_scores_mt1_trace, 1, true)  // the same with JUDGE_KERNEL_TRACE's stamps
KERNEL(warpspec_scores_mt2_trace, 2, true)

// ---------------------------------------------------------------------------------------------------------------
// The int8 path (sm_90a, C <= 16; chosen by JUDGE_WARPSPEC_I8=on or l3, a measured alternative that is not the
// default: kernels/NOTES.md, "v12"). The same products in integers, on the tensor cores' s8 rate (twice fp16's),
// with no shared-memory lookups feeding the operands:
//
//   cb'[c] = n_c 2^-22,  Qp'[b,d] = m 2^-22,  Qs'[b,d] = q 2^-22   (the scaled values of the fp16 path, rounded)
//
// and each of the integers n, m, q (|x| <= 2^22) written as three signed bytes, x = x0 2^16 + x1 2^8 + x2
// (x0 in [-64, 64]; x1, x2 in [-128, 127]). Per k-step of 32 dimensions:
//   * signs: the raw sign bytes (+-1 as s8) are A as they arrive; B is q's three limbs (N = 96: limb-major, 32
//     queries each). The three s32 sums recombine exactly: sum sign.q = S0 2^16 + S1 2^8 + S2.
//   * codebook: A is n's limbs of each key's indices, looked up in registers by byte permutes (prmt picks 4
//     bytes out of 8 by the 4 index nibbles: 16 entries are two prmt and a select, for 4 indices at once);
//     B is m's limbs. The products n_i m_j go to levels L = i + j < LV (L0 = n0 m0, L1 = n0 m1 + n1 m0, ...):
//     sum n.m ~ 2^32 (L0 + L1 2^-8 + L2 2^-16 + L3 2^-24). The accumulator columns hold the levels last first
//     ([L3|L2|L1|L0], 32 queries each), and B is [0|m2|m1|m0], so that each limb's wgmma writes a prefix of
//     them (ptxas serialises wgmma whose accumulators start elsewhere in an array): n2 x [m1|m0] (N = 64),
//     n1 x [m2|m1|m0] (96), n0 x [0|m2|m1|m0] (128). With LV = 3 (no L3): [L2|L1|L0], n2 x [m0], n1 x [m1|m0],
//     n0 x [m2|m1|m0], 192 columns instead of 288. Relative error against f64 in an emulation of the scheme on
//     the perf case: 5.6e-7 with L3 (the dropped L4 = n2 m2), 3.0e-6 without.
//
// The block is the 8 consumer warps alone (256 threads, so up to 255 registers a thread: the accumulators take
// 112): thread 0 requests each warpgroup's first tile at the start and the rest of the ring after the set-up,
// and a warpgroup refills the stage of a tile it has read with the tile NS later. Dimension order within a
// thread's 8 dimensions D0..D0+7 of a k-step (bytes 16t + 8h .. + 7 of its key rows, h the k-step's half of its
// 64-dimension group): signs in order (A register 0: D0..D0+3, K 4t..4t+3; register 2: D0+4..D0+7, K 16+4t..);
// codebook interleaved as the lookup makes it (register 0: D0, D0+4, D0+1, D0+5; register 2: D0+2, D0+6, D0+3,
// D0+7). The set-up writes Qp's and Qs's limbs in those two orders.
#define I8_THREADS 256  // threads of the int8 kernels: two consumer warpgroups, no producer warp
#define I8_WARPS (I8_THREADS / 32)
#if HAVE_WGMMA

// A prmt in its default mode, where bit 3 of a selector nibble replicates the sign of the byte picked.
__device__ __forceinline__ u32 prmt(u32 a, u32 b, u32 sel) {
    u32 r;
    asm("prmt.b32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(sel));
    return r;
}

// The codebook limbs of one key row's 8 indices (each < 16) of a k-step: wa holds those of D0..D0+3, wc of
// D0+4..D0+7. tl[l] is limb l's table, a byte per entry (entries 0-3 in tl[l][0], ..., 12-15 in tl[l][3]).
// r0[l] gets the limbs of D0, D0+4, D0+1, D0+5 and r1[l] of D0+2, D0+6, D0+3, D0+7.
__device__ __forceinline__ void expand_i8(u32 wa, u32 wc, const u32 (&tl)[3][4], u32 (&r0)[3], u32 (&r1)[3]) {
    const u32 y = wa | (wc << 4);      // nibble 2r: the index of byte r of wa; nibble 2r + 1: of wc
    const u32 y7 = y & 0x77777777u;    // each index mod 8: a byte of a table's half
    const u32 y4 = y << 4;
    // 0xff in the bytes whose index is 8 or more (bit 3 of its nibble, which is the top bit of a byte of y or
    // of y4), for the first and the second 4 nibbles.
    const u32 m0 = prmt(y4, y, 0xD9C8u), m1 = prmt(y4, y, 0xFBEAu);
    const u32 s1 = y7 >> 16;
#pragma unroll
    for (int l = 0; l < 3; ++l) {
        const u32 a0 = prmt(tl[l][0], tl[l][1], y7), b0 = prmt(tl[l][2], tl[l][3], y7);
        const u32 a1 = prmt(tl[l][0], tl[l][1], s1), b1 = prmt(tl[l][2], tl[l][3], s1);
        r0[l] = (a0 & ~m0) | (b0 & m0);
        r1[l] = (a1 & ~m1) | (b1 & m1);
    }
}

// The three limbs of x (|x| <= 2^22), as bytes in the low bits of l0, l1, l2 (x = l0 2^16 + l1 2^8 + l2).
__device__ __forceinline__ void limbs_i8(int x, u32& l0, u32& l1, u32& l2) {
    const int x1 = (x + 128) >> 8;  // x = 256 x1 + (x mod 256, in [-128, 127])
    l2 = (u32)x & 255u;
    l1 = (u32)x1 & 255u;
    l0 = (u32)((x1 + 128) >> 8) & 255u;
}

// Packs the low bytes of four words into one (the first in the low byte).
__device__ __forceinline__ u32 pack4(u32 a, u32 b, u32 c, u32 d) {
    return __byte_perm(__byte_perm(a, b, 0x0040), __byte_perm(c, d, 0x0040), 0x5410);
}

// The limbs of four scaled values (x * 2^22 rounded), stored as limb words: limb l at at + l * step (an N group
// of 32 queries is 4 core-matrix rows of 256 bytes).
__device__ __forceinline__ void store_limbs(unsigned char* at, int step, float x0, float x1, float x2, float x3) {
    u32 a[4][3];
    const float x[4] = {x0, x1, x2, x3};
#pragma unroll
    for (int r = 0; r < 4; ++r) limbs_i8(__float2int_rn(x[r] * 4194304.0f), a[r][0], a[r][1], a[r][2]);
#pragma unroll
    for (int l = 0; l < 3; ++l) *reinterpret_cast<u32*>(at + l * step) = pack4(a[0][l], a[1][l], a[2][l], a[3][l]);
}

// Gives each operand register of a k-step a value defined here, by an instruction of its own. Without it, the
// signs (the key bytes as loaded) shared their PTX registers with the loads of the next 64-dimension group, which
// NVVM issued while the k-step that reads them was still in flight (keep() preserved their values by copying
// them instead): the PTX overwrote a wgmma's A registers before its wait.
__device__ __forceinline__ void fresh(u32 (&a)[4][4]) {
#pragma unroll
    for (int l = 0; l < 4; ++l)
#pragma unroll
        for (int i = 0; i < 4; ++i) asm volatile("mov.b32 %0, %1;" : "=r"(a[l][i]) : "r"(a[l][i]));
}

// One commit group, the 4 wgmma of a k-step of 32 dimensions: a[0..2] the codebook limbs, a[3] the signs; qp,
// qs the shared addresses of the k-step's B operands: [0|m2|m1|m0] and [q0|q1|q2], 1 KB per group of 32 columns.
template <int LV>
__device__ __forceinline__ void issue_step_i8(int (&acc1)[16 * LV], int (&acc2)[48], const u32 (&a)[4][4], u32 qp,
                                              u32 qs) {
    wgmma_fence();
    if (LV == 4)
        wgmma_s8_n128(acc1, a[0][0], a[0][1], a[0][2], a[0][3], make_desc(qp, 128, 256), 1);
    else
        wgmma_s8_n96(acc1, a[0][0], a[0][1], a[0][2], a[0][3], make_desc(qp + 1024, 128, 256), 1);
    wgmma_s8_n96(acc2, a[3][0], a[3][1], a[3][2], a[3][3], make_desc(qs, 128, 256), 1);
    if (LV == 4) {
        wgmma_s8_n96(acc1, a[1][0], a[1][1], a[1][2], a[1][3], make_desc(qp + 1024, 128, 256), 1);
        wgmma_s8_n64(acc1, a[2][0], a[2][1], a[2][2], a[2][3], make_desc(qp + 2048, 128, 256), 1);
    } else {
        wgmma_s8_n64(acc1, a[1][0], a[1][1], a[1][2], a[1][3], make_desc(qp + 2048, 128, 256), 1);
        wgmma_s8_n32(acc1, a[2][0], a[2][1], a[2][2], a[2][3], make_desc(qp + 3072, 128, 256), 1);
    }
    wgmma_commit();
}
#endif

// Shared memory as scores_body's, but the operands: per k-step of 32 dimensions, Qp's limbs (4 KB: 128 N rows of
// 32 bytes, core matrix (n / 8, k / 16) at (n / 8) * 256 + (k / 16) * 128, the first 32 rows zero), then, after
// KS / 2 such k-steps, Qs's (3 KB a k-step). Trace slots as scores_body's, but thread 0 stamps 1 (the ring's
// requests issued) and 2, 3 are not stamped.
//
// KG, the number of 64-dimension groups, is a constant, and the loop over them unrolled: ptxas let a register
// of an in-flight k-step's A be reused across the back edge of a loop over the groups (seen in the SASS: at
// the loop's top, before the wait that retires the previous group's last k-step), and with a trip count known
// only at run time (ablation 1 of the fp16 kernel, which these kernels leave out) it serialised every wgmma.
template <int LV, int KG, bool TR>
__device__ __forceinline__ void scores_body_i8(SCORES_PARAMS) {
#if HAVE_WGMMA
    extern __shared__ __align__(128) unsigned char smem[];
    u64* full = reinterpret_cast<u64*>(smem);
    __shared__ __align__(16) unsigned char tabi8[3][16];  // the codebook's limbs, a byte per entry
    float* scl = reinterpret_cast<float*>(smem + OFF_SCALES);
    unsigned char* qf = smem + OFF_QF;
    float* out_stage = staged_scores(smem, KS);
    unsigned char* stages = ring_stages(out_stage);

    if (!TR) trace = nullptr;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int my_tiles = block_tiles(ntiles);
    const u32 row_bytes = (u32)(TILE_KEYS * Drow);
    const int KS32 = KS / 2;  // KS = 4 KG
    auto issue = [&](int k) {
        request_block_tile(k, stages, full, NS, stage_bytes, kidx, signs, gamma, row_bytes, ablation);
    };
    const int early = min(my_tiles, min(NS, TILE_GROUPS));
    if (tid == 0) {
        stamp(trace, 0);
        for (int i = 0; i < NS; ++i) mbar_init(&full[i], 1);
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
        for (int k = 0; k < early; ++k) issue(k);
    }
    __syncwarp();  // warp 0 whole again before its warp-wide instructions

    // The codebook's scale (largest |level| then in [0.5, 1); every warp finds it) and its limbs.
    const int ecb = codebook_exponent(codebook, C, lane);
    if (tid < 16) {
        u32 l0, l1, l2;
        limbs_i8(tid < C ? __float2int_rn(codebook[tid] * ldexpf(1.0f, -ecb) * 4194304.0f) : 0, l0, l1, l2);
        tabi8[0][tid] = (unsigned char)l0;
        tabi8[1][tid] = (unsigned char)l1;
        tabi8[2][tid] = (unsigned char)l2;
    }

    asm volatile("griddepcontrol.wait;" ::: "memory");
    if (tid == 0) stamp(trace, 4);
    const unsigned int* rmax = rowmax + parity * 64;
    if (blockIdx.x == 0 && tid < 64) rowmax[(1 - parity) * 64 + tid] = 0u;  // for the next solve
    const u32 rmp = tid < 32 ? rmax[tid] : 0u, rms = tid < 32 ? rmax[32 + tid] : 0u;
    // Operands: task (mat, G, h, mt) is one warp's: lane (g8, t) reads the values of query rows q = 16 mt + g8 and
    // q + 8 at dimensions D0..D0+7 = 64 G + 16 t + 8 h + (0..7) (fp16 k-steps 4G + 2h and 4G + 2h + 1 of
    // qproj_f32's fragment order, two 16-byte loads each), scales each row by 2^(22 - e), rounds, and stores the
    // limbs of each row's 8 values as two words per limb. Two tasks' loads are in flight at once.
    const int ntasks = 2 * KG * 2 * 2;
    const float4* qt4 = reinterpret_cast<const float4*>(QT);
    const int g8 = lane >> 2, t = lane & 3;
    for (int task0 = warp; task0 < ntasks; task0 += 2 * I8_WARPS) {
        float4 va[2][2], vc[2][2];
        u32 rm[2][2];
#pragma unroll
        for (int u = 0; u < 2; ++u) {
            // Past the last task a warp reloads the last one (unused), so the loads stay unconditional.
            const int task = min(task0 + I8_WARPS * u, ntasks - 1);
            const int mt = task & 1, h = (task >> 1) & 1, G = (task >> 2) % KG, mat = (task >> 2) / KG;
            const int unit = ((mat * KS + 4 * G + 2 * h) * 2 + mt) * 32 + lane;
#pragma unroll
            for (int hq = 0; hq < 2; ++hq) {
                rm[u][hq] = rmax[mat * 32 + 16 * mt + g8 + 8 * hq];
                va[u][hq] = qt4[2 * unit + hq];
                vc[u][hq] = qt4[2 * (unit + 64) + hq];
            }
        }
#pragma unroll
        for (int u = 0; u < 2; ++u) {
            const int task = task0 + I8_WARPS * u;
            if (task >= ntasks) break;
            const int mt = task & 1, h = (task >> 1) & 1, G = (task >> 2) % KG, mat = (task >> 2) / KG;
#pragma unroll
            for (int hq = 0; hq < 2; ++hq) {
                const int q = 16 * mt + g8 + 8 * hq;
                const float sc = __int_as_float((127 - exponent_of_bits(rm[u][hq])) << 23);  // 2^-e
                const float4 a = va[u][hq], c = vc[u][hq];
                // Query q of limb l, K half kh of k-step 2G + h: N row 32 (3 - l) + q of Qp's, 32 l + q of Qs's.
                const int at_q = (q >> 3) * 256 + (q & 7) * 16 + 4 * t;
                if (mat == 0) {  // the codebook's interleaved order
                    unsigned char* at = qf + (2 * G + h) * 4096 + 3072 + at_q;
                    store_limbs(at, -1024, a.x * sc, c.x * sc, a.y * sc, c.y * sc);
                    store_limbs(at + 128, -1024, a.z * sc, c.z * sc, a.w * sc, c.w * sc);
                } else {  // the signs' order
                    unsigned char* at = qf + KS32 * 4096 + (2 * G + h) * 3072 + at_q;
                    store_limbs(at, 1024, a.x * sc, a.y * sc, a.z * sc, a.w * sc);
                    store_limbs(at + 128, 1024, c.x * sc, c.y * sc, c.z * sc, c.w * sc);
                }
            }
        }
    }
    for (int i = tid; i < KS32 * 64; i += I8_THREADS)  // the zero group of Qp's B
        reinterpret_cast<uint4*>(qf + (i >> 6) * 4096)[i & 63] = make_uint4(0u, 0u, 0u, 0u);
    if (tid == 0) stamp(trace, 5);
    if (tid < 32) store_scales(scl, tid, rmp, rms, ecb, coef);
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");  // the tensor cores read what was written
    __syncthreads();
    if (tid == 0) {
        stamp(trace, 6);
        for (int k = early; k < min(my_tiles, NS); ++k) issue(k);
        stamp(trace, 1);
    }
    __syncwarp();

    // Consumers: warpgroup wg takes tiles wg, wg + 2, ...; warp q of it the keys 16q..16q+15 of a tile as M rows,
    // lane (g, t) the keys 16q + g and 16q + g + 8.
    const int wg = warp >> 2, wq = warp & 3, g = g8;
    u32 tl[3][4];
#pragma unroll
    for (int l = 0; l < 3; ++l)
#pragma unroll
        for (int i = 0; i < 4; ++i) tl[l][i] = reinterpret_cast<const u32*>(tabi8[l])[i];
    const u32 qf_s = smem_u32(qf);
    float alpha[4][2], beta[4][2];
    load_scales(scl, t, alpha, beta);
    const bool wide_out = (S & 3) == 0;
    float* out_rows = out_stage + wg * 32 * OUT_LD;
    for (int k = wg; k < my_tiles; k += 2) {
        wait_stage(k, full, NS);
        if (lane == 0 && wq == 0 && k == wg) stamp(trace, wg == 0 ? 7 : 10);
        __syncwarp();  // (a branch left open before the wgmma makes ptxas serialise them)
        const Stage stage = stage_of(k, stages, NS, stage_bytes, row_bytes);
        int acc1[16 * LV], acc2[48];
#pragma unroll
        for (int x = 0; x < 16 * LV; ++x) acc1[x] = 0;
#pragma unroll
        for (int x = 0; x < 48; ++x) acc2[x] = 0;
        // Two register sets, for the two k-steps of a 64-dimension group: the second is expanded while the first's
        // wgmma run, the next group's first while the second's run.
        u32 a[2][4][4];
#pragma unroll
        for (int G = 0; G < KG; ++G) {
            uint4 ri[2], rs[2];
            load_group(stage.idx, stage.sgn, 16 * wq + g, Drow, G, t, (g & 1) != 0, ri, rs);
#pragma unroll
            for (int h = 0; h < 2; ++h) {
#pragma unroll
                for (int i = 0; i < 2; ++i) {
                    u32 r0[3], r1[3];
                    expand_i8(word(ri[i], 2 * h), word(ri[i], 2 * h + 1), tl, r0, r1);
#pragma unroll
                    for (int l = 0; l < 3; ++l) {
                        a[h][l][i] = r0[l];
                        a[h][l][2 + i] = r1[l];
                    }
                    a[h][3][i] = word(rs[i], 2 * h);
                    a[h][3][2 + i] = word(rs[i], 2 * h + 1);
                }
                fresh(a[h]);
                issue_step_i8<LV>(acc1, acc2, a[h], qf_s + (2 * G + h) * 4096,
                                  qf_s + KS32 * 4096 + (2 * G + h) * 3072);
                // The other k-step's wgmma are then complete: its registers may be rewritten.
                wgmma_wait<1>();
#pragma unroll
                for (int l = 0; l < 4; ++l) keep(a[h ^ 1][l]);
            }
        }
        wgmma_wait<0>();
#pragma unroll
        for (int x = 0; x < 16 * LV; ++x) keep(acc1[x]);
#pragma unroll
        for (int x = 0; x < 48; ++x) keep(acc2[x]);
        if (lane == 0 && wq == 0 && k == wg) stamp(trace, wg == 0 ? 8 : 11);
        const int s0 = (int)(block_tile(k) * TILE_KEYS);
        float gm[2];
#pragma unroll
        for (int r = 0; r < 2; ++r) gm[r] = stage.gam[16 * wq + g + 8 * r];
        // Every warp of the warpgroup has read the stage (and its previous tile's staged scores): refill it.
        asm volatile("bar.sync %0, 128;" ::"r"(2 + wg) : "memory");
        if (wq == 0 && lane == 0 && k + NS < my_tiles) issue(k + NS);
        __syncwarp();
        // Accumulator element 4i + x is key row 16 wq + g + 8 (x >> 1), column 8i + 2t + (x & 1): codebook level
        // L of query 8j + 2t + e at i = 4 (LV - 1 - L) + j, the signs' limb l at i = 4l + j.
        auto score = [&](int r, int j, int e) {
            const int x = 2 * r + e;
            float v1 = 0.0f;  // the levels, last first: sum L of L * 2^(-12 - 8L)
#pragma unroll
            for (int L = LV - 1; L >= 0; --L) v1 = fmaf((float)acc1[4 * (4 * (LV - 1 - L) + j) + x], exp2f(-12.0f - 8.0f * L), v1);
            const int q = acc2[4 * j + x] * 65536 + acc2[4 * (4 + j) + x] * 256 + acc2[4 * (8 + j) + x];
            return fmaf(beta[j][e] * gm[r], (float)q * 0x1p-22f, alpha[j][e] * v1);
        };
        store_tile(score, wide_out, true, out_rows, scores, wg, wq, lane, B, S, s0);
        if (tid == 0 && k == 0) stamp(trace, 9);
    }
    if (lane == 0 && wq == 0 && wg == 1) stamp(trace, 12);
#else
    __trap();  // needs the module compiled for sm_90a (the host never launches it otherwise)
#endif
}

// warpspec_scores_i8_l{LV}_g{KG}[_trace]: LV levels of limb products (4, or 3 without L3), KG groups of 64
// dimensions (D rounded up to 64, over 64).
#define KERNEL_I8(lv, kg)                                                                              \
    extern "C" __global__ void __launch_bounds__(I8_THREADS, 1)                                         \
        warpspec_scores_i8_l##lv##_g##kg(SCORES_PARAMS) {                                               \
        scores_body_i8<lv, kg, false>(SCORES_ARGS);                                                     \
    }                                                                                                   \
    extern "C" __global__ void __launch_bounds__(I8_THREADS, 1)                                         \
        warpspec_scores_i8_l##lv##_g##kg##_trace(SCORES_PARAMS) {                                       \
        scores_body_i8<lv, kg, true>(SCORES_ARGS);                                                      \
    }
KERNEL_I8(4, 1)
KERNEL_I8(4, 2)
KERNEL_I8(4, 3)
KERNEL_I8(4, 4)
KERNEL_I8(3, 1)
KERNEL_I8(3, 2)
KERNEL_I8(3, 3)
KERNEL_I8(3, 4)
