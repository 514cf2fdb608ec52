//! `cuda-warpspec`: a warp-specialised tensor-core kernel for Hopper (`kernels/cuda_warpspec.cu`; design and
//! measurements in `kernels/NOTES.md`). `qproj_f32` computes `Qp` and `Qs` once per solve (in the order of the
//! mma fragments, with each row's largest magnitude); the main kernel, launched with programmatic dependent
//! launch, streams 64-key tiles of indices, signs and gamma through a ring of shared-memory stages with bulk
//! copies completing on mbarriers (one producer warp), while the consumer warps scale and split `Qp`/`Qs` into
//! fp16 hi + lo operands in shared memory once per block, expand the tiles into fp16 operands and run the tensor
//! cores with f32 accumulation. Built for `sm_90a` (compute capability 9.0), the consumers are two warpgroups
//! running `wgmma` (each taking whole 64-key tiles in turn, the keys in registers as A, the queries in shared
//! memory as B), and a warpgroup's scores leave through shared memory in whole 256-byte rows; for any other
//! target, or with `JUDGE_WARPSPEC_MMA=sync`, four groups of two warps running `mma.m16n8k16` (the keys as B, the
//! queries as A fragments read from shared memory). With [`I8_ENV`] on `sm_90a` and C ≤ 16, the products run in
//! int8 instead (s8 limbs of the operands, byte-permute lookups, no producer warp): measured, not the default.
//!
//! Needs compute capability 9.0 (bulk copies, mbarrier transaction counts, `griddepcontrol`); on older GPUs it
//! reports itself unavailable.

use std::sync::Arc;

use cudarc::driver::CudaSlice;

use super::buffers::{CasePtrs, DeviceCase, GpuPrepared, KernelShape, Solve, device_ptr, zeros};
use super::trace::Trace;
use super::{
    CudaError, Gpu, Kernel, Launch, Module, QPROJ_CU, QtLayout, WARPSPEC_CU, availability,
    launch_qproj, param,
};
use crate::problem::{Inputs, Shape};
use crate::solution::{Availability, Backend, Prepared, Solution, SolveError};

/// Keys per stage (the kernel's `TILE_KEYS`).
const TILE_KEYS: usize = 64;
/// Threads per block: eight consumer warps (two warpgroups, or four groups of two warps off sm_90a) and one
/// producer warp (the kernel's `THREADS`).
const THREADS: u32 = 32 * (1 + 4 * 2);
/// Threads per block of the int8 kernels: the two consumer warpgroups alone (the kernel's `I8_THREADS`).
const I8_THREADS: u32 = 32 * 4 * 2;
/// Largest codebook of the int8 kernels (their lookups are byte permutes over 16 entries).
const I8_MAX_C: usize = 16;
/// Environment variable choosing the products on `sm_90a` where C ≤ 16: unset (or `off`) the fp16 kernel, `on`
/// the int8 kernel with four levels of limb products, `l3` the one with three (relative Frobenius error at perf:
/// 3.0e-6, against 5.4e-7 with four levels and 3.7e-7 with fp16). The int8 kernels are a measured alternative,
/// slower or no faster at the perf preset (`kernels/NOTES.md`, v12).
pub const I8_ENV: &str = "JUDGE_WARPSPEC_I8";
/// Shared-memory offset of the Qp/Qs operands (the kernel's `OFF_QF`), in bytes; 4 KB of them per k-step.
const OFF_QF: usize = 384;
/// Bytes of the staged scores after the operands (the kernel's `OUT_BYTES`): per warpgroup 32 query rows of
/// 64 + 4 floats.
const OUT_BYTES: usize = 2 * 32 * (TILE_KEYS + 4) * 4;
/// Bytes between a stage's indices and its signs (the kernel's `SGN_SKEW`): half a row of banks, so that key rows
/// of indices and of signs read by one instruction fall in different banks.
const SGN_SKEW: usize = 64;
/// Static shared memory of the main kernel (its codebook table, 256 × u32), beside the dynamic part planned here.
const STATIC_SMEM: usize = 1024;
/// Most stages the kernel's barrier area holds (8 full + 8 empty mbarriers in 128 bytes).
const MAX_STAGES: usize = 8;
/// Environment variable of a measurement aid: `1` runs the main kernel without its mma (streaming and pipeline
/// only), `2` without its loads (compute only), `3` launches only `qproj_f32`, `4` only the main kernel (on the
/// previous solve's projections). The outputs are then wrong; never set in normal use. With the one-launch
/// kernel (`JUDGE_CUDA_ONE_LAUNCH`): `1` no products, `2` no loads, `3` stop after the projection, the grid
/// barrier and the operand build, `4` skip the projection and the barrier.
pub const ABLATION_ENV: &str = "JUDGE_WARPSPEC_ABLATION";
/// Bulk copies, mbarrier transaction counts and `griddepcontrol` need Hopper.
const MIN_CC: (i32, i32) = (9, 0);

/// The warp-specialised tensor-core variant.
pub struct CudaWarpspec;

impl Solution for CudaWarpspec {
    fn name(&self) -> &str {
        "cuda-warpspec"
    }

    fn description(&self) -> &str {
        "Hopper: producer warp streams key tiles with bulk copies into an mbarrier ring; consumer warpgroups \
         run fp16 hi+lo wgmma (mma.m16n8k16 off sm_90a) against Qp/Qs computed once"
    }

    fn backend(&self) -> Backend {
        Backend::Cuda
    }

    fn availability(&self) -> Availability {
        availability(
            MIN_CC,
            "cuda-warpspec (bulk copies, mbarrier transaction counts)",
        )
    }

    fn prepare<'a>(&self, inputs: &'a Inputs) -> Result<Box<dyn Prepared + 'a>, SolveError> {
        let prepared = GpuPrepared::prepare(
            "cuda-warpspec",
            MIN_CC,
            inputs,
            TILE_KEYS,
            |gpu, one_launch| {
                Ok(if one_launch {
                    Box::new(super::onelaunch::WarpspecSolve::new(gpu, inputs.shape())?)
                } else {
                    Box::new(WarpspecSolve::new(gpu, inputs.shape())?)
                })
            },
        )?;
        Ok(Box::new(prepared))
    }
}

/// Launch geometry of the main kernel for one shape on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Bytes per key row in the staged arrays (D rounded up to 16).
    pub row_bytes: usize,
    /// k-steps of 16 dimensions (D rounded up to 64, over 16).
    pub ksteps: usize,
    /// Query tiles of 16 (1 or 2).
    pub mtiles: usize,
    /// Tiles of 64 keys.
    pub tiles: usize,
    /// Shared-memory stages.
    pub stages: usize,
    /// Bytes per stage.
    pub stage_bytes: usize,
    /// Dynamic shared memory per block, in bytes.
    pub smem_bytes: usize,
    /// Blocks (at most one per multiprocessor).
    pub grid: usize,
}

/// `x` rounded up to a multiple of `m`.
pub(super) fn round_up(x: usize, m: usize) -> usize {
    x.div_ceil(m) * m
}

/// The stages of a ring whose tiles two warpgroups take in turn, from the `fitting` ones: an even number, so that
/// each stage serves one warpgroup alone, in order. With an odd number, a warpgroup waiting for a stage's next
/// phase before the other warpgroup's phase of it had completed would pass the parity wait at once.
pub(super) fn even_stages(fitting: usize) -> usize {
    fitting & !1
}

/// The measurement aid [`ABLATION_ENV`] asks for (0, in normal use, when unset or not a number).
pub(super) fn ablation() -> i32 {
    std::env::var(ABLATION_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Plan {
    /// The plan for `shape` on a device with `sms` multiprocessors and `smem_optin` bytes of shared memory per
    /// block (static and dynamic together); `None` when fewer than two stages fit.
    pub fn new(shape: Shape, sms: usize, smem_optin: usize) -> Option<Plan> {
        let row_bytes = round_up(shape.d, 16);
        let ksteps = round_up(shape.d, 64) / 16;
        let mtiles = shape.b.div_ceil(16);
        let tiles = shape.s.div_ceil(TILE_KEYS);
        // Qp/Qs operands of 32 queries per k-step, then the staged scores.
        let fixed = round_up(OFF_QF + ksteps * 4096, 128) + OUT_BYTES;
        let stage_bytes = round_up(2 * TILE_KEYS * row_bytes + SGN_SKEW + TILE_KEYS * 4, 128);
        let dynamic = smem_optin.saturating_sub(STATIC_SMEM);
        let stages = even_stages((dynamic.saturating_sub(fixed) / stage_bytes).min(MAX_STAGES));
        (stages >= 2).then_some(Plan {
            row_bytes,
            ksteps,
            mtiles,
            tiles,
            stages,
            stage_bytes,
            smem_bytes: fixed + stages * stage_bytes,
            grid: tiles.min(sms.max(1)),
        })
    }
}

/// The key arrays copied to rows of `row_bytes` (D rounded up to 16, zero-padded), which both `cuda-warpspec`
/// kernels need where D is not a multiple of 16: the bulk copies move whole 16-byte units.
pub(super) struct Repack {
    kernel: Kernel,
    idx: CudaSlice<u8>,
    signs: CudaSlice<u8>,
    /// Keys per array, S rounded up to whole tiles.
    padded: usize,
    row_bytes: usize,
}

impl Repack {
    /// The repack of keys of `d` bytes into `padded` keys (S rounded up to whole tiles) of `row_bytes` each, by
    /// `module`'s `warpspec_repack`; `None` where the rows are used as they are (`row_bytes` is `d`).
    pub(super) fn new(
        gpu: &Gpu,
        module: &Arc<Module>,
        d: usize,
        padded: usize,
        row_bytes: usize,
    ) -> Result<Option<Self>, CudaError> {
        if row_bytes == d {
            return Ok(None);
        }
        Ok(Some(Self {
            kernel: module.kernel("warpspec_repack")?,
            idx: zeros(gpu, padded * row_bytes, "repacked K_idx")?,
            signs: zeros(gpu, padded * row_bytes, "repacked signs")?,
            padded,
            row_bytes,
        }))
    }

    /// The device addresses of the index and sign arrays that the main kernel reads: `case`'s own, or, with a
    /// repack, its copies, enqueued here.
    pub(super) fn keys(
        repack: Option<&Self>,
        gpu: &Gpu,
        shape: Shape,
        case: &CasePtrs,
    ) -> Result<(u64, u64), CudaError> {
        let stream = gpu.stream();
        let (kidx, signs) = (case.k_idx, case.signs);
        let Some(repack) = repack else {
            return Ok((kidx, signs));
        };
        let (idx_out, sgn_out) = (
            device_ptr(&repack.idx, stream),
            device_ptr(&repack.signs, stream),
        );
        let (s, d) = (shape.s as i32, shape.d as i32);
        let (spad, drow) = (repack.padded as i32, repack.row_bytes as i32);
        let mut params = [
            param(&kidx),
            param(&signs),
            param(&idx_out),
            param(&sgn_out),
            param(&s),
            param(&d),
            param(&spad),
            param(&drow),
        ];
        let blocks = (repack.padded * repack.row_bytes)
            .div_ceil(256)
            .min(8 * gpu.info.multiprocessors as usize);
        // SAFETY: matches warpspec_repack(const u8*, const u8*, u8*, u8*, int, int, int, int); the sources hold
        // [S, D] bytes, the outputs [Spad, Drow].
        unsafe {
            repack.kernel.launch(
                stream,
                Launch {
                    grid: (blocks as u32, 1),
                    block: 256,
                    smem: 0,
                    pdl: false,
                },
                &mut params,
            )?;
        }
        Ok((idx_out, sgn_out))
    }
}

/// The fp16 main kernels: `[query tiles − 1][traced]`.
const FP16_KERNELS: [[&str; 2]; 2] = [
    ["warpspec_scores_mt1", "warpspec_scores_mt1_trace"],
    ["warpspec_scores_mt2", "warpspec_scores_mt2_trace"],
];

/// The int8 main kernels: `[four levels][64-dimension groups − 1][traced]`.
const I8_KERNELS: [[[&str; 2]; 4]; 2] = [
    [
        ["warpspec_scores_i8_l3_g1", "warpspec_scores_i8_l3_g1_trace"],
        ["warpspec_scores_i8_l3_g2", "warpspec_scores_i8_l3_g2_trace"],
        ["warpspec_scores_i8_l3_g3", "warpspec_scores_i8_l3_g3_trace"],
        ["warpspec_scores_i8_l3_g4", "warpspec_scores_i8_l3_g4_trace"],
    ],
    [
        ["warpspec_scores_i8_l4_g1", "warpspec_scores_i8_l4_g1_trace"],
        ["warpspec_scores_i8_l4_g2", "warpspec_scores_i8_l4_g2_trace"],
        ["warpspec_scores_i8_l4_g3", "warpspec_scores_i8_l4_g3_trace"],
        ["warpspec_scores_i8_l4_g4", "warpspec_scores_i8_l4_g4_trace"],
    ],
];

/// The products the main kernel runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Products {
    /// fp16 hi + lo operands (`wgmma` on `sm_90a`, `mma.sync` elsewhere).
    Fp16,
    /// s8 limbs (`sm_90a`, C ≤ 16), with this many levels of limb products (3 or 4).
    Int8 { levels: u32 },
}

impl Products {
    /// The products for `module` (its architecture) and codebook size `c`, as [`I8_ENV`] allows; `ablation`
    /// 1 (no products) only exists in the fp16 kernels.
    fn choose(module: &Module, c: usize, ablation: i32) -> Self {
        let levels = match std::env::var(I8_ENV).as_deref() {
            Ok("on") => 4,
            Ok("l3") => 3,
            _ => return Products::Fp16,
        };
        if !module.arch.ends_with('a') || c > I8_MAX_C || ablation == 1 {
            Products::Fp16
        } else {
            Products::Int8 { levels }
        }
    }
}

struct WarpspecSolve {
    plan: Plan,
    qproj: Kernel,
    scores: Kernel,
    /// Threads per block of `scores`.
    threads: u32,
    repack: Option<Repack>,
    /// `[2][ksteps·16][32]`: Qp then Qs, transposed, zero past D.
    qt: CudaSlice<f32>,
    /// `[2 parities][2][32]` row maxima (float bits): a solve fills one and clears the other for the next.
    rowmax: CudaSlice<u32>,
    /// Solves enqueued so far (its parity picks the row-maxima half).
    solves: u64,
    /// See [`ABLATION_ENV`]; 0 in normal use.
    ablation: i32,
    /// The phase trace (a measurement aid), when asked for.
    trace: Option<Trace>,
}

impl WarpspecSolve {
    fn new(gpu: &'static Gpu, shape: Shape) -> Result<Self, CudaError> {
        let plan = gpu.plan(
            |sms, smem| Plan::new(shape, sms, smem),
            format!("cuda-warpspec at {shape}"),
            "shared memory for two stages",
        )?;
        // `sync`: the plain target's module, whose consumers run mma.sync (the path of GPUs other than sm_90).
        let module = if super::onelaunch::mma_sync_forced() {
            gpu.module(&WARPSPEC_CU)?
        } else {
            gpu.module_arch_specific(&WARPSPEC_CU)?
        };
        let trace = Trace::from_env(gpu, format!("cuda-warpspec at {shape}"), plan.grid)?;
        let ablation = ablation();
        let products = Products::choose(&module, shape.c, ablation);
        let traced = usize::from(trace.is_some());
        let scores = module.kernel(match products {
            // One kernel per number of 64-dimension groups (1 to 4: D ≤ 256).
            Products::Int8 { levels } => {
                I8_KERNELS[usize::from(levels == 4)][plan.ksteps / 4 - 1][traced]
            }
            Products::Fp16 => FP16_KERNELS[plan.mtiles.min(2) - 1][traced],
        })?;
        let threads = match products {
            Products::Int8 { .. } => I8_THREADS,
            Products::Fp16 => THREADS,
        };
        scores.allow_dynamic_smem(plan.smem_bytes as u32)?;
        let keys = plan.tiles * TILE_KEYS;
        let repack = Repack::new(gpu, &module, shape.d, keys, plan.row_bytes)?;
        Ok(Self {
            plan,
            qproj: gpu.module(&QPROJ_CU)?.kernel("qproj_f32")?,
            scores,
            threads,
            repack,
            qt: zeros(gpu, 2 * plan.ksteps * 16 * 32, "QpT and QsT")?,
            rowmax: zeros(gpu, 128, "row maxima")?,
            solves: 0,
            ablation,
            trace,
        })
    }
}

impl Solve for WarpspecSolve {
    fn enqueue(&mut self, gpu: &Gpu, case: &DeviceCase) -> Result<(), CudaError> {
        let stream = gpu.stream();
        let shape = case.shape;
        let plan = self.plan;
        let ptrs = case.ptrs(stream);
        let k = KernelShape::from(shape);
        let (kidx, signs) = Repack::keys(self.repack.as_ref(), gpu, shape, &ptrs)?;
        let parity = (self.solves % 2) as i32;
        self.solves += 1;
        let qt = device_ptr(&self.qt, stream);
        let rowmax = device_ptr(&self.rowmax, stream);
        let rows = plan.ksteps * 16;
        if self.ablation != 4 {
            // SAFETY: the case's arrays have the shape's sizes; qt holds 2·rows·32 floats with rows ≥ D; this
            // solve's half of rowmax (64 words) was cleared by the previous solve's main kernel (or at
            // allocation).
            unsafe {
                launch_qproj(
                    &self.qproj,
                    stream,
                    (shape, &ptrs),
                    (qt, rows, QtLayout::Fragments),
                    rowmax + 256 * parity as u64,
                )?;
            }
        }
        if self.ablation == 3 {
            return Ok(());
        }
        let trace = self.trace.as_ref().map_or(0, Trace::ptr);
        let (drow, ks, ntiles, ns, stage_bytes) = (
            plan.row_bytes as i32,
            plan.ksteps as i32,
            plan.tiles as i32,
            plan.stages as i32,
            plan.stage_bytes as i32,
        );
        let mut params = [
            param(&kidx),
            param(&signs),
            param(&ptrs.gamma),
            param(&qt),
            param(&rowmax),
            param(&ptrs.codebook),
            param(&ptrs.scores),
            param(&k.b),
            param(&k.s),
            param(&k.c),
            param(&k.coef),
            param(&drow),
            param(&ks),
            param(&ntiles),
            param(&ns),
            param(&stage_bytes),
            param(&parity),
            param(&self.ablation),
            param(&trace),
        ];
        // SAFETY: matches warpspec_scores_{mt1,mt2,i8_l*_g*}[_trace](const u8*, const u8*, const float*,
        // const float*, unsigned*, const float*, float*, int, int, int, float, int ×7, u64*), launched with the
        // block size it was built for (`threads`); the trace is null or holds
        // grid·16·2 words; the key arrays hold tiles·64 rows of Drow bytes and gamma tiles·64 floats
        // (zero-padded at upload or by the repack), QT 2·ksteps·16·32 floats, rowmax 128 words (the kernel reads
        // this solve's half and clears the other), scores [B, S]; the shared memory size was allowed in `new`.
        unsafe {
            self.scores.launch(
                stream,
                Launch {
                    grid: (plan.grid as u32, 1),
                    block: self.threads,
                    smem: plan.smem_bytes as u32,
                    pdl: true,
                },
                &mut params,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_plan_on_an_h100() {
        let plan = Plan::new(Shape::PERF, 132, 227 * 1024).unwrap();
        assert_eq!(
            (
                plan.row_bytes,
                plan.ksteps,
                plan.mtiles,
                plan.tiles,
                plan.stages
            ),
            (128, 8, 2, 512, 8)
        );
        assert_eq!(plan.stage_bytes, 16_768);
        assert!(plan.smem_bytes + STATIC_SMEM <= 227 * 1024);
        assert_eq!(plan.grid, 132);
    }

    #[test]
    fn odd_and_large_shapes_fit() {
        let odd = Plan::new(Shape::new(3, 30, 50, 8), 132, 227 * 1024).unwrap();
        assert_eq!(
            (odd.row_bytes, odd.ksteps, odd.mtiles, odd.tiles),
            (64, 4, 1, 1)
        );
        let big = Plan::new(Shape::new(32, 512, 256, 16), 132, 227 * 1024).unwrap();
        assert!(big.stages >= 2 && big.smem_bytes + STATIC_SMEM <= 227 * 1024);
        assert!(big.stages.is_multiple_of(2), "{big:?}");
        assert_eq!((even_stages(5), even_stages(4), even_stages(1)), (4, 4, 0));
        assert!(Plan::new(Shape::new(32, 512, 256, 16), 132, 48 * 1024).is_none());
    }
}
