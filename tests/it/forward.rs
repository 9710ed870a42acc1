//! Forward auth for a reverse proxy, the built-in sign-in page, redirect
//! approval, shared cookies and closed sign-up, against the real binary.

use crate::common;

use common::{PASSWORD, Server, admin_with};
use serde_json::json;

const HOSTS: &str = "*.example.com, app.localhost";

fn proxied(server: &Server, cookie: Option<&str>, extra: &[(&str, &str)]) -> common::Reply {
    let mut headers: Vec<(&str, &str)> = extra.to_vec();
    if let Some(cookie) = cookie {
        headers.push(("Cookie", cookie));
    }
    server.request("GET", "/api/auth/forward", &headers, "")
}

#[test]
fn signed_in_visitors_pass_with_who_they_are() {
    let server = Server::start_with(&[("FORWARD_AUTH_HOSTS", HOSTS)]);
    let cookie = server.signed_in_user("alice");
    let reply = proxied(&server, Some(&cookie), &[]);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Remote-User"), Some("alice"));
    assert_eq!(reply.header("Remote-Name"), Some("alice"));
    // An address nobody proved is not asserted to the app: anyone may sign
    // up as ceo@bigcorp.example.
    assert_eq!(reply.header("Remote-Email"), None);
    assert!(
        reply
            .header("Remote-User-Id")
            .unwrap()
            .parse::<i64>()
            .is_ok()
    );
    assert_eq!(reply.json()["data"]["user"]["username"], "alice");
    let (code, _, stderr) = admin_with(&server.dir, &[], &["verify", "alice"], "");
    assert_eq!(code, Some(0), "{stderr}");
    let verified = proxied(&server, Some(&cookie), &[]);
    assert_eq!(verified.header("Remote-Email"), Some("alice@example.com"));
    // Any method, any origin, any body: the proxy describes another request.
    let post = server.request(
        "POST",
        "/api/auth/forward",
        &[
            ("Cookie", &cookie),
            ("Origin", "https://elsewhere.example"),
            ("Content-Type", "text/plain"),
        ],
        "ignored",
    );
    assert_eq!(post.status, 200, "{}", post.text());
    assert_eq!(
        server
            .request("DELETE", "/api/auth/forward", &[("Cookie", &cookie)], "")
            .status,
        200
    );
}

#[test]
fn signed_out_visitors_get_401_or_a_redirect_to_sign_in() {
    let server = Server::start_with(&[
        ("FORWARD_AUTH_HOSTS", HOSTS),
        ("PUBLIC_URL", "https://auth.example.com"),
    ]);
    assert_eq!(proxied(&server, None, &[]).code(), "unauthenticated");
    let described = [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "wiki.example.com"),
        ("X-Forwarded-Uri", "/page?id=7&x=a%20b"),
    ];
    let redirect = proxied(&server, None, &described);
    assert_eq!(redirect.status, 302);
    assert_eq!(
        redirect.header("Location"),
        Some(
            "https://auth.example.com/login?rd=https%3A%2F%2Fwiki.example.com%2Fpage%3Fid%3D7%26x%3Da%2520b"
        )
    );
    let mut post = described.to_vec();
    post.push(("X-Forwarded-Method", "POST"));
    assert_eq!(proxied(&server, None, &post).status, 401, "only page loads");
    let mut head = described.to_vec();
    head.push(("X-Forwarded-Method", "HEAD"));
    assert_eq!(proxied(&server, None, &head).status, 302);
    let other = [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Uri", "/"),
    ];
    assert_eq!(
        proxied(&server, None, &other).status,
        401,
        "not a guarded host"
    );
    // A session that ended is a signed-out visitor.
    let cookie = server.signed_in_user("bob");
    server.post("/api/logout", "", Some(&cookie));
    assert_eq!(proxied(&server, Some(&cookie), &described).status, 302);
}

#[test]
fn for_nginx_a_signed_out_answer_is_a_401_naming_the_sign_in_page() {
    let server = Server::start_with(&[("FORWARD_AUTH_HOSTS", HOSTS), ("LOGIN_URL", "/auth/login")]);
    let reply = proxied(
        &server,
        None,
        &[("X-Original-URL", "https://wiki.example.com:8443/a?b=c")],
    );
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.header("Location"),
        Some(
            "https://wiki.example.com:8443/auth/login?rd=https%3A%2F%2Fwiki.example.com%3A8443%2Fa%3Fb%3Dc"
        ),
        "a path LOGIN_URL is made absolute on the guarded host"
    );
    let elsewhere = proxied(
        &server,
        None,
        &[("X-Original-URL", "https://evil.example/")],
    );
    assert_eq!(
        (elsewhere.status, elsewhere.header("Location")),
        (401, None)
    );
}

#[test]
fn the_sign_in_pages_own_calls_are_same_origin() {
    // No CORS_ORIGINS entry is needed for the page the server itself serves:
    // an Origin that is the request's own Host is not a foreign origin.
    let server = Server::start_with(&[("CORS_ORIGINS", "")]);
    server.register("alice", PASSWORD);
    let body = json!({ "username": "alice", "password": PASSWORD }).to_string();
    let login = |origin: &str, host: &str| {
        server
            .request(
                "POST",
                "/api/login",
                &[
                    ("Content-Type", "application/json"),
                    ("Origin", origin),
                    ("Host", host),
                ],
                &body,
            )
            .status
    };
    assert_eq!(login("https://auth.example.com", "auth.example.com"), 200);
    assert_eq!(
        login("http://app.localhost:8080", "app.localhost:8080"),
        200
    );
    assert_eq!(login("https://evil.example", "auth.example.com"), 403);
    assert_eq!(login("http://auth.example.com:81", "auth.example.com"), 403);
}

#[test]
fn a_login_approves_only_safe_redirects() {
    let server = Server::start_with(&[("FORWARD_AUTH_HOSTS", HOSTS)]);
    server.register("alice", PASSWORD);
    let redirect_of = |url: &str| {
        let body = json!({ "username": "alice", "password": PASSWORD, "redirect": url });
        let reply = server.post("/api/login", &body.to_string(), None);
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()["data"]["redirect"].clone()
    };
    assert_eq!(
        redirect_of("https://wiki.example.com/x?y=1"),
        "https://wiki.example.com/x?y=1"
    );
    assert_eq!(
        redirect_of("http://app.localhost:8080/"),
        "http://app.localhost:8080/"
    );
    for bad in [
        "//evil.example",
        "https://example.com.evil.example/",
        "https://evil.example\\@example.com",
        "https://user@wiki.example.com/",
        "http://wiki.example.com/",
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://wiki.example.com/",
    ] {
        assert_eq!(redirect_of(bad), serde_json::Value::Null, "{bad}");
    }
    let check = server.post(
        "/api/auth/redirect",
        &json!({ "redirect": "https://evil.example/" }).to_string(),
        None,
    );
    assert_eq!(check.json()["data"]["redirect"], serde_json::Value::Null);
}

#[test]
fn a_cookie_domain_shares_the_sign_in_with_subdomains() {
    let server = Server::start_with(&[("COOKIE_DOMAIN", "example.com")]);
    server.register("alice", PASSWORD);
    let body = json!({ "username": "alice", "password": PASSWORD });
    let reply = server.post("/api/login", &body.to_string(), None);
    let set = reply.header("Set-Cookie").unwrap();
    assert!(set.contains("; Domain=example.com"), "{set}");
    let plain = Server::start();
    plain.register("alice", PASSWORD);
    let reply = plain.post("/api/login", &body.to_string(), None);
    assert!(!reply.header("Set-Cookie").unwrap().contains("Domain="));
}

#[test]
fn closed_sign_up_and_accounts_from_the_admin_command() {
    let server = Server::start_with(&[("REGISTRATION", "closed")]);
    let refused = server.register("alice", PASSWORD);
    assert_eq!(
        (refused.status, refused.code().as_str()),
        (403, "registration_closed")
    );
    let (code, out, err) = admin_with(
        &server.dir,
        &[],
        &["create", "alice", "Alice@Example.com"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let (code, _, err) = admin_with(
        &server.dir,
        &[],
        &["create", "bob", "bob@example.com"],
        "short\n",
    );
    assert_eq!(code, Some(1));
    assert!(err.contains("password"), "{err}");
    let cookie = server.login("alice@example.com", PASSWORD);
    assert_eq!(server.get("/api/user", Some(&cookie)).status, 200);
}

#[test]
fn the_sign_in_page_is_three_files_under_a_strict_policy() {
    let server = Server::start_with(&[]);
    let page = server.get("/login", None);
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    let policy = page.header("Content-Security-Policy").unwrap();
    assert_eq!(
        policy,
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    let html = page.text();
    assert!(html.contains(r#"<script src="login.js" defer></script>"#));
    assert_eq!(html.matches("<script").count(), 1, "no inline script");
    for elsewhere in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(
            !html.contains(elsewhere),
            "nothing from elsewhere: {elsewhere}"
        );
    }
    assert!(html.contains(r#"data-mail="off""#));
    assert!(html.contains(r#"<label for="password">"#));
    let css = server.get("/login.css", None);
    assert_eq!(css.header("Content-Type"), Some("text/css; charset=utf-8"));
    let js = server.get("/login.js", None);
    assert_eq!(
        js.header("Content-Type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(server.get("/reset-password", None).text(), html);
    // The API's own answers keep the API's policy.
    assert_eq!(
        server
            .get("/api/health", None)
            .header("Content-Security-Policy"),
        Some("default-src 'none'; frame-ancestors 'none'")
    );
}
