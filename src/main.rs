use clap::Parser;

fn main() -> std::process::ExitCode {
    benchrig::cli::main(benchrig::cli::Cli::parse())
}
