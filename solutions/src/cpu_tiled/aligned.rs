//! Heap buffers aligned to a 64-byte cache line, so vector loads and stores never split a line and threads that
//! write neighbouring column ranges share as few lines as possible.

use std::marker::PhantomData;

/// One cache line of storage.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// Element types that may live in an [`Aligned`] buffer.
///
/// # Safety
/// Every bit pattern (including all zeros) must be a valid value, and the alignment must divide 64.
pub(crate) unsafe trait Plain: Copy {}

// SAFETY: f32, u32, u16 and u8 accept every bit pattern and are aligned to at most 4 bytes.
unsafe impl Plain for f32 {}
// SAFETY: as above.
unsafe impl Plain for u32 {}
// SAFETY: as above.
unsafe impl Plain for u16 {}
// SAFETY: as above.
unsafe impl Plain for u8 {}

/// A zero-initialised buffer of `len` elements of `T` whose first element starts on a cache line.
pub(crate) struct Aligned<T: Plain> {
    lines: Vec<Line>,
    len: usize,
    _elem: PhantomData<T>,
}

impl<T: Plain> Aligned<T> {
    /// `len` zeros.
    pub(crate) fn zeroed(len: usize) -> Self {
        let bytes = len * size_of::<T>();
        Self {
            lines: vec![Line([0; 64]); bytes.div_ceil(64)],
            len,
            _elem: PhantomData,
        }
    }

    /// The elements.
    pub(crate) fn as_slice(&self) -> &[T] {
        // SAFETY: `lines` holds at least `len * size_of::<T>()` initialised bytes, starting on a 64-byte
        // boundary (so aligned for `T`), and every bit pattern is a valid `T` (`Plain`).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<T>(), self.len) }
    }

    /// The elements, mutably.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`; the exclusive borrow of `self` makes the slice unique.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast::<T>(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_line_aligned_and_zeroed() {
        let mut b = Aligned::<f32>::zeroed(37);
        assert_eq!(b.as_slice().len(), 37);
        assert!(b.as_slice().iter().all(|&x| x == 0.0));
        assert_eq!(b.as_slice().as_ptr() as usize % 64, 0);
        b.as_mut_slice()[36] = 2.5;
        assert_eq!(b.as_slice()[36], 2.5);
        let u = Aligned::<u16>::zeroed(0);
        assert!(u.as_slice().is_empty());
    }
}
