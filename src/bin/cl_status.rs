//! `cl_status`: cluster status from the local daemon (see `heartbeat::daemon::clstatus`).
fn main() {
    std::process::exit(heartbeat::daemon::tools::cl_status_main());
}
