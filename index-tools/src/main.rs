//! `ratchet-index`: the publish tool for static Ratchet registries (see the registry issue).

fn main() -> std::process::ExitCode {
    eprintln!(
        "ratchet-index {}: not implemented yet (registry publishing arrives with the static-registry work)",
        ratchet::TOOL_VERSION
    );
    std::process::ExitCode::from(2)
}
