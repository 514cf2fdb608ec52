//! `cpu-tiled`: the reduced form on every core, with the SIMD path chosen at run time (AVX-512, AVX2+FMA, NEON or
//! portable scalar code).
//!
//! One solve:
//!
//! 1. projects the queries once: `Qp = Q·Piᵀ` and `Qs = Q·S_matᵀ` (the `project` module has the exact form kept);
//! 2. splits the keys into contiguous chunks, one rayon task each, every chunk a whole number of tiles, so each
//!    task writes its own column range of every output row (`[B, S]` row-major; ranges start on 16-key, that
//!    is 64-byte, boundaries of each row and the buffer starts on a cache line);
//! 3. in each chunk, decodes one tile of keys at a time (indices to codebook values, signs to a form the kernel
//!    uses without multiplying) and runs a register-blocked kernel over every block of queries, so each decoded
//!    value is loaded once per block of queries and reused by all of them.
//!
//! The AVX-512 path (module `avx512`) adds the QJL term by table lookup: the signs of 4 dimensions form one 4-bit
//! number per key, which picks one of 16 precomputed sums of the query's weights, so that term costs one permute
//! and one add per 4 dimensions instead of 4 multiply-adds, and the FMAs are left to the codebook term. The
//! AVX2 path (module `avx2`) uses the same tables turned the other way: it puts 16 queries across its two
//! vectors and broadcasts keys (a 6 × 16 micro-kernel), so a table entry is a whole row of queries and one key's
//! QJL term over 4 dimensions is 2 adds instead of 8 multiply-adds (with the key's `coef·gamma` folded into its
//! codebook values, so the adds run beside the codebook term's multiply-adds). The NEON and portable paths
//! multiply by 0.0 / 1.0.

/// Invokes `$column!(0)` … `$column!(15)`: straight-line code in which every register index is a constant, so
/// that arrays of SIMD registers stay in registers.
#[cfg(target_arch = "x86_64")]
macro_rules! unroll16 {
    ($column:ident) => {
        $column!(0);
        $column!(1);
        $column!(2);
        $column!(3);
        $column!(4);
        $column!(5);
        $column!(6);
        $column!(7);
        $column!(8);
        $column!(9);
        $column!(10);
        $column!(11);
        $column!(12);
        $column!(13);
        $column!(14);
        $column!(15);
    };
}

mod aligned;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;
mod portable;
mod project;

use std::fmt;

use rayon::prelude::*;

use crate::problem::{Inputs, Shape};
use crate::solution::{
    Availability, Backend, POISON, Prepared, Solution, SolveError, check_output_len,
};
use aligned::Aligned;
use project::{Extra, Projection};

/// An instruction-set path of `cpu-tiled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// x86-64 with AVX-512F and AVX-512BW: 16 keys per vector, the QJL term by table lookup.
    Avx512,
    /// x86-64 with AVX2 and FMA: 8 queries per vector, the QJL term by table lookup.
    Avx2,
    /// aarch64 with NEON: 4 keys per vector.
    Neon,
    /// Plain Rust, any machine.
    Scalar,
}

impl Isa {
    /// Every path, fastest first.
    pub const ALL: [Isa; 4] = [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Scalar];

    /// The short name (`avx512`, `avx2`, `neon`, `scalar`).
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Neon => "neon",
            Isa::Scalar => "scalar",
        }
    }

    /// Whether this CPU can run the path (detected at run time).
    pub fn is_supported(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            Isa::Scalar => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The fastest path this CPU supports.
    pub fn best() -> Isa {
        Isa::ALL
            .into_iter()
            .find(|isa| isa.is_supported())
            .unwrap_or(Isa::Scalar)
    }

    /// What this CPU lacks for the path (empty for the scalar path, which every CPU runs).
    pub fn missing(self) -> &'static str {
        match self {
            Isa::Avx512 => "this CPU lacks AVX-512F/BW (or is not x86-64)",
            Isa::Avx2 => "this CPU lacks AVX2 and FMA (or is not x86-64)",
            Isa::Neon => "this CPU lacks NEON (or is not aarch64)",
            Isa::Scalar => "",
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A path that was detected on this CPU; the only way to reach the `unsafe` SIMD code.
#[derive(Debug, Clone, Copy)]
struct Detected(Isa);

impl Detected {
    fn new(isa: Isa) -> Option<Self> {
        isa.is_supported().then_some(Detected(isa))
    }

    /// Queries per block of this path's kernel.
    fn query_block(self) -> usize {
        match self.0 {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => avx512::QB,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => avx2::QB,
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => neon::QB,
            _ => portable::QB,
        }
    }

    /// What this path's kernel needs from the projection beyond the blocked queries.
    fn projection_extra(self) -> Extra {
        match self.0 {
            Isa::Avx512 => Extra::SignTables,
            Isa::Avx2 => Extra::Lanes,
            _ => Extra::None,
        }
    }

    /// Keys per tile of this path.
    fn tile(self) -> usize {
        match self.0 {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => avx512::TILE,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => avx2::TILE,
            _ => portable::TILE,
        }
    }

    fn scratch(self, shape: Shape) -> Scratch {
        match self.0 {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Scratch::Avx512(avx512::Scratch::new(shape.d)),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => Scratch::Avx2(avx2::Scratch::new(shape.d)),
            _ => Scratch::Tile(portable::Scratch::new(shape.d)),
        }
    }

    fn project(self, proj: &mut Projection, inputs: &Inputs) {
        match self.0 {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Detected` exists only for paths this CPU supports.
            Isa::Avx512 => unsafe { avx512::project(proj, inputs) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Isa::Avx2 => unsafe { avx2::project(proj, inputs) },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            Isa::Neon => unsafe { neon::project(proj, inputs) },
            _ => proj.compute(inputs),
        }
    }

    fn solve_chunk(
        self,
        inputs: &Inputs,
        proj: &Projection,
        s0: usize,
        rows: &mut [&mut [f32]],
        scratch: &mut Scratch,
    ) {
        match (self.0, scratch) {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Detected` exists only for paths this CPU supports.
            (Isa::Avx512, Scratch::Avx512(s)) => unsafe {
                avx512::solve_chunk(inputs, proj, s0, rows, s)
            },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            (Isa::Avx2, Scratch::Avx2(s)) => unsafe {
                avx2::solve_chunk(inputs, proj, s0, rows, s)
            },
            #[cfg(target_arch = "aarch64")]
            // SAFETY: as above.
            (Isa::Neon, Scratch::Tile(s)) => unsafe {
                neon::solve_chunk(inputs, proj, s0, rows, s)
            },
            (_, Scratch::Tile(s)) => portable::solve_chunk(inputs, proj, s0, rows, s),
            #[cfg(target_arch = "x86_64")]
            (_, Scratch::Avx512(_) | Scratch::Avx2(_)) => {
                unreachable!("a SIMD path's own scratch is made only for that path")
            }
        }
    }
}

/// Per-task scratch, by tile layout.
enum Scratch {
    Tile(portable::Scratch),
    #[cfg(target_arch = "x86_64")]
    Avx512(avx512::Scratch),
    #[cfg(target_arch = "x86_64")]
    Avx2(avx2::Scratch),
}

/// Multiply-adds (B·S·D) below which one chunk is cheaper than waking other threads.
const MIN_WORK_PER_CHUNK: usize = 1 << 18;

/// Chunks per rayon thread: enough for work stealing to even out a late start.
const CHUNKS_PER_THREAD: usize = 8;

/// Keys per chunk: a whole number of tiles, so chunk boundaries fall on tile (and cache-line) boundaries.
fn chunk_keys(shape: Shape, tile: usize) -> usize {
    let tiles = shape.s.div_ceil(tile);
    let by_work = (shape.b * shape.s * shape.d / MIN_WORK_PER_CHUNK).max(1);
    let chunks = by_work
        .min(rayon::current_num_threads() * CHUNKS_PER_THREAD)
        .clamp(1, tiles);
    tiles.div_ceil(chunks) * tile
}

/// The tiled, multi-threaded SIMD variant.
pub struct CpuTiled {
    isa: Isa,
    name: String,
    description: String,
}

impl CpuTiled {
    /// The variant on the fastest path this CPU supports (what `registry()` lists, as `cpu-tiled`).
    pub fn new() -> Self {
        let isa = Isa::best();
        Self::named(isa, "cpu-tiled".to_owned())
    }

    /// The variant forced onto `isa` (named `cpu-tiled-<isa>`); unavailable where the CPU lacks it. For tests
    /// and comparisons of the paths on one machine.
    pub fn with_isa(isa: Isa) -> Self {
        Self::named(isa, format!("cpu-tiled-{}", isa.name()))
    }

    fn named(isa: Isa, name: String) -> Self {
        let description = format!(
            "reduced form (Q·Piᵀ, Q·S_matᵀ once), keys decoded per tile and reused by register-blocked \
             queries; rayon over key chunks; SIMD path: {isa}"
        );
        Self {
            isa,
            name,
            description,
        }
    }

    /// The SIMD path this variant runs.
    pub fn isa(&self) -> Isa {
        self.isa
    }
}

impl Default for CpuTiled {
    fn default() -> Self {
        Self::new()
    }
}

impl Solution for CpuTiled {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn backend(&self) -> Backend {
        Backend::Cpu
    }

    fn availability(&self) -> Availability {
        if self.isa.is_supported() {
            Availability::Available
        } else {
            Availability::Unavailable(self.isa.missing().to_owned())
        }
    }

    fn prepare<'a>(&self, inputs: &'a Inputs) -> Result<Box<dyn Prepared + 'a>, SolveError> {
        let isa = Detected::new(self.isa).ok_or_else(|| SolveError::Unavailable {
            solution: self.name.clone(),
            reason: self.isa.missing().to_owned(),
        })?;
        let shape = inputs.shape();
        let chunk_keys = chunk_keys(shape, isa.tile());
        let chunks = shape.s.div_ceil(chunk_keys);
        let mut out = Aligned::zeroed(shape.output_len());
        out.as_mut_slice().fill(POISON);
        Ok(Box::new(TiledPrepared {
            name: self.name.clone(),
            inputs,
            isa,
            chunk_keys,
            proj: Projection::new(shape.b, isa.query_block(), shape.d, isa.projection_extra()),
            scratch: (0..chunks).map(|_| isa.scratch(shape)).collect(),
            out,
        }))
    }
}

/// One prepared input set of `cpu-tiled`: the projection buffers, per-chunk scratch and the output.
struct TiledPrepared<'a> {
    name: String,
    inputs: &'a Inputs,
    isa: Detected,
    chunk_keys: usize,
    proj: Projection,
    scratch: Vec<Scratch>,
    /// `[B, S]` row-major scores.
    out: Aligned<f32>,
}

impl Prepared for TiledPrepared<'_> {
    fn poison_output(&mut self) -> Result<(), SolveError> {
        self.out.as_mut_slice().fill(POISON);
        Ok(())
    }

    fn run(&mut self) -> Result<(), SolveError> {
        let (inputs, isa, chunk_keys) = (self.inputs, self.isa, self.chunk_keys);
        let shape = inputs.shape();
        isa.project(&mut self.proj, inputs);
        // Task c gets columns c·chunk_keys .. of every row.
        let mut pieces: Vec<Vec<&mut [f32]>> = (0..self.scratch.len())
            .map(|_| Vec::with_capacity(shape.b))
            .collect();
        for row in self.out.as_mut_slice().chunks_mut(shape.s) {
            for (piece, part) in pieces.iter_mut().zip(row.chunks_mut(chunk_keys)) {
                piece.push(part);
            }
        }
        let proj = &self.proj;
        if pieces.len() == 1 {
            isa.solve_chunk(inputs, proj, 0, &mut pieces[0], &mut self.scratch[0]);
        } else {
            pieces
                .into_par_iter()
                .zip(self.scratch.par_iter_mut())
                .enumerate()
                .for_each(|(c, (mut rows, scratch))| {
                    isa.solve_chunk(inputs, proj, c * chunk_keys, &mut rows, scratch);
                });
        }
        Ok(())
    }

    fn read_output(&mut self, out: &mut [f32]) -> Result<(), SolveError> {
        check_output_len(&self.name, out, self.out.as_slice().len())?;
        out.copy_from_slice(self.out.as_slice());
        Ok(())
    }
}

/// The parts of one of `cpu-tiled`'s SIMD paths (AVX-512 or AVX2) timed alone, on one thread, on operands that
/// stay in the caches as a solve's do: what a solve would cost if its parts ran as fast in place, for the CPU
/// bench's account of where a solve's time goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartsProbe {
    /// The path probed.
    pub isa: Isa,
    /// The shape probed.
    pub shape: Shape,
    /// Seconds to decode one tile (indices to codebook values, signs to 4-bit numbers).
    pub decode_seconds: f64,
    /// Seconds per tile to move its scores from the accumulator buffer into the `[B, S]` rows (the AVX2 path);
    /// zero where the kernel writes the rows itself (AVX-512).
    pub store_seconds: f64,
    /// Seconds per kernel call: `queries` queries against one tile, over every dimension.
    pub kernel_seconds: f64,
    /// Keys per tile.
    pub tile: usize,
    /// Queries per kernel call (a block of queries, or a lane group of 16 on AVX2).
    pub queries: usize,
    /// Floats per vector register of the path (16 or 8).
    pub lanes: usize,
    /// Vector FMAs per kernel call of the codebook term.
    pub fmas: usize,
    /// Vector instructions per kernel call of the QJL term that occupy the FMA units: on AVX-512 a table lookup
    /// (`vpermps`, which shares port 5 with an FMA unit on Intel cores) and an add per query, group of 4
    /// dimensions and 16 keys; on AVX2, in the folded tiles the probe times (see the `avx2` module), the two
    /// multiplies per key by `coef·gamma` at the end.
    pub qjl_ops: usize,
    /// Vector adds per kernel call of the QJL term that run on the FP adders, beside the FMA units: on AVX2 two
    /// per key and group of 4 dimensions (a sign-table row of 16 queries); none on AVX-512, whose adds share the
    /// FMA ports on Intel cores and are counted in `qjl_ops`.
    pub qjl_adds: usize,
}

impl PartsProbe {
    /// Tiles in a solve of the shape.
    pub fn tiles(&self) -> usize {
        self.shape.s.div_ceil(self.tile)
    }

    /// Kernel calls per tile (blocks of queries; a last, smaller block counts as a whole one).
    pub fn blocks(&self) -> usize {
        self.shape.b.div_ceil(self.queries)
    }

    /// Seconds a solve would take on `threads` threads if every part ran as fast as alone and the tiles split
    /// evenly: `tiles · (decode + store + blocks · kernel) / threads`. The projection and the traffic from memory
    /// are left out.
    pub fn model_seconds(&self, threads: usize) -> f64 {
        self.tiles() as f64
            * (self.decode_seconds
                + self.store_seconds
                + self.blocks() as f64 * self.kernel_seconds)
            / threads.max(1) as f64
    }
}

/// Operands of a parts timer: one tile of keys against some queries, and the scores' rows.
#[cfg(target_arch = "x86_64")]
struct ProbeOperands {
    /// Arbitrary valid values, with every index and sign pattern present.
    inputs: Inputs,
    /// Their projection.
    proj: Projection,
    /// `[B][tile]` scores.
    out: Vec<f32>,
}

#[cfg(target_arch = "x86_64")]
impl ProbeOperands {
    /// Inputs of `b` queries and `tile` keys at dimension `d` and codebook size `c` (a valid shape's), and their
    /// projection in blocks of `qb` with what `extra` asks for.
    fn new(b: usize, tile: usize, qb: usize, d: usize, c: usize, extra: Extra) -> Self {
        let pi = (0..d * d)
            .map(|i| if i % (d + 1) == 0 { 1.0 } else { 0.0 })
            .collect();
        let inputs = Inputs::new(crate::problem::InputParts {
            shape: Shape::new(b, tile, d, c),
            q: vec![0.5; b * d],
            k_idx: (0..tile * d).map(|i| (i * 7 % c) as u8).collect(),
            qjl_signs: (0..tile * d)
                .map(|i| if i % 3 == 0 { 1 } else { -1 })
                .collect(),
            gamma: vec![1.0; tile],
            pi,
            s_mat: vec![0.25; d * d],
            codebook: (0..c).map(|i| i as f32 / c as f32 - 0.5).collect(),
        })
        .expect("the probe's inputs are valid");
        let mut proj = Projection::new(b, qb, d, extra);
        proj.compute(&inputs);
        Self {
            inputs,
            proj,
            out: vec![0.0; b * tile],
        }
    }

    /// The inputs, their projection, and the scores as one row per query.
    fn split(&mut self) -> (&Inputs, &Projection, Vec<&mut [f32]>) {
        (
            &self.inputs,
            &self.proj,
            self.out.chunks_mut(self.inputs.shape().s).collect(),
        )
    }
}

/// Seconds per call of `f`, over `calls` calls (at least one) timed together.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn seconds_per(calls: usize, mut f: impl FnMut()) -> f64 {
    let calls = calls.max(1);
    let start = std::time::Instant::now();
    for _ in 0..calls {
        f();
    }
    start.elapsed().as_secs_f64() / calls as f64
}

/// Times the parts of the fastest SIMD path this CPU has among AVX-512 and AVX2 (see [`probe_isa`]); `None`
/// where it has neither.
#[doc(hidden)]
pub fn probe(shape: Shape, span: std::time::Duration) -> Option<PartsProbe> {
    [Isa::Avx512, Isa::Avx2]
        .into_iter()
        .find_map(|isa| probe_isa(isa, shape, span))
}

/// Times path `isa`'s decoding, store and kernel alone at `shape`'s B, D and C for about `span` in all (the best
/// of 3 runs of each); `None` where this CPU lacks the path, or for a path without a probe (NEON, scalar).
#[doc(hidden)]
pub fn probe_isa(isa: Isa, shape: Shape, span: std::time::Duration) -> Option<PartsProbe> {
    #[cfg(target_arch = "x86_64")]
    {
        Detected::new(isa)?;
        let groups = shape.d.div_ceil(project::GROUP);
        // Per path: `time(calls, kernel_calls)` times `calls` tiles decoded and stored and `kernel_calls` kernel
        // calls; and the probe's counts of what one kernel call covers and its vector instructions, its times
        // still to be measured.
        type Time = Box<dyn FnMut(usize, usize) -> (f64, f64, f64)>;
        let unmeasured = PartsProbe {
            isa,
            shape,
            decode_seconds: 0.0,
            store_seconds: 0.0,
            kernel_seconds: 0.0,
            tile: 0,
            queries: 0,
            lanes: 0,
            fmas: 0,
            qjl_ops: 0,
            qjl_adds: 0,
        };
        let (mut time_parts, mut probe): (Time, PartsProbe) = match isa {
            Isa::Avx512 => {
                let mut timer = avx512::PartsTimer::new(shape.d, shape.c);
                // Per query and 16 keys: one FMA per dimension; one lookup and one add per group.
                let vectors = avx512::QB * avx512::TILE / 16;
                (
                    // SAFETY: `Detected::new` above checked that this CPU has AVX-512F/BW.
                    Box::new(move |calls, kernel_calls| unsafe { timer.time(calls, kernel_calls) }),
                    PartsProbe {
                        tile: avx512::TILE,
                        queries: avx512::QB,
                        lanes: 16,
                        fmas: vectors * shape.d,
                        qjl_ops: 2 * vectors * groups,
                        qjl_adds: 0,
                        ..unmeasured
                    },
                )
            }
            Isa::Avx2 => {
                let mut timer = avx2::PartsTimer::new(shape.b, shape.d, shape.c);
                // Per key, 2 vectors of queries: one FMA per dimension (D rounded up to whole groups), one
                // multiply by `coef·gamma` at the end, and one add per group.
                (
                    // SAFETY: `Detected::new` above checked that this CPU has AVX2 and FMA.
                    Box::new(move |calls, kernel_calls| unsafe { timer.time(calls, kernel_calls) }),
                    PartsProbe {
                        tile: avx2::TILE,
                        queries: avx2::QB,
                        lanes: 8,
                        fmas: 2 * avx2::TILE * groups * project::GROUP,
                        qjl_ops: 2 * avx2::TILE,
                        qjl_adds: 2 * avx2::TILE * groups,
                        ..unmeasured
                    },
                )
            }
            Isa::Neon | Isa::Scalar => return None,
        };
        // As many kernel calls as a tile of the shape gets.
        let blocks = probe.blocks();
        let mut time = |calls: usize| time_parts(calls, blocks * calls);
        // Calibrate so that each of the 3 runs (of twice the calls) lasts about a quarter of `span`.
        let mut calls = 4;
        loop {
            let (decode, store, kernel) = time(calls);
            if (decode + store + blocks as f64 * kernel) * calls as f64 >= span.as_secs_f64() / 8.0
                || calls >= 1 << 24
            {
                break;
            }
            calls *= 2;
        }
        (
            probe.decode_seconds,
            probe.store_seconds,
            probe.kernel_seconds,
        ) = (0..3).map(|_| time(calls * 2)).fold(
            (f64::INFINITY, f64::INFINITY, f64::INFINITY),
            |(d, s, k), (dd, ss, kk)| (d.min(dd), s.min(ss), k.min(kk)),
        );
        Some(probe)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (isa, shape, span);
        None
    }
}

/// One check of a SIMD path's building block against its definition (a transpose, the sign-nibble trick), for
/// the test harness, which reports the checks of a path this CPU lacks as ignored rather than passed.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct PartCheck {
    /// What is checked.
    pub name: &'static str,
    /// The path it belongs to.
    pub isa: Isa,
    /// Runs the check: `Err` says what differed, or that this CPU lacks the path.
    pub run: fn() -> Result<(), String>,
}

/// Every building-block check of every path compiled for this architecture.
#[doc(hidden)]
pub fn part_checks() -> Vec<PartCheck> {
    #[cfg(target_arch = "x86_64")]
    {
        vec![
            PartCheck {
                name: "transpose16",
                isa: Isa::Avx512,
                run: avx512::check_transpose,
            },
            PartCheck {
                name: "nibbles",
                isa: Isa::Avx2,
                run: avx2::check_nibbles,
            },
            PartCheck {
                name: "transpose8",
                isa: Isa::Avx2,
                run: avx2::check_transpose8,
            },
        ]
    }
    #[cfg(not(target_arch = "x86_64"))]
    Vec::new()
}
