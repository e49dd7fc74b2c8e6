//! The documentation holds together: every relative link in the README, docs/, bench-results/
//! and the other READMEs resolves, and every operator configuration key in the code
//! (`flink_lifecycle::config::KEYS`) is documented exactly once, in the generated table of
//! docs/configuration.md, and the planner's phase transitions are the table in
//! docs/architecture.md (`UPDATE_DOCS=1 cargo test --test docs` rewrites both).
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

/// Keeps the text between `start` and `end` in `file` equal to `body` (`UPDATE_DOCS=1` rewrites it).
fn generated_section(file: &str, start: &str, end: &str, body: &str) {
    let path = repo().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let (Some(from), Some(to)) = (text.find(start), text.find(end)) else {
        panic!("{file} lacks the generated section markers {start:?} … {end:?}");
    };
    let wanted = format!("{start}\n{body}{end}");
    let current = &text[from..to + end.len()];
    if current != wanted {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let updated = format!("{}{wanted}{}", &text[..from], &text[to + end.len()..]);
            std::fs::write(&path, updated).unwrap();
        } else {
            panic!("{file}'s generated section {start:?} is stale: run UPDATE_DOCS=1 cargo test --test docs");
        }
    }
}

#[test]
fn the_phase_transitions_are_documented_as_the_planner_takes_them() {
    use flink_lifecycle::lifecycle::{Phase, TRANSITIONS};
    let mut t = String::from("| from | to | when |\n|---|---|---|\n");
    for tr in TRANSITIONS {
        t.push_str(&format!("| {} | {} | {} |\n", tr.from, tr.to, tr.when));
    }
    t.push_str("\nPhases: ");
    t.push_str(
        &Phase::ALL
            .iter()
            .map(|p| format!("`{p}`"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    t.push_str(".\n");
    generated_section(
        "docs/architecture.md",
        "<!-- phase transitions: generated from src/lifecycle/planner/phase.rs by tests/docs.rs -->",
        "<!-- end of phase transitions -->",
        &t,
    );
}

#[test]
fn every_operator_key_is_documented_exactly_once() {
    generated_section("docs/configuration.md", START, END, &keys_table());
    let path = repo().join("docs/configuration.md");
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
