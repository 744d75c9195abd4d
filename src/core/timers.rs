//! Every deadline of the core by name, in one table (as quinn-proto's `TimerTable`): the shell
//! asks [`Core::next_deadline`] and calls back with `Input::Tick` and the time; nothing in the
//! core reads a clock. The deadlines live with the state they belong to (a peer's last
//! heartbeat, a standby's start); [`Core::timers`] gathers them, named, so that the next wake-up,
//! the tests and the debug log all speak of `PeerDead` or `Failback` rather than of a number.

use super::machine::Core;
use crate::config::Millis;

/// A named deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Our next heartbeat (and ping round).
    Heartbeat,
    /// The peer has been silent for warntime: log `Late heartbeat`.
    PeerWarn,
    /// The peer has been silent for its deadtime (initdead at start): it is dead.
    PeerDead,
    /// A heartbeat link of the peer's has been silent for the deadtime: the link is dead.
    LinkDead,
    /// Ask again for the node list (`reqnodes`) while communication is coming up.
    ReqNodes,
    /// Ask the peer to retransmit a missing sequence number.
    Rexmit,
    /// The first seconds after start, during which we advertise a longer deadtime.
    StartupDt,
    /// Ping nodes: a reply overdue, a give-up or an ipfail decision due.
    Ping,
    /// The peer told us its resources; ours settle after this (T_LOCAL).
    LocalSettle,
    /// Give the peer's groups back (auto_failback on).
    Failback,
    /// Hand a group to the better-connected peer (ipfail).
    GiveAway,
    /// Retry an acquisition that failed or found nobody to ask.
    Retry,
    /// A group nobody holds for this long is taken (orphan grace).
    Orphan,
    /// A standby or takeover in progress gives up waiting for the peer.
    Standby,
    /// Fence the dead peer (after the race delay, or again after a failure).
    Fence,
    /// Monitoring: a check due, a restart while alone, a hand-over deadline, a mark expiring.
    Monitor,
}

impl Timer {
    pub const ALL: [Timer; 16] = [
        Timer::Heartbeat,
        Timer::PeerWarn,
        Timer::PeerDead,
        Timer::LinkDead,
        Timer::ReqNodes,
        Timer::Rexmit,
        Timer::StartupDt,
        Timer::Ping,
        Timer::LocalSettle,
        Timer::Failback,
        Timer::GiveAway,
        Timer::Retry,
        Timer::Orphan,
        Timer::Standby,
        Timer::Fence,
        Timer::Monitor,
    ];
}

/// One optional deadline per [`Timer`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerTable {
    at: [Option<Millis>; Timer::ALL.len()],
}

impl TimerTable {
    /// Sets `timer` to the earlier of its current deadline and `at` (several sources, e.g.
    /// every link, share one name).
    pub fn arm(&mut self, timer: Timer, at: Option<Millis>) {
        if let Some(at) = at {
            let slot = &mut self.at[timer as usize];
            *slot = Some(slot.map_or(at, |t| t.min(at)));
        }
    }

    pub fn get(&self, timer: Timer) -> Option<Millis> {
        self.at[timer as usize]
    }

    /// The earliest deadline and its name.
    pub fn next(&self) -> Option<(Timer, Millis)> {
        Timer::ALL
            .iter()
            .filter_map(|t| self.get(*t).map(|at| (*t, at)))
            .min_by_key(|(_, at)| *at)
    }

    /// The timers due at `now`.
    pub fn due(&self, now: Millis) -> Vec<Timer> {
        Timer::ALL
            .iter()
            .copied()
            .filter(|t| self.get(*t).is_some_and(|at| at <= now))
            .collect()
    }
}

impl Core {
    /// Every armed deadline, by name.
    pub fn timers(&self) -> TimerTable {
        let mut t = TimerTable::default();
        if self.stopped {
            return t;
        }
        self.membership_timer_table(&mut t);
        self.resource_timer_table(&mut t);
        t.arm(Timer::Standby, self.standby_deadline());
        t.arm(Timer::Ping, self.ping_deadline());
        self.fence_timer_table(&mut t);
        self.monitor_timer_table(&mut t);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_named_deadline_wins_and_shared_names_keep_their_minimum() {
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.arm(Timer::Heartbeat, Some(200));
        t.arm(Timer::LinkDead, Some(900));
        t.arm(Timer::LinkDead, Some(700));
        t.arm(Timer::LinkDead, None);
        t.arm(Timer::PeerDead, Some(150));
        assert_eq!(t.get(Timer::LinkDead), Some(700));
        assert_eq!(t.next(), Some((Timer::PeerDead, 150)));
        assert_eq!(t.due(200), vec![Timer::Heartbeat, Timer::PeerDead]);
    }
}
