//! Passkeys against the real binary, with the software authenticator of
//! `tests/authenticator/`. Each test changes one thing a real attacker
//! could (the origin, the relying party, a flag, a signature byte, the
//! counter, whose credential it is) and checks that exactly that is
//! refused.

use crate::authenticator;
use crate::common;

use authenticator::{Alg, Authenticator, ORIGIN};
use common::{PASSWORD, Reply, Server, admin};
use serde_json::{Value, json};

use auth_core::support::base64::{decode_url, encode_url};

fn start() -> Server {
    Server::start_with(&[("PASSKEY_ORIGINS", ORIGIN)])
}

fn post(server: &Server, path: &str, body: Value, cookie: Option<&str>) -> Reply {
    server.post(path, &body.to_string(), cookie)
}

/// Adds `device`'s passkey to the signed-in account.
fn add(server: &Server, cookie: &str, device: &mut Authenticator) -> Reply {
    let options = post(
        server,
        "/api/user/passkeys/options",
        json!({}),
        Some(cookie),
    );
    assert_eq!(options.status, 200, "{}", options.text());
    let credential = device.create(&options.json());
    post(
        server,
        "/api/user/passkeys",
        json!({ "credential": credential, "name": "Laptop" }),
        Some(cookie),
    )
}

/// Sign-in options, and the ticket cookie that holds their challenge.
fn sign_in_options(server: &Server) -> (Value, String) {
    let options = post(server, "/api/login/passkey/options", json!({}), None);
    assert_eq!(options.status, 200, "{}", options.text());
    let ticket = options.ticket_cookie().expect("a ticket cookie");
    (options.json(), ticket)
}

/// The sign-in step with `credential`, sending `ticket` (if any).
fn sign_in_with(server: &Server, credential: Value, ticket: Option<&str>) -> Reply {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(ticket) = ticket {
        headers.push(("Cookie", ticket));
    }
    let body = json!({ "credential": credential }).to_string();
    server.request("POST", "/api/login/passkey", &headers, &body)
}

fn sign_in(server: &Server, device: &mut Authenticator) -> Reply {
    let (options, ticket) = sign_in_options(server);
    sign_in_with(server, device.get(&options), Some(&ticket))
}

#[test]
fn each_algorithm_registers_and_signs_in_as_a_second_factor() {
    let server = start();
    for (n, alg) in [Alg::Es256, Alg::EdDsa, Alg::Rs256].into_iter().enumerate() {
        let name = format!("user{n}");
        let cookie = server.signed_in_user(&name);
        let mut device = Authenticator::new(alg, n as u8 + 1);
        let added = add(&server, &cookie, &mut device);
        assert_eq!(added.status, 201, "{alg:?}: {}", added.text());
        let passkey = &added.json()["data"]["passkey"];
        assert_eq!(passkey["id"], encode_url(&device.credential_id));
        assert_eq!(passkey["name"], "Laptop");
        assert_eq!(passkey["last_used_at"], Value::Null);
        assert_eq!(passkey["backed_up"], false);

        let signed_in = sign_in(&server, &mut device);
        assert_eq!(signed_in.status, 200, "{alg:?}: {}", signed_in.text());
        assert_eq!(signed_in.json()["data"]["user"]["username"], name);
        let new_cookie = signed_in.session_cookie().expect("a session cookie");
        let me = server.get("/api/user", Some(&new_cookie));
        assert_eq!(me.json()["data"]["user"]["username"], name);
        let sessions = server.get("/api/sessions", Some(&new_cookie)).json();
        let current = sessions["data"]["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["current"] == true)
            .unwrap()
            .clone();
        assert_eq!(current["opened_with"], "passkey", "{current}");

        let listed = server.get("/api/user/passkeys", Some(&new_cookie)).json();
        assert_eq!(listed["data"]["passkeys"][0]["id"], passkey["id"]);
        assert!(listed["data"]["passkeys"][0]["last_used_at"].is_string());
    }
    assert!(server.log_shows("passkey_added") && server.log_shows("passkey_login"));
}

#[test]
fn the_options_follow_the_contract_and_name_no_account() {
    let server = start();
    let cookie = server.signed_in_user("alice");
    let options = post(
        &server,
        "/api/user/passkeys/options",
        json!({}),
        Some(&cookie),
    )
    .json();
    let public_key = &options["data"]["publicKey"];
    assert_eq!(
        decode_url(public_key["challenge"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );
    assert_eq!(
        public_key["rp"],
        json!({ "id": "localhost", "name": "auth-server" })
    );
    assert_eq!(public_key["user"]["name"], "alice");
    assert_eq!(public_key["user"]["displayName"], "alice");
    let handle = public_key["user"]["id"].clone();
    assert_eq!(decode_url(handle.as_str().unwrap()).unwrap().len(), 32);
    let algs: Vec<i64> = public_key["pubKeyCredParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["alg"].as_i64().unwrap())
        .collect();
    assert_eq!(algs, [-7, -8, -257]);
    assert_eq!(
        public_key["authenticatorSelection"]["residentKey"],
        "required"
    );
    assert_eq!(
        public_key["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(public_key["attestation"], "none");
    assert_eq!(public_key["timeout"], 300000);
    assert_eq!(public_key["excludeCredentials"], json!([]));

    // The handle stays; the account's passkeys are excluded once added.
    let mut device = Authenticator::new(Alg::Es256, 7);
    assert_eq!(add(&server, &cookie, &mut device).status, 201);
    let again = post(
        &server,
        "/api/user/passkeys/options",
        json!({}),
        Some(&cookie),
    )
    .json();
    assert_eq!(again["data"]["publicKey"]["user"]["id"], handle);
    assert_eq!(
        again["data"]["publicKey"]["excludeCredentials"],
        json!([{ "type": "public-key", "id": encode_url(&device.credential_id) }])
    );

    // Signing in: the same answer for any name, known or not.
    let shape = |body: Value| {
        let mut answer = post(&server, "/api/login/passkey/options", body, None).json();
        assert!(answer["data"]["publicKey"]["challenge"].is_string());
        answer["data"]["publicKey"]["challenge"] = json!("-");
        answer
    };
    let known = shape(json!({ "username": "alice" }));
    assert_eq!(known, shape(json!({ "username": "nobody" })));
    assert_eq!(known, shape(json!({})));
    assert_eq!(known["data"]["publicKey"]["allowCredentials"], json!([]));
    assert_eq!(known["data"]["publicKey"]["userVerification"], "required");
    assert_eq!(known["data"]["publicKey"]["rpId"], "localhost");

    let signed_out = post(&server, "/api/user/passkeys/options", json!({}), None);
    assert_eq!(signed_out.status, 401);
}

/// Registration: each broken check is a 400 `invalid_passkey` that says
/// which, and stores nothing.
#[test]
fn a_registration_that_fails_a_check_says_which_and_stores_nothing() {
    let server = start();
    let cookie = server.signed_in_user("alice");
    let other = server.signed_in_user("bob");

    let refused = |device: &mut Authenticator, tamper: &dyn Fn(&mut Value), cookie: &str| {
        let options = post(
            &server,
            "/api/user/passkeys/options",
            json!({}),
            Some(cookie),
        );
        let mut credential = device.create(&options.json());
        tamper(&mut credential);
        let answer = post(
            &server,
            "/api/user/passkeys",
            json!({ "credential": credential }),
            Some(cookie),
        );
        assert_eq!(answer.status, 400, "{}", answer.text());
        assert_eq!(answer.code(), "invalid_passkey");
        answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let unchanged = |_: &mut Value| {};

    let mut phished = Authenticator::new(Alg::Es256, 1);
    phished.origin = "https://evil.example".into();
    assert!(refused(&mut phished, &unchanged, &cookie).contains("PASSKEY_ORIGINS"));

    let mut wrong_rp = Authenticator::new(Alg::Es256, 1);
    wrong_rp.rp_id = "evil.example".into();
    assert!(refused(&mut wrong_rp, &unchanged, &cookie).contains("relying party"));

    let mut no_uv = Authenticator::new(Alg::Es256, 1);
    no_uv.flags = 0x01;
    assert!(refused(&mut no_uv, &unchanged, &cookie).contains("verify the user"));

    let mut no_up = Authenticator::new(Alg::Es256, 1);
    no_up.flags = 0x04;
    assert!(refused(&mut no_up, &unchanged, &cookie).contains("present"));

    // A challenge issued to another session.
    let options = post(
        &server,
        "/api/user/passkeys/options",
        json!({}),
        Some(&other),
    );
    let mut stolen = Authenticator::new(Alg::Es256, 1);
    let credential = stolen.create(&options.json());
    let answer = post(
        &server,
        "/api/user/passkeys",
        json!({ "credential": credential }),
        Some(&cookie),
    );
    assert_eq!(answer.code(), "invalid_passkey");
    assert!(answer.text().contains("challenge"));

    // The wrong ceremony type, and a credential id that is not the signed one.
    let mut device = Authenticator::new(Alg::Es256, 1);
    let as_get = |credential: &mut Value| {
        let data = decode_url(credential["response"]["clientDataJSON"].as_str().unwrap()).unwrap();
        let text = String::from_utf8(data)
            .unwrap()
            .replace("webauthn.create", "webauthn.get");
        credential["response"]["clientDataJSON"] = json!(encode_url(text.as_bytes()));
    };
    assert!(refused(&mut device, &as_get, &cookie).contains("type"));
    let other_id = |credential: &mut Value| {
        credential["id"] = json!(encode_url(&[9; 20]));
        credential["rawId"] = json!(encode_url(&[9; 20]));
    };
    assert!(refused(&mut device, &other_id, &cookie).contains("credential id"));

    let listed = server.get("/api/user/passkeys", Some(&cookie)).json();
    assert_eq!(listed["data"]["passkeys"], json!([]), "nothing stored");

    // A challenge is used once.
    let options = post(
        &server,
        "/api/user/passkeys/options",
        json!({}),
        Some(&cookie),
    );
    let credential = device.create(&options.json());
    let body = json!({ "credential": credential });
    assert_eq!(
        post(&server, "/api/user/passkeys", body.clone(), Some(&cookie)).status,
        201
    );
    let replay = post(&server, "/api/user/passkeys", body, Some(&cookie));
    assert!(replay.text().contains("challenge"), "{}", replay.text());

    // One credential id belongs to one account.
    let answer = add(&server, &other, &mut device);
    assert_eq!(answer.code(), "invalid_passkey");
    assert!(answer.text().contains("registered already"));

    // Not JSON of a credential at all.
    let answer = post(
        &server,
        "/api/user/passkeys",
        json!({ "credential": { "id": 5 } }),
        Some(&cookie),
    );
    assert_eq!(answer.code(), "invalid_passkey");
    let answer = post(
        &server,
        "/api/user/passkeys",
        json!({ "credential": "x" }),
        Some(&cookie),
    );
    assert_eq!(answer.code(), "validation_error");
}

/// Sign-in: every broken check is the same 401 `invalid_passkey`, counted
/// like a wrong password; no session opens.
#[test]
fn a_sign_in_that_fails_a_check_is_one_401_and_opens_nothing() {
    let server = start();
    let cookie = server.signed_in_user("alice");
    let mut device = Authenticator::new(Alg::Es256, 1);
    assert_eq!(add(&server, &cookie, &mut device).status, 201);

    let refused = |answer: Reply| {
        assert_eq!(answer.status, 401, "{}", answer.text());
        assert_eq!(answer.code(), "invalid_passkey");
        assert!(answer.session_cookie().is_none());
    };
    // Each attempt with the ticket of fresh options, as a browser would.
    let try_signing = |device: &mut Authenticator, change: &dyn Fn(&mut Value)| {
        let (mut options, ticket) = sign_in_options(&server);
        change(&mut options);
        sign_in_with(&server, device.get(&options), Some(&ticket))
    };
    let as_is = |_: &mut Value| {};

    // Replayed: the same response (and ticket) twice.
    let (options, ticket) = sign_in_options(&server);
    let credential = device.get(&options);
    assert_eq!(
        sign_in_with(&server, credential.clone(), Some(&ticket)).status,
        200
    );
    refused(sign_in_with(&server, credential, Some(&ticket)));

    // Wrong origin, wrong RP id, no user verification.
    device.origin = "https://evil.example".into();
    refused(try_signing(&mut device, &as_is));
    device.origin = ORIGIN.into();
    device.rp_id = "evil.example".into();
    refused(try_signing(&mut device, &as_is));
    device.rp_id = "localhost".into();
    device.flags = 0x01;
    refused(try_signing(&mut device, &as_is));
    device.flags = 0x05;

    // A tampered signature.
    let (options, ticket) = sign_in_options(&server);
    let mut credential = device.get(&options);
    let mut signature = decode_url(credential["response"]["signature"].as_str().unwrap()).unwrap();
    let last = signature.len() - 1;
    signature[last] ^= 1;
    credential["response"]["signature"] = json!(encode_url(&signature));
    refused(sign_in_with(&server, credential, Some(&ticket)));

    // A challenge made up, and one issued for adding a passkey.
    refused(try_signing(&mut device, &|options| {
        options["data"]["publicKey"]["challenge"] = json!(encode_url(&[7; 32]));
    }));
    let registration = post(
        &server,
        "/api/user/passkeys/options",
        json!({}),
        Some(&cookie),
    );
    let (_, ticket) = sign_in_options(&server);
    refused(sign_in_with(
        &server,
        device.get(&registration.json()),
        Some(&ticket),
    ));

    // Another browser's ticket, and none at all.
    let (options, _) = sign_in_options(&server);
    let (_, other_ticket) = sign_in_options(&server);
    refused(sign_in_with(
        &server,
        device.get(&options),
        Some(&other_ticket),
    ));
    let (options, _) = sign_in_options(&server);
    refused(sign_in_with(&server, device.get(&options), None));

    // Another account's handle with this credential.
    let (options, ticket) = sign_in_options(&server);
    let mut credential = device.get(&options);
    credential["response"]["userHandle"] = json!(encode_url(&[1; 32]));
    refused(sign_in_with(&server, credential, Some(&ticket)));

    // Still good after all that.
    assert_eq!(sign_in(&server, &mut device).status, 200);
    assert!(server.log_shows("passkey_failed"));
}

#[test]
fn a_counter_that_goes_back_is_refused_and_recorded() {
    let server = start();
    let cookie = server.signed_in_user("alice");
    let mut device = Authenticator::new(Alg::EdDsa, 3);
    assert_eq!(add(&server, &cookie, &mut device).status, 201);
    device.counter = 10;
    assert_eq!(sign_in(&server, &mut device).status, 200);
    // A clone still at 5.
    let mut clone = Authenticator::new(Alg::EdDsa, 3);
    clone.user_handle = device.user_handle.clone();
    clone.counter = 5;
    let answer = sign_in(&server, &mut clone);
    assert_eq!(answer.code(), "invalid_passkey");
    assert!(server.log_shows("passkey_counter_regressed"));
    // The real one goes on.
    assert_eq!(sign_in(&server, &mut device).status, 200);
}

#[test]
fn failed_passkey_sign_ins_are_throttled_per_address() {
    let server = Server::start_with(&[("PASSKEY_ORIGINS", ORIGIN), ("LOGIN_FAILURES_PER_IP", "3")]);
    let mut stranger = Authenticator::new(Alg::Es256, 4);
    stranger.user_handle = vec![4; 32];
    for _ in 0..3 {
        assert_eq!(sign_in(&server, &mut stranger).code(), "invalid_passkey");
    }
    let answer = sign_in(&server, &mut stranger);
    assert_eq!(answer.status, 429, "{}", answer.text());
    assert!(answer.header("retry-after").is_some());
}

#[test]
fn passkeys_are_renamed_removed_and_go_with_the_account() {
    let server = start();
    let cookie = server.signed_in_user("alice");
    let bob = server.signed_in_user("bob");
    let mut device = Authenticator::new(Alg::Es256, 5);
    assert_eq!(add(&server, &cookie, &mut device).status, 201);
    let id = encode_url(&device.credential_id);
    let path = format!("/api/user/passkeys/{id}");

    let renamed = server.request(
        "PATCH",
        &path,
        &[("Cookie", &cookie), ("Content-Type", "application/json")],
        &json!({ "name": "  Phone " }).to_string(),
    );
    assert_eq!(renamed.status, 200, "{}", renamed.text());
    assert_eq!(renamed.json()["data"]["passkey"]["name"], "Phone");
    let too_long = server.request(
        "PATCH",
        &path,
        &[("Cookie", &cookie), ("Content-Type", "application/json")],
        &json!({ "name": "x".repeat(65) }).to_string(),
    );
    assert_eq!(too_long.code(), "validation_error");

    // Another account's passkey is not there for bob.
    for (method, body) in [
        ("PATCH", json!({ "name": "mine" }).to_string()),
        ("DELETE", String::new()),
    ] {
        let answer = server.request(
            method,
            &path,
            &[("Cookie", &bob), ("Content-Type", "application/json")],
            &body,
        );
        assert_eq!(answer.status, 404, "{method}");
    }
    let removed = server.request("DELETE", &path, &[("Cookie", &cookie)], "");
    assert_eq!(removed.status, 200);
    assert_eq!(
        server
            .request("DELETE", &path, &[("Cookie", &cookie)], "")
            .status,
        404
    );
    assert_eq!(sign_in(&server, &mut device).code(), "invalid_passkey");
    assert!(server.log_shows("passkey_removed"));

    // Deleting the account deletes its passkeys: the id is free again.
    let mut device = Authenticator::new(Alg::Es256, 6);
    assert_eq!(add(&server, &cookie, &mut device).status, 201);
    let deleted = server.request(
        "DELETE",
        "/api/user",
        &[("Cookie", &cookie), ("Content-Type", "application/json")],
        &json!({ "password": PASSWORD }).to_string(),
    );
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(sign_in(&server, &mut device).code(), "invalid_passkey");
    assert_eq!(add(&server, &bob, &mut device).status, 201);
}

#[test]
fn the_admin_command_lists_and_removes_passkeys_and_disable_stops_them() {
    let server = start();
    let cookie = server.signed_in_user("alice");
    let mut device = Authenticator::new(Alg::Rs256, 8);
    assert_eq!(add(&server, &cookie, &mut device).status, 201);
    let id = encode_url(&device.credential_id);

    let (code, out, _) = admin(&server.dir, &["passkeys", "alice"], "");
    assert_eq!(code, Some(0));
    assert!(out.contains(&id) && out.contains("Laptop"), "{out}");

    let (code, _, _) = admin(&server.dir, &["disable", "alice"], "");
    assert_eq!(code, Some(0));
    assert_eq!(sign_in(&server, &mut device).code(), "invalid_passkey");
    let (code, _, _) = admin(&server.dir, &["enable", "alice"], "");
    assert_eq!(code, Some(0));
    assert_eq!(sign_in(&server, &mut device).status, 200);

    let (code, _, err) = admin(&server.dir, &["passkey-remove", "alice", "nope"], "");
    assert_eq!(code, Some(1), "{err}");
    let (code, out, _) = admin(&server.dir, &["passkey-remove", "alice", &id], "");
    assert_eq!(code, Some(0));
    assert!(out.contains("removed"));
    assert_eq!(sign_in(&server, &mut device).code(), "invalid_passkey");
}

#[test]
fn a_passkey_session_satisfies_two_factor_login_and_rules() {
    let dir = common::temp_dir();
    let rules = dir.join("rules");
    std::fs::write(&rules, "secure.example.com two_factor\n").unwrap();
    let server = Server::start_in(
        dir,
        &[
            ("PASSKEY_ORIGINS", ORIGIN),
            ("PASSKEY_RP_ID", "localhost"),
            ("FORWARD_AUTH_HOSTS", "secure.example.com"),
            ("PUBLIC_URL", "https://auth.example.com"),
            ("ACCESS_RULES_FILE", rules.to_str().unwrap()),
        ],
    );
    let cookie = server.signed_in_user("alice");
    let mut device = Authenticator::new(Alg::Es256, 9);
    assert_eq!(add(&server, &cookie, &mut device).status, 201);
    let forward = |cookie: &str| {
        server
            .request(
                "GET",
                "/api/auth/forward",
                &[
                    ("Cookie", cookie),
                    ("X-Forwarded-Host", "secure.example.com"),
                    ("X-Forwarded-Uri", "/"),
                    ("X-Forwarded-Proto", "https"),
                    ("Accept", "application/json"),
                ],
                "",
            )
            .status
    };
    assert_eq!(
        forward(&cookie),
        403,
        "a password session lacks the second factor"
    );
    let passkey_cookie = sign_in(&server, &mut device).session_cookie().unwrap();
    assert_eq!(forward(&passkey_cookie), 200);
}

#[test]
fn adding_a_passkey_wants_a_recent_proof_and_a_wrong_one_counts() {
    let server = Server::start_with(&[("PASSKEY_ORIGINS", ORIGIN), ("REAUTH_SECS", "3")]);
    let cookie = server.signed_in_user("alice");
    // The sign-in itself is a fresh proof.
    let mut first = Authenticator::new(Alg::Es256, 1);
    assert_eq!(add(&server, &cookie, &mut first).status, 201);

    // Options taken while fresh, the credential sent once the proof is old:
    // the second step checks too.
    let options = post(
        &server,
        "/api/user/passkeys/options",
        json!({}),
        Some(&cookie),
    );
    assert_eq!(options.status, 200);
    let mut second = Authenticator::new(Alg::EdDsa, 2);
    let credential = second.create(&options.json());
    std::thread::sleep(std::time::Duration::from_millis(4_100));
    let late = post(
        &server,
        "/api/user/passkeys",
        json!({ "credential": credential }),
        Some(&cookie),
    );
    assert_eq!(late.status, 403, "{}", late.text());
    assert_eq!(late.code(), "reauthentication_required");
    let stale = post(
        &server,
        "/api/user/passkeys/options",
        json!({}),
        Some(&cookie),
    );
    assert_eq!(stale.code(), "reauthentication_required");
    // The session still works for everything else.
    assert_eq!(server.get("/api/user", Some(&cookie)).status, 200);

    // A wrong proof is a failed login; a code needs two-factor login.
    let reauth = |body: Value| post(&server, "/api/user/reauth", body, Some(&cookie));
    let wrong = reauth(json!({ "password": "not the password" }));
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.code(), "invalid_credentials");
    let (_, events, _) = admin(&server.dir, &["events", "--user", "alice"], "");
    assert!(events.contains("\tlogin_failed\t"), "{events}");
    assert_eq!(
        reauth(json!({ "code": "123456" })).code(),
        "totp_not_enabled"
    );
    assert_eq!(reauth(json!({})).status, 400);
    assert_eq!(
        reauth(json!({ "password": PASSWORD, "code": "123456" })).status,
        400
    );
    let signed_out = post(
        &server,
        "/api/user/reauth",
        json!({ "password": PASSWORD }),
        None,
    );
    assert_eq!(signed_out.status, 401, "no session, nothing to prove");

    let proved = reauth(json!({ "password": PASSWORD }));
    assert_eq!(proved.status, 200, "{}", proved.text());
    assert!(proved.json()["data"]["fresh_until"].is_string());
    // The proof moved the session to a new token; the old one is over.
    let renewed = proved.session_cookie().unwrap();
    assert_eq!(server.get("/api/user", Some(&cookie)).status, 401);
    assert_eq!(add(&server, &renewed, &mut second).status, 201);
    // The proof is in the stored copy too: a restart keeps it.
    let db = rusqlite::Connection::open(server.dir.join("auth.db")).unwrap();
    let (created, proved_at): (i64, i64) = db
        .query_row(
            "SELECT created_at, proved_at FROM sessions ORDER BY proved_at DESC LIMIT 1",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert!(proved_at >= created + 4, "{created} {proved_at}");
}

#[test]
fn a_new_password_leaves_passkeys_and_the_admin_removes_them_all() {
    let server = start();
    let cookie = server.signed_in_user("alice");
    let mut laptop = Authenticator::new(Alg::Es256, 3);
    let mut phone = Authenticator::new(Alg::EdDsa, 4);
    assert_eq!(add(&server, &cookie, &mut laptop).status, 201);
    assert_eq!(add(&server, &cookie, &mut phone).status, 201);
    let (code, _, err) = admin(
        &server.dir,
        &["set-password", "alice"],
        "another long passphrase\n",
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(sign_in(&server, &mut laptop).status, 200, "passkeys stay");
    let (code, out, err) = admin(&server.dir, &["passkey-remove", "alice", "--all"], "");
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("2 passkeys removed"), "{out}");
    assert_eq!(sign_in(&server, &mut laptop).code(), "invalid_passkey");
    assert_eq!(sign_in(&server, &mut phone).code(), "invalid_passkey");
    let (_, events, _) = admin(&server.dir, &["events", "--user", "alice"], "");
    assert_eq!(events.matches("\tpasskey_removed\t").count(), 2, "{events}");
}

#[test]
fn a_public_key_that_proves_nothing_is_refused_at_registration() {
    let server = start();
    let cookie = server.signed_in_user("alice");
    let mut small_exponent = Authenticator::new(Alg::Rs256, 5);
    small_exponent.cose_key_instead = Some(small_exponent.rsa_key_with_exponent(&[3]));
    let mut identity_point = [0u8; 32];
    identity_point[0] = 1;
    let mut small_order = Authenticator::new(Alg::EdDsa, 6);
    small_order.cose_key_instead = Some(Authenticator::ed25519_key(&identity_point));
    for device in [&mut small_exponent, &mut small_order] {
        let refused = add(&server, &cookie, device);
        assert_eq!(refused.status, 400, "{}", refused.text());
        assert_eq!(refused.code(), "invalid_passkey");
        assert!(refused.text().contains("too weak"), "{}", refused.text());
    }
    let listed = server.get("/api/user/passkeys", Some(&cookie)).json();
    assert_eq!(listed["data"]["passkeys"], json!([]));
}

#[test]
fn adding_and_removing_a_passkey_sends_security_notices() {
    let dir = common::temp_dir();
    let mailbox = dir.join("mailbox");
    let command = format!("cat >> {}", mailbox.display());
    let server = Server::start_in(
        dir,
        &[
            ("PASSKEY_ORIGINS", ORIGIN),
            ("PASSKEY_RP_ID", "localhost"),
            ("MAIL_COMMAND", &command),
            ("PUBLIC_URL", "http://localhost:3000"),
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ],
    );
    let cookie = server.signed_in_user("alice");
    let mut device = Authenticator::new(Alg::Es256, 7);
    assert_eq!(add(&server, &cookie, &mut device).status, 201);
    let id = encode_url(&device.credential_id);
    let removed = server.request(
        "DELETE",
        &format!("/api/user/passkeys/{id}"),
        &[("Cookie", &cookie)],
        "",
    );
    assert_eq!(removed.status, 200, "{}", removed.text());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let mail = std::fs::read_to_string(&mailbox).unwrap_or_default();
        if mail.contains("A passkey (\"Laptop\") was removed") {
            assert!(mail.contains("A passkey (\"Laptop\") was added"), "{mail}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no notices in:\n{mail}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_sign_in_begun_before_a_flood_of_options_completes() {
    let server = start();
    let cookie = server.signed_in_user("alice");
    let mut device = Authenticator::new(Alg::Es256, 9);
    assert_eq!(add(&server, &cookie, &mut device).status, 201);
    let (options, ticket) = sign_in_options(&server);

    // 2,001 source addresses asking five times each.
    let mut answered = [0usize; 2];
    for n in 0..2001u32 {
        let source = format!("127.{}.{}.{}", 1 + n / 65_536 % 250, n / 256 % 256, n % 256);
        for _ in 0..5 {
            let mut stream = common::connect_from(&source, server.addr);
            let body = "{}";
            let request = format!(
                "POST /api/login/passkey/options HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
            let reply = common::read_reply(&mut stream, false).expect("an answer");
            match reply.status {
                200 => answered[0] += 1,
                429 => answered[1] += 1,
                other => panic!("{other}: {}", reply.text()),
            }
        }
    }
    assert!(
        answered[1] > 0,
        "a network asking that often is throttled: {answered:?}"
    );

    let signed_in = sign_in_with(&server, device.get(&options), Some(&ticket));
    assert_eq!(signed_in.status, 200, "{}", signed_in.text());
}

#[test]
fn one_network_asking_for_sign_in_options_too_often_is_throttled() {
    let server = start();
    let ask = |source: &str| {
        let mut stream = common::connect_from(source, server.addr);
        let request = "POST /api/login/passkey/options HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\
                       Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        std::io::Write::write_all(&mut stream, request.as_bytes()).unwrap();
        common::read_reply(&mut stream, false).expect("an answer")
    };
    // Sixty from one /24, spread over its addresses, then the next is 429.
    for n in 0..60 {
        assert_eq!(
            ask(&format!("127.0.9.{}", n + 1)).status,
            200,
            "request {n}"
        );
    }
    let refused = ask("127.0.9.200");
    assert_eq!(refused.status, 429);
    assert!(refused.header("Retry-After").is_some());
    // Another network is not held back by it.
    assert_eq!(ask("127.0.10.1").status, 200);
}
