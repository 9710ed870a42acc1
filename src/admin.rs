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
use std::process::ExitCode;

use auth_core::accounts::User;
use auth_core::accounts::register::{self, Channel, RegisterOutcome, Registration};
use auth_core::accounts::{
    Accounts, Client, Trouble, invites, oidc, operator, passkeys, password, unlock, upstream,
};
use auth_core::auth::access::{Visitor, group_problem, is_group_name, read_rules};
use auth_core::auth::jose::Alg;
use auth_core::auth::validation;
use auth_core::support::config::Settings;
use auth_core::support::text::printable;
use auth_core::support::url::{Host, normalize_path};
use auth_core::support::{base64, clock};

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
       auth-server admin unlock NAME                   lift the account's login lockout (its username and email)
       auth-server admin unlock --address ADDR         lift an address's lockout (IPv6: its /64)
       auth-server admin events [--user NAME] [--limit N]   the audit trail, newest first
       auth-server admin stats                         users, sessions, and the last 24 h's events
       auth-server admin mail-test ADDRESS             send a test message through MAIL_COMMAND now; its exit status
       auth-server admin outbox [--failed]             the mail waiting to be sent (--failed: that failed at least once)
       auth-server admin outbox retry ID|--all         try a waiting message (or all) again now
       auth-server admin outbox drop ID                take a message out of the outbox unsent
       auth-server admin backup FILE                   a consistent copy of the live database
       auth-server admin group add NAME GROUP…         add the account to groups (next request, no sign-out)
       auth-server admin group remove NAME GROUP…      take it out of groups
       auth-server admin groups NAME                   its groups, one a line
       auth-server admin group members GROUP           the group's usernames, one a line
       auth-server admin rules check FILE              validate an access rules file (no settings, no database)
       auth-server admin rules explain HOST [PATH] [--user NAME]
                                                       the rule of ACCESS_RULES_FILE that decides, and
                                                       its decision (the database only with --user)
       auth-server admin passkeys NAME                 the account's passkeys (id, name, times)
       auth-server admin passkey-remove NAME ID|--all  remove one of its passkeys (a lost device), or
                                                       every one (after a compromise: see docs/security.md)
       auth-server admin oidc-client add NAME --redirect-uri URI [--redirect-uri URI…]
                 [--public] [--allowed-group GROUP…] [--alg RS256|ES256]
                                                       register an OpenID Connect app; prints its id
                                                       and (unless --public) its secret, shown once
       auth-server admin oidc-clients                  the registered apps
       auth-server admin oidc-client remove ID         remove one and revoke its tokens
       auth-server admin oidc rotate-keys              new signing keys; the old stay published a day
       auth-server admin invite [--group G…] [--hours N] [--email E]
                                                       a single-use link to register (72 h unless --hours;
                                                       mailed to E when mail is on); prints the link
       auth-server admin invites                       the invitations and where each stands
       auth-server admin invite withdraw ID            withdraw an open invitation
       auth-server admin upstream add NAME --issuer URL --client-id ID [--label TEXT]
                 [--scope SCOPES] [--link-by-email] [--create-accounts]
                 [--allowed-domain DOMAIN…]        sign-in through an OpenID provider; the client
                                                       secret from standard input (piped); prints the
                                                       callback URL to register at the provider
       auth-server admin upstreams                     the providers one may sign in through
       auth-server admin upstream remove NAME          remove one (its links stay, for adding it back)
       auth-server --help | --version";

/// What went wrong, and so the exit code.
enum Failure {
    Usage(String),
    Refused(String),
}

/// The commands that need no database, run before one is opened:
/// `rules check FILE` (not even settings: `settings` is `None`) and
/// `rules explain` without `--user`. `None`: not one of them.
pub fn run_without_database(args: &[String], settings: Option<&Settings>) -> Option<ExitCode> {
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match (words.as_slice(), settings) {
        (["rules", "check", file], _) => check_rules(file),
        (["rules", "explain", host, rest @ ..], Some(settings)) => match explain_args(rest) {
            Ok((path, None)) => {
                explain_rules(settings, host, path, None, &mut std::io::stdout().lock())
            }
            _ => return None,
        },
        _ => return None,
    };
    Some(exit_code(result))
}

fn exit_code(result: Result<(), Failure>) -> ExitCode {
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

pub fn run(args: &[String], accounts: &Accounts) -> ExitCode {
    // Which file it worked on, always: the operator sees at once when it is
    // not the server's.
    eprintln!(
        "auth-server: database {}",
        accounts.settings().database_path.display()
    );
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut out = std::io::stdout().lock();
    let result = match words.as_slice() {
        ["users"] => list_users(accounts, &mut out),
        ["user", name] => find(accounts, name).and_then(|user| {
            show_user(&user, &mut out);
            show_links(accounts, &user, &mut out)
        }),
        ["disable", name] => set_disabled(accounts, name, true),
        ["enable", name] => set_disabled(accounts, name, false),
        ["delete", name] => delete(accounts, name, false),
        ["delete", name, "--yes"] | ["delete", "--yes", name] => delete(accounts, name, true),
        ["set-password", name] => set_password(accounts, name),
        ["reset-link", name] => reset_link(accounts, name),
        ["verify", name] => verify(accounts, name),
        ["create", username, email] => create(accounts, username, email),
        ["totp-reset", name] => totp_reset(accounts, name),
        ["sessions", name] => {
            find(accounts, name).and_then(|user| list_sessions(accounts, &user, &mut out))
        }
        ["revoke-sessions", name] => revoke_sessions(accounts, name),
        ["unlock", "--address", address] => unlock_address(accounts, address),
        ["unlock", name] => find(accounts, name).and_then(|user| {
            unlock::unlock_account(accounts, &user, &Client::shell(clock::now()))
                .map_err(trouble)?;
            println!(
                "the login lockout of {} is lifted (the server applies it within two seconds)",
                printable(&user.username)
            );
            Ok(())
        }),
        ["events", options @ ..] => events(accounts, options, &mut out),
        ["stats"] => stats(accounts, &mut out),
        ["mail-test", address] => mail_test(accounts, address, &mut out),
        ["outbox"] => list_outbox(accounts, false, &mut out),
        ["outbox", "--failed"] => list_outbox(accounts, true, &mut out),
        ["outbox", "retry", "--all"] => retry_outbox(accounts, None),
        ["outbox", "retry", id] => outbox_id(id).and_then(|id| retry_outbox(accounts, Some(id))),
        ["outbox", "drop", id] => outbox_id(id).and_then(|id| drop_outbox(accounts, id)),
        ["backup", file] => backup(accounts, file),
        ["group", "add", name, groups @ ..] if !groups.is_empty() => {
            change_groups(accounts, name, groups, true)
        }
        ["group", "remove", name, groups @ ..] if !groups.is_empty() => {
            change_groups(accounts, name, groups, false)
        }
        ["groups", name] => find(accounts, name).map(|user| {
            for group in &user.groups {
                let _ = writeln!(out, "{group}");
            }
        }),
        ["group", "members", group] => group_members(accounts, group, &mut out),
        ["rules", "explain", host, rest @ ..] => match explain_args(rest) {
            Ok((path, Some(name))) => find(accounts, name).and_then(|user| {
                explain_rules(accounts.settings(), host, path, Some(&user), &mut out)
            }),
            Ok((path, None)) => explain_rules(accounts.settings(), host, path, None, &mut out),
            Err(failure) => Err(failure),
        },
        ["passkeys", name] => {
            find(accounts, name).and_then(|user| list_passkeys(accounts, &user, &mut out))
        }
        ["passkey-remove", name, "--all"] => remove_all_passkeys(accounts, name),
        ["passkey-remove", name, id] => remove_passkey(accounts, name, id),
        ["oidc-client", "add", name, options @ ..] => add_oidc_client(accounts, name, options),
        ["oidc-clients"] => list_oidc_clients(accounts, &mut out),
        ["oidc-client", "remove", id] => removed(
            operator::remove_oidc_client(accounts, id, &shell()),
            format!("client {id} removed; its codes and tokens are revoked"),
            format!("no client {id:?} (see: admin oidc-clients)"),
        ),
        ["oidc", "rotate-keys"] => rotate_keys(accounts),
        ["invites"] => list_invites(accounts, &mut out),
        ["invite", "withdraw", id] => withdraw_invite(accounts, id),
        ["invite", options @ ..] => invite(accounts, options),
        ["upstream", "add", name, options @ ..] => add_upstream(accounts, name, options),
        ["upstreams"] => list_upstreams(accounts, &mut out),
        ["upstream", "remove", name] => removed(
            upstream::remove(accounts, name, &shell()),
            format!("upstream {name} removed; its links stay, for when it is added back"),
            format!("no upstream {name:?} (see: admin upstreams)"),
        ),
        _ => Err(Failure::Usage("unknown admin command".into())),
    };
    exit_code(result)
}

/// What a removal prints: `done` when something was removed, else
/// `missing` as the refusal.
fn removed(result: Result<bool, Trouble>, done: String, missing: String) -> Result<(), Failure> {
    match result.map_err(trouble)? {
        true => {
            println!("{done}");
            Ok(())
        }
        false => Err(Failure::Refused(missing)),
    }
}

/// A user by username, or by email when the name has an `@`.
fn find(accounts: &Accounts, name: &str) -> Result<User, Failure> {
    operator::find(accounts, name)
        .map_err(trouble)?
        .ok_or_else(|| Failure::Refused(format!("no user named {name:?}")))
}

/// The operator at this shell, now.
fn shell() -> Client<'static> {
    Client::shell(clock::now())
}

fn optional_time(time: Option<i64>) -> String {
    time.map_or_else(|| "-".to_string(), clock::rfc3339)
}

fn list_users(accounts: &Accounts, out: &mut impl Write) -> Result<(), Failure> {
    let users = operator::list_users(accounts).map_err(trouble)?;
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

fn set_disabled(accounts: &Accounts, name: &str, disabled: bool) -> Result<(), Failure> {
    let user = find(accounts, name)?;
    operator::set_disabled(accounts, &user, disabled, &shell()).map_err(trouble)?;
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

fn delete(accounts: &Accounts, name: &str, confirmed: bool) -> Result<(), Failure> {
    let user = find(accounts, name)?;
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
    operator::delete(accounts, &user, &shell()).map_err(trouble)?;
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
    read_secret(command, "password", "new passphrase")
}

/// One line of standard input, which must not be a terminal (it would
/// show what is typed); `what` names it in the refusal.
fn read_secret(command: &str, what: &str, example: &str) -> Result<String, Failure> {
    if std::io::stdin().is_terminal() {
        return Err(Failure::Refused(format!(
            "{command} reads the {what} from standard input, which is a terminal here, \
             where it would be shown as typed; pipe it in instead: \
             `echo '{example}' | auth-server admin {command} …` \
             or `auth-server admin {command} … < file`"
        )));
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|error| {
            Failure::Refused(format!(
                "cannot read the {what} from standard input: {error}"
            ))
        })?;
    let secret = line
        .strip_suffix('\n')
        .map_or(line.as_str(), |l| l.strip_suffix('\r').unwrap_or(l));
    Ok(secret.to_string())
}

/// Adds or removes groups of an account. The groups are part of the row
/// every session check reads, so the change is in force at the account's
/// next request, and nobody is signed out.
fn change_groups(
    accounts: &Accounts,
    name: &str,
    groups: &[&str],
    add: bool,
) -> Result<(), Failure> {
    if let Some(problem) = group_problem(groups) {
        return Err(Failure::Usage(problem));
    }
    let user = find(accounts, name)?;
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    let now = operator::change_groups(accounts, &user, &groups, add, &shell()).map_err(trouble)?;
    println!("{}: {}", printable(&user.username), now.join(" "));
    Ok(())
}

fn group_members(accounts: &Accounts, group: &str, out: &mut impl Write) -> Result<(), Failure> {
    if !is_group_name(group) {
        return Err(Failure::Usage(format!("{group:?} is not a group name")));
    }
    for name in operator::group_members(accounts, group).map_err(trouble)? {
        let _ = writeln!(out, "{}", printable(&name));
    }
    Ok(())
}

/// Reads and parses an access rules file as the server would, and says so.
fn check_rules(file: &str) -> Result<(), Failure> {
    let rules = read_rules(std::path::Path::new(file)).map_err(Failure::Refused)?;
    println!(
        "{file}: {} rules, first match wins; a request no rule matches is denied",
        rules.0.map_or(0, |r| r.len())
    );
    Ok(())
}

/// `[PATH] [--user NAME]`, in either order.
fn explain_args<'a>(rest: &[&'a str]) -> Result<(Option<&'a str>, Option<&'a str>), Failure> {
    match rest {
        [] => Ok((None, None)),
        [path] if *path != "--user" => Ok((Some(path), None)),
        ["--user", name] => Ok((None, Some(name))),
        [path, "--user", name] | ["--user", name, path] => Ok((Some(path), Some(name))),
        _ => Err(Failure::Usage(
            "rules explain HOST [PATH] [--user NAME]".into(),
        )),
    }
}

/// Which rule of `ACCESS_RULES_FILE` decides for `host` + `path`, as
/// the server would see them (the path normalised), and what it decides
/// for a signed-out visitor and, given one, for an account with and
/// without a second factor. The answer to "why was I turned away?".
fn explain_rules(
    settings: &Settings,
    host: &str,
    path: Option<&str>,
    user: Option<&User>,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let Some(file) = &settings.access_rules_file else {
        return Err(Failure::Refused(
            "ACCESS_RULES_FILE is not set: every signed-in user may use every guarded host".into(),
        ));
    };
    let rules = read_rules(file).map_err(Failure::Refused)?;
    let host = Host::parse(host)
        .map_err(|problem| Failure::Usage(format!("{host:?}: {problem}")))?
        .key();
    let raw_path = path.unwrap_or("/");
    let path = normalize_path(raw_path)
        .map_err(|problem| Failure::Usage(format!("{raw_path:?}: {problem}")))?;
    let _ = writeln!(out, "{host} {path}");
    let _ = match rules.rule_for(Some(&host), &path) {
        Some(rule) => writeln!(out, "line {}: {rule}", rule.line),
        None => writeln!(out, "no rule matches: denied"),
    };
    let signed_out = rules.decide(Some(&host), &path, None).decision;
    let _ = writeln!(out, "signed out: {}", signed_out.as_str());
    if let Some(user) = user {
        let decide = |second_factor| {
            let visitor = Visitor {
                username: &user.username,
                groups: &user.groups,
                second_factor,
            };
            rules.decide(Some(&host), &path, Some(&visitor)).decision
        };
        let (without, with) = (decide(false), decide(true));
        let name = printable(&user.username);
        let _ = if without == with {
            writeln!(out, "{name}: {}", without.as_str())
        } else {
            writeln!(
                out,
                "{name}: {} (with a second factor: {})",
                without.as_str(),
                with.as_str()
            )
        };
    }
    Ok(())
}

/// A use case that could not finish, as the command reports it.
fn trouble(trouble: Trouble) -> Failure {
    Failure::Refused(format!("cannot finish: {trouble}"))
}

/// An account made by the operator (for `REGISTRATION=closed`): the
/// registration flow itself (`accounts::register`), the password from
/// standard input.
fn create(accounts: &Accounts, username: &str, email: &str) -> Result<(), Failure> {
    let password = read_password("create")?;
    let form = Registration {
        username,
        email,
        password: &password,
        return_to: None,
        invite: None,
    };
    let shell = Client::shell(clock::now());
    let user = match register::register(accounts, form, Channel::Admin, &shell).map_err(trouble)? {
        RegisterOutcome::Registered(user) => user,
        RegisterOutcome::Invalid(problems) => {
            let said: Vec<String> = problems
                .iter()
                .map(|(field, problem)| format!("the {field} {problem}"))
                .collect();
            return Err(Failure::Refused(said.join("; ")));
        }
        RegisterOutcome::UsernameTaken => {
            return Err(Failure::Refused("that username is taken".into()));
        }
        RegisterOutcome::EmailTaken => {
            return Err(Failure::Refused("that email is already registered".into()));
        }
        RegisterOutcome::Closed
        | RegisterOutcome::InviteRequired
        | RegisterOutcome::InvalidInvite
        | RegisterOutcome::Throttled { .. }
        | RegisterOutcome::Busy { .. } => {
            return Err(Failure::Refused("the account could not be made now".into()));
        }
    };
    println!(
        "created {} <{}> (id {})",
        printable(&user.username),
        printable(&user.email),
        user.id
    );
    Ok(())
}

fn set_password(accounts: &Accounts, name: &str) -> Result<(), Failure> {
    let password = read_password("set-password")?;
    let user = find(accounts, name)?;
    let shell = Client::shell(clock::now());
    password::set_by_operator(accounts, &user, &password, &shell)
        .map_err(trouble)?
        .map_err(|problem| Failure::Refused(format!("the password {problem}")))?;
    println!("password of {} set; its sessions have ended", user.username);
    Ok(())
}

/// A reset link for hosts without mail: the operator passes it on by some
/// other channel. Without `PUBLIC_URL`, the bare token, for the front end's
/// reset page.
fn reset_link(accounts: &Accounts, name: &str) -> Result<(), Failure> {
    let user = find(accounts, name)?;
    let link = operator::reset_link(accounts, &user, &shell()).map_err(Failure::Refused)?;
    println!("{link}");
    Ok(())
}

/// For a user who lost the authenticator: two-factor login off, its secret
/// and recovery codes forgotten, every session ended.
fn totp_reset(accounts: &Accounts, name: &str) -> Result<(), Failure> {
    let user = find(accounts, name)?;
    operator::reset_totp(accounts, &user, &shell()).map_err(trouble)?;
    println!(
        "two-factor login of {} is off; its sessions have ended",
        printable(&user.username)
    );
    Ok(())
}

fn verify(accounts: &Accounts, name: &str) -> Result<(), Failure> {
    let user = find(accounts, name)?;
    operator::verify_email(accounts, &user, &shell()).map_err(trouble)?;
    println!(
        "{} <{}> is verified",
        printable(&user.username),
        printable(&user.email)
    );
    Ok(())
}

/// Public id, times, address and user agent of each stored session; never
/// the token or its hash.
fn list_sessions(accounts: &Accounts, user: &User, out: &mut impl Write) -> Result<(), Failure> {
    let rows = operator::stored_sessions(accounts, user).map_err(trouble)?;
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

/// The id (what `passkey-remove` takes), label, times and whether it is
/// synced, of each passkey; never its key.
fn list_passkeys(accounts: &Accounts, user: &User, out: &mut impl Write) -> Result<(), Failure> {
    let passkeys = passkeys::list(accounts, user.id).map_err(trouble)?;
    let _ = writeln!(out, "id	name	created_at	last_used_at	backed_up");
    for passkey in passkeys {
        let _ = writeln!(
            out,
            "{}	{}	{}	{}	{}",
            base64::encode_url(&passkey.credential_id),
            printable(&passkey.name),
            clock::rfc3339(passkey.created_at),
            optional_time(passkey.last_used_at),
            passkey.backed_up,
        );
    }
    Ok(())
}

/// Removes a passkey of a lost or stolen device. Sessions it opened stay
/// (`revoke-sessions` ends them).
fn remove_passkey(accounts: &Accounts, name: &str, id: &str) -> Result<(), Failure> {
    let user = find(accounts, name)?;
    let client = Client::shell(clock::now());
    let removed = match base64::decode_url(id) {
        Some(credential_id) => {
            passkeys::remove(accounts, &user, &credential_id, &client).map_err(trouble)?
        }
        None => false,
    };
    if !removed {
        return Err(Failure::Refused(format!(
            "{} has no passkey {id:?} (see: admin passkeys {})",
            printable(&user.username),
            printable(&user.username)
        )));
    }
    println!("passkey removed from {}", printable(&user.username));
    Ok(())
}

/// Lifts an address's lockout: its group (IPv6 by /64), as the throttle
/// counts it.
fn unlock_address(accounts: &Accounts, address: &str) -> Result<(), Failure> {
    let ip: std::net::IpAddr = address
        .parse()
        .map_err(|_| Failure::Usage(format!("{:?} is not an IP address", printable(address))))?;
    let group = crate::http::address_group(ip);
    unlock::unlock_address(accounts, group, &Client::shell(clock::now())).map_err(trouble)?;
    println!("the login lockout of {group} is lifted (the server applies it within two seconds)");
    Ok(())
}

/// Sends a test message through `MAIL_COMMAND` at once, outside the outbox,
/// and reports the command's exit status and the first lines of its
/// stderr: the one way to see a relay's complaint before a person needs a
/// reset link.
fn mail_test(accounts: &Accounts, address: &str, out: &mut impl Write) -> Result<(), Failure> {
    if !accounts.mailer().enabled() {
        return Err(Failure::Usage(
            "MAIL_COMMAND is not set (pass --env-file with the server's settings)".into(),
        ));
    }
    let to = validation::normalize_email(address)
        .map_err(|problem| Failure::Usage(format!("{:?} {problem}", printable(address))))?;
    let message = accounts.mailer().test_message(&to, clock::now());
    match accounts.mailer().send_now(&message) {
        Ok(()) => {
            let _ = writeln!(out, "sent to {to}: the mail command exited 0");
            Ok(())
        }
        Err(failure) => {
            let status = failure
                .status
                .map_or("none".to_string(), |code| code.to_string());
            let mut report = format!("not sent to {to}: {} (exit status {status})", failure.why);
            for line in failure
                .stderr
                .lines()
                .filter(|l| !l.trim().is_empty())
                .take(5)
            {
                report.push_str(&format!("\n  stderr: {}", printable(line)));
            }
            Err(Failure::Refused(report))
        }
    }
}

fn outbox_id(text: &str) -> Result<i64, Failure> {
    text.parse().map_err(|_| {
        Failure::Usage(format!(
            "{:?} is not a message id (see: admin outbox)",
            printable(text)
        ))
    })
}

/// The outbox, a message a line, oldest first.
fn list_outbox(
    accounts: &Accounts,
    failed_only: bool,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let waiting = operator::outbox(accounts, failed_only).map_err(trouble)?;
    let _ = writeln!(
        out,
        "id\tkind\trecipient\tqueued_at\tattempts\tnext_try\tlast_error"
    );
    for message in waiting {
        let kind = match message.kind.as_str() {
            "verify" => "verification",
            other => other,
        };
        let _ = writeln!(
            out,
            "{}\t{kind}\t{}\t{}\t{}\t{}\t{}",
            message.id,
            printable(&message.recipient),
            clock::rfc3339(message.queued_at),
            message.attempts,
            clock::rfc3339(message.next_attempt_at),
            printable(message.last_error.as_deref().unwrap_or("-")),
        );
    }
    Ok(())
}

fn drop_outbox(accounts: &Accounts, id: i64) -> Result<(), Failure> {
    if !operator::drop_mail(accounts, id).map_err(trouble)? {
        return Err(Failure::Refused(format!("no message {id} in the outbox")));
    }
    println!("message {id} dropped, unsent");
    Ok(())
}

/// Makes one message, or all, due now; the server's mailer (which looks
/// at the outbox every second) tries them.
fn retry_outbox(accounts: &Accounts, id: Option<i64>) -> Result<(), Failure> {
    let due = operator::retry_mail(accounts, id, clock::now()).map_err(trouble)?;
    match (id, due) {
        (Some(id), 0) => Err(Failure::Refused(format!("no message {id} in the outbox"))),
        _ => {
            println!("{due} message(s) due now; the server's mailer tries them within a second");
            Ok(())
        }
    }
}

/// Removes every passkey of the account: after a compromise, a passkey the
/// intruder added outlives a password change (and so does a session, which
/// `revoke-sessions` ends).
fn remove_all_passkeys(accounts: &Accounts, name: &str) -> Result<(), Failure> {
    let user = find(accounts, name)?;
    let client = Client::shell(clock::now());
    let mut removed = 0;
    for passkey in passkeys::list(accounts, user.id).map_err(trouble)? {
        if passkeys::remove(accounts, &user, &passkey.credential_id, &client).map_err(trouble)? {
            removed += 1;
        }
    }
    println!(
        "{removed} passkey{} removed from {}",
        if removed == 1 { "" } else { "s" },
        printable(&user.username)
    );
    Ok(())
}

/// Registers an OpenID Connect client. The issuer is `PUBLIC_URL`, so it
/// must be set (in the environment or `--env-file`) first.
fn add_oidc_client(accounts: &Accounts, name: &str, options: &[&str]) -> Result<(), Failure> {
    let Some(issuer) = accounts.settings().public_url.as_deref() else {
        return Err(Failure::Refused(
            "set PUBLIC_URL first (pass --env-file): it is the issuer every app checks".into(),
        ));
    };
    let (mut uris, mut groups, mut public, mut alg) = (Vec::new(), Vec::new(), false, Alg::Rs256);
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        match (*option, rest.clone().next()) {
            ("--public", _) => public = true,
            ("--redirect-uri", Some(uri)) if oidc::valid_redirect_uri(uri) => {
                uris.push(uri.to_string());
                rest.next();
            }
            ("--redirect-uri", Some(uri)) => {
                return Err(Failure::Usage(format!(
                    "oidc-client add: the redirect URI {:?} is refused: it must be https (http only to localhost, *.localhost or a loopback address), without #fragment or user@",
                    printable(uri)
                )));
            }
            ("--allowed-group", Some(group)) if is_group_name(group) => {
                groups.push(group.to_string());
                rest.next();
            }
            ("--alg", Some(name)) if Alg::parse(name).is_some() => {
                alg = Alg::parse(name).unwrap_or(Alg::Rs256);
                rest.next();
            }
            _ => {
                return Err(Failure::Usage(format!(
                    "oidc-client add: {option:?} is not an option here"
                )));
            }
        }
    }
    if uris.is_empty() || !name.chars().all(|c| !c.is_control()) || name.is_empty() {
        return Err(Failure::Usage(
            "oidc-client add NAME needs at least one --redirect-uri".into(),
        ));
    }
    // (The first signing keys are made with the first client.)
    let made =
        oidc::add_client(accounts, name, &uris, public, &groups, alg, &shell()).map_err(trouble)?;
    println!("client_id: {}", made.client_id);
    if let Some(secret) = made.secret {
        println!("client_secret: {secret}");
        println!("(the secret is shown only now; it is stored as a hash)");
    }
    println!("issuer: {issuer}");
    Ok(())
}

fn list_oidc_clients(accounts: &Accounts, out: &mut impl Write) -> Result<(), Failure> {
    let clients = operator::oidc_clients(accounts).map_err(trouble)?;
    let _ = writeln!(out, "client_id	name	type	alg	allowed_groups	redirect_uris");
    for client in clients {
        let _ = writeln!(
            out,
            "{}	{}	{}	{}	{}	{}",
            client.client_id,
            printable(&client.name),
            if client.secret_hash.is_some() {
                "confidential"
            } else {
                "public"
            },
            client.alg,
            if client.allowed_groups.is_empty() {
                "-".to_string()
            } else {
                client.allowed_groups.join(",")
            },
            printable(&client.redirect_uris.join(" ")),
        );
    }
    Ok(())
}

/// New RS256 and ES256 keys sign from now on; the previous ones stay in
/// the JWKS for a day, so ID tokens they signed still verify.
fn rotate_keys(accounts: &Accounts) -> Result<(), Failure> {
    let now = clock::now();
    for alg in [Alg::Rs256, Alg::Es256] {
        let kid = oidc::add_key(accounts, alg, now).map_err(trouble)?;
        println!("{}: new key {kid}", alg.as_str());
    }
    println!("the previous keys stay published for a day");
    Ok(())
}

/// Ends every session of an account, in a running server (the epoch moves)
/// and in the stored copy (the rows go), so a restart cannot bring one back.
fn revoke_sessions(accounts: &Accounts, name: &str) -> Result<(), Failure> {
    let user = find(accounts, name)?;
    operator::revoke_sessions(accounts, &user, &shell()).map_err(trouble)?;
    println!("every session of {} has ended", printable(&user.username));
    Ok(())
}

fn stats(accounts: &Accounts, out: &mut impl Write) -> Result<(), Failure> {
    let stats = operator::stats(accounts, clock::now() - 86_400).map_err(trouble)?;
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
fn backup(accounts: &Accounts, file: &str) -> Result<(), Failure> {
    let path = std::path::Path::new(file);
    // symlink_metadata: a dangling link "does not exist" for exists().
    if path.symlink_metadata().is_ok() {
        return Err(Failure::Refused(format!(
            "{file} exists; choose a new file"
        )));
    }
    operator::backup(accounts, path)
        .map_err(|trouble| Failure::Refused(format!("backup failed: {trouble}")))?;
    println!("backed up to {file} (integrity check: ok)");
    Ok(())
}

fn events(accounts: &Accounts, options: &[&str], out: &mut impl Write) -> Result<(), Failure> {
    let (mut user_id, mut limit) = (None, 50u32);
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        match (*option, rest.next()) {
            ("--user", Some(name)) => user_id = Some(find(accounts, name)?.id),
            ("--limit", Some(n)) => {
                limit = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Failure::Usage(format!("--limit takes a positive whole number, not {n:?}"))
                })?;
            }
            _ => return Err(Failure::Usage(format!("unknown events option {option:?}"))),
        }
    }
    let rows = operator::events(accounts, user_id, None, limit).map_err(trouble)?;
    let _ = writeln!(
        out,
        "time\tevent\tuser_id\tidentifier\tip\tuser_agent\tcount\tdetail"
    );
    for row in rows {
        // What clients sent (identifiers, user agents) is escaped: no
        // control or invisible character reaches the operator's terminal.
        let text = |v: &Option<String>| printable(v.as_deref().unwrap_or("-")).into_owned();
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            clock::rfc3339(row.at),
            row.event,
            row.user_id.map_or_else(|| "-".into(), |id| id.to_string()),
            text(&row.identifier),
            text(&row.ip),
            text(&row.user_agent),
            row.count,
            text(&row.detail)
        );
    }
    Ok(())
}

/// `admin invite`: an invitation made at the shell, its link printed.
fn invite(accounts: &Accounts, options: &[&str]) -> Result<(), Failure> {
    let (mut groups, mut hours, mut email) = (Vec::new(), invites::DEFAULT_HOURS, None);
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        match (*option, rest.next()) {
            ("--group", Some(group)) => groups.push(group.to_string()),
            ("--hours", Some(n)) => {
                hours = n.parse().map_err(|_| {
                    Failure::Usage(format!("invite: --hours {n:?} is not a number"))
                })?;
            }
            ("--email", Some(address)) => email = Some(*address),
            _ => {
                return Err(Failure::Usage(format!(
                    "invite: {option:?} is not an option here (or lacks its value)"
                )));
            }
        }
    }
    let request = invites::InviteRequest {
        groups: &groups,
        hours,
        email,
    };
    let made = match invites::create(accounts, &request, &shell()).map_err(trouble)? {
        Ok(made) => made,
        Err(problems) => {
            let said: Vec<String> = problems
                .iter()
                .map(|(field, problem)| format!("{field}: {problem}"))
                .collect();
            return Err(Failure::Refused(said.join("; ")));
        }
    };
    println!("{}", made.url);
    eprintln!(
        "invitation {} until {}{}",
        made.invite.id,
        clock::rfc3339(made.invite.expires_at),
        if made.mailed { "; mailed" } else { "" }
    );
    Ok(())
}

fn list_invites(accounts: &Accounts, out: &mut impl Write) -> Result<(), Failure> {
    let now = clock::now();
    let _ = writeln!(out, "id\tstate\tgroups\temail\texpires_at\tused_by");
    for invite in invites::list(accounts).map_err(trouble)? {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}",
            invite.id,
            invite.state(now).as_str(),
            invite.groups.join(","),
            invite.email.as_deref().map_or("-".into(), printable),
            clock::rfc3339(invite.expires_at),
            invite.used_by.map_or("-".into(), |id| id.to_string())
        );
    }
    Ok(())
}

fn withdraw_invite(accounts: &Accounts, id: &str) -> Result<(), Failure> {
    let id: i64 = id
        .parse()
        .map_err(|_| Failure::Usage(format!("invite withdraw: {id:?} is not an id")))?;
    match invites::withdraw(accounts, id, &shell()).map_err(trouble)? {
        true => {
            println!("invitation {id} withdrawn");
            Ok(())
        }
        false => Err(Failure::Refused(format!(
            "no open invitation {id} (see: admin invites)"
        ))),
    }
}

/// The account's connected sign-ins, a line each.
fn show_links(accounts: &Accounts, user: &User, out: &mut impl Write) -> Result<(), Failure> {
    for link in upstream::links(accounts, user.id).map_err(trouble)? {
        let _ = writeln!(
            out,
            "upstream: {} (sub {}, {}, linked {}, last used {})",
            printable(&link.upstream),
            printable(&link.subject),
            printable(link.email.as_deref().unwrap_or("no address")),
            clock::rfc3339(link.created_at),
            optional_time(link.last_used_at)
        );
    }
    Ok(())
}

fn add_upstream(accounts: &Accounts, name: &str, options: &[&str]) -> Result<(), Failure> {
    let (mut issuer, mut client_id, mut label, mut scope) = (None, None, None, None);
    let (mut link_by_email, mut create_accounts, mut domains) = (false, false, Vec::new());
    let mut rest = options.iter();
    while let Some(option) = rest.next() {
        let value = rest.clone().next().copied();
        let take = |slot: &mut Option<String>| -> Result<(), Failure> {
            let value = value
                .ok_or_else(|| Failure::Usage(format!("upstream add: {option} needs a value")))?;
            *slot = Some(value.to_string());
            Ok(())
        };
        match *option {
            "--issuer" => take(&mut issuer)?,
            "--client-id" => take(&mut client_id)?,
            "--label" => take(&mut label)?,
            "--scope" => take(&mut scope)?,
            "--allowed-domain" => {
                let mut domain = None;
                take(&mut domain)?;
                domains.extend(domain);
            }
            "--link-by-email" => {
                link_by_email = true;
                continue;
            }
            "--create-accounts" => {
                create_accounts = true;
                continue;
            }
            _ => {
                return Err(Failure::Usage(format!(
                    "upstream add: {option:?} is not an option here"
                )));
            }
        }
        rest.next();
    }
    let (Some(issuer), Some(client_id)) = (issuer, client_id) else {
        return Err(Failure::Usage(
            "upstream add NAME needs --issuer and --client-id".into(),
        ));
    };
    if accounts.settings().public_url.is_none() {
        return Err(Failure::Refused(
            "set PUBLIC_URL first (pass --env-file): the provider sends people back under it"
                .into(),
        ));
    }
    // Piped, never an argument: arguments show in `ps` and shell history.
    let secret = read_secret("upstream add", "client secret", "SECRET")?;
    let new = upstream::NewUpstream {
        name,
        issuer: &issuer,
        client_id: &client_id,
        client_secret: secret.trim(),
        label: label.as_deref(),
        scope: scope.as_deref(),
        link_by_email,
        create_accounts,
        allowed_domains: &domains,
    };
    let added = upstream::add(accounts, &new, &shell())
        .map_err(trouble)?
        .map_err(|why| Failure::Refused(format!("upstream add: {why}")))?;
    println!(
        "upstream {} added: \"{}\"",
        added.name,
        printable(&added.label)
    );
    if let Some(callback) = upstream::callback_url(accounts, &added.name) {
        println!("callback (register it at the provider as the redirect URI): {callback}");
    }
    // Said now, not at the first sign-in: a wrong issuer or a missing CA
    // bundle is the operator's to fix.
    match upstream::check_reachable(accounts, &added.name, clock::now()).map_err(trouble)? {
        Ok(()) => println!("its discovery document and keys were fetched"),
        Err(why) => eprintln!("auth-server: warning: the provider cannot be reached now: {why}"),
    }
    Ok(())
}

fn list_upstreams(accounts: &Accounts, out: &mut impl Write) -> Result<(), Failure> {
    let _ = writeln!(
        out,
        "name\tissuer\tclient_id\tlabel\tscope\tlink_by_email\tcreate_accounts\tallowed_domains"
    );
    for u in upstream::list(accounts).map_err(trouble)? {
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            u.name,
            printable(&u.issuer),
            printable(&u.client_id),
            printable(&u.label),
            u.scope,
            u.link_by_email,
            u.create_accounts,
            if u.allowed_domains.is_empty() {
                "-".to_string()
            } else {
                u.allowed_domains.join(",")
            }
        );
    }
    Ok(())
}
