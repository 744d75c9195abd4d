//! Resource monitoring directives of `ha.cf` (native, off unless a `monitor` line is given):
//!
//! ```text
//! monitor_default interval=10s timeout=20s
//! monitor httpd interval=5s timeout=20s fall=2 rise=1 max_restarts=3 window=10min failure_timeout=30min
//! ```
//!
//! They live in `ha.cf`, keyed by the haresources resource, because `haresources` must stay
//! identical on both nodes and readable by a real Heartbeat. A target is a resource as written
//! in haresources (`IPaddr::192.0.2.10/24`) or a script name (`httpd`: every resource it runs).

use super::model::{Millis, ResourceGroup};
use super::suggest::closest;

/// How one monitored resource is checked and recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorParams {
    /// Time between two checks (from the end of one to the start of the next).
    pub interval: Millis,
    /// A check still running then is killed (with its process group) and counts as failed.
    pub timeout: Millis,
    /// Consecutive failed checks that make a failure.
    pub fall: u32,
    /// Consecutive good checks after a recovery before the resource counts as healthy again;
    /// until then one failed check is enough.
    pub rise: u32,
    /// Restarts in place allowed within `window`; one more failure hands the group over.
    pub max_restarts: u32,
    pub window: Millis,
    /// How long a group that failed here is kept away from this node (0: until the
    /// administrator clears it).
    pub failure_timeout: Millis,
}

impl Default for MonitorParams {
    fn default() -> Self {
        MonitorParams {
            interval: 10_000,
            timeout: 20_000,
            fall: 1,
            rise: 1,
            max_restarts: 3,
            window: 600_000,
            failure_timeout: 0,
        }
    }
}

/// One `key=value` of a monitor line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorSetting {
    Interval(Millis),
    Timeout(Millis),
    Fall(u32),
    Rise(u32),
    MaxRestarts(u32),
    Window(Millis),
    FailureTimeout(Millis),
}

impl MonitorSetting {
    fn apply(self, p: &mut MonitorParams) {
        match self {
            MonitorSetting::Interval(v) => p.interval = v,
            MonitorSetting::Timeout(v) => p.timeout = v,
            MonitorSetting::Fall(v) => p.fall = v,
            MonitorSetting::Rise(v) => p.rise = v,
            MonitorSetting::MaxRestarts(v) => p.max_restarts = v,
            MonitorSetting::Window(v) => p.window = v,
            MonitorSetting::FailureTimeout(v) => p.failure_timeout = v,
        }
    }
}

/// A `monitor TARGET key=value…` line as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorLine {
    pub target: String,
    pub settings: Vec<MonitorSetting>,
    pub line: usize,
}

/// One monitored resource, resolved against haresources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorSpec {
    /// Index into `Config::groups`.
    pub group: usize,
    /// Index into that group's resources.
    pub resource: usize,
    pub params: MonitorParams,
}

/// The monitoring settings of `ha.cf`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Monitoring {
    /// `monitor_default` settings, whatever their place in the file.
    pub defaults: Vec<MonitorSetting>,
    pub lines: Vec<MonitorLine>,
    /// Filled when haresources is known ([`resolve`]).
    pub monitors: Vec<MonitorSpec>,
}

impl Monitoring {
    /// The monitor of one resource, if any.
    pub fn of(&self, group: usize, resource: usize) -> Option<&MonitorSpec> {
        self.monitors
            .iter()
            .find(|m| m.group == group && m.resource == resource)
    }
}

const KEYS: [&str; 7] = [
    "interval",
    "timeout",
    "fall",
    "rise",
    "max_restarts",
    "window",
    "failure_timeout",
];

/// A parse error: (message, hint).
pub type SettingError = (String, String);

/// Parses `key=value` words.
pub fn parse_settings(words: &[&str]) -> Result<Vec<MonitorSetting>, SettingError> {
    words.iter().map(|w| parse_setting(w)).collect()
}

fn parse_setting(word: &str) -> Result<MonitorSetting, SettingError> {
    let Some((key, value)) = word.split_once('=') else {
        return Err((
            format!("monitor setting '{word}' is not key=value"),
            format!("one of {} as key=value", KEYS.join(", ")),
        ));
    };
    let key = key.to_ascii_lowercase();
    let time = |min: Millis| -> Result<Millis, SettingError> {
        let t = parse_duration(value).map_err(|e| {
            (
                format!("monitor {key}: {e}"),
                "a time: 30 (seconds), 30s, 500ms, 10min, 1h".to_string(),
            )
        })?;
        if t < min {
            return Err((
                format!("monitor {key}={value} is too short"),
                format!("at least {min} ms"),
            ));
        }
        Ok(t)
    };
    let count = |min: u32| -> Result<u32, SettingError> {
        match value.parse::<u32>() {
            Ok(n) if n >= min && n <= 1000 => Ok(n),
            _ => Err((
                format!("monitor {key}={value} is not a count from {min} to 1000"),
                String::new(),
            )),
        }
    };
    Ok(match key.as_str() {
        "interval" => MonitorSetting::Interval(time(100)?),
        "timeout" => MonitorSetting::Timeout(time(100)?),
        "fall" => MonitorSetting::Fall(count(1)?),
        "rise" => MonitorSetting::Rise(count(1)?),
        "max_restarts" => MonitorSetting::MaxRestarts(count(0)?),
        "window" => MonitorSetting::Window(time(1000)?),
        "failure_timeout" => MonitorSetting::FailureTimeout(time(0)?),
        other => {
            let hint = match closest(other, &KEYS) {
                Some(c) => format!("did you mean '{c}'?"),
                None => format!("one of {}", KEYS.join(", ")),
            };
            return Err((format!("unknown monitor setting '{other}'"), hint));
        }
    })
}

/// A time with a unit of its own: `30` (seconds), `30s`, `500ms`, `10min`, `2h`.
pub fn parse_duration(text: &str) -> Result<Millis, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "s" | "sec" | "secs" => 1000.0,
        "ms" | "msec" | "msecs" => 1.0,
        "m" | "min" | "mins" => 60_000.0,
        "h" | "hr" | "hour" | "hours" => 3_600_000.0,
        _ => return Err(format!("invalid time unit '{unit}' in '{text}'")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("invalid time '{text}'"))?;
    let ms = (value * factor).round();
    if !ms.is_finite() || ms > 1e12 {
        return Err(format!("time '{text}' is too large"));
    }
    Ok(ms as Millis)
}

/// A problem with one monitor line after haresources is known: (line, message, hint).
pub type ResolveProblem = (usize, String, String);

/// Resolves every line against haresources: each target must name at least one resource and
/// no resource may be monitored twice. Returns the problems; fills `monitors`.
pub fn resolve(m: &mut Monitoring, groups: &[ResourceGroup]) -> Vec<ResolveProblem> {
    let mut problems = Vec::new();
    let mut defaults = MonitorParams::default();
    for s in &m.defaults {
        s.apply(&mut defaults);
    }
    let mut monitors: Vec<(MonitorSpec, usize)> = Vec::new();
    for line in &m.lines {
        let mut params = defaults;
        for s in &line.settings {
            s.apply(&mut params);
        }
        if params.timeout > params.interval.saturating_mul(10).max(60_000) {
            problems.push((
                line.line,
                format!(
                    "monitor {}: timeout {} ms is out of proportion to interval {} ms",
                    line.target, params.timeout, params.interval
                ),
                "a timeout up to ten intervals (or a minute)".to_string(),
            ));
        }
        let hits = matches(&line.target, groups);
        if hits.is_empty() {
            problems.push((
                line.line,
                format!("monitor: no resource '{}' in haresources", line.target),
                suggestion(&line.target, groups),
            ));
            continue;
        }
        for (group, resource) in hits {
            if let Some((_, first)) = monitors
                .iter()
                .find(|(s, _)| s.group == group && s.resource == resource)
            {
                problems.push((
                    line.line,
                    format!(
                        "monitor: resource {} is already monitored by line {first}",
                        groups[group].resources[resource].text
                    ),
                    "one monitor line per resource".to_string(),
                ));
                continue;
            }
            monitors.push((
                MonitorSpec {
                    group,
                    resource,
                    params,
                },
                line.line,
            ));
        }
    }
    m.monitors = monitors.into_iter().map(|(s, _)| s).collect();
    problems
}

/// (group, resource) of every resource the target names: its text, or its script name.
fn matches(target: &str, groups: &[ResourceGroup]) -> Vec<(usize, usize)> {
    let mut hits = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        for (r, res) in group.resources.iter().enumerate() {
            if res.text == target || res.name == target {
                hits.push((g, r));
            }
        }
    }
    hits
}

fn suggestion(target: &str, groups: &[ResourceGroup]) -> String {
    let names: Vec<&str> = groups
        .iter()
        .flat_map(|g| g.resources.iter())
        .flat_map(|r| [r.name.as_str(), r.text.as_str()])
        .collect();
    match closest(target, &names) {
        Some(c) => format!("did you mean '{c}'?"),
        None if names.is_empty() => "haresources has no resources".to_string(),
        None => {
            let mut list: Vec<&str> = groups
                .iter()
                .flat_map(|g| g.resources.iter())
                .map(|r| r.text.as_str())
                .collect();
            list.dedup();
            format!("haresources has: {}", list.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Resource;

    fn groups() -> Vec<ResourceGroup> {
        let r = |name: &str, text: &str| Resource {
            name: name.into(),
            args: Vec::new(),
            text: text.into(),
        };
        vec![
            ResourceGroup {
                owner: "a".into(),
                resources: vec![r("IPaddr", "IPaddr::192.0.2.10"), r("httpd", "httpd")],
                line: 1,
            },
            ResourceGroup {
                owner: "b".into(),
                resources: vec![r("httpd", "httpd::/etc/b.conf")],
                line: 2,
            },
        ]
    }

    #[test]
    fn durations_take_their_own_units() {
        assert_eq!(parse_duration("5"), Ok(5000));
        assert_eq!(parse_duration("5s"), Ok(5000));
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("10min"), Ok(600_000));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn settings_and_their_errors() {
        let s = parse_settings(&["interval=5s", "fall=2", "window=10min"]).unwrap();
        assert_eq!(
            s,
            vec![
                MonitorSetting::Interval(5000),
                MonitorSetting::Fall(2),
                MonitorSetting::Window(600_000)
            ]
        );
        let e = parse_settings(&["intervall=5"]).unwrap_err();
        assert!(e.0.contains("unknown monitor setting"), "{e:?}");
        assert!(e.1.contains("interval"), "{e:?}");
        assert!(parse_settings(&["fall=0"]).is_err());
        assert!(parse_settings(&["interval=1ms"]).is_err());
        assert!(parse_settings(&["interval"]).is_err());
        assert!(parse_settings(&["timeout=soon"]).is_err());
    }

    #[test]
    fn targets_resolve_by_text_or_script_name_with_defaults_applied() {
        let mut m = Monitoring {
            defaults: vec![MonitorSetting::Interval(2000)],
            lines: vec![
                MonitorLine {
                    target: "httpd".into(),
                    settings: vec![MonitorSetting::Fall(2)],
                    line: 7,
                },
                MonitorLine {
                    target: "IPaddr::192.0.2.10".into(),
                    settings: vec![],
                    line: 8,
                },
            ],
            monitors: vec![],
        };
        assert!(resolve(&mut m, &groups()).is_empty());
        assert_eq!(m.monitors.len(), 3);
        let h = m.of(1, 0).unwrap();
        assert_eq!((h.params.interval, h.params.fall), (2000, 2));
        assert_eq!(m.of(0, 0).unwrap().params.fall, 1);
    }

    #[test]
    fn unknown_and_duplicate_targets_are_reported_with_their_line() {
        let mut m = Monitoring {
            defaults: vec![],
            lines: vec![
                MonitorLine {
                    target: "htpd".into(),
                    settings: vec![],
                    line: 3,
                },
                MonitorLine {
                    target: "httpd".into(),
                    settings: vec![],
                    line: 4,
                },
                MonitorLine {
                    target: "httpd::/etc/b.conf".into(),
                    settings: vec![],
                    line: 5,
                },
            ],
            monitors: vec![],
        };
        let p = resolve(&mut m, &groups());
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].0, 3);
        assert!(p[0].2.contains("httpd"), "{p:?}");
        assert_eq!(p[1].0, 5);
        assert!(p[1].1.contains("already monitored by line 4"), "{p:?}");
    }
}
