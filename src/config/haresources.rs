//! `haresources` parser (spec §6.1), into structures, once, with line numbers (fixes §13.18).
//!
//! Unlike the original, a backslash continuation joins the two lines with a space, so
//! `IPaddr::192.0.2.10\` + `httpd` gives two resources, never one glued word.

use std::net::Ipv4Addr;
use std::path::Path;

use super::error::Diagnostics;
use super::model::{Resource, ResourceGroup};

/// One logical line: its first physical line number and its joined text.
struct Logical {
    line: usize,
    text: String,
}

/// Removes comments and joins continued lines.
fn logical_lines(text: &str) -> Vec<Logical> {
    let mut out = Vec::new();
    let mut pending: Option<Logical> = None;
    for (i, raw) in text.lines().enumerate() {
        let content = raw.split('#').next().unwrap_or("").trim_end();
        let (content, continued) = match content.strip_suffix('\\') {
            Some(c) => (c, true),
            None => (content, false),
        };
        let cur = pending.get_or_insert_with(|| Logical {
            line: i + 1,
            text: String::new(),
        });
        cur.text.push(' ');
        cur.text.push_str(content);
        if !continued && let Some(done) = pending.take() {
            out.push(done);
        }
    }
    out.extend(pending);
    out.retain(|l| !l.text.trim().is_empty());
    out
}

/// Whether a word looks like an IPv4 address spec (`192.0.2.10/24/eth0`): digits and dots
/// before the first `/`, with three dots.
fn looks_like_ipv4(word: &str) -> bool {
    let addr = word.split('/').next().unwrap_or("");
    addr.starts_with(|c: char| c.is_ascii_digit())
        && addr.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && addr.bytes().filter(|&b| b == b'.').count() == 3
}

/// Parses one resource word; `Err((message, hint))` when malformed.
pub fn parse_resource(word: &str) -> Result<Resource, (String, String)> {
    if looks_like_ipv4(word) {
        let addr = word.split('/').next().unwrap_or("");
        if addr.parse::<Ipv4Addr>().is_err() {
            return Err((
                format!("'{addr}' looks like an IPv4 address but is not one"),
                "write a.b.c.d[/prefix[/iface]]".into(),
            ));
        }
        return Ok(Resource {
            name: "IPaddr".into(),
            args: vec![word.to_string()],
            text: format!("IPaddr::{word}"),
        });
    }
    let mut parts = word.split("::");
    let name = parts.next().unwrap_or("");
    let args: Vec<String> = parts.map(str::to_string).collect();
    if name.is_empty() {
        return Err((
            format!("resource '{word}' has an empty name"),
            "write NAME::ARG, e.g. IPaddr::192.0.2.10/24/eth0".into(),
        ));
    }
    if name.contains(':') {
        return Err((
            format!("resource name '{name}' contains ':'"),
            "separate the name and its arguments with '::'".into(),
        ));
    }
    if args.iter().any(|a| a.is_empty()) {
        return Err((
            format!("resource '{word}' has an empty argument"),
            "remove the doubled or trailing '::'".into(),
        ));
    }
    Ok(Resource {
        name: name.to_string(),
        args,
        text: word.to_string(),
    })
}

/// Parses `haresources` text; `nodes` are the cluster nodes (lower-cased).
pub fn parse(
    text: &str,
    file: &Path,
    nodes: &[String],
    diags: &mut Diagnostics,
) -> Vec<ResourceGroup> {
    let mut groups: Vec<ResourceGroup> = Vec::new();
    let physical: Vec<&str> = text.lines().collect();
    for logical in logical_lines(text) {
        let n = logical.line;
        let raw = physical.get(n - 1).copied().unwrap_or("");
        let mut words = logical.text.split_whitespace();
        let Some(owner) = words.next() else { continue };
        let owner = owner.to_lowercase();
        if !nodes.is_empty() && !nodes.contains(&owner) {
            diags.error(
                file,
                n,
                raw,
                format!("owner '{owner}' is not a cluster node"),
                &format!("the first word must be one of: {}", nodes.join(", ")),
            );
        }
        let mut resources = Vec::new();
        let mut ok = true;
        for word in words {
            match parse_resource(word) {
                Ok(r) => resources.push(r),
                Err((message, hint)) => {
                    diags.error(file, n, raw, message, &hint);
                    ok = false;
                }
            }
        }
        if !ok {
            continue;
        }
        if resources.is_empty() {
            diags.error(
                file,
                n,
                raw,
                format!("group of '{owner}' lists no resource"),
                "NODE RESOURCE [RESOURCE...]",
            );
            continue;
        }
        let group = ResourceGroup {
            owner,
            resources,
            line: n,
        };
        if let Some(prev) = groups.iter().find(|g| g.key() == group.key()) {
            diags.error(
                file,
                n,
                raw,
                format!(
                    "group key '{}' already used on line {}",
                    group.key(),
                    prev.line
                ),
                "the first resource of each line names the group and must be unique",
            );
            continue;
        }
        groups.push(group);
    }
    if groups.is_empty() && diags.errors.iter().all(|e| e.file != file) {
        diags.warn(
            file,
            0,
            "",
            "no resource groups: this pair manages nothing".into(),
            "add e.g. 'NODE IPaddr::192.0.2.10/24/eth0 httpd'",
        );
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_joins_with_a_space() {
        let l = logical_lines("a r1\\\nr2 # c\n\n# x\nb r3\n");
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].line, 1);
        assert_eq!(
            l[0].text.split_whitespace().collect::<Vec<_>>(),
            ["a", "r1", "r2"]
        );
        assert_eq!(l[1].line, 5);
    }

    #[test]
    fn bare_address_is_ipaddr() {
        let r = parse_resource("192.0.2.10/24/eth0").unwrap();
        assert_eq!(r.name, "IPaddr");
        assert_eq!(r.text, "IPaddr::192.0.2.10/24/eth0");
        assert!(parse_resource("300.0.2.10").is_err());
        let f = parse_resource("Filesystem::/dev/sda1::/data::ext3").unwrap();
        assert_eq!(f.args, ["/dev/sda1", "/data", "ext3"]);
    }
}
