//! Cluster messages the core does not interpret: those injected through the FIFO by scripts
//! (`ha_clustermsg`, spec §12.3) are sent to the peer, and they and the peer's messages of
//! types the core has no handler for are handed to the shell as [`Output::Hook`] so that
//! `rc.d/<type>` can run (spec §6.5). The types that carry the core's own protocol state are
//! refused from the FIFO: an injected `resource` or `shutdone` would make the peer believe what
//! this node never did.

use super::machine::Core;
use super::vocab::{Output, Severity};
use crate::wire::message::{Message, Value};

/// Message types the core produces and consumes itself; never injected from the FIFO.
pub const OWN_TYPES: &[&str] = &[
    "status",
    "starting",
    "resource",
    "ask_resources",
    "hb_takeover",
    "shutdone",
    "ip-request",
    "ip-request-resp",
    "reqnodes",
    "repnodes",
    "num_ping_nodes",
    "you_are_dead",
    "abort_giveup",
];

/// Fields the daemon stamps itself (spec §2.1); an injected value is discarded.
const AUTOMATIC_FIELDS: &[&str] = &["src", "srcuuid", "seq", "hg", "ts", "ld", "ttl", "auth"];

/// Longest message type accepted for a hook.
const MAX_TYPE_LEN: usize = 64;

/// A message type that may name a hook file: letters, digits, `_`, `-`, `.`, not starting
/// with a dot (no `..`, no `/`: the type becomes a path under rc.d).
pub fn is_hook_type(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= MAX_TYPE_LEN
        && !t.starts_with('.')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Why an injected message is refused, if it is.
pub fn injection_refusal(t: Option<&str>) -> Option<String> {
    match t {
        None => Some("it has no t= field".to_string()),
        Some(t) if OWN_TYPES.contains(&t) || t.starts_with("NS_") => Some(format!(
            "[{t}] carries the daemon's own protocol state; use hb_standby / hb_takeover"
        )),
        Some(t) if !is_hook_type(t) => Some(format!(
            "type [{}] is not a plain word (letters, digits, _ - .)",
            t.escape_debug()
        )),
        Some(_) => None,
    }
}

/// The string fields of a message, as hooks see them (`HA_<name>`); binary fields are left out.
pub fn text_fields(msg: &Message) -> Vec<(String, String)> {
    msg.fields
        .iter()
        .filter_map(|f| match &f.value {
            Value::Str(v) => Some((f.name.clone(), String::from_utf8_lossy(v).into_owned())),
            Value::Bin(_) => None,
        })
        .collect()
}

impl Core {
    /// A message written to the FIFO: sent to the cluster and delivered to our own hooks.
    pub(super) fn on_inject(&mut self, fields: Vec<(String, String)>) {
        let t = fields
            .iter()
            .find(|(k, _)| k == "t")
            .map(|(_, v)| v.clone());
        if let Some(why) = injection_refusal(t.as_deref()) {
            self.log(Severity::Warn, format!("FIFO message refused: {why}"));
            return;
        }
        let t = t.unwrap_or_default();
        let mut msg = Message::new(&t);
        for (k, v) in &fields {
            if k != "t" && !AUTOMATIC_FIELDS.contains(&k.as_str()) {
                msg.push(k, v);
            }
        }
        self.log(
            Severity::Info,
            format!("FIFO: sending [{t}] to the cluster"),
        );
        let mut local = text_fields(&msg);
        local.push(("src".to_string(), self.config.local.clone()));
        self.transmit(msg);
        self.outputs.push_back(Output::Hook {
            msg_type: t,
            fields: local,
        });
    }

    /// A message from the peer that the core has no handler for.
    pub(super) fn on_unhandled(&mut self, t: &str, msg: &Message) {
        self.log(
            Severity::Debug,
            format!(
                "message type [{t}] from {}: for the hooks",
                self.config.peer
            ),
        );
        if is_hook_type(t) {
            self.outputs.push_back(Output::Hook {
                msg_type: t.to_string(),
                fields: text_fields(msg),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_types_cannot_leave_rc_d() {
        for bad in [
            "",
            "..",
            "../x",
            "a/b",
            ".hidden",
            "a b",
            "x\0",
            &"y".repeat(65),
        ] {
            assert!(!is_hook_type(bad), "{bad:?}");
        }
        for good in ["ifstat", "my-event", "app_ready.v2", "Custom1"] {
            assert!(is_hook_type(good), "{good}");
        }
    }

    #[test]
    fn own_protocol_types_are_refused() {
        assert!(injection_refusal(Some("resource")).is_some());
        assert!(injection_refusal(Some("shutdone")).is_some());
        assert!(injection_refusal(Some("NS_ackmsg")).is_some());
        assert!(injection_refusal(None).is_some());
        assert!(injection_refusal(Some("../../bin/sh")).is_some());
        assert!(injection_refusal(Some("app-event")).is_none());
    }
}
