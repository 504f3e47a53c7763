//! The `chaff` binary: wiring only; everything lives in the library.

/// The hot path allocates many small, short-lived buffers per paragraph
/// (documents, segments, labels, store records); mimalloc serves them with
/// less time in the allocator than the system's; the few very large arrays
/// are mapped on their own, to grow without a copy (see [`chaff::alloc`]).
#[global_allocator]
static ALLOCATOR: chaff::alloc::LargeMapped<mimalloc::MiMalloc> =
    chaff::alloc::LargeMapped(mimalloc::MiMalloc);

fn main() -> std::process::ExitCode {
    chaff::cli::main()
}
