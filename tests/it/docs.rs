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

/// Every requirement of the five chapters of OWASP ASVS 5.0.0 the map
/// covers (V6 to V10), with its level: the map must account for each.
const ASVS_REQUIREMENTS: &[(&str, u8)] = &[
    ("6.1.1", 1),
    ("6.1.2", 2),
    ("6.1.3", 2),
    ("6.2.1", 1),
    ("6.2.2", 1),
    ("6.2.3", 1),
    ("6.2.4", 1),
    ("6.2.5", 1),
    ("6.2.6", 1),
    ("6.2.7", 1),
    ("6.2.8", 1),
    ("6.2.9", 2),
    ("6.2.10", 2),
    ("6.2.11", 2),
    ("6.2.12", 2),
    ("6.3.1", 1),
    ("6.3.2", 1),
    ("6.3.3", 2),
    ("6.3.4", 2),
    ("6.3.5", 3),
    ("6.3.6", 3),
    ("6.3.7", 3),
    ("6.3.8", 3),
    ("6.4.1", 1),
    ("6.4.2", 1),
    ("6.4.3", 2),
    ("6.4.4", 2),
    ("6.4.5", 3),
    ("6.4.6", 3),
    ("6.5.1", 2),
    ("6.5.2", 2),
    ("6.5.3", 2),
    ("6.5.4", 2),
    ("6.5.5", 2),
    ("6.5.6", 3),
    ("6.5.7", 3),
    ("6.5.8", 3),
    ("6.6.1", 2),
    ("6.6.2", 2),
    ("6.6.3", 2),
    ("6.6.4", 3),
    ("6.7.1", 3),
    ("6.7.2", 3),
    ("6.8.1", 2),
    ("6.8.2", 2),
    ("6.8.3", 2),
    ("6.8.4", 2),
    ("7.1.1", 2),
    ("7.1.2", 2),
    ("7.1.3", 2),
    ("7.2.1", 1),
    ("7.2.2", 1),
    ("7.2.3", 1),
    ("7.2.4", 1),
    ("7.3.1", 2),
    ("7.3.2", 2),
    ("7.4.1", 1),
    ("7.4.2", 1),
    ("7.4.3", 2),
    ("7.4.4", 2),
    ("7.4.5", 2),
    ("7.5.1", 2),
    ("7.5.2", 2),
    ("7.5.3", 3),
    ("7.6.1", 2),
    ("7.6.2", 2),
    ("8.1.1", 1),
    ("8.1.2", 2),
    ("8.1.3", 3),
    ("8.1.4", 3),
    ("8.2.1", 1),
    ("8.2.2", 1),
    ("8.2.3", 2),
    ("8.2.4", 3),
    ("8.3.1", 1),
    ("8.3.2", 3),
    ("8.3.3", 3),
    ("8.4.1", 2),
    ("8.4.2", 3),
    ("9.1.1", 1),
    ("9.1.2", 1),
    ("9.1.3", 1),
    ("9.2.1", 1),
    ("9.2.2", 2),
    ("9.2.3", 2),
    ("9.2.4", 2),
    ("10.1.1", 2),
    ("10.1.2", 2),
    ("10.2.1", 2),
    ("10.2.2", 2),
    ("10.2.3", 3),
    ("10.3.1", 2),
    ("10.3.2", 2),
    ("10.3.3", 2),
    ("10.3.4", 2),
    ("10.3.5", 3),
    ("10.4.1", 1),
    ("10.4.2", 1),
    ("10.4.3", 1),
    ("10.4.4", 1),
    ("10.4.5", 1),
    ("10.4.6", 2),
    ("10.4.7", 2),
    ("10.4.8", 2),
    ("10.4.9", 2),
    ("10.4.10", 2),
    ("10.4.11", 2),
    ("10.4.12", 3),
    ("10.4.13", 3),
    ("10.4.14", 3),
    ("10.4.15", 3),
    ("10.4.16", 3),
    ("10.5.1", 2),
    ("10.5.2", 2),
    ("10.5.3", 2),
    ("10.5.4", 2),
    ("10.5.5", 2),
    ("10.6.1", 2),
    ("10.6.2", 2),
    ("10.7.1", 2),
    ("10.7.2", 2),
    ("10.7.3", 2),
];

/// The source files a named test may be defined in: Rust, the Python
/// checks and the browser tests.
fn test_sources() -> Vec<String> {
    let mut sources = Vec::new();
    for (dir, extension) in [
        ("src", "rs"),
        ("crates", "rs"),
        ("tests", "rs"),
        ("e2e", "py"),
        ("fuzz/fuzz_targets", "rs"),
    ] {
        for path in files_under(dir, extension) {
            sources.push(std::fs::read_to_string(path).unwrap());
        }
    }
    for entry in std::fs::read_dir("e2e").unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".test.mjs") {
            sources.push(std::fs::read_to_string(path).unwrap());
        }
    }
    sources
}

/// Whether a test called `name` is defined: a Rust `fn`, a Python `def`, or
/// the title of a browser test.
fn test_defined(sources: &[String], name: &str) -> bool {
    sources.iter().any(|source| {
        source.contains(&format!("fn {name}("))
            || source.contains(&format!("def {name}("))
            || source.contains(&format!("test(`{name}"))
            || source.contains(&format!("test(\"{name}"))
    })
}

/// The `backticked` words of a table cell.
fn ticked(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

#[test]
fn the_asvs_map_accounts_for_every_requirement() {
    let map = std::fs::read_to_string("docs/asvs.md").unwrap();
    assert!(map.contains("v5.0.0-6.2.1"), "the version is cited");
    let sources = test_sources();
    let mut seen: Vec<&str> = Vec::new();
    let mut kept = 0;
    for line in map.lines().filter(|l| {
        l.split('|')
            .nth(1)
            .is_some_and(|c| c.trim().starts_with(|ch: char| ch.is_ascii_digit()))
    }) {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        assert_eq!(cells.len(), 6, "six cells: {line}");
        let (id, level, status, what, files, tests) =
            (cells[0], cells[1], cells[2], cells[3], cells[4], cells[5]);
        let Some(&(_, wanted)) = ASVS_REQUIREMENTS.iter().find(|(known, _)| *known == id) else {
            panic!("{id} is not a requirement of ASVS 5.0.0 V6-V10");
        };
        assert!(!seen.contains(&id), "{id} is listed twice");
        seen.push(id);
        assert_eq!(level, format!("L{wanted}"), "{id}'s level");
        assert!(what.len() > 20, "{id} says what the server does");
        for file in ticked(files) {
            assert!(
                Path::new(file).exists(),
                "{id} names {file}, which does not exist"
            );
        }
        match status {
            "met" | "partly" => {
                kept += 1;
                assert!(
                    !ticked(files).is_empty(),
                    "{id} names the code that meets it"
                );
                assert!(!ticked(tests).is_empty(), "{id} names a test");
                for test in ticked(tests) {
                    assert!(
                        test_defined(&sources, test),
                        "{id} names {test}, defined nowhere"
                    );
                }
            }
            "not met" | "n/a" => {}
            other => panic!("{id}: {other:?} is not met, partly, not met or n/a"),
        }
    }
    let missing: Vec<&str> = ASVS_REQUIREMENTS
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| !seen.contains(id))
        .collect();
    assert!(missing.is_empty(), "the map leaves out {missing:?}");
    assert!(kept >= 70, "{kept} requirements met or partly met");
}

#[test]
fn every_stop_of_the_walkthrough_exists() {
    // `path::function`: the file exists and defines the function.
    let walk = std::fs::read_to_string("docs/walkthrough.md").unwrap();
    let stops: Vec<&str> = ticked(&walk)
        .into_iter()
        .filter(|t| t.contains(".rs::"))
        .collect();
    assert!(stops.len() >= 25, "{} stops", stops.len());
    for stop in stops {
        let (file, function) = stop.split_once("::").unwrap();
        let source = std::fs::read_to_string(file)
            .unwrap_or_else(|_| panic!("the walkthrough names {file}, which does not exist"));
        assert!(
            source.contains(&format!("fn {function}("))
                || source.contains(&format!("fn {function}<")),
            "the walkthrough names {stop}, which {file} does not define"
        );
    }
}
