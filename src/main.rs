//! The `chaff` binary: wiring only; everything lives in the library.

fn main() -> std::process::ExitCode {
    chaff::cli::main()
}
