//! The line protocol from the daemon to its crash guard, over the guard pipe.
//!
//! ```text
//! hold <group-index> <resource> [<resource>...]   the daemon holds (or is starting) this group
//! more <group-index> <resource> [<resource>...]   more resources of the group just held
//! release <group-index>                           the group is fully stopped
//! watch <millis>                                  arm the freeze watchdog (0 disarms)
//! tick                                            the daemon is alive (resets the watchdog)
//! ident <uuid-hex> <generation-hex>               who we are on the wire (for the last words)
//! sent <seq-hex>                                  the highest seq the daemon has stamped
//! bye                                             clean exit: do nothing at EOF
//! ```
//!
//! Resources are haresources words (`IPaddr::192.0.2.10/24/eth0`), which contain no blanks.
//! Every line is below `PIPE_BUF`, so each write is atomic: a group too long for one line (256
//! VIPs) is sent as `hold` with the first words and `more` lines with the rest.

use std::collections::BTreeMap;

/// One line from the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardCommand {
    Hold {
        group: usize,
        resources: Vec<String>,
    },
    More {
        group: usize,
        resources: Vec<String>,
    },
    Release {
        group: usize,
    },
    Watch {
        millis: u64,
    },
    Tick,
    Ident {
        uuid: [u8; 16],
        generation: u64,
    },
    Sent {
        seq: u64,
    },
    Bye,
}

/// Longest line accepted (and written): anything longer is refused by both sides.
pub const MAX_LINE: usize = 4000;

impl GuardCommand {
    /// The lines that hold `group` made of `resources`: `hold` and as many `more` as needed to
    /// keep each line within [`MAX_LINE`]. `None` if a word is unusable or alone too long.
    pub fn hold_lines(group: usize, resources: &[String]) -> Option<Vec<String>> {
        let mut lines = Vec::new();
        let mut chunk: Vec<String> = Vec::new();
        let mut len = 0;
        let head = format!("more {group} \n").len();
        for r in resources {
            if !chunk.is_empty() && head + len + r.len() + 1 > MAX_LINE {
                lines.push(std::mem::take(&mut chunk));
                len = 0;
            }
            len += r.len() + 1;
            chunk.push(r.clone());
        }
        if !chunk.is_empty() || lines.is_empty() {
            lines.push(chunk);
        }
        lines
            .into_iter()
            .enumerate()
            .map(|(i, resources)| {
                if i == 0 {
                    GuardCommand::Hold { group, resources }
                } else {
                    GuardCommand::More { group, resources }
                }
                .encode()
            })
            .collect()
    }

    /// The line to write, with its newline; `None` if it would not fit or a resource word is
    /// not a single blank-free token.
    pub fn encode(&self) -> Option<String> {
        let line = match self {
            GuardCommand::Hold { group, resources } => words_line("hold", *group, resources)?,
            GuardCommand::More { group, resources } => words_line("more", *group, resources)?,
            GuardCommand::Release { group } => format!("release {group}\n"),
            GuardCommand::Watch { millis } => format!("watch {millis}\n"),
            GuardCommand::Tick => "tick\n".to_string(),
            GuardCommand::Ident { uuid, generation } => {
                let hex: String = uuid.iter().map(|b| format!("{b:02x}")).collect();
                format!("ident {hex} {generation:x}\n")
            }
            GuardCommand::Sent { seq } => format!("sent {seq:x}\n"),
            GuardCommand::Bye => "bye\n".to_string(),
        };
        (line.len() <= MAX_LINE).then_some(line)
    }

    /// Parses one line (without its newline).
    pub fn parse(line: &str) -> Option<GuardCommand> {
        let mut words = line.split_ascii_whitespace();
        let cmd = match words.next()? {
            verb @ ("hold" | "more") => {
                let group = words.next()?.parse().ok()?;
                let resources: Vec<String> = words.by_ref().map(str::to_string).collect();
                if resources.is_empty() {
                    return None;
                }
                return Some(if verb == "hold" {
                    GuardCommand::Hold { group, resources }
                } else {
                    GuardCommand::More { group, resources }
                });
            }
            "release" => GuardCommand::Release {
                group: words.next()?.parse().ok()?,
            },
            "watch" => GuardCommand::Watch {
                millis: words.next()?.parse().ok()?,
            },
            "tick" => GuardCommand::Tick,
            "ident" => GuardCommand::Ident {
                uuid: parse_uuid(words.next()?)?,
                generation: u64::from_str_radix(words.next()?, 16).ok()?,
            },
            "sent" => GuardCommand::Sent {
                seq: u64::from_str_radix(words.next()?, 16).ok()?,
            },
            "bye" => GuardCommand::Bye,
            _ => return None,
        };
        words.next().is_none().then_some(cmd)
    }
}

/// `VERB GROUP WORD...`; `None` without words or with a word that is not one blank-free token.
fn words_line(verb: &str, group: usize, resources: &[String]) -> Option<String> {
    if resources.is_empty()
        || resources
            .iter()
            .any(|r| r.is_empty() || r.chars().any(char::is_whitespace))
    {
        return None;
    }
    Some(format!("{verb} {group} {}\n", resources.join(" ")))
}

fn parse_uuid(hex: &str) -> Option<[u8; 16]> {
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let mut uuid = [0u8; 16];
    for (i, b) in uuid.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(uuid)
}

/// Who the daemon is on the wire and how far its numbering went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireIdentity {
    pub uuid: [u8; 16],
    pub generation: u64,
    /// The highest seq the daemon stamped (reported before the packet left).
    pub last_seq: u64,
}

/// What the guard believes the daemon holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    groups: BTreeMap<usize, Vec<String>>,
    clean_exit: bool,
    watch_millis: u64,
    ever_held: bool,
    ident: Option<WireIdentity>,
}

impl Holdings {
    /// Applies one command; returns whether it was a liveness sign (every command is).
    pub fn apply(&mut self, cmd: GuardCommand) {
        match cmd {
            GuardCommand::Hold { group, resources } => {
                self.groups.insert(group, resources);
                self.ever_held = true;
            }
            GuardCommand::More { group, resources } => {
                self.groups.entry(group).or_default().extend(resources);
                self.ever_held = true;
            }
            GuardCommand::Release { group } => {
                self.groups.remove(&group);
            }
            GuardCommand::Watch { millis } => self.watch_millis = millis,
            GuardCommand::Tick => {}
            GuardCommand::Ident { uuid, generation } => {
                self.ident = Some(WireIdentity {
                    uuid,
                    generation,
                    last_seq: 0,
                });
            }
            GuardCommand::Sent { seq } => {
                if let Some(i) = self.ident.as_mut() {
                    i.last_seq = i.last_seq.max(seq);
                }
            }
            GuardCommand::Bye => self.clean_exit = true,
        }
    }

    /// Held groups, highest index first (the reverse of start order), each with its
    /// resources in start order.
    pub fn groups(&self) -> impl Iterator<Item = (usize, &[String])> {
        self.groups.iter().rev().map(|(g, r)| (*g, r.as_slice()))
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Whether any group was ever held (a daemon that dies during start-up held nothing).
    pub fn ever_held(&self) -> bool {
        self.ever_held
    }

    pub fn clean_exit(&self) -> bool {
        self.clean_exit
    }

    /// The daemon's wire identity, once it said it (the core exists).
    pub fn ident(&self) -> Option<WireIdentity> {
        self.ident
    }

    /// The freeze watchdog period (0 = off).
    pub fn watch_millis(&self) -> u64 {
        self.watch_millis
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let cmds = [
            GuardCommand::Hold {
                group: 3,
                resources: vec!["IPaddr::192.0.2.10/24/eth0".into(), "httpd".into()],
            },
            GuardCommand::Release { group: 3 },
            GuardCommand::Watch { millis: 1500 },
            GuardCommand::Tick,
            GuardCommand::Ident {
                uuid: [0xab; 16],
                generation: 0x1f,
            },
            GuardCommand::Sent { seq: 0x2a },
            GuardCommand::Bye,
        ];
        for c in cmds {
            let line = c.encode().unwrap();
            assert!(line.ends_with('\n'));
            assert_eq!(GuardCommand::parse(line.trim_end()), Some(c));
        }
    }

    #[test]
    fn refuses_bad_lines() {
        for bad in [
            "",
            "hold",
            "hold 1",
            "hold x IPaddr",
            "release",
            "release 1 2",
            "tick tock",
            "watch -1",
            "shutdown",
            "ident",
            "ident abcd 1",
            "ident zz00000000000000000000000000000000 1",
            "ident 000102030405060708090a0b0c0d0e0f",
            "sent",
            "sent xyz",
            "sent 1 2",
        ] {
            assert_eq!(GuardCommand::parse(bad), None, "{bad:?}");
        }
        let spaced = GuardCommand::Hold {
            group: 0,
            resources: vec!["a b".into()],
        };
        assert_eq!(spaced.encode(), None);
        let empty = GuardCommand::Hold {
            group: 0,
            resources: vec![],
        };
        assert_eq!(empty.encode(), None);
    }

    #[test]
    fn holdings_follow_the_commands() {
        let mut h = Holdings::default();
        h.apply(GuardCommand::Hold {
            group: 0,
            resources: vec!["IPaddr::192.0.2.10".into()],
        });
        h.apply(GuardCommand::Hold {
            group: 2,
            resources: vec!["IPaddr::192.0.2.12".into(), "httpd".into()],
        });
        assert_eq!(
            h.groups().map(|(g, _)| g).collect::<Vec<_>>(),
            vec![2, 0],
            "reverse order"
        );
        h.apply(GuardCommand::Release { group: 0 });
        assert_eq!(h.groups().count(), 1);
        assert!(!h.clean_exit());
        h.apply(GuardCommand::Bye);
        assert!(h.clean_exit());
    }

    #[test]
    fn seq_reports_only_count_after_ident_and_never_go_back() {
        let mut h = Holdings::default();
        h.apply(GuardCommand::Sent { seq: 5 });
        assert_eq!(h.ident(), None, "a seq without an identity means nothing");
        h.apply(GuardCommand::Ident {
            uuid: [1; 16],
            generation: 7,
        });
        h.apply(GuardCommand::Sent { seq: 9 });
        h.apply(GuardCommand::Sent { seq: 4 });
        let i = h.ident().unwrap();
        assert_eq!((i.uuid, i.generation, i.last_seq), ([1; 16], 7, 9));
    }
}

#[cfg(test)]
mod long_groups {
    use super::*;

    #[test]
    fn a_group_of_256_addresses_is_held_in_several_atomic_lines() {
        let words: Vec<String> = (0..256)
            .map(|i| format!("IPaddr::203.0.113.{}/24/eth0", i % 250 + 1))
            .chain(std::iter::once("httpd".to_string()))
            .collect();
        let lines = GuardCommand::hold_lines(3, &words).unwrap();
        assert!(lines.len() > 1);
        assert!(
            lines
                .iter()
                .all(|l| l.len() <= MAX_LINE && l.ends_with('\n'))
        );
        assert!(lines[0].starts_with("hold 3 "));
        assert!(lines[1..].iter().all(|l| l.starts_with("more 3 ")));
        let mut h = Holdings::default();
        for l in &lines {
            h.apply(GuardCommand::parse(l.trim_end()).unwrap());
        }
        let held: Vec<(usize, Vec<String>)> = h.groups().map(|(g, r)| (g, r.to_vec())).collect();
        assert_eq!(held, vec![(3, words.clone())]);
        // A new hold replaces the whole group.
        h.apply(GuardCommand::parse("hold 3 httpd").unwrap());
        assert_eq!(h.groups().next().unwrap().1, ["httpd".to_string()]);
        // A small group stays one line.
        assert_eq!(GuardCommand::hold_lines(0, &words[..2]).unwrap().len(), 1);
        assert!(GuardCommand::hold_lines(0, &["a b".to_string()]).is_none());
    }
}
