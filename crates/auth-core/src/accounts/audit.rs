//! The audit trail, as the use cases see it: every auth event goes to the
//! log and to the `auth_events` table (`storage::audit`), where `auth-server
//! admin events` reads it.
//!
//! Never a password, hash or token (OWASP ASVS 4.0.3 V7.1.1): an event holds
//! who (user id, the identifier tried), from where (address, user agent),
//! what and when. Throttled login attempts are counted in memory and written
//! as one row per identifier and address a minute, so a flood of them cannot
//! fill the disk or the log.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::storage::Storage;
use crate::storage::audit::Event;
use crate::support::lock::lock;
use crate::support::log::Logger;

/// Longest identifier and user agent stored, in characters.
const MAX_TEXT_CHARS: usize = 254;
/// Distinct (identifier, address) pairs counted between two flushes; the
/// rest are counted under one catch-all row.
const MAX_PENDING: usize = 10_000;
const OVERFLOW_KEY: &str = "(other identifiers)";

/// Every kind of event the audit trail records. [`AuthEvent::as_str`] is
/// its wire name, in the log line and the `auth_events.event` column;
/// operators' queries and alerts read those names, so a test pins them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthEvent {
    Registered,
    LoginOk,
    LoginFailed,
    /// Throttled attempts, counted in memory and written once a minute.
    LoginThrottled,
    Logout,
    LoggedOutEverywhere,
    SessionRevoked,
    PasswordChanged,
    AccountDeleted,
    PasswordResetRequested,
    PasswordResetMailSent,
    PasswordReset,
    EmailVerificationRequested,
    EmailVerificationSent,
    EmailVerified,
    MailFailed,
    TotpEnabled,
    TotpDisabled,
    TotpFailed,
    RecoveryCodeUsed,
    AdminCreated,
    AdminDisabled,
    AdminEnabled,
    AdminDeleted,
    AdminPasswordSet,
    AdminResetLink,
    AdminEmailVerified,
    AdminTotpReset,
    AdminSessionsRevoked,
    /// An operator lifted a login lockout (an account's, or an address's).
    AdminUnlocked,
    GroupAdded,
    GroupRemoved,
    PasskeyAdded,
    PasskeyRemoved,
    PasskeyLogin,
    /// A passkey sign-in refused (any check; the log line says which).
    PasskeyFailed,
    /// A passkey's sign counter did not grow: perhaps a cloned device.
    PasskeyCounterRegressed,
    /// An OpenID Connect authorization code was issued to a client.
    OidcCodeIssued,
    /// A refresh token was exchanged (and rotated).
    OidcRefresh,
    /// A code or refresh token was used twice: its family is revoked.
    OidcReplayDetected,
    /// A client's groups or an access rule refused the account (at
    /// sign-in, refresh or userinfo).
    OidcClientDenied,
    /// A security notice (a credential added, removed or changed) went out.
    SecurityNoticeSent,
    /// An access rule turned a signed-in visitor away (forward auth or an
    /// OpenID sign-in); the detail names the host, path, rule and decision.
    AccessDenied,
    InviteCreated,
    InviteWithdrawn,
    AdminEmailUnverified,
    AdminGroupsSet,
    AdminOidcClientAdded,
    AdminOidcClientRemoved,
    /// A sign-in through an upstream OpenID provider.
    UpstreamLogin,
    /// A sign-in through a provider refused (the detail says why).
    UpstreamFailed,
    /// A provider identity was linked to an account (connected, or by a
    /// verified address at a first sign-in).
    UpstreamLinked,
    UpstreamUnlinked,
    AdminUpstreamAdded,
    AdminUpstreamRemoved,
}

impl AuthEvent {
    pub const ALL: [AuthEvent; 55] = [
        AuthEvent::Registered,
        AuthEvent::LoginOk,
        AuthEvent::LoginFailed,
        AuthEvent::LoginThrottled,
        AuthEvent::Logout,
        AuthEvent::LoggedOutEverywhere,
        AuthEvent::SessionRevoked,
        AuthEvent::PasswordChanged,
        AuthEvent::AccountDeleted,
        AuthEvent::PasswordResetRequested,
        AuthEvent::PasswordResetMailSent,
        AuthEvent::PasswordReset,
        AuthEvent::EmailVerificationRequested,
        AuthEvent::EmailVerificationSent,
        AuthEvent::EmailVerified,
        AuthEvent::MailFailed,
        AuthEvent::TotpEnabled,
        AuthEvent::TotpDisabled,
        AuthEvent::TotpFailed,
        AuthEvent::RecoveryCodeUsed,
        AuthEvent::AdminCreated,
        AuthEvent::AdminDisabled,
        AuthEvent::AdminEnabled,
        AuthEvent::AdminDeleted,
        AuthEvent::AdminPasswordSet,
        AuthEvent::AdminResetLink,
        AuthEvent::AdminEmailVerified,
        AuthEvent::AdminTotpReset,
        AuthEvent::AdminSessionsRevoked,
        AuthEvent::AdminUnlocked,
        AuthEvent::GroupAdded,
        AuthEvent::GroupRemoved,
        AuthEvent::PasskeyAdded,
        AuthEvent::PasskeyRemoved,
        AuthEvent::PasskeyLogin,
        AuthEvent::PasskeyFailed,
        AuthEvent::PasskeyCounterRegressed,
        AuthEvent::OidcCodeIssued,
        AuthEvent::OidcRefresh,
        AuthEvent::OidcReplayDetected,
        AuthEvent::OidcClientDenied,
        AuthEvent::SecurityNoticeSent,
        AuthEvent::AccessDenied,
        AuthEvent::InviteCreated,
        AuthEvent::InviteWithdrawn,
        AuthEvent::AdminEmailUnverified,
        AuthEvent::AdminGroupsSet,
        AuthEvent::AdminOidcClientAdded,
        AuthEvent::AdminOidcClientRemoved,
        AuthEvent::UpstreamLogin,
        AuthEvent::UpstreamFailed,
        AuthEvent::UpstreamLinked,
        AuthEvent::UpstreamUnlinked,
        AuthEvent::AdminUpstreamAdded,
        AuthEvent::AdminUpstreamRemoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthEvent::Registered => "registered",
            AuthEvent::LoginOk => "login_ok",
            AuthEvent::LoginFailed => "login_failed",
            AuthEvent::LoginThrottled => "login_throttled",
            AuthEvent::Logout => "logout",
            AuthEvent::LoggedOutEverywhere => "logged_out_everywhere",
            AuthEvent::SessionRevoked => "session_revoked",
            AuthEvent::PasswordChanged => "password_changed",
            AuthEvent::AccountDeleted => "account_deleted",
            AuthEvent::PasswordResetRequested => "password_reset_requested",
            AuthEvent::PasswordResetMailSent => "password_reset_mail_sent",
            AuthEvent::PasswordReset => "password_reset",
            AuthEvent::EmailVerificationRequested => "email_verification_requested",
            AuthEvent::EmailVerificationSent => "email_verification_sent",
            AuthEvent::EmailVerified => "email_verified",
            AuthEvent::MailFailed => "mail_failed",
            AuthEvent::TotpEnabled => "totp_enabled",
            AuthEvent::TotpDisabled => "totp_disabled",
            AuthEvent::TotpFailed => "totp_failed",
            AuthEvent::RecoveryCodeUsed => "recovery_code_used",
            AuthEvent::AdminCreated => "admin_created",
            AuthEvent::AdminDisabled => "admin_disabled",
            AuthEvent::AdminEnabled => "admin_enabled",
            AuthEvent::AdminDeleted => "admin_deleted",
            AuthEvent::AdminPasswordSet => "admin_password_set",
            AuthEvent::AdminResetLink => "admin_reset_link",
            AuthEvent::AdminEmailVerified => "admin_email_verified",
            AuthEvent::AdminTotpReset => "admin_totp_reset",
            AuthEvent::AdminSessionsRevoked => "admin_sessions_revoked",
            AuthEvent::AdminUnlocked => "admin_unlocked",
            AuthEvent::GroupAdded => "group_added",
            AuthEvent::GroupRemoved => "group_removed",
            AuthEvent::PasskeyAdded => "passkey_added",
            AuthEvent::PasskeyRemoved => "passkey_removed",
            AuthEvent::PasskeyLogin => "passkey_login",
            AuthEvent::PasskeyFailed => "passkey_failed",
            AuthEvent::PasskeyCounterRegressed => "passkey_counter_regressed",
            AuthEvent::OidcCodeIssued => "oidc_code_issued",
            AuthEvent::OidcRefresh => "oidc_refresh",
            AuthEvent::OidcReplayDetected => "oidc_replay_detected",
            AuthEvent::OidcClientDenied => "oidc_client_denied",
            AuthEvent::SecurityNoticeSent => "security_notice_sent",
            AuthEvent::AccessDenied => "access_denied",
            AuthEvent::InviteCreated => "invite_created",
            AuthEvent::InviteWithdrawn => "invite_withdrawn",
            AuthEvent::AdminEmailUnverified => "admin_email_unverified",
            AuthEvent::AdminGroupsSet => "admin_groups_set",
            AuthEvent::AdminOidcClientAdded => "admin_oidc_client_added",
            AuthEvent::AdminOidcClientRemoved => "admin_oidc_client_removed",
            AuthEvent::UpstreamLogin => "upstream_login",
            AuthEvent::UpstreamFailed => "upstream_failed",
            AuthEvent::UpstreamLinked => "upstream_linked",
            AuthEvent::UpstreamUnlinked => "upstream_unlinked",
            AuthEvent::AdminUpstreamAdded => "admin_upstream_added",
            AuthEvent::AdminUpstreamRemoved => "admin_upstream_removed",
        }
    }
}

/// One event as it happened: what, to whom, from where.
pub struct EventRecord<'a> {
    pub kind: AuthEvent,
    pub user_id: Option<i64>,
    pub identifier: Option<&'a str>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<&'a str>,
    /// The request that caused it, for its log line.
    pub request_id: Option<&'a str>,
    /// What else the event needs to be understood (an access refusal's
    /// host, path and rule).
    pub detail: Option<&'a str>,
    /// The administrator who acted, when one did.
    pub actor: Option<i64>,
}

#[derive(Default)]
pub struct Audit {
    throttled: Mutex<HashMap<(String, String), i64>>,
    /// Keys the hash that stands for an unknown identifier (random per
    /// process).
    unknown_key: RandomState,
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_TEXT_CHARS).collect()
}

impl Audit {
    /// What the log and the audit trail record for a login identifier: the
    /// account's username when it names one; otherwise only a keyed hash of
    /// what was typed (`unknown:` and 16 hex digits), because people type
    /// passwords into the username field, and an unknown identifier is the
    /// likeliest place for one (OWASP ASVS 4.0.3 V7.1.1). The hash is
    /// stable within the process, so repeated attempts on one name still
    /// group together.
    pub fn identifier_label(&self, typed: &str, username: Option<&str>) -> String {
        match username {
            Some(username) => username.to_string(),
            None => format!(
                "unknown:{:016x}",
                self.unknown_key.hash_one(typed.trim().to_lowercase())
            ),
        }
    }

    /// Logs the event and stores it.
    pub fn record(&self, db: &dyn Storage, log: &Logger, event: &EventRecord, now: i64) {
        self.log(log, event);
        store(db, log, &self.row(event, now));
    }

    /// The event's line in the log.
    pub fn log(&self, log: &Logger, event: &EventRecord) {
        // Absent fields are left out of the line (the logger skips nulls).
        log.line(
            event.kind.as_str(),
            &[
                ("request_id", &event.request_id),
                ("user_id", &event.user_id),
                ("identifier", &event.identifier),
                ("client", &event.ip),
                ("detail", &event.detail),
                ("actor", &event.actor),
            ],
        );
    }

    /// The event's row in the audit trail, for a write that stores it in
    /// its own transaction (the change and its record commit together).
    pub fn row(&self, event: &EventRecord, now: i64) -> Event {
        Event {
            at: now,
            event: event.kind.as_str().to_string(),
            user_id: event.user_id,
            identifier: event.identifier.map(clip),
            ip: event.ip.map(|ip| ip.to_string()),
            user_agent: event.user_agent.filter(|ua| !ua.is_empty()).map(clip),
            count: 1,
            detail: event.detail.map(clip),
            actor: event.actor,
        }
    }

    /// Counts one throttled login attempt, to be written by `flush`.
    pub fn count_throttled(&self, identifier: &str, ip: IpAddr) {
        let mut pending = lock(&self.throttled);
        let mut key = (clip(identifier), ip.to_string());
        if !pending.contains_key(&key) && pending.len() >= MAX_PENDING {
            key = (OVERFLOW_KEY.to_string(), String::new());
        }
        *pending.entry(key).or_insert(0) += 1;
    }

    /// Writes the counted throttled attempts, one row (and one log line) per
    /// identifier and address.
    pub fn flush(&self, db: &dyn Storage, log: &Logger, now: i64) {
        let pending = std::mem::take(&mut *lock(&self.throttled));
        for ((identifier, ip), count) in pending {
            log.line(
                AuthEvent::LoginThrottled.as_str(),
                &[
                    ("identifier", &identifier),
                    ("client", &ip),
                    ("count", &count),
                ],
            );
            let row = Event {
                at: now,
                event: AuthEvent::LoginThrottled.as_str().into(),
                user_id: None,
                identifier: Some(identifier),
                ip: Some(ip).filter(|ip| !ip.is_empty()),
                user_agent: None,
                count,
                detail: None,
                actor: None,
            };
            store(db, log, &row);
        }
    }

    /// Deletes events older than the retention period.
    pub fn prune(&self, db: &dyn Storage, log: &Logger, retention_days: u32, now: i64) {
        let before = now - i64::from(retention_days) * 86_400;
        match db.prune_events(before) {
            Ok(0) => {}
            Ok(n) => log.line("audit_pruned", &[("rows", &n)]),
            Err(error) => log.line(
                "error",
                &[("message", &format!("audit: cannot prune: {error}"))],
            ),
        }
    }
}

/// A database that cannot take the row costs the trail one row, not the
/// user their request.
fn store(db: &dyn Storage, log: &Logger, row: &Event) {
    if let Err(error) = db.insert_event(row) {
        log.line(
            "error",
            &[("message", &format!("audit: cannot store an event: {error}"))],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{AuditStore, Database};
    use std::path::Path;

    #[test]
    fn the_wire_names_stay_as_they_were() {
        // Operators' queries and alert rules read these: renaming one is a
        // breaking change, not a refactoring.
        let names: Vec<&str> = AuthEvent::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            names,
            [
                "registered",
                "login_ok",
                "login_failed",
                "login_throttled",
                "logout",
                "logged_out_everywhere",
                "session_revoked",
                "password_changed",
                "account_deleted",
                "password_reset_requested",
                "password_reset_mail_sent",
                "password_reset",
                "email_verification_requested",
                "email_verification_sent",
                "email_verified",
                "mail_failed",
                "totp_enabled",
                "totp_disabled",
                "totp_failed",
                "recovery_code_used",
                "admin_created",
                "admin_disabled",
                "admin_enabled",
                "admin_deleted",
                "admin_password_set",
                "admin_reset_link",
                "admin_email_verified",
                "admin_totp_reset",
                "admin_sessions_revoked",
                "admin_unlocked",
                "group_added",
                "group_removed",
                "passkey_added",
                "passkey_removed",
                "passkey_login",
                "passkey_failed",
                "passkey_counter_regressed",
                "oidc_code_issued",
                "oidc_refresh",
                "oidc_replay_detected",
                "oidc_client_denied",
                "security_notice_sent",
                "access_denied",
                "invite_created",
                "invite_withdrawn",
                "admin_email_unverified",
                "admin_groups_set",
                "admin_oidc_client_added",
                "admin_oidc_client_removed",
                "upstream_login",
                "upstream_failed",
                "upstream_linked",
                "upstream_unlinked",
                "admin_upstream_added",
                "admin_upstream_removed",
            ]
        );
    }
    #[test]
    fn throttled_attempts_become_one_row_per_pair() {
        let db = Database::open(Path::new(":memory:")).unwrap();
        let log = Logger::silent();
        let audit = Audit::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..1000 {
            audit.count_throttled("alice", ip);
        }
        audit.count_throttled("bob", ip);
        audit.flush(&db, &log, 100);
        let rows = db.events(None, 10).unwrap();
        assert_eq!(rows.len(), 2);
        let alice = rows
            .iter()
            .find(|r| r.identifier.as_deref() == Some("alice"))
            .unwrap();
        assert_eq!(
            (alice.count, alice.event.as_str()),
            (1000, "login_throttled")
        );
        audit.flush(&db, &log, 200);
        assert_eq!(
            db.events(None, 10).unwrap().len(),
            2,
            "nothing new to write"
        );
    }

    #[test]
    fn pending_counts_are_bounded() {
        let audit = Audit::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for n in 0..(MAX_PENDING + 500) {
            audit.count_throttled(&format!("user{n}"), ip);
        }
        let pending = lock(&audit.throttled);
        assert_eq!(pending.len(), MAX_PENDING + 1);
        assert_eq!(pending[&(OVERFLOW_KEY.to_string(), String::new())], 500);
    }

    #[test]
    fn old_events_are_pruned() {
        let db = Database::open(Path::new(":memory:")).unwrap();
        let log = Logger::silent();
        let audit = Audit::default();
        let agent = "x".repeat(1000);
        let event = EventRecord {
            kind: AuthEvent::LoginOk,
            user_id: Some(1),
            identifier: None,
            ip: None,
            user_agent: Some(&agent),
            request_id: None,
            detail: None,
            actor: None,
        };
        audit.record(&db, &log, &event, 0);
        audit.record(&db, &log, &event, 100 * 86_400);
        assert_eq!(
            db.events(None, 10).unwrap()[0]
                .user_agent
                .as_ref()
                .unwrap()
                .len(),
            MAX_TEXT_CHARS
        );
        audit.prune(&db, &log, 90, 100 * 86_400);
        assert_eq!(db.events(None, 10).unwrap().len(), 1);
    }
}
