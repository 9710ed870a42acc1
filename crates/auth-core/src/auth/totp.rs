//! Time-based one-time passwords (RFC 6238) for authenticator apps, and the
//! recovery codes that stand in for a lost device.
//!
//! The code is HOTP (RFC 4226: HMAC-SHA1 of a counter, dynamically
//! truncated to 6 digits) over the number of 30-second steps since the
//! Unix epoch. A code is accepted for the current step and one either
//! side (clock drift, RFC 6238 §5.2) and never twice: the caller remembers
//! the last accepted step (NIST SP 800-63B §5.1.4.2; OWASP ASVS 4.0.3
//! V2.8.4).

use hmac::{Hmac, KeyInit, Mac};
use qrcode::QrCode;
use qrcode::render::svg;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::support::text::percent_encode;

/// 160 bits, the length RFC 4226 §4 recommends (and HMAC-SHA1's output).
pub const SECRET_BYTES: usize = 20;
pub const DIGITS: u32 = 6;
pub const PERIOD_SECS: i64 = 30;
/// Steps accepted on either side of the current one.
pub const DRIFT_STEPS: i64 = 1;
/// Recovery codes given when two-factor login is turned on.
pub const RECOVERY_CODES: usize = 10;
/// Each recovery code's random bytes: 120 bits, over the 112 that NIST
/// SP 800-63B §5.1.2.2 asks of a look-up secret stored as a plain hash.
const RECOVERY_CODE_BYTES: usize = 15;

/// The 30-second step `unix_secs` falls in.
pub fn step_at(unix_secs: i64) -> i64 {
    unix_secs.div_euclid(PERIOD_SECS)
}

/// The code for `step` (RFC 4226 §5.3, with RFC 6238's time counter).
/// `None` only if HMAC refused the key, which it never does (it takes keys
/// of any length); the callers treat that as "no match".
pub fn code_at(secret: &[u8], step: i64) -> Option<u32> {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret).ok()?;
    mac.update(&(step as u64).to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let value = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    Some(value % 10u32.pow(DIGITS))
}

/// The step whose code `code` is, among the current one and its
/// neighbours; `None` if it is none of them. The comparison looks at
/// every candidate, so its time says nothing about which one matched.
pub fn matching_step(secret: &[u8], code: &str, now: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let given: u32 = code.parse().ok()?;
    let current = step_at(now);
    let mut found = None;
    for step in current - DRIFT_STEPS..=current + DRIFT_STEPS {
        if code_at(secret, step) == Some(given) && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// A new random secret.
pub fn new_secret() -> Result<[u8; SECRET_BYTES], getrandom::Error> {
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut secret)?;
    Ok(secret)
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding: how authenticator apps take a secret.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// The `otpauth://` URI authenticator apps read (Google Authenticator's
/// Key Uri Format, which the others follow).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={PERIOD_SECS}",
        account = percent_encode(account),
        secret = base32(secret),
    )
}

/// The URI as an SVG QR code, for a front end to show as it is.
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<svg::Color>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

/// New recovery codes, as shown to the user once: 24 base32 letters in
/// four groups, lower-case (`abcdef-ghijkl-mnopqr-stuvwx`).
pub fn new_recovery_codes() -> Result<Vec<String>, getrandom::Error> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; RECOVERY_CODE_BYTES];
            getrandom::fill(&mut bytes)?;
            let letters = base32(&bytes).to_lowercase();
            Ok(letters
                .as_bytes()
                .chunks(6)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join("-"))
        })
        .collect()
}

/// What is stored of a recovery code: SHA-256 of its letters, lower-cased,
/// without dashes or spaces, so it may be typed in any of those forms.
pub fn recovery_code_hash(code: &str) -> [u8; 32] {
    let normalized: String = code
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    Sha256::digest(normalized.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, the SHA-1 rows: 8-digit codes, of which a
    /// 6-digit code is the last six (the truncation is modulo 10^digits).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = b"12345678901234567890";
        for (time, eight_digits) in [
            (59, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(
                code_at(secret, step_at(time)),
                Some(eight_digits % 1_000_000),
                "T = {time}"
            );
        }
    }

    #[test]
    fn a_code_matches_its_step_and_the_neighbours_only() {
        let secret = b"12345678901234567890";
        let now = 1_111_111_111;
        let code = format!("{:06}", code_at(secret, step_at(now) - 1).unwrap());
        assert_eq!(matching_step(secret, &code, now), Some(step_at(now) - 1));
        assert_eq!(matching_step(secret, &code, now + 60), None, "too old");
        for bad in ["", "12345", "1234567", "12a456", " 12345"] {
            assert_eq!(matching_step(secret, bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn base32_follows_rfc_4648() {
        for (input, output) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), output);
        }
        assert_eq!(base32(&[0u8; SECRET_BYTES]).len(), 32);
    }

    #[test]
    fn the_uri_is_percent_encoded() {
        let uri = otpauth_uri("My App", "alice", b"12345678901234567890");
        assert_eq!(
            uri,
            "otpauth://totp/My%20App:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=My%20App&algorithm=SHA1&digits=6&period=30"
        );
        assert!(qr_svg(&uri).unwrap().starts_with("<?xml"));
    }

    #[test]
    fn recovery_codes_are_long_unique_and_typed_any_way() {
        let codes = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert_eq!(codes[0].len(), 27);
        assert_ne!(codes[0], codes[1]);
        assert_eq!(
            recovery_code_hash(&codes[0]),
            recovery_code_hash(&codes[0].to_uppercase().replace('-', " "))
        );
    }
}
