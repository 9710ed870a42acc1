-- auth-server schema, version 1. Applied to a new database at start-up;
-- PRAGMA user_version records which version a database file is at, and
-- src/storage.rs migrates older files in place.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
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
    login_count   INTEGER NOT NULL DEFAULT 0
);
