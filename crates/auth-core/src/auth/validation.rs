//! The rules for usernames, emails and passwords: pure functions from a
//! value to the problem with it, shared by the API and the admin command.

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::auth::passwords::MAX_PASSWORD_BYTES;
use crate::support::text::{is_format, is_host_name};

/// 3–32 ASCII letters, digits, `_`, `.`, `-`, starting with a letter or
/// digit: an allowlist, so no look-alike Unicode or markup gets in
/// (OWASP Input Validation Cheat Sheet; ASVS 4.0.3 V5.1.3).
///
/// ```
/// use auth_core::auth::validation::check_username;
/// assert!(check_username("alice_1").is_ok());
/// assert!(check_username("<script>").is_err());
/// ```
pub fn check_username(username: &str) -> Result<(), &'static str> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    if !(3..=32).contains(&username.len()) {
        return Err("must be 3 to 32 characters");
    }
    if !username.bytes().all(allowed) {
        return Err("may contain only letters, digits, '_', '.' and '-'");
    }
    if !username.as_bytes()[0].is_ascii_alphanumeric() {
        return Err("must start with a letter or digit");
    }
    Ok(())
}

/// The email as stored (trimmed, lower-case), after light syntactic checks
/// only: whether the address exists is for a verification email to find out
/// (OWASP Input Validation Cheat Sheet, "Email Address Validation").
pub fn normalize_email(email: &str) -> Result<String, &'static str> {
    let email = email.trim();
    if email.is_empty() {
        return Err("is required");
    }
    if email.chars().count() > 254 {
        return Err("must be at most 254 characters");
    }
    if email
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || is_format(c))
    {
        return Err("must not contain spaces, control or invisible characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err("must contain one '@'");
    };
    if domain.contains('@') {
        return Err("must contain one '@'");
    }
    if local.is_empty() || local.chars().count() > 64 {
        return Err("must have 1 to 64 characters before the '@'");
    }
    // RFC 5322 §3.2.3's dot-atom and nothing else: a comma, a quote or a
    // bracket would make the address two recipients (or markup) wherever it
    // is passed on, as in `sendmail -t`.
    if !is_dot_atom(local) {
        return Err("is not a valid address");
    }
    if !is_domain(domain) {
        return Err("must have a domain such as example.com after the '@'");
    }
    Ok(email.to_lowercase())
}

/// RFC 5322 §3.2.3 dot-atom-text: atoms of `atext` (letters, digits and
/// ``!#$%&'*+-/=?^_`{|}~``) joined by single dots.
fn is_dot_atom(local: &str) -> bool {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(atext))
}

/// A host name of at least two labels (`support::text::is_host_name`).
fn is_domain(domain: &str) -> bool {
    domain.contains('.') && is_host_name(domain)
}

/// What a new password is checked against beyond itself: the settings'
/// minimum length and the name of the service (`SITE_NAME`), a
/// context-specific word (NIST SP 800-63B §5.1.1.2; OWASP ASVS 5.0
/// v5.0.0-6.1.2, 6.2.11).
#[derive(Clone, Copy, Debug)]
pub struct PasswordPolicy<'a> {
    pub min_chars: usize,
    pub site_name: &'a str,
}

/// The letters and digits of `text`, lower-cased: what is left of a name
/// once spaces, dashes and case stop mattering.
fn letters_and_digits(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether a password is the service's name dressed up: with the name
/// taken out (ignoring case, spaces and punctuation), fewer than eight
/// letters or digits are left ("FamilyCloud2024!", "family-cloud-1").
fn derived_from(password: &str, name: &str) -> bool {
    let name = letters_and_digits(name);
    if name.chars().count() < 4 {
        return false;
    }
    let password = letters_and_digits(password);
    password.contains(&name) && password.replacen(&name, "", 1).chars().count() < 8
}

/// The registration rules for a new password, after NIST SP 800-63B
/// §5.1.1.2: a minimum length in code points, no composition rules, a check
/// against common passwords, the account's own names and the service's
/// name, never truncated.
pub fn check_new_password(
    password: &str,
    policy: PasswordPolicy,
    username: &str,
    email: &str,
) -> Result<(), String> {
    let min_chars = policy.min_chars;
    let chars = password.chars().count();
    if chars < min_chars {
        return Err(format!("must be at least {min_chars} characters"));
    }
    // bcrypt reads only 72 bytes; a longer password would be cut without
    // anyone knowing, so it is refused instead (ASVS 4.0.3 V2.1.3).
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "must be at most 72 bytes in UTF-8 (this one is {} bytes; letters outside ASCII take 2 to 4 bytes each)",
            password.len()
        ));
    }
    if password.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    let folded = password.to_lowercase();
    let local_part = email.split('@').next().unwrap_or("");
    if [username, email, local_part]
        .iter()
        .any(|name| !name.is_empty() && folded == name.to_lowercase())
    {
        return Err("must not be your username or email".into());
    }
    if is_common(&folded) {
        return Err("is too common; choose a less guessable password".into());
    }
    if derived_from(password, policy.site_name) {
        return Err("must not be built on this site's name; choose words of your own".into());
    }
    Ok(())
}

/// Django's list of 20,000 common passwords (BSD licence; see
/// data/LICENSE-django-common-passwords.txt), lower-case, one a line.
const COMMON_PASSWORDS: &str = include_str!("../../../../data/common-passwords.txt");

/// Whether a lower-cased password is on the common list, compared the way
/// Django compares it (lower-cased, surrounding spaces ignored).
fn is_common(lowercase_password: &str) -> bool {
    static LIST: OnceLock<HashSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| {
        COMMON_PASSWORDS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
    .contains(lowercase_password.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["abc", "Alice_1", "a.b-c", "0day", &"a".repeat(32)] {
            assert!(check_username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            &"a".repeat(33),
            "_abc",
            ".abc",
            "bob\0",
            "bob\n",
            "<script>",
            "x' OR '1'='1",
            "émile",
        ] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email("  Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        for ok in [
            "first.last+tag@mail.example.co.uk",
            "x@xn--bcher-kva.example",
            "o'brien@example.com",
            "a!#$%&*/=?^_`{|}~-@example.com",
        ] {
            assert!(normalize_email(ok).is_ok(), "{ok}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        let too_long = format!("{}@{}.com", "a".repeat(60), "b".repeat(200));
        for bad in [
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "@b.com",
            "a@.com",
            "a@b..com",
            "a\u{0}@b.com",
            "\"x\"<img/src=x>@e<b>.com",
            "alice\u{200b}@example.com",
            "alice@exa\u{202e}mple.com",
            "a<b@example.com",
            "a\\b@example.com",
            // Outside RFC 5322's dot-atom: two recipients under sendmail -t,
            // quoting, stray dots, and (as with the domain) non-ASCII.
            "alice,mallory@example.com",
            "a;b@example.com",
            "(comment)a@example.com",
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "émile@example.com",
            "a@-example.com",
            "a@example-.com",
            "a@exa_mple.com",
            "a@ex ample.com",
            "a@éxample.com",
            &format!("a@{}.com", "b".repeat(64)),
            &long_local,
            &too_long,
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_follow_nist() {
        let policy = PasswordPolicy {
            min_chars: 12,
            site_name: "Family Cloud",
        };
        let check =
            |p: &str| check_new_password(p, policy, "alicewonderland1", "alice@example.com");
        assert!(
            check("correct horse battery staple").is_ok(),
            "no composition rules"
        );
        assert!(check("pässwörd 🙂 horse battery").is_ok());
        assert!(check(&"é".repeat(12)).is_ok(), "code points, not bytes");
        assert!(check(&"é".repeat(11)).is_err());
        assert!(check(&"a b".repeat(24)).is_ok(), "72 bytes");
        assert!(check(&"a".repeat(73)).unwrap_err().contains("72 bytes"));
        assert!(check("alicewonderland1").is_err());
        assert!(check("ALICE@EXAMPLE.COM").is_err());
        assert!(check("tab\tinside it ok").is_err());
        // The service's name dressed up, in any case or spacing, is refused;
        // a phrase that merely mentions it is not.
        for derived in ["FamilyCloud2024!", "family-cloud-1234", "my Family Cloud!"] {
            assert!(
                check(derived).unwrap_err().contains("site's name"),
                "{derived}"
            );
        }
        assert!(check("our family cloud keeps the holiday photos").is_ok());
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        let common = COMMON_PASSWORDS
            .lines()
            .find(|l| l.chars().count() >= 12)
            .unwrap();
        assert!(COMMON_PASSWORDS.lines().count() >= 10_000);
        let policy = PasswordPolicy {
            min_chars: 12,
            site_name: "auth-server",
        };
        let check = |p: &str| check_new_password(p, policy, "someone", "someone@example.com");
        assert!(check(common).unwrap_err().contains("too common"));
        assert!(
            check(&common.to_uppercase())
                .unwrap_err()
                .contains("too common")
        );
    }
}
