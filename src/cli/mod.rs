//! Argument parsing and dispatch for the `ratchet` command.
//!
//! Each command group has its own file; handlers call the library and print. Errors are
//! reported once, at the top, with their chain of causes, and give a non-zero exit.

mod bundle;
mod check;
mod discovery;
mod enterprise;
mod import;
mod install;
mod key;
mod publish;
mod registry;
mod run;
mod search;

use clap::{CommandFactory, Parser, Subcommand};
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
    /// Enterprise policy: check a lockfile against the registry's and this client's policies.
    #[command(subcommand)]
    Policy(enterprise::PolicyCommand),
    /// This client's tamper-evident audit log: verify, export for a SIEM, prune.
    #[command(subcommand)]
    Audit(enterprise::AuditCommand),
    /// Print a shell completion script (e.g. `ratchet completions bash > ~/.local/share/bash-completion/completions/ratchet`).
    Completions {
        /// The shell.
        shell: ratchet_term::Shell,
    },
    /// Write man pages: one roff page per command and subcommand into --out DIR, or the top
    /// page on standard output.
    Man {
        /// Directory to write the pages in (created if needed).
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
    },
    /// Internal: run one sandboxed task (request on stdin, answer on stdout; task-abi.md §10).
    #[command(name = "__sandbox-worker", hide = true)]
    SandboxWorker {
        /// Load the cached JavaScript engine from this compiled-module cache while waiting.
        #[arg(long = "preload-js", value_name = "DIR")]
        preload_js: Option<std::path::PathBuf>,
    },
}

/// What a handler returns: the exit code, or an error reported at the top.
pub type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;

/// Parses the command line, runs the command, reports errors.
pub fn main() -> ExitCode {
    let cli: Cli = ratchet_term::parse_args();
    ratchet_term::Output::from_args(&cli.global).install();
    let result = match cli.command {
        Command::Bundle(cmd) => bundle::run(cmd),
        Command::Run(args) => run::run(args),
        Command::Key(cmd) => key::run(cmd),
        Command::Registry(cmd) => registry::run(cmd),
        Command::Policy(cmd) => enterprise::policy(cmd),
        Command::Audit(cmd) => enterprise::audit(cmd),
        Command::Completions { shell } => {
            ratchet_term::completions(Cli::command(), shell, &mut std::io::stdout())
                .map(|()| ExitCode::SUCCESS)
                .map_err(Into::into)
        }
        Command::Man { out } => ratchet_term::man_pages(Cli::command(), out.as_deref())
            .map(|written| {
                if !written.is_empty() {
                    ratchet_term::out().status(format_args!("wrote {} man page(s)", written.len()));
                }
                ExitCode::SUCCESS
            })
            .map_err(Into::into),
        Command::SandboxWorker { preload_js } => {
            Ok(ExitCode::from(ratchet_sandbox::isolate::worker_main(
                preload_js,
                std::io::stdin().lock(),
                std::io::stdout().lock(),
            ) as u8))
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => ratchet_term::fail(e.as_ref()),
    }
}
