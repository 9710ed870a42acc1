//! The import graph points down: no module of `src/` imports one above it
//! (ARCHITECTURE.md, "Layers"). Reads every `use crate::…` line and checks
//! it against the rank of each module below; a new module needs a rank.

use std::path::Path;

/// Lower imports nothing higher. Equal ranks may not import each other.
const RANKS: &[(&str, u32)] = &[
    ("support::base64", 0),
    ("support::clock", 0),
    ("support::settings_table", 0),
    ("support::env_file", 0),
    ("support::config", 1),
    ("support::lock", 0),
    ("support::metrics", 0),
    ("support::text", 0),
    ("support::form", 0),
    ("support::url", 0),
    ("support::log", 2),
    ("http", 2),
    ("storage", 3),
    ("storage::schema", 3),
    ("storage::sessions", 3),
    ("storage::users", 4),
    ("storage::mail", 4),
    ("storage::totp", 4),
    ("storage::audit", 4),
    ("storage::passkeys", 5),
    ("storage::oidc", 4),
    ("auth::token", 1),
    ("auth::hash_queue", 5),
    ("auth::passwords", 6),
    ("auth::sessions", 5),
    ("auth::throttle", 5),
    ("auth::validation", 7),
    ("auth::totp", 5),
    ("auth::redirect", 5),
    ("auth::access", 5),
    ("auth::webauthn", 5),
    ("auth::challenges", 6),
    ("auth::jose", 5),
    ("accounts::mailer", 9),
    ("accounts::sessions", 9),
    ("accounts", 10),
    ("accounts::check", 11),
    ("accounts::login", 12),
    ("accounts::access", 12),
    ("accounts::forward", 12),
    ("accounts::reauth", 12),
    ("accounts::notices", 11),
    ("accounts::logout", 12),
    ("accounts::password", 12),
    ("accounts::delete", 12),
    ("accounts::recovery", 12),
    ("accounts::two_factor", 12),
    ("accounts::register", 13),
    ("accounts::passkeys", 13),
    ("accounts::oidc", 12),
    ("api::error", 20),
    ("api::cors", 20),
    ("api::cookies", 20),
    ("api::client_ip", 20),
    ("api::router", 21),
    ("api::fields", 21),
    ("api::app", 22),
    ("api::common", 23),
    ("api::auth", 24),
    ("api::account", 24),
    ("api::sessions", 24),
    ("api::health", 24),
    ("api::recovery", 24),
    ("api::totp", 24),
    ("api::passkeys", 24),
    ("api::oidc", 24),
    ("api::forward", 24),
    ("api::pages", 23),
    ("api::pipeline", 25),
    ("api::metrics", 25),
    ("admin", 30),
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
/// `use crate::api::{auth, common};` → `api::auth`, `api::common`; `use
/// super::…` read from `module` (a climb is an import like any other); and
/// every `crate::a::b::Item` written inline in the code.
fn imports_of(module: &str, source: &str) -> Vec<String> {
    // `super` is the parent module; `super::super` its parent.
    let resolved = resolve_super(module, source);
    let mut found = imports(&resolved);
    found.extend(inline_paths(&resolved));
    found
}

/// `use super::x` in `a::b::c` → `use crate::a::b::x`.
fn resolve_super(module: &str, source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(at) = rest.find("super::") {
        let before = &rest[..at];
        out.push_str(before);
        let mut parts: Vec<&str> = module.split("::").collect();
        let mut tail = &rest[at..];
        while let Some(after) = tail.strip_prefix("super::") {
            parts.pop();
            tail = after;
        }
        out.push_str("crate::");
        for part in parts {
            out.push_str(part);
            out.push_str("::");
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// The module part of every `crate::…` path outside `use` lines (those are
/// read by [`imports`]): `crate::auth::throttle::Reservation` →
/// `auth::throttle`.
fn inline_paths(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for statement in source.split(';') {
        if statement.trim().starts_with("use ") || statement.contains("pub use ") {
            continue;
        }
        let mut rest = statement;
        while let Some(at) = rest.find("crate::") {
            let path: String = rest[at + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let module: Vec<&str> = path
                .split("::")
                .take_while(|p| p.chars().next().is_some_and(char::is_lowercase))
                .collect();
            if !module.is_empty() {
                found.push(module.join("::"));
            }
            rest = &rest[at + 7..];
        }
    }
    found
}

fn imports(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for statement in source.split(';') {
        let statement = statement.trim();
        let statement = statement.strip_prefix("pub(crate) ").unwrap_or(statement);
        let statement = statement.strip_prefix("pub ").unwrap_or(statement);
        let Some(path) = statement.strip_prefix("use crate::") else {
            continue;
        };
        match path.split_once('{') {
            Some((prefix, list)) => {
                for item in list.trim_end_matches('}').split(',') {
                    let item = item.trim().split("::").next().unwrap_or("").trim();
                    // A trailing comma (rustfmt's multi-line groups).
                    if item.is_empty() {
                        continue;
                    }
                    if item != "self" && item.chars().next().unwrap().is_lowercase() {
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

/// A path's module: its longest prefix that is a file of `src/` (an item
/// such as `storage::Database` or `storage::guard` belongs to `storage`).
fn module_part(path: &str, modules: &[String]) -> String {
    let mut parts: Vec<&str> = path.split("::").collect();
    while !parts.is_empty() {
        let candidate = parts.join("::");
        if modules.contains(&candidate) {
            return candidate;
        }
        parts.pop();
    }
    path.to_string()
}

#[test]
fn every_import_points_down() {
    let mut files = Vec::new();
    rust_files(Path::new("src"), &mut files);
    let modules: Vec<String> = files.iter().map(|f| module_of(f)).collect();
    let mut problems = Vec::new();
    for file in files {
        let module = module_of(&file);
        if module == "main" || module == "lib" || module.starts_with("http") {
            continue;
        }
        let source = std::fs::read_to_string(&file).unwrap();
        // Test modules may reach anywhere.
        let source = source.split("#[cfg(test)]").next().unwrap();
        let targets: Vec<String> = imports_of(&module, source)
            .iter()
            .map(|t| module_part(t, &modules))
            .collect();
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
            // A module may use its own children and its parent folder's
            // module (`storage::mail` the `Database` of `storage`).
            let own_family =
                target.starts_with(&module) || module.starts_with(&format!("{target}::"));
            if theirs >= own && !own_family {
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
    assert_eq!(
        imports("use crate::api::{\n    auth, common,\n};"),
        ["api::auth", "api::common"]
    );
    assert_eq!(rank("storage::audit"), Some(4));
    assert_eq!(rank("storage::Database"), Some(3));
}

#[test]
fn climbs_and_inline_paths_are_imports_too() {
    // `super::super` from `auth::sessions` is the crate root: `api` here.
    assert_eq!(
        imports_of("auth::sessions", "use super::super::api::app::App;"),
        ["api::app::App"]
    );
    assert_eq!(
        imports_of("storage::mail", "use super::{Database, User};"),
        ["storage", "storage"]
    );
    assert_eq!(
        imports_of(
            "auth::totp",
            "fn f() -> crate::api::error::ApiError { todo() }"
        ),
        ["api::error"]
    );
}
