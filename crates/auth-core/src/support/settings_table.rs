//! Every setting, once: its variable, default, what it accepts and what it
//! means. `config` reads the environment through this table (defaults and
//! numeric ranges come from here), `--help` prints it, the Debian
//! package's `/etc/auth-server/env` is generated from it, and a test checks
//! the settings table of docs/settings.md against it, so none of them can drift.

/// One environment variable.
#[derive(Debug)]
pub struct Setting {
    pub name: &'static str,
    /// As written in documentation; for a number with a range, also what
    /// `config` parses as the default. Empty means unset.
    pub default: &'static str,
    /// Inclusive bounds of a whole-number setting.
    pub range: Option<(i64, i64)>,
    /// What a value may be (for a range, said by `accepts()`).
    pub values: &'static str,
    pub meaning: &'static str,
}

impl Setting {
    /// What the variable accepts, in words.
    pub fn accepts(&self) -> String {
        match self.range {
            Some((min, max)) => format!("a whole number from {min} to {max}"),
            None => self.values.to_string(),
        }
    }
}

/// Ten years in seconds: the bound that keeps time arithmetic far from
/// overflow.
pub const MAX_SECS: i64 = 10 * 365 * 24 * 3600;

const fn setting(
    name: &'static str,
    default: &'static str,
    range: Option<(i64, i64)>,
    values: &'static str,
    meaning: &'static str,
) -> Setting {
    Setting {
        name,
        default,
        range,
        values,
        meaning,
    }
}

const BOOL: &str = "true, false, 1 or 0";

pub const SETTINGS: &[Setting] = &[
    setting(
        "HOST",
        "0.0.0.0",
        None,
        "an IP address such as 0.0.0.0 or 127.0.0.1",
        "IP address to bind (an address, not a host name)",
    ),
    setting(
        "PORT",
        "8080",
        Some((0, 65_535)),
        "",
        "port to bind; 0 picks a free one, printed on the first stdout line",
    ),
    setting(
        "DATABASE_PATH",
        "auth.db",
        None,
        "a file path",
        "SQLite file, created with its schema on first start",
    ),
    setting(
        "CORS_ORIGINS",
        "http://localhost:3000,http://127.0.0.1:3000,http://localhost:5173,http://127.0.0.1:5173",
        None,
        "comma-separated origins http(s)://host[:port]; `*` and `null` are refused; empty allows none",
        "exact origins of front ends on other origins allowed to call with credentials",
    ),
    setting(
        "BCRYPT_COST",
        "12",
        Some((4, 31)),
        "",
        "bcrypt work factor; below 10 the server logs a warning (tests use 4)",
    ),
    setting(
        "PASSWORD_MIN_LENGTH",
        "12",
        Some((8, 64)),
        "",
        "shortest password, in characters (Unicode code points)",
    ),
    setting(
        "REGISTRATIONS_PER_HOUR",
        "20",
        Some((0, 1_000_000)),
        "",
        "registrations accepted from one client address per hour; 0 turns the limit off",
    ),
    setting(
        "PASSKEY_OPTIONS_PER_MINUTE",
        "60",
        Some((0, 1_000_000)),
        "",
        "passkey sign-in options one network (an IPv4 /24, an IPv6 /64) may ask for a minute; 0 turns the limit off",
    ),
    setting(
        "LOGIN_FAILURES_PER_IP",
        "100",
        Some((1, 1_000_000)),
        "",
        "failed logins one client address may make per 15 minutes, over all accounts",
    ),
    setting(
        "COOKIE_SECURE",
        "false",
        None,
        BOOL,
        "add Secure to the session cookie (set true behind TLS)",
    ),
    setting(
        "COOKIE_SAMESITE",
        "Lax",
        None,
        "Strict, Lax or None (None requires COOKIE_SECURE=true)",
        "SameSite of the session cookie",
    ),
    setting(
        "COOKIE_DOMAIN",
        "",
        None,
        "a domain such as example.com",
        "when set, the session cookie carries Domain= so every subdomain shares the sign-in; empty: host-only",
    ),
    setting(
        "SESSION_IDLE_TIMEOUT_SECS",
        "1800",
        Some((1, MAX_SECS)),
        "",
        "a session unused this long is dead",
    ),
    setting(
        "SESSION_ABSOLUTE_TIMEOUT_SECS",
        "43200",
        Some((1, MAX_SECS)),
        "",
        "a session this old is dead however active",
    ),
    setting(
        "REMEMBER_ME_TIMEOUT_SECS",
        "2592000",
        Some((1, MAX_SECS)),
        "",
        "absolute and idle lifetime of a \"remember me\" session",
    ),
    setting(
        "REAUTH_SECS",
        "300",
        Some((1, 86_400)),
        "",
        "how recent a session's last proof (its sign-in, or the password or a code shown again) must be to add a passkey",
    ),
    setting(
        "SESSION_PERSIST",
        "true",
        None,
        BOOL,
        "keep a durable copy of the sessions in the database, so a restart signs nobody out; false: memory only",
    ),
    setting(
        "MAX_SESSIONS",
        "100000",
        Some((1, 100_000_000)),
        "",
        "live sessions held in memory, over all users; when full, the least recently used session of the account holding the most goes",
    ),
    setting(
        "MAX_SESSIONS_PER_USER",
        "32",
        Some((1, 10_000)),
        "",
        "live sessions one account may hold; a login beyond it ends that account's least recently used one",
    ),
    setting(
        "TRUST_PROXY",
        "false",
        None,
        BOOL,
        "take the client address from X-Forwarded-For (only behind a proxy you run)",
    ),
    setting(
        "MAX_CONNECTIONS",
        "512",
        Some((1, 65_536)),
        "",
        "open connections served at once; one more gets 503 at once",
    ),
    setting(
        "MAX_CONNECTIONS_PER_IP",
        "64 (at most MAX_CONNECTIONS)",
        Some((1, 65_536)),
        "",
        "open connections one client address (IPv6: one /64) may hold; not applied with TRUST_PROXY=true",
    ),
    setting(
        "HASH_WORKERS",
        "the number of cores",
        Some((1, 1024)),
        "",
        "threads that run bcrypt (login, registration, password change, account deletion)",
    ),
    setting(
        "HASH_QUEUE_WAIT_SECS",
        "5",
        Some((1, 60)),
        "",
        "the longest a request waits for a hash worker; a longer expected wait gets 503 with Retry-After",
    ),
    setting(
        "AUDIT_RETENTION_DAYS",
        "90",
        Some((1, 36_500)),
        "",
        "how long auth events are kept",
    ),
    setting(
        "LOG_FORMAT",
        "text",
        None,
        "text or json",
        "one line per request and per auth event, on stderr",
    ),
    setting(
        "METRICS_ADDR",
        "",
        None,
        "an address such as 127.0.0.1:9464, not the API's",
        "serve Prometheus metrics at GET /metrics on this second listener; empty: off",
    ),
    setting(
        "SITE_NAME",
        "auth-server",
        None,
        "1 to 64 characters, no control characters",
        "the name people see: page titles and headings, every mail's subject and body, the TOTP issuer; a new password built on it (\"FamilyCloud2024!\") is refused",
    ),
    setting(
        "PUBLIC_URL",
        "",
        None,
        "http(s)://host[:port][/path]",
        "where the sign-in page is reached, as a browser sees it (behind a proxy's /auth/ prefix, include it: https://wiki.example.com/auth); used in mailed links, as the pages' own origin, as the way home, and as the OpenID Connect issuer; required when MAIL_COMMAND is set or OpenID Connect clients exist",
    ),
    setting(
        "HOME_URL",
        "PUBLIC_URL's origin",
        None,
        "an absolute http(s) URL",
        "where the signed-in page links when there is no rd to return to",
    ),
    setting(
        "MAIL_COMMAND",
        "",
        None,
        "a shell command, such as /usr/sbin/sendmail -t -i",
        "run with sh -c, the complete message on standard input; empty: no mail is sent",
    ),
    setting(
        "MAIL_FROM",
        "auth-server@localhost",
        None,
        "an address such as auth-server@example.com",
        "the From address of every message",
    ),
    setting(
        "RESET_TOKEN_TTL_SECS",
        "3600",
        Some((1, 7 * 86_400)),
        "",
        "a password-reset link's lifetime",
    ),
    setting(
        "VERIFY_TOKEN_TTL_SECS",
        "86400",
        Some((1, 30 * 86_400)),
        "",
        "a verification link's lifetime",
    ),
    setting(
        "REQUIRE_VERIFIED_EMAIL",
        "false",
        None,
        BOOL,
        "true: an account whose address is not verified cannot log in (403 email_not_verified)",
    ),
    setting(
        "PASSWORD_RESETS_PER_HOUR",
        "10",
        Some((1, 1_000_000)),
        "",
        "password-reset requests one client address may make per hour; then 429",
    ),
    setting(
        "TOTP_ISSUER",
        "the SITE_NAME",
        None,
        "1 to 64 characters without ':'",
        "the name an authenticator app shows beside the account",
    ),
    setting(
        "FORWARD_AUTH_HOSTS",
        "",
        None,
        "comma-separated host names such as wiki.example.com or *.example.com",
        "hosts the forward-auth redirect and the sign-in page may send a browser back to; empty: no redirects",
    ),
    setting(
        "LOGIN_URL",
        "PUBLIC_URL/login, or /login",
        None,
        "an absolute URL or a path starting with /",
        "where a signed-out browser is sent by forward auth",
    ),
    setting(
        "ACCESS_RULES_FILE",
        "",
        None,
        "a file path",
        "rules for who may use which guarded host (first match wins; docs/protect-an-app.md); re-read when it changes; empty: every signed-in user may use every host of FORWARD_AUTH_HOSTS",
    ),
    setting(
        "PASSKEY_RP_ID",
        "the host of PUBLIC_URL, else localhost",
        None,
        "a host name such as example.com, a suffix of every PASSKEY_ORIGINS host",
        "the WebAuthn relying party id passkeys are bound to (with COOKIE_DOMAIN=example.com use example.com); changing it orphans every passkey",
    ),
    setting(
        "PASSKEY_ORIGINS",
        "PUBLIC_URL's origin plus the CORS_ORIGINS under PASSKEY_RP_ID",
        None,
        "comma-separated origins http(s)://host[:port] whose host is PASSKEY_RP_ID or under it",
        "the exact origins a passkey ceremony may come from (the browser's signed word, never derived from Host)",
    ),
    setting(
        "OIDC_REFRESH_MAX_DAYS",
        "90",
        Some((1, 3650)),
        "",
        "an OpenID Connect refresh token's absolute lifetime, however often it is used (each use still rotates it; unused, it lapses after 30 days)",
    ),
    setting(
        "REGISTRATION",
        "open",
        None,
        "open, invite or closed",
        "invite: POST /api/register needs an invitation from an administrator (the admin page or `admin invite`); closed: it answers 403 registration_closed, even with an invitation, and accounts come from the operator",
    ),
    setting(
        "UPSTREAM_CA_FILE",
        "/etc/ssl/certs/ca-certificates.crt",
        None,
        "a path to a PEM file of CA certificates",
        "the certificates an upstream OpenID provider's HTTPS is checked against (`admin upstream add`); Debian's ca-certificates by default, so the system keeps them current",
    ),
    setting(
        "ADMIN_GROUP",
        "admins",
        None,
        "a group name: 1-64 of a-z 0-9 _ -",
        "the group whose members may use the admin page and /api/admin/* (with a session opened with a second factor)",
    ),
];

/// The setting called `name`.
pub fn find(name: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.name == name)
}

/// The settings as `auth-server --help` lists them.
pub fn help_text() -> String {
    let mut out =
        String::from("settings (environment variables, or KEY=VALUE lines of --env-file):\n");
    for s in SETTINGS {
        let default = if s.default.is_empty() {
            "(empty)"
        } else {
            s.default
        };
        out.push_str(&format!(
            "  {}\n      default: {default}\n      accepts: {}\n      {}\n",
            s.name,
            s.accepts(),
            s.meaning
        ));
    }
    out
}

/// The settings as docs/settings.md's table (a test keeps the two equal).
pub fn markdown_table() -> String {
    let mut out =
        String::from("| variable | default | accepts | meaning |\n| --- | --- | --- | --- |\n");
    for s in SETTINGS {
        let default = match s.default {
            "" => "empty".to_string(),
            d if d.contains(' ') => d.to_string(),
            d => format!("`{d}`"),
        };
        out.push_str(&format!(
            "| `{}` | {default} | {} | {} |\n",
            s.name,
            s.accepts().replace('|', "\\|"),
            s.meaning.replace('|', "\\|")
        ));
    }
    out
}

/// The settings as an env file: every one commented out with its default,
/// for an operator to uncomment and change (the Debian package's
/// `/etc/auth-server/env`).
pub fn env_file() -> String {
    let mut out = String::from(
        "# auth-server settings. Every line is commented out with its default;\n\
         # uncomment and change what you need. The process environment wins over\n\
         # this file. `auth-server --help` explains each one.\n",
    );
    for s in SETTINGS {
        out.push_str(&format!("\n# {} ({})\n", s.meaning, s.accepts()));
        // A default written as words ("the number of cores") is no value
        // to uncomment; a real one has no spaces.
        if !s.default.contains(' ') {
            out.push_str(&format!("#{}={}\n", s.name, s.default));
        } else {
            out.push_str(&format!("# default: {}\n#{}=\n", s.default, s.name));
        }
    }
    out
}

/// What the Debian package sets in `/etc/auth-server/env`, each with why.
/// The rest stay commented out with their defaults.
pub const PACKAGE_SETTINGS: &[(&str, &str, &str)] = &[
    (
        "HOST",
        "127.0.0.1",
        "only local processes (the proxy in front) can connect",
    ),
    ("PORT", "8080", ""),
    ("DATABASE_PATH", "/var/lib/auth-server/auth.db", ""),
    (
        "TRUST_PROXY",
        "true",
        "every connection is the local proxy's, so the client is the one it \
         names in X-Forwarded-For; without this every client counts as one \
         address for throttling and fair queueing",
    ),
];

/// The env file the Debian package installs (`debian/env`, kept equal to
/// this by a test): [`env_file`] with [`PACKAGE_SETTINGS`] set.
pub fn package_env_file() -> String {
    let mut out = String::new();
    for line in env_file().lines() {
        let set = PACKAGE_SETTINGS.iter().find(|(name, _, _)| {
            line.strip_prefix('#')
                .and_then(|l| l.strip_prefix(name))
                .is_some_and(|rest| rest.starts_with('='))
        });
        match set {
            Some((name, value, why)) => {
                if !why.is_empty() {
                    out.push_str(&format!("# Set by the package: {why}.\n"));
                }
                out.push_str(&format!("{name}={value}\n"));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}
