//! The layering rule of ARCHITECTURE.md, checked mechanically: every module of `src/` refers
//! only to its own layer and the layers below it. From the bottom: `config`, `wire`, `core`,
//! `resource`, `daemon`, `cli`. A reference is any `crate::LAYER` path outside comments (in a
//! `use` line or inline), and `super::` paths that climb out of a layer are not allowed.

use std::path::{Path, PathBuf};

const LAYERS: [&str; 7] = [
    "config", "wire", "core", "resource", "daemon", "director", "cli",
];

fn layer_of(name: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == name)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a line without its comment (string literals containing `//` are rare enough in
/// this code base; a false cut only hides a reference after it).
fn code(line: &str) -> &str {
    match line.find("//") {
        Some(i) => &line[..i],
        None => line,
    }
}

/// Every `crate::NAME` in a piece of code.
fn crate_refs(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `heartbeat_crate::`
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        out.push(name);
    }
    out
}

/// Violations in the source tree under `src`: (file, line number, text).
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut bad = Vec::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs");
        let Some(own) = layer_of(top) else {
            continue; // lib.rs and the binaries sit above every layer
        };
        let text = std::fs::read_to_string(&file).unwrap();
        // Inside an inline module (`mod tests {`) one more `super::` stays in the file.
        let mut inline = 0;
        for (n, line) in text.lines().enumerate() {
            let c = code(line);
            let t = c.trim_start();
            if (t.starts_with("mod ") || t.starts_with("pub mod ")) && t.trim_end().ends_with('{') {
                inline = 1;
            }
            for name in crate_refs(c) {
                if let Some(l) = layer_of(&name)
                    && l > own
                {
                    bad.push(format!(
                        "{}:{}: layer {top} refers up to {name}: {}",
                        rel.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
            // A run of `super::` as long as the module is deep leaves the layer.
            let is_mod = rel.file_name().is_some_and(|f| f == "mod.rs");
            let module_depth = rel.components().count() - usize::from(is_mod);
            for (i, _) in c.match_indices("super::") {
                if i >= 7 && &c[i - 7..i] == "super::" {
                    continue; // counted from the first of the run
                }
                let run = c.as_bytes()[i..]
                    .chunks(7)
                    .take_while(|ch| *ch == b"super::")
                    .count();
                if run >= module_depth + inline {
                    bad.push(format!(
                        "{}:{}: super:: climbs out of layer {top}: {}",
                        rel.display(),
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    bad
}

#[test]
fn no_layer_refers_to_a_layer_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = violations(&src);
    assert!(bad.is_empty(), "upward references:\n{}", bad.join("\n"));
}

#[test]
fn the_checker_sees_an_upward_reference() {
    let dir = std::env::temp_dir().join(format!("hblayers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("wire")).unwrap();
    std::fs::write(
        dir.join("wire/x.rs"),
        "use crate::config::Millis; // crate::daemon in a comment is fine\nfn f() { crate::core::Now::default(); }\nuse super::super::daemon::X;\nuse super::y::Z;\n",
    )
    .unwrap();
    let bad = violations(&dir);
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(bad[0].contains("wire/x.rs:2: layer wire refers up to core"));
    assert!(bad[1].contains("wire/x.rs:3: super:: climbs out of layer wire"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Field names of messages appear only in `wire/`: elsewhere messages are built by
/// `wire::builders` and read through `wire::repr` (test modules excepted).
#[test]
fn message_fields_are_named_only_in_wire() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let patterns = [
        "Message::new(\"",
        ".get(\"",
        ".get_hex(\"",
        ".get_bin(\"",
        ".push(\"",
        ".set(\"",
    ];
    let mut bad = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).unwrap();
        if rel.starts_with("wire") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.contains("#[cfg(test)]") {
                break;
            }
            let c = code(line);
            if patterns.iter().any(|p| c.contains(p)) {
                bad.push(format!("{}:{}: {}", rel.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "message fields named outside wire/:\n{}",
        bad.join("\n")
    );
}
