// wgmma probe: what bounds the products of cuda-warpspec's main loop (kernels/cuda_warpspec.cu) on an H100.
//
// Part 1 times wgmma alone, by shape: one commit group per step (wait_group 1 after each, as the kernel does),
// A from registers (RS) or shared memory (SS), B from shared memory, f32 accumulators, for one and two
// warpgroups per SM (132 blocks; the kernel's k-step also for three), in SM cycles (clock64) per step, and the
// multiply-adds per cycle per SM against the dense fp16 peak (989 TFLOP/s at 1.83 GHz on 132 SMs: 2,048 a cycle).
//
// Part 2 runs the kernel's k-step loop on a synthetic stage of 64 keys (random indices below 16, random signs),
// with the kernel's own load_group, expand_step and issue_step (kernels/cuda_warpspec.cu is included) and as the
// kernel does it (two register sets, wait_group 1, the codebook table in shared memory, the Qp/Qs operands a
// different 2 KB per k-step), and variations of it that switch one thing at a time, in cycles per k-step per
// warpgroup, for one and two warpgroups per SM, and the main ones for three. A few of them run again with clock
// stamps after each k-step's wait and issue, which split the k-step into the part before its issue ends and the
// wait.
//
//   nvcc -gencode arch=compute_90a,code=sm_90a -O3 -o /tmp/wgmma_probe tools/wgmma_probe.cu && /tmp/wgmma_probe
//
// Part 3 times one shared load (a dependent chain, one lane) beside and inside a warpgroup running the k-step's
// wgmma, and with none in flight; then a warpgroup's k-steps while the block's other warpgroup is idle or busy.
//
// The products are not checked: only the time of the instructions matters here. kernels/NOTES.md has the figures.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "cuda_check.cuh"

// The kernel's own helpers (load_group, expand_step, issue_step, the wgmma plumbing), in the order the judge
// prepends them for NVRTC (solutions/src/cuda/mod.rs). Compiled for sm_90a, so HAVE_WGMMA is 1 in device code.
#include "../kernels/trace.cuh"
#include "../kernels/sm90.cuh"
#include "../kernels/cuda_warpspec.cu"

// wgmma m64nNk16, f16 operands, f32 accumulators (N / 2 per thread), scale 1, B not transposed. The accumulator
// operands: their names in the instruction (ACCn) and the bindings (OUTn).
#define ACC16 "%0,%1,%2,%3,%4,%5,%6,%7,%8,%9,%10,%11,%12,%13,%14,%15"
#define ACC32 ACC16 ",%16,%17,%18,%19,%20,%21,%22,%23,%24,%25,%26,%27,%28,%29,%30,%31"
#define ACC64 ACC32 ",%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47" \
                    ",%48,%49,%50,%51,%52,%53,%54,%55,%56,%57,%58,%59,%60,%61,%62,%63"
#define ACC128 ACC64 ",%64,%65,%66,%67,%68,%69,%70,%71,%72,%73,%74,%75,%76,%77,%78,%79" \
                     ",%80,%81,%82,%83,%84,%85,%86,%87,%88,%89,%90,%91,%92,%93,%94,%95" \
                     ",%96,%97,%98,%99,%100,%101,%102,%103,%104,%105,%106,%107,%108,%109,%110,%111" \
                     ",%112,%113,%114,%115,%116,%117,%118,%119,%120,%121,%122,%123,%124,%125,%126,%127"
#define OUT4(i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3])
#define OUT16(i) OUT4(i), OUT4(i + 4), OUT4(i + 8), OUT4(i + 12)
#define OUT32(i) OUT16(i), OUT16(i + 16)
#define OUT64(i) OUT32(i), OUT32(i + 32)
#define OUT128 OUT64(0), OUT64(64)
#define ACC48 ACC32 ",%32,%33,%34,%35,%36,%37,%38,%39,%40,%41,%42,%43,%44,%45,%46,%47"
#define OUTI4(i) "+r"(d[i]), "+r"(d[i + 1]), "+r"(d[i + 2]), "+r"(d[i + 3])
#define OUTI16(i) OUTI4(i), OUTI4(i + 4), OUTI4(i + 8), OUTI4(i + 12)

// A from registers: operand numbers after the NA accumulators.
#define RS_WGMMA(N, NA, A0, A1, A2, A3, B)                                                                      \
    __device__ __forceinline__ void rs_n##N(float* d, const u32(&a)[4], u64 b) {                                \
        asm volatile("wgmma.mma_async.sync.aligned.m64n" #N "k16.f32.f16.f16 {" ACC##NA "}, {%" #A0 ",%" #A1 \
                     ",%" #A2 ",%" #A3 "}, %" #B ", 1, 1, 1, 0;"                                                \
                     : OUT##NA##_ARGS                                                                           \
                     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));                                     \
    }
// A from shared memory through its descriptor.
#define SS_WGMMA(N, NA, A, B)                                                                                   \
    __device__ __forceinline__ void ss_n##N(float* d, u64 a, u64 b) {                                           \
        asm volatile("wgmma.mma_async.sync.aligned.m64n" #N "k16.f32.f16.f16 {" ACC##NA "}, %" #A ", %" #B      \
                     ", 1, 1, 1, 0, 0;"                                                                         \
                     : OUT##NA##_ARGS                                                                           \
                     : "l"(a), "l"(b));                                                                         \
    }
#define OUT16_ARGS OUT16(0)
#define OUT32_ARGS OUT32(0)
#define OUT64_ARGS OUT64(0)
#define OUT128_ARGS OUT128
RS_WGMMA(32, 16, 16, 17, 18, 19, 20)
RS_WGMMA(64, 32, 32, 33, 34, 35, 36)
RS_WGMMA(128, 64, 64, 65, 66, 67, 68)
RS_WGMMA(256, 128, 128, 129, 130, 131, 132)
SS_WGMMA(32, 16, 16, 17)
SS_WGMMA(64, 32, 32, 33)
SS_WGMMA(128, 64, 64, 65)
SS_WGMMA(256, 128, 128, 129)
// wgmma m64n96k32 with s8 operands, A (4 registers of 4 bytes) from registers, s32 accumulators (48 per thread).
__device__ __forceinline__ void rs_s8_n96(int* d, const u32 (&a)[4], u64 b) {
    asm volatile("wgmma.mma_async.sync.aligned.m64n96k32.s32.s8.s8 {" ACC48 "}, {%48,%49,%50,%51}, %52, 1;"
                 : OUTI16(0), OUTI16(16), OUTI16(32)
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b));
}

#define BLOCKS 132
#define MAX_WG 4     // warpgroups per block at most (four only in the loops run with W = 4)
#define CYC_SLOTS 4  // slots of cyc per block: one per warpgroup, or (stamped loops) the figures of warpgroup 0

// Runs `launch` twice (the first warms up) and returns the cycle slots that the second run wrote.
template <typename Launch>
static std::vector<unsigned long long> cycles_of(Launch launch, unsigned long long* dcyc) {
    for (int rep = 0; rep < 2; ++rep) launch();
    CHECK(cudaGetLastError());
    CHECK(cudaDeviceSynchronize());
    std::vector<unsigned long long> cyc(CYC_SLOTS * BLOCKS);
    CHECK(cudaMemcpy(cyc.data(), dcyc, cyc.size() * sizeof(cyc[0]), cudaMemcpyDeviceToHost));
    return cyc;
}

// The median over the blocks of slots first .. first + n - 1 of `cyc`, each divided by `steps`.
static double median_of_slots(const std::vector<unsigned long long>& cyc, int first, int n, double steps) {
    std::vector<double> per;
    for (int b = 0; b < BLOCKS; ++b)
        for (int w = 0; w < n; ++w) per.push_back((double)cyc[b * CYC_SLOTS + first + w] / steps);
    std::sort(per.begin(), per.end());
    return per[per.size() / 2];
}

// Runs `launch` twice, then returns the median over the blocks and warpgroups of the cycles that each warpgroup's
// first thread wrote to cyc[block * CYC_SLOTS + warpgroup], divided by `steps`.
template <typename Launch>
static double median_per_step(Launch launch, unsigned long long* dcyc, int nwg, double steps) {
    return median_of_slots(cycles_of(launch, dcyc), 0, nwg, steps);
}

// The wgmma B operands of every kernel here: 32 KB of fp16 values at `sm` (their values do not change the time).
__device__ __forceinline__ void fill_operands(unsigned char* sm) {
    for (int i = threadIdx.x; i < 32768 / 4; i += blockDim.x)
        reinterpret_cast<u32*>(sm)[i] = 0x3c003c00u ^ (i & 0x00ff00ffu);
}

// ---------------------------------------------------------------------------------------------------------------
// Part 1: wgmma alone.

enum Shape { KSTEP, RS32, RS64, RS128, RS256, SS64, SS128, SS256, NSHAPES };
static const char* shape_names[NSHAPES] = {
    "k-step of the kernel: RS n64 + n64 + n32", "RS n32", "RS n64", "RS n128", "RS n256", "SS n64", "SS n128",
    "SS n256"};
static const long shape_macs[NSHAPES] = {163840, 32768, 65536, 131072, 262144, 65536, 131072, 262144};

#define STEPS 512

// W: warpgroups a block may have (the register budget; a third warpgroup leaves too few for n256 to overlap).
template <int SH, int W>
__global__ void __launch_bounds__(128 * W, 1) shapes(unsigned long long* cyc, float* sink, int flag) {
#if HAVE_WGMMA  // the device pass for sm_90a (the host pass sees an empty body)
    __shared__ __align__(1024) unsigned char sm[32768];
    fill_operands(sm);
    __syncthreads();
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    const int wg = threadIdx.x >> 7;
    const u32 base = (u32)__cvta_generic_to_shared(sm) + 16384 * (wg & 1);  // a third warpgroup reads the first's
    const u64 db = make_desc(base, 128, 256), da = make_desc(base + 8192, 128, 256);
    u32 a1[4], a2[4], a3[4];
    for (int i = 0; i < 4; ++i) {
        a1[i] = 0x3c003c00u + threadIdx.x;
        a2[i] = 0x3c00bc00u;
        a3[i] = 0x1c001c00u + i;
    }
    float acc1[128], acc2[32];
#pragma unroll
    for (int i = 0; i < 128; ++i) acc1[i] = 0.0f;
#pragma unroll
    for (int i = 0; i < 32; ++i) acc2[i] = 0.0f;
    __syncthreads();
    const long long t0 = clock64();
    for (int it = 0; it < STEPS; ++it) {
        wgmma_fence();
        if (SH == KSTEP) {
            rs_n64(acc1, a1, db);
            rs_n64(acc2, a2, db + 128);
            rs_n32(acc1, a3, db);
        }
        if (SH == RS32) rs_n32(acc1, a1, db);
        if (SH == RS64) rs_n64(acc1, a1, db);
        if (SH == RS128) rs_n128(acc1, a1, db);
        if (SH == RS256) rs_n256(acc1, a1, db);
        if (SH == SS64) ss_n64(acc1, da, db);
        if (SH == SS128) ss_n128(acc1, da, db);
        if (SH == SS256) ss_n256(acc1, da, db);
        wgmma_commit();
        wgmma_wait<1>();
    }
    wgmma_wait<0>();
    const long long t1 = clock64();
    if ((threadIdx.x & 127) == 0) cyc[blockIdx.x * CYC_SLOTS + wg] = (unsigned long long)(t1 - t0);
    if (flag) {  // never set: keeps the accumulators live
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < 128; ++i) s += acc1[i];
#pragma unroll
        for (int i = 0; i < 32; ++i) s += acc2[i];
        sink[blockIdx.x * blockDim.x + threadIdx.x] = s;
    }
#endif
}

template <int SH, int W = 2>
static void run_shape(int nwg, unsigned long long* dcyc, float* sink) {
    const double med =
        median_per_step([&] { shapes<SH, W><<<BLOCKS, 128 * nwg>>>(dcyc, sink, 0); }, dcyc, nwg, STEPS);
    const double rate = shape_macs[SH] * nwg / med;
    printf("| %-42s | %d | %7.1f | %6.0f | %5.1f%% |\n", shape_names[SH], nwg, med, rate, 100.0 * rate / 2048.0);
}

// ---------------------------------------------------------------------------------------------------------------
// Part 2: the kernel's k-step loop and variations.

enum Loop {
    SHIPPED,       // as the kernel: lookups in the shared table, 2 register sets, wait_group 1
    WGMMA_ONLY,    // the wgmma of the loop, on A registers expanded once
    EXPAND_ONLY,   // the expansion of the loop (key rows, lookups, permutes), no wgmma
    EXPAND_APART,  // the expansion into registers no wgmma reads; the wgmma on constant A registers
    ALU_APART,     // 40 integer instructions on registers no wgmma reads (no loads); the wgmma on constant A
    NO_LOOKUP,     // the expansion with the table lookups replaced by arithmetic (key rows still loaded)
    FOUR_SETS,     // 4 register sets, wait_group 3: three k-steps in flight
    NO_OVERLAP,    // wait_group 0 after each k-step
    AHEAD,         // k-step ks + 1 expanded right after k-step ks is issued (4 register sets, wait_group 1)
    AHEAD2,        // the same with wait_group 2
    PERMUTE,       // lookups by byte permutes of the 16-entry table held in registers (C <= 16), no shared loads
    SS_RING,       // the expanded keys stored to shared memory (a ring of 4) and read from there (SS), wait_group 1
    S8_SIGNS,      // the signs' product by one s8 wgmma (m64n96k32) per 32 dimensions on the raw sign bytes as A
    REWRITE_1,     // no expansion: one of the three A operands rewritten by one ALU instruction a register per k-step
    REWRITE_3,     // the same for all three A operands
    REWRITE_LDS,   // all three, each register XORed with its own shared-memory load (12 independent loads)
    REWRITE_CHAIN, // all three, XORed with the end of a chain of 16 dependent integer multiply-adds
    REWRITE_LDS_AHEAD,  // as REWRITE_LDS, each k-step's 12 loads issued two k-steps before their use
    REWRITE_LDS_PINNED, // the same, each loaded word passed through an identity shuffle at its use (an attempt to
                        // keep ptxas from moving the use next to the loads; it moved the shuffles there too)
    REWRITE_LDS_CLOCKPIN,  // as REWRITE_LDS_AHEAD, each use XORed with a zero that ptxas cannot know (the clock,
                           // read after the previous k-step's wait, masked by the kernel's zero argument)
    AHEAD2_LOOKUPS,      // the shipped expansion with each k-step's table loads issued two k-steps ahead
    AHEAD2_LOOKUPS_PIN,  // the same, the byte permutes that use the loads pinned after the wait by a clock zero
    REWRITE_3_CLOCKPIN,  // REWRITE_3 with each XOR also taking the clock zero: what the pin costs by itself
    FRAG_LDS3,  // A fragments expanded beforehand (by other warps, say) into shared memory: 3 16-byte loads a k-step
    FRAG_LDS2,  // the same for codebook hi and lo only (2 loads), the signs made from the key rows as shipped
    WGMMA_SPIN,    // WGMMA_ONLY with a 150-cycle spin on the clock between each issue and its wait
    SHIPPED_SPIN,  // SHIPPED with the same spin
    BATCH2,  // two k-steps expanded (two register sets), both issued, then wait_group 0: the warpgroup idles while
             // its wgmma run
    BATCH4,  // the same with a group's four k-steps (four register sets)
    NLOOPS
};
static const char* loop_names[NLOOPS] = {
    "shipped: shared table, 2 register sets, wait 1", "wgmma only (A expanded once)", "expansion only (no wgmma)",
    "expansion to unused registers, wgmma on constant A", "40 ALU instructions, wgmma on constant A",
    "lookups replaced by arithmetic", "4 register sets, wait 3", "no overlap (wait 0)",
    "next k-step expanded after the issue, wait 1", "next k-step expanded after the issue, wait 2",
    "lookups by byte permutes of a table in registers", "keys through shared memory (SS), proxy fence per k-step",
    "signs by an s8 wgmma on the raw sign bytes (n96, k32)",
    "no expansion; 1 of 3 A operands rewritten by ALU", "no expansion; all 3 A operands rewritten by ALU",
    "no expansion; all 3 rewritten with 12 shared loads", "no expansion; all 3 rewritten after a 16-IMAD chain",
    "no expansion; the 12 shared loads two k-steps ahead", "the same, each word through a shuffle at its use",
    "the same, each use XORed with a clock zero", "table loads two k-steps ahead", "the same, uses pinned by a clock zero",
    "no expansion; all 3 rewritten by ALU with a clock zero", "A fragments from shared memory, 3 loads",
    "codebook fragments from shared memory, 2 loads; signs", "wgmma only, a 150-cycle spin before each wait",
    "shipped, a 150-cycle spin before each wait", "two k-steps expanded, issued, then wait 0",
    "four k-steps expanded, issued, then wait 0"};

// A zero that ptxas cannot know: the clock read here (it stays after the wgmma wait before it), masked by `zero`,
// the kernel's never-set argument. Whatever uses it cannot be scheduled before this point.
__device__ __forceinline__ u32 pinned_zero(int zero) {
    u32 c;
    asm volatile("mov.u32 %0, %%clock;" : "=r"(c)::"memory");
    return c & (u32)zero;
}

// The table entries of k-step j of the lane's two key rows (expand_word's loads).
__device__ __forceinline__ void lookups(u32 tb, const uint4 (&ri)[2], int j, u32 (&e)[8]) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const u32 w = word(ri[i], j);
        e[4 * i] = tab_entry(tb, w << 2);
        e[4 * i + 1] = tab_entry(tb, w >> 6);
        e[4 * i + 2] = tab_entry(tb, w >> 14);
        e[4 * i + 3] = tab_entry(tb, w >> 22);
    }
}
// expand_step's permutes and signs on entries looked up before; z (zero) joins every permute's selector.
__device__ __forceinline__ void permute_looked_up(const u32 (&e)[8], const uint4 (&rs)[2], int j, u32 z,
                                                  u32 (&hi)[4], u32 (&lo)[4], u32 (&sg)[4]) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const u32 sw = word(rs[i], j);
        hi[i] = __byte_perm(e[4 * i], e[4 * i + 1], 0x5410u | z);
        hi[2 + i] = __byte_perm(e[4 * i + 2], e[4 * i + 3], 0x5410u | z);
        lo[i] = __byte_perm(e[4 * i], e[4 * i + 1], 0x7632u | z);
        lo[2 + i] = __byte_perm(e[4 * i + 2], e[4 * i + 3], 0x7632u | z);
        sg[i] = sign_f16x2(__byte_perm(sw, 0u, 0x1000));
        sg[2 + i] = sign_f16x2(__byte_perm(sw, 0u, 0x3020));
    }
}

// The kernel's expand_step with each table lookup replaced by two integer instructions (no shared loads).
__device__ __forceinline__ void expand_step_arith(u32 tb, const uint4 (&ri)[2], const uint4 (&rs)[2], int j,
                                                  u32 (&hi)[4], u32 (&lo)[4], u32 (&sg)[4]) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const u32 w = word(ri[i], j), sw = word(rs[i], j);
        u32 e[4];
#pragma unroll
        for (int q = 0; q < 4; ++q) e[q] = (tb ^ ((q == 0 ? w << 2 : w >> (8 * q - 2)) & 0x3fcu)) * 0x9e3779b1u;
        hi[i] = __byte_perm(e[0], e[1], 0x5410);
        hi[2 + i] = __byte_perm(e[2], e[3], 0x5410);
        lo[i] = __byte_perm(e[0], e[1], 0x7632);
        lo[2 + i] = __byte_perm(e[2], e[3], 0x7632);
        sg[i] = sign_f16x2(__byte_perm(sw, 0u, 0x1000));
        sg[2 + i] = sign_f16x2(__byte_perm(sw, 0u, 0x3020));
    }
}

// The codebook values (hi and lo) of the 4 index bytes of w, each below 16, from the 16-entry table held in
// registers: H[k] = {hi(2k), hi(2k+1)}, L[k] the same for lo. Byte selectors for all four indices at once: s1 picks
// an entry within each quad of entries, s2 the odd quads (index bit 2), s3 the upper two quads (bit 3).
__device__ __forceinline__ void permute_lookup(const u32 (&H)[8], const u32 (&L)[8], u32 w, u32 (&hi2)[2],
                                               u32 (&lo2)[2]) {
    const u32 s1 = (w & 0x03030303u) * 0x22u + 0x10101010u;
    const u32 s2 = (w & 0x04040404u) * 0x11u + 0x32103210u;
    const u32 s3 = ((w >> 1) & 0x04040404u) * 0x11u + 0x32103210u;
#pragma unroll
    for (int p = 0; p < 2; ++p) {
        const u32 a = p ? s1 >> 16 : s1, b = p ? s2 >> 16 : s2, c = p ? s3 >> 16 : s3;
        u32 hq[4], lq[4];
#pragma unroll
        for (int q = 0; q < 4; ++q) {
            hq[q] = __byte_perm(H[2 * q], H[2 * q + 1], a);
            lq[q] = __byte_perm(L[2 * q], L[2 * q + 1], a);
        }
        hi2[p] = __byte_perm(__byte_perm(hq[0], hq[1], b), __byte_perm(hq[2], hq[3], b), c);
        lo2[p] = __byte_perm(__byte_perm(lq[0], lq[1], b), __byte_perm(lq[2], lq[3], b), c);
    }
}
__device__ __forceinline__ void expand_step_permute(const u32 (&H)[8], const u32 (&L)[8], const uint4 (&ri)[2],
                                                    const uint4 (&rs)[2], int j, u32 (&hi)[4], u32 (&lo)[4],
                                                    u32 (&sg)[4]) {
#pragma unroll
    for (int i = 0; i < 2; ++i) {
        const u32 sw = word(rs[i], j);
        u32 h2[2], l2[2];
        permute_lookup(H, L, word(ri[i], j), h2, l2);
        hi[i] = h2[0];
        hi[2 + i] = h2[1];
        lo[i] = l2[0];
        lo[2 + i] = l2[1];
        sg[i] = sign_f16x2(__byte_perm(sw, 0u, 0x1000));
        sg[2 + i] = sign_f16x2(__byte_perm(sw, 0u, 0x3020));
    }
}

#if HAVE_WGMMA  // the helpers below use kernels/cuda_warpspec.cu's device-pass-only keep and wgmma_wait
// Keeps every register set but `skip` alive up to here: a wgmma still in flight may read them.
template <int NSETS>
__device__ __forceinline__ void keep_sets_but(u32 (&ah)[NSETS][4], u32 (&al)[NSETS][4], u32 (&as)[NSETS][4],
                                              int skip) {
#pragma unroll
    for (int q = 0; q < NSETS; ++q)
        if (q != skip) keep(ah[q]), keep(al[q]), keep(as[q]);
}

// The end of a tile: every wgmma complete, and the accumulators they wrote kept.
__device__ __forceinline__ void finish_tile(float (&acc1)[32], float (&acc2)[32]) {
    wgmma_wait<0>();
    keep(acc1);
    keep(acc2);
}
#endif

#define TILES 64
#define STAGE_BYTES (2 * 64 * 128 + 64)

// One block per SM; warpgroup wg runs TILES tiles of 2 x 4 k-steps over the same stage (64 keys, D = 128).
// STAMP: the first thread of warpgroup 0 also reads the clock after each k-step's wait and after its issue, and
// sums the two parts of a k-step: from the wait's end to the issue's end (the expansion and the issue), and from
// there to the next wait's end (the wait), into cyc slots 2 and 3 (the clock reads may change the schedule).
// W: warpgroups a block may have (the register budget: 3 leaves 168 registers a thread, 4 leaves 128).
template <int L, bool STAMP = false, int W = 3>
__global__ void __launch_bounds__(128 * W, 1) loop(unsigned long long* cyc, float* sink, int flag) {
#if HAVE_WGMMA  // the device pass for sm_90a (the host pass sees an empty body)
    extern __shared__ __align__(128) unsigned char qf[];  // Qp/Qs operands: 16 k-steps x 2 KB, then (SS_RING) the
                                                          // A ring: 2 warpgroups x 4 slots x 3 matrices x 2 KB
    __shared__ __align__(1024) u32 tab[256];
    __shared__ __align__(128) unsigned char stage[STAGE_BYTES];
    for (int i = threadIdx.x; i < 256; i += blockDim.x) tab[i] = 0x1c003c00u + i;
    for (int i = threadIdx.x; i < STAGE_BYTES; i += blockDim.x) {
        u32 h = (u32)i * 2654435761u;
        h ^= h >> 13;
        h *= 0x5bd1e995u;
        h ^= h >> 15;
        stage[i] = i < 64 * 128 ? (unsigned char)(h & 15) : (unsigned char)((h & 1) ? 0xff : 0x01);
    }
    fill_operands(qf);
    __syncthreads();
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, wg = warp >> 2, wq = warp & 3;
    const int g = lane >> 2, t = lane & 3;
    const u32 tb = (u32)__cvta_generic_to_shared(tab), qf_s = (u32)__cvta_generic_to_shared(qf);
    // The stage as the kernel lays it out: indices [64][128], 64 bytes of skew, signs [64][128]; lanes of odd g
    // read the signs first.
    const unsigned char* sidx = stage;
    const unsigned char* ssgn = stage + 64 * 128 + 64;
    u32 th[8], tl[8];  // PERMUTE: the table in registers
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        th[k] = __byte_perm(tab[2 * k], tab[2 * k + 1], 0x5410);
        tl[k] = __byte_perm(tab[2 * k], tab[2 * k + 1], 0x7632);
    }
    float acc1[32], acc2[32];
#pragma unroll
    for (int x = 0; x < 32; ++x) acc1[x] = acc2[x] = 0.0f;
    // Register sets of expanded keys; set 2 is the constant one of the *_APART loops.
    constexpr int NSETS = (L == FOUR_SETS || L == AHEAD || L == AHEAD2 || L == BATCH4) ? 4
                          : (L == AHEAD2_LOOKUPS || L == AHEAD2_LOOKUPS_PIN) ? 2
                                                                              : 3;
    u32 ah[NSETS][4], al[NSETS][4], as[NSETS][4];
#pragma unroll
    for (int q = 0; q < NSETS; ++q)
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            ah[q][i] = 0x3c00u + i;
            al[q][i] = 0x1000u;
            as[q][i] = 0xbc00u;
        }
    if (L == WGMMA_ONLY || L == WGMMA_SPIN) {
        uint4 ri[2], rs[2];
        load_group(sidx, ssgn, 16 * wq + g, 128, 0, t, (g & 1) != 0, ri, rs);
        expand_step(tb, ri, rs, 0, ah[0], al[0], as[0]);
        expand_step(tb, ri, rs, 1, ah[1], al[1], as[1]);
    }
    __syncthreads();
    const long long t0 = clock64();
    if (L == AHEAD || L == AHEAD2) {
        // Both groups' key rows at the tile's start; k-step ks + 1 expanded while ks and ks - 1 are in flight.
        uint4 ri[2][2], rs[2][2];
        auto load_rows = [&]() {
#pragma unroll
            for (int G = 0; G < 2; ++G) load_group(sidx, ssgn, 16 * wq + g, 128, G, t, (g & 1) != 0, ri[G], rs[G]);
        };
        load_rows();
        expand_step(tb, ri[0], rs[0], 0, ah[0], al[0], as[0]);
        for (int tile = 0; tile < TILES; ++tile) {
#pragma unroll
            for (int ks = 0; ks < 8; ++ks) {
                const int b = ks & 3, n = (ks + 1) & 3;
                issue_step(acc1, acc2, ah[b], al[b], as[b], qf_s + ks * 2048, 8 * 2048);
                if (ks == 7) load_rows();  // the next tile's rows (the same stage here)
                const int G = ((ks + 1) >> 2) & 1, j = (ks + 1) & 3;
                expand_step(tb, ri[G], rs[G], j, ah[n], al[n], as[n]);
                if (L == AHEAD2) wgmma_wait<2>();
                else wgmma_wait<1>();
                keep_sets_but(ah, al, as, n);
            }
            finish_tile(acc1, acc2);
        }
    }
    if (L == AHEAD2_LOOKUPS || L == AHEAD2_LOOKUPS_PIN) {
        // k-step ks's table entries are loaded during k-step ks - 2, into the slot its own permutes free. So a
        // group's key rows are needed two k-steps before the group: group 1's are loaded in k-step 1, the next
        // tile's group 0 in k-step 5 (here the same stage; the loads stay in the loop, after a wait that
        // clobbers memory).
        uint4 ri[2][2], rs[2][2];
        load_group(sidx, ssgn, 16 * wq + g, 128, 0, t, (g & 1) != 0, ri[0], rs[0]);
        u32 e[2][8];
        lookups(tb, ri[0], 0, e[0]);
        lookups(tb, ri[0], 1, e[1]);
        for (int tile = 0; tile < TILES; ++tile) {
#pragma unroll
            for (int ks = 0; ks < 8; ++ks) {
                const int b = ks & 1, n = (ks + 2) & 7;
                const u32 z = L == AHEAD2_LOOKUPS_PIN ? pinned_zero(flag) : 0u;
                permute_looked_up(e[b], rs[ks >> 2], ks & 3, z, ah[b], al[b], as[b]);
                issue_step(acc1, acc2, ah[b], al[b], as[b], qf_s + ks * 2048, 8 * 2048);
                if (ks == 1) load_group(sidx, ssgn, 16 * wq + g, 128, 1, t, (g & 1) != 0, ri[1], rs[1]);
                if (ks == 5) load_group(sidx, ssgn, 16 * wq + g, 128, 0, t, (g & 1) != 0, ri[0], rs[0]);
                lookups(tb, ri[n >> 2], n & 3, e[b]);
                wgmma_wait<1>();
                keep_sets_but(ah, al, as, b);
            }
            finish_tile(acc1, acc2);
        }
    }
    // S8_SIGNS: s32 accumulators of the signs' product, and the sign words of the two 32-dimension steps in flight
    // (one unused accumulator elsewhere: 48 live registers more would change the other loops' code).
    constexpr int NACC3 = L == S8_SIGNS ? 48 : 1;
    int acc3[NACC3];
#pragma unroll
    for (int x = 0; x < NACC3; ++x) acc3[x] = 0;
    u32 sw[2][4];
    // REWRITE_LDS_AHEAD: a ring of 4 k-steps' loaded words; k-step ks uses ring slot ks % 4, loaded at ks - 2.
    constexpr bool RING = L == REWRITE_LDS_AHEAD || L == REWRITE_LDS_PINNED || L == REWRITE_LDS_CLOCKPIN;
    constexpr int NTP = RING ? 4 : 1;
    u32 tp[NTP][12];
    auto load_tp = [&](int slot, int n) {
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            tp[slot][i] = tab[(lane + 32 * i + n) & 255];
            tp[slot][4 + i] = tab[(lane + 32 * i + n + 128) & 255];
            tp[slot][8 + i] = tab[(lane + 32 * i + n + 64) & 255];
        }
    };
    if (RING) load_tp(0, 0), load_tp(1 % NTP, 1);
    constexpr bool OWN_LOOP = L == AHEAD || L == AHEAD2 || L == AHEAD2_LOOKUPS || L == AHEAD2_LOOKUPS_PIN;
    long long last_issue = -1, in_step = 0, in_wait = 0;
    auto stamp_clock = [&]() {
        long long c = 0;
        if (STAMP) asm volatile("mov.u64 %0, %%clock64;" : "=l"(c)::"memory");
        return c;
    };
    for (int tile = 0; tile < (OWN_LOOP ? 0 : TILES); ++tile) {
#pragma unroll
        for (int G = 0; G < 2; ++G) {
            uint4 ri[2], rs[2];
            load_group(sidx, ssgn, 16 * wq + g, 128, G, t, (g & 1) != 0, ri, rs);
#pragma unroll
            for (int j = 0; j < 4; ++j) {
                const int ks = 4 * G + j;
                const int b = L == FOUR_SETS ? (ks & 3) : (ks & 1);
                if (L == BATCH2 || L == BATCH4) {
                    constexpr int NB = L == BATCH2 ? 2 : 4;
                    if (j % NB != 0) continue;
#pragma unroll
                    for (int q = 0; q < NB; ++q) expand_step(tb, ri, rs, j + q, ah[q], al[q], as[q]);
#pragma unroll
                    for (int q = 0; q < NB; ++q)
                        issue_step(acc1, acc2, ah[q], al[q], as[q], qf_s + (ks + q) * 2048, 8 * 2048);
                    wgmma_wait<0>();
                    continue;
                }
                const long long waited = stamp_clock();
                if (STAMP && last_issue >= 0) in_wait += waited - last_issue;
                if (L == ALU_APART) {
                    u32 x0 = word(ri[0], j), x1 = word(rs[1], j), x2 = word(ri[1], j), x3 = word(rs[0], j);
#pragma unroll
                    for (int q = 0; q < 10; ++q) {
                        x0 = x0 * 3u + x1;
                        x1 ^= x2 >> 3;
                        x2 += x3;
                        x3 = __byte_perm(x3, x0, 0x5410);
                    }
                    keep(x0), keep(x1), keep(x2), keep(x3);
                } else if (L == REWRITE_LDS) {
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        ah[b][i] ^= tab[(lane + 32 * i + ks) & 255];
                        al[b][i] ^= tab[(lane + 32 * i + ks + 128) & 255];
                        as[b][i] ^= tab[(lane + 32 * i + ks + 64) & 255];
                    }
                } else if (RING) {
                    const int slot = ks % NTP;
                    const u32 z = L == REWRITE_LDS_CLOCKPIN ? pinned_zero(flag) : 0u;
                    // PINNED: through a shuffle, in the hope that ptxas keeps it after the previous k-step's wait.
                    auto use = [&](u32 v) { return L == REWRITE_LDS_PINNED ? __shfl_sync(~0u, v, lane) : v; };
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        ah[b][i] ^= use(tp[slot][i]) ^ z;
                        al[b][i] ^= use(tp[slot][4 + i]) ^ z;
                        as[b][i] ^= use(tp[slot][8 + i]) ^ z;
                    }
                    load_tp((ks + 2) % NTP, (ks + 2) & 7);
                } else if (L == REWRITE_CHAIN) {
                    u32 x = ah[b][0];
#pragma unroll
                    for (int q = 0; q < 16; ++q) x = x * 0x9e3779b1u + (u32)ks;
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        ah[b][i] ^= x;
                        al[b][i] ^= x + 1u;
                        as[b][i] ^= x + 2u;
                    }
                } else if (L == REWRITE_1 || L == REWRITE_3 || L == REWRITE_3_CLOCKPIN) {
                    // Fresh A values with no loads and no latency to speak of: one XOR a register (with the
                    // clock zero, a three-input one).
                    const u32 z = L == REWRITE_3_CLOCKPIN ? pinned_zero(flag) : 0u;
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        ah[b][i] ^= 0x00010001u * (ks + 1) ^ z;
                        if (L != REWRITE_1) {
                            al[b][i] ^= 0x00010001u * (ks + 2) ^ z;
                            as[b][i] ^= 0x00010001u * (ks + 3) ^ z;
                        }
                    }
                } else if (L == FRAG_LDS3 || L == FRAG_LDS2) {
                    // Thread x's 16-byte units of k-step ks, matrix m at qf + 32 KB + ((ks * 3 + m) * 128 + x) * 16:
                    // each quarter-warp reads 128 contiguous bytes.
                    const unsigned char* fr = qf + 32768 + (ks * 3 * 128 + (threadIdx.x & 127)) * 16;
                    const uint4 h = *reinterpret_cast<const uint4*>(fr);
                    const uint4 l = *reinterpret_cast<const uint4*>(fr + 128 * 16);
                    ah[b][0] = h.x, ah[b][1] = h.y, ah[b][2] = h.z, ah[b][3] = h.w;
                    al[b][0] = l.x, al[b][1] = l.y, al[b][2] = l.z, al[b][3] = l.w;
                    if (L == FRAG_LDS3) {
                        const uint4 g3 = *reinterpret_cast<const uint4*>(fr + 2 * 128 * 16);
                        as[b][0] = g3.x, as[b][1] = g3.y, as[b][2] = g3.z, as[b][3] = g3.w;
                    } else {
#pragma unroll
                        for (int i = 0; i < 2; ++i) {
                            const u32 sw = word(rs[i], j);
                            as[b][i] = sign_f16x2(__byte_perm(sw, 0u, 0x1000));
                            as[b][2 + i] = sign_f16x2(__byte_perm(sw, 0u, 0x3020));
                        }
                    }
                } else if (L == PERMUTE) {
                    expand_step_permute(th, tl, ri, rs, j, ah[b], al[b], as[b]);
                } else if (L != WGMMA_ONLY && L != WGMMA_SPIN) {
                    if (L == NO_LOOKUP) expand_step_arith(tb, ri, rs, j, ah[b], al[b], as[b]);
                    else expand_step(tb, ri, rs, j, ah[b], al[b], as[b]);
                }
                if constexpr (L == S8_SIGNS) {
                    // The codebook's two fp16 wgmma as in the kernel (its sign operand, unused, is not computed);
                    // every second k-step, in the same commit group, one s8 wgmma over both k-steps' 32
                    // dimensions whose A is the raw sign words of the key rows (bytes 0x01 / 0xff are int8 +1 /
                    // -1), and whose B stands for 32 queries x 3 int8 digits of Qs (3 KB per 32 dimensions, after
                    // the 16 KB of fp16 operands).
                    const int c = (ks >> 1) & 1;
                    if (b == 1) {
                        sw[c][0] = word(rs[0], j - 1);
                        sw[c][1] = word(rs[1], j - 1);
                        sw[c][2] = word(rs[0], j);
                        sw[c][3] = word(rs[1], j);
                    }
                    wgmma_fence();
                    rs_n64(acc1, ah[b], make_desc(qf_s + ks * 2048, 128, 256));
                    if (b == 1) rs_s8_n96(acc3, sw[c], make_desc(qf_s + 16384 + (ks >> 1) * 3072, 128, 256));
                    rs_n32(acc1, al[b], make_desc(qf_s + ks * 2048, 128, 256));
                    wgmma_commit();
                    wgmma_wait<1>();
                    keep(ah[b ^ 1]), keep(al[b ^ 1]), keep(sw[c ^ 1]);
                    continue;
                }
                if (L == SS_RING) {
                    // The A fragments stored in wgmma's K-major, no-swizzle layout: element (row r, k) at
                    // (r / 8) 256 + (k / 8) 128 + (r % 8) 16 + (k % 8) 2 of a 2 KB matrix.
                    unsigned char* slot = qf + 32768 + (wg * 4 + (ks & 3)) * 6144;
#pragma unroll
                    for (int m = 0; m < 3; ++m)
#pragma unroll
                        for (int x = 0; x < 4; ++x) {
                            const int r = 16 * wq + g + 8 * (x & 1), k = 2 * t + 8 * (x >> 1);
                            const u32 v = m == 0 ? ah[b][x] : m == 1 ? al[b][x] : as[b][x];
                            *reinterpret_cast<u32*>(slot + m * 2048 + (r / 8) * 256 + (k / 8) * 128 + (r % 8) * 16 +
                                                    (k % 8) * 2) = v;
                        }
                    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
                    const u32 sa = (u32)__cvta_generic_to_shared(slot);
                    const u64 dp = make_desc(qf_s + ks * 2048, 128, 256);
                    const u64 ds = make_desc(qf_s + (8 + ks) * 2048, 128, 256);
                    wgmma_fence();
                    ss_n64(acc1, make_desc(sa, 128, 256), dp);
                    ss_n64(acc2, make_desc(sa + 4096, 128, 256), ds);
                    ss_n32(acc1, make_desc(sa + 2048, 128, 256), dp);
                    wgmma_commit();
                    wgmma_wait<1>();
                    continue;
                }
                if (L == EXPAND_ONLY) {
                    keep(ah[b]), keep(al[b]), keep(as[b]);
                    continue;
                }
                const int u = (L == EXPAND_APART || L == ALU_APART) ? 2 : b;  // the registers the wgmma read
                if (L == REWRITE_1) issue_step(acc1, acc2, ah[b], al[2], as[2], qf_s + ks * 2048, 8 * 2048);
                else issue_step(acc1, acc2, ah[u], al[u], as[u], qf_s + ks * 2048, 8 * 2048);
                if (STAMP) {
                    last_issue = stamp_clock();
                    in_step += last_issue - waited;
                }
                if (L == WGMMA_SPIN || L == SHIPPED_SPIN) {
                    const long long spin_start = clock64();
                    while (clock64() - spin_start < 150) {
                    }
                }
                if (L == NO_OVERLAP) wgmma_wait<0>();
                else if (L == FOUR_SETS) wgmma_wait<3>();
                else wgmma_wait<1>();
                keep_sets_but(ah, al, as, b);
            }
        }
        finish_tile(acc1, acc2);
        if constexpr (L == S8_SIGNS) {
#pragma unroll
            for (int x = 0; x < NACC3; ++x) keep(acc3[x]);
        }
    }
    const long long t1 = clock64();
    if ((threadIdx.x & 127) == 0) cyc[blockIdx.x * CYC_SLOTS + wg] = (unsigned long long)(t1 - t0);
    if (STAMP && threadIdx.x == 0) {
        cyc[blockIdx.x * CYC_SLOTS + 2] = (unsigned long long)in_step;
        cyc[blockIdx.x * CYC_SLOTS + 3] = (unsigned long long)in_wait;
    }
    if (flag) {  // never set: keeps the results live
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < 32; ++i) s += acc1[i] + acc2[i];
#pragma unroll
        for (int i = 0; i < NACC3; ++i) s += (float)acc3[i];
#pragma unroll
        for (int q = 0; q < NSETS; ++q)
#pragma unroll
            for (int i = 0; i < 4; ++i) s += (float)(ah[q][i] ^ al[q][i] ^ as[q][i]);
        sink[blockIdx.x * blockDim.x + threadIdx.x] = s;
    }
#endif
}

template <int L, int W = 3>
static void run_loop(int nwg, unsigned long long* dcyc, float* sink) {
    const int dyn = 32768 + (L == SS_RING ? 2 * 4 * 6144 : 0) + (L == FRAG_LDS3 || L == FRAG_LDS2 ? 8 * 3 * 2048 : 0);
    CHECK(cudaFuncSetAttribute(loop<L, false, W>, cudaFuncAttributeMaxDynamicSharedMemorySize, dyn));
    const double med =
        median_per_step([&] { loop<L, false, W><<<BLOCKS, 128 * nwg, dyn>>>(dcyc, sink, 0); }, dcyc, nwg, TILES * 8.0);
    printf("| %-52s | %d | %6.1f | %5.0f |\n", loop_names[L], nwg, med, 82.0 * nwg);
}

// ---------------------------------------------------------------------------------------------------------------
// Part 3: the latency of a shared-memory load while wgmma run. A chain of dependent 4-byte shared loads (each
// load's address is the word the previous one read), timed by one lane, with the kernel's k-step wgmma (RS n64 +
// n64 + n32, B from shared memory) running or not:
//   CHASE_IDLE     warpgroup 1 chases while warpgroup 0 does nothing;
//   CHASE_BESIDE   warpgroup 1 chases while warpgroup 0 runs k-steps back to back (wait_group 1 after each);
//   CHASE_OWN      warpgroup 0 runs k-steps and times one load of the chain after each k-step's issue, before its
//                  wait (as the kernel's expansion does), in its first lane;
//   CHASE_OWN_IDLE the same with wait_group 0 before each timed load (no wgmma in flight).
enum Chase { CHASE_IDLE, CHASE_BESIDE, CHASE_OWN, CHASE_OWN_IDLE, NCHASES };
static const char* chase_names[NCHASES] = {
    "beside an idle warpgroup", "beside a warpgroup running k-steps back to back",
    "in the warpgroup running the k-steps, after each issue", "in the same warpgroup, no wgmma in flight"};
#define CHASE_LOADS 256
#define CHASE_STEPS 4096

// One load of the chain, timed: the clock, the load from shared address `at`, the next load's address made from
// the word read (which waits for it), the clock. Returns that address.
__device__ __forceinline__ u32 timed_load(u32 chase_s, u32 at, long long& dt) {
    long long a, b;
    u32 next;
    asm volatile(
        "{\n\t.reg .u32 v;\n\t"
        "mov.u64 %0, %%clock64;\n\t"
        "ld.shared.u32 v, [%3];\n\t"
        "mad.lo.u32 %2, v, 4, %4;\n\t"
        "mov.u64 %1, %%clock64;\n\t}"
        : "=l"(a), "=l"(b), "=r"(next)
        : "r"(at), "r"(chase_s)
        : "memory");
    dt += b - a;
    return next;
}

#if HAVE_WGMMA  // issue_step and wgmma_wait exist in the device pass only
template <typename Between>
__device__ __forceinline__ void constant_ksteps(u32 sm_s, int steps, int flag, float* sink, Between between) {
    u32 hi[4], lo[4], sg[4];
    for (int i = 0; i < 4; ++i) hi[i] = 0x3c003c00u + threadIdx.x, sg[i] = 0x3c00bc00u, lo[i] = 0x1c001c00u;
    float acc1[32], acc2[32];
#pragma unroll
    for (int i = 0; i < 32; ++i) acc1[i] = acc2[i] = 0.0f;
    for (int it = 0; it < steps; ++it) {
        issue_step(acc1, acc2, hi, lo, sg, sm_s, 2048);
        between();
        wgmma_wait<1>();
    }
    wgmma_wait<0>();
    if (flag) {  // never set: keeps the accumulators live
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < 32; ++i) s += acc1[i] + acc2[i];
        sink[blockIdx.x * blockDim.x + threadIdx.x] = s;
    }
}
#endif

template <int M>
__global__ void __launch_bounds__(256, 1) chase(unsigned long long* cyc, float* sink, int flag) {
#if HAVE_WGMMA
    __shared__ __align__(1024) unsigned char sm[32768];
    __shared__ u32 words[1024];
    fill_operands(sm);
    for (int i = threadIdx.x; i < 1024; i += blockDim.x) words[i] = (i * 389u + 97u) & 1023u;  // one cycle
    __syncthreads();
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    const int wg = threadIdx.x >> 7, lane = threadIdx.x & 31;
    const u32 chase_s = (u32)__cvta_generic_to_shared(words);
    long long dt = 0;
    u32 at = chase_s;  // the chain starts at word 0
    const bool runs = (M == CHASE_BESIDE || M == CHASE_OWN || M == CHASE_OWN_IDLE) && wg == 0;
    if (runs) {
        constant_ksteps((u32)__cvta_generic_to_shared(sm), M == CHASE_BESIDE ? CHASE_STEPS : CHASE_LOADS, flag, sink,
                        [&] {
                            if (M == CHASE_OWN_IDLE) wgmma_wait<0>();
                            if (M != CHASE_BESIDE && threadIdx.x == 0) at = timed_load(chase_s, at, dt);
                        });
    } else if ((M == CHASE_IDLE || M == CHASE_BESIDE) && threadIdx.x == 128) {
        // Start once warpgroup 0's k-steps are under way (they outlast the chain by far).
        const long long start = clock64();
        while (clock64() - start < 4000) {
        }
        for (int i = 0; i < CHASE_LOADS; ++i) at = timed_load(chase_s, at, dt);
    }
    const int timer = (M == CHASE_OWN || M == CHASE_OWN_IDLE) ? 0 : 128;
    if (threadIdx.x == timer) cyc[blockIdx.x * CYC_SLOTS] = (unsigned long long)dt;
    if (flag && lane == 0) sink[blockIdx.x] = (float)at;
#endif
}

// Part 3b: does other work on the SM slow a warpgroup's wgmma? Warpgroup 0 issues the kernel's k-step wgmma back
// to back (wait_group 1), A constant, and counts its cycles per k-step; warpgroup 1 meanwhile does nothing
// (BUSY_NONE), spins on the clock (BUSY_CLOCK), runs independent integer multiply-add chains (BUSY_ALU) or streams
// shared-memory loads (BUSY_LDS), for as long as warpgroup 0 runs.
enum Busy { BUSY_NONE, BUSY_CLOCK, BUSY_ALU, BUSY_LDS, NBUSY };
static const char* busy_names[NBUSY] = {"nothing", "spins on the clock", "integer multiply-add chains",
                                        "streams shared loads"};

template <int M>
__global__ void __launch_bounds__(256, 1) beside(unsigned long long* cyc, float* sink, int flag) {
#if HAVE_WGMMA
    __shared__ __align__(1024) unsigned char sm[32768];
    __shared__ volatile int done;
    fill_operands(sm);
    if (threadIdx.x == 0) done = 0;
    __syncthreads();
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
    const int wg = threadIdx.x >> 7;
    if (wg == 0) {
        const long long t0 = clock64();
        constant_ksteps((u32)__cvta_generic_to_shared(sm), STEPS, flag, sink, [] {});
        const long long t1 = clock64();
        if (threadIdx.x == 0) {
            cyc[blockIdx.x * CYC_SLOTS] = (unsigned long long)(t1 - t0);
            done = 1;
        }
    } else if (M != BUSY_NONE) {
        u32 x[8];
#pragma unroll
        for (int i = 0; i < 8; ++i) x[i] = threadIdx.x * (i + 1) + (u32)flag;
        const u32* words = reinterpret_cast<const u32*>(sm);
        while (!done) {
#pragma unroll
            for (int r = 0; r < 16; ++r) {
                if (M == BUSY_CLOCK) x[0] += (u32)clock64();
#pragma unroll
                for (int i = 0; i < 8; ++i) {
                    if (M == BUSY_ALU) x[i] = x[i] * 0x9e3779b1u + (u32)r;
                    if (M == BUSY_LDS) x[i] += words[(threadIdx.x * 4 + i * 512 + r * 32) & 8191];
                }
            }
        }
        if (flag) {
            u32 t = 0;
#pragma unroll
            for (int i = 0; i < 8; ++i) t ^= x[i];
            sink[blockIdx.x * blockDim.x + threadIdx.x] = (float)t;
        }
    }
#endif
}

template <int M>
static void run_beside(unsigned long long* dcyc, float* sink) {
    const double med = median_per_step([&] { beside<M><<<BLOCKS, 256>>>(dcyc, sink, 0); }, dcyc, 1, STEPS);
    printf("| %-40s | %6.1f |\n", busy_names[M], med);
}

template <int M>
static void run_chase(unsigned long long* dcyc, float* sink) {
    const double med = median_per_step([&] { chase<M><<<BLOCKS, 256>>>(dcyc, sink, 0); }, dcyc, 1, CHASE_LOADS);
    printf("| %-58s | %6.1f |\n", chase_names[M], med);
}

// A loop with its clock stamps (loop<L, true>): its cycles per k-step, and medians over the blocks of the two parts.
template <int L>
static void run_stamped(int nwg, unsigned long long* dcyc, float* sink) {
    const int dyn = 32768;
    CHECK(cudaFuncSetAttribute(loop<L, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, dyn));
    const std::vector<unsigned long long> cyc =
        cycles_of([&] { loop<L, true><<<BLOCKS, 128 * nwg, dyn>>>(dcyc, sink, 0); }, dcyc);
    const double steps = TILES * 8.0;
    printf("| %-52s | %d | %6.1f | %6.1f | %6.1f |\n", loop_names[L], nwg, median_of_slots(cyc, 0, nwg, steps),
           median_of_slots(cyc, 2, 1, steps), median_of_slots(cyc, 3, 1, steps - 1.0));
}

// Each runner over a list of shapes, loops or modes, in the order given (a comma fold runs left to right); W is the
// most warpgroups the kernels are built for.
template <int W, int... SH>
static void shapes(int nwg, unsigned long long* dcyc, float* sink) {
    (run_shape<SH, W>(nwg, dcyc, sink), ...);
}
template <int W, int... L>
static void loops(int nwg, unsigned long long* dcyc, float* sink) {
    (run_loop<L, W>(nwg, dcyc, sink), ...);
}
template <int... L>
static void stamped(int nwg, unsigned long long* dcyc, float* sink) {
    (run_stamped<L>(nwg, dcyc, sink), ...);
}
template <int... M>
static void chases(unsigned long long* dcyc, float* sink) {
    (run_chase<M>(dcyc, sink), ...);
}
template <int... M>
static void besides(unsigned long long* dcyc, float* sink) {
    (run_beside<M>(dcyc, sink), ...);
}

int main() {
    unsigned long long* dcyc;
    float* sink;
    CHECK(cudaMalloc(&dcyc, CYC_SLOTS * BLOCKS * sizeof(unsigned long long)));
    CHECK(cudaMalloc(&sink, BLOCKS * 128 * MAX_WG * sizeof(float)));
    printf("wgmma alone, one commit group per step, 132 blocks:\n\n");
    printf("| shape | warpgroups | cycles per step | MAC per cycle per SM | of 2,048 |\n"
           "| --- | ---: | ---: | ---: | ---: |\n");
    for (int nwg = 1; nwg <= 2; ++nwg)
        shapes<2, KSTEP, RS32, RS64, RS128, RS256, SS64, SS128, SS256>(nwg, dcyc, sink);
    shapes<3, KSTEP>(3, dcyc, sink);
    printf("\nThe k-step loop of cuda-warpspec on one stage, cycles per k-step of each warpgroup (the wgmma\n"
           "alone take 82 cycles per k-step per warpgroup: the warpgroups share the SM's tensor cores):\n\n");
    printf("| loop | warpgroups | cycles per k-step | tensor work alone |\n| --- | ---: | ---: | ---: |\n");
    // SS_RING's A ring has room for two warpgroups, so it runs with one and two only.
    for (int nwg = 1; nwg <= 2; ++nwg)
        loops<3, SHIPPED, WGMMA_ONLY, EXPAND_ONLY, EXPAND_APART, ALU_APART, NO_LOOKUP, FOUR_SETS, NO_OVERLAP, AHEAD,
              AHEAD2, PERMUTE, SS_RING, S8_SIGNS, REWRITE_1, REWRITE_3, REWRITE_LDS, REWRITE_CHAIN,
              REWRITE_LDS_AHEAD, REWRITE_LDS_PINNED, REWRITE_LDS_CLOCKPIN, AHEAD2_LOOKUPS, AHEAD2_LOOKUPS_PIN,
              REWRITE_3_CLOCKPIN, FRAG_LDS3, FRAG_LDS2, BATCH2, BATCH4>(nwg, dcyc, sink);
    loops<3, FRAG_LDS3, FRAG_LDS2, SHIPPED, WGMMA_ONLY, EXPAND_APART, NO_LOOKUP, S8_SIGNS, BATCH2, BATCH4>(3, dcyc,
                                                                                                         sink);
    loops<4, SHIPPED, WGMMA_ONLY, NO_OVERLAP, FRAG_LDS2>(4, dcyc, sink);
    printf("\nThe same loops with clock stamps after each k-step's wait and issue (warpgroup 0's first thread),\n"
           "cycles per k-step: all, from the wait's end to the issue's end, and the wait:\n\n");
    printf("| loop | warpgroups | cycles per k-step | expansion and issue | wait |\n"
           "| --- | ---: | ---: | ---: | ---: |\n");
    for (int nwg = 1; nwg <= 2; ++nwg)
        stamped<SHIPPED, WGMMA_ONLY, REWRITE_3, REWRITE_LDS, NO_OVERLAP, WGMMA_SPIN, SHIPPED_SPIN>(nwg, dcyc, sink);
    printf("\nThe latency of a shared load (a dependent chain, one lane), SM cycles per load:\n\n");
    printf("| the load runs | cycles |\n| --- | ---: |\n");
    chases<CHASE_IDLE, CHASE_BESIDE, CHASE_OWN, CHASE_OWN_IDLE>(dcyc, sink);
    printf("\nA warpgroup's k-steps (wgmma only, A constant) while the block's other warpgroup ..., cycles per k-step:\n\n");
    printf("| the other warpgroup | cycles |\n| --- | ---: |\n");
    besides<BUSY_NONE, BUSY_CLOCK, BUSY_ALU, BUSY_LDS>(dcyc, sink);
    CHECK(cudaFree(dcyc));
    CHECK(cudaFree(sink));
    return 0;
}
