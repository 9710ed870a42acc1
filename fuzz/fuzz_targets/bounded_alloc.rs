//! Every target's allocator: the system's, but a single allocation over
//! 16 MiB fails (Rust then aborts, which libFuzzer reports as a crash with
//! the input). An input is at most a few KiB, so such an allocation means
//! a length read from the input was used before it was checked.

use std::alloc::{GlobalAlloc, Layout, System};

const LIMIT: usize = 16 << 20;

pub struct Bounded;

// SAFETY: each method hands its arguments to the system allocator
// unchanged, or returns null (an allocation failure, which the caller
// must handle) without touching memory.
unsafe impl GlobalAlloc for Bounded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > LIMIT {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > LIMIT {
            return std::ptr::null_mut();
        }
        // SAFETY: as GlobalAlloc::realloc requires, passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Bounded = Bounded;
