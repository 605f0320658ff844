//! Argument parsing and dispatch for the `ratchet` command.
//!
//! Each command group has its own file; handlers call the library and print. Errors are
//! reported once, at the top, with their chain of causes, and give a non-zero exit.

mod bundle;
mod install;
mod key;
mod publish;
mod registry;
mod run;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Ratchet's package manager: build, validate, publish, install and run task bundles.
#[derive(Parser)]
#[command(name = "ratchet", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: ratchet_term::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create, check, build and inspect bundles.
    #[command(subcommand)]
    Bundle(bundle::BundleCommand),
    /// Run a task or workflow in the sandbox (output JSON on stdout).
    Run(run::RunArgs),
    /// Generate and list signing keys; forget pinned owner keys.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Configure registries and their credentials.
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// Internal: run one sandboxed task (request on stdin, answer on stdout; task-abi.md §10).
    #[command(name = "__sandbox-worker", hide = true)]
    SandboxWorker,
}

/// What a handler returns: the exit code, or an error reported at the top.
pub type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// Parses the command line, runs the command, reports errors.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    ratchet_term::Output::from_args(&cli.global).install();
    let result = match cli.command {
        Command::Bundle(cmd) => bundle::run(cmd),
        Command::Run(args) => run::run(args),
        Command::Key(cmd) => key::run(cmd),
        Command::Registry(cmd) => registry::run(cmd),
        Command::SandboxWorker => Ok(ExitCode::from(ratchet_sandbox::isolate::worker_main(
            std::io::stdin().lock(),
            std::io::stdout().lock(),
        ) as u8)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            ratchet_term::report_error(e.as_ref());
            ExitCode::FAILURE
        }
    }
}
