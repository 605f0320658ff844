//! The `ratchet` command: a thin layer that parses arguments, calls the library and prints.

mod cli;

fn main() -> std::process::ExitCode {
    ratchet_term::restore_default_sigpipe();
    ratchet_term::limit_malloc_arenas();
    cli::main()
}
