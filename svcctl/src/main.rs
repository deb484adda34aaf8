//! Thin binary: parse arguments, run the library, print one envelope, exit with its code.

fn main() -> std::process::ExitCode {
    conventions::run::<svcctl::Cli, _>(conventions::tool!("svcctl"), svcctl::run)
}
