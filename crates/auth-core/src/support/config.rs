//! Settings, read once from the environment at start-up.
//!
//! Every variable of the contract's table is here with its default. A bad
//! value is a start-up error naming the variable and what it accepts: a
//! server that guesses what an operator meant is a server misconfigured in
//! silence.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use crate::support::settings_table::{self, Setting};
use crate::support::text::{is_format, is_group_name, is_host_name};
use crate::support::url::Url;

/// `REGISTRATION`: who may sign up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registration {
    /// Anyone; an invitation, when given, still gives its groups.
    Open,
    /// Only with an invitation from an administrator.
    Invite,
    /// Nobody: accounts come from the operator.
    Closed,
}

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
    pub passkey_options_per_minute: u32,
    pub login_failures_per_ip: u32,
    pub cookie_secure: bool,
    pub cookie_same_site: SameSite,
    pub session_idle_timeout_secs: i64,
    pub session_absolute_timeout_secs: i64,
    pub remember_me_timeout_secs: i64,
    /// How recent a session's last proof must be for a new credential.
    pub reauth_secs: i64,
    /// An OpenID refresh token family's absolute lifetime, in days.
    pub oidc_refresh_max_days: i64,
    pub trust_proxy: bool,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub hash_workers: usize,
    pub hash_queue_wait_secs: u64,
    pub audit_retention_days: u32,
    pub max_sessions: usize,
    pub max_sessions_per_user: usize,
    pub session_persist: bool,
    pub log_format: LogFormat,
    /// Where Prometheus metrics are served, on a listener of their own.
    pub metrics_addr: Option<SocketAddr>,
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
    /// `SITE_NAME`: in pages, mail and the TOTP issuer.
    pub site_name: String,
    /// Where the signed-in page links without an `rd`: `HOME_URL`, else
    /// `PUBLIC_URL`'s origin; `None` when neither is set.
    pub home_url: Option<String>,
    /// `Domain=` of the session cookie, shared by every subdomain.
    pub cookie_domain: Option<String>,
    /// Host patterns the sign-in may send a browser back to: exact names,
    /// or `*.example.com` for any subdomain.
    pub forward_auth_hosts: Vec<String>,
    /// Where a signed-out browser is sent (absolute, or a path on the host
    /// it came to).
    pub login_url: String,
    /// `ACCESS_RULES_FILE`, when set.
    pub access_rules_file: Option<PathBuf>,
    /// Who may make an account through `POST /api/register`.
    pub registration: Registration,
    /// The group whose members (with a second factor) use the admin page.
    pub admin_group: String,
    /// `PASSKEY_RP_ID`: the WebAuthn relying party id.
    pub passkey_rp_id: String,
    /// `PASSKEY_ORIGINS`: where a passkey ceremony may come from.
    pub passkey_origins: Vec<String>,
    /// The CA certificates upstream providers' HTTPS is checked against.
    pub upstream_ca_file: PathBuf,
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

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, SettingError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`, so tests need not touch the
    /// process environment. Defaults and ranges come from `SETTINGS`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingError> {
        let vars = Vars(&lookup);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut settings = Settings {
            host: vars.parsed("HOST")?,
            port: vars.number("PORT")?,
            database_path: PathBuf::from(vars.text("DATABASE_PATH")?),
            cors_origins: parse_origins("CORS_ORIGINS", &vars.text("CORS_ORIGINS")?)?,
            bcrypt_cost: vars.number("BCRYPT_COST")?,
            password_min_length: vars.number("PASSWORD_MIN_LENGTH")?,
            registrations_per_hour: vars.number("REGISTRATIONS_PER_HOUR")?,
            passkey_options_per_minute: vars.number("PASSKEY_OPTIONS_PER_MINUTE")?,
            login_failures_per_ip: vars.number("LOGIN_FAILURES_PER_IP")?,
            cookie_secure: vars.boolean("COOKIE_SECURE")?,
            cookie_same_site: match vars.text("COOKIE_SAMESITE")?.as_str() {
                "Strict" => SameSite::Strict,
                "Lax" => SameSite::Lax,
                "None" => SameSite::None,
                _ => return Err(vars.refused("COOKIE_SAMESITE")),
            },
            session_idle_timeout_secs: vars.number("SESSION_IDLE_TIMEOUT_SECS")?,
            session_absolute_timeout_secs: vars.number("SESSION_ABSOLUTE_TIMEOUT_SECS")?,
            remember_me_timeout_secs: vars.number("REMEMBER_ME_TIMEOUT_SECS")?,
            reauth_secs: vars.number("REAUTH_SECS")?,
            oidc_refresh_max_days: vars.number("OIDC_REFRESH_MAX_DAYS")?,
            trust_proxy: vars.boolean("TRUST_PROXY")?,
            max_connections: vars.number("MAX_CONNECTIONS")?,
            // The per-address cap's default and bound depend on
            // MAX_CONNECTIONS, so it is read below; 0 until then.
            max_connections_per_ip: 0,
            hash_workers: vars.number_or("HASH_WORKERS", cores as i64, None)?,
            hash_queue_wait_secs: vars.number("HASH_QUEUE_WAIT_SECS")?,
            audit_retention_days: vars.number("AUDIT_RETENTION_DAYS")?,
            max_sessions: vars.number("MAX_SESSIONS")?,
            max_sessions_per_user: vars.number("MAX_SESSIONS_PER_USER")?,
            session_persist: vars.boolean("SESSION_PERSIST")?,
            metrics_addr: match vars.text("METRICS_ADDR")?.trim() {
                "" => None,
                address => Some(address.parse().map_err(|_| vars.refused("METRICS_ADDR"))?),
            },
            public_url: parse_public_url(&vars.text("PUBLIC_URL")?)?,
            mail_command: Some(vars.text("MAIL_COMMAND")?)
                .filter(|command| !command.trim().is_empty()),
            mail_from: parse_mail_from(&vars.text("MAIL_FROM")?)?,
            reset_token_ttl_secs: vars.number("RESET_TOKEN_TTL_SECS")?,
            verify_token_ttl_secs: vars.number("VERIFY_TOKEN_TTL_SECS")?,
            require_verified_email: vars.boolean("REQUIRE_VERIFIED_EMAIL")?,
            password_resets_per_hour: vars.number("PASSWORD_RESETS_PER_HOUR")?,
            // Filled in below: the defaults depend on SITE_NAME and PUBLIC_URL.
            totp_issuer: String::new(),
            site_name: match vars.text("SITE_NAME")?.trim() {
                // It reaches HTML (escaped), mail headers and the otpauth
                // URI: nothing that could end a header line or hide.
                name if (1..=64).contains(&name.chars().count())
                    && !name.chars().any(|c| c.is_control() || is_format(c)) =>
                {
                    name.to_string()
                }
                _ => return Err(vars.refused("SITE_NAME")),
            },
            home_url: None,
            cookie_domain: parse_cookie_domain(&vars.text("COOKIE_DOMAIN")?)?,
            forward_auth_hosts: parse_host_patterns(&vars.text("FORWARD_AUTH_HOSTS")?)?,
            // Filled in below: the default depends on PUBLIC_URL.
            login_url: String::new(),
            access_rules_file: Some(vars.text("ACCESS_RULES_FILE")?)
                .filter(|path| !path.trim().is_empty())
                .map(|path| PathBuf::from(path.trim())),
            // Filled in below: the defaults depend on PUBLIC_URL.
            passkey_rp_id: String::new(),
            passkey_origins: Vec::new(),
            registration: match vars.text("REGISTRATION")?.trim() {
                "open" => Registration::Open,
                "invite" => Registration::Invite,
                "closed" => Registration::Closed,
                _ => return Err(vars.refused("REGISTRATION")),
            },
            upstream_ca_file: PathBuf::from(vars.text("UPSTREAM_CA_FILE")?.trim()),
            admin_group: match vars.text("ADMIN_GROUP")?.trim() {
                name if is_group_name(name) => name.to_string(),
                _ => return Err(vars.refused("ADMIN_GROUP")),
            },
            log_format: match vars.text("LOG_FORMAT")?.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(vars.refused("LOG_FORMAT")),
            },
        };
        settings.totp_issuer = match (vars.0)("TOTP_ISSUER") {
            None => settings.site_name.replace(':', " "),
            Some(issuer) => match issuer.trim() {
                issuer
                    if (1..=64).contains(&issuer.chars().count())
                        && !issuer.contains(':')
                        && !issuer.chars().any(char::is_control) =>
                {
                    issuer.to_string()
                }
                _ => return Err(vars.refused("TOTP_ISSUER")),
            },
        };
        settings.home_url = match (vars.0)("HOME_URL").map(|u| u.trim().to_string()) {
            Some(url) if url.is_empty() => None,
            Some(url) if Url::parse(&url).is_ok() => Some(url),
            Some(_) => return Err(vars.refused("HOME_URL")),
            None => settings.public_origin(),
        };
        settings.login_url = match (vars.0)("LOGIN_URL").map(|u| u.trim().to_string()) {
            // A path on the guarded host itself (under the proxy), or
            // an absolute URL.
            Some(url)
                if (url.starts_with('/')
                    && !url.starts_with("//")
                    && !url.contains('\\')
                    && !url.chars().any(|c| c.is_control() || c.is_whitespace()))
                    || Url::parse(&url).is_ok() =>
            {
                url
            }
            Some(_) => return Err(vars.refused("LOGIN_URL")),
            None => match &settings.public_url {
                Some(base) => format!("{base}/login"),
                None => "/login".to_string(),
            },
        };
        (settings.passkey_rp_id, settings.passkey_origins) =
            passkey_relying_party(&vars, &settings)?;
        // Mail carries links, and a link needs the front end's address.
        if settings.mail_command.is_some() && settings.public_url.is_none() {
            return Err(error(
                "PUBLIC_URL",
                "the front end's base URL, such as https://app.example.com, whenever MAIL_COMMAND is set",
            ));
        }
        settings.max_connections_per_ip = vars.number_or(
            "MAX_CONNECTIONS_PER_IP",
            DEFAULT_CONNECTIONS_PER_IP.min(settings.max_connections) as i64,
            Some(settings.max_connections as i64),
        )?;
        // The metrics listener is never the API's own: what it shows is for
        // operators, and a port shared with the API would expose it.
        if settings.metrics_addr.is_some_and(|a| {
            a.port() == settings.port
                && a.port() != 0
                && (a.ip() == settings.host
                    || a.ip().is_unspecified()
                    || settings.host.is_unspecified())
        }) {
            return Err(error(
                "METRICS_ADDR",
                "an address other than the API's (HOST and PORT)",
            ));
        }
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
        settings_table::find("CORS_ORIGINS")
            .and_then(|entry| parse_origins("CORS_ORIGINS", entry.default).ok())
            .is_some_and(|default| default == self.cors_origins)
    }

    /// `PUBLIC_URL`'s origin (`scheme://host[:port]`), if it is set: the
    /// address the server's own pages are reached at, whatever `Host` a
    /// proxy passes on.
    pub fn public_origin(&self) -> Option<String> {
        let url = Url::parse(self.public_url.as_deref()?).ok()?;
        Some(url.origin())
    }
}

fn error(variable: &'static str, accepts: &str) -> SettingError {
    SettingError {
        variable,
        accepts: accepts.to_string(),
    }
}

/// The environment, read through the settings table: a variable's default
/// and range are the table's, and so is the text of its error.
struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    fn entry(&self, name: &'static str) -> Result<&'static Setting, SettingError> {
        settings_table::find(name).ok_or_else(|| error(name, "a variable of the settings table"))
    }

    /// The refusal for `name`, saying what the table says it accepts.
    fn refused(&self, name: &'static str) -> SettingError {
        let accepts = settings_table::find(name).map_or_else(String::new, Setting::accepts);
        error(name, &accepts)
    }

    fn text(&self, name: &'static str) -> Result<String, SettingError> {
        let entry = self.entry(name)?;
        Ok((self.0)(name).unwrap_or_else(|| entry.default.to_string()))
    }

    fn parsed<T: std::str::FromStr>(&self, name: &'static str) -> Result<T, SettingError> {
        self.text(name)?
            .trim()
            .parse()
            .map_err(|_| self.refused(name))
    }

    /// A whole number in the table's range, the table's default when unset.
    fn number<T: TryFrom<i64>>(&self, name: &'static str) -> Result<T, SettingError> {
        let default = self
            .entry(name)?
            .default
            .parse::<i64>()
            .map_err(|_| self.refused(name))?;
        self.number_or(name, default, None)
    }

    /// A whole number in the table's range (its top lowered to `max` when
    /// given), `default` when unset: for defaults the table can only
    /// describe ("the number of cores").
    fn number_or<T: TryFrom<i64>>(
        &self,
        name: &'static str,
        default: i64,
        max: Option<i64>,
    ) -> Result<T, SettingError> {
        let entry = self.entry(name)?;
        let (min, table_max) = entry.range.unwrap_or((i64::MIN, i64::MAX));
        let max = max.map_or(table_max, |m| m.min(table_max));
        let value = match (self.0)(name) {
            None => default,
            Some(raw) => raw
                .trim()
                .parse::<i64>()
                .map_err(|_| self.out_of(name, min, max))?,
        };
        if !(min..=max).contains(&value) {
            return Err(self.out_of(name, min, max));
        }
        T::try_from(value).map_err(|_| self.out_of(name, min, max))
    }

    fn out_of(&self, name: &'static str, min: i64, max: i64) -> SettingError {
        error(name, &format!("a whole number from {min} to {max}"))
    }

    fn boolean(&self, name: &'static str) -> Result<bool, SettingError> {
        match self.text(name)?.trim() {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(self.refused(name)),
        }
    }
}

/// Exact origins, `scheme://host[:port]`. A wildcard with credentials is
/// forbidden by the Fetch standard and would hand every site the user's
/// session; `null` is what sandboxed and file pages send, so allowing it
/// allows anyone (MDN, Access-Control-Allow-Origin; OWASP ASVS 4.0.3 V14.5.3).
fn parse_origins(variable: &'static str, raw: &str) -> Result<Vec<String>, SettingError> {
    let mut origins = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if origin == "*" {
            return Err(error(
                variable,
                "exact origins such as https://app.example.com; `*` is refused because credentialed requests cannot use a wildcard",
            ));
        }
        if !is_origin(origin) {
            return Err(error(
                variable,
                "comma-separated origins of the form http(s)://host[:port], without path or trailing slash",
            ));
        }
        origins.push(origin.to_string());
    }
    Ok(origins)
}

/// The host of an origin `scheme://host[:port]` (an IPv6 literal in its
/// brackets: never under a host name); empty if it is not one.
fn origin_host(origin: &str) -> String {
    Url::parse(origin).map_or(String::new(), |url| url.authority.host.to_string())
}

/// Whether `host` is `rp_id` or a subdomain of it (W3C WebAuthn Level 3
/// §5.1.3: the relying party id must be a registrable suffix of the
/// origin's host, or the browser refuses the ceremony). A one-label id such
/// as `localhost` is a suffix of nothing: browsers treat it as a top-level
/// domain (Chromium refuses `localhost` for `app.localhost`).
fn under_rp_id(host: &str, rp_id: &str) -> bool {
    let (host, rp_id) = (host.to_ascii_lowercase(), rp_id.to_ascii_lowercase());
    host == rp_id || (rp_id.contains('.') && host.ends_with(&format!(".{rp_id}")))
}

/// `PASSKEY_RP_ID` and `PASSKEY_ORIGINS`, with their defaults from
/// `PUBLIC_URL` and `CORS_ORIGINS` (the CORS origins that cannot use the
/// RP id are left out of the default; set explicitly, each must fit).
fn passkey_relying_party(
    vars: &Vars,
    settings: &Settings,
) -> Result<(String, Vec<String>), SettingError> {
    let public_origin = settings.public_origin();
    let rp_id = match (vars.0)("PASSKEY_RP_ID").map(|id| id.trim().to_ascii_lowercase()) {
        Some(id) if !id.is_empty() => {
            if !is_host_name(&id) {
                return Err(error(
                    "PASSKEY_RP_ID",
                    "a host name such as example.com (no scheme, port or path)",
                ));
            }
            id
        }
        _ => public_origin
            .as_deref()
            .map_or("localhost".to_string(), origin_host),
    };
    let origins = match (vars.0)("PASSKEY_ORIGINS") {
        Some(raw) if !raw.trim().is_empty() => {
            let origins = parse_origins("PASSKEY_ORIGINS", &raw)?;
            if origins
                .iter()
                .any(|o| !under_rp_id(&origin_host(o), &rp_id))
            {
                return Err(error(
                    "PASSKEY_ORIGINS",
                    "origins whose host is PASSKEY_RP_ID or a subdomain of it",
                ));
            }
            origins
        }
        _ => public_origin
            .into_iter()
            .chain(settings.cors_origins.iter().cloned())
            .filter(|o| under_rp_id(&origin_host(o), &rp_id))
            .fold(Vec::new(), |mut all, o| {
                if !all.contains(&o) {
                    all.push(o);
                }
                all
            }),
    };
    // A browser writes the origin's scheme and host in lower case.
    Ok((
        rp_id,
        origins.iter().map(|o| o.to_ascii_lowercase()).collect(),
    ))
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

/// `http(s)://host[:port][/path]`, kept without a trailing slash; empty is
/// none. No query or fragment: links append `/reset-password#token=…`.
fn parse_public_url(raw: &str) -> Result<Option<String>, SettingError> {
    let url = raw.trim().trim_end_matches('/');
    if url.is_empty() {
        return Ok(None);
    }
    let accepts = "a base URL such as https://app.example.com or https://example.com/auth (no query or fragment)";
    let path_ok = |path: &str| {
        path.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~%".contains(&b))
    };
    match Url::parse(url) {
        Ok(parsed)
            if parsed.query.is_none() && parsed.fragment.is_none() && path_ok(&parsed.path) =>
        {
            Ok(Some(url.to_string()))
        }
        _ => Err(error("PUBLIC_URL", accepts)),
    }
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

/// `http(s)://host[:port]` and nothing more, as [`Url`] reads it.
fn is_origin(text: &str) -> bool {
    Url::parse(text)
        .is_ok_and(|url| url.path.is_empty() && url.query.is_none() && url.fragment.is_none())
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
    fn passkey_settings_come_from_public_url_and_must_fit_the_rp_id() {
        let local = settings(&[]).unwrap();
        assert_eq!(local.passkey_rp_id, "localhost");
        assert_eq!(
            local.passkey_origins,
            ["http://localhost:3000", "http://localhost:5173"],
            "the CORS origins on localhost, not those on 127.0.0.1"
        );
        let public = settings(&[("PUBLIC_URL", "https://Auth.Example.com:8443/auth")]).unwrap();
        assert_eq!(public.passkey_rp_id, "auth.example.com");
        assert_eq!(public.passkey_origins, ["https://auth.example.com:8443"]);
        let shared = settings(&[
            ("PUBLIC_URL", "https://auth.example.com"),
            ("PASSKEY_RP_ID", "example.com"),
            (
                "PASSKEY_ORIGINS",
                "https://auth.example.com, https://wiki.example.com",
            ),
        ])
        .unwrap();
        assert_eq!(shared.passkey_rp_id, "example.com");
        assert_eq!(shared.passkey_origins.len(), 2);
        for (name, value) in [
            ("PASSKEY_RP_ID", "https://example.com"),
            ("PASSKEY_RP_ID", "example.com:443"),
            ("PASSKEY_ORIGINS", "https://example.org"),
            ("PASSKEY_ORIGINS", "https://notlocalhost"),
            ("PASSKEY_ORIGINS", "http://app.localhost:8080"),
            ("PASSKEY_ORIGINS", "*"),
        ] {
            assert_eq!(
                settings(&[(name, value)]).unwrap_err().variable,
                name,
                "{value}"
            );
        }
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
        assert_eq!(s.registration, Registration::Open);
        assert_eq!(s.admin_group, "admins");
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
