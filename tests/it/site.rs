//! A self-hoster's first hour, against the real binary: the site's name on
//! the pages and in the TOTP issuer, the way home, the server's own origin
//! known from PUBLIC_URL when a proxy does not pass the browser's Host (and
//! a refused origin explained in the log), and error messages that say
//! what to fix.

use crate::common;

use common::{PASSWORD, Server};
use serde_json::json;

#[test]
fn the_pages_name_the_site_escaped() {
    let server = Server::start_with(&[("SITE_NAME", "Tom & Jerry's <wiki>")]);
    let html = server.get("/login", None).text();
    let escaped = "Tom &amp; Jerry&#39;s &lt;wiki&gt;";
    assert!(
        html.contains(&format!("<title>Sign in to {escaped}</title>")),
        "{html}"
    );
    assert!(html.contains(&format!("<h1 id=\"title\">Sign in to {escaped}</h1>")));
    assert!(html.contains(&format!("data-site=\"{escaped}\"")));
    assert!(!html.contains("<wiki>"));
    // The default is the project's name.
    let plain = Server::start();
    assert!(
        plain
            .get("/login", None)
            .text()
            .contains("<title>Sign in to auth-server</title>")
    );
}

#[test]
fn the_totp_issuer_is_the_site_name_unless_set() {
    let server = Server::start_with(&[("SITE_NAME", "Family: Cloud")]);
    let cookie = server.signed_in_user("alice");
    let setup = server.post(
        "/api/user/totp/setup",
        &json!({ "password": PASSWORD }).to_string(),
        Some(&cookie),
    );
    let uri = setup.json()["data"]["otpauth_uri"]
        .as_str()
        .unwrap()
        .to_string();
    // ':' separates issuer and account in the label: not in the issuer.
    assert!(
        uri.starts_with("otpauth://totp/Family%20%20Cloud:alice?"),
        "{uri}"
    );
    assert!(uri.contains("&issuer=Family%20%20Cloud&"), "{uri}");
}

#[test]
fn the_signed_in_page_links_home_without_an_rd() {
    let server = Server::start_with(&[("PUBLIC_URL", "https://wiki.example.com/auth")]);
    let html = server.get("/login", None).text();
    assert!(
        html.contains(r#"data-home="https://wiki.example.com""#),
        "{html}"
    );
    let chosen = Server::start_with(&[
        ("PUBLIC_URL", "https://wiki.example.com/auth"),
        ("HOME_URL", "https://portal.example.com/start"),
    ]);
    let html = chosen.get("/login", None).text();
    assert!(html.contains(r#"data-home="https://portal.example.com/start""#));
    let none = Server::start();
    assert!(none.get("/login", None).text().contains(r#"data-home="""#));
}

fn login_from(server: &Server, origin: &str, host: &str) -> common::Reply {
    let body = json!({ "username": "alice", "password": PASSWORD }).to_string();
    server.request(
        "POST",
        "/api/login",
        &[
            ("Content-Type", "application/json"),
            ("Origin", origin),
            ("Host", host),
        ],
        &body,
    )
}

#[test]
fn public_urls_origin_is_the_servers_own_whatever_host_the_proxy_passes() {
    // nginx's default proxy_pass sends its upstream's name as Host.
    let server = Server::start_with(&[("PUBLIC_URL", "http://app.localhost:8081/auth")]);
    assert_eq!(server.register("alice", PASSWORD).status, 201);
    let ok = login_from(&server, "http://app.localhost:8081", "auth_server");
    assert_eq!(ok.status, 200, "{}", ok.text());
    // Another origin is still refused, and the log says what would allow it,
    // once a minute at most.
    let mut last = None;
    for _ in 0..3 {
        let refused = login_from(&server, "http://elsewhere.localhost", "auth_server");
        assert_eq!(refused.code(), "origin_not_allowed");
        last = Some(refused);
    }
    let log = server.log_through(&last.unwrap());
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("refused a state-changing request from another origin"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains("http://elsewhere.localhost"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("auth_server"), "{}", warnings[0]);
    assert!(warnings[0].contains("PUBLIC_URL"), "{}", warnings[0]);
    // Without PUBLIC_URL the same request is refused: trust comes from
    // configuration.
    let bare = Server::start();
    assert_eq!(bare.register("alice", PASSWORD).status, 201);
    assert_eq!(
        login_from(&bare, "http://app.localhost:8081", "auth_server").code(),
        "origin_not_allowed"
    );
}

#[test]
fn invalid_json_names_the_line_and_column() {
    let server = Server::start();
    let reply = server.post(
        "/api/login",
        "{\n  \"username\": \"alice\",\n  oops\n}",
        None,
    );
    assert_eq!(reply.code(), "invalid_json");
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("line 3, column 3"), "{message}");
}

#[test]
fn password_fields_are_masked_and_let_password_managers_fill_them() {
    // Masked entry, and nothing that stops pasting or a password manager:
    // every password field of every page is type=password with the
    // autocomplete hint a manager reads, and no page blocks paste.
    let server = Server::start();
    let mut fields = 0;
    for page in ["/login", "/account", "/register", "/admin"] {
        let html = server.get(page, None).text();
        for input in html.split("<input").skip(1) {
            let tag = &input[..input.find('>').unwrap()];
            if !tag.contains("password") || tag.contains("type=\"text\"") {
                continue;
            }
            fields += 1;
            assert!(tag.contains("type=\"password\""), "{page}: {tag}");
            assert!(
                tag.contains("autocomplete=\"current-password\"")
                    || tag.contains("autocomplete=\"new-password\""),
                "{page}: {tag}"
            );
        }
        assert!(!html.contains("onpaste"), "{page}");
    }
    for script in ["/login.js", "/account.js", "/register.js", "/admin.js"] {
        let text = server.get(script, None).text();
        assert!(!text.contains("\"paste\""), "{script} handles paste");
    }
    assert!(fields >= 8, "{fields} password fields");
}

#[test]
fn a_password_built_on_the_sites_name_is_refused() {
    let server = Server::start_with(&[("SITE_NAME", "Family Cloud")]);
    let register = |password: &str| {
        let body = json!({ "username": "kim", "email": "kim@example.com", "password": password });
        server.post("/api/register", &body.to_string(), None)
    };
    let refused = register("FamilyCloud2024!");
    assert_eq!(refused.code(), "validation_error");
    assert!(
        refused.json()["error"]["fields"]["password"]
            .as_str()
            .unwrap()
            .contains("site's name"),
        "{}",
        refused.text()
    );
    assert_eq!(register("our family cloud keeps the photos").status, 201);
}
