//! The documentation holds together: every relative link in the README, docs/, bench-results/
//! and the other READMEs resolves, and every operator configuration key in the code
//! (`flink_lifecycle::config::KEYS`) is documented exactly once, in the generated table of
//! docs/configuration.md (`UPDATE_DOCS=1 cargo test --test docs` rewrites it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use flink_lifecycle::config::{KEYS, Scope};
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn markdown_files() -> Vec<PathBuf> {
    let repo = repo();
    let mut files = vec![
        repo.join("README.md"),
        repo.join("certs/README.md"),
        repo.join("tests/cluster/README.md"),
    ];
    for dir in ["docs", "bench-results"] {
        for e in std::fs::read_dir(repo.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "md") {
                files.push(p);
            }
        }
    }
    files.retain(|p| p.exists());
    files.sort();
    files
}

/// `[text](target)` link targets of a markdown text (code spans and fences skipped).
fn link_targets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Drop code spans: a `](x)` inside backticks is not a link.
        let mut plain = String::new();
        for (i, part) in line.split('`').enumerate() {
            if i % 2 == 0 {
                plain.push_str(part);
            }
        }
        let mut rest = plain.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    let files = markdown_files();
    assert!(files.len() >= 5, "markdown files found: {files:?}");
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let dir = file.parent().unwrap();
        for target in link_targets(&text) {
            if target.is_empty()
                || target.starts_with('#')
                || target.contains("://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            let path = target.split('#').next().unwrap_or_default();
            checked += 1;
            if !dir.join(path).exists() {
                broken.push(format!(
                    "{}: {target}",
                    file.strip_prefix(repo()).unwrap_or(file).display()
                ));
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} relative links found: the parser is broken"
    );
    assert!(
        broken.is_empty(),
        "links that resolve to nothing:\n{}",
        broken.join("\n")
    );
}

const START: &str = "<!-- operator keys: generated from src/config/keys.rs by tests/docs.rs -->";
const END: &str = "<!-- end of operator keys -->";

fn keys_table() -> String {
    let mut t = String::from(
        "| key (`kubernetes.operator.` …) | also read as | default | per resource |\n|---|---|---|---|\n",
    );
    for k in KEYS {
        let aliases = if k.aliases.is_empty() {
            "—".to_string()
        } else {
            k.aliases
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        t.push_str(&format!(
            "| `{}` | {aliases} | {} | {} |\n",
            k.key,
            k.default.unwrap_or("none"),
            if k.scope == Scope::Dynamic { "yes" } else { "no" }
        ));
    }
    t
}

#[test]
fn every_operator_key_is_documented_exactly_once() {
    let path = repo().join("docs/configuration.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let (Some(start), Some(end)) = (text.find(START), text.find(END)) else {
        panic!("docs/configuration.md lacks the generated table markers {START:?} … {END:?}");
    };
    let wanted = format!("{START}\n{}{END}", keys_table());
    let current = &text[start..end + END.len()];
    if current != wanted {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let updated = format!("{}{wanted}{}", &text[..start], &text[end + END.len()..]);
            std::fs::write(&path, updated).unwrap();
        } else {
            panic!("docs/configuration.md's key table is stale: run UPDATE_DOCS=1 cargo test --test docs");
        }
    }
    // Once: no key is described in a second row anywhere in the docs.
    let text = std::fs::read_to_string(&path).unwrap();
    for k in KEYS {
        let row = format!("| `{}` |", k.key);
        let rows: usize = markdown_files()
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap().matches(&row).count())
            .sum();
        assert_eq!(rows, 1, "`{}` has {rows} table rows in the docs", k.key);
        assert!(text.contains(&row));
    }
}
