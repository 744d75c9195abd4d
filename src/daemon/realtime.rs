//! `realtime on`: a modest SCHED_RR priority (reset on fork, so scripts run normally) and locked
//! memory, so a busy or swapping machine does not delay heartbeats. Both fail softly: the caller
//! logs the returned warnings (WARN, not the original's noisy ERROR, spec §13.26).

use nix::libc;

/// SCHED_RR priority: high enough to beat ordinary load, far below kernel threads.
const RR_PRIORITY: i32 = 5;

/// Applies realtime settings; returns one warning per thing that could not be done.
pub fn enable() -> Vec<String> {
    let mut warnings = Vec::new();
    let param = libc::sched_param {
        sched_priority: RR_PRIORITY,
    };
    // SAFETY: plain syscall on our own process with a valid parameter struct.
    let rc =
        unsafe { libc::sched_setscheduler(0, libc::SCHED_RR | libc::SCHED_RESET_ON_FORK, &param) };
    if rc != 0 {
        warnings.push(format!(
            "Cannot set realtime scheduling (SCHED_RR {RR_PRIORITY}): {}",
            std::io::Error::last_os_error()
        ));
    }
    if let Err(e) = lock_memory() {
        warnings.push(format!("Cannot lock ourselves into memory: {e}"));
    }
    warnings
}

/// Locks pages as they are touched (MCL_ONFAULT) so the resident set stays small; falls back to
/// a plain lock on kernels without MCL_ONFAULT.
fn lock_memory() -> std::io::Result<()> {
    let all = libc::MCL_CURRENT | libc::MCL_FUTURE;
    // SAFETY: mlockall has no memory-safety preconditions.
    if unsafe { libc::mlockall(all | libc::MCL_ONFAULT) } == 0 {
        return Ok(());
    }
    if unsafe { libc::mlockall(all) } == 0 {
        return Ok(());
    }
    Err(std::io::Error::last_os_error())
}
