//! `auth-server admin ...`: look up, lock, unlock or remove an account, set
//! its password, and read the audit trail, from a shell.
//!
//! It opens the same SQLite file as the server (WAL lets both work at once)
//! and every change bumps the user's auth epoch, which the server compares
//! on each request: the user's live sessions end at once, although they live
//! in the other process's memory.
//!
//! Exit codes: 0 done, 1 no such user or refused, 2 usage.

use std::io::{BufRead, IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::mailer::Mailer;
use crate::auth::passwords::PasswordHasher;
use crate::auth::validation;
use crate::storage::audit::{Audit, AuthEvent};
use crate::storage::mail::Purpose;
use crate::storage::{Database, InsertError, User};
use crate::support::clock;
use crate::support::config::Settings;
use crate::support::log::Logger;
use crate::support::text::printable;

pub const USAGE: &str = "\
usage: auth-server [--env-file FILE]            serve (settings from the environment and FILE)
       auth-server [--env-file FILE] admin …   the commands below, with the same settings
       auth-server --print-env-file            every setting, commented out, as an env file
       auth-server admin users                         list accounts
       auth-server admin user NAME                     show one account (NAME: username or email)
       auth-server admin create USERNAME EMAIL         a new account, password from standard input
       auth-server admin disable NAME                  block logins and end its sessions
       auth-server admin enable NAME                   allow logins again
       auth-server admin delete NAME [--yes]           delete the account and end its sessions
                                                       (asks first on a terminal, unless --yes)
       auth-server admin set-password NAME             new password from standard input
                                                       (piped: echo … | or < file; not typed)
       auth-server admin reset-link NAME               print a one-time password-reset link
       auth-server admin verify NAME                   mark the account's email address verified
       auth-server admin totp-reset NAME               turn two-factor login off (a lost device)
       auth-server admin sessions NAME                 the account's stored sessions
       auth-server admin revoke-sessions NAME          end every session of the account
       auth-server admin events [--user NAME] [--limit N]   the audit trail, newest first
       auth-server admin stats                         users, sessions, and the last 24 h's events
       auth-server admin backup FILE                   a consistent copy of the live database
       auth-server --help | --version";

/// What went wrong, and so the exit code.
enum Failure {
    Usage(String),
    Refused(String),
}

pub fn run(args: &[String], settings: &Settings, db: &Arc<Database>) -> ExitCode {
    // Which file it worked on, always: the operator sees at once when it is
    // not the server's.
    eprintln!("auth-server: database {}", settings.database_path.display());
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut out = std::io::stdout().lock();
    let result = match words.as_slice() {
        ["users"] => list_users(db, &mut out),
        ["user", name] => find(db, name).map(|user| show_user(&user, &mut out)),
        ["disable", name] => set_disabled(db, settings, name, true),
        ["enable", name] => set_disabled(db, settings, name, false),
        ["delete", name] => delete(db, settings, name, false),
        ["delete", name, "--yes"] | ["delete", "--yes", name] => delete(db, settings, name, true),
        ["set-password", name] => set_password(db, settings, name),
        ["reset-link", name] => reset_link(db, settings, name),
        ["verify", name] => verify(db, settings, name),
        ["create", username, email] => create(db, settings, username, email),
        ["totp-reset", name] => totp_reset(db, settings, name),
        ["sessions", name] => find(db, name).and_then(|user| list_sessions(db, &user, &mut out)),
        ["revoke-sessions", name] => revoke_sessions(db, settings, name),
        ["events", options @ ..] => events(db, options, &mut out),
        ["stats"] => stats(db, &mut out),
        ["backup", file] => backup(db, file),
        _ => Err(Failure::Usage("unknown admin command".into())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Refused(message)) => {
            eprintln!("auth-server: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("auth-server: {message}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn database_failure(error: rusqlite::Error) -> Failure {
    Failure::Refused(format!("database error: {error}"))
}

/// A user by username, or by email when the name has an `@`.
fn find(db: &Database, name: &str) -> Result<User, Failure> {
    db.user_by_identifier(name)
        .map_err(database_failure)?
        .ok_or_else(|| Failure::Refused(format!("no user named {name:?}")))
}

fn optional_time(time: Option<i64>) -> String {
    time.map_or_else(|| "-".to_string(), clock::rfc3339)
}

fn list_users(db: &Database, out: &mut impl Write) -> Result<(), Failure> {
    let users = db.list_users().map_err(database_failure)?;
    let _ = writeln!(
        out,
        "id\tusername\temail\tcreated_at\tlast_login_at\tlogins\tstatus"
    );
    for user in users {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            user.id,
            printable(&user.username),
            printable(&user.email),
            clock::rfc3339(user.created_at),
            optional_time(user.last_login_at),
            user.login_count,
            if user.disabled { "disabled" } else { "active" }
        );
    }
    Ok(())
}

fn show_user(user: &User, out: &mut impl Write) {
    let _ = writeln!(out, "id: {}", user.id);
    let _ = writeln!(out, "username: {}", printable(&user.username));
    let _ = writeln!(out, "email: {}", printable(&user.email));
    let _ = writeln!(out, "created_at: {}", clock::rfc3339(user.created_at));
    let _ = writeln!(out, "last_login_at: {}", optional_time(user.last_login_at));
    let _ = writeln!(out, "login_count: {}", user.login_count);
    let _ = writeln!(
        out,
        "status: {}",
        if user.disabled { "disabled" } else { "active" }
    );
}

/// Writes an `admin_*` audit row for a change made from the shell.
fn audit(db: &Database, settings: &Settings, kind: &'static str, user: &User) {
    let event = AuthEvent {
        kind,
        user_id: Some(user.id),
        identifier: Some(&user.username),
        ip: None,
        user_agent: Some("auth-server admin"),
        request_id: None,
    };
    Audit::default().record(db, &Logger::new(settings.log_format), &event, clock::now());
}

fn set_disabled(
    db: &Database,
    settings: &Settings,
    name: &str,
    disabled: bool,
) -> Result<(), Failure> {
    let user = find(db, name)?;
    db.set_disabled(user.id, disabled)
        .map_err(database_failure)?;
    audit(
        db,
        settings,
        if disabled {
            "admin_disabled"
        } else {
            "admin_enabled"
        },
        &user,
    );
    println!(
        "{} {}",
        user.username,
        if disabled {
            "disabled; its sessions have ended"
        } else {
            "enabled"
        }
    );
    Ok(())
}

fn delete(db: &Database, settings: &Settings, name: &str, confirmed: bool) -> Result<(), Failure> {
    let user = find(db, name)?;
    // A person at a terminal confirms; a script passes --yes or pipes
    // its input, and is not asked.
    if !confirmed && std::io::stdin().is_terminal() {
        print!(
            "delete {} <{}> and end its sessions? [y/N] ",
            printable(&user.username),
            printable(&user.email)
        );
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(Failure::Refused("not deleted".into()));
        }
    }
    db.delete_user(user.id, None).map_err(database_failure)?;
    audit(db, settings, "admin_deleted", &user);
    println!("{} deleted; its sessions have ended", user.username);
    Ok(())
}

/// Reads the new password from standard input (one line; only the line
/// ending is removed), so it never appears in a process list or shell
/// history, and applies the registration rules.
/// Reads a new password from standard input (one line; only the line
/// ending is removed), so it never appears in a process list or shell
/// history, and refuses a terminal, where it would be shown as typed:
/// turning echo off needs `unsafe` terminal calls or another crate.
fn read_password(command: &str) -> Result<String, Failure> {
    if std::io::stdin().is_terminal() {
        return Err(Failure::Refused(format!(
            "{command} reads the password from standard input, which is a terminal here, \
             where it would be shown as typed; pipe it in instead: \
             `echo 'new passphrase' | auth-server admin {command} …` \
             or `auth-server admin {command} … < file`"
        )));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|error| {
            Failure::Refused(format!(
                "cannot read the password from standard input: {error}"
            ))
        })?;
    let password = line
        .strip_suffix('\n')
        .map_or(line.as_str(), |l| l.strip_suffix('\r').unwrap_or(l));
    Ok(password.to_string())
}

/// A bcrypt hash at the configured cost, on a queue of its own.
fn hash_password(settings: &Settings, password: &str) -> Result<String, Failure> {
    // One hash, nobody else in the queue: the budget never matters.
    PasswordHasher::new(settings.bcrypt_cost, 1, Duration::from_secs(60))
        .hash(password, IpAddr::V4(Ipv4Addr::LOCALHOST))
        .map_err(|error| Failure::Refused(format!("cannot hash the password: {error:?}")))
}

/// An account made by the operator (for `REGISTRATION=closed`): the same
/// rules as registration, the password from standard input.
fn create(db: &Database, settings: &Settings, username: &str, email: &str) -> Result<(), Failure> {
    validation::check_username(username)
        .map_err(|problem| Failure::Refused(format!("the username {problem}")))?;
    let email = validation::normalize_email(email)
        .map_err(|problem| Failure::Refused(format!("the email {problem}")))?;
    let password = read_password("create")?;
    validation::check_new_password(&password, settings.password_min_length, username, &email)
        .map_err(|problem| Failure::Refused(format!("the password {problem}")))?;
    let hash = hash_password(settings, &password)?;
    let user = match db.insert_user(username, &email, &hash, clock::now()) {
        Ok(user) => user,
        Err(InsertError::UsernameTaken) => {
            return Err(Failure::Refused("that username is taken".into()));
        }
        Err(InsertError::EmailTaken) => {
            return Err(Failure::Refused("that email is already registered".into()));
        }
        Err(InsertError::Database(error)) => return Err(database_failure(error)),
    };
    audit(db, settings, "admin_created", &user);
    println!(
        "created {} <{}> (id {})",
        printable(&user.username),
        printable(&user.email),
        user.id
    );
    Ok(())
}

fn set_password(db: &Database, settings: &Settings, name: &str) -> Result<(), Failure> {
    let password = read_password("set-password")?;
    let user = find(db, name)?;
    let password = password.as_str();
    validation::check_new_password(
        password,
        settings.password_min_length,
        &user.username,
        &user.email,
    )
    .map_err(|problem| Failure::Refused(format!("the password {problem}")))?;
    let hash = hash_password(settings, password)?;
    db.change_password(user.id, None, &hash, None)
        .map_err(database_failure)?;
    audit(db, settings, "admin_password_set", &user);
    println!("password of {} set; its sessions have ended", user.username);
    Ok(())
}

/// A reset link for hosts without mail: the operator passes it on by some
/// other channel. Without `PUBLIC_URL`, the bare token, for the front end's
/// reset page.
fn reset_link(db: &Arc<Database>, settings: &Settings, name: &str) -> Result<(), Failure> {
    let user = find(db, name)?;
    let mailer = Mailer::new(settings, Arc::clone(db), Logger::new(settings.log_format));
    let token = mailer
        .mint(user.id, Purpose::Reset, clock::now())
        .map_err(Failure::Refused)?;
    audit(db, settings, "admin_reset_link", &user);
    println!("{}", mailer.link(Purpose::Reset, &token, None));
    Ok(())
}

/// For a user who lost the authenticator: two-factor login off, its secret
/// and recovery codes forgotten, every session ended.
fn totp_reset(db: &Database, settings: &Settings, name: &str) -> Result<(), Failure> {
    let user = find(db, name)?;
    db.disable_totp(user.id, None, None)
        .map_err(database_failure)?;
    audit(db, settings, "admin_totp_reset", &user);
    println!(
        "two-factor login of {} is off; its sessions have ended",
        printable(&user.username)
    );
    Ok(())
}

fn verify(db: &Database, settings: &Settings, name: &str) -> Result<(), Failure> {
    let user = find(db, name)?;
    db.set_email_verified(user.id).map_err(database_failure)?;
    audit(db, settings, "admin_email_verified", &user);
    println!(
        "{} <{}> is verified",
        printable(&user.username),
        printable(&user.email)
    );
    Ok(())
}

/// Public id, times, address and user agent of each stored session; never
/// the token or its hash.
fn list_sessions(db: &Database, user: &User, out: &mut impl Write) -> Result<(), Failure> {
    let rows = db.sessions_of_user(user.id).map_err(database_failure)?;
    let _ = writeln!(out, "id\tcreated_at\tlast_seen_at\tip\tuser_agent");
    for row in rows {
        let _ = writeln!(
            out,
            "{:016x}\t{}\t{}\t{}\t{}",
            row.public_id,
            clock::rfc3339(row.created_at),
            clock::rfc3339(row.last_seen_at),
            printable(&row.ip),
            printable(if row.user_agent.is_empty() {
                "-"
            } else {
                &row.user_agent
            }),
        );
    }
    Ok(())
}

/// Ends every session of an account, in a running server (the epoch moves)
/// and in the stored copy (the rows go), so a restart cannot bring one back.
fn revoke_sessions(db: &Database, settings: &Settings, name: &str) -> Result<(), Failure> {
    let user = find(db, name)?;
    db.revoke_sessions(user.id).map_err(database_failure)?;
    audit(db, settings, "admin_sessions_revoked", &user);
    println!("every session of {} has ended", printable(&user.username));
    Ok(())
}

fn stats(db: &Database, out: &mut impl Write) -> Result<(), Failure> {
    let stats = db.stats(clock::now() - 86_400).map_err(database_failure)?;
    let _ = writeln!(out, "users: {}", stats.users);
    let _ = writeln!(out, "users disabled: {}", stats.disabled);
    let _ = writeln!(out, "users verified: {}", stats.verified);
    let _ = writeln!(out, "sessions stored: {}", stats.sessions);
    let _ = writeln!(out, "events in the last 24 h:");
    for (kind, count) in stats.events {
        let _ = writeln!(out, "  {}: {count}", printable(&kind));
    }
    Ok(())
}

/// A copy of the live database, safe while the server runs and writes
/// (SQLite's online backup); refuses to overwrite a file.
fn backup(db: &Database, file: &str) -> Result<(), Failure> {
    let path = std::path::Path::new(file);
    // symlink_metadata: a dangling link "does not exist" for exists().
    if path.symlink_metadata().is_ok() {
        return Err(Failure::Refused(format!(
            "{file} exists; choose a new file"
        )));
    }
    db.backup_to(path)
        .map_err(|error| Failure::Refused(format!("backup failed: {error}")))?;
    println!("backed up to {file} (integrity check: ok)");
    Ok(())
}

fn events(db: &Database, options: &[&str], out: &mut impl Write) -> Result<(), Failure> {
    let (mut user_id, mut limit) = (None, 50u32);
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        match (*option, rest.next()) {
            ("--user", Some(name)) => user_id = Some(find(db, name)?.id),
            ("--limit", Some(n)) => {
                limit = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Failure::Usage(format!("--limit takes a positive whole number, not {n:?}"))
                })?;
            }
            _ => return Err(Failure::Usage(format!("unknown events option {option:?}"))),
        }
    }
    let rows = db.events(user_id, limit).map_err(database_failure)?;
    let _ = writeln!(
        out,
        "time\tevent\tuser_id\tidentifier\tip\tuser_agent\tcount"
    );
    for row in rows {
        // What clients sent (identifiers, user agents) is escaped: no
        // control or invisible character reaches the operator's terminal.
        let text = |v: &Option<String>| printable(v.as_deref().unwrap_or("-")).into_owned();
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            clock::rfc3339(row.at),
            row.event,
            row.user_id.map_or_else(|| "-".into(), |id| id.to_string()),
            text(&row.identifier),
            text(&row.ip),
            text(&row.user_agent),
            row.count
        );
    }
    Ok(())
}
