//! The shared memory region of one case, mapped by the judge and by the worker, holding every slot's input arrays
//! and output buffer at the offsets of [`SlotLayout`].
//!
//! On Linux the region is an anonymous memory file (`memfd_create`) whose size is sealed: nobody, the worker
//! included, can shrink or grow it. The worker inherits its descriptor and opens it as `/proc/self/fd/N`, the same
//! path as in the judge. A region file that a submission could truncate would crash the judge with `SIGBUS` at its
//! next read of the mapping. Elsewhere (or where the kernel refuses memory files) it is a file in the directory
//! given, on tmpfs when there is one.
//!
//! The judge writes a slot's inputs and poisons its output before each call, and after the call copies the
//! output and the inputs back out to check them: the worker never decides what the judge sees. Because the
//! other process may write the region at any moment (a submission's stray thread included), this module never
//! hands out references into it: bytes only move in and out through raw copies, and what comes out is treated
//! as untrusted data.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;

use solutions::{Field, InputParts, POISON, Shape};

use super::protocol::{SlotLayout, field_bytes};

/// A mapped shared region.
pub struct Region {
    ptr: NonNull<u8>,
    len: usize,
    path: PathBuf,
    /// Whether this side created the file (and removes it when dropped).
    owner: bool,
    /// Whether `path` names the descriptor of `file` (a sealed memory file), which a worker must inherit.
    by_descriptor: bool,
    file: File,
}

// SAFETY: the mapping is plain shared memory with no thread affinity; every access goes through raw copies
// whose bounds are checked against `len`.
unsafe impl Send for Region {}

impl Region {
    /// Creates a zero-filled region of `len` bytes and maps it: a sealed memory file where the kernel has them,
    /// else a new file inside `dir`.
    pub fn create(dir: &Path, len: u64) -> io::Result<Region> {
        #[cfg(target_os = "linux")]
        if let Some(file) = sealed_memory_file(len) {
            let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
            let mut region = Self::map(file, path, len)?;
            region.by_descriptor = true;
            return Ok(region);
        }
        let file = tempfile::Builder::new()
            .prefix("region-")
            .tempfile_in(dir)?;
        let (file, path) = file.keep().map_err(|e| e.error)?;
        file.set_len(len)?;
        let mut region = Self::map(file, path.clone(), len).inspect_err(|_| {
            let _ = std::fs::remove_file(&path);
        })?;
        region.owner = true;
        Ok(region)
    }

    /// Maps an existing region file of `len` bytes (the worker's side).
    pub fn open(path: &Path, len: u64) -> io::Result<Region> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let actual = file.metadata()?.len();
        if actual < len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("region file holds {actual} bytes, {len} were announced"),
            ));
        }
        Self::map(file, path.to_owned(), len)
    }

    fn map(file: File, path: PathBuf, len: u64) -> io::Result<Region> {
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad region length"))?;
        // SAFETY: a fresh shared mapping of an open file descriptor; the kernel picks the address. The result
        // is checked against MAP_FAILED before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(Region {
            ptr,
            len,
            path,
            owner: false,
            by_descriptor: false,
            file,
        })
    }

    /// The path that opens the region: its file, or `/proc/self/fd/N` for a memory file (valid in this process
    /// and in a worker that inherits [`Region::inherited_descriptor`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The descriptor a worker must inherit (under the same number) to open [`Region::path`]; `None` for a region
    /// in a file, which the worker opens by its name.
    pub fn inherited_descriptor(&self) -> Option<RawFd> {
        self.by_descriptor.then(|| self.file.as_raw_fd())
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        self.len as u64
    }

    /// Always false: a region has at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The address of byte `offset`, for handing to `solve`; `None` when `offset + bytes` is out of range.
    pub fn address(&self, offset: u64, bytes: u64) -> Option<*mut u8> {
        let end = offset.checked_add(bytes)?;
        if end > self.len as u64 {
            return None;
        }
        // SAFETY: `offset ≤ len` was just checked, so the result stays inside (or one past) the mapping.
        Some(unsafe { self.ptr.as_ptr().add(offset as usize) })
    }

    fn span(&self, offset: u64, bytes: usize) -> *mut u8 {
        match self.address(offset, bytes as u64) {
            Some(p) => p,
            None => panic!(
                "region access [{offset}, +{bytes}) outside its {} bytes: a layout bug in the judge",
                self.len
            ),
        }
    }

    /// Copies `bytes` into the region at `offset`.
    ///
    /// # Panics
    /// If the span leaves the region (the judge sizes regions from the same layout, so that is a bug).
    pub fn write(&self, offset: u64, bytes: &[u8]) {
        let dst = self.span(offset, bytes.len());
        // SAFETY: `dst..dst+len` is inside the mapping (checked by `span`); the source is a distinct local slice.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
    }

    /// Copies `len` bytes out of the region at `offset`.
    ///
    /// # Panics
    /// If the span leaves the region.
    pub fn read(&self, offset: u64, len: usize) -> Vec<u8> {
        let src = self.span(offset, len);
        let mut out = vec![0u8; len];
        // SAFETY: `src..src+len` is inside the mapping; `out` is a distinct local buffer of `len` bytes. The
        // bytes may be changing under us (another process shares them); we only copy them, never reference.
        unsafe { std::ptr::copy_nonoverlapping(src, out.as_mut_ptr(), len) };
        out
    }

    /// Writes the seven input arrays of `parts` into `slot`.
    pub fn write_inputs(&self, slot: &SlotLayout, parts: &InputParts) {
        self.write(slot.q, &f32_bytes(&parts.q));
        self.write(slot.k_idx, &parts.k_idx);
        self.write(
            slot.qjl_signs,
            &parts
                .qjl_signs
                .iter()
                .map(|&v| v as u8)
                .collect::<Vec<u8>>(),
        );
        self.write(slot.gamma, &f32_bytes(&parts.gamma));
        self.write(slot.pi, &f32_bytes(&parts.pi));
        self.write(slot.s_mat, &f32_bytes(&parts.s_mat));
        self.write(slot.codebook, &f32_bytes(&parts.codebook));
    }

    /// Reads the seven input arrays of `slot` back, as they are now.
    pub fn read_inputs(&self, slot: &SlotLayout, shape: Shape) -> InputParts {
        let bytes = |f: Field| self.read(slot.offset(f), field_bytes(shape, f) as usize);
        let floats = |f: Field| bytes_f32(&bytes(f));
        InputParts {
            shape,
            q: floats(Field::Q),
            k_idx: bytes(Field::KIdx),
            qjl_signs: bytes(Field::QjlSigns)
                .into_iter()
                .map(|b| b as i8)
                .collect(),
            gamma: floats(Field::Gamma),
            pi: floats(Field::Pi),
            s_mat: floats(Field::SMat),
            codebook: floats(Field::Codebook),
        }
    }

    /// Fills `slot`'s output with [`POISON`], and the guards on both sides of it ([`SlotLayout::GUARD`] bytes
    /// each) too, so that [`Self::guard_change`] can tell a write next to the output.
    pub fn poison_output(&self, slot: &SlotLayout, shape: Shape) {
        self.write(slot.scores, &f32_bytes(&vec![POISON; shape.output_len()]));
        let guard = guard_pattern();
        for offset in guard_offsets(slot, shape) {
            self.write(offset, &guard);
        }
    }

    /// Whether a write outside `slot`'s output changed one of its guards: where the changed byte nearest the
    /// output lies, before it and after it, as a phrase (`4 bytes before scores[0]`).
    pub fn guard_change(&self, slot: &SlotLayout, shape: Shape) -> Option<String> {
        let pattern = guard_pattern();
        let [before, after] = guard_offsets(slot, shape).map(|at| self.read(at, pattern.len()));
        let differs = |(now, was): (&u8, &u8)| now != was;
        let mut found = Vec::new();
        if let Some(i) = before.iter().zip(&pattern).rposition(differs) {
            found.push(format!("{} bytes before scores[0]", pattern.len() - i));
        }
        if let Some(i) = after.iter().zip(&pattern).position(differs) {
            found.push(format!("{} bytes past the end of scores", i + 1));
        }
        (!found.is_empty()).then(|| found.join(" and "))
    }

    /// Copies `slot`'s output out.
    pub fn read_output(&self, slot: &SlotLayout, shape: Shape) -> Vec<f32> {
        bytes_f32(&self.read(slot.scores, field_bytes(shape, Field::Scores) as usize))
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `map`, unmapped once here; no reference into it
        // outlives `self` because none is ever handed out.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
        if self.owner {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A zero-filled memory file of `len` bytes whose size can never change (sealed against shrinking and growing,
/// and against further seals), close-on-exec; `None` where the kernel has no sealable memory files.
#[cfg(target_os = "linux")]
fn sealed_memory_file(len: u64) -> Option<File> {
    use std::os::fd::FromRawFd;

    // SAFETY: the name is a NUL-terminated literal; the flags are plain integers.
    let fd = unsafe {
        libc::memfd_create(
            c"judge-region".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    let file = unsafe { File::from_raw_fd(fd) };
    file.set_len(len).ok()?;
    let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
    // SAFETY: F_ADD_SEALS takes an integer; `file` is open for the call.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
        return None;
    }
    Some(file)
}

/// What a guard holds before a call: [`POISON`] over [`SlotLayout::GUARD`] bytes.
fn guard_pattern() -> Vec<u8> {
    f32_bytes(&vec![POISON; (SlotLayout::GUARD / 4) as usize])
}

/// Offsets of the guard before `slot`'s output and of the one after it.
fn guard_offsets(slot: &SlotLayout, shape: Shape) -> [u64; 2] {
    [
        slot.scores - SlotLayout::GUARD,
        slot.scores + field_bytes(shape, Field::Scores),
    ]
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_ne_bytes()).collect()
}

fn bytes_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_mappings_of_one_region_see_each_others_writes() {
        let dir = tempfile::tempdir().unwrap();
        let shape = Shape::new(2, 3, 2, 4);
        let (slots, len) = SlotLayout::plan(shape, 2);
        let judge = Region::create(dir.path(), len).unwrap();
        let worker = Region::open(judge.path(), len).unwrap();
        let parts = InputParts {
            shape,
            q: vec![1.0, 0.0, 0.0, 1.0],
            k_idx: vec![0, 3, 1, 2, 3, 0],
            qjl_signs: vec![1, -1, 1, 1, -1, 1],
            gamma: vec![0.5, 0.0, 2.0],
            pi: vec![1.0, 0.0, 0.0, 1.0],
            s_mat: vec![0.0, 1.0, 1.0, 0.0],
            codebook: vec![-0.75, -0.25, 0.25, 0.75],
        };
        judge.write_inputs(&slots[1], &parts);
        judge.poison_output(&slots[1], shape);
        assert_eq!(worker.read_inputs(&slots[1], shape), parts);
        assert!(
            worker
                .read_output(&slots[1], shape)
                .iter()
                .all(|v| v.to_bits() == POISON.to_bits())
        );
        worker.write(slots[1].scores, &7.5f32.to_ne_bytes());
        assert_eq!(judge.read_output(&slots[1], shape)[0], 7.5);
        assert!(
            Region::open(judge.path(), len + 1).is_err(),
            "a region shorter than announced is refused"
        );
    }

    #[test]
    fn writes_next_to_the_output_are_seen_and_placed() {
        let dir = tempfile::tempdir().unwrap();
        let shape = Shape::new(3, 5, 7, 4);
        let (slots, len) = SlotLayout::plan(shape, 2);
        let region = Region::create(dir.path(), len).unwrap();
        let scores_bytes = field_bytes(shape, Field::Scores);
        for slot in &slots {
            // The guards hold no other array.
            for field in Field::INPUTS {
                let (start, end) = (
                    slot.offset(field),
                    slot.offset(field) + field_bytes(shape, field),
                );
                assert!(end <= slot.scores - SlotLayout::GUARD, "{field:?}");
                assert!(start < slot.scores);
            }
            region.poison_output(slot, shape);
            assert_eq!(region.guard_change(slot, shape), None);
            // Writing every element of the output touches no guard.
            region.write(slot.scores, &vec![0u8; scores_bytes as usize]);
            assert_eq!(region.guard_change(slot, shape), None);
        }
        let slot = &slots[0];
        region.write(slot.scores - 4, &1.0f32.to_ne_bytes());
        region.write(slot.scores + scores_bytes + 12, &1.0f32.to_ne_bytes());
        assert_eq!(
            region.guard_change(slot, shape).as_deref(),
            Some("1 bytes before scores[0] and 13 bytes past the end of scores")
        );
        assert!(slots[1].scores + scores_bytes + SlotLayout::GUARD <= len);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn nobody_can_resize_a_region() {
        let dir = tempfile::tempdir().unwrap();
        let region = Region::create(dir.path(), 4096).unwrap();
        assert!(region.inherited_descriptor().is_some());
        // What a worker does: open the path it was given, writable.
        let other = OpenOptions::new()
            .read(true)
            .write(true)
            .open(region.path())
            .unwrap();
        let shrink = other.set_len(0).unwrap_err();
        assert_eq!(shrink.raw_os_error(), Some(libc::EPERM), "{shrink}");
        assert!(other.set_len(8192).is_err());
        assert_eq!(other.metadata().unwrap().len(), 4096);
        region.write(4092, &1.0f32.to_ne_bytes());
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "a memory file leaves nothing in the directory"
        );
    }

    #[test]
    fn addresses_are_bounds_checked() {
        let dir = tempfile::tempdir().unwrap();
        let region = Region::create(dir.path(), 512).unwrap();
        assert!(region.address(0, 512).is_some());
        assert!(region.address(256, 257).is_none());
        assert!(region.address(u64::MAX, 1).is_none());
    }
}
