//! The floor under the token and passkey paths: one signature of each
//! algorithm on this machine, made and checked by the code the server
//! runs. An ID token signed by `jose::Key::sign` (header, claims, base64
//! and the signature), and a passkey signature checked by
//! `webauthn::PublicKey::verifies`. Beside the per-operation figures of
//! `benches/peers.sh`, it shows how much of a path is the signature.
//! Then the other floor of a sign-in or a token issue: the one durable
//! commit each makes (`synchronous=FULL`, as the server runs SQLite), timed
//! in wall clock and in this process's CPU, since its `fsync` mostly waits.
//!
//!   cargo bench --bench floor -- [SECONDS]

use std::time::{Duration, Instant};

use auth_core::auth::jose::{Alg, Key};
use auth_core::auth::webauthn::PublicKey;
use auth_core::storage::sessions::SessionRow;
use auth_core::storage::{Database, Event, SignInWrite, UserStore};
use serde_json::json;

/// This process's CPU time so far (user and system), in seconds, from
/// `/proc/self/stat` (Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after_name = stat.rsplit_once(')').expect("a stat line").1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    // USER_HZ is 100 on every Linux the server targets.
    ticks / 100.0
}

/// Runs `op` for about `seconds`; the mean time of one, in microseconds.
fn per_op(seconds: f64, mut op: impl FnMut()) -> f64 {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut done = 0u64;
    while Instant::now() < deadline {
        op();
        done += 1;
    }
    started.elapsed().as_secs_f64() * 1e6 / done as f64
}

fn main() {
    let seconds: f64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(2.0);
    let claims = json!({
        "iss": "https://auth.example.com", "sub": "a-subject", "aud": "an-app",
        "iat": 1_800_000_000, "exp": 1_800_000_300, "nonce": "n-0123456789",
    });
    println!("| operation | µs each |");
    println!("| --- | --- |");
    for alg in [Alg::Rs256, Alg::Es256] {
        let (key, _) = Key::generate(alg).expect("a key");
        let us = per_op(seconds, || {
            std::hint::black_box(key.sign(&claims));
        });
        println!("| sign an ID token, {} | {us:.1} |", alg.as_str());
    }

    let message = [7u8; 69];
    // ES256: a P-256 key and a DER signature, as an authenticator sends.
    let signer = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).expect("a scalar");
    let point = signer.verifying_key().to_sec1_point(false);
    let es256 =
        PublicKey::es256(&point.as_bytes()[1..33], &point.as_bytes()[33..]).expect("a point");
    let signature: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(&signer, &message);
    let der = signature.to_der();
    assert!(es256.verifies(&message, der.as_bytes()));
    let us = per_op(seconds, || {
        assert!(es256.verifies(&message, der.as_bytes()))
    });
    println!("| verify a passkey signature, ES256 | {us:.1} |");

    // EdDSA.
    let ed = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32]);
    let eddsa = PublicKey::EdDsa(ed.verifying_key().to_bytes());
    let signature = ed25519_dalek::Signer::sign(&ed, &message).to_bytes();
    let us = per_op(seconds, || assert!(eddsa.verifies(&message, &signature)));
    println!("| verify a passkey signature, EdDSA | {us:.1} |");

    // RS256, 2048 bits, e = 65537.
    let mut rng = getrandom::SysRng;
    let private = rsa::PrivateKey::new(&mut rng, 2048).expect("an RSA key");
    let public = private.to_public_key();
    use rsa::traits::PublicKeyParts;
    let rs256 = PublicKey::rs256(&public.n_bytes(), &public.e_bytes()).expect("an RSA key");
    let signing = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(private);
    let signature = rsa::signature::SignatureEncoding::to_vec(&rsa::signature::Signer::sign(
        &signing, &message,
    ));
    let us = per_op(seconds, || assert!(rs256.verifies(&message, &signature)));
    println!("| verify a passkey signature, RS256 | {us:.1} |");

    // One sign-in's commit: the account's login time, the new session's
    // row and the audit event, in one transaction.
    let dir = std::env::temp_dir().join(format!("auth-server-floor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let db = Database::open(&dir.join("floor.db")).expect("a database");
    let Ok(user) = db.insert_user("alice", "alice@example.com", "$2b$04$x", 0) else {
        panic!("cannot make an account");
    };
    let mut n = 0i64;
    let cpu_before = cpu_seconds();
    let mut commits = 0u64;
    let wall = per_op(seconds, || {
        n += 1;
        let mut token_hash = [0u8; 32];
        getrandom::fill(&mut token_hash).expect("random bytes");
        let session = SessionRow {
            token_hash,
            public_id: n as u64,
            user_id: user.id,
            auth_epoch: user.auth_epoch,
            created_at: n,
            last_seen_at: n,
            absolute_end: n + 86_400,
            idle_secs: 3_600,
            remember: false,
            previous_login_at: None,
            ip: "127.0.0.1".into(),
            user_agent: "floor".into(),
            opened_with: "passkey".into(),
            proved_at: n,
        };
        let event = Event {
            at: n,
            event: "passkey_login".into(),
            user_id: Some(user.id),
            identifier: Some("alice".into()),
            ip: Some("127.0.0.1".into()),
            user_agent: Some("floor".into()),
            count: 1,
            detail: None,
            actor: None,
        };
        let write = SignInWrite {
            session: Some(session),
            ended: Vec::new(),
            event: Some(event),
        };
        db.record_login(user.id, user.auth_epoch, n, write)
            .expect("a commit")
            .expect("the account as it was");
        commits += 1;
    });
    let cpu = (cpu_seconds() - cpu_before) * 1e6 / commits as f64;
    println!("| commit a sign-in durably (wall clock) | {wall:.1} |");
    println!("| commit a sign-in durably (CPU) | {cpu:.1} |");
    let _ = std::fs::remove_dir_all(&dir);
}
