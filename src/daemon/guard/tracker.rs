//! The daemon's use of the crash guard ([`crate::daemon::guard`], `crash_guard on`, the default; spec
//! §13.29): the guard is forked at start-up, before the pid lock, sockets and realtime, and is
//! told which groups we hold — a group counts as held from the moment its first start script
//! is run until its last stop script has finished — so that a daemon killed in the middle of
//! a start or a stop still has its addresses removed. A clean exit says `bye`.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::Config;
use crate::core::{ActionId, ScriptOp};
use crate::daemon::guard::{GuardHandle, GuardSettings};
use crate::resource::Resolver;

use crate::daemon::detach::Starter;

/// The daemon's end of the guard.
pub struct Guard {
    handle: GuardHandle,
    /// Scripts in flight, by action, with their group.
    in_flight: BTreeMap<ActionId, usize>,
    /// Reported once when the guard cannot be reached.
    broken: bool,
}

impl Guard {
    /// Forks the guard (the daemon must still be single-threaded). The guard closes every
    /// inherited descriptor, the launcher's pipe included.
    pub fn spawn(
        _starter: &mut Starter,
        config: &Config,
        resolver: &Resolver,
        stderr: bool,
    ) -> Result<Guard, crate::daemon::guard::GuardError> {
        let settings = GuardSettings::from_config(config, resolver.clone(), stderr);
        let mut handle = crate::daemon::guard::spawn(settings)?;
        // Freeze watchdog: a daemon silent for two thirds of the deadtime while holding groups
        // is killed and cleaned up before the peer declares it dead.
        handle.watch(watch_millis(config))?;
        log::info!(
            "crash guard started [pid {}], watchdog {} ms",
            handle.pid(),
            watch_millis(config)
        );
        Ok(Guard {
            handle,
            in_flight: BTreeMap::new(),
            broken: false,
        })
    }

    /// A script of `group` is about to run: a start makes the group held at once.
    pub fn script_started(&mut self, id: ActionId, group: usize, op: ScriptOp, config: &Config) {
        if op == ScriptOp::Status {
            return;
        }
        self.in_flight.insert(id, group);
        if op == ScriptOp::Start {
            self.hold(group, config);
        }
    }

    /// A script finished (whatever the outcome).
    pub fn script_done(&mut self, id: ActionId) {
        self.in_flight.remove(&id);
    }

    /// Reconciles with what the core holds: held groups and groups with a script in flight stay;
    /// the others are released.
    pub fn sync(&mut self, held: &[usize], config: &Config) {
        let keep: BTreeSet<usize> = held
            .iter()
            .copied()
            .chain(self.in_flight.values().copied())
            .collect();
        for g in &keep {
            self.hold(*g, config);
        }
        let gone: Vec<usize> = self.handle.held().filter(|g| !keep.contains(g)).collect();
        for g in gone {
            let r = self.handle.release(g);
            self.report(r);
        }
    }

    fn hold(&mut self, group: usize, config: &Config) {
        let Some(g) = config.groups.get(group) else {
            return;
        };
        let words: Vec<String> = g.resources.iter().map(|r| r.text.clone()).collect();
        let r = self.handle.hold(group, &words);
        self.report(r);
    }

    /// Our wire identity (the guard's shutdown notice speaks in our name).
    pub fn identify(&mut self, uuid: [u8; 16], generation: u64) {
        let r = self.handle.ident(uuid, generation);
        self.report(r);
    }

    /// The highest seq stamped, before the packets carrying it are sent.
    pub fn sent(&mut self, seq: u64) {
        let r = self.handle.sent(seq);
        self.report(r);
    }

    /// A sign of life for the freeze watchdog (call on every loop iteration).
    pub fn tick(&mut self) {
        let r = self.handle.tick();
        self.report(r);
    }

    /// Clean shutdown: the guard leaves without doing anything.
    pub fn disarm(self) {
        let _ = self.handle.bye();
    }

    fn report(&mut self, r: Result<(), crate::daemon::guard::GuardError>) {
        match r {
            Ok(()) => {}
            Err(e) if !self.broken => {
                self.broken = !self.handle.is_connected();
                log::error!("{e}");
            }
            Err(_) => {}
        }
    }
}

/// Two thirds of the deadtime: the peer waits the whole deadtime after our last heartbeat.
pub fn watch_millis(config: &Config) -> u64 {
    (config.ha.deadtime * 2 / 3).max(config.ha.keepalive * 2)
}
