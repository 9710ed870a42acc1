//! Forgotten passwords and verified addresses, with MAIL_COMMAND writing
//! each message to a temporary directory, read back as a person reads an
//! inbox.

use crate::common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{PASSWORD, Reply, Server, admin, temp_dir};
use serde_json::json;

const NEW_PASSWORD: &str = "a completely new passphrase";
const PUBLIC_URL: &str = "https://app.example.com/auth";

/// A mailbox: the directory the mail command writes into, and the command.
struct Inbox {
    dir: PathBuf,
}

impl Inbox {
    fn new() -> Inbox {
        let dir = temp_dir().join("inbox");
        std::fs::create_dir_all(&dir).unwrap();
        Inbox { dir }
    }

    /// Writes each message to a new file (whole, by a rename, so a reader
    /// never sees half of one); fails (exit 1) while `fail` exists.
    fn command(&self) -> String {
        format!(
            "if [ -e {d}/fail ]; then echo 'relay said: 451 try later' >&2; exit 75; fi; cat > {d}/part.$$ && mv {d}/part.$$ {d}/$(date +%s%N).eml",
            d = self.dir.display()
        )
    }

    fn set_failing(&self, failing: bool) {
        let flag = self.dir.join("fail");
        if failing {
            std::fs::write(flag, b"").unwrap();
        } else {
            let _ = std::fs::remove_file(flag);
        }
    }

    fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect()
    }

    /// Waits until there are `count` messages, and returns the newest.
    fn wait_for(&self, count: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return messages.last().unwrap().clone();
            }
            assert!(
                Instant::now() < deadline,
                "{} of {count} messages arrived",
                messages.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn mail_server(inbox: &Inbox, extra: &[(&str, &str)]) -> Server {
    let command = inbox.command();
    let mut env: Vec<(&str, &str)> = vec![
        ("MAIL_COMMAND", &command),
        ("PUBLIC_URL", PUBLIC_URL),
        ("MAIL_FROM", "accounts@example.com"),
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
    ];
    env.extend_from_slice(extra);
    Server::start_with(&env)
}

/// The token in a message's link to `page`.
fn token_in(message: &str, page: &str) -> String {
    let prefix = format!("{PUBLIC_URL}/{page}#token=");
    let line = message
        .lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {page} link in:\n{message}"));
    line[prefix.len()..].trim().to_string()
}

fn header<'m>(message: &'m str, name: &str) -> Option<&'m str> {
    let head = message.split("\n\n").next().unwrap();
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

fn forgot(server: &Server, email: &str) -> Reply {
    server.post(
        "/api/password/forgot",
        &json!({ "email": email }).to_string(),
        None,
    )
}

fn reset(server: &Server, token: &str, password: &str) -> Reply {
    let body = json!({ "token": token, "new_password": password });
    server.post("/api/password/reset", &body.to_string(), None)
}

#[test]
fn a_forgotten_password_is_reset_once_through_the_mailed_link() {
    let inbox = Inbox::new();
    let server = mail_server(&inbox, &[]);
    let cookie = server.signed_in_user("alice");
    let welcome = inbox.wait_for(1);
    assert_eq!(
        header(&welcome, "Subject"),
        Some("Confirm your email address for auth-server")
    );

    let known = forgot(&server, "Alice@Example.com");
    let unknown = forgot(&server, "nobody@example.com");
    assert_eq!((known.status, unknown.status), (202, 202));
    assert_eq!(known.body, unknown.body, "the same answer either way");

    let message = inbox.wait_for(2);
    assert_eq!(header(&message, "From"), Some("accounts@example.com"));
    assert_eq!(header(&message, "To"), Some("alice@example.com"));
    // The site is named in the subject and the body (SITE_NAME, default
    // auth-server).
    assert_eq!(
        header(&message, "Subject"),
        Some("Reset your auth-server password")
    );
    assert!(message.contains("of the auth-server\naccount"), "{message}");
    assert_eq!(header(&message, "MIME-Version"), Some("1.0"));
    assert_eq!(
        header(&message, "Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(header(&message, "Date").is_some_and(|d| d.ends_with("+0000")));
    assert!(header(&message, "Message-ID").is_some_and(|id| id.ends_with("@example.com>")));
    assert!(message.contains("within 1 hour"), "{message}");
    let token = token_in(&message, "reset-password");
    assert_eq!(token.len(), 43);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(inbox.messages().len(), 2, "no mail for the unknown address");

    // The rules apply to the new password.
    let weak = reset(&server, &token, "alice");
    assert_eq!(weak.code(), "validation_error");
    assert!(weak.json()["error"]["fields"]["new_password"].is_string());

    let done = reset(&server, &token, NEW_PASSWORD);
    assert_eq!(done.status, 200, "{}", done.text());
    assert!(done.session_cookie().is_none(), "a reset does not sign in");
    assert_eq!(
        server.get("/api/user", Some(&cookie)).status,
        401,
        "sessions ended"
    );
    assert_eq!(
        reset(&server, &token, "yet another passphrase").code(),
        "invalid_token"
    );
    assert_eq!(
        reset(&server, "garbage", NEW_PASSWORD).code(),
        "invalid_token"
    );
    assert_eq!(reset(&server, &"A".repeat(43), NEW_PASSWORD).status, 400);

    let cookie = server.login("alice", NEW_PASSWORD);
    let user = server.get("/api/user", Some(&cookie)).json();
    assert_eq!(
        user["data"]["user"]["email_verified"], true,
        "the reset proved the address"
    );
}

#[test]
fn a_reset_link_expires() {
    let inbox = Inbox::new();
    let server = mail_server(&inbox, &[("RESET_TOKEN_TTL_SECS", "1")]);
    server.signed_in_user("alice");
    inbox.wait_for(1);
    forgot(&server, "alice@example.com");
    let token = token_in(&inbox.wait_for(2), "reset-password");
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(reset(&server, &token, NEW_PASSWORD).code(), "invalid_token");
}

#[test]
fn a_failing_mail_command_is_retried_until_it_works() {
    let inbox = Inbox::new();
    inbox.set_failing(true);
    let server = mail_server(&inbox, &[]);
    server.signed_in_user("alice");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log_text().contains("mail: attempt failed") {
        assert!(Instant::now() < deadline, "{}", server.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(inbox.messages().is_empty());
    inbox.set_failing(false);
    inbox.wait_for(1);
}

#[test]
fn mail_queued_before_a_crash_is_sent_after_the_restart() {
    let inbox = Inbox::new();
    inbox.set_failing(true);
    let server = mail_server(&inbox, &[]);
    server.register("alice", PASSWORD);
    assert_eq!(forgot(&server, "alice@example.com").status, 202);
    // The mailer looks the address up after the 202 (so that both answers
    // take the same time); once it has, the mail is in the outbox.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log_text().contains("password_reset_requested") {
        assert!(Instant::now() < deadline, "{}", server.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = server.kill_keeping_dir();
    inbox.set_failing(false);
    let command = inbox.command();
    let server = Server::start_in(
        dir,
        &[
            ("MAIL_COMMAND", &command),
            ("PUBLIC_URL", PUBLIC_URL),
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ],
    );
    // (A command the killed server had started may have got half a
    // message: a crash mid-pipe is what at-least-once delivery costs. Only
    // whole messages are read here.)
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let subjects: Vec<String> = inbox
            .messages()
            .iter()
            .filter_map(|m| header(m, "Subject").map(str::to_string))
            .collect();
        if subjects.contains(&"Reset your auth-server password".to_string()) {
            break;
        }
        assert!(Instant::now() < deadline, "no reset mail: {subjects:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(server);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_mailed_token_appears_nowhere_in_the_database_files() {
    let inbox = Inbox::new();
    let server = mail_server(&inbox, &[]);
    server.register("alice", PASSWORD);
    let verify_token = token_in(&inbox.wait_for(1), "verify-email");
    forgot(&server, "alice@example.com");
    let reset_token = token_in(&inbox.wait_for(2), "reset-password");
    for file in ["auth.db", "auth.db-wal", "auth.db-shm"] {
        let bytes = std::fs::read(server.dir.join(file)).unwrap_or_default();
        for token in [&verify_token, &reset_token] {
            assert!(!contains(&bytes, token.as_bytes()), "{file}");
        }
    }
}

#[test]
fn verification_by_link_and_required_verification_at_login() {
    let inbox = Inbox::new();
    let server = mail_server(&inbox, &[("REQUIRE_VERIFIED_EMAIL", "true")]);
    assert_eq!(server.register("alice", PASSWORD).status, 201);
    let body = json!({ "username": "alice", "password": PASSWORD }).to_string();
    let refused = server.post("/api/login", &body, None);
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (403, "email_not_verified")
    );
    let wrong = json!({ "username": "alice", "password": "not the password" }).to_string();
    assert_eq!(
        server.post("/api/login", &wrong, None).code(),
        "invalid_credentials",
        "a wrong password learns nothing"
    );

    let token = token_in(&inbox.wait_for(1), "verify-email");
    let verified = server.post(
        "/api/email/verify",
        &json!({ "token": token }).to_string(),
        None,
    );
    assert_eq!(verified.status, 200, "{}", verified.text());
    assert_eq!(verified.json()["data"]["user"]["email_verified"], true);
    assert_eq!(
        server
            .post(
                "/api/email/verify",
                &json!({ "token": token }).to_string(),
                None
            )
            .code(),
        "invalid_token",
        "single use"
    );
    let cookie = server.login("alice", PASSWORD);
    // Already verified: nothing more to send.
    let again = server.post("/api/email/verify/resend", "", Some(&cookie));
    assert_eq!(again.status, 200);
}

#[test]
fn resending_is_limited_per_account_and_resets_per_address() {
    let inbox = Inbox::new();
    let server = mail_server(&inbox, &[("PASSWORD_RESETS_PER_HOUR", "5")]);
    let cookie = server.signed_in_user("alice");
    inbox.wait_for(1);
    assert_eq!(
        server
            .post("/api/email/verify/resend", "", Some(&cookie))
            .status,
        202
    );
    inbox.wait_for(2);
    for _ in 0..2 {
        server.post("/api/email/verify/resend", "", Some(&cookie));
    }
    // Four asked for (registration included), three sent in the hour.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(inbox.messages().len(), 3);

    for _ in 0..5 {
        assert_eq!(forgot(&server, "alice@example.com").status, 202);
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        inbox.messages().len(),
        6,
        "three resets an hour per account"
    );
    let limited = forgot(&server, "alice@example.com");
    assert_eq!(limited.status, 429, "five requests an hour per address");
    assert!(limited.header("Retry-After").is_some());
}

#[test]
fn the_admin_command_prints_a_reset_link_and_verifies() {
    let server = Server::start_with(&[("PUBLIC_URL", PUBLIC_URL)]);
    server.register("alice", PASSWORD);
    let (code, out, _) = common::admin_with(
        &server.dir,
        &[("PUBLIC_URL", PUBLIC_URL)],
        &["reset-link", "alice"],
        "",
    );
    assert_eq!(code, Some(0));
    let token = token_in(&out, "reset-password");
    assert_eq!(reset(&server, &token, NEW_PASSWORD).status, 200);

    // Without PUBLIC_URL: the bare token.
    let bare = Server::start();
    bare.register("bob", PASSWORD);
    let (_, out, _) = admin(&bare.dir, &["reset-link", "bob"], "");
    assert_eq!(out.trim().len(), 43);
    assert_eq!(reset(&bare, out.trim(), NEW_PASSWORD).status, 200);

    let (code, _, _) = admin(&bare.dir, &["verify", "bob"], "");
    assert_eq!(code, Some(0));
    let cookie = bare.login("bob", NEW_PASSWORD);
    assert_eq!(
        bare.get("/api/user", Some(&cookie)).json()["data"]["user"]["email_verified"],
        true
    );
}

#[test]
fn without_mail_forgot_still_answers_202_and_resend_says_why_not() {
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    assert_eq!(forgot(&server, "alice@example.com").status, 202);
    let resend = server.post("/api/email/verify/resend", "", Some(&cookie));
    assert_eq!(resend.code(), "mail_not_configured");
    let user = server.get("/api/user", Some(&cookie)).json();
    assert_eq!(user["data"]["user"]["email_verified"], false);
}

#[test]
fn mail_needs_a_public_url_at_start_up() {
    let output = std::process::Command::new(common::binary())
        .env_clear()
        .env("MAIL_COMMAND", "cat")
        .env("DATABASE_PATH", temp_dir().join("auth.db"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("PUBLIC_URL"));
}

#[test]
fn the_mail_names_the_site_and_its_link_keeps_the_way_back() {
    let inbox = Inbox::new();
    let server = mail_server(
        &inbox,
        &[
            ("SITE_NAME", "Famille Dupré"),
            ("FORWARD_AUTH_HOSTS", "wiki.example.com"),
        ],
    );
    assert_eq!(server.register("alice", PASSWORD).status, 201);
    inbox.wait_for(1);
    // An rd the sign-in page may follow rides in the link's query; one it
    // may not is dropped.
    let body =
        json!({ "email": "alice@example.com", "redirect": "https://wiki.example.com/page?x=1" });
    let asked = server.post("/api/password/forgot", &body.to_string(), None);
    assert_eq!(asked.status, 202);
    let message = inbox.wait_for(2);
    // Not ASCII: an RFC 2047 encoded word ("Reset your Famille Dupré
    // password").
    assert_eq!(
        header(&message, "Subject"),
        Some("=?UTF-8?B?UmVzZXQgeW91ciBGYW1pbGxlIER1cHLDqSBwYXNzd29yZA==?=")
    );
    assert!(message.contains("Famille Dupré"), "{message}");
    assert!(
        message.contains(&format!(
            "{PUBLIC_URL}/reset-password?rd=https%3A%2F%2Fwiki.example.com%2Fpage%3Fx%3D1#token="
        )),
        "{message}"
    );
    let body = json!({ "email": "alice@example.com", "redirect": "https://evil.example/" });
    server.post("/api/password/forgot", &body.to_string(), None);
    let message = inbox.wait_for(3);
    assert!(
        message.contains(&format!("{PUBLIC_URL}/reset-password#token=")),
        "{message}"
    );
}

#[test]
fn a_changed_credential_sends_a_notice_saying_what_when_and_from_where() {
    let inbox = Inbox::new();
    let server = mail_server(&inbox, &[("SITE_NAME", "Family Cloud")]);
    let cookie = server.signed_in_user("alice");
    inbox.wait_for(1); // the verification mail
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let changed = server.request(
        "POST",
        "/api/user/password",
        &[
            ("Cookie", &cookie),
            ("Content-Type", "application/json"),
            ("User-Agent", firefox),
        ],
        &json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }).to_string(),
    );
    assert_eq!(changed.status, 200, "{}", changed.text());
    let notice = inbox.wait_for(2);
    assert_eq!(header(&notice, "To"), Some("alice@example.com"));
    assert_eq!(
        header(&notice, "Subject"),
        Some("Security notice for your Family Cloud account")
    );
    for part in [
        "The password of your account was changed.",
        "When: ",
        "From: 127.0.0.1, Firefox on Linux",
        "If this wasn't you",
        &format!("{PUBLIC_URL}/account"),
    ] {
        assert!(notice.contains(part), "{part:?} in:\n{notice}");
    }
    // From the shell (with the server's mail settings, as --env-file gives
    // them): the admin command, named as such. The server's mailer finds
    // the queued notice in the outbox.
    let command = inbox.command();
    let mail_env = [
        ("MAIL_COMMAND", command.as_str()),
        ("PUBLIC_URL", PUBLIC_URL),
    ];
    let (code, _, err) = common::admin_with(
        &server.dir,
        &mail_env,
        &["set-password", "alice"],
        "yet another passphrase\n",
    );
    assert_eq!(code, Some(0), "{err}");
    let notice = inbox.wait_for(3);
    assert!(
        notice.contains("From: the server's admin command"),
        "{notice}"
    );
    // Two-factor login on.
    let cookie = server.login("alice", "yet another passphrase");
    let setup = server.post(
        "/api/user/totp/setup",
        &json!({ "password": "yet another passphrase" }).to_string(),
        Some(&cookie),
    );
    let secret = common::base32_decode(setup.json()["data"]["secret"].as_str().unwrap());
    let enable = server.post(
        "/api/user/totp/enable",
        &json!({ "code": common::totp_code(&secret, 0) }).to_string(),
        Some(&cookie),
    );
    assert_eq!(enable.status, 200, "{}", enable.text());
    let notice = inbox.wait_for(4);
    assert!(
        notice.contains("Two-factor login was turned on"),
        "{notice}"
    );
    let (_, events, _) = admin(&server.dir, &["events", "--user", "alice"], "");
    assert_eq!(
        events.matches("\tsecurity_notice_sent\t").count(),
        3,
        "{events}"
    );
}

#[test]
fn without_mail_a_changed_credential_queues_nothing() {
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    let changed = server.post(
        "/api/user/password",
        &json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }).to_string(),
        Some(&cookie),
    );
    assert_eq!(changed.status, 200);
    let db = rusqlite::Connection::open(server.dir.join("auth.db")).unwrap();
    let queued: i64 = db
        .query_row("SELECT count(*) FROM outbox", [], |row| row.get(0))
        .unwrap();
    assert_eq!(queued, 0);
}

/// The admin command with the server's mail settings, as --env-file gives
/// them.
fn admin_mail(server: &Server, inbox: &Inbox, args: &[&str]) -> (Option<i32>, String, String) {
    let command = inbox.command();
    common::admin_with(
        &server.dir,
        &[
            ("MAIL_COMMAND", &command),
            ("PUBLIC_URL", PUBLIC_URL),
            ("MAIL_FROM", "accounts@example.com"),
            ("SITE_NAME", "Family Cloud"),
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ],
        args,
        "",
    )
}

#[test]
fn the_mail_test_sends_at_once_and_reports_the_commands_answer() {
    let inbox = Inbox::new();
    let server = mail_server(&inbox, &[]);
    let (code, out, err) = admin_mail(&server, &inbox, &["mail-test", "bob@example.com"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("sent to bob@example.com"), "{out}");
    let message = inbox.wait_for(1);
    assert_eq!(header(&message, "To"), Some("bob@example.com"));
    assert_eq!(
        header(&message, "Subject"),
        Some("Test message from Family Cloud")
    );
    assert!(message.contains("auth-server's\nmail test"), "{message}");
    // A failing command: its exit status and what it said, exit 1.
    inbox.set_failing(true);
    let (code, _, err) = admin_mail(&server, &inbox, &["mail-test", "bob@example.com"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("exit status 75") && err.contains("relay said: 451 try later"),
        "{err}"
    );
    // No MAIL_COMMAND: said so, exit 2.
    let (code, _, err) = common::admin(&server.dir, &["mail-test", "bob@example.com"], "");
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("MAIL_COMMAND is not set"), "{err}");
    let (code, _, _) = admin_mail(&server, &inbox, &["mail-test", "not an address"]);
    assert_eq!(code, Some(2));
}

/// The first line of `admin outbox --failed`, once there is one.
fn first_failed(server: &Server, inbox: &Inbox) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, out, err) = admin_mail(server, inbox, &["outbox", "--failed"]);
        assert_eq!(code, Some(0), "{err}");
        if let Some(line) = out.lines().nth(1) {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "nothing failed: {out}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Asks for the verification mail again, signed in as alice.
fn resend(server: &Server) {
    let cookie = server.login("alice", PASSWORD);
    let reply = server.post("/api/email/verify/resend", "", Some(&cookie));
    assert_eq!(reply.status, 202, "{}", reply.text());
}

#[test]
fn stuck_mail_is_listed_retried_and_dropped_and_a_given_up_one_is_counted() {
    let inbox = Inbox::new();
    let metrics = common::free_port();
    let address = format!("127.0.0.1:{metrics}");
    let server = mail_server(&inbox, &[("METRICS_ADDR", &address)]);
    inbox.set_failing(true);
    assert_eq!(server.register("alice", PASSWORD).status, 201);
    // The verification mail fails and waits, with why.
    let listed = first_failed(&server, &inbox);
    let row: Vec<&str> = listed.split('\t').collect();
    assert_eq!(
        &row[1..3],
        ["verification", "alice@example.com"],
        "{listed}"
    );
    assert!(row[4].parse::<i64>().unwrap() >= 1, "{listed}");
    assert!(
        row[6].contains("exit status: 75") && row[6].contains("relay said: 451"),
        "{listed}"
    );
    let id = row[0];

    // Back up: a retry now delivers it, once.
    inbox.set_failing(false);
    let (code, out, err) = admin_mail(&server, &inbox, &["outbox", "retry", id]);
    assert_eq!(code, Some(0), "{out}{err}");
    inbox.wait_for(1);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(inbox.messages().len(), 1, "delivered exactly once");
    let (_, out, _) = admin_mail(&server, &inbox, &["outbox"]);
    assert_eq!(out.lines().count(), 1, "the outbox is empty: {out}");
    let sent = |outcome: &str| {
        let (_, _, body) = common::scrape(metrics, "/metrics");
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("auth_mail_total{{outcome=\"{outcome}\"}} ")))
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    assert!(sent("sent") >= 1 && sent("failed") >= 1);

    // Dropped: gone unsent.
    inbox.set_failing(true);
    resend(&server);
    let failed = first_failed(&server, &inbox);
    let id = failed.split('\t').next().unwrap();
    let (code, _, err) = admin_mail(&server, &inbox, &["outbox", "drop", id]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, _) = admin_mail(&server, &inbox, &["outbox", "drop", id]);
    assert_eq!(code, Some(1), "gone");

    // A message past its last retry is given up: counted, and logged with
    // its id.
    resend(&server);
    let db = rusqlite::Connection::open(server.dir.join("auth.db")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while sent("given_up") == 0 {
        db.execute(
            "UPDATE outbox SET created_at = created_at - 90000, next_attempt_at = 0",
            [],
        )
        .unwrap();
        assert!(Instant::now() < deadline, "never given up");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        server
            .log_text()
            .lines()
            .any(|l| l.contains("giving up") && l.contains("mail_id="))
    );
}
