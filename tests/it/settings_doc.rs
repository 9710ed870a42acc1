//! One table of settings, and everything that lists them agrees with it:
//! `--help`, docs/settings.md, and the env file the Debian package installs.

use crate::common;

use std::process::Command;

use auth_core::support::settings_table::{
    PACKAGE_SETTINGS, SETTINGS, env_file, markdown_table, package_env_file,
};

/// Runs the binary with `args` and only `env` in its environment.
fn run(args: &[&std::ffi::OsStr], env: &[(&str, &std::ffi::OsStr)]) -> std::process::Output {
    Command::new(common::binary())
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn assert_success(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn help_lists_every_setting_with_its_default_and_range() {
    let output = Command::new(common::binary())
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for setting in SETTINGS {
        let at = help
            .find(&format!("\n  {}\n", setting.name))
            .unwrap_or_else(|| panic!("{} is not in --help", setting.name));
        let entry = &help[at..];
        let default = if setting.default.is_empty() {
            "(empty)"
        } else {
            setting.default
        };
        assert!(
            entry.contains(&format!("default: {default}\n")),
            "{}",
            setting.name
        );
        assert!(
            entry.contains(&format!("accepts: {}\n", setting.accepts())),
            "{}",
            setting.name
        );
    }
}

#[test]
fn the_documented_settings_table_is_the_settings_table() {
    let doc = include_str!("../../docs/settings.md");
    let table = markdown_table();
    assert!(
        doc.contains(&table),
        "docs/settings.md's table differs from crates/auth-core/src/support/settings_table.rs; it should read:\n{table}"
    );
}

#[test]
fn every_setting_the_server_reads_is_in_the_table() {
    // Every default in the table is valid for the server: the empty
    // environment starts (with a temporary database, nothing else set).
    let dir = common::temp_dir();
    let db = dir.join("auth.db");
    // (The admin command opens only an existing file; an empty one is a
    // new database.)
    std::fs::write(&db, "").unwrap();
    assert_success(&run(
        &["admin".as_ref(), "users".as_ref()],
        &[("DATABASE_PATH", db.as_os_str())],
    ));
    // And the config reads no variable the table does not know.
    let source = include_str!("../../crates/auth-core/src/support/config.rs");
    for quoted in source.split('"').skip(1).step_by(2) {
        let looks_like_a_variable = quoted.len() > 3
            && quoted.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
            && quoted.contains('_');
        if looks_like_a_variable {
            assert!(
                SETTINGS.iter().any(|s| s.name == quoted),
                "config.rs reads {quoted}, which the settings table lacks"
            );
        }
    }
}

#[test]
fn the_env_file_lists_every_setting_commented_out_and_parses_back() {
    let text = env_file();
    for setting in SETTINGS {
        assert!(
            text.contains(&format!("\n#{}=", setting.name)),
            "{}",
            setting.name
        );
    }
    assert!(
        !text.lines().any(|l| !l.is_empty() && !l.starts_with('#')),
        "all commented out"
    );
    // Uncommented, every literal default is accepted as a setting.
    let uncommented: String = text
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter(|l| l.contains('=') && !l.starts_with(' ') && !l.ends_with('='))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = common::temp_dir();
    let file = dir.join("env");
    std::fs::write(dir.join("auth.db"), "").unwrap();
    std::fs::write(
        &file,
        uncommented + &format!("DATABASE_PATH={}\n", dir.join("auth.db").display()),
    )
    .unwrap();
    assert_success(&run(
        &[
            "--env-file".as_ref(),
            file.as_os_str(),
            "admin".as_ref(),
            "users".as_ref(),
        ],
        &[],
    ));
}

#[test]
fn a_malformed_env_file_stops_start_up_naming_the_line() {
    let dir = common::temp_dir();
    let file = dir.join("env");
    std::fs::write(&file, "# fine\nPORT=8081\nthis is not a setting\n").unwrap();
    let output = run(&["--env-file".as_ref(), file.as_os_str()], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("line 3"));
    // The process environment wins over the file.
    std::fs::write(&file, "BCRYPT_COST=99\n").unwrap();
    let db = dir.join("auth.db");
    std::fs::write(&db, "").unwrap();
    assert_success(&run(
        &[
            "--env-file".as_ref(),
            file.as_os_str(),
            "admin".as_ref(),
            "users".as_ref(),
        ],
        &[
            ("BCRYPT_COST", "4".as_ref()),
            ("DATABASE_PATH", db.as_os_str()),
        ],
    ));
}

#[test]
fn the_packaged_env_file_is_the_settings_table_with_the_package_choices() {
    // `cargo deb` packages debian/env as it is, so a clean clone builds the
    // package; this keeps it equal to the table.
    let committed = include_str!("../../debian/env");
    let expected = package_env_file();
    assert!(
        committed == expected,
        "debian/env is out of date; regenerate it with\n  cargo run -q -- --print-env-file --package > debian/env"
    );
    for (name, value, _) in PACKAGE_SETTINGS {
        assert!(committed.contains(&format!("\n{name}={value}\n")), "{name}");
    }
    // Behind the packaged proxy layout each client is its own address.
    assert!(committed.contains("\nHOST=127.0.0.1\n") && committed.contains("\nTRUST_PROXY=true\n"));
}
