//! `cuda-smem`: the reduced form on CUDA cores in f32 (`kernels/cuda_smem.cu`). One small kernel computes
//! `Qp = Q·Piᵀ` and `Qs = Q·S_matᵀ` once per solve; the main kernel gives each block 128 keys and splits its
//! warps by role: four producer warps expand codebook values and signs (as `±coef·γ`, so one set of accumulators
//! takes both sums) into a ring of two shared-memory stages, 16 dimensions at a time, while four math warps
//! multiply, each thread accumulating 16 queries × 4 keys over half of each chunk's dimensions; the two halves are
//! summed through shared memory at the end. The main kernel starts when the projection has finished: letting it
//! start early (programmatic dependent launch) made the solve slower (`kernels/NOTES.md`).

use cudarc::driver::CudaSlice;

use super::buffers::{DeviceCase, GpuPrepared, KernelShape, Solve, device_ptr, zeros};
use super::{
    CudaError, Gpu, Kernel, Launch, QPROJ_CU, QtLayout, SMEM_CU, availability, launch_qproj, param,
};
use crate::problem::Inputs;
use crate::solution::{Availability, Backend, Prepared, Solution, SolveError};

/// Queries per row of the transposed `Qp`/`Qs` buffers (the kernel's fixed padding).
const QP_STRIDE: usize = 32;
/// Keys per block of `smem_scores`.
const TILE_KEYS: usize = 128;
/// Threads per block of `smem_scores`: four producer warps and four math warps.
const THREADS: u32 = 256;
/// Dimensions per stage of the ring (`CHUNK_D` in the kernel).
const CHUNK_D: usize = 16;
/// Stages in the ring (`STAGES` in the kernel).
const STAGES: usize = 2;
/// Dynamic shared memory of `smem_scores`: its ring of [`STAGES`] stages, each (`sizeof(Stage)`) [`CHUNK_D`]
/// dimensions × [`TILE_KEYS`] keys of values and signs and [`CHUNK_D`] × [`QP_STRIDE`] of Qp and Qs, in f32
/// (40 KB, so no opt-in is needed on any supported GPU).
const RING_BYTES: u32 = (STAGES * (2 * CHUNK_D * TILE_KEYS + 2 * CHUNK_D * QP_STRIDE) * 4) as u32;
/// Oldest architecture the variant is built for (NVRTC 12/13 compile for sm_75 and newer).
const MIN_CC: (i32, i32) = (7, 5);

/// The reduced form on CUDA cores with shared-memory tiles.
pub struct CudaSmem;

impl Solution for CudaSmem {
    fn name(&self) -> &str {
        "cuda-smem"
    }

    fn description(&self) -> &str {
        "reduced form in f32 on CUDA cores: Qp, Qs once, then 128-key tiles that producer warps expand into a \
         shared-memory ring while math warps take 16×4 outputs per thread"
    }

    fn backend(&self) -> Backend {
        Backend::Cuda
    }

    fn availability(&self) -> Availability {
        availability(MIN_CC, "cuda-smem")
    }

    fn prepare<'a>(&self, inputs: &'a Inputs) -> Result<Box<dyn Prepared + 'a>, SolveError> {
        let prepared = GpuPrepared::prepare("cuda-smem", MIN_CC, inputs, 1, |gpu, one_launch| {
            Ok(if one_launch {
                Box::new(super::onelaunch::SmemSolve::new(gpu, inputs.shape())?)
            } else {
                Box::new(SmemSolve::new(gpu, inputs)?)
            })
        })?;
        Ok(Box::new(prepared))
    }
}

struct SmemSolve {
    qproj: Kernel,
    scores: Kernel,
    /// `[2][rows][32]`: Qp then Qs, transposed, rows = D rounded up to 32 (zero past D).
    qt: CudaSlice<f32>,
    rows: usize,
}

impl SmemSolve {
    fn new(gpu: &Gpu, inputs: &Inputs) -> Result<Self, CudaError> {
        let d = inputs.shape().d;
        let rows = d.div_ceil(32) * 32; // the main kernel reads whole 32-row chunks
        Ok(Self {
            qproj: gpu.module(&QPROJ_CU)?.kernel("qproj_f32")?,
            scores: gpu.module(&SMEM_CU)?.kernel("smem_scores")?,
            qt: zeros(gpu, 2 * rows * QP_STRIDE, "QpT and QsT")?,
            rows,
        })
    }
}

impl Solve for SmemSolve {
    fn enqueue(&mut self, gpu: &Gpu, case: &DeviceCase) -> Result<(), CudaError> {
        let stream = gpu.stream();
        let shape = case.shape;
        let ptrs = case.ptrs(stream);
        let k = KernelShape::from(shape);
        let qt = device_ptr(&self.qt, stream);
        let (qpt, qst) = (qt, qt + (self.rows * QP_STRIDE * 4) as u64);
        // SAFETY: the case's arrays have the shape's sizes; qt holds 2·rows·32 floats with rows ≥ D; no row
        // maxima.
        unsafe {
            launch_qproj(
                &self.qproj,
                stream,
                (shape, &ptrs),
                (qt, self.rows, QtLayout::Rows),
                0,
            )?;
        }
        let mut params = [
            param(&ptrs.k_idx),
            param(&ptrs.signs),
            param(&ptrs.gamma),
            param(&ptrs.codebook),
            param(&qpt),
            param(&qst),
            param(&ptrs.scores),
            param(&k.b),
            param(&k.s),
            param(&k.d),
            param(&k.c),
            param(&k.coef),
        ];
        // SAFETY: the parameters match smem_scores(const u8*, const u8*, const float*, const float*,
        // const float*, const float*, float*, int, int, int, int, float); the buffers have the sizes the kernel
        // reads (keys [S, D], gamma [S], codebook [C], QpT/QsT [roundup(D, 32), 32]) and writes (scores [B, S]).
        unsafe {
            self.scores.launch(
                stream,
                Launch {
                    grid: (shape.s.div_ceil(TILE_KEYS) as u32, 1),
                    block: THREADS,
                    smem: RING_BYTES,
                    // Stream order: after qproj_f32 (an early start by programmatic dependent launch was slower).
                    pdl: false,
                },
                &mut params,
            )
        }
    }
}
