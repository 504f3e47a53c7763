//! Very large blocks straight from the kernel, so that they grow without
//! being copied.
//!
//! The state's biggest arrays (document records, index slots, clusters;
//! hundreds of megabytes each at ten million paragraphs) grow by
//! reallocation. An allocator moves a block it cannot extend: a copy of
//! the whole array into fresh memory, faulted in 4 KiB at a time, under
//! the state lock. On this project's machine the first batch after loading
//! a 14.7M-document snapshot (whose arrays are sized exactly) spent 7.5 s
//! doing that. Blocks of at least [`MAPPED_FROM_BYTES`] are mapped on their
//! own and grown with `mremap`, which moves page table entries instead of
//! bytes; smaller blocks stay with the wrapped allocator.

use std::alloc::{GlobalAlloc, Layout};

/// Blocks from this size on are mapped on their own (on Linux). The
/// state's arrays pass it early (the document records at 58,000
/// documents): below it, each growth copies the array under the state
/// lock, up to a couple of milliseconds for 4 MiB, which every call waits
/// for. A batch's buffers stay below it except for very large batches,
/// for which a fresh mapping costs little beside their work.
pub const MAPPED_FROM_BYTES: usize = 4 << 20;

/// Wraps an allocator; see the module's documentation.
pub struct LargeMapped<A>(pub A);

#[cfg(target_os = "linux")]
mod mapped {
    const PAGE: usize = 4096;

    fn length(size: usize) -> usize {
        size.next_multiple_of(PAGE)
    }

    /// Fresh zeroed pages, or null.
    pub fn map(size: usize) -> *mut u8 {
        // SAFETY: an anonymous private mapping at an address the kernel
        // chooses; nothing else is touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                length(size),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            p.cast()
        }
    }

    /// # Safety
    /// `ptr` must come from [`map`] or [`remap`] with this `size`.
    pub unsafe fn unmap(ptr: *mut u8, size: usize) {
        libc::munmap(ptr.cast(), length(size));
    }

    /// Grows or shrinks a mapping, moving it if it must; null on failure
    /// (the old mapping is then untouched).
    ///
    /// # Safety
    /// `ptr` must come from [`map`] or [`remap`] with `old` as its size.
    pub unsafe fn remap(ptr: *mut u8, old: usize, new: usize) -> *mut u8 {
        let p = libc::mremap(ptr.cast(), length(old), length(new), libc::MREMAP_MAYMOVE);
        if p == libc::MAP_FAILED {
            std::ptr::null_mut()
        } else {
            p.cast()
        }
    }
}

/// Whether a block of this layout is (or would be) mapped on its own.
fn mapped(layout: Layout) -> bool {
    cfg!(target_os = "linux") && layout.size() >= MAPPED_FROM_BYTES && layout.align() <= 4096
}

// SAFETY: a block is mapped exactly when `mapped(layout)` holds for the
// layout it was allocated or last reallocated with, which is the layout
// the caller passes back; every other block belongs to the wrapped
// allocator, which sees only its own blocks.
unsafe impl<A: GlobalAlloc> GlobalAlloc for LargeMapped<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        #[cfg(target_os = "linux")]
        if mapped(layout) {
            return mapped::map(layout.size());
        }
        self.0.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        #[cfg(target_os = "linux")]
        if mapped(layout) {
            // Fresh anonymous pages read as zero.
            return mapped::map(layout.size());
        }
        self.0.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        #[cfg(target_os = "linux")]
        if mapped(layout) {
            return mapped::unmap(ptr, layout.size());
        }
        self.0.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        match (mapped(layout), mapped(new_layout)) {
            (false, false) => self.0.realloc(ptr, layout, new_size),
            #[cfg(target_os = "linux")]
            (true, true) => mapped::remap(ptr, layout.size(), new_size),
            // Across the threshold: allocate, copy, free.
            _ => {
                let p = self.alloc(new_layout);
                if !p.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                p
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    const MIB: usize = 1 << 20;

    unsafe fn fill(p: *mut u8, n: usize) {
        for i in (0..n).step_by(997) {
            *p.add(i) = (i % 251) as u8;
        }
    }

    unsafe fn check(p: *mut u8, n: usize) {
        for i in (0..n).step_by(997) {
            assert_eq!(*p.add(i), (i % 251) as u8, "byte {i}");
        }
    }

    #[test]
    fn contents_survive_every_kind_of_realloc() {
        let a = LargeMapped(System);
        let layout = |n| Layout::from_size_align(n, 64).unwrap();
        unsafe {
            let p = a.alloc(layout(MIB));
            assert!(!p.is_null());
            fill(p, MIB);
            // Small to large, large to larger (remapped), large to small.
            let q = a.realloc(p, layout(MIB), 70 * MIB);
            check(q, MIB);
            fill(q, 70 * MIB);
            let r = a.realloc(q, layout(70 * MIB), 150 * MIB + 3);
            assert_eq!(r as usize % 64, 0);
            check(r, 70 * MIB);
            let s = a.realloc(r, layout(150 * MIB + 3), 1000);
            check(s, 1000);
            a.dealloc(s, layout(1000));
        }
    }

    #[test]
    fn zeroed_large_blocks_are_zero_and_alignment_is_kept() {
        let a = LargeMapped(System);
        let l = Layout::from_size_align(MAPPED_FROM_BYTES + 5, 4096).unwrap();
        unsafe {
            let p = a.alloc_zeroed(l);
            assert!(!p.is_null());
            assert_eq!(p as usize % 4096, 0);
            assert!((0..l.size()).step_by(4093).all(|i| *p.add(i) == 0));
            a.dealloc(p, l);
        }
        // A stricter alignment than a page stays with the wrapped allocator.
        let big = Layout::from_size_align(MAPPED_FROM_BYTES, 1 << 16).unwrap();
        assert!(!mapped(big));
    }

    #[test]
    fn a_vec_grows_through_the_threshold_and_back() {
        // The path a state array takes: pushed past the threshold, grown,
        // then shrunk; exercised through a real Vec on the wrapper.
        let a = LargeMapped(System);
        let words = 3 * MAPPED_FROM_BYTES / 8;
        let layout = |n: usize| Layout::array::<u64>(n).unwrap();
        unsafe {
            let mut cap = 1024usize;
            let mut p = a.alloc(layout(cap)).cast::<u64>();
            for i in 0..words {
                if i == cap {
                    p = a.realloc(p.cast(), layout(cap), cap * 16).cast();
                    assert!(!p.is_null());
                    cap *= 2;
                }
                *p.add(i) = i as u64;
            }
            assert!((0..words).step_by(4099).all(|i| *p.add(i) == i as u64));
            a.dealloc(p.cast(), layout(cap));
        }
    }
}
