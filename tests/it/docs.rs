//! The documents stand on their own and hold together: every relative link
//! in a Markdown file of the repository points at a file that exists (and,
//! for `#anchor`, at a heading that does), nothing points at the folder
//! beside the repository, and the README stays short enough to read.

use std::path::{Path, PathBuf};

fn markdown_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["README.md", "ARCHITECTURE.md", "BENCHMARKS.md"]
        .iter()
        .map(PathBuf::from)
        .collect();
    for entry in std::fs::read_dir("docs").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files
}

/// The targets of `[text](target)` links, outside code blocks.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            found.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    found
}

/// GitHub's anchor for a heading: lower case, spaces to dashes, most
/// punctuation dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

#[test]
fn every_relative_link_points_at_something() {
    let mut broken = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        // The folder beside the repository, spelled so that this file
        // does not name it itself.
        let outside = ["..", "shared"].join("/");
        assert!(
            !text.contains(&outside),
            "{} points outside the repository",
            file.display()
        );
        for link in links(&text) {
            if link.starts_with("http://")
                || link.starts_with("https://")
                || link.starts_with("mailto:")
            {
                continue;
            }
            let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap_or(Path::new("")).join(path)
            };
            if !target.exists() {
                broken.push(format!(
                    "{}: {link} (no {})",
                    file.display(),
                    target.display()
                ));
                continue;
            }
            if !fragment.is_empty() && target.extension().is_some_and(|e| e == "md") {
                let target_text = std::fs::read_to_string(&target).unwrap();
                if !anchors(&target_text).contains(&fragment.to_string()) {
                    broken.push(format!("{}: {link} (no such heading)", file.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}

#[test]
fn the_checker_finds_a_broken_link() {
    assert_eq!(
        links("see [x](docs/none.md) and `[y](z)`"),
        ["docs/none.md", "z"]
    );
    assert_eq!(anchor("The Debian package"), "the-debian-package");
    assert_eq!(
        anchor("Protect an app (forward auth)"),
        "protect-an-app-forward-auth"
    );
}

#[test]
fn the_readme_is_short_enough_to_read() {
    let lines = std::fs::read_to_string("README.md")
        .unwrap()
        .lines()
        .count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines; move detail to docs/"
    );
}

/// Every file of `dir` (recursively) whose name ends in `extension`.
fn files_under(dir: &str, extension: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::from(dir)];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == extension) {
                found.push(path);
            }
        }
    }
    found
}

/// Markdown of the repository, deploy/ included (where operators read).
fn all_markdown() -> Vec<(PathBuf, String)> {
    let mut files = markdown_files();
    files.extend(files_under("deploy", "md"));
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        })
        .collect()
}

#[test]
fn the_documented_schema_version_is_the_codes() {
    let version = auth_core::storage::SCHEMA_VERSION;
    let schema = std::fs::read_to_string("schema.sql").unwrap();
    assert!(
        schema
            .lines()
            .next()
            .unwrap()
            .contains(&format!("version {version}.")),
        "schema.sql's first line names another version than SCHEMA_VERSION ({version})"
    );
    let operating = std::fs::read_to_string("docs/operating.md").unwrap();
    let said = operating
        .split("is the current schema (version ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .expect("docs/operating.md names the current schema version");
    assert_eq!(
        said,
        version.to_string(),
        "docs/operating.md's schema version"
    );
}

#[test]
fn every_documented_setting_is_one() {
    // Upper-case names in backticks that are not settings: constants of the
    // code and of SQLite, named where the docs explain them.
    // (deploy/ documents other programs' settings, so only this server's
    // own documents are read.)
    let not_settings = [
        "SCHEMA_VERSION",
        "SQLITE_OPEN_NOFOLLOW",
        "MALLOC_ARENA_MAX",
        "LIBSQLITE3_FLAGS",
    ];
    for path in markdown_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        for token in text.split('`').skip(1).step_by(2) {
            let looks_like_a_setting = token.contains('_')
                && token.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && token
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if looks_like_a_setting && !not_settings.contains(&token) {
                assert!(
                    auth_core::support::settings_table::find(token).is_some(),
                    "{}: `{token}` is no setting (crates/auth-core/src/support/settings_table.rs)",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn every_documented_admin_command_is_one() {
    let usage = auth_server::admin::USAGE;
    let known: Vec<&str> = usage
        .split("auth-server admin ")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert!(
        known.contains(&"unlock") && known.contains(&"rules"),
        "{known:?}"
    );
    let mut checked = 0;
    for (path, text) in all_markdown() {
        for after in text.split("auth-server ").skip(1) {
            let mut words = after.split_whitespace();
            let mut word = words.next();
            if word == Some("--env-file") {
                words.next();
                word = words.next();
            }
            if word != Some("admin") {
                continue;
            }
            let command = words
                .next()
                .unwrap_or("")
                .trim_end_matches(['`', ',', '.', ')']);
            if command.is_empty() || command.starts_with('…') || command.contains('<') {
                continue;
            }
            checked += 1;
            assert!(
                known.contains(&command),
                "{}: `auth-server admin {command}` is no admin command ({known:?})",
                path.display()
            );
        }
    }
    assert!(
        checked > 20,
        "only {checked} commands found: the scan is broken"
    );
}

#[test]
fn no_comment_cites_a_review_or_an_issue_number() {
    // History lives in git and docs/security.md; code comments say why.
    let (review, issue, finding) = (
        ["re", "view"].concat(),
        ["iss", "ue "].concat(),
        ["find", "ing "].concat(),
    );
    let mut files = files_under("src", "rs");
    files.extend(files_under("tests", "rs"));
    files.extend(files_under("benches", "rs"));
    files.extend(files_under("benches", "sh"));
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            let Some(comment) = line.split_once("//").map(|(_, c)| c).or_else(|| {
                line.trim_start()
                    .strip_prefix('#')
                    .filter(|_| path.extension().is_some_and(|e| e == "sh"))
            }) else {
                continue;
            };
            let comment = comment.to_lowercase();
            let cites = |word: &str| {
                comment.match_indices(word).any(|(at, _)| {
                    comment[at + word.len()..].starts_with(|c: char| c.is_ascii_digit())
                })
            };
            assert!(
                !comment.contains(&review) && !cites(&issue) && !cites(&finding),
                "{}:{}: a comment cites a review or an issue: {line}",
                path.display(),
                n + 1
            );
        }
    }
}

/// openapi.json is what the server makes from its route table and types
/// (`auth-server --print-openapi`), byte for byte: nobody edits it by hand.
#[test]
fn openapi_json_is_what_the_server_makes() {
    let output = std::process::Command::new(crate::common::binary())
        .arg("--print-openapi")
        .output()
        .unwrap();
    assert!(output.status.success());
    let made = String::from_utf8(output.stdout).unwrap();
    let committed = std::fs::read_to_string("openapi.json").unwrap();
    assert!(
        made == committed,
        "openapi.json differs from what the server makes; refresh it with\n  cargo run -- --print-openapi > openapi.json"
    );
    let document: serde_json::Value = serde_json::from_str(&made).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
}

/// docs/api.md's endpoint table is the server's own, between its markers.
#[test]
fn the_endpoint_table_is_the_servers() {
    let output = std::process::Command::new(crate::common::binary())
        .args(["--print-openapi", "--endpoint-table"])
        .output()
        .unwrap();
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.lines().count() > 40, "{table}");
    let doc = std::fs::read_to_string("docs/api.md").unwrap();
    let start = doc
        .find("<!-- The endpoint table")
        .and_then(|at| doc[at..].find('\n').map(|end| at + end + 1))
        .expect("docs/api.md has the table's opening marker");
    let end = doc
        .find("<!-- end of the endpoint table -->")
        .expect("docs/api.md has the table's closing marker");
    assert!(
        doc[start..end] == table,
        "docs/api.md's endpoint table differs from the server's; it should read:\n{table}"
    );
}
