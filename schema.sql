-- auth-server schema, version 13. Applied to a new database at start-up;
-- PRAGMA user_version records which version a database file is at, and
-- crates/auth-core/src/storage/schema.rs migrates older files in place (MIGRATIONS there).

CREATE TABLE users (
    -- AUTOINCREMENT: an id is never handed out twice, so nothing that
    -- names a deleted account (a session, an audit row) can ever name a
    -- new one.
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- ASCII only (checked in code), so NOCASE makes "Alice" and "alice" one
    -- name; the UNIQUE constraint lets the database pick the one winner of a
    -- registration race.
    username      TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    -- Stored lower-case; NOCASE adds a second guard for ASCII.
    email         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    -- A bcrypt hash ($2b$...), never the password.
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,          -- Unix seconds
    last_login_at INTEGER,                   -- Unix seconds; NULL until the first login
    login_count   INTEGER NOT NULL DEFAULT 0,
    -- Copied into every session at login and compared on every request:
    -- bumping it (password change, disable, admin commands) ends all of the
    -- user's sessions at once, even when another process made the change.
    -- Starts at a random value (set by the code), which binds a session to
    -- this account, not just to its id.
    auth_epoch    INTEGER NOT NULL DEFAULT 0,
    disabled      INTEGER NOT NULL DEFAULT 0, -- 1: cannot log in
    -- 1 once the owner proved they read this address (a verification link,
    -- a password reset, or `admin verify`).
    email_verified INTEGER NOT NULL DEFAULT 0,
    -- Two-factor login (RFC 6238). The secret is stored as it is: checking a
    -- code needs it. It is never logged and never sent after set-up.
    totp_secret    BLOB,                     -- set: two-factor login is on
    totp_pending   BLOB,                     -- a set-up not yet confirmed
    totp_last_step INTEGER,                  -- the last accepted 30 s step: no replay
    -- The groups the user belongs to (ACCESS_RULES_FILE's groups=), sorted,
    -- comma-separated, each 1-64 of a-z 0-9 _ -: read with the row every
    -- session check reads anyway, so a rule costs no query of its own.
    groups         TEXT    NOT NULL DEFAULT '',
    -- The account's WebAuthn user handle: 32 random bytes, made when its
    -- first passkey is set up and never changed; a device returns it at
    -- sign-in. Random, so it says nothing about the account (W3C WebAuthn
    -- Level 3 §14.6.1).
    passkey_handle BLOB,
    -- The account's OpenID Connect subject ("sub"): random, made when it
    -- first signs in to a client, never changed and never reused, so an app
    -- never sees the internal id (OpenID Connect Core 1.0 §2, §8).
    oidc_subject   TEXT
);
CREATE UNIQUE INDEX users_oidc_subject ON users (oidc_subject);
CREATE UNIQUE INDEX users_passkey_handle ON users (passkey_handle);

-- What happened, for operators (`auth-server admin events`). Never a
-- password, hash or token. user_id is a plain number, not a foreign key, so
-- the trail outlives a deleted account.
CREATE TABLE auth_events (
    id          INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,            -- Unix seconds
    event       TEXT    NOT NULL,            -- registered, login_ok, ...
    user_id     INTEGER,
    identifier  TEXT,                        -- the name or email tried
    ip          TEXT,
    user_agent  TEXT,
    count       INTEGER NOT NULL DEFAULT 1,  -- > 1 for aggregated throttled attempts
    detail      TEXT,                        -- access_denied: host, path, rule, decision
    -- The administrator who made the change (an admin page's action); NULL
    -- for the person's own and for the shell (`admin`), whose operator has
    -- no account.
    actor       INTEGER
);
CREATE INDEX auth_events_at ON auth_events (at);
CREATE INDEX auth_events_user ON auth_events (user_id, at);

-- The durable copy of the live sessions, so a restart signs nobody out.
-- Keyed by the SHA-256 of the token: the token itself is never stored, so
-- a copy of this file opens no session. Written through on every login and
-- logout; last_seen_at is written behind in batches, so after a crash it
-- may be a little old, which can only make a session end sooner.
CREATE TABLE sessions (
    token_hash        BLOB    PRIMARY KEY,   -- SHA-256 of the token
    public_id         INTEGER NOT NULL,      -- the id shown in GET /api/sessions
    user_id           INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_epoch        INTEGER NOT NULL,      -- the account binding at login
    created_at        INTEGER NOT NULL,
    last_seen_at      INTEGER NOT NULL,
    absolute_end      INTEGER NOT NULL,      -- no activity extends it
    idle_secs         INTEGER NOT NULL,
    remember          INTEGER NOT NULL,
    previous_login_at INTEGER,
    ip                TEXT    NOT NULL,
    user_agent        TEXT    NOT NULL,
    -- How it was opened: password, password+totp, recovery_code, passkey
    -- (a rule's two_factor wants any but the first).
    opened_with       TEXT    NOT NULL DEFAULT 'password',
    -- When the session last proved who it is (sign-in, password change,
    -- step-up, reauthentication): adding a passkey wants a recent proof.
    proved_at         INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (user_id);

-- Password-reset and verification tokens, only as SHA-256: the token itself
-- travels in the mailed link and nowhere else. Single-use, expiring; a new
-- token of a purpose replaces the account's previous one.
CREATE TABLE email_tokens (
    token_hash BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT    NOT NULL,             -- reset, verify
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);

-- Mail still to send. It names the account, the purpose and the address,
-- never a token: the mailer mints the token as it builds the message, so a
-- queued message survives a crash and the database never holds a link.
-- Lockouts an operator lifted (admin unlock), waiting for the server,
-- whose failure counters are in memory, to apply them within seconds.
CREATE TABLE unlock_requests (
    id    INTEGER PRIMARY KEY,
    kind  TEXT    NOT NULL,                  -- identifier, address
    value TEXT    NOT NULL,
    at    INTEGER NOT NULL
);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose         TEXT    NOT NULL,        -- reset, verify, notice
    recipient       TEXT    NOT NULL,        -- the validated address
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    -- Where the page the link opens sends the browser afterwards: an rd
    -- the server approved when the mail was asked for, or NULL.
    return_to       TEXT,
    -- A security notice's text (what changed, when, from where); NULL for
    -- the other purposes, whose links are minted at send time.
    notice          TEXT,
    -- The last failed attempt: the command's exit status and the first
    -- line of what it wrote to stderr (for admin outbox).
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox (next_attempt_at);

-- Single-use recovery codes for a lost authenticator, as SHA-256 of their
-- 120 random bits (NIST SP 800-63B §5.1.2.2); shown to the user once.
CREATE TABLE recovery_codes (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BLOB    NOT NULL,
    used_at   INTEGER,                       -- set once used
    PRIMARY KEY (user_id, code_hash)
) WITHOUT ROWID;

-- Passkeys (WebAuthn credentials): the public key only; the private key
-- never leaves the person's device. A credential id belongs to one
-- account at most.
CREATE TABLE passkeys (
    credential_id BLOB    PRIMARY KEY,        -- as the device chose it, <= 1023 bytes
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    public_key    BLOB    NOT NULL,           -- the COSE key as the device sent it
    algorithm     INTEGER NOT NULL,           -- COSE: -7 ES256, -8 EdDSA, -257 RS256
    sign_count    INTEGER NOT NULL,           -- the device's counter; 0 if it keeps none
    name          TEXT    NOT NULL,           -- the owner's label
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    backed_up     INTEGER NOT NULL            -- 1: synced (a password manager's passkey)
) WITHOUT ROWID;
CREATE INDEX passkeys_user ON passkeys (user_id);

-- OpenID Connect clients (the apps that sign in through this server),
-- registered with `auth-server admin oidc-client add`.
CREATE TABLE oidc_clients (
    client_id      TEXT    PRIMARY KEY,
    name           TEXT    NOT NULL,
    secret_hash    BLOB,                       -- SHA-256 of the secret; NULL: public (PKCE)
    redirect_uris  TEXT    NOT NULL,           -- one a line, matched exactly
    allowed_groups TEXT    NOT NULL DEFAULT '', -- comma-separated; empty: anyone signed in
    alg            TEXT    NOT NULL,           -- RS256 or ES256
    created_at     INTEGER NOT NULL
) WITHOUT ROWID;

-- ID-token signing keys: the two primes of an RSA key or a P-256 scalar.
-- A rotated key stays published (retired) for a day, then goes.
CREATE TABLE oidc_keys (
    kid        TEXT    PRIMARY KEY,
    alg        TEXT    NOT NULL,
    secret     BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
) WITHOUT ROWID;

-- Authorization codes, access and refresh tokens, only as SHA-256 of their
-- 256 random bits. A used code or refresh token is kept (used_at) until a
-- day after it expires, so its replay is recognised and revokes the family.
CREATE TABLE oidc_grants (
    token_hash     BLOB    PRIMARY KEY,
    kind           TEXT    NOT NULL,           -- code, access, refresh
    client_id      TEXT    NOT NULL REFERENCES oidc_clients (client_id) ON DELETE CASCADE,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_epoch     INTEGER NOT NULL,           -- the account's at the grant: a change ends it
    family         BLOB    NOT NULL,           -- shared by every token from one code
    scope          TEXT    NOT NULL,
    nonce          TEXT,
    redirect_uri   TEXT,
    code_challenge TEXT,
    auth_time      INTEGER NOT NULL,
    amr            TEXT    NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER,
    issued_at      INTEGER NOT NULL DEFAULT 0  -- the family's code: refresh tokens' absolute start
) WITHOUT ROWID;
CREATE INDEX oidc_grants_family ON oidc_grants (family);
CREATE INDEX oidc_grants_user ON oidc_grants (user_id);
CREATE INDEX oidc_grants_client ON oidc_grants (client_id);

-- Invitations to join (REGISTRATION=invite): the token only as SHA-256, so a
-- copy of this file lets nobody register. Single use: the registration that
-- uses one sets used_at in the transaction that makes the account, so of two
-- racing registrations exactly one gets it.
CREATE TABLE invites (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash   BLOB    NOT NULL UNIQUE,
    groups       TEXT    NOT NULL DEFAULT '', -- given to the new account, as users.groups
    email        TEXT,                        -- set: the account must use it (and it counts as verified)
    created_by   INTEGER,                     -- the administrator; NULL from the shell
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    used_by      INTEGER,                     -- the account it made
    withdrawn_at INTEGER
);

-- OpenID providers people may sign in through ("Sign in with ..."). The
-- client secret is sent to the provider's token endpoint, so it is kept as
-- it is; the file is its owner's alone (0600).
CREATE TABLE upstreams (
    name            TEXT    PRIMARY KEY,       -- in the URLs: /auth/upstream/NAME
    issuer          TEXT    NOT NULL,
    client_id       TEXT    NOT NULL,
    client_secret   TEXT    NOT NULL,
    label           TEXT    NOT NULL,          -- the sign-in button's words
    scope           TEXT    NOT NULL,
    link_by_email   INTEGER NOT NULL DEFAULT 0,
    create_accounts INTEGER NOT NULL DEFAULT 0,
    allowed_domains TEXT    NOT NULL DEFAULT '', -- comma-separated; empty: any
    created_at      INTEGER NOT NULL
);

-- Which upstream identity (issuer, sub) signs in to which account. Kept when
-- the provider is removed, so adding it back restores them.
CREATE TABLE upstream_links (
    issuer       TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    upstream     TEXT    NOT NULL,
    email        TEXT,                          -- as the provider gave it when linked
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    PRIMARY KEY (issuer, subject)
) WITHOUT ROWID;
CREATE INDEX upstream_links_user ON upstream_links (user_id);
