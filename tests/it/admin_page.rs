//! The admin page's API and invitations, against the real binary: who may
//! use it (an `ADMIN_GROUP` member signed in with a second factor), every
//! call, every refusal, the audit trail's `actor`, and invitations from
//! making to using (once, racing, withdrawn, expired).

use std::sync::Arc;

use crate::common;

use common::{PASSWORD, Reply, Server, admin, base32_decode, totp_code};
use serde_json::{Value, json};

/// A JSON request with a cookie.
fn call(server: &Server, method: &str, path: &str, body: Option<Value>, cookie: &str) -> Reply {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut headers = vec![("Cookie", cookie)];
    if !body.is_empty() {
        headers.push(("Content-Type", "application/json"));
    }
    server.request(method, path, &headers, &body)
}

/// Turns two-factor login on for the signed-in `cookie` (with the code of
/// the step before this one, so the current one is still unused): the
/// secret and the session's new cookie (still opened with the password
/// alone).
fn two_factor_on(server: &Server, cookie: &str) -> (Vec<u8>, String) {
    let setup = server.post(
        "/api/user/totp/setup",
        &json!({ "password": PASSWORD }).to_string(),
        Some(cookie),
    );
    let secret = base32_decode(setup.json()["data"]["secret"].as_str().unwrap());
    let enable = server.post(
        "/api/user/totp/enable",
        &json!({ "code": totp_code(&secret, -1) }).to_string(),
        Some(cookie),
    );
    assert_eq!(enable.status, 200, "{}", enable.text());
    (secret, enable.session_cookie().unwrap())
}

fn join_group(server: &Server, name: &str, group: &str) {
    let (code, out, err) = admin(&server.dir, &["group", "add", name, group], "");
    assert_eq!(code, Some(0), "{out}{err}");
}

/// `name`, a member of the admin group with two-factor login on: its
/// cookie from a sign-in with password and code, and its secret.
fn administrator(server: &Server, name: &str) -> (String, Vec<u8>) {
    let cookie = server.signed_in_user(name);
    join_group(server, name, "admins");
    let (secret, _) = two_factor_on(server, &cookie);
    let login = server.post(
        "/api/login",
        &json!({ "username": name, "password": PASSWORD, "totp_code": totp_code(&secret, 0) })
            .to_string(),
        None,
    );
    assert_eq!(login.status, 200, "{}", login.text());
    (login.session_cookie().unwrap(), secret)
}

/// The admin list's answer to a search for `name`.
fn search(server: &Server, cookie: &str, name: &str) -> Reply {
    call(
        server,
        "GET",
        &format!("/api/admin/users?query={name}"),
        None,
        cookie,
    )
}

fn user_id(server: &Server, cookie: &str, name: &str) -> i64 {
    let page = search(server, cookie, name);
    page.json()["data"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == name)
        .unwrap_or_else(|| panic!("{name} in {}", page.text()))["id"]
        .as_i64()
        .unwrap()
}

fn invite(server: &Server, cookie: &str, body: Value) -> (i64, String) {
    let made = call(server, "POST", "/api/admin/invites", Some(body), cookie);
    assert_eq!(made.status, 201, "{}", made.text());
    let data = &made.json()["data"];
    let url = data["url"].as_str().unwrap().to_string();
    let token = url.split("invite=").nth(1).unwrap().to_string();
    (data["id"].as_i64().unwrap(), token)
}

fn register(server: &Server, name: &str, email: &str, invite: Option<&str>) -> Reply {
    let mut body = json!({ "username": name, "email": email, "password": PASSWORD });
    if let Some(token) = invite {
        body["invite"] = json!(token);
    }
    server.post("/api/register", &body.to_string(), None)
}

#[test]
fn only_an_administrator_with_a_second_factor_gets_in() {
    let server = Server::start();
    let signed_out = server.get("/api/admin/users", None);
    assert_eq!(
        (signed_out.status, signed_out.code().as_str()),
        (401, "unauthenticated")
    );
    let bob = server.signed_in_user("bob");
    let not_admin = server.get("/api/admin/users", Some(&bob));
    assert_eq!(
        (not_admin.status, not_admin.code().as_str()),
        (403, "forbidden")
    );
    assert_eq!(
        not_admin.json()["error"]["message"],
        "This page is for administrators."
    );

    // In the group, but signed in with the password alone.
    let alice = server.signed_in_user("alice");
    join_group(&server, "alice", "admins");
    let no_factor = server.get("/api/admin/audit", Some(&alice));
    assert_eq!(
        (no_factor.status, no_factor.code().as_str()),
        (403, "second_factor_required")
    );
    // A step-up code shown by this session is a second factor.
    let (secret, alice) = two_factor_on(&server, &alice);
    assert_eq!(
        server.get("/api/admin/users", Some(&alice)).code(),
        "second_factor_required"
    );
    let stepped = server.post(
        "/api/auth/step-up",
        &json!({ "code": totp_code(&secret, 0) }).to_string(),
        Some(&alice),
    );
    assert_eq!(stepped.status, 200, "{}", stepped.text());
    let alice = stepped.session_cookie().unwrap();
    assert_eq!(server.get("/api/admin/users", Some(&alice)).status, 200);

    // Another group's name is another group.
    let elsewhere = Server::start_with(&[("ADMIN_GROUP", "staff")]);
    let (cookie, _) = administrator(&elsewhere, "carol");
    assert_eq!(
        elsewhere.get("/api/admin/users", Some(&cookie)).code(),
        "forbidden"
    );

    // The page itself is for anyone (its script asks the API), under the
    // pages' policy.
    let page = server.get("/admin", None);
    assert_eq!(page.status, 200);
    assert!(page.text().contains("Search users"));
    assert!(
        page.header("content-security-policy")
            .unwrap()
            .contains("script-src 'self'")
    );
}

#[test]
fn users_are_listed_made_changed_and_deleted_each_change_recorded_as_the_administrators() {
    let server = Server::start_with(&[("PUBLIC_URL", "http://localhost:9")]);
    let (root, _) = administrator(&server, "root");
    let root_id = user_id(&server, &root, "root");
    for name in ["alice", "alfred", "bob"] {
        assert_eq!(server.register(name, PASSWORD).status, 201);
    }

    // A page at a time, searched by name or address.
    let page = call(
        &server,
        "GET",
        "/api/admin/users?query=AL&limit=1",
        None,
        &root,
    );
    assert_eq!(page.status, 200, "{}", page.text());
    let data = &page.json()["data"];
    assert_eq!(data["total"], 2);
    assert_eq!(data["users"].as_array().unwrap().len(), 1);
    let first = &data["users"][0];
    assert_eq!(first["username"], "alice");
    for field in [
        "id",
        "email",
        "email_verified",
        "disabled",
        "groups",
        "totp_enabled",
        "passkeys",
        "created_at",
        "last_login_at",
    ] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }
    let next = call(
        &server,
        "GET",
        "/api/admin/users?query=al&limit=1&offset=1",
        None,
        &root,
    );
    assert_eq!(next.json()["data"]["users"][0]["username"], "alfred");
    for bad in ["limit=201", "limit=x", "offset=-1", "sort=name"] {
        let refused = call(
            &server,
            "GET",
            &format!("/api/admin/users?{bad}"),
            None,
            &root,
        );
        assert_eq!(refused.code(), "validation_error", "{bad}");
    }

    // Made with a reset link to hand over; the person chooses the password.
    let made = call(
        &server,
        "POST",
        "/api/admin/users",
        Some(json!({ "username": "kim", "email": "kim@example.com", "groups": ["family"] })),
        &root,
    );
    assert_eq!(made.status, 201, "{}", made.text());
    let reset_url = made.json()["data"]["reset_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reset_url.starts_with("http://localhost:9/reset-password#token="));
    assert_eq!(made.json()["data"]["user"]["groups"], json!(["family"]));
    let token = reset_url.split("token=").nth(1).unwrap();
    let reset = server.post(
        "/api/password/reset",
        &json!({ "token": token, "new_password": "kim's own passphrase" }).to_string(),
        None,
    );
    assert_eq!(reset.status, 200, "{}", reset.text());
    let kim = server.login("kim", "kim's own passphrase");
    let taken = call(
        &server,
        "POST",
        "/api/admin/users",
        Some(json!({ "username": "KIM", "email": "other@example.com" })),
        &root,
    );
    assert_eq!(taken.code(), "username_taken");
    let bad_group = call(
        &server,
        "POST",
        "/api/admin/users",
        Some(json!({ "username": "lee", "email": "lee@example.com", "groups": ["No Spaces"] })),
        &root,
    );
    assert!(bad_group.json()["error"]["fields"]["groups"].is_string());

    // Groups, the address mark, disabling (which ends the sessions at once).
    let kim_id = user_id(&server, &root, "kim");
    let changed = call(
        &server,
        "PATCH",
        &format!("/api/admin/users/{kim_id}"),
        Some(json!({ "groups": ["media", "family"], "email_verified": false })),
        &root,
    );
    assert_eq!(changed.status, 200, "{}", changed.text());
    assert_eq!(
        changed.json()["data"]["user"]["groups"],
        json!(["family", "media"])
    );
    assert_eq!(server.get("/api/user", Some(&kim)).status, 200);
    let disabled = call(
        &server,
        "PATCH",
        &format!("/api/admin/users/{kim_id}"),
        Some(json!({ "disabled": true })),
        &root,
    );
    assert_eq!(disabled.json()["data"]["user"]["disabled"], true);
    assert_eq!(server.get("/api/user", Some(&kim)).status, 401);
    let unknown = call(
        &server,
        "PATCH",
        &format!("/api/admin/users/{kim_id}"),
        Some(json!({ "admin": true })),
        &root,
    );
    assert_eq!(unknown.code(), "validation_error");

    // Reset link, unlock, sign out everywhere.
    let bob_id = user_id(&server, &root, "bob");
    let bob = server.login("bob", PASSWORD);
    let link = call(
        &server,
        "POST",
        &format!("/api/admin/users/{bob_id}/reset-link"),
        None,
        &root,
    );
    assert!(
        link.json()["data"]["reset_url"]
            .as_str()
            .unwrap()
            .contains("#token=")
    );
    let unlock = call(
        &server,
        "POST",
        &format!("/api/admin/users/{bob_id}/unlock"),
        None,
        &root,
    );
    assert_eq!(unlock.status, 200);
    let out = call(
        &server,
        "DELETE",
        &format!("/api/admin/users/{bob_id}/sessions"),
        None,
        &root,
    );
    assert_eq!(out.status, 200);
    assert_eq!(server.get("/api/user", Some(&bob)).status, 401);
    assert_eq!(
        call(
            &server,
            "POST",
            "/api/admin/users/99999/unlock",
            None,
            &root
        )
        .code(),
        "not_found"
    );

    // Nobody disables or deletes themself from here.
    let own = format!("/api/admin/users/{root_id}");
    let self_disable = call(
        &server,
        "PATCH",
        &own,
        Some(json!({ "disabled": true })),
        &root,
    );
    assert_eq!(
        (self_disable.status, self_disable.code().as_str()),
        (409, "conflict")
    );
    // Deleting wants a fresh proof first (the sign-in was one, a moment
    // ago: shown by deleting someone else at once).
    let self_delete = call(&server, "DELETE", &own, None, &root);
    assert_eq!(self_delete.code(), "conflict");
    let deleted = call(
        &server,
        "DELETE",
        &format!("/api/admin/users/{kim_id}"),
        None,
        &root,
    );
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(
        search(&server, &root, "kim").json()["data"]["total"],
        0,
        "kim is gone from the list"
    );

    // Each change names the administrator as its actor.
    let trail = call(
        &server,
        "GET",
        "/api/admin/audit?user=bob&limit=20",
        None,
        &root,
    );
    let events = trail.json()["data"]["events"].as_array().unwrap().clone();
    let by_root: Vec<&str> = events
        .iter()
        .filter(|e| e["actor"] == root_id)
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for kind in [
        "admin_reset_link",
        "admin_unlocked",
        "admin_sessions_revoked",
    ] {
        assert!(by_root.contains(&kind), "{kind} by root in {events:?}");
    }
    assert!(events.iter().all(|e| e["user_id"] == bob_id));
    let deletions = call(
        &server,
        "GET",
        "/api/admin/audit?event=admin_deleted",
        None,
        &root,
    );
    let deletions = deletions.json()["data"]["events"].clone();
    assert_eq!(deletions.as_array().unwrap().len(), 1, "{deletions}");
    assert_eq!(deletions[0]["actor"], root_id);
    assert_eq!(
        call(&server, "GET", "/api/admin/audit?user=nobody", None, &root).json()["data"]["events"],
        json!([])
    );
}

#[test]
fn what_cannot_be_undone_wants_a_fresh_proof() {
    let server = Server::start_with(&[("REAUTH_SECS", "1"), ("PUBLIC_URL", "http://localhost:9")]);
    let (root, secret) = administrator(&server, "root");
    assert_eq!(server.register("bob", PASSWORD).status, 201);
    let bob_id = user_id(&server, &root, "bob");
    let app = call(
        &server,
        "POST",
        "/api/admin/oidc-clients",
        Some(json!({ "name": "Wiki", "redirect_uris": ["https://wiki.example.com/cb"] })),
        &root,
    );
    let client_id = app.json()["data"]["client_id"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    for (path, what) in [
        (format!("/api/admin/users/{bob_id}"), "delete"),
        (format!("/api/admin/oidc-clients/{client_id}"), "remove"),
    ] {
        let stale = call(&server, "DELETE", &path, None, &root);
        assert_eq!(
            (stale.status, stale.code().as_str()),
            (403, "reauthentication_required"),
            "{what}"
        );
    }
    // Undoable changes do not.
    let disabled = call(
        &server,
        "PATCH",
        &format!("/api/admin/users/{bob_id}"),
        Some(json!({ "disabled": true })),
        &root,
    );
    assert_eq!(disabled.status, 200);
    let proof = server.post(
        "/api/user/reauth",
        &json!({ "code": totp_code(&secret, 1) }).to_string(),
        Some(&root),
    );
    assert_eq!(proof.status, 200, "{}", proof.text());
    let root = proof.session_cookie().unwrap();
    let removed = call(
        &server,
        "DELETE",
        &format!("/api/admin/oidc-clients/{client_id}"),
        None,
        &root,
    );
    assert_eq!(removed.status, 200, "{}", removed.text());
}

#[test]
fn apps_are_added_listed_and_removed() {
    let server = Server::start_with(&[("PUBLIC_URL", "http://localhost:9")]);
    let (root, _) = administrator(&server, "root");
    let refused = call(
        &server,
        "POST",
        "/api/admin/oidc-clients",
        Some(json!({ "name": "Bad", "redirect_uris": ["http://wiki.example.com/cb"] })),
        &root,
    );
    assert!(refused.json()["error"]["fields"]["redirect_uris"].is_string());
    let bad_alg = call(
        &server,
        "POST",
        "/api/admin/oidc-clients",
        Some(json!({ "name": "Bad", "redirect_uris": ["https://a.example/cb"], "alg": "none" })),
        &root,
    );
    assert!(bad_alg.json()["error"]["fields"]["alg"].is_string());
    let made = call(
        &server,
        "POST",
        "/api/admin/oidc-clients",
        Some(json!({
            "name": "Photos", "redirect_uris": ["https://photos.example.com/cb"],
            "allowed_groups": ["family"], "alg": "ES256"
        })),
        &root,
    );
    assert_eq!(made.status, 201, "{}", made.text());
    let secret = made.json()["data"]["client_secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(secret.len() >= 32);
    let list = call(&server, "GET", "/api/admin/oidc-clients", None, &root);
    let clients = list.json()["data"]["clients"].clone();
    assert_eq!(clients[0]["name"], "Photos");
    assert_eq!(clients[0]["allowed_groups"], json!(["family"]));
    assert_eq!(clients[0]["public"], false);
    assert!(!list.text().contains(&secret), "the secret is shown once");
    let id = clients[0]["client_id"].as_str().unwrap();
    let removed = call(
        &server,
        "DELETE",
        &format!("/api/admin/oidc-clients/{id}"),
        None,
        &root,
    );
    assert_eq!(removed.status, 200);
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/api/admin/oidc-clients/{id}"),
            None,
            &root
        )
        .code(),
        "not_found"
    );
    let trail = call(&server, "GET", "/api/admin/audit?limit=50", None, &root);
    let kinds: Vec<String> = trail.json()["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    assert!(kinds.contains(&"admin_oidc_client_added".to_string()));
    assert!(kinds.contains(&"admin_oidc_client_removed".to_string()));
}

#[test]
fn an_invitation_makes_one_account_in_its_groups() {
    let server = Server::start_with(&[
        ("REGISTRATION", "invite"),
        ("PUBLIC_URL", "http://localhost:9"),
    ]);
    let (root, _) = administrator_on_closed(&server);
    let none = register(&server, "eve", "eve@example.com", None);
    assert_eq!(
        (none.status, none.code().as_str()),
        (403, "invite_required")
    );
    let made = call(
        &server,
        "POST",
        "/api/admin/invites",
        Some(json!({ "groups": ["family"], "email": "Kim@Example.com" })),
        &root,
    );
    assert_eq!(made.status, 201, "{}", made.text());
    let data = made.json()["data"].clone();
    let url = data["url"].as_str().unwrap();
    assert!(
        url.starts_with("http://localhost:9/register?invite="),
        "{url}"
    );
    assert_eq!(data["mailed"], false);
    let token = url.split("invite=").nth(1).unwrap();

    // The address it names is the one the account must use.
    let other = register(&server, "kim", "kim@elsewhere.example", Some(token));
    assert!(other.json()["error"]["fields"]["email"].is_string());
    let joined = register(&server, "kim", "kim@example.com", Some(token));
    assert_eq!(joined.status, 201, "{}", joined.text());
    assert_eq!(joined.json()["data"]["user"]["groups"], json!(["family"]));
    assert_eq!(joined.json()["data"]["user"]["email_verified"], true);
    let again = register(&server, "kim2", "kim@example.com", Some(token));
    assert_eq!(
        (again.status, again.code().as_str()),
        (400, "invalid_invite")
    );
    for bogus in ["nonsense", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
        assert_eq!(
            register(&server, "zed", "zed@example.com", Some(bogus)).code(),
            "invalid_invite"
        );
    }

    // Listed as used, by the account it made; an open one is withdrawn.
    let (open_id, open_token) = invite(&server, &root, json!({ "expires_in_hours": 1 }));
    let list = call(&server, "GET", "/api/admin/invites", None, &root);
    let invites = list.json()["data"]["invites"].clone();
    assert_eq!(invites[0]["id"], open_id);
    assert_eq!(invites[0]["state"], "open");
    assert_eq!(invites[1]["state"], "used");
    assert!(invites[1]["used_by"].is_i64());
    let withdrawn = call(
        &server,
        "DELETE",
        &format!("/api/admin/invites/{open_id}"),
        None,
        &root,
    );
    assert_eq!(withdrawn.status, 200);
    assert_eq!(
        register(&server, "lee", "lee@example.com", Some(&open_token)).code(),
        "invalid_invite"
    );
    assert_eq!(
        call(
            &server,
            "DELETE",
            &format!("/api/admin/invites/{open_id}"),
            None,
            &root
        )
        .code(),
        "not_found"
    );
    let bad = call(
        &server,
        "POST",
        "/api/admin/invites",
        Some(json!({ "expires_in_hours": 0, "groups": ["Bad Name"] })),
        &root,
    );
    let fields = bad.json()["error"]["fields"].clone();
    assert!(fields["expires_in_hours"].is_string() && fields["groups"].is_string());
}

/// The first administrator of a server whose sign-up is not open: made at
/// the shell, as an operator would.
fn administrator_on_closed(server: &Server) -> (String, Vec<u8>) {
    let (code, out, err) = admin(
        &server.dir,
        &["create", "root", "root@example.com"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(code, Some(0), "{out}{err}");
    join_group(server, "root", "admins");
    let (secret, cookie) = two_factor_on(server, &server.login("root", PASSWORD));
    let stepped = server.post(
        "/api/auth/step-up",
        &json!({ "code": totp_code(&secret, 0) }).to_string(),
        Some(&cookie),
    );
    assert_eq!(stepped.status, 200, "{}", stepped.text());
    (stepped.session_cookie().unwrap(), secret)
}

#[test]
fn two_registrations_racing_with_one_invitation_make_one_account() {
    let server = Arc::new(Server::start_with(&[("REGISTRATION", "invite")]));
    let (root, _) = administrator_on_closed(&server);
    for round in 0..3 {
        let (_, token) = invite(&server, &root, json!({ "groups": ["family"] }));
        let racers: Vec<_> = (0..4)
            .map(|i| {
                let server = Arc::clone(&server);
                let token = token.clone();
                std::thread::spawn(move || {
                    let name = format!("racer{round}x{i}");
                    register(&server, &name, &format!("{name}@example.com"), Some(&token)).status
                })
            })
            .collect();
        let mut statuses: Vec<u16> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        statuses.sort();
        assert_eq!(statuses, [201, 400, 400, 400], "round {round}");
    }
    let family = admin(&server.dir, &["group", "members", "family"], "").1;
    assert_eq!(family.lines().count(), 3, "{family}");
}

#[test]
fn closed_refuses_even_an_invitation_and_open_takes_its_groups() {
    let closed = Server::start_with(&[("REGISTRATION", "closed")]);
    let (code, url, err) = admin(
        &closed.dir,
        &["invite", "--group", "family", "--hours", "2"],
        "",
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(url.trim().starts_with("/register?invite="), "{url}");
    assert!(err.contains("invitation 1 until"), "{err}");
    let token = url.trim().split("invite=").nth(1).unwrap().to_string();
    let listed = admin(&closed.dir, &["invites"], "").1;
    assert!(listed.contains("\topen\tfamily\t"), "{listed}");
    let refused = register(&closed, "kim", "kim@example.com", Some(&token));
    assert_eq!(refused.code(), "registration_closed");
    let dir = closed.stop_keeping_dir();
    let open = Server::start_in(dir, &[("REGISTRATION", "open")]);
    let plain = register(&open, "bob", "bob@example.com", None);
    assert_eq!(plain.json()["data"]["user"]["groups"], json!([]));
    let joined = register(&open, "kim", "kim@example.com", Some(&token));
    assert_eq!(joined.json()["data"]["user"]["groups"], json!(["family"]));
    assert_eq!(joined.json()["data"]["user"]["email_verified"], false);
    let (code, _, err) = admin(&open.dir, &["invite", "withdraw", "1"], "");
    assert_eq!(code, Some(1), "a used invitation is not withdrawn: {err}");
    let (code, _, _) = admin(&open.dir, &["invite", "--hours", "721"], "");
    assert_eq!(code, Some(1));
}

#[test]
fn an_invitation_with_an_address_is_mailed_when_mail_is_on() {
    let dir = common::temp_dir();
    let spool = dir.join("mail");
    let command = format!("cat >> {}", spool.display());
    let server = Server::start_in(
        dir.clone(),
        &[
            ("MAIL_COMMAND", command.as_str()),
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
            ("PUBLIC_URL", "http://localhost:9"),
            ("SITE_NAME", "Family Cloud"),
        ],
    );
    let (root, _) = administrator(&server, "root");
    let made = call(
        &server,
        "POST",
        "/api/admin/invites",
        Some(json!({ "email": "kim@example.com", "expires_in_hours": 24 })),
        &root,
    );
    assert_eq!(made.json()["data"]["mailed"], true, "{}", made.text());
    let url = made.json()["data"]["url"].as_str().unwrap().to_string();
    let message = std::fs::read_to_string(&spool).unwrap();
    assert!(message.contains("To: kim@example.com"), "{message}");
    assert!(
        message.contains("You are invited to Family Cloud"),
        "{message}"
    );
    assert!(message.contains(&url), "{message}");
}

#[test]
fn the_register_page_follows_the_setting_and_the_sign_in_page_links_to_it_when_open() {
    let open = Server::start();
    let page = open.get("/register", None);
    assert_eq!(page.status, 200);
    assert!(page.text().contains(r#"data-registration="open""#));
    assert!(
        page.text()
            .contains("<label for=\"password\">Password</label>")
    );
    assert!(
        open.get("/register.js", None)
            .text()
            .contains("api/register")
    );
    assert!(
        open.get("/login", None)
            .text()
            .contains(r#"data-registration="open""#)
    );
    let invite_only = Server::start_with(&[("REGISTRATION", "invite")]);
    assert!(
        invite_only
            .get("/register?invite=x", None)
            .text()
            .contains(r#"data-registration="invite""#)
    );
}
