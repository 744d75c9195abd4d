//! `hb_takeover [all|local|foreign|failback]`: take resources from the peer and report the outcome.
fn main() {
    std::process::exit(heartbeat::cli::tools::admin_main(
        heartbeat::cli::admin::AdminKind::Takeover,
    ));
}
