//! The director's state machine with simulated time and simulated real servers: how fast a
//! dead server leaves, how checks spread, the fallback, quiescence, reloads. Milliseconds of
//! test time for minutes of director time.

use std::collections::BTreeMap;
use std::path::Path;

use heartbeat::config::Diagnostics;
use heartbeat::config::ldirectord::parse;
use heartbeat::director::health::{Action, Director, RealId};
use heartbeat::director::table::Table;

fn config(text: &str) -> heartbeat::config::ldirectord::DirectorConfig {
    let mut d = Diagnostics::default();
    let c = parse(Path::new("sim.cf"), text, &mut d);
    assert!(d.errors.is_empty(), "{:?}", d.errors);
    c
}

fn web(n: usize, extra: &str) -> String {
    let mut s = format!("virtual=192.0.2.10:80\n\tservice=http\n{extra}");
    for i in 0..n {
        s.push_str(&format!(
            "\treal=198.51.{}.{}:80 masq\n",
            100 + i / 250,
            1 + i % 250
        ));
    }
    s
}

/// A simulated world: servers alive or dead, answering after `rtt` (or timing out).
struct Sim {
    d: Director,
    now: u64,
    rtt: u64,
    dead: Vec<bool>,
    /// (answer time, id, ok)
    pending: Vec<(u64, RealId, bool)>,
    launches: Vec<(u64, RealId)>,
    tables: Vec<(u64, Table)>,
    logs: Vec<String>,
}

impl Sim {
    fn new(text: &str, servers: usize) -> Sim {
        Sim::with_dead(text, vec![false; servers])
    }

    fn with_dead(text: &str, dead: Vec<bool>) -> Sim {
        let mut s = Sim {
            d: Director::new(config(text), 0),
            now: 0,
            rtt: 2,
            dead,
            pending: Vec::new(),
            launches: Vec::new(),
            tables: Vec::new(),
            logs: Vec::new(),
        };
        s.drain();
        s
    }

    fn drain(&mut self) {
        while let Some(a) = self.d.poll_action() {
            match a {
                Action::Probe { id, timeout, .. } => {
                    self.launches.push((self.now, id));
                    let dead = self.dead[id.real];
                    let at = if dead {
                        self.now + timeout
                    } else {
                        self.now + self.rtt
                    };
                    self.pending.push((at, id, !dead));
                }
                Action::Apply(t) => self.tables.push((self.now, t)),
                Action::Log(_, text) => self.logs.push(format!("{} {text}", self.now)),
                Action::FallbackCommand { args, .. } => {
                    self.logs
                        .push(format!("{} fallbackcommand {}", self.now, args.join(" ")))
                }
            }
        }
    }

    /// Runs until `until`, jumping from event to event.
    fn run_until(&mut self, until: u64) {
        loop {
            let next_answer = self.pending.iter().map(|p| p.0).min();
            let next = [next_answer, self.d.next_deadline()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(until)
                .max(self.now);
            if next > until {
                self.now = until;
                return;
            }
            self.now = next;
            let (due, rest): (Vec<_>, Vec<_>) =
                self.pending.drain(..).partition(|p| p.0 <= self.now);
            self.pending = rest;
            for (_, id, ok) in due {
                self.d.verdict(id, ok, if ok { "ok" } else { "timed out" });
            }
            self.d.tick(self.now);
            self.drain();
        }
    }

    fn live(&self) -> Vec<String> {
        let t = self.d.table().expect("a table");
        t.services[0]
            .dests
            .iter()
            .filter(|d| d.weight > 0)
            .map(|d| d.addr.to_string())
            .collect()
    }

    fn weight_of(&self, addr: &str) -> Option<u32> {
        let t = self.d.table()?;
        t.services[0]
            .dests
            .iter()
            .find(|d| d.addr.to_string() == addr)
            .map(|d| d.weight)
    }
}

#[test]
fn the_first_table_stands_within_one_check_timeout_of_a_takeover() {
    let mut s = Sim::with_dead(
        &web(3, "\tchecktimeout=2\n\tcheckinterval=10\n"),
        vec![false, true, false],
    );
    assert!(s.d.table().is_none(), "no rules before the first answers");
    assert_eq!(s.launches.len(), 3, "every server is checked at once");
    s.run_until(2_000);
    let (at, _) = s.tables.first().expect("a first table");
    assert!(*at <= 2_000, "first table at {at} ms");
    assert_eq!(s.live(), vec!["198.51.100.1:80", "198.51.100.3:80"]);
    assert_eq!(
        s.weight_of("198.51.100.2:80"),
        Some(0),
        "quiescent by default"
    );
}

/// Thousands of servers: the first round is paced (100 per 10 ms) rather than one burst whose
/// dropped connection attempts would come out as false failures, and still ends within one
/// check timeout of its last start.
#[test]
fn a_first_round_of_thousands_is_paced_and_still_quick() {
    let mut text = String::from("virtual=192.0.2.10:80\n\tservice=http\n\tchecktimeout=1\n");
    for i in 0..2000 {
        text.push_str(&format!("\treal=198.51.100.1:{} masq\n", 10_000 + i));
    }
    let mut s = Sim::new(&text, 2000);
    s.run_until(1_500);
    let mut per_step: BTreeMap<u64, usize> = BTreeMap::new();
    for (at, _) in s.launches.iter().filter(|(at, _)| *at < 1_000) {
        *per_step.entry(at / 10).or_default() += 1;
    }
    assert_eq!(per_step.values().sum::<usize>(), 2000, "each server once");
    assert!(per_step.values().all(|&n| n <= 100), "{per_step:?}");
    let last_start = s.launches.iter().map(|(at, _)| *at).max().unwrap_or(0);
    assert!(
        last_start <= 200,
        "the last first check started at {last_start} ms"
    );
    let (at, _) = s.tables.first().expect("a first table");
    assert!(*at <= last_start + 1_000, "first table at {at} ms");
    assert_eq!(s.live().len(), 2000);
}

#[test]
fn a_dead_server_leaves_within_interval_times_failurecount_plus_timeout() {
    let text = web(
        5,
        "\tcheckinterval=1\n\tfailurecount=3\n\tchecktimeout=500ms\n\tquiescent=no\n",
    );
    for death in [10_000u64, 10_250, 10_999, 11_500] {
        let mut s = Sim::new(&text, 5);
        s.run_until(death);
        s.dead[2] = true;
        s.run_until(death + 6_000);
        let removed = s
            .tables
            .iter()
            .find(|(at, t)| {
                *at >= death
                    && !t
                        .live(&t.services[0].key)
                        .iter()
                        .any(|a| a.to_string() == "198.51.100.3:80")
            })
            .map(|(at, _)| at - death)
            .expect("removed");
        let bound = 1_000 * 3 + 500;
        assert!(
            removed <= bound,
            "death at {death}: removed after {removed} ms > {bound}"
        );
        assert_eq!(
            s.weight_of("198.51.100.3:80"),
            None,
            "quiescent=no removes it"
        );
    }
}

/// Steady state: every server once per interval, in batches of at most 100 that start
/// together (one wake-up each), at least 10 batches spread over the interval.
#[test]
fn checks_are_spread_over_the_interval_in_batches() {
    for (n, batches) in [(3usize, 3usize), (100, 10), (1000, 10), (5000, 50)] {
        let mut s = Sim::new(&web(n, "\tcheckinterval=1\n"), n);
        s.run_until(4_000);
        let mut per_window: BTreeMap<u64, usize> = BTreeMap::new();
        for (at, _) in s
            .launches
            .iter()
            .filter(|(at, _)| (2_000..3_000).contains(at))
        {
            *per_window.entry(at / 10).or_default() += 1;
        }
        let max = per_window.values().max().copied().unwrap_or(0);
        assert!(
            max <= 100,
            "{n} servers: {max} checks started in one 10 ms window"
        );
        assert_eq!(
            per_window.len(),
            batches,
            "{n} servers: batches in one interval: {per_window:?}"
        );
        assert_eq!(
            per_window.values().sum::<usize>(),
            n,
            "{n} servers: each once per interval"
        );
    }
}

#[test]
fn the_fallback_enters_when_all_are_down_and_leaves_when_one_is_back() {
    let text = web(
        2,
        "\tcheckinterval=1\n\tchecktimeout=300ms\n\tfallback=198.51.100.250:80 masq\n\tfallbackcommand=\"/usr/local/bin/sorry\"\n",
    );
    let mut s = Sim::new(&text, 2);
    s.run_until(3_000);
    assert_eq!(s.live().len(), 2);
    s.dead = vec![true, true];
    s.run_until(6_000);
    assert_eq!(s.live(), vec!["198.51.100.250:80"], "only the sorry server");
    assert!(
        s.logs
            .iter()
            .any(|l| l.contains("fallbackcommand start 192.0.2.10:80 tcp")),
        "{:?}",
        s.logs
    );
    s.dead[0] = false;
    s.run_until(8_000);
    assert_eq!(s.live(), vec!["198.51.100.1:80"]);
    assert!(
        s.logs
            .iter()
            .any(|l| l.contains("fallbackcommand stop 192.0.2.10:80 tcp"))
    );
    assert_eq!(s.weight_of("198.51.100.2:80"), Some(0));
}

#[test]
fn one_failed_check_below_failurecount_changes_nothing() {
    let mut s = Sim::new(
        &web(
            2,
            "\tcheckinterval=1\n\tfailurecount=3\n\tchecktimeout=200ms\n",
        ),
        2,
    );
    s.run_until(3_000);
    let tables = s.tables.len();
    s.dead[0] = true;
    s.run_until(4_100); // one or two failures
    s.dead[0] = false;
    s.run_until(8_000);
    assert_eq!(s.tables.len(), tables, "no flap: {:?}", s.logs);
    assert!(
        s.logs.iter().any(|l| l.contains("failures")),
        "{:?}",
        s.logs
    );
}

#[test]
fn a_reload_keeps_health_and_checks_only_new_servers_at_once() {
    let mut s = Sim::with_dead(
        &web(3, "\tcheckinterval=10\n\tchecktimeout=1\n"),
        vec![false, true, false, false],
    );
    s.run_until(20_000);
    let before = s.launches.len();
    let d = std::mem::replace(
        &mut s.d,
        Director::new(
            config("virtual=192.0.2.99:80\n\treal=198.51.100.1 masq\n"),
            s.now,
        ),
    );
    s.d = d.reload(
        config(&web(4, "\tcheckinterval=10\n\tchecktimeout=1\n")),
        s.now,
    );
    s.pending.clear();
    s.drain();
    let new: Vec<_> = s.launches[before..].iter().map(|(_, id)| id.real).collect();
    assert_eq!(new, vec![3], "only the new server is checked at once");
    assert_eq!(
        s.weight_of("198.51.100.2:80"),
        Some(0),
        "the dead one stays down"
    );
}
