//! `cl_status`: cluster status from the local daemon (see `heartbeat::cli::clstatus`).
fn main() {
    std::process::exit(heartbeat::cli::tools::cl_status_main());
}
