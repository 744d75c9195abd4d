//! Group start/stop sequencing (spec §6.3, fixed per §13.14, §13.16): a serial queue of
//! transfers, each a list of groups to start (left to right) or stop (right to left), driven by
//! `ScriptDone` results. A failed or timed-out start stops what this transfer started, in
//! reverse, and reports the failure to the caller.

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
}

/// One group being started or stopped, one resource at a time.
#[derive(Debug)]
struct GroupRun {
    group: usize,
    op: Op,
    /// Resource indexes in the order they are run.
    order: Vec<usize>,
    step: usize,
    action: ActionId,
    /// Set while rolling back a failed start.
    failed: bool,
}

/// The serial executor of group operations.
#[derive(Debug)]
pub struct Runner {
    queue: VecDeque<Transfer>,
    current: Option<(Transfer, Option<GroupRun>)>,
    /// Every resource of the group started successfully and none stopped since.
    pub group_up: Vec<bool>,
    next_id: u64,
}

impl Runner {
    pub fn new(groups: usize) -> Self {
        Runner {
            queue: VecDeque::new(),
            current: None,
            group_up: vec![false; groups],
            next_id: 1,
        }
    }

    /// Queues a transfer; nothing runs until `pump`.
    pub fn enqueue(&mut self, op: Op, groups: Vec<usize>, purpose: Purpose) {
        self.queue.push_back(Transfer {
            op,
            groups: groups.into(),
            purpose,
            done: Vec::new(),
            failed: None,
        });
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
            let (order, verb): (Vec<usize>, _) = match transfer.op {
                Op::Start => ((0..group.resources.len()).collect(), "Acquiring"),
                Op::Stop => ((0..group.resources.len()).rev().collect(), "Releasing"),
            };
            log(
                out,
                Severity::Info,
                format!("{verb} resource group: {line}"),
            );
            if transfer.op == Op::Stop {
                self.group_up[g] = false;
            }
            let id = ActionId(self.next_id);
            self.next_id += 1;
            let first = order.first().copied().unwrap_or(0);
            out.push_back(Output::RunScript {
                id,
                group: g,
                resource: first,
                op: script_op(transfer.op),
            });
            *run = Some(GroupRun {
                group: g,
                op: transfer.op,
                order,
                step: 0,
                action: id,
                failed: false,
            });
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
        if run.action != id {
            return false;
        }
        let g = run.group;
        let Some(group) = groups.get(g) else {
            return false;
        };
        let r = run.order.get(run.step).copied().unwrap_or(0);
        let rtext = group
            .resources
            .get(r)
            .map(|x| x.text.clone())
            .unwrap_or_default();
        match (run.op, outcome) {
            (Op::Start, ScriptOutcome::Ok) => {}
            (Op::Start, bad) => {
                log(
                    out,
                    Severity::Crit,
                    format!(
                        "Giving up resources due to failure of {rtext} ({})",
                        describe(bad)
                    ),
                );
                // Stop what was started (and the failed one) right to left.
                run.op = Op::Stop;
                run.order = (0..=r).rev().collect();
                run.step = 0;
                run.failed = true;
                transfer.failed = Some(g);
                return self.run_next_step(out);
            }
            (Op::Stop, ScriptOutcome::Ok | ScriptOutcome::NotRunning) => {}
            (Op::Stop, bad) => log(
                out,
                Severity::Error,
                format!(
                    "Resource stop failed: {rtext} ({}); continuing",
                    describe(bad)
                ),
            ),
        }
        run.step += 1;
        self.run_next_step(out)
    }

    /// Runs the next resource of the current group, or closes the group.
    fn run_next_step(&mut self, out: &mut VecDeque<Output>) -> bool {
        let Some((transfer, Some(run))) = &mut self.current else {
            return false;
        };
        if let Some(&r) = run.order.get(run.step) {
            let id = ActionId(self.next_id);
            self.next_id += 1;
            run.action = id;
            out.push_back(Output::RunScript {
                id,
                group: run.group,
                resource: r,
                op: script_op(run.op),
            });
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
