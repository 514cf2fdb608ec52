//! Device copies of one input set and the [`Prepared`] shared by the CUDA variants: upload (with optional
//! padding of the key rows), poison, synchronize, read back. A variant adds its kernels as a [`Solve`].

use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DeviceRepr, ValidAsZeroBits};

use super::{CudaError, Gpu, check, driver_error, gpu};
use crate::problem::{Inputs, Shape};
use crate::solution::{POISON, Prepared, SolveError, check_output_len};

/// The raw device address of `slice` (for kernel parameters).
pub fn device_ptr<T>(slice: &CudaSlice<T>, stream: &CudaStream) -> u64 {
    // Event tracking is off for the judge's context, so the returned guard records nothing.
    let (ptr, _guard) = slice.device_ptr(stream);
    ptr
}

/// A zero-filled device buffer of `len` elements.
pub fn zeros<T: DeviceRepr + ValidAsZeroBits>(
    gpu: &Gpu,
    len: usize,
    what: &str,
) -> Result<CudaSlice<T>, CudaError> {
    gpu.stream()
        .alloc_zeros::<T>(len.max(1))
        .map_err(|e| driver_error(e, &format!("allocating {what}"), "cuMemAlloc"))
}

/// `data` on the device, in a buffer of `len ≥ data.len()` elements whose tail is zero.
pub fn upload<T: DeviceRepr + ValidAsZeroBits>(
    gpu: &Gpu,
    data: &[T],
    len: usize,
    what: &str,
) -> Result<CudaSlice<T>, CudaError> {
    let mut buf = zeros::<T>(gpu, len.max(data.len()), what)?;
    if !data.is_empty() {
        let mut head = buf.slice_mut(0..data.len());
        gpu.stream()
            .memcpy_htod(data, &mut head)
            .map_err(|e| driver_error(e, &format!("uploading {what}"), "cuMemcpyHtoDAsync"))?;
    }
    Ok(buf)
}

/// One input set on the device, and its output buffer.
pub struct DeviceCase {
    /// The shape.
    pub shape: Shape,
    /// Keys per padded block: `k_idx`, `qjl_signs` and `gamma` hold `padded_keys` rows, zero past `S`.
    pub padded_keys: usize,
    /// `[B, D]` queries.
    pub q: CudaSlice<f32>,
    /// `[padded_keys, D]` codebook indices.
    pub k_idx: CudaSlice<u8>,
    /// `[padded_keys, D]` signs, as bytes (0x01 or 0xff).
    pub signs: CudaSlice<u8>,
    /// `[padded_keys]` residual norms.
    pub gamma: CudaSlice<f32>,
    /// `[D, D]` rotation.
    pub pi: CudaSlice<f32>,
    /// `[D, D]` projection.
    pub s_mat: CudaSlice<f32>,
    /// `[C]` levels.
    pub codebook: CudaSlice<f32>,
    /// `[B, S]` output.
    pub scores: CudaSlice<f32>,
}

impl DeviceCase {
    /// Uploads `inputs`, padding the key arrays to a multiple of `key_multiple` rows with zeros.
    pub fn upload(gpu: &Gpu, inputs: &Inputs, key_multiple: usize) -> Result<Self, CudaError> {
        let shape = inputs.shape();
        let padded_keys = shape.s.div_ceil(key_multiple.max(1)) * key_multiple.max(1);
        let signs: Vec<u8> = inputs.qjl_signs.iter().map(|&v| v as u8).collect();
        let case = Self {
            shape,
            padded_keys,
            q: upload(gpu, &inputs.q, inputs.q.len(), "Q")?,
            k_idx: upload(gpu, &inputs.k_idx, padded_keys * shape.d, "K_idx")?,
            signs: upload(gpu, &signs, padded_keys * shape.d, "qjl_signs")?,
            gamma: upload(gpu, &inputs.gamma, padded_keys, "gamma")?,
            pi: upload(gpu, &inputs.pi, inputs.pi.len(), "Pi")?,
            s_mat: upload(gpu, &inputs.s_mat, inputs.s_mat.len(), "S_mat")?,
            codebook: upload(gpu, &inputs.codebook, inputs.codebook.len(), "codebook")?,
            scores: zeros(gpu, shape.output_len(), "scores")?,
        };
        gpu.stream()
            .synchronize()
            .map_err(|e| driver_error(e, "finishing the upload", "cuStreamSynchronize"))?;
        Ok(case)
    }
}

/// The device addresses of one input set's arrays and its output, as kernel parameters take them.
#[derive(Debug, Clone, Copy)]
pub struct CasePtrs {
    /// `[B, D]` queries.
    pub q: u64,
    /// `[padded_keys, D]` codebook indices.
    pub k_idx: u64,
    /// `[padded_keys, D]` signs.
    pub signs: u64,
    /// `[padded_keys]` residual norms.
    pub gamma: u64,
    /// `[D, D]` rotation.
    pub pi: u64,
    /// `[D, D]` projection.
    pub s_mat: u64,
    /// `[C]` levels.
    pub codebook: u64,
    /// `[B, S]` output.
    pub scores: u64,
}

/// The shape as the kernels take it: B, S, D and C as `int`, and the QJL term's `sqrt(pi/2)/D` as `float`.
#[derive(Debug, Clone, Copy)]
pub struct KernelShape {
    /// Queries.
    pub b: i32,
    /// Keys.
    pub s: i32,
    /// Dimensions.
    pub d: i32,
    /// Codebook levels.
    pub c: i32,
    /// `sqrt(pi/2)/D`.
    pub coef: f32,
}

impl From<Shape> for KernelShape {
    fn from(shape: Shape) -> Self {
        // Within the constraints every count fits an i32 (S ≤ 65,536).
        KernelShape {
            b: shape.b as i32,
            s: shape.s as i32,
            d: shape.d as i32,
            c: shape.c as i32,
            coef: shape.qjl_coef() as f32,
        }
    }
}

impl DeviceCase {
    /// The device addresses of the arrays, for kernel parameters on `stream`.
    pub fn ptrs(&self, stream: &CudaStream) -> CasePtrs {
        CasePtrs {
            q: device_ptr(&self.q, stream),
            k_idx: device_ptr(&self.k_idx, stream),
            signs: device_ptr(&self.signs, stream),
            gamma: device_ptr(&self.gamma, stream),
            pi: device_ptr(&self.pi, stream),
            s_mat: device_ptr(&self.s_mat, stream),
            codebook: device_ptr(&self.codebook, stream),
            scores: device_ptr(&self.scores, stream),
        }
    }
}

/// The kernels of one variant, enqueued on the judge's stream for one solve.
pub trait Solve {
    /// Enqueues exactly one solve of `case` into `case.scores`.
    fn enqueue(&mut self, gpu: &Gpu, case: &DeviceCase) -> Result<(), CudaError>;
}

/// A prepared CUDA variant: one input set on the device and the variant's kernels.
pub struct GpuPrepared {
    name: &'static str,
    gpu: &'static Gpu,
    case: DeviceCase,
    solve: Box<dyn Solve>,
}

/// Wraps a CUDA error of variant `solution` at step `context` (prepare, run, …).
fn solve_error(solution: &'static str, context: &str) -> impl Fn(CudaError) -> SolveError {
    let context = context.to_owned();
    move |error| SolveError::Cuda {
        solution: solution.to_owned(),
        context: context.clone(),
        error: Box::new(error),
    }
}

impl GpuPrepared {
    /// Prepares variant `name` on `inputs`: finds the GPU and checks that it is at least compute capability
    /// `min_cc`, lets `build` compile and allocate the variant's kernels (told whether the one-launch kernels are
    /// selected, `JUDGE_CUDA_ONE_LAUNCH`), and uploads the inputs with S padded to a multiple of `pad`. An error
    /// names the variant and the step that failed.
    pub fn prepare(
        name: &'static str,
        min_cc: (i32, i32),
        inputs: &Inputs,
        pad: usize,
        build: impl FnOnce(&'static Gpu, bool) -> Result<Box<dyn Solve>, CudaError>,
    ) -> Result<Self, SolveError> {
        let err = |context| solve_error(name, context);
        let gpu = gpu().map_err(err("prepare"))?;
        gpu.require(min_cc, name).map_err(err("prepare"))?;
        let one_launch = super::onelaunch::selected();
        let solve = build(gpu, one_launch).map_err(err(if one_launch {
            "prepare: compiling and allocating (one launch)"
        } else {
            "prepare: compiling and allocating"
        }))?;
        let case =
            DeviceCase::upload(gpu, inputs, pad).map_err(err("prepare: uploading the inputs"))?;
        Ok(Self {
            name,
            gpu,
            case,
            solve,
        })
    }

    fn err(&self, context: &str) -> impl Fn(CudaError) -> SolveError {
        solve_error(self.name, context)
    }
}

impl Prepared for GpuPrepared {
    fn poison_output(&mut self) -> Result<(), SolveError> {
        self.gpu.bind().map_err(self.err("poison"))?;
        let stream = self.gpu.stream();
        let ptr = device_ptr(&self.case.scores, stream);
        // SAFETY: `scores` holds output_len f32 words; the memset is ordered on the judge's stream.
        let status = unsafe {
            cudarc::driver::sys::cuMemsetD32Async(
                ptr,
                POISON.to_bits(),
                self.case.shape.output_len(),
                stream.cu_stream(),
            )
        };
        check(status, "poisoning the output", "cuMemsetD32Async").map_err(self.err("poison"))
    }

    fn run(&mut self) -> Result<(), SolveError> {
        let gpu = self.gpu;
        gpu.bind().map_err(self.err("run"))?;
        self.solve.enqueue(gpu, &self.case).map_err(self.err("run"))
    }

    fn synchronize(&mut self) -> Result<(), SolveError> {
        self.gpu
            .stream()
            .synchronize()
            .map_err(|e| driver_error(e, "waiting for the solve", "cuStreamSynchronize"))
            .map_err(self.err("synchronize"))
    }

    fn read_output(&mut self, out: &mut [f32]) -> Result<(), SolveError> {
        check_output_len(self.name, out, self.case.shape.output_len())?;
        let stream = self.gpu.stream();
        stream
            .memcpy_dtoh(&self.case.scores, out)
            .and_then(|()| stream.synchronize())
            .map_err(|e| driver_error(e, "reading the scores back", "cuMemcpyDtoHAsync"))
            .map_err(self.err("read_output"))
    }

    fn cuda_stream(&self) -> Option<Arc<CudaStream>> {
        Some(self.gpu.stream().clone())
    }
}
