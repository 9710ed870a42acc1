//! The import graph points down: no module of `src/` imports one above it
//! (ARCHITECTURE.md, "Layers"). Reads every `use crate::…` line and checks
//! it against the rank of each module below; a new module needs a rank.

use std::path::Path;

/// Lower imports nothing higher. Equal ranks may not import each other.
const RANKS: &[(&str, u32)] = &[
    ("support::clock", 0),
    ("support::settings_table", 0),
    ("support::env_file", 0),
    ("support::config", 1),
    ("support::lock", 0),
    ("support::metrics", 0),
    ("support::text", 0),
    ("support::log", 2),
    ("http", 2),
    ("storage", 3),
    ("storage::audit", 4),
    ("auth::hash_queue", 5),
    ("auth::passwords", 6),
    ("auth::sessions", 5),
    ("auth::throttle", 5),
    ("auth::validation", 7),
    ("auth::mailer", 8),
    ("auth::totp", 5),
    ("auth::redirect", 5),
    ("api::error", 10),
    ("api::cors", 10),
    ("api::cookies", 10),
    ("api::client_ip", 10),
    ("api::router", 11),
    ("api::fields", 11),
    ("api::app", 12),
    ("api::common", 13),
    ("api::auth", 14),
    ("api::account", 14),
    ("api::sessions", 14),
    ("api::health", 14),
    ("api::recovery", 14),
    ("api::totp", 14),
    ("api::forward", 14),
    ("api::pages", 14),
    ("api::pipeline", 15),
    ("api::metrics", 15),
    ("admin", 20),
];

/// The rank of a module path such as `api::common` or `storage::audit`;
/// the longest matching entry wins.
fn rank(module: &str) -> Option<u32> {
    RANKS
        .iter()
        .filter(|(name, _)| module == *name || module.starts_with(&format!("{name}::")))
        .max_by_key(|(name, _)| name.len())
        .map(|&(_, rank)| rank)
}

/// `src/api/common.rs` → `api::common`; `src/storage/mod.rs` → `storage`.
fn module_of(path: &Path) -> String {
    let relative = path.strip_prefix("src").unwrap().with_extension("");
    let parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| p != "mod")
        .collect();
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules a file imports: `use crate::a::b::{C, D};` → `a::b`, and
/// `use crate::api::{auth, common};` → `api::auth`, `api::common`.
fn imports(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for statement in source.split(';') {
        let statement = statement.trim();
        let Some(path) = statement.strip_prefix("use crate::") else {
            continue;
        };
        match path.split_once('{') {
            Some((prefix, list)) => {
                for item in list.trim_end_matches('}').split(',') {
                    let item = item.trim().split("::").next().unwrap_or("").trim();
                    if item != "self"
                        && !item.is_empty()
                        && item.chars().next().unwrap().is_lowercase()
                    {
                        found.push(format!("{prefix}{item}"));
                    } else {
                        found.push(prefix.trim_end_matches("::").to_string());
                    }
                }
            }
            None => found.push(path.to_string()),
        }
    }
    found
}

#[test]
fn every_import_points_down() {
    let mut files = Vec::new();
    rust_files(Path::new("src"), &mut files);
    let mut problems = Vec::new();
    for file in files {
        let module = module_of(&file);
        if module == "main" || module == "lib" || module.starts_with("http") {
            continue;
        }
        let source = std::fs::read_to_string(&file).unwrap();
        // Test modules may reach anywhere.
        let source = source.split("#[cfg(test)]").next().unwrap();
        let targets = imports(source);
        let Some(own) = rank(&module) else {
            // A folder's mod.rs that only lists its modules needs no rank.
            if !targets.is_empty() {
                problems.push(format!("{module} has no rank in tests/layers.rs"));
            }
            continue;
        };
        for target in targets {
            let Some(theirs) = rank(&target) else {
                problems.push(format!("{module} imports {target}, which has no rank"));
                continue;
            };
            if theirs >= own && !target.starts_with(&module) {
                problems.push(format!(
                    "{module} (rank {own}) imports {target} (rank {theirs})"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_http_layer_imports_nothing_of_the_crate() {
    let mut files = Vec::new();
    rust_files(Path::new("src/http"), &mut files);
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        assert!(!source.contains("use crate::"), "{}", file.display());
    }
}

#[test]
fn the_reader_finds_imports() {
    assert_eq!(
        imports("use crate::api::{auth, common};\nuse crate::storage::{Database, User};"),
        ["api::auth", "api::common", "storage", "storage"]
    );
    assert_eq!(rank("storage::audit"), Some(4));
    assert_eq!(rank("storage::Database"), Some(3));
}
