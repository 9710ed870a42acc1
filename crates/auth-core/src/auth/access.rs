//! Who may use which app: the rules of `ACCESS_RULES_FILE`, read once and
//! kept in memory, and the decision for one request to a guarded host.
//!
//! ```text
//! # host              [path prefix]  policy
//! grafana.example.com                groups=admins two_factor
//! media.example.com   /admin         groups=admins
//! media.example.com                  groups=family,admins
//! *.example.com                      signed_in
//! *                                  deny
//! ```
//!
//! The first rule whose host and path match decides; a request no rule
//! matches is denied (fail closed: a host forgotten in the file is not
//! open to everyone). Without a file, every signed-in user may use every
//! guarded host. Nothing here touches the database: the decision takes the
//! user's name, groups and how the session was opened, all in hand.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use crate::support::lock::lock;
use crate::support::url::normalize_path;

pub use crate::support::text::is_group_name;

/// The first of `groups` that is not a group name, as the problem to
/// report; `None` when every one is.
pub fn group_problem<S: AsRef<str>>(groups: &[S]) -> Option<String> {
    groups
        .iter()
        .map(AsRef::as_ref)
        .find(|g| !is_group_name(g))
        .map(|bad| format!("{bad:?} is not a group name (1-64 of a-z 0-9 _ -)"))
}

/// Who may pass, before the optional second-factor demand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Who {
    /// Anyone signed in.
    SignedIn,
    /// A member of any of these groups.
    Groups(Vec<String>),
    /// One of these usernames.
    Users(Vec<String>),
    /// Nobody.
    Deny,
    /// Anyone, signed in or not: forward auth answers 200 with no
    /// `Remote-*` headers.
    Public,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// An exact host name, `*.domain` (any subdomain of it, not the domain
    /// itself) or `*` (any host).
    pub host: String,
    /// A path prefix that matches whole segments, or none.
    pub path: Option<String>,
    pub who: Who,
    /// The session must have been opened with a second factor.
    pub two_factor: bool,
    /// The rule's line in the file, for logs.
    pub line: usize,
}

/// A line of the file that is not a rule.
#[derive(Debug, PartialEq, Eq)]
pub struct RuleError {
    pub line: usize,
    pub problem: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

/// The rules, in order. `None` (no file) lets every signed-in user in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules(pub Option<Vec<Rule>>);

/// Who is asking, as far as the rules care.
pub struct Visitor<'a> {
    pub username: &'a str,
    pub groups: &'a [String],
    /// The session was opened with a second factor.
    pub second_factor: bool,
}

/// What the rules say about one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// In, as the visitor (or anyone, for a public rule).
    Allow { public: bool },
    /// Not signed in, and the rule needs someone who is.
    SignInFirst,
    /// Signed in, but the rule wants a second factor this session lacks.
    StepUp,
    /// Signed in, and not allowed.
    Forbidden,
}

/// A decision and the rule that made it: its line in the file, or `None`
/// when no file is in force or no rule matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    pub line: Option<usize>,
}

impl Decision {
    /// The decision's name in logs, the audit trail and the admin command.
    pub fn as_str(&self) -> &'static str {
        match self {
            Decision::Allow { public: true } => "public",
            Decision::Allow { public: false } => "allowed",
            Decision::SignInFirst => "signed_out",
            Decision::StepUp => "step_up",
            Decision::Forbidden => "forbidden",
        }
    }
}

/// The rules in force, shared by every request, and what the file looked
/// like when they were read (to notice an edit).
#[derive(Default)]
pub struct RuleBook {
    rules: RwLock<Arc<Rules>>,
    /// Modification time and length of the file last read.
    stamp: Mutex<Option<(SystemTime, u64)>>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Reads and parses a rules file: the rules, or one line saying what is
/// wrong (its line number, or why it cannot be read).
pub fn read_rules(path: &Path) -> Result<Rules, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    Rules::parse(&text).map_err(|error| format!("{}: {error}", path.display()))
}

impl RuleBook {
    /// The rules now (a clone of a shared pointer: the lock is held for
    /// nanoseconds, never while a rule is evaluated).
    pub fn current(&self) -> Arc<Rules> {
        Arc::clone(&self.rules.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn set(&self, rules: Rules, stamp: Option<(SystemTime, u64)>) {
        *self.rules.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(rules);
        *lock(&self.stamp) = stamp;
    }

    /// Reads `path`; how many rules, or what is wrong.
    pub fn load(&self, path: &Path) -> Result<usize, String> {
        let rules = read_rules(path)?;
        let count = rules.0.as_ref().map_or(0, Vec::len);
        self.set(rules, stamp(path));
        Ok(count)
    }

    /// Reads `path` again if it changed since last read: `None` when it
    /// did not; else how many rules are now in force, or why the old ones
    /// stay (told once per change).
    pub fn reload_if_changed(&self, path: &Path) -> Option<Result<usize, String>> {
        let now = stamp(path);
        if now == *lock(&self.stamp) {
            return None;
        }
        let loaded = self.load(path);
        if loaded.is_err() {
            *lock(&self.stamp) = now;
        }
        Some(loaded)
    }
}

/// `*` matches any host, even none (a request whose host the proxy did
/// not describe); any other pattern only a host it names.
fn host_matches(pattern: &str, host: Option<&str>) -> bool {
    if pattern == "*" {
        return true;
    }
    let Some(host) = host else {
        return false;
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(domain) => host.len() > domain.len() + 1 && host.ends_with(&format!(".{domain}")),
        None => host == pattern,
    }
}

/// `/admin` matches `/admin` and `/admin/x`, not `/administrator`.
fn path_matches(prefix: &str, path: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl Rules {
    /// Parses the file; the first bad line is the error, with its number.
    pub fn parse(text: &str) -> Result<Rules, RuleError> {
        let mut rules = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            rules.push(parse_rule(content, line)?);
        }
        Ok(Rules(Some(rules)))
    }

    /// The first rule for `host` (`None`: not described) and `path`,
    /// normalised (`support::url::normalize_path`): rules compare paths as
    /// the gate sees them, never as sent.
    pub fn rule_for(&self, host: Option<&str>, path: &str) -> Option<&Rule> {
        let rules = self.0.as_ref()?;
        rules.iter().find(|rule| {
            host_matches(&rule.host, host)
                && rule.path.as_deref().is_none_or(|p| path_matches(p, path))
        })
    }

    /// The decision for a visitor (`None`: signed out) to `host` + `path`
    /// (normalised), and the rule's line.
    pub fn decide(&self, host: Option<&str>, path: &str, visitor: Option<&Visitor>) -> Verdict {
        if self.0.is_none() {
            let decision = match visitor {
                Some(_) => Decision::Allow { public: false },
                None => Decision::SignInFirst,
            };
            return Verdict {
                decision,
                line: None,
            };
        }
        let Some(rule) = self.rule_for(host, path) else {
            // Fail closed: no rule, no entry.
            let decision = match visitor {
                Some(_) => Decision::Forbidden,
                None => Decision::SignInFirst,
            };
            return Verdict {
                decision,
                line: None,
            };
        };
        Verdict {
            decision: rule.decide(visitor),
            line: Some(rule.line),
        }
    }
}

impl Rule {
    /// What this rule says about a visitor (`None`: signed out).
    pub fn decide(&self, visitor: Option<&Visitor>) -> Decision {
        if self.who == Who::Public {
            return Decision::Allow { public: true };
        }
        let Some(visitor) = visitor else {
            return Decision::SignInFirst;
        };
        let allowed = match &self.who {
            Who::SignedIn | Who::Public => true,
            Who::Groups(groups) => groups.iter().any(|g| visitor.groups.contains(g)),
            Who::Users(users) => users
                .iter()
                .any(|u| u.eq_ignore_ascii_case(visitor.username)),
            Who::Deny => false,
        };
        if !allowed {
            Decision::Forbidden
        } else if self.two_factor && !visitor.second_factor {
            Decision::StepUp
        } else {
            Decision::Allow { public: false }
        }
    }
}

/// The rule as a line of the file would write it.
impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host)?;
        if let Some(path) = &self.path {
            write!(f, " {path}")?;
        }
        match &self.who {
            Who::SignedIn if self.two_factor => {}
            Who::SignedIn => f.write_str(" signed_in")?,
            Who::Groups(groups) => write!(f, " groups={}", groups.join(","))?,
            Who::Users(users) => write!(f, " users={}", users.join(","))?,
            Who::Deny => f.write_str(" deny")?,
            Who::Public => f.write_str(" public")?,
        }
        if self.two_factor {
            f.write_str(" two_factor")?;
        }
        Ok(())
    }
}

fn parse_rule(content: &str, line: usize) -> Result<Rule, RuleError> {
    let error = |problem: String| RuleError { line, problem };
    let mut words = content.split_whitespace();
    let host = words.next().unwrap_or("").to_ascii_lowercase();
    let host_ok = host == "*"
        || host
            .strip_prefix("*.")
            .unwrap_or(&host)
            .split('.')
            .all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
    if !host_ok {
        return Err(error(format!("{host:?} is not a host name, *.domain or *")));
    }
    let mut rest: Vec<&str> = words.collect();
    let path = match rest.first() {
        Some(word) if word.starts_with('/') => {
            let path = rest.remove(0);
            if path.contains(['?', '#', '*']) {
                return Err(error(format!(
                    "{path:?}: a path prefix has no query, fragment or wildcard"
                )));
            }
            // Stored as the gate compares requests: `/%61dmin/` is
            // `/admin/`.
            let normal =
                normalize_path(path).map_err(|problem| error(format!("{path:?}: {problem}")))?;
            Some(normal)
        }
        _ => None,
    };
    let mut who = None;
    let mut two_factor = false;
    for word in rest {
        let policy = match word.split_once('=') {
            None => match word {
                "signed_in" => Who::SignedIn,
                "deny" => Who::Deny,
                "public" => Who::Public,
                "two_factor" => {
                    two_factor = true;
                    continue;
                }
                other => return Err(error(format!("unknown policy {other:?}"))),
            },
            Some(("groups", list)) => {
                let groups: Vec<String> = list.split(',').map(str::to_string).collect();
                if let Some(problem) = group_problem(&groups) {
                    return Err(error(problem));
                }
                Who::Groups(groups)
            }
            Some(("users", list)) => {
                let users: Vec<String> = list.split(',').map(str::to_string).collect();
                if users.iter().any(String::is_empty) {
                    return Err(error("an empty username in users=".to_string()));
                }
                Who::Users(users)
            }
            Some((other, _)) => return Err(error(format!("unknown policy {other:?}="))),
        };
        if who.replace(policy).is_some() {
            return Err(error(
                "one of signed_in, groups=, users=, deny, public per rule (two_factor may follow)"
                    .to_string(),
            ));
        }
    }
    let who = match (who, two_factor) {
        (Some(who), _) => who,
        // `two_factor` alone: anyone signed in, with a second factor.
        (None, true) => Who::SignedIn,
        (None, false) => return Err(error("no policy".to_string())),
    };
    if two_factor && matches!(who, Who::Deny | Who::Public) {
        return Err(error(
            "two_factor goes with signed_in, groups= or users=".to_string(),
        ));
    }
    Ok(Rule {
        host,
        path,
        who,
        two_factor,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "\
# host              [path prefix]  policy
grafana.example.com                groups=admins two_factor
media.example.com   /admin         groups=admins
media.example.com                  groups=family,admins
status.example.com                 public
*.example.com                      signed_in   # the rest of the domain
*                                  deny
";

    fn visitor<'a>(name: &'a str, groups: &'a [String], second_factor: bool) -> Visitor<'a> {
        Visitor {
            username: name,
            groups,
            second_factor,
        }
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let rules = Rules::parse(EXAMPLE).unwrap();
        let admins = vec!["admins".to_string()];
        let family = vec!["family".to_string()];
        let none: Vec<String> = Vec::new();
        let alice = visitor("alice", &admins, false);
        let alice_2fa = visitor("alice", &admins, true);
        let kid = visitor("kid", &family, true);
        let guest = visitor("guest", &none, false);
        let decide = |host, path, v: Option<&Visitor>| rules.decide(Some(host), path, v).decision;
        assert_eq!(
            decide("grafana.example.com", "/", Some(&alice)),
            Decision::StepUp
        );
        assert_eq!(
            decide("grafana.example.com", "/", Some(&alice_2fa)),
            Decision::Allow { public: false }
        );
        assert_eq!(
            decide("grafana.example.com", "/", Some(&kid)),
            Decision::Forbidden
        );
        assert_eq!(
            decide("media.example.com", "/admin/x", Some(&kid)),
            Decision::Forbidden
        );
        assert_eq!(
            decide("media.example.com", "/administrator", Some(&kid)),
            Decision::Allow { public: false },
            "a prefix matches whole segments"
        );
        assert_eq!(
            decide("media.example.com", "/admin", Some(&alice)),
            Decision::Allow { public: false }
        );
        assert_eq!(
            decide("media.example.com", "/", Some(&guest)),
            Decision::Forbidden
        );
        assert_eq!(
            decide("wiki.example.com", "/", Some(&guest)),
            Decision::Allow { public: false }
        );
        assert_eq!(decide("wiki.example.com", "/", None), Decision::SignInFirst);
        assert_eq!(
            decide("status.example.com", "/", None),
            Decision::Allow { public: true }
        );
        assert_eq!(
            decide("example.com", "/", Some(&alice_2fa)),
            Decision::Forbidden
        );
        assert_eq!(
            decide("other.org", "/", Some(&alice_2fa)),
            Decision::Forbidden
        );
    }

    #[test]
    fn users_and_no_file_and_no_match() {
        let rules = Rules::parse("app.example.com users=alice,bob\n").unwrap();
        let none: Vec<String> = Vec::new();
        let decide = |rules: &Rules, host, name| {
            rules.decide(Some(host), "/", Some(&visitor(name, &none, false)))
        };
        assert_eq!(
            decide(&rules, "app.example.com", "Bob"),
            Verdict {
                decision: Decision::Allow { public: false },
                line: Some(1)
            }
        );
        assert_eq!(
            decide(&rules, "app.example.com", "eve").decision,
            Decision::Forbidden
        );
        assert_eq!(
            decide(&rules, "other.example.com", "bob"),
            Verdict {
                decision: Decision::Forbidden,
                line: None
            },
            "no rule: closed"
        );
        assert_eq!(
            decide(&Rules::default(), "any", "eve").decision,
            Decision::Allow { public: false }
        );
    }

    #[test]
    fn a_request_without_a_host_meets_only_catch_all_rules() {
        let rules = Rules::parse("*.example.com signed_in\n* deny\n").unwrap();
        let none: Vec<String> = Vec::new();
        let eve = visitor("eve", &none, false);
        let verdict = rules.decide(None, "/", Some(&eve));
        assert_eq!(verdict.decision, Decision::Forbidden);
        assert_eq!(verdict.line, Some(2));
        let open = Rules::parse("*.example.com signed_in\n").unwrap();
        assert_eq!(
            open.decide(None, "/", Some(&eve)),
            Verdict {
                decision: Decision::Forbidden,
                line: None
            }
        );
    }

    #[test]
    fn rule_paths_are_normalised_and_rules_print_as_written() {
        let rules = Rules::parse(
            "a.example.com /%61dmin/./x// groups=admins two_factor\nb.example.com two_factor\nc.example.com public\n",
        )
        .unwrap();
        let all = rules.0.unwrap();
        assert_eq!(all[0].path.as_deref(), Some("/admin/x/"));
        assert_eq!(
            all[0].to_string(),
            "a.example.com /admin/x/ groups=admins two_factor"
        );
        assert_eq!(all[1].to_string(), "b.example.com two_factor");
        assert_eq!(all[2].to_string(), "c.example.com public");
        for line in all.iter().map(ToString::to_string) {
            assert_eq!(Rules::parse(&line).unwrap().0.unwrap()[0].to_string(), line);
        }
        assert_eq!(
            Rules::parse("a.example.com /a%2fb signed_in\n")
                .unwrap_err()
                .line,
            1
        );
    }

    #[test]
    fn a_bad_line_is_named() {
        for (text, line) in [
            ("a.example.com signed_in\nb.example.com maybe\n", 2),
            ("# c\n\nbad_host! signed_in\n", 3),
            ("a.example.com groups=Admins\n", 1),
            ("a.example.com signed_in deny\n", 1),
            ("a.example.com\n", 1),
            ("a.example.com /x?y signed_in\n", 1),
            ("a.example.com public two_factor\n", 1),
        ] {
            assert_eq!(Rules::parse(text).unwrap_err().line, line, "{text:?}");
        }
        assert!(is_group_name("media-users_2"));
        assert!(!is_group_name("Media") && !is_group_name("") && !is_group_name(&"a".repeat(65)));
    }
}
