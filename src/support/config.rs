//! Settings, read once from the environment at start-up.
//!
//! Every variable of the contract's table is here with its default. A bad
//! value is a start-up error naming the variable and what it accepts: a
//! server that guesses what an operator meant is a server misconfigured in
//! silence.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

/// The `SameSite` attribute of the session cookie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
    None,
}

impl SameSite {
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub host: IpAddr,
    pub port: u16,
    pub database_path: PathBuf,
    pub cors_origins: Vec<String>,
    pub bcrypt_cost: u32,
    pub password_min_length: usize,
    pub registrations_per_hour: u32,
    pub login_failures_per_ip: u32,
    pub cookie_secure: bool,
    pub cookie_same_site: SameSite,
    pub session_idle_timeout_secs: i64,
    pub session_absolute_timeout_secs: i64,
    pub remember_me_timeout_secs: i64,
    pub trust_proxy: bool,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub hash_workers: usize,
    pub hash_queue_wait_secs: u64,
    pub audit_retention_days: u32,
    pub max_sessions: usize,
    pub session_persist: bool,
    pub log_format: LogFormat,
    /// The front end's base URL, without a trailing slash: links in mail.
    pub public_url: Option<String>,
    /// Run with `sh -c`, the message on stdin; `None`: no mail is sent.
    pub mail_command: Option<String>,
    pub mail_from: String,
    pub reset_token_ttl_secs: i64,
    pub verify_token_ttl_secs: i64,
    pub require_verified_email: bool,
    pub password_resets_per_hour: u32,
    /// The issuer an authenticator app shows beside the account name.
    pub totp_issuer: String,
    /// `Domain=` of the session cookie, shared by every subdomain.
    pub cookie_domain: Option<String>,
    /// Host patterns the sign-in may send a browser back to: exact names,
    /// or `*.example.com` for any subdomain.
    pub forward_auth_hosts: Vec<String>,
    /// Where a signed-out browser is sent (absolute, or a path on the host
    /// it came to).
    pub login_url: String,
    /// `false` (`REGISTRATION=closed`): accounts come from the admin command.
    pub registration_open: bool,
}

/// A variable whose value cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub struct SettingError {
    pub variable: &'static str,
    pub accepts: String,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: expected {}", self.variable, self.accepts)
    }
}

const DEFAULT_CORS_ORIGINS: &str =
    "http://localhost:3000,http://127.0.0.1:3000,http://localhost:5173,http://127.0.0.1:5173";

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, SettingError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the
    /// process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingError> {
        let vars = Vars(&lookup);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let settings = Settings {
            host: vars.parsed(
                "HOST",
                "0.0.0.0",
                "an IP address such as 0.0.0.0 or 127.0.0.1",
            )?,
            port: vars.parsed("PORT", "8080", "a port number from 0 to 65535")?,
            database_path: PathBuf::from(vars.text("DATABASE_PATH", "auth.db")),
            cors_origins: parse_origins(&vars.text("CORS_ORIGINS", DEFAULT_CORS_ORIGINS))?,
            bcrypt_cost: vars.in_range("BCRYPT_COST", 12, 4, 31)?,
            password_min_length: vars.in_range("PASSWORD_MIN_LENGTH", 12, 8, 64)?,
            registrations_per_hour: vars.in_range("REGISTRATIONS_PER_HOUR", 20, 0, 1_000_000)?,
            login_failures_per_ip: vars.in_range("LOGIN_FAILURES_PER_IP", 100, 1, 1_000_000)?,
            cookie_secure: vars.boolean("COOKIE_SECURE", false)?,
            cookie_same_site: match vars.text("COOKIE_SAMESITE", "Lax").as_str() {
                "Strict" => SameSite::Strict,
                "Lax" => SameSite::Lax,
                "None" => SameSite::None,
                _ => return Err(error("COOKIE_SAMESITE", "Strict, Lax or None")),
            },
            session_idle_timeout_secs: vars.in_range(
                "SESSION_IDLE_TIMEOUT_SECS",
                1800,
                1,
                MAX_SECS,
            )?,
            session_absolute_timeout_secs: vars.in_range(
                "SESSION_ABSOLUTE_TIMEOUT_SECS",
                43200,
                1,
                MAX_SECS,
            )?,
            remember_me_timeout_secs: vars.in_range(
                "REMEMBER_ME_TIMEOUT_SECS",
                2_592_000,
                1,
                MAX_SECS,
            )?,
            trust_proxy: vars.boolean("TRUST_PROXY", false)?,
            max_connections: vars.in_range("MAX_CONNECTIONS", 512, 1, 65_536)?,
            // The per-address cap's range depends on MAX_CONNECTIONS, so it
            // is read below; 0 until then.
            max_connections_per_ip: 0,
            hash_workers: vars.in_range("HASH_WORKERS", cores, 1, 1024)?,
            hash_queue_wait_secs: vars.in_range("HASH_QUEUE_WAIT_SECS", 5, 1, 60)?,
            audit_retention_days: vars.in_range("AUDIT_RETENTION_DAYS", 90, 1, 36_500)?,
            max_sessions: vars.in_range("MAX_SESSIONS", 100_000, 1, 100_000_000)?,
            session_persist: vars.boolean("SESSION_PERSIST", true)?,
            public_url: parse_public_url(&vars.text("PUBLIC_URL", ""))?,
            mail_command: Some(vars.text("MAIL_COMMAND", ""))
                .filter(|command| !command.trim().is_empty()),
            mail_from: parse_mail_from(&vars.text("MAIL_FROM", "auth-server@localhost"))?,
            reset_token_ttl_secs: vars.in_range("RESET_TOKEN_TTL_SECS", 3600, 1, 7 * 86_400)?,
            verify_token_ttl_secs: vars.in_range(
                "VERIFY_TOKEN_TTL_SECS",
                86_400,
                1,
                30 * 86_400,
            )?,
            require_verified_email: vars.boolean("REQUIRE_VERIFIED_EMAIL", false)?,
            password_resets_per_hour: vars.in_range(
                "PASSWORD_RESETS_PER_HOUR",
                10,
                1,
                1_000_000,
            )?,
            totp_issuer: match vars.text("TOTP_ISSUER", "auth-server").trim() {
                issuer
                    if (1..=64).contains(&issuer.chars().count())
                        && !issuer.contains(':')
                        && !issuer.chars().any(char::is_control) =>
                {
                    issuer.to_string()
                }
                _ => return Err(error("TOTP_ISSUER", "1 to 64 characters without ':'")),
            },
            cookie_domain: parse_cookie_domain(&vars.text("COOKIE_DOMAIN", ""))?,
            forward_auth_hosts: parse_host_patterns(&vars.text("FORWARD_AUTH_HOSTS", ""))?,
            // Filled in below: the default depends on PUBLIC_URL.
            login_url: String::new(),
            registration_open: match vars.text("REGISTRATION", "open").trim() {
                "open" => true,
                "closed" => false,
                _ => return Err(error("REGISTRATION", "open or closed")),
            },
            log_format: match vars.text("LOG_FORMAT", "text").as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(error("LOG_FORMAT", "text or json")),
            },
        };
        let mut settings = settings;
        settings.login_url = match (vars.0)("LOGIN_URL").map(|u| u.trim().to_string()) {
            Some(url)
                if url.starts_with('/')
                    || url.starts_with("https://")
                    || url.starts_with("http://") =>
            {
                if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
                    return Err(error(
                        "LOGIN_URL",
                        "an absolute URL or a path starting with /",
                    ));
                }
                url
            }
            Some(_) => {
                return Err(error(
                    "LOGIN_URL",
                    "an absolute URL or a path starting with /",
                ));
            }
            None => match &settings.public_url {
                Some(base) => format!("{base}/login"),
                None => "/login".to_string(),
            },
        };
        // Mail carries links, and a link needs the front end's address.
        if settings.mail_command.is_some() && settings.public_url.is_none() {
            return Err(error(
                "PUBLIC_URL",
                "the front end's base URL, such as https://app.example.com, whenever MAIL_COMMAND is set",
            ));
        }
        settings.max_connections_per_ip = vars.in_range(
            "MAX_CONNECTIONS_PER_IP",
            DEFAULT_CONNECTIONS_PER_IP.min(settings.max_connections),
            1,
            settings.max_connections,
        )?;
        // Browsers ignore a SameSite=None cookie without Secure (RFC 6265bis),
        // so this combination would fail every login silently.
        if settings.cookie_same_site == SameSite::None && !settings.cookie_secure {
            return Err(error(
                "COOKIE_SAMESITE",
                "Strict or Lax unless COOKIE_SECURE=true (None requires Secure)",
            ));
        }
        Ok(settings)
    }
}

/// Connections one client address may hold when nothing else is set: far
/// more than a browser opens (six per host), far fewer than the whole
/// `MAX_CONNECTIONS`, so one address cannot take every slot.
const DEFAULT_CONNECTIONS_PER_IP: usize = 64;

impl Settings {
    /// Whether `CORS_ORIGINS` is still the development default (localhost
    /// front ends), which a public deployment almost surely did not mean.
    pub fn uses_default_cors_origins(&self) -> bool {
        parse_origins(DEFAULT_CORS_ORIGINS).is_ok_and(|default| default == self.cors_origins)
    }
}

/// Ten years: a bound that keeps time arithmetic far from overflow.
const MAX_SECS: i64 = 10 * 365 * 24 * 3600;

fn error(variable: &'static str, accepts: &str) -> SettingError {
    SettingError {
        variable,
        accepts: accepts.to_string(),
    }
}

/// The environment, with the defaults and the parsing rules.
struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    fn text(&self, name: &str, default: &str) -> String {
        (self.0)(name).unwrap_or_else(|| default.to_string())
    }

    fn parsed<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: &str,
        accepts: &str,
    ) -> Result<T, SettingError> {
        self.text(name, default)
            .trim()
            .parse()
            .map_err(|_| error(name, accepts))
    }

    fn in_range<T>(&self, name: &'static str, default: T, min: T, max: T) -> Result<T, SettingError>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        let accepts = format!("a whole number from {min} to {max}");
        match (self.0)(name) {
            None => Ok(default),
            Some(raw) => match raw.trim().parse::<T>() {
                Ok(value) if value >= min && value <= max => Ok(value),
                _ => Err(error(name, &accepts)),
            },
        }
    }

    fn boolean(&self, name: &'static str, default: bool) -> Result<bool, SettingError> {
        match (self.0)(name).as_deref().map(str::trim) {
            None => Ok(default),
            Some("true" | "1") => Ok(true),
            Some("false" | "0") => Ok(false),
            Some(_) => Err(error(name, "true, false, 1 or 0")),
        }
    }
}

/// Exact origins, `scheme://host[:port]`. A wildcard with credentials is
/// forbidden by the Fetch standard and would hand every site the user's
/// session; `null` is what sandboxed and file pages send, so allowing it
/// allows anyone (MDN, Access-Control-Allow-Origin; OWASP ASVS 4.0.3 V14.5.3).
fn parse_origins(raw: &str) -> Result<Vec<String>, SettingError> {
    let mut origins = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if origin == "*" {
            return Err(error(
                "CORS_ORIGINS",
                "exact origins such as https://app.example.com; `*` is refused because credentialed requests cannot use a wildcard",
            ));
        }
        if !is_origin(origin) {
            return Err(error(
                "CORS_ORIGINS",
                "comma-separated origins of the form http(s)://host[:port], without path or trailing slash",
            ));
        }
        origins.push(origin.to_string());
    }
    Ok(origins)
}

/// A cookie domain: a host name of ASCII labels, without a leading dot
/// (RFC 6265 §5.2.3 ignores one anyway); empty is none.
fn parse_cookie_domain(raw: &str) -> Result<Option<String>, SettingError> {
    let domain = raw.trim().trim_start_matches('.').to_ascii_lowercase();
    if domain.is_empty() {
        return Ok(None);
    }
    if is_host_name(&domain) {
        Ok(Some(domain))
    } else {
        Err(error("COOKIE_DOMAIN", "a domain such as example.com"))
    }
}

/// `FORWARD_AUTH_HOSTS`: comma-separated host names, each exact
/// (`wiki.example.com`) or a wildcard for subdomains (`*.example.com`).
fn parse_host_patterns(raw: &str) -> Result<Vec<String>, SettingError> {
    let mut patterns = Vec::new();
    for pattern in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let pattern = pattern.to_ascii_lowercase();
        let name = pattern.strip_prefix("*.").unwrap_or(&pattern);
        if !is_host_name(name) {
            return Err(error(
                "FORWARD_AUTH_HOSTS",
                "comma-separated host names such as wiki.example.com or *.example.com",
            ));
        }
        patterns.push(pattern);
    }
    Ok(patterns)
}

/// Labels of ASCII letters, digits and hyphens, not starting or ending
/// with a hyphen.
fn is_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// `http(s)://host[:port][/path]`, kept without a trailing slash; empty is
/// none. No query or fragment: links append `/reset-password#token=…`.
fn parse_public_url(raw: &str) -> Result<Option<String>, SettingError> {
    let url = raw.trim().trim_end_matches('/');
    if url.is_empty() {
        return Ok(None);
    }
    let accepts = "a base URL such as https://app.example.com or https://example.com/auth (no query or fragment)";
    let (scheme_and_host, path) = match url.split_once("://") {
        Some((scheme, rest)) => match rest.find('/') {
            Some(i) => (format!("{scheme}://{}", &rest[..i]), &rest[i..]),
            None => (url.to_string(), ""),
        },
        None => return Err(error("PUBLIC_URL", accepts)),
    };
    let path_ok = path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/-._~%".contains(&b));
    if !is_origin(&scheme_and_host) || !path_ok {
        return Err(error("PUBLIC_URL", accepts));
    }
    Ok(Some(url.to_string()))
}

/// An address for the `From` header: printable ASCII with one `@`, and
/// nothing that could end the header or start another.
fn parse_mail_from(raw: &str) -> Result<String, SettingError> {
    let from = raw.trim();
    let ok = from.matches('@').count() == 1
        && !from.starts_with('@')
        && !from.ends_with('@')
        && from
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"<>\"\\,;:()[]".contains(&b));
    if ok {
        Ok(from.to_string())
    } else {
        Err(error(
            "MAIL_FROM",
            "an address such as auth-server@example.com",
        ))
    }
}

fn is_origin(text: &str) -> bool {
    let Some((scheme, authority)) = text.split_once("://") else {
        return false;
    };
    // The port follows the last colon, unless that colon is inside an IPv6
    // literal such as [::1].
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => (&authority[..i], Some(&authority[i + 1..])),
        _ => (authority, None),
    };
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b))
        && port.is_none_or(|p| p.parse::<u16>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_contract() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.port, 8080);
        assert_eq!(s.host.to_string(), "0.0.0.0");
        assert_eq!(s.database_path, PathBuf::from("auth.db"));
        assert_eq!(s.cors_origins.len(), 4);
        assert_eq!(s.bcrypt_cost, 12);
        assert_eq!(s.password_min_length, 12);
        assert_eq!(s.cookie_same_site, SameSite::Lax);
        assert!(!s.cookie_secure);
        assert_eq!(s.session_idle_timeout_secs, 1800);
        assert_eq!(s.session_absolute_timeout_secs, 43200);
        assert_eq!(s.max_connections, 512);
        assert_eq!(s.max_sessions, 100_000);
        assert_eq!(s.hash_queue_wait_secs, 5);
        assert_eq!(s.public_url, None);
        assert_eq!(s.login_url, "/login");
        assert!(s.registration_open);
        assert_eq!(s.cookie_domain, None);
        let proxied = settings(&[
            ("PUBLIC_URL", "https://auth.example.com"),
            ("FORWARD_AUTH_HOSTS", "wiki.example.com, *.Example.com"),
            ("COOKIE_DOMAIN", ".example.com"),
        ])
        .unwrap();
        assert_eq!(proxied.login_url, "https://auth.example.com/login");
        assert_eq!(
            proxied.forward_auth_hosts,
            ["wiki.example.com", "*.example.com"]
        );
        assert_eq!(proxied.cookie_domain.as_deref(), Some("example.com"));
        assert_eq!(s.mail_command, None);
        assert_eq!(s.mail_from, "auth-server@localhost");
        assert_eq!(
            settings(&[("PUBLIC_URL", "https://example.com/auth/")])
                .unwrap()
                .public_url
                .as_deref(),
            Some("https://example.com/auth")
        );
        assert_eq!(s.max_connections_per_ip, 64);
        // The per-address cap may not exceed the total.
        assert_eq!(
            settings(&[("MAX_CONNECTIONS", "10")])
                .unwrap()
                .max_connections_per_ip,
            10
        );
        assert_eq!(
            settings(&[("MAX_CONNECTIONS", "10"), ("MAX_CONNECTIONS_PER_IP", "11")])
                .unwrap_err()
                .variable,
            "MAX_CONNECTIONS_PER_IP"
        );
        assert_eq!(s.log_format, LogFormat::Text);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("PORT", "70000"),
            ("PORT", "eighty"),
            ("HOST", "example.com"),
            ("BCRYPT_COST", "3"),
            ("BCRYPT_COST", "32"),
            ("PASSWORD_MIN_LENGTH", "7"),
            ("COOKIE_SECURE", "yes"),
            ("COOKIE_SAMESITE", "lax"),
            ("LOG_FORMAT", "xml"),
            ("MAX_CONNECTIONS", "0"),
            ("HASH_QUEUE_WAIT_SECS", "0"),
            ("HASH_QUEUE_WAIT_SECS", "61"),
            ("MAX_CONNECTIONS_PER_IP", "0"),
            ("PUBLIC_URL", "ftp://example.com"),
            ("COOKIE_DOMAIN", "exa mple.com"),
            ("FORWARD_AUTH_HOSTS", "good.example.com, **.evil"),
            ("LOGIN_URL", "javascript:alert(1)"),
            ("REGISTRATION", "maybe"),
            ("PUBLIC_URL", "https://example.com/a?b"),
            ("MAIL_FROM", "x@y\r\nBcc: z@w"),
            ("MAIL_FROM", "nobody"),
            ("SESSION_IDLE_TIMEOUT_SECS", "-5"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, name, "{name}={value}");
        }
    }

    #[test]
    fn mail_needs_a_public_url() {
        let err = settings(&[("MAIL_COMMAND", "sendmail -t")]).unwrap_err();
        assert_eq!(err.variable, "PUBLIC_URL");
        assert!(
            settings(&[
                ("MAIL_COMMAND", "sendmail -t"),
                ("PUBLIC_URL", "http://localhost:3000")
            ])
            .is_ok()
        );
    }

    #[test]
    fn wildcard_and_malformed_origins_are_refused() {
        for bad in [
            "*",
            "null",
            "http://a.com/",
            "a.com",
            "ftp://a.com",
            "http://a.com:99999",
        ] {
            let err = settings(&[("CORS_ORIGINS", bad)]).unwrap_err();
            assert_eq!(err.variable, "CORS_ORIGINS", "{bad}");
        }
        let ok =
            settings(&[("CORS_ORIGINS", "https://app.example.com, http://[::1]:3000")]).unwrap();
        assert_eq!(
            ok.cors_origins,
            ["https://app.example.com", "http://[::1]:3000"]
        );
    }

    #[test]
    fn samesite_none_requires_secure() {
        assert_eq!(
            settings(&[("COOKIE_SAMESITE", "None")])
                .unwrap_err()
                .variable,
            "COOKIE_SAMESITE"
        );
        assert!(settings(&[("COOKIE_SAMESITE", "None"), ("COOKIE_SECURE", "true")]).is_ok());
    }
}
