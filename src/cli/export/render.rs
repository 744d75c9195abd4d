//! The plan printed three ways: a `pcs` script, `crm configure` text, a CIB (XML) — and the
//! `corosync.conf` that goes with them.

use std::fmt::Write as _;

use super::plan::{PREFER_SCORE, Plan, Primitive};

fn ops_text(p: &Primitive, style: Style) -> String {
    let mut s = String::new();
    for o in &p.ops {
        let interval = if o.interval_s > 0 {
            format!(" interval={}s", o.interval_s)
        } else {
            " interval=0s".to_string()
        };
        match style {
            Style::Pcs => {
                let _ = write!(s, " {}{interval} timeout={}s", o.name, o.timeout_s);
            }
            Style::Crm => {
                let _ = write!(
                    s,
                    " \\\n    op {}{interval} timeout={}s",
                    o.name, o.timeout_s
                );
            }
        }
    }
    s
}

#[derive(Clone, Copy)]
enum Style {
    Pcs,
    Crm,
}

/// ` name=value` for each pair, values quoted for sh and crmsh.
fn pairs(list: &[(String, String)]) -> String {
    list.iter().map(|(k, v)| format!(" {k}={}", q(v))).collect()
}

/// Single-quotes a word for sh and crmsh.
fn q(v: &str) -> String {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/:,@+".contains(&b))
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', r"'\''"))
    }
}

fn notes_as_comments(plan: &Plan) -> String {
    let mut s = String::new();
    for n in &plan.notes {
        let _ = writeln!(s, "# NOTE: {n}");
    }
    s
}

/// A shell script of `pcs` commands (pcs 0.11), run on one node of a running cluster.
pub fn pcs(plan: &Plan) -> String {
    let mut s = String::from(
        "#!/bin/sh\n# Pacemaker configuration exported by heartbeat-rs (heartbeat --export pcs)\nset -e\n",
    );
    s.push_str(&notes_as_comments(plan));
    let enabled = !plan.stonith.is_empty();
    let _ = writeln!(s, "pcs property set stonith-enabled={enabled}");
    let _ = writeln!(
        s,
        "pcs resource defaults update resource-stickiness={}",
        plan.stickiness
    );
    for f in &plan.stonith {
        let params: String = pairs(&f.params);
        let _ = writeln!(s, "pcs stonith create {} {}{params}", f.id, f.agent);
    }
    for g in &plan.groups {
        for p in &g.members {
            let params: String = pairs(&p.params);
            let meta = if p.meta.is_empty() {
                String::new()
            } else {
                let m: String = pairs(&p.meta);
                format!(" meta{m}")
            };
            let _ = writeln!(
                s,
                "pcs resource create {} {}{params} op{}{meta} --group {}",
                p.id,
                p.agent_spec(),
                ops_text(p, Style::Pcs),
                g.id
            );
        }
        let _ = writeln!(
            s,
            "pcs constraint location {} prefers {}={PREFER_SCORE}",
            g.id, g.node
        );
    }
    if let Some(ping) = &plan.ping {
        let _ = writeln!(
            s,
            "pcs resource create ping ocf:pacemaker:ping host_list={} multiplier=1000 dampen={}s op monitor interval=10s clone",
            q(&ping.hosts.join(" ")),
            ping.dampen_s
        );
        for g in &plan.groups {
            let _ = writeln!(
                s,
                "pcs constraint location {} rule score=-INFINITY not_defined pingd or pingd lte 0",
                g.id
            );
        }
    }
    s
}

/// `crm configure` input (crmsh 4.4): `crm configure load update FILE`.
pub fn crm(plan: &Plan) -> String {
    // crmsh keeps comments as XML comments, which may not contain "--".
    let mut s = String::from(
        "# Pacemaker configuration exported by heartbeat-rs from ha.cf and haresources\n",
    );
    s.push_str(&notes_as_comments(plan).replace("--", "- -"));
    for f in &plan.stonith {
        let params: String = pairs(&f.params);
        let _ = writeln!(s, "primitive {} {} params{params}", f.id, f.agent_spec());
    }
    for g in &plan.groups {
        for p in &g.members {
            let _ = write!(s, "primitive {} {}", p.id, p.agent_spec());
            if !p.params.is_empty() {
                let params: String = pairs(&p.params);
                let _ = write!(s, " \\\n    params{params}");
            }
            if !p.meta.is_empty() {
                let m: String = pairs(&p.meta);
                let _ = write!(s, " \\\n    meta{m}");
            }
            let _ = writeln!(s, "{}", ops_text(p, Style::Crm));
        }
        let ids: Vec<&str> = g.members.iter().map(|p| p.id.as_str()).collect();
        let _ = writeln!(s, "group {} {}", g.id, ids.join(" "));
        let _ = writeln!(
            s,
            "location loc_{} {} {PREFER_SCORE}: {}",
            g.id, g.id, g.node
        );
    }
    if let Some(ping) = &plan.ping {
        let _ = writeln!(
            s,
            "primitive ping ocf:pacemaker:ping params host_list={} multiplier=1000 dampen={}s op monitor interval=10s",
            q(&ping.hosts.join(" ")),
            ping.dampen_s
        );
        s.push_str("clone ping-clone ping\n");
        for g in &plan.groups {
            let _ = writeln!(
                s,
                "location loc_{}_ping {} rule -inf: not_defined pingd or pingd lte 0",
                g.id, g.id
            );
        }
    }
    let _ = writeln!(s, "property stonith-enabled={}", !plan.stonith.is_empty());
    let _ = writeln!(s, "rsc_defaults resource-stickiness={}", plan.stickiness);
    s
}

fn x(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn nvpairs(owner: &str, kind: &str, pairs: &[(String, String)], indent: &str) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let mut s = format!("{indent}<{kind} id=\"{owner}-{kind}\">\n");
    for (k, v) in pairs {
        let _ = writeln!(
            s,
            "{indent}  <nvpair id=\"{owner}-{kind}-{}\" name=\"{}\" value=\"{}\"/>",
            super::plan::xml_id(k),
            x(k),
            x(v)
        );
    }
    let _ = writeln!(s, "{indent}</{kind}>");
    s
}

fn primitive_xml(p: &Primitive, indent: &str) -> String {
    let provider = p
        .provider
        .as_ref()
        .map(|v| format!(" provider=\"{}\"", x(v)))
        .unwrap_or_default();
    let mut s = format!(
        "{indent}<primitive id=\"{}\" class=\"{}\"{provider} type=\"{}\">\n",
        p.id,
        p.class,
        x(&p.agent)
    );
    let inner = format!("{indent}  ");
    s.push_str(&nvpairs(&p.id, "instance_attributes", &p.params, &inner));
    s.push_str(&nvpairs(&p.id, "meta_attributes", &p.meta, &inner));
    if !p.ops.is_empty() {
        let _ = writeln!(s, "{inner}<operations>");
        for o in &p.ops {
            let _ = writeln!(
                s,
                "{inner}  <op id=\"{}-{}-{}\" name=\"{}\" interval=\"{}s\" timeout=\"{}s\"/>",
                p.id, o.name, o.interval_s, o.name, o.interval_s, o.timeout_s
            );
        }
        let _ = writeln!(s, "{inner}</operations>");
    }
    let _ = writeln!(s, "{indent}</primitive>");
    s
}

/// A whole CIB (`crm_verify -x`, `cibadmin --replace --xml-file`), nodes numbered as in
/// [`corosync`]. `crm_feature_set` 3.2.0 is Pacemaker 2.0's: a running Pacemaker raises it to its
/// own, while one newer than the running Pacemaker's makes its tools refuse the file (pcs needs
/// one to apply its diffs). `epoch` 100: above a freshly formed cluster's, which refuses a
/// `cibadmin --replace` with an older one.
pub fn cib(plan: &Plan) -> String {
    let mut s = String::from(
        "<cib crm_feature_set=\"3.2.0\" validate-with=\"pacemaker-3.9\" epoch=\"100\" num_updates=\"0\" admin_epoch=\"0\">\n  <configuration>\n",
    );
    for n in &plan.notes {
        let _ = writeln!(s, "    <!-- NOTE: {} -->", x(n).replace("--", "- -"));
    }
    let props = vec![
        (
            "stonith-enabled".to_string(),
            (!plan.stonith.is_empty()).to_string(),
        ),
        ("cluster-name".to_string(), plan.cluster.clone()),
    ];
    s.push_str("    <crm_config>\n");
    s.push_str(
        &nvpairs(
            "cib-bootstrap-options",
            "cluster_property_set",
            &props,
            "      ",
        )
        .replace(
            "id=\"cib-bootstrap-options-cluster_property_set\"",
            "id=\"cib-bootstrap-options\"",
        ),
    );
    s.push_str("    </crm_config>\n    <nodes>\n");
    for (i, n) in plan.nodes.iter().enumerate() {
        let _ = writeln!(s, "      <node id=\"{}\" uname=\"{}\"/>", i + 1, x(n));
    }
    s.push_str("    </nodes>\n    <resources>\n");
    for f in &plan.stonith {
        s.push_str(&primitive_xml(f, "      "));
    }
    for g in &plan.groups {
        let _ = writeln!(s, "      <group id=\"{}\">", g.id);
        for p in &g.members {
            s.push_str(&primitive_xml(p, "        "));
        }
        s.push_str("      </group>\n");
    }
    if let Some(ping) = &plan.ping {
        let p = Primitive {
            id: "ping".into(),
            class: "ocf",
            provider: Some("pacemaker".into()),
            agent: "ping".into(),
            params: vec![
                ("host_list".into(), ping.hosts.join(" ")),
                ("multiplier".into(), "1000".into()),
                ("dampen".into(), format!("{}s", ping.dampen_s)),
            ],
            ops: vec![super::plan::Op {
                name: "monitor",
                interval_s: 10,
                timeout_s: 60,
            }],
            meta: Vec::new(),
        };
        s.push_str("      <clone id=\"ping-clone\">\n");
        s.push_str(&primitive_xml(&p, "        "));
        s.push_str("      </clone>\n");
    }
    s.push_str("    </resources>\n    <constraints>\n");
    for g in &plan.groups {
        let _ = writeln!(
            s,
            "      <rsc_location id=\"loc_{0}\" rsc=\"{0}\" node=\"{1}\" score=\"{PREFER_SCORE}\"/>",
            g.id,
            x(&g.node)
        );
        if plan.ping.is_some() {
            let _ = writeln!(
                s,
                "      <rsc_location id=\"loc_{0}_ping\" rsc=\"{0}\">\n        <rule id=\"loc_{0}_ping-rule\" score=\"-INFINITY\" boolean-op=\"or\">\n          <expression id=\"loc_{0}_ping-undef\" attribute=\"pingd\" operation=\"not_defined\"/>\n          <expression id=\"loc_{0}_ping-zero\" attribute=\"pingd\" operation=\"lte\" value=\"0\" type=\"number\"/>\n        </rule>\n      </rsc_location>",
                g.id
            );
        }
    }
    s.push_str("    </constraints>\n    <rsc_defaults>\n");
    s.push_str(&nvpairs(
        "rsc-options",
        "meta_attributes",
        &[(
            "resource-stickiness".to_string(),
            plan.stickiness.to_string(),
        )],
        "      ",
    ));
    s.push_str("    </rsc_defaults>\n  </configuration>\n  <status/>\n</cib>\n");
    s
}

/// `corosync.conf` for the same nodes: one knet link per heartbeat medium, `two_node`.
/// `addrs[link][node]` are the nodes' addresses on each link (None: to fill in).
pub fn corosync(plan: &Plan, links: &[Vec<Option<String>>], notes: &[String]) -> String {
    let mut s =
        String::from("# corosync.conf exported by heartbeat-rs (heartbeat --export corosync)\n");
    for n in notes {
        let _ = writeln!(s, "# NOTE: {n}");
    }
    let _ = writeln!(
        s,
        "totem {{\n    version: 2\n    cluster_name: {}\n    transport: knet\n    crypto_cipher: aes256\n    crypto_hash: sha256\n}}\n",
        plan.cluster
    );
    s.push_str("nodelist {\n");
    for (i, n) in plan.nodes.iter().enumerate() {
        let _ = writeln!(
            s,
            "    node {{\n        name: {n}\n        nodeid: {}",
            i + 1
        );
        for (l, addrs) in links.iter().enumerate() {
            let a = addrs
                .get(i)
                .cloned()
                .flatten()
                .unwrap_or_else(|| format!("ADDRESS-OF-{n}-ON-LINK-{l}"));
            let _ = writeln!(s, "        ring{l}_addr: {a}");
        }
        s.push_str("    }\n");
    }
    s.push_str("}\n\nquorum {\n    provider: corosync_votequorum\n    two_node: 1\n}\n\nlogging {\n    to_logfile: yes\n    logfile: /var/log/corosync/corosync.log\n    to_syslog: yes\n    timestamp: on\n}\n");
    s
}
