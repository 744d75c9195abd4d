//! `hb_standby [all|local|foreign|failback]`: give resources to the peer and report the outcome.
fn main() {
    std::process::exit(heartbeat::cli::tools::admin_main(
        heartbeat::cli::admin::AdminKind::Standby,
    ));
}
