//! Two-factor login with an authenticator app, against the real binary.
//! The test computes codes itself from the secret it is shown (RFC 6238
//! with the RustCrypto HMAC and SHA-1), as an authenticator app would.

use crate::common;

use common::{PASSWORD, Reply, Server, admin, base32_decode, totp_code as code};
use serde_json::{Value, json};

fn login(server: &Server, name: &str, extra: Value) -> Reply {
    let mut body = json!({ "username": name, "password": PASSWORD });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    server.post("/api/login", &body.to_string(), None)
}

/// Sets up and turns on two-factor login; returns the secret, the recovery
/// codes and the caller's new cookie.
pub(crate) fn turn_on(server: &Server, cookie: &str) -> (Vec<u8>, Vec<String>, String) {
    let setup = server.post(
        "/api/user/totp/setup",
        &json!({ "password": PASSWORD }).to_string(),
        Some(cookie),
    );
    assert_eq!(setup.status, 200, "{}", setup.text());
    let secret = base32_decode(setup.json()["data"]["secret"].as_str().unwrap());
    let enable = server.post(
        "/api/user/totp/enable",
        &json!({ "code": code(&secret, 0) }).to_string(),
        Some(cookie),
    );
    assert_eq!(enable.status, 200, "{}", enable.text());
    let codes = enable.json()["data"]["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (secret, codes, enable.session_cookie().unwrap())
}

#[test]
fn set_up_enable_log_in_with_codes_and_recovery_codes_then_disable() {
    let server = Server::start_with(&[("TOTP_ISSUER", "My Site")]);
    let cookie = server.signed_in_user("alice");
    let elsewhere = server.login("alice", PASSWORD);

    let wrong = server.post(
        "/api/user/totp/setup",
        &json!({ "password": "not the password" }).to_string(),
        Some(&cookie),
    );
    assert_eq!(wrong.code(), "invalid_credentials");

    let setup = server.post(
        "/api/user/totp/setup",
        &json!({ "password": PASSWORD }).to_string(),
        Some(&cookie),
    );
    let data = &setup.json()["data"];
    let secret_text = data["secret"].as_str().unwrap();
    assert_eq!(secret_text.len(), 32, "160 bits of base32, no padding");
    assert_eq!(
        data["otpauth_uri"],
        format!(
            "otpauth://totp/My%20Site:alice?secret={secret_text}&issuer=My%20Site&algorithm=SHA1&digits=6&period=30"
        )
    );
    assert!(data["qr_svg"].as_str().unwrap().contains("<svg"));
    let secret = base32_decode(secret_text);

    let bad = server.post(
        "/api/user/totp/enable",
        &json!({ "code": "000000" }).to_string(),
        Some(&cookie),
    );
    assert_eq!((bad.status, bad.code().as_str()), (400, "invalid_code"));
    let enabled = server.post(
        "/api/user/totp/enable",
        &json!({ "code": code(&secret, 0) }).to_string(),
        Some(&cookie),
    );
    assert_eq!(enabled.status, 200, "{}", enabled.text());
    let codes: Vec<String> = enabled.json()["data"]["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 10);
    let cookie = enabled
        .session_cookie()
        .expect("the caller keeps a new token");
    assert_eq!(
        server.get("/api/user", Some(&elsewhere)).status,
        401,
        "others end"
    );
    let me = server.get("/api/user", Some(&cookie)).json();
    assert_eq!(me["data"]["user"]["totp_enabled"], true);
    let again = server.post(
        "/api/user/totp/setup",
        &json!({ "password": PASSWORD }).to_string(),
        Some(&cookie),
    );
    assert_eq!(again.code(), "totp_already_enabled");

    assert_eq!(login(&server, "alice", json!({})).code(), "totp_required");
    assert_eq!(
        login(&server, "alice", json!({ "totp_code": "123456" })).code(),
        "invalid_totp"
    );
    // The enabling code's step is used; the next step's code signs in once.
    let next = code(&secret, 1);
    let ok = login(&server, "alice", json!({ "totp_code": next }));
    assert_eq!(ok.status, 200, "{}", ok.text());
    let by_code = ok.session_cookie().unwrap();
    assert_eq!(
        login(&server, "alice", json!({ "totp_code": next })).code(),
        "invalid_totp",
        "never twice"
    );
    assert_eq!(
        login(&server, "alice", json!({ "totp_code": code(&secret, -1) })).code(),
        "invalid_totp",
        "nor an older step"
    );

    let recovered = login(&server, "alice", json!({ "recovery_code": codes[0] }));
    assert_eq!(recovered.status, 200, "{}", recovered.text());
    assert_eq!(recovered.json()["data"]["recovery_codes_left"], 9);
    assert_eq!(
        server.get("/api/user", Some(&by_code)).status,
        401,
        "a recovery code ends the other sessions"
    );
    assert_eq!(
        login(&server, "alice", json!({ "recovery_code": codes[0] })).code(),
        "invalid_totp",
        "used up"
    );
    let recovered_cookie = recovered.session_cookie().unwrap();

    let disabled = server.post(
        "/api/user/totp/disable",
        &json!({ "password": PASSWORD, "code": codes[1].to_uppercase() }).to_string(),
        Some(&recovered_cookie),
    );
    assert_eq!(disabled.status, 200, "{}", disabled.text());
    assert_eq!(login(&server, "alice", json!({})).status, 200);
}

#[test]
fn wrong_codes_count_as_failed_logins() {
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    let (secret, _, _) = turn_on(&server, &cookie);
    for _ in 0..5 {
        assert_eq!(
            login(&server, "alice", json!({ "totp_code": "000000" })).status,
            401
        );
    }
    let locked = login(&server, "alice", json!({ "totp_code": code(&secret, 1) }));
    assert_eq!(locked.status, 429, "{}", locked.text());
}

#[test]
fn a_code_less_login_between_wrong_codes_clears_nothing() {
    // Four wrong codes, a login with the right password and no code,
    // repeat: that must not go on for ever.
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    let (secret, _, _) = turn_on(&server, &cookie);
    for _ in 0..4 {
        let wrong = login(&server, "alice", json!({ "totp_code": "000000" }));
        assert_eq!(wrong.code(), "invalid_totp");
    }
    assert_eq!(login(&server, "alice", json!({})).code(), "totp_required");
    let fifth = login(&server, "alice", json!({ "totp_code": "000000" }));
    assert_eq!(fifth.code(), "invalid_totp");
    let locked = login(&server, "alice", json!({ "totp_code": code(&secret, 0) }));
    assert_eq!(locked.status, 429, "{}", locked.text());
    // The wait is in the body as well as the header.
    let header: u64 = locked.header("Retry-After").unwrap().parse().unwrap();
    assert_eq!(locked.json()["error"]["retry_after"], json!(header));
}

#[test]
fn wrong_codes_sent_to_turn_it_off_count_as_failed_logins() {
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    let (secret, _, cookie) = turn_on(&server, &cookie);
    let disable = |code: &str| {
        let body = json!({ "password": PASSWORD, "code": code });
        server.post("/api/user/totp/disable", &body.to_string(), Some(&cookie))
    };
    for _ in 0..5 {
        assert_eq!(disable("000000").code(), "invalid_totp");
    }
    let locked = disable(&code(&secret, 0));
    assert_eq!(locked.status, 429, "{}", locked.text());
}

#[test]
fn the_admin_command_turns_it_off_for_a_lost_device() {
    let server = Server::start();
    let cookie = server.signed_in_user("bob");
    let (_, _, cookie_after) = turn_on(&server, &cookie);
    let (status, out, _) = admin(&server.dir, &["totp-reset", "bob"], "");
    assert_eq!(status, Some(0), "{out}");
    assert_eq!(server.get("/api/user", Some(&cookie_after)).status, 401);
    let plain = login(&server, "bob", json!({}));
    assert_eq!(plain.status, 200);
    assert_eq!(plain.json()["data"]["user"]["totp_enabled"], false);
}

#[test]
fn the_secret_never_appears_in_the_log() {
    let server = Server::start();
    let cookie = server.signed_in_user("carol");
    let setup = server.post(
        "/api/user/totp/setup",
        &json!({ "password": PASSWORD }).to_string(),
        Some(&cookie),
    );
    let secret = setup.json()["data"]["secret"].as_str().unwrap().to_string();
    assert!(!server.log_text().contains(&secret));
}

#[test]
fn a_reset_password_still_asks_for_the_second_factor() {
    // A reset link proves the mailbox, not the authenticator: the new
    // password alone must not sign in an account with two-factor login on.
    let server = Server::start();
    let cookie = server.signed_in_user("alice");
    let (secret, _, _) = turn_on(&server, &cookie);
    let (status, token, err) = admin(&server.dir, &["reset-link", "alice"], "");
    assert_eq!(status, Some(0), "{err}");
    let reset = server.post(
        "/api/password/reset",
        &json!({ "token": token.trim(), "new_password": "a brand new passphrase" }).to_string(),
        None,
    );
    assert_eq!(reset.status, 200, "{}", reset.text());
    assert!(reset.session_cookie().is_none(), "a reset opens no session");
    let no_code = server.post(
        "/api/login",
        &json!({ "username": "alice", "password": "a brand new passphrase" }).to_string(),
        None,
    );
    assert_eq!(no_code.code(), "totp_required");
    let with_code = server.post(
        "/api/login",
        &json!({ "username": "alice", "password": "a brand new passphrase", "totp_code": code(&secret, 1) })
            .to_string(),
        None,
    );
    assert_eq!(with_code.status, 200, "{}", with_code.text());
}
