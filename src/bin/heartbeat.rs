//! The `heartbeat` daemon binary: see `heartbeat::cli`.
fn main() {
    std::process::exit(heartbeat::cli::main());
}
