//! The access-rules file (`auth::access::Rules::parse`): an operator's
//! file, but the gate's whole policy; any text is a set of rules or a
//! named error, never a panic, and rules that parse decide any request.
#![no_main]

mod bounded_alloc;

use auth_core::auth::access::{Rules, Visitor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rules) = Rules::parse(text) else {
        return;
    };
    let groups = ["admins".to_string()];
    let alice = Visitor {
        username: "alice",
        groups: &groups,
        second_factor: false,
    };
    for host in [None, Some("app.example.com"), Some("example.com")] {
        for path in ["/", "/admin", "/admin/x"] {
            for visitor in [None, Some(&alice)] {
                let verdict = rules.decide(host, path, visitor);
                // A line is named only when a rule matched, and it is one
                // of the file's lines.
                if let Some(line) = verdict.line {
                    assert!(line >= 1 && line <= text.lines().count());
                }
            }
        }
    }
});
