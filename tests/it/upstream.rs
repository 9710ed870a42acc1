//! Signing in through an upstream OpenID provider: a second auth-server
//! is the provider (its own OpenID provider, the real binary), and the test
//! is the browser between the two, carrying each one's cookies.

use std::collections::BTreeMap;

use crate::common::{self, PASSWORD, Reply, Server, free_port, totp_code};
use auth_core::support::form;

/// The provider (`idp`), the server people sign in to (`rp`), and the
/// client the rp is at the idp.
struct Pair {
    idp: Server,
    rp: Server,
    rp_url: String,
    idp_url: String,
}

fn start_at(port: u16, env: &[(&str, &str)]) -> (Server, String) {
    let url = format!("http://127.0.0.1:{port}");
    let port = port.to_string();
    let mut all = vec![("PORT", port.as_str()), ("PUBLIC_URL", url.as_str())];
    all.extend_from_slice(env);
    (Server::start_with(&all), url)
}

/// An idp with the rp registered as an app, and an rp that lists the idp
/// as the upstream `idp` with `options` (`--create-accounts`, …).
fn pair(options: &[&str], rp_env: &[(&str, &str)]) -> Pair {
    let (idp, idp_url) = start_at(free_port(), &[]);
    let rp_port = free_port();
    let rp_url = format!("http://127.0.0.1:{rp_port}");
    let callback = format!("{rp_url}/auth/upstream/idp/callback");
    let idp_env = [("PUBLIC_URL", idp_url.as_str())];
    let (code, out, err) = common::admin_with(
        &idp.dir,
        &idp_env,
        &["oidc-client", "add", "rp", "--redirect-uri", &callback],
        "",
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap()
            .to_string()
    };
    let (rp, _) = start_at(rp_port, rp_env);
    let mut args = vec!["upstream", "add", "idp", "--issuer", &idp_url];
    let client_id = field("client_id");
    args.extend(["--client-id", &client_id, "--label", "Sign in with Example"]);
    args.extend_from_slice(options);
    let rp_admin_env = [("PUBLIC_URL", rp_url.as_str())];
    let (code, out, err) = common::admin_with(
        &rp.dir,
        &rp_admin_env,
        &args,
        &format!("{}\n", field("client_secret")),
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(&callback), "{out}");
    assert!(out.contains("were fetched"), "{out}{err}");
    Pair {
        idp,
        rp,
        rp_url,
        idp_url,
    }
}

/// A person with a verified address at the idp, signed in there.
fn person_at_idp(pair: &Pair, name: &str) -> String {
    assert_eq!(pair.idp.register(name, PASSWORD).status, 201);
    let idp_env = [("PUBLIC_URL", pair.idp_url.as_str())];
    let (code, _, err) = common::admin_with(&pair.idp.dir, &idp_env, &["verify", name], "");
    assert_eq!(code, Some(0), "{err}");
    pair.idp.login(name, PASSWORD)
}

fn query_of(location: &str) -> BTreeMap<String, String> {
    form::parse(location.split_once('?').map_or("", |(_, q)| q)).unwrap()
}

/// Path and query of an absolute URL on `base`.
fn path_on(base: &str, location: &str) -> String {
    location
        .strip_prefix(base)
        .unwrap_or_else(|| panic!("{location} is not on {base}"))
        .to_string()
}

/// The rp's start: the provider's URL and the state cookie.
fn begin(pair: &Pair, query: &str) -> (String, String) {
    let start = pair.rp.get(&format!("/auth/upstream/idp{query}"), None);
    assert_eq!(start.status, 302, "{}", start.text());
    let cookie = start.cookie("upstream_state").expect("a state cookie");
    let set = start.header("Set-Cookie").unwrap();
    assert!(
        set.contains("HttpOnly")
            && set.contains("SameSite=Lax")
            && set.contains("Path=/auth/upstream"),
        "{set}"
    );
    (start.header("Location").unwrap().to_string(), cookie)
}

/// The idp's answer to the authorization request, signed in as `idp_cookie`:
/// the callback URL on the rp (with code, state, iss).
fn authorize_at_idp(pair: &Pair, location: &str, idp_cookie: &str) -> String {
    let asked = query_of(location);
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(asked["response_type"], "code");
    assert!(asked["nonce"].len() >= 43 && asked["state"].len() >= 43);
    let reply = pair
        .idp
        .get(&path_on(&pair.idp_url, location), Some(idp_cookie));
    assert_eq!(reply.status, 302, "{}", reply.text());
    reply.header("Location").unwrap().to_string()
}

fn callback(pair: &Pair, url: &str, cookies: &[&str]) -> Reply {
    let cookie = cookies.join("; ");
    let reply = pair.rp.request(
        "GET",
        &path_on(&pair.rp_url, url),
        &[("Cookie", &cookie)],
        "",
    );
    assert_eq!(reply.status, 302, "{}", reply.text());
    reply
}

/// The whole round: start at the rp, sign in at the idp, back.
fn round(pair: &Pair, idp_cookie: &str, query: &str) -> Reply {
    let (location, state) = begin(pair, query);
    let back = authorize_at_idp(pair, &location, idp_cookie);
    callback(pair, &back, &[&state])
}

/// Connecting the provider from the account page of `account` (a session
/// cookie), signed in at the idp as `idp_cookie`: the callback's answer.
fn connect_from_account(pair: &Pair, account: &str, idp_cookie: &str) -> Reply {
    let started = pair.rp.post("/api/user/upstreams/idp", "", Some(account));
    assert_eq!(started.status, 200, "{}", started.text());
    let state = started.cookie("upstream_state").unwrap();
    let location = started.json()["data"]["location"]
        .as_str()
        .unwrap()
        .to_string();
    let back = authorize_at_idp(pair, &location, idp_cookie);
    callback(pair, &back, &[&state, account])
}

/// How the session behind `cookie` was opened, as its list says.
fn opened_with(server: &Server, cookie: &str) -> String {
    let sessions = server.get("/api/sessions", Some(cookie)).json();
    let list = sessions["data"]["sessions"].as_array().unwrap().clone();
    let current = list
        .iter()
        .find(|s| s["current"] == true)
        .expect("the current session");
    current["opened_with"].as_str().unwrap().to_string()
}

fn refusal_of(reply: &Reply) -> String {
    query_of(reply.header("Location").unwrap())
        .get("upstream_error")
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_first_sign_in_makes_an_account_and_later_ones_find_it() {
    let pair = pair(
        &["--create-accounts"],
        &[("FORWARD_AUTH_HOSTS", "app.example.com")],
    );
    let at_idp = person_at_idp(&pair, "alice");
    // The sign-in page offers the button.
    let buttons = pair.rp.get("/api/upstreams", None).json();
    assert_eq!(
        buttons["data"]["providers"][0]["label"],
        "Sign in with Example"
    );
    let back = round(&pair, &at_idp, "?rd=https%3A%2F%2Fapp.example.com%2Fhome");
    assert_eq!(
        back.header("Location"),
        Some("https://app.example.com/home")
    );
    let cookie = back.session_cookie().expect("a session");
    let me = pair.rp.get("/api/user", Some(&cookie)).json();
    assert_eq!(me["data"]["user"]["username"], "alice");
    assert_eq!(me["data"]["user"]["email"], "alice@example.com");
    assert_eq!(
        me["data"]["user"]["email_verified"], true,
        "the provider said so"
    );
    assert_eq!(me["data"]["user"]["has_password"], false);
    assert_eq!(opened_with(&pair.rp, &cookie), "upstream:idp");
    // No password was made: the account has none to guess.
    let body = serde_json::json!({ "username": "alice", "password": PASSWORD });
    assert_eq!(
        pair.rp.post("/api/login", &body.to_string(), None).status,
        401
    );
    // The second time, the link finds the same account.
    let again = round(&pair, &at_idp, "");
    assert_eq!(
        again.header("Location"),
        Some(format!("{}/account", pair.rp_url).as_str())
    );
    let (_, users, _) = common::admin(&pair.rp.dir, &["users"], "");
    assert_eq!(
        users.lines().filter(|l| l.contains("alice")).count(),
        1,
        "{users}"
    );
    let (_, shown, _) = common::admin(&pair.rp.dir, &["user", "alice"], "");
    assert!(shown.contains("upstream: idp (sub "), "{shown}");
    let (_, events, _) = common::admin(&pair.rp.dir, &["events", "--user", "alice"], "");
    assert!(
        events.contains("upstream_login") && events.contains("registered"),
        "{events}"
    );
}

#[test]
fn without_a_link_or_permission_nothing_is_made() {
    let pair = pair(&[], &[]);
    let at_idp = person_at_idp(&pair, "bob");
    let back = round(&pair, &at_idp, "");
    assert!(
        back.header("Location")
            .unwrap()
            .starts_with(&format!("{}/login?", pair.rp_url))
    );
    assert_eq!(refusal_of(&back), "no_account");
    assert!(back.session_cookie().is_none());
    let (_, users, _) = common::admin(&pair.rp.dir, &["users"], "");
    assert!(!users.contains("bob"), "{users}");
    assert!(pair.rp.log_shows("upstream_failed"));
}

#[test]
fn a_verified_address_links_an_existing_account_and_an_unverified_one_does_not() {
    let pair = pair(&["--link-by-email"], &[]);
    // carol has an account here with a verified address.
    assert_eq!(pair.rp.register("carol", PASSWORD).status, 201);
    let (code, _, err) = common::admin(&pair.rp.dir, &["verify", "carol"], "");
    assert_eq!(code, Some(0), "{err}");
    let at_idp = person_at_idp(&pair, "carol");
    let back = round(&pair, &at_idp, "");
    let cookie = back.session_cookie().expect("linked and signed in");
    assert_eq!(
        pair.rp.get("/api/user", Some(&cookie)).json()["data"]["user"]["username"],
        "carol"
    );
    let (_, events, _) = common::admin(&pair.rp.dir, &["events", "--user", "carol"], "");
    assert!(events.contains("upstream_linked"), "{events}");
    // dave's address at the provider is not verified there: whoever typed
    // it would get dave's account here, so there is no link.
    assert_eq!(pair.rp.register("dave", PASSWORD).status, 201);
    common::admin(&pair.rp.dir, &["verify", "dave"], "");
    assert_eq!(pair.idp.register("dave", PASSWORD).status, 201);
    let unverified = pair.idp.login("dave", PASSWORD);
    let refused = round(&pair, &unverified, "");
    assert!(refused.session_cookie().is_none());
    assert!(["no_account", "email_unverified"].contains(&refusal_of(&refused).as_str()));
    let (_, shown, _) = common::admin(&pair.rp.dir, &["user", "dave"], "");
    assert!(!shown.contains("upstream:"), "{shown}");
}

#[test]
fn the_state_is_single_use_and_bound_to_the_browser_that_started() {
    let pair = pair(&["--create-accounts"], &[]);
    let at_idp = person_at_idp(&pair, "erin");
    let (location, state) = begin(&pair, "");
    let back = authorize_at_idp(&pair, &location, &at_idp);
    // Another browser (no state cookie, or another sign-in's) is refused.
    assert_eq!(refusal_of(&callback(&pair, &back, &[])), "state");
    let (_, other_state) = begin(&pair, "");
    assert_eq!(
        refusal_of(&callback(&pair, &back, &[&other_state])),
        "state"
    );
    // The right browser gets in once; the same answer again does not.
    assert!(callback(&pair, &back, &[&state]).session_cookie().is_some());
    assert_eq!(refusal_of(&callback(&pair, &back, &[&state])), "state");
    // A cookie altered by one character is not this server's.
    let mut forged = other_state.clone();
    forged.pop();
    forged.push('A');
    let (location, _) = begin(&pair, "");
    let back = authorize_at_idp(&pair, &location, &at_idp);
    assert_eq!(refusal_of(&callback(&pair, &back, &[&forged])), "state");
}

#[test]
fn a_mixed_up_answer_is_refused_by_its_nonce_and_its_issuer() {
    let pair = pair(&["--create-accounts"], &[]);
    let at_idp = person_at_idp(&pair, "fay");
    // The browser swaps in another nonce: the ID token then carries one
    // this sign-in never sent.
    let (location, state) = begin(&pair, "");
    let nonce = &query_of(&location)["nonce"];
    let swapped = location.replace(
        &format!("nonce={nonce}"),
        "nonce=someone-elses-nonce-as-long-as-a-real-one-0123456789",
    );
    let back = authorize_at_idp(&pair, &swapped, &at_idp);
    assert_eq!(refusal_of(&callback(&pair, &back, &[&state])), "rejected");
    assert!(pair.rp.log_shows("wrong nonce"));
    // An answer naming another issuer (RFC 9207) is refused before the code
    // is used.
    let (location, state) = begin(&pair, "");
    let back = authorize_at_idp(&pair, &location, &at_idp);
    let iss = query_of(&back)["iss"].clone();
    let other = back.replace(
        &format!("iss={}", auth_core::support::text::percent_encode(&iss)),
        "iss=https%3A%2F%2Fevil.example",
    );
    assert_eq!(refusal_of(&callback(&pair, &other, &[&state])), "rejected");
    // And one without iss, from a provider that says it sends it.
    let (location, state) = begin(&pair, "");
    let back = authorize_at_idp(&pair, &location, &at_idp);
    let without = back.replace(
        &format!("&iss={}", auth_core::support::text::percent_encode(&iss)),
        "",
    );
    assert_eq!(
        refusal_of(&callback(&pair, &without, &[&state])),
        "rejected"
    );
    let (_, users, _) = common::admin(&pair.rp.dir, &["users"], "");
    assert!(!users.contains("fay"), "{users}");
}

#[test]
fn new_signing_keys_at_the_provider_are_fetched_once_seen() {
    let pair = pair(&["--create-accounts"], &[]);
    let at_idp = person_at_idp(&pair, "gus");
    assert!(round(&pair, &at_idp, "").session_cookie().is_some());
    let idp_env = [("PUBLIC_URL", pair.idp_url.as_str())];
    let (code, _, err) = common::admin_with(&pair.idp.dir, &idp_env, &["oidc", "rotate-keys"], "");
    assert_eq!(code, Some(0), "{err}");
    assert!(
        round(&pair, &at_idp, "").session_cookie().is_some(),
        "the new kid was fetched"
    );
}

#[test]
fn an_account_with_two_factor_login_still_shows_its_code() {
    let pair = pair(&["--link-by-email"], &[]);
    let cookie = pair.rp.signed_in_user("hal");
    common::admin(&pair.rp.dir, &["verify", "hal"], "");
    let (secret, _, _) = crate::totp::turn_on(&pair.rp, &cookie);
    let at_idp = person_at_idp(&pair, "hal");
    let back = round(&pair, &at_idp, "");
    assert!(
        back.session_cookie().is_none(),
        "no session before the code"
    );
    let location = back.header("Location").unwrap();
    assert_eq!(query_of(location)["upstream_code"], "idp");
    let proof = back.cookie("upstream_proof").expect("the proof cookie");
    let set = back.header("Set-Cookie").unwrap();
    assert!(
        set.contains("Path=/api/login/upstream") && set.contains("HttpOnly"),
        "{set}"
    );
    let send = |code: &str| {
        let body = serde_json::json!({ "code": code }).to_string();
        pair.rp.request(
            "POST",
            "/api/login/upstream",
            &[("Content-Type", "application/json"), ("Cookie", &proof)],
            &body,
        )
    };
    assert_eq!(send("000000").code(), "invalid_totp");
    // (The step the code that turned it on used is spent: the next one.)
    let signed_in = send(&totp_code(&secret, 1));
    assert_eq!(signed_in.status, 200, "{}", signed_in.text());
    let session = signed_in.session_cookie().unwrap();
    assert_eq!(opened_with(&pair.rp, &session), "upstream:idp+totp");
    // The proof is spent.
    assert_eq!(send(&totp_code(&secret, -1)).status, 401);
    assert_eq!(
        pair.rp
            .request(
                "POST",
                "/api/login/upstream",
                &[("Content-Type", "application/json")],
                r#"{"code":"123456"}"#
            )
            .status,
        401
    );
}

#[test]
fn domains_registration_and_disabled_accounts_are_refused_with_their_reason() {
    let pair = pair(
        &["--create-accounts", "--allowed-domain", "corp.example"],
        &[],
    );
    let at_idp = person_at_idp(&pair, "ivy");
    assert_eq!(refusal_of(&round(&pair, &at_idp, "")), "domain");
    let closed = self::pair(&["--create-accounts"], &[("REGISTRATION", "closed")]);
    let at_idp = person_at_idp(&closed, "joe");
    assert_eq!(
        refusal_of(&round(&closed, &at_idp, "")),
        "registration_closed"
    );
    let open = self::pair(&["--create-accounts"], &[]);
    let at_idp = person_at_idp(&open, "kay");
    assert!(round(&open, &at_idp, "").session_cookie().is_some());
    common::admin(&open.rp.dir, &["disable", "kay"], "");
    assert_eq!(refusal_of(&round(&open, &at_idp, "")), "disabled");
}

#[test]
fn an_unreachable_provider_is_a_clear_refusal_and_a_log_line() {
    let rp_port = free_port();
    let (rp, rp_url) = start_at(rp_port, &[]);
    let env = [("PUBLIC_URL", rp_url.as_str())];
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (code, out, err) = common::admin_with(
        &rp.dir,
        &env,
        &[
            "upstream",
            "add",
            "gone",
            "--issuer",
            &dead,
            "--client-id",
            "x",
        ],
        "secret\n",
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(err.contains("cannot be reached"), "{err}");
    let start = rp.get("/auth/upstream/gone", None);
    assert_eq!(start.status, 302);
    assert_eq!(refusal_of(&start), "unavailable");
    assert!(rp.log_shows("upstream_unavailable"));
    // For a while the next visitors are answered from memory: a provider
    // that is down cannot keep the workers waiting on it.
    assert_eq!(
        refusal_of(&rp.get("/auth/upstream/gone", None)),
        "unavailable"
    );
    assert!(rp.log_shows("not tried again yet"));
    // A plain-http issuer elsewhere than loopback is refused when added.
    let (code, _, err) = common::admin_with(
        &rp.dir,
        &env,
        &[
            "upstream",
            "add",
            "plain",
            "--issuer",
            "http://idp.example.com",
            "--client-id",
            "x",
        ],
        "secret\n",
    );
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(
        refusal_of(&rp.get("/auth/upstream/nobody", None)),
        "unknown_provider"
    );
}

#[test]
fn a_signed_in_account_connects_with_a_fresh_proof_and_keeps_one_way_in() {
    let pair = pair(&["--create-accounts"], &[]);
    // lee signed up through the provider: it is lee's only way in.
    let at_idp = person_at_idp(&pair, "lee");
    let lee = round(&pair, &at_idp, "").session_cookie().unwrap();
    let removed = pair
        .rp
        .request("DELETE", "/api/user/upstreams/idp", &[("Cookie", &lee)], "");
    assert_eq!(removed.code(), "conflict");
    // max has a password here and connects the provider.
    let max = pair.rp.signed_in_user("max");
    let listed = pair.rp.get("/api/user/upstreams", Some(&max)).json();
    assert_eq!(listed["data"]["providers"][0]["connected"], false);
    let at_idp = person_at_idp(&pair, "max2");
    let done = connect_from_account(&pair, &max, &at_idp);
    assert!(
        done.header("Location")
            .unwrap()
            .ends_with("/account?connected=idp"),
        "{:?}",
        done.header("Location")
    );
    let listed = pair.rp.get("/api/user/upstreams", Some(&max)).json();
    assert_eq!(listed["data"]["providers"][0]["connected"], true);
    // Signing in through it now reaches max.
    let via = round(&pair, &at_idp, "").session_cookie().unwrap();
    assert_eq!(
        pair.rp.get("/api/user", Some(&via)).json()["data"]["user"]["username"],
        "max"
    );
    // The same identity cannot be connected to a second account.
    let nan = pair.rp.signed_in_user("nan");
    assert_eq!(
        refusal_of(&connect_from_account(&pair, &nan, &at_idp)),
        "linked_elsewhere"
    );
    // max has a password, so disconnecting leaves a way in; the identity
    // then makes an account of its own (this provider may make them).
    let removed = pair
        .rp
        .request("DELETE", "/api/user/upstreams/idp", &[("Cookie", &max)], "");
    assert_eq!(removed.status, 200, "{}", removed.text());
    let via = round(&pair, &at_idp, "").session_cookie().unwrap();
    assert_eq!(
        pair.rp.get("/api/user", Some(&via)).json()["data"]["user"]["username"],
        "max2"
    );
}

#[test]
fn where_sign_up_wants_an_invitation_a_first_sign_in_needs_one_and_takes_its_groups() {
    let pair = pair(&["--create-accounts"], &[("REGISTRATION", "invite")]);
    let at_idp = person_at_idp(&pair, "ona");
    assert_eq!(
        refusal_of(&round(&pair, &at_idp, "")),
        "registration_closed"
    );
    let env = [("PUBLIC_URL", pair.rp_url.as_str())];
    let (code, url, err) =
        common::admin_with(&pair.rp.dir, &env, &["invite", "--group", "family"], "");
    assert_eq!(code, Some(0), "{err}");
    let token = url.trim().split("invite=").nth(1).unwrap().to_string();
    let back = round(&pair, &at_idp, &format!("?invite={token}"));
    let cookie = back.session_cookie().expect("made with the invitation");
    let me = pair.rp.get("/api/user", Some(&cookie)).json();
    assert_eq!(me["data"]["user"]["groups"], serde_json::json!(["family"]));
    let (_, listed, _) = common::admin(&pair.rp.dir, &["invites"], "");
    assert!(listed.contains("\tused\t"), "{listed}");
}
