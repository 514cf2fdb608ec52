//! The one-launch kernels of both CUDA variants (v5; `kernels/onelaunch_proj.cu`, `kernels/cuda_smem_1l.cu`,
//! `kernels/cuda_warpspec_1l.cu`; measurements in `kernels/NOTES.md`). Selected with `JUDGE_CUDA_ONE_LAUNCH`
//! set (any value); the default kernels of [`super::smem`] and [`super::warpspec`] are faster today.
//!
//! A persistent grid (at most one block per multiprocessor, launched cooperatively so all blocks are resident)
//! computes `Qp`/`Qs` once, each block a slice of the rows of `[Pi; S_mat]`, and meets at a grid-wide barrier
//! (an atomic counter that is never reset: solve `e` waits for `e·grid`). Then:
//! * `cuda-smem`: tiles of 256 keys; per chunk of 32 dimensions the block expands codebook values and
//!   `coef·gamma·sign` into shared memory and each thread accumulates 8 queries × 4 keys in f32.
//! * `cuda-warpspec`: a producer warp streams 64-key tiles of indices, signs and gamma into a ring of
//!   shared-memory stages (bulk copies on mbarriers) from the kernel's start; after the barrier each block writes
//!   the constant operands — `Qp` as fp16 hi + lo, `Qs` as three int8 limbs — into shared memory, and two
//!   consumer warpgroups expand the indices into fp16 operands in registers and run `wgmma` (fp16 with f32
//!   accumulation for the codebook term; int8 with the raw sign bytes and s32 accumulation for the sign term).
//!   `wgmma` needs the module built for `sm_90a`; elsewhere, or with `JUDGE_WARPSPEC_MMA=sync`, the same kernel
//!   runs with `mma.sync`.
//!
//! `JUDGE_KERNEL_TRACE` (see [`super::trace`]) prints per-phase timestamps of these kernels.

use std::ffi::c_void;

use cudarc::driver::CudaSlice;

use super::buffers::{CasePtrs, DeviceCase, KernelShape, Solve, device_ptr, zeros};
use super::trace::Trace;
use super::warpspec::{Repack, ablation, even_stages, round_up};
use super::{CudaError, Gpu, Kernel, Launch, SMEM_1L_CU, WARPSPEC_1L_CU, param};
use crate::problem::Shape;

/// Environment variable that selects these kernels for `cuda-smem` and `cuda-warpspec`.
pub const ONE_LAUNCH_ENV: &str = "JUDGE_CUDA_ONE_LAUNCH";

/// Whether the one-launch kernels are selected.
pub fn selected() -> bool {
    std::env::var_os(ONE_LAUNCH_ENV).is_some()
}

/// Queries per row of the `Qp`/`Qs` buffers.
const QP_STRIDE: usize = 32;
/// Keys per tile of `smem_scores` (v5).
const SMEM_TILE_KEYS: usize = 256;
/// Threads per block of `smem_scores` (v5).
const SMEM_THREADS: u32 = 256;
/// Dimensions per chunk of `smem_scores` (v5).
const CHUNK: usize = 32;
/// Keys per stage of the warpspec kernel (its `TILE_KEYS`).
const TILE_KEYS: usize = 64;
/// Threads per block of the warpspec kernel: two consumer warpgroups and a producer warp.
const THREADS: u32 = 32 * (8 + 1);
/// Shared-memory offset of the warpspec kernel's constant operands (its `OFF_OPS`), in bytes.
const OFF_OPS: usize = 4096;
/// Most stages the warpspec kernel's barrier area holds (its `MAX_STAGES`).
const MAX_STAGES: usize = 16;
/// Environment variable: `sync` runs the `mma.sync` path of both warpspec kernels (this one's and the default
/// one's, `super::warpspec`) even where `wgmma` is available; `swap` builds the `wgmma` descriptors with their
/// two byte offsets exchanged (a diagnostic of the layout).
pub const MMA_ENV: &str = "JUDGE_WARPSPEC_MMA";

/// Whether [`MMA_ENV`] asks for the `mma.sync` path.
pub fn mma_sync_forced() -> bool {
    std::env::var(MMA_ENV).is_ok_and(|mode| mode == "sync")
}

/// What both kernels keep from one solve to the next: their projections' buffer, the grid barrier's counter, the
/// count of solves enqueued and the phase trace.
struct Persistent {
    /// The projections `Qp` and `Qs` (written by the kernel, in its own layout).
    qt: CudaSlice<f32>,
    /// The grid barrier's counter (never reset: solve `e` waits for `e·grid`).
    sync: CudaSlice<u32>,
    /// Solves enqueued so far.
    solves: u32,
    /// The phase trace (a measurement aid), when asked for.
    trace: Option<Trace>,
}

impl Persistent {
    /// Allocates `qt_len` floats of projections and the counter for a grid of `grid` blocks; `what` names the
    /// variant and shape in the trace.
    fn new(gpu: &'static Gpu, qt_len: usize, what: String, grid: usize) -> Result<Self, CudaError> {
        Ok(Self {
            qt: zeros(gpu, qt_len, "QpT and QsT")?,
            sync: zeros(gpu, 1, "the grid barrier counter")?,
            solves: 0,
            trace: Trace::from_env(gpu, what, grid)?,
        })
    }

    /// The next solve's parameters common to both kernels, for the case of `shape` at `case`, with `keys`
    /// (indices, signs) as the arrays of keys read.
    fn next(&mut self, gpu: &Gpu, (shape, case): (Shape, CasePtrs), keys: (u64, u64)) -> Common {
        let stream = gpu.stream();
        self.solves = self.solves.wrapping_add(1);
        Common {
            case,
            keys,
            qt: device_ptr(&self.qt, stream),
            sync: device_ptr(&self.sync, stream),
            shape: KernelShape::from(shape),
            epoch: self.solves,
            trace: self.trace.as_ref().map_or(0, Trace::ptr),
        }
    }
}

/// Launches `kernel` cooperatively on `grid` blocks (one per multiprocessor at most) of `block` threads and
/// `smem` bytes of dynamic shared memory.
///
/// # Safety
/// As [`Kernel::launch_cooperative`]: `params` must match the kernel's signature, and the buffers they point
/// to the sizes it reads and writes.
unsafe fn launch_cooperative(
    gpu: &Gpu,
    kernel: &Kernel,
    (grid, block, smem): (usize, u32, usize),
    params: &mut [*mut c_void],
) -> Result<(), CudaError> {
    let launch = Launch {
        grid: (grid as u32, 1),
        block,
        smem: smem as u32,
        pdl: false,
    };
    // SAFETY: as the caller guarantees; the launch is cooperative, so it fails where the blocks cannot all be
    // resident (the kernels' grid barrier needs them all).
    unsafe { kernel.launch_cooperative(gpu.stream(), launch, params) }
}

/// The parameters that both kernels take first (the arrays, then the shape), and the two they take later (the
/// solve's epoch and the trace).
struct Common {
    case: CasePtrs,
    /// Indices and signs as the kernel reads them (the case's, or a repacked copy).
    keys: (u64, u64),
    qt: u64,
    sync: u64,
    shape: KernelShape,
    epoch: u32,
    trace: u64,
}

impl Common {
    /// `(const u8* kidx, const u8* signs, const float* gamma, q, pi, s_mat, codebook, float* qt, unsigned* sync,
    /// float* scores, int B, S, D, C, float coef)`.
    fn head(&self) -> [*mut c_void; 15] {
        [
            param(&self.keys.0),
            param(&self.keys.1),
            param(&self.case.gamma),
            param(&self.case.q),
            param(&self.case.pi),
            param(&self.case.s_mat),
            param(&self.case.codebook),
            param(&self.qt),
            param(&self.sync),
            param(&self.case.scores),
            param(&self.shape.b),
            param(&self.shape.s),
            param(&self.shape.d),
            param(&self.shape.c),
            param(&self.shape.coef),
        ]
    }
}

/// Launch geometry of `smem_scores` for one shape on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmemPlan {
    /// Rows of the `Qp`/`Qs` buffers: D rounded up to a chunk.
    pub rows: usize,
    /// Tiles of 256 keys.
    pub tiles: usize,
    /// Blocks: one per multiprocessor at most (all resident: the kernel has a grid-wide barrier).
    pub grid: usize,
    /// Dynamic shared memory per block, in bytes.
    pub smem_bytes: usize,
}

impl SmemPlan {
    /// The plan for `shape` on a device with `sms` multiprocessors and `smem_optin` bytes of shared memory per
    /// block; `None` when the block's shared memory does not fit.
    pub fn new(shape: Shape, sms: usize, smem_optin: usize) -> Option<SmemPlan> {
        let rows = shape.d.div_ceil(CHUNK) * CHUNK;
        let tiles = shape.s.div_ceil(SMEM_TILE_KEYS);
        // codebook, V and W double-buffered, then Qp and Qs.
        let smem_bytes = 4 * (256 + 2 * 2 * CHUNK * SMEM_TILE_KEYS + 2 * rows * QP_STRIDE);
        (smem_bytes <= smem_optin).then_some(SmemPlan {
            rows,
            tiles,
            grid: tiles.min(sms.max(1)),
            smem_bytes,
        })
    }
}

pub(super) struct SmemSolve {
    plan: SmemPlan,
    scores: Kernel,
    /// `qt`: `[2][rows][32]`, Qp then Qs, transposed, zero past D (written by the kernel, rows < D).
    state: Persistent,
}

impl SmemSolve {
    pub(super) fn new(gpu: &'static Gpu, shape: Shape) -> Result<Self, CudaError> {
        let plan = gpu.plan(
            |sms, smem| SmemPlan::new(shape, sms, smem),
            format!("cuda-smem at {shape}"),
            "more shared memory per block",
        )?;
        let scores = gpu.module(&SMEM_1L_CU)?.kernel("smem_scores")?;
        scores.allow_dynamic_smem(plan.smem_bytes as u32)?;
        let what = format!("cuda-smem at {shape}");
        Ok(Self {
            plan,
            scores,
            state: Persistent::new(gpu, 2 * plan.rows * QP_STRIDE, what, plan.grid)?,
        })
    }
}

impl Solve for SmemSolve {
    fn enqueue(&mut self, gpu: &Gpu, case: &DeviceCase) -> Result<(), CudaError> {
        let plan = self.plan;
        let ptrs = case.ptrs(gpu.stream());
        let common = self
            .state
            .next(gpu, (case.shape, ptrs), (ptrs.k_idx, ptrs.signs));
        let (dp, ntiles) = (plan.rows as i32, plan.tiles as i32);
        let mut params: Vec<*mut c_void> = common
            .head()
            .into_iter()
            .chain([
                param(&dp),
                param(&ntiles),
                param(&common.epoch),
                param(&common.trace),
            ])
            .collect();
        // SAFETY: the parameters match smem_scores(const u8* ×2, const float* ×5, float*, unsigned*, float*,
        // int ×4, float, int, int, unsigned, u64*); the buffers have the sizes the kernel reads (keys [S, D],
        // gamma [S], Q [B, D], Pi and S_mat [D, D], codebook [C]) and writes (QT [2, rows, 32] rows < D, scores
        // [B, S]); the counter is this solve's alone (solves on the judge's stream run one after another); the
        // shared memory size was allowed in `new`.
        unsafe {
            launch_cooperative(
                gpu,
                &self.scores,
                (plan.grid, SMEM_THREADS, plan.smem_bytes),
                &mut params,
            )
        }
    }
}

/// Launch geometry of the main kernel for one shape on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarpspecPlan {
    /// Bytes per key row in the staged arrays (D rounded up to 16).
    pub row_bytes: usize,
    /// fp16 k-steps of 16 dimensions (D rounded up to 64, over 16).
    pub ksteps: usize,
    /// Tiles of 64 keys.
    pub tiles: usize,
    /// Shared-memory stages.
    pub stages: usize,
    /// Bytes per stage.
    pub stage_bytes: usize,
    /// Offset of the first stage in shared memory.
    pub off_stages: usize,
    /// Dynamic shared memory per block, in bytes.
    pub smem_bytes: usize,
    /// Blocks: one per multiprocessor at most (all resident: the kernel has a grid-wide barrier).
    pub grid: usize,
}

impl WarpspecPlan {
    /// The plan for `shape` on a device with `sms` multiprocessors and `smem_optin` bytes of shared memory per
    /// block; `None` when fewer than two stages fit.
    pub fn new(shape: Shape, sms: usize, smem_optin: usize) -> Option<WarpspecPlan> {
        let row_bytes = round_up(shape.d, 16);
        let ksteps = round_up(shape.d, 64) / 16;
        let tiles = shape.s.div_ceil(TILE_KEYS);
        let grid = tiles.min(sms.max(1));
        // Constant operands: Qp hi, Qp lo (1 KB per k-step), Qs limbs (3 KB per k-step of 32).
        let ops = ksteps * 2048 + ksteps / 2 * 3072;
        let off_stages = round_up(OFF_OPS + ops, 128);
        let stage_bytes = round_up(2 * TILE_KEYS * row_bytes + TILE_KEYS * 4, 128);
        // A block needs at most its own tiles in flight (then no stage is refilled, and their number may be odd).
        let per_block = tiles.div_ceil(grid.max(1));
        let stages =
            even_stages((smem_optin.saturating_sub(off_stages + 64) / stage_bytes).min(MAX_STAGES))
                .min(per_block.max(2));
        (stages >= 2).then_some(WarpspecPlan {
            row_bytes,
            ksteps,
            tiles,
            stages,
            stage_bytes,
            off_stages,
            smem_bytes: off_stages + stages * stage_bytes + 64,
            grid,
        })
    }
}

pub(super) struct WarpspecSolve {
    plan: WarpspecPlan,
    scores: Kernel,
    repack: Option<Repack>,
    /// `qt`: `[2][32][ksteps·16]`, Qp then Qs, zero past D (written by the kernel, d < D).
    state: Persistent,
    /// The descriptors' byte offsets (leading, stride).
    lbo_sbo: (u32, u32),
    /// See [`super::warpspec::ABLATION_ENV`]; 0 in normal use.
    ablation: i32,
}

impl WarpspecSolve {
    pub(super) fn new(gpu: &'static Gpu, shape: Shape) -> Result<Self, CudaError> {
        let plan = gpu.plan(
            |sms, smem| WarpspecPlan::new(shape, sms, smem),
            format!("cuda-warpspec at {shape}"),
            "shared memory for two stages",
        )?;
        let mode = std::env::var(MMA_ENV).unwrap_or_default();
        let module = gpu.module_arch_specific(&WARPSPEC_1L_CU)?;
        let wgmma = module.arch.ends_with('a') && !mma_sync_forced();
        let scores = module.kernel(if wgmma {
            "warpspec_scores_wgmma"
        } else {
            "warpspec_scores_mma"
        })?;
        scores.allow_dynamic_smem(plan.smem_bytes as u32)?;
        let keys = plan.tiles * TILE_KEYS;
        let repack = Repack::new(gpu, &module, shape.d, keys, plan.row_bytes)?;
        let what = format!("cuda-warpspec at {shape}");
        Ok(Self {
            plan,
            scores,
            repack,
            state: Persistent::new(gpu, 2 * plan.ksteps * 16 * 32, what, plan.grid)?,
            lbo_sbo: if mode == "swap" {
                (256, 128)
            } else {
                (128, 256)
            },
            ablation: ablation(),
        })
    }
}

impl Solve for WarpspecSolve {
    fn enqueue(&mut self, gpu: &Gpu, case: &DeviceCase) -> Result<(), CudaError> {
        let plan = self.plan;
        let ptrs = case.ptrs(gpu.stream());
        let keys = Repack::keys(self.repack.as_ref(), gpu, case.shape, &ptrs)?;
        let common = self.state.next(gpu, (case.shape, ptrs), keys);
        let (drow, ks, ntiles, ns, stage_bytes, off_stages) = (
            plan.row_bytes as i32,
            plan.ksteps as i32,
            plan.tiles as i32,
            plan.stages as i32,
            plan.stage_bytes as i32,
            plan.off_stages as i32,
        );
        let (lbo, sbo) = self.lbo_sbo;
        let mut params: Vec<*mut c_void> = common
            .head()
            .into_iter()
            .chain([
                param(&drow),
                param(&ks),
                param(&ntiles),
                param(&ns),
                param(&stage_bytes),
                param(&off_stages),
                param(&common.epoch),
                param(&lbo),
                param(&sbo),
                param(&self.ablation),
                param(&common.trace),
            ])
            .collect();
        // SAFETY: matches warpspec_scores_{wgmma,mma}(const u8* ×2, const float* ×5, float*, unsigned*, float*,
        // int ×4, float, int ×6, unsigned ×3, int, u64*); the key arrays hold tiles·64 rows of Drow bytes and
        // gamma tiles·64 floats (zero-padded at upload or by the repack), Q [B, D], Pi and S_mat [D, D],
        // codebook [C], QT 2·ksteps·16·32 floats (rows < D written), scores [B, S]; the counter is this solve's
        // alone (solves on the judge's stream run one after another); the shared memory size was allowed in
        // `new`.
        unsafe {
            launch_cooperative(
                gpu,
                &self.scores,
                (plan.grid, THREADS, plan.smem_bytes),
                &mut params,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smem_plans_fit_an_h100() {
        let perf = SmemPlan::new(Shape::PERF, 132, 227 * 1024).unwrap();
        assert_eq!((perf.rows, perf.tiles, perf.grid), (128, 128, 128));
        let big = SmemPlan::new(Shape::new(32, 512, 256, 16), 132, 227 * 1024).unwrap();
        assert!(big.smem_bytes <= 227 * 1024);
        assert_eq!((big.rows, big.grid), (256, 2));
        assert!(SmemPlan::new(Shape::PERF, 132, 96 * 1024).is_none());
    }

    #[test]
    fn warpspec_plans_fit_an_h100() {
        let plan = WarpspecPlan::new(Shape::PERF, 132, 227 * 1024).unwrap();
        assert_eq!(
            (
                plan.row_bytes,
                plan.ksteps,
                plan.tiles,
                plan.stages,
                plan.grid
            ),
            (128, 8, 512, 4, 132)
        );
        assert!(plan.smem_bytes <= 227 * 1024);
        let odd = WarpspecPlan::new(Shape::new(3, 30, 50, 8), 132, 227 * 1024).unwrap();
        assert_eq!(
            (odd.row_bytes, odd.ksteps, odd.tiles, odd.grid),
            (64, 4, 1, 1)
        );
        let big = WarpspecPlan::new(Shape::new(32, 65_536, 256, 16), 132, 227 * 1024).unwrap();
        assert!(big.stages >= 2 && big.smem_bytes <= 227 * 1024);
        // More tiles per block than stages: the ring is refilled, so its stages are even.
        assert!(
            big.tiles.div_ceil(big.grid) > big.stages && big.stages.is_multiple_of(2),
            "{big:?}"
        );
        assert!(WarpspecPlan::new(Shape::new(32, 512, 256, 16), 132, 48 * 1024).is_none());
    }
}
