//! Thin binary: parse arguments, run the library, print one envelope, exit with its code.

fn main() -> std::process::ExitCode {
    conventions::run::<envpatch::Cli, _>(conventions::tool!("envpatch"), envpatch::run)
}
