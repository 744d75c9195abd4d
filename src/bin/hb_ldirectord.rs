//! `hb_ldirectord`: the LVS director, ldirectord.cf-compatible (see `cli::ldirectord`).
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(heartbeat::cli::ldirectord::main(&args));
}
