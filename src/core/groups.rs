//! Group start/stop sequencing (spec §6.3, fixed per §13.14, §13.16): a serial queue of
//! transfers, each a list of groups to start (left to right) or stop (right to left), driven by
//! `ScriptDone` results. A failed or timed-out start stops what this transfer started, in
//! reverse, and reports the failure to the caller.
//!
//! Within a group the resources run in stages: one resource, or (with batching on, i.e.
//! in-process addresses) a run of adjacent addresses at once, since no address depends on
//! another. A group of 256 VIPs then moves in one netlink batch instead of 256 round trips;
//! the order between an address run and its neighbours (a service after its VIPs) is kept.

use std::collections::VecDeque;

use super::halves::Halves;
use super::vocab::{ActionId, Output, ScriptOp, ScriptOutcome, Severity};
use crate::config::ResourceGroup;

/// Start or stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Start,
    Stop,
}

/// Why a transfer runs: decides what happens when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// At start-up every group is stopped once, so a crash never leaves a resource behind.
    InitialStop,
    /// Our own groups (`req_our_resources`).
    AcquireLocal,
    /// The peer's groups after it died or shut down (`mach_down`).
    TakeoverForeign,
    /// Standby: give up this set (our terms).
    StandbyRelease(Halves),
    /// Standby: acquire the mirror of this set (the set in the requester's terms).
    StandbyAcquire(Halves),
    /// Graceful shutdown.
    Shutdown,
    /// After a partition: the peer owns these and holds them too.
    HealRelease,
    /// Legacy mode: one group by request/answer.
    LegacyTake(usize),
    LegacyRelease(usize),
    /// Monitoring: stop a failed resource and what follows it in its group
    /// (crate::core::monitor) ...
    RecoverStop(usize),
    /// ... and start them again.
    RecoverStart(usize),
    /// Monitoring gave up on a group here: stop all of it, keep it stopped.
    MonitorStop(usize),
}

/// How a transfer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    Ok(Purpose),
    /// A start failed (or timed out); everything this transfer started is stopped again.
    Failed {
        purpose: Purpose,
        group: usize,
    },
}

#[derive(Debug)]
struct Transfer {
    op: Op,
    groups: VecDeque<usize>,
    purpose: Purpose,
    /// Groups this transfer has started (to stop again on failure).
    done: Vec<usize>,
    failed: Option<usize>,
    /// Only the resources from this index on (a recovery inside one group); 0: all.
    from: usize,
}

/// One group being started or stopped, one stage at a time.
#[derive(Debug)]
struct GroupRun {
    group: usize,
    op: Op,
    /// Resource indexes in the order they are run.
    order: Vec<usize>,
    /// Position in `order` of the current stage's first resource.
    step: usize,
    /// Length of the current stage.
    stage: usize,
    /// Actions of the current stage still running, with their resource.
    pending: Vec<(ActionId, usize)>,
    /// The stage's first failed start (lowest resource index) and its outcome.
    stage_failure: Option<usize>,
    /// Set while rolling back a failed start.
    failed: bool,
    /// First resource index this run touches (see `Transfer::from`).
    from: usize,
}

/// The serial executor of group operations.
#[derive(Debug)]
pub struct Runner {
    queue: VecDeque<Transfer>,
    current: Option<(Transfer, Option<GroupRun>)>,
    /// Every resource of the group started successfully and none stopped since.
    pub group_up: Vec<bool>,
    next_id: u64,
    /// Adjacent addresses run side by side (in-process addresses).
    pub batch_addresses: bool,
    /// Failed runs since start, by (resource text, `start`/`stop`).
    pub failures: std::collections::BTreeMap<(String, &'static str), u64>,
}

impl Runner {
    pub fn new(groups: usize) -> Self {
        Runner {
            queue: VecDeque::new(),
            current: None,
            group_up: vec![false; groups],
            next_id: 1,
            batch_addresses: false,
            failures: Default::default(),
        }
    }

    /// Queues a transfer; nothing runs until `pump`.
    pub fn enqueue(&mut self, op: Op, groups: Vec<usize>, purpose: Purpose) {
        self.enqueue_from(op, groups, 0, purpose);
    }

    /// As [`Runner::enqueue`], touching only the resources from index `from` on in each group
    /// (a stop still runs right to left, a start left to right).
    pub fn enqueue_from(&mut self, op: Op, groups: Vec<usize>, from: usize, purpose: Purpose) {
        self.queue.push_back(Transfer {
            op,
            groups: groups.into(),
            purpose,
            done: Vec::new(),
            failed: None,
            from,
        });
    }

    /// Forgets the failure counts of a group's resources (`cl_status rscfail --clear`).
    pub fn clear_failures_of(&mut self, group: &ResourceGroup) {
        self.failures
            .retain(|(r, _), _| !group.resources.iter().any(|x| x.text == *r));
    }

    /// Something is running or queued.
    pub fn busy(&self) -> bool {
        self.current.is_some() || !self.queue.is_empty()
    }

    /// Drops queued transfers and the rest of a running start (shutdown); returns the
    /// purposes dropped.
    pub fn cancel_pending(&mut self) -> Vec<Purpose> {
        let mut dropped: Vec<Purpose> = self.queue.drain(..).map(|t| t.purpose).collect();
        if let Some((t, _)) = &mut self.current
            && t.op == Op::Start
        {
            t.groups.clear();
            dropped.push(t.purpose);
        }
        dropped
    }

    /// Is a transfer with this purpose queued or running?
    pub fn has(&self, purpose: Purpose) -> bool {
        self.current
            .as_ref()
            .is_some_and(|(t, _)| t.purpose == purpose)
            || self.queue.iter().any(|t| t.purpose == purpose)
    }

    /// Advances until a script is running or nothing is left; returns finished transfers.
    pub fn pump(&mut self, groups: &[ResourceGroup], out: &mut VecDeque<Output>) -> Vec<Finished> {
        let mut finished = Vec::new();
        loop {
            if self.current.is_none() {
                match self.queue.pop_front() {
                    Some(t) => self.current = Some((t, None)),
                    None => break,
                }
            }
            let Some((transfer, run)) = &mut self.current else {
                break;
            };
            if run.is_some() {
                break;
            }
            let next = loop {
                match transfer.groups.pop_front() {
                    Some(g) if g >= groups.len() => continue,
                    Some(g) if transfer.op == Op::Start && self.group_up[g] => continue,
                    other => break other,
                }
            };
            let Some(g) = next else {
                let result = match transfer.failed {
                    Some(group) => Finished::Failed {
                        purpose: transfer.purpose,
                        group,
                    },
                    None => Finished::Ok(transfer.purpose),
                };
                finished.push(result);
                self.current = None;
                continue;
            };
            let group = &groups[g];
            let line = group_line(group);
            let from = transfer.from.min(group.resources.len());
            let (order, verb): (Vec<usize>, _) = match transfer.op {
                Op::Start => ((from..group.resources.len()).collect(), "Acquiring"),
                Op::Stop => ((from..group.resources.len()).rev().collect(), "Releasing"),
            };
            let what = if from == 0 {
                "resource group"
            } else {
                "part of resource group"
            };
            log(out, Severity::Info, format!("{verb} {what}: {line}"));
            if transfer.op == Op::Stop {
                self.group_up[g] = false;
            }
            let mut new_run = GroupRun {
                group: g,
                op: transfer.op,
                order,
                step: 0,
                stage: 0,
                pending: Vec::new(),
                stage_failure: None,
                failed: false,
                from,
            };
            launch_stage(
                &mut new_run,
                group,
                self.batch_addresses,
                &mut self.next_id,
                out,
            );
            *run = Some(new_run);
        }
        finished
    }

    /// A script finished; `false` if it was not ours to wait for.
    pub fn on_script_done(
        &mut self,
        id: ActionId,
        outcome: ScriptOutcome,
        groups: &[ResourceGroup],
        out: &mut VecDeque<Output>,
    ) -> bool {
        let Some((transfer, Some(run))) = &mut self.current else {
            return false;
        };
        let Some(at) = run.pending.iter().position(|(a, _)| *a == id) else {
            return false;
        };
        let (_, r) = run.pending.swap_remove(at);
        let g = run.group;
        let Some(group) = groups.get(g) else {
            return false;
        };
        let rtext = group
            .resources
            .get(r)
            .map(|x| x.text.clone())
            .unwrap_or_default();
        match (run.op, outcome) {
            (Op::Start, ScriptOutcome::Ok) => {}
            (Op::Start, bad) => {
                *self.failures.entry((rtext.clone(), "start")).or_default() += 1;
                let first = run.stage_failure.is_none();
                log(
                    out,
                    Severity::Crit,
                    if first {
                        format!(
                            "Giving up resources due to failure of {rtext} ({})",
                            describe(bad)
                        )
                    } else {
                        format!("{rtext} failed too ({})", describe(bad))
                    },
                );
                run.stage_failure = Some(run.stage_failure.map_or(r, |f| f.min(r)));
            }
            (Op::Stop, ScriptOutcome::Ok | ScriptOutcome::NotRunning) => {}
            (Op::Stop, bad) => {
                *self.failures.entry((rtext.clone(), "stop")).or_default() += 1;
                log(
                    out,
                    Severity::Error,
                    format!(
                        "Resource stop failed: {rtext} ({}); continuing",
                        describe(bad)
                    ),
                );
            }
        }
        if !run.pending.is_empty() {
            // The rest of the stage is still running.
            return true;
        }
        if run.op == Op::Start && run.stage_failure.is_some() {
            // Stop what was started (the whole stage included) right to left.
            let last = run.order[run.step + run.stage - 1];
            run.op = Op::Stop;
            run.order = (run.from..=last).rev().collect();
            run.step = 0;
            run.stage = 0;
            run.stage_failure = None;
            run.failed = true;
            transfer.failed = Some(g);
        } else {
            run.step += run.stage;
        }
        self.run_next_step(groups, out)
    }

    /// Runs the next stage of the current group, or closes the group.
    fn run_next_step(&mut self, groups: &[ResourceGroup], out: &mut VecDeque<Output>) -> bool {
        let Some((transfer, Some(run))) = &mut self.current else {
            return false;
        };
        if run.step < run.order.len()
            && let Some(group) = groups.get(run.group)
        {
            launch_stage(run, group, self.batch_addresses, &mut self.next_id, out);
            return true;
        }
        let g = run.group;
        if run.failed {
            self.group_up[g] = false;
            // Undo the rest of this transfer: stop the groups it started, newest first.
            transfer.op = Op::Stop;
            transfer.groups = transfer.done.drain(..).rev().collect();
        } else if run.op == Op::Start {
            self.group_up[g] = true;
            transfer.done.push(g);
        } else {
            self.group_up[g] = false;
        }
        if let Some((_, run)) = &mut self.current {
            *run = None;
        }
        true
    }
}

/// Starts the stage beginning at `run.step`: one resource, or with `batch` every adjacent
/// address from there on.
fn launch_stage(
    run: &mut GroupRun,
    group: &ResourceGroup,
    batch: bool,
    next_id: &mut u64,
    out: &mut VecDeque<Output>,
) {
    let is_address = |i: usize| {
        run.order
            .get(i)
            .and_then(|&r| group.resources.get(r))
            .is_some_and(|r| r.is_address())
    };
    let mut len = 1;
    if batch && is_address(run.step) {
        while run.step + len < run.order.len() && is_address(run.step + len) {
            len += 1;
        }
    }
    let stage = run.order.get(run.step..run.step + len).unwrap_or(&[]);
    run.stage = stage.len();
    run.pending.clear();
    for &r in stage {
        let id = ActionId(*next_id);
        *next_id += 1;
        run.pending.push((id, r));
        out.push_back(Output::RunScript {
            id,
            group: run.group,
            resource: r,
            op: script_op(run.op),
        });
    }
}

fn script_op(op: Op) -> ScriptOp {
    match op {
        Op::Start => ScriptOp::Start,
        Op::Stop => ScriptOp::Stop,
    }
}

fn describe(outcome: ScriptOutcome) -> String {
    match outcome {
        ScriptOutcome::Ok => "ok".to_string(),
        ScriptOutcome::NotRunning => "not running".to_string(),
        ScriptOutcome::Failed(rc) => format!("return code {rc}"),
        ScriptOutcome::TimedOut => "timed out".to_string(),
        ScriptOutcome::Hard(rc) => format!("cannot run here, code {rc}"),
        ScriptOutcome::Fatal(rc) => format!("not configured, code {rc}"),
    }
}

/// The normalised haresources line, as the original logs it.
pub fn group_line(group: &ResourceGroup) -> String {
    let mut s = group.owner.clone();
    for r in &group.resources {
        s.push(' ');
        s.push_str(&r.text);
    }
    s
}

fn log(out: &mut VecDeque<Output>, severity: Severity, text: String) {
    out.push_back(Output::Log { severity, text });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Resource;

    fn group(words: &[&str]) -> ResourceGroup {
        ResourceGroup {
            owner: "alpha".into(),
            resources: words
                .iter()
                .map(|w| {
                    let (name, args) = match w.split_once("::") {
                        Some((n, a)) => (n.to_string(), vec![a.to_string()]),
                        None => (w.to_string(), vec![]),
                    };
                    Resource {
                        name,
                        args,
                        text: w.to_string(),
                    }
                })
                .collect(),
            line: 1,
        }
    }

    /// The RunScript outputs queued now: (id, resource, op).
    fn scripts(out: &mut VecDeque<Output>) -> Vec<(ActionId, usize, ScriptOp)> {
        out.drain(..)
            .filter_map(|o| match o {
                Output::RunScript {
                    id, resource, op, ..
                } => Some((id, resource, op)),
                _ => None,
            })
            .collect()
    }

    fn vips_then_service() -> Vec<ResourceGroup> {
        vec![group(&[
            "IPaddr::192.0.2.10",
            "IPaddr2::192.0.2.11/24/eth0",
            "IPaddr::192.0.2.12",
            "httpd",
            "IPaddr::192.0.2.13",
        ])]
    }

    #[test]
    fn adjacent_addresses_start_together_and_the_service_after_them() {
        let groups = vips_then_service();
        let mut r = Runner::new(1);
        r.batch_addresses = true;
        let mut out = VecDeque::new();
        r.enqueue(Op::Start, vec![0], Purpose::AcquireLocal);
        r.pump(&groups, &mut out);
        let first = scripts(&mut out);
        let res: Vec<usize> = first.iter().map(|s| s.1).collect();
        assert_eq!(res, vec![0, 1, 2], "three addresses at once");
        // Results in any order; the service waits for all three.
        for (id, _, _) in [first[2], first[0]] {
            assert!(r.on_script_done(id, ScriptOutcome::Ok, &groups, &mut out));
            assert!(scripts(&mut out).is_empty());
        }
        assert!(r.on_script_done(first[1].0, ScriptOutcome::Ok, &groups, &mut out));
        let next = scripts(&mut out);
        assert_eq!(next.iter().map(|s| s.1).collect::<Vec<_>>(), vec![3]);
        r.on_script_done(next[0].0, ScriptOutcome::Ok, &groups, &mut out);
        let last = scripts(&mut out);
        assert_eq!(last.iter().map(|s| s.1).collect::<Vec<_>>(), vec![4]);
        r.on_script_done(last[0].0, ScriptOutcome::Ok, &groups, &mut out);
        assert!(
            r.pump(&groups, &mut out)
                .contains(&Finished::Ok(Purpose::AcquireLocal))
        );
        assert!(r.group_up[0]);
    }

    #[test]
    fn a_failed_address_stops_the_whole_stage_and_what_came_before() {
        let groups = vips_then_service();
        let mut r = Runner::new(1);
        r.batch_addresses = true;
        let mut out = VecDeque::new();
        r.enqueue(Op::Start, vec![0], Purpose::AcquireLocal);
        r.pump(&groups, &mut out);
        let first = scripts(&mut out);
        r.on_script_done(first[0].0, ScriptOutcome::Ok, &groups, &mut out);
        r.on_script_done(first[1].0, ScriptOutcome::Failed(6), &groups, &mut out);
        assert!(scripts(&mut out).is_empty(), "waits for the third");
        r.on_script_done(first[2].0, ScriptOutcome::Ok, &groups, &mut out);
        let stops = scripts(&mut out);
        assert_eq!(
            stops.iter().map(|s| (s.1, s.2)).collect::<Vec<_>>(),
            vec![
                (2, ScriptOp::Stop),
                (1, ScriptOp::Stop),
                (0, ScriptOp::Stop)
            ],
            "every address of the stage stopped, right to left, together"
        );
        for (id, _, _) in stops {
            r.on_script_done(id, ScriptOutcome::Ok, &groups, &mut out);
        }
        let finished = r.pump(&groups, &mut out);
        assert!(finished.contains(&Finished::Failed {
            purpose: Purpose::AcquireLocal,
            group: 0
        }));
        assert!(!r.group_up[0]);
    }

    #[test]
    fn without_batching_one_resource_at_a_time() {
        let groups = vips_then_service();
        let mut r = Runner::new(1);
        let mut out = VecDeque::new();
        r.enqueue(Op::Stop, vec![0], Purpose::HealRelease);
        r.pump(&groups, &mut out);
        let mut order = Vec::new();
        loop {
            let s = scripts(&mut out);
            if s.is_empty() {
                break;
            }
            assert_eq!(s.len(), 1);
            order.push(s[0].1);
            r.on_script_done(s[0].0, ScriptOutcome::Ok, &groups, &mut out);
        }
        assert_eq!(order, vec![4, 3, 2, 1, 0]);
    }

    #[test]
    fn stops_batch_too_and_unknown_ids_are_ignored() {
        let groups = vips_then_service();
        let mut r = Runner::new(1);
        r.batch_addresses = true;
        let mut out = VecDeque::new();
        r.enqueue(Op::Stop, vec![0], Purpose::HealRelease);
        r.pump(&groups, &mut out);
        let mut stages = Vec::new();
        loop {
            let s = scripts(&mut out);
            if s.is_empty() {
                break;
            }
            assert!(!r.on_script_done(ActionId(999_999), ScriptOutcome::Ok, &groups, &mut out));
            stages.push(s.iter().map(|x| x.1).collect::<Vec<_>>());
            for (id, _, _) in s {
                r.on_script_done(id, ScriptOutcome::Failed(1), &groups, &mut out);
            }
        }
        assert_eq!(stages, vec![vec![4], vec![3], vec![2, 1, 0]]);
    }
}
