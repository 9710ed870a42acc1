//! Who may use which app, against the real binary: groups from the admin
//! command, the access rules of ACCESS_RULES_FILE through forward auth,
//! page loads and API calls, a reloaded file, a bad one, and step-up to a
//! second factor.

use crate::common;

use std::time::{Duration, Instant};

use common::{PASSWORD, Reply, Server, admin, admin_with, base32_decode, totp_code as code};
use serde_json::json;

const HOSTS: &str = "*.example.com";

const RULES: &str = "\
# host              [path prefix]  policy
grafana.example.com                groups=admins two_factor
media.example.com   /admin         groups=admins
media.example.com                  groups=family,admins
status.example.com                 public
wiki.example.com                   users=bob
*.example.com                      signed_in
";

fn server_with_rules(rules: &str) -> Server {
    let dir = common::temp_dir();
    let file = dir.join("rules");
    std::fs::write(&file, rules).unwrap();
    Server::start_in(
        dir,
        &[
            ("FORWARD_AUTH_HOSTS", HOSTS),
            ("PUBLIC_URL", "https://auth.example.com"),
            ("ACCESS_RULES_FILE", file.to_str().unwrap()),
        ],
    )
}

/// Forward auth as Caddy asks: the guarded request described in
/// X-Forwarded-*; `accept` decides page load or API call.
fn forward(server: &Server, cookie: Option<&str>, url: &str, accept: &str) -> Reply {
    let (host, uri) = url
        .split_once('/')
        .map_or((url, "/".to_string()), |(h, u)| (h, format!("/{u}")));
    let mut headers = vec![
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", host),
        ("X-Forwarded-Uri", uri.as_str()),
        ("X-Forwarded-Method", "GET"),
        ("Accept", accept),
    ];
    if let Some(cookie) = cookie {
        headers.push(("Cookie", cookie));
    }
    server.request("GET", "/api/auth/forward", &headers, "")
}

const PAGE: &str = "text/html,application/xhtml+xml";
const API: &str = "application/json";

fn groups(server: &Server, args: &[&str]) {
    let (code, out, err) = admin(&server.dir, args, "");
    assert_eq!(code, Some(0), "{out}{err}");
}

#[test]
fn each_policy_decides_for_its_host_and_path() {
    let server = server_with_rules(RULES);
    let alice = server.signed_in_user("alice");
    let bob = server.signed_in_user("bob");
    let kid = server.signed_in_user("kid");
    groups(&server, &["group", "add", "alice", "admins"]);
    groups(&server, &["group", "add", "kid", "family"]);

    // groups=: members of any group named pass, with Remote-Groups.
    let ok = forward(&server, Some(&alice), "media.example.com/admin/users", API);
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.header("Remote-User"), Some("alice"));
    assert_eq!(ok.header("Remote-Groups"), Some("admins"));
    let kid_media = forward(&server, Some(&kid), "media.example.com/films", API);
    assert_eq!(kid_media.status, 200);
    assert_eq!(kid_media.header("Remote-Groups"), Some("family"));
    // First match wins, and a path prefix matches whole segments.
    assert_eq!(
        forward(&server, Some(&kid), "media.example.com/admin", API).code(),
        "forbidden"
    );
    assert_eq!(
        forward(&server, Some(&kid), "media.example.com/admin/x?y=1", API).status,
        403
    );
    assert_eq!(
        forward(&server, Some(&kid), "media.example.com/administrator", API).status,
        200
    );
    // No groups: no Remote-Groups header at all.
    let bob_wiki = forward(&server, Some(&bob), "wiki.example.com/", API);
    assert_eq!(bob_wiki.status, 200);
    assert_eq!(bob_wiki.header("Remote-Groups"), None);
    // users=
    assert_eq!(
        forward(&server, Some(&alice), "wiki.example.com/", API).status,
        403
    );
    // public: in without signing in, and no Remote-* header even when signed in.
    let public = forward(&server, Some(&alice), "status.example.com/", API);
    assert_eq!(public.status, 200);
    assert_eq!(public.header("Remote-User"), None);
    assert_eq!(
        forward(&server, None, "status.example.com/", API).status,
        200
    );
    // The wildcard host, signed in or not.
    assert_eq!(
        forward(&server, Some(&bob), "notes.example.com/", API).status,
        200
    );
    assert_eq!(
        forward(&server, None, "notes.example.com/", API).status,
        401
    );
    // A host no rule names: closed.
    assert_eq!(
        forward(&server, Some(&bob), "example.com/", API).status,
        403
    );
}

#[test]
fn page_loads_go_to_the_sign_in_page_and_api_calls_get_json() {
    let server = server_with_rules(RULES);
    let bob = server.signed_in_user("bob");
    // Signed out: a page load is sent to sign in, an API call is told 401.
    let page = forward(&server, None, "notes.example.com/a", PAGE);
    assert_eq!(page.status, 302);
    assert!(
        page.header("Location")
            .unwrap()
            .starts_with("https://auth.example.com/login?rd=https%3A%2F%2Fnotes.example.com%2Fa")
    );
    let api = forward(&server, None, "notes.example.com/a", API);
    assert_eq!((api.status, api.code().as_str()), (401, "unauthenticated"));
    let xhr = server.request(
        "GET",
        "/api/auth/forward",
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "notes.example.com"),
            ("X-Forwarded-Uri", "/a"),
            ("X-Requested-With", "XMLHttpRequest"),
        ],
        "",
    );
    assert_eq!(xhr.status, 401, "X-Requested-With is an API call");
    // Signed in, not allowed: the page load goes to the sign-in page too,
    // which asks the server why.
    let denied = forward(&server, Some(&bob), "media.example.com/", PAGE);
    assert_eq!(denied.status, 302);
    let why = server.post(
        "/api/auth/redirect",
        &json!({ "redirect": "https://media.example.com/" }).to_string(),
        Some(&bob),
    );
    assert_eq!(why.json()["data"]["access"], "forbidden");
    let fine = server.post(
        "/api/auth/redirect",
        &json!({ "redirect": "https://notes.example.com/" }).to_string(),
        Some(&bob),
    );
    assert_eq!(fine.json()["data"]["access"], "allowed");
    // A path the gate would refuse to describe gets no verdict at all.
    let odd = server.post(
        "/api/auth/redirect",
        &json!({ "redirect": "https://notes.example.com/a%2fb" }).to_string(),
        Some(&bob),
    );
    assert_eq!(odd.json()["data"]["access"], serde_json::Value::Null);
}

#[test]
fn a_group_change_takes_effect_on_the_next_request_without_signing_out() {
    let server = server_with_rules(RULES);
    let bob = server.signed_in_user("bob");
    assert_eq!(
        forward(&server, Some(&bob), "media.example.com/", API).status,
        403
    );
    groups(&server, &["group", "add", "bob", "family", "media-fans"]);
    assert_eq!(
        forward(&server, Some(&bob), "media.example.com/", API).status,
        200
    );
    let user = server.get("/api/user", Some(&bob)).json();
    assert_eq!(
        user["data"]["user"]["groups"],
        json!(["family", "media-fans"])
    );
    let (_, out, _) = admin(&server.dir, &["groups", "bob"], "");
    assert_eq!(out, "family\nmedia-fans\n");
    let (_, out, _) = admin(&server.dir, &["group", "members", "family"], "");
    assert_eq!(out, "bob\n");
    groups(&server, &["group", "remove", "bob", "family"]);
    assert_eq!(
        forward(&server, Some(&bob), "media.example.com/", API).status,
        403
    );
    let (_, out, _) = admin(&server.dir, &["events", "--user", "bob"], "");
    assert!(
        out.contains("group_added") && out.contains("group_removed"),
        "{out}"
    );
    let (code, _, err) = admin(&server.dir, &["group", "add", "bob", "Not A Group"], "");
    assert_eq!(code, Some(2), "{err}");
}

#[test]
fn an_edited_rules_file_is_in_force_within_seconds_and_a_bad_edit_keeps_the_old_rules() {
    let server = server_with_rules("*.example.com signed_in\n");
    let bob = server.signed_in_user("bob");
    let file = server.dir.join("rules");
    assert_eq!(
        forward(&server, Some(&bob), "notes.example.com/", API).status,
        200
    );
    // The file's time is what tells an edit: make it differ for sure.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&file, "*.example.com users=alice\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while forward(&server, Some(&bob), "notes.example.com/", API).status != 403 {
        assert!(Instant::now() < deadline, "the edit was not picked up");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&file, "*.example.com users=alice\nthis is not a rule\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log_text().contains("access rules not reloaded") {
        assert!(Instant::now() < deadline, "{}", server.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        server.log_text().contains("line 2"),
        "{}",
        server.log_text()
    );
    assert_eq!(
        forward(&server, Some(&bob), "notes.example.com/", API).status,
        403,
        "old rules stay"
    );
}

#[test]
fn a_bad_rules_file_stops_start_up_naming_the_line_and_admin_checks_one() {
    let dir = common::temp_dir();
    let file = dir.join("rules");
    std::fs::write(
        &file,
        "a.example.com signed_in\n\nb.example.com sometimes\n",
    )
    .unwrap();
    let output = std::process::Command::new(common::binary())
        .env_clear()
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("DATABASE_PATH", dir.join("auth.db"))
        .env("ACCESS_RULES_FILE", &file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 3") && stderr.contains("sometimes"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "nothing listened");
    // The admin command validates a file without a server.
    let server = Server::start();
    let (code, _, err) = admin(&server.dir, &["rules", "check", file.to_str().unwrap()], "");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("line 3"), "{err}");
    std::fs::write(&file, RULES).unwrap();
    let (code, out, _) = admin(&server.dir, &["rules", "check", file.to_str().unwrap()], "");
    assert_eq!(code, Some(0));
    assert!(out.contains("6 rules"), "{out}");
}

#[test]
fn a_rule_that_wants_a_second_factor_is_met_by_step_up_or_a_code_at_sign_in() {
    let server = server_with_rules(RULES);
    let alice = server.signed_in_user("alice");
    groups(&server, &["group", "add", "alice", "admins"]);
    // No two-factor login yet: step-up has nothing to show.
    let no = server.post(
        "/api/auth/step-up",
        &json!({ "code": "123456" }).to_string(),
        Some(&alice),
    );
    assert_eq!(no.code(), "totp_not_enabled");
    let setup = server.post(
        "/api/user/totp/setup",
        &json!({ "password": PASSWORD }).to_string(),
        Some(&alice),
    );
    let secret = base32_decode(setup.json()["data"]["secret"].as_str().unwrap());
    let enabled = server.post(
        "/api/user/totp/enable",
        &json!({ "code": code(&secret, -1) }).to_string(),
        Some(&alice),
    );
    assert_eq!(enabled.status, 200, "{}", enabled.text());
    let alice = enabled.session_cookie().unwrap();

    // This session was opened with the password alone.
    assert_eq!(
        forward(&server, Some(&alice), "grafana.example.com/", API).status,
        403
    );
    let why = server.post(
        "/api/auth/redirect",
        &json!({ "redirect": "https://grafana.example.com/d/1" }).to_string(),
        Some(&alice),
    );
    assert_eq!(why.json()["data"]["access"], "step_up");
    let wrong = server.post(
        "/api/auth/step-up",
        &json!({ "code": "000000" }).to_string(),
        Some(&alice),
    );
    assert_eq!(wrong.code(), "invalid_totp");
    let stepped = server.post(
        "/api/auth/step-up",
        &json!({ "code": code(&secret, 0) }).to_string(),
        Some(&alice),
    );
    assert_eq!(stepped.status, 200, "{}", stepped.text());
    // The proof renews the token: a copy of the old one taken before the
    // code was shown gains nothing, it is over.
    let before = alice;
    let alice = stepped.session_cookie().unwrap();
    assert_ne!(alice, before);
    assert_eq!(server.get("/api/user", Some(&before)).status, 401);
    assert_eq!(
        forward(&server, Some(&alice), "grafana.example.com/", API).status,
        200
    );
    let sessions = server.get("/api/sessions", Some(&alice)).json();
    assert_eq!(
        sessions["data"]["sessions"][0]["opened_with"],
        "password+totp"
    );

    // A fresh sign-in with a code counts at once.
    let body = json!({ "username": "alice", "password": PASSWORD, "totp_code": code(&secret, 1) });
    let login = server.post("/api/login", &body.to_string(), None);
    assert_eq!(login.status, 200, "{}", login.text());
    let fresh = login.session_cookie().unwrap();
    assert_eq!(
        forward(&server, Some(&fresh), "grafana.example.com/", API).status,
        200
    );
}

/// Rules with a catch-all `* deny` at the end, as the docs' example.
const GATE_RULES: &str = "\
grafana.example.com                groups=admins two_factor
media.example.com   /admin         groups=admins
media.example.com                  groups=family,admins
status.example.com                 public
*.example.com                      signed_in
*                                  deny
";

/// Forward auth with exactly these proxy headers (and the cookie).
fn ask(server: &Server, cookie: Option<&str>, headers: &[(&str, &str)]) -> Reply {
    let mut all = headers.to_vec();
    all.push(("Accept", API));
    if let Some(cookie) = cookie {
        all.push(("Cookie", cookie));
    }
    server.request("GET", "/api/auth/forward", &all, "")
}

/// alice in admins, kid in family, eve in no group.
fn gate_server() -> (Server, String, String, String) {
    let server = server_with_rules(GATE_RULES);
    let alice = server.signed_in_user("alice");
    let kid = server.signed_in_user("kid");
    let eve = server.signed_in_user("eve");
    groups(&server, &["group", "add", "alice", "admins"]);
    groups(&server, &["group", "add", "kid", "family"]);
    (server, alice, kid, eve)
}

#[test]
fn an_odd_or_missing_forwarded_uri_is_decided_by_the_rules_or_refused() {
    let (server, _alice, _kid, eve) = gate_server();
    let grafana = |uri: Option<&'static str>| {
        let mut headers = vec![
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "grafana.example.com"),
        ];
        if let Some(uri) = uri {
            headers.push(("X-Forwarded-Uri", uri));
        }
        headers
    };
    // `//api/admin` is `/api/admin`: grafana's rule decides, and eve is
    // not an admin.
    for uri in ["//api/admin", "/api//admin", "/"] {
        let reply = ask(&server, Some(&eve), &grafana(Some(uri)));
        assert_eq!(reply.status, 403, "{uri}: {}", reply.text());
    }
    // No path is `/`; no proto still names host and path.
    assert_eq!(ask(&server, Some(&eve), &grafana(None)).status, 403);
    let no_proto = [
        ("X-Forwarded-Host", "grafana.example.com"),
        ("X-Forwarded-Uri", "/api/admin"),
    ];
    assert_eq!(ask(&server, Some(&eve), &no_proto).status, 403);
    // No host matches only the `*` rule: deny.
    let no_host = [("X-Forwarded-Proto", "https"), ("X-Forwarded-Uri", "/")];
    assert_eq!(ask(&server, Some(&eve), &no_host).status, 403);
    // Nothing described at all is the root of no host: `* deny` decides
    // here too.
    assert_eq!(ask(&server, Some(&eve), &[]).status, 403);
    // What cannot be described is refused, never allowed.
    for uri in [
        "api/admin",
        "*",
        "/a%zz",
        "/a\\b",
        "http://grafana.example.com/",
    ] {
        let reply = ask(&server, Some(&eve), &grafana(Some(uri)));
        assert_eq!(reply.status, 400, "{uri}: {}", reply.text());
        assert_eq!(reply.code(), "invalid_forwarded_request");
    }
    let bad_host = [
        ("X-Forwarded-Proto", "https"),
        (
            "X-Forwarded-Host",
            "grafana.example.com, status.example.com",
        ),
        ("X-Forwarded-Uri", "/"),
    ];
    assert_eq!(ask(&server, Some(&eve), &bad_host).status, 400);
    let bad_proto = [
        ("X-Forwarded-Proto", "gopher"),
        ("X-Forwarded-Host", "status.example.com"),
        ("X-Forwarded-Uri", "/"),
    ];
    assert_eq!(ask(&server, None, &bad_proto).status, 400);
    assert!(server.log_shows("forward_auth_refused"));
}

#[test]
fn a_forged_original_url_never_overrides_what_the_proxy_describes() {
    let (server, alice, kid, eve) = gate_server();
    let caddy = |host: &'static str, uri: &'static str, forged: &'static str| {
        vec![
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", host),
            ("X-Forwarded-Uri", uri),
            ("X-Original-URL", forged),
        ]
    };
    // Signed out, naming the public status page while asking for grafana.
    let forged = caddy("grafana.example.com", "/", "https://status.example.com/");
    let reply = ask(&server, None, &forged);
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert_eq!(reply.code(), "invalid_forwarded_request");
    // eve naming the wiki while asking for grafana.
    let forged = caddy("grafana.example.com", "/", "https://wiki.example.com/");
    assert_eq!(ask(&server, Some(&eve), &forged).status, 400);
    // kid naming media's `/` while asking for `/admin/users`.
    let forged = caddy(
        "media.example.com",
        "/admin/users",
        "https://media.example.com/",
    );
    assert_eq!(ask(&server, Some(&kid), &forged).status, 400);
    // The same request in both forms is one description.
    let same = caddy(
        "media.example.com",
        "/admin/users",
        "https://media.example.com/admin/./users",
    );
    assert_eq!(ask(&server, Some(&alice), &same).status, 200);
}

#[test]
fn path_rules_see_the_normalised_path() {
    let (server, alice, kid, _eve) = gate_server();
    let media = |uri: &'static str| {
        vec![
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "media.example.com"),
            ("X-Forwarded-Uri", uri),
        ]
    };
    for uri in [
        "/admin",
        "/%61dmin",
        "/%61dmin/users",
        "//admin",
        "/./admin",
        "/x/../admin",
        "/x/%2e%2e/admin",
        "/admin;x=1",
        "/admin;x=1/users",
        "/public;/../admin",
    ] {
        let reply = ask(&server, Some(&kid), &media(uri));
        assert_eq!(reply.status, 403, "{uri}: {}", reply.text());
        assert_eq!(
            ask(&server, Some(&alice), &media(uri)).status,
            200,
            "{uri}: the rule still lets its group in"
        );
    }
    for uri in [
        "/admin%2fusers",
        "/admin%2Fusers",
        "/admin%5cusers",
        "/admin%00",
        "/admin%",
    ] {
        assert_eq!(ask(&server, Some(&kid), &media(uri)).status, 400, "{uri}");
    }
    // Rule paths are case-sensitive: `/Admin` is another path.
    assert_eq!(ask(&server, Some(&kid), &media("/Admin")).status, 200);
    // The same through nginx's X-Original-URL.
    let nginx = [("X-Original-URL", "https://media.example.com/x/../%61dmin")];
    assert_eq!(ask(&server, Some(&kid), &nginx).status, 403);
}

#[test]
fn every_refusal_is_logged_with_its_rule_and_recorded() {
    let (server, _alice, kid, _eve) = gate_server();
    let reply = ask(
        &server,
        Some(&kid),
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "media.example.com"),
            ("X-Forwarded-Uri", "/%61dmin/users"),
        ],
    );
    assert_eq!(reply.status, 403);
    let request_id = format!("request_id={}", reply.header("X-Request-Id").unwrap());
    let line = server
        .log_through(&reply)
        .lines()
        .find(|l| l.contains("access_denied"))
        .map(str::to_string)
        .expect("an access_denied line");
    for part in [
        request_id.as_str(),
        "identifier=kid",
        "host=media.example.com",
        "path=/admin/users",
        "rule=line 2",
        "decision=forbidden",
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
    let (code, out, err) = admin(&server.dir, &["events", "--user", "kid"], "");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("access_denied") && out.contains("rule=line 2"),
        "{out}"
    );
    // A signed-out visitor sent to sign in is not a refusal.
    let before = server.log_text().matches("access_denied").count();
    let sent_to_sign_in = ask(
        &server,
        None,
        &[
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "media.example.com"),
            ("X-Forwarded-Uri", "/"),
        ],
    );
    assert_eq!(sent_to_sign_in.status, 401);
    let log = server.log_through(&sent_to_sign_in);
    assert_eq!(log.matches("access_denied").count(), before);
}

#[test]
fn admin_rules_explain_names_the_deciding_line_and_the_decision() {
    let (server, _alice, _kid, _eve) = gate_server();
    let file = server.dir.join("rules");
    let rules_env = [("ACCESS_RULES_FILE", file.to_str().unwrap())];
    let explain = |args: &[&str]| {
        let mut all = vec!["rules", "explain"];
        all.extend_from_slice(args);
        admin_with(&server.dir, &rules_env, &all, "")
    };
    let (code, out, err) = explain(&["media.example.com", "/%61dmin/users"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("line 2: media.example.com /admin groups=admins"),
        "{out}"
    );
    assert!(out.contains("signed out: signed_out"), "{out}");
    let (code, out, _) = explain(&["media.example.com", "/admin", "--user", "kid"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("kid: forbidden"), "{out}");
    let (_, out, _) = explain(&["grafana.example.com", "--user", "alice"]);
    assert!(out.contains("line 1:"), "{out}");
    assert!(
        out.contains("alice: step_up") && out.contains("with a second factor: allowed"),
        "{out}"
    );
    let (_, out, _) = explain(&["other.example.org"]);
    assert!(out.contains("line 6: * deny"), "{out}");
    let (code, _, err) = explain(&["media.example.com", "/a%2fb"]);
    assert_eq!(code, Some(2), "{err}");
    let (code, _, err) = explain(&["media.example.com", "/", "--user", "nobody"]);
    assert_eq!(code, Some(1), "{err}");
}
