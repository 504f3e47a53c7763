//! The `chaff` binary: wiring only; everything lives in the library.

/// The hot path allocates many small, short-lived buffers per paragraph
/// (documents, segments, labels, store records); mimalloc serves them with
/// less time in the allocator than the system's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    chaff::cli::main()
}
