//! Ingest throughput: a generated 1M-line combined log (a mix of archive downloads, other
//! files, 304s and HEADs) over a small registry; prints lines per second next to the goal.
fn main() {}
