//! Forward auth's description of the guarded request
//! (`accounts::forward::describe`) and the rules' decision on it: the
//! proxy's headers, each optional, fuzzed together. A description is
//! normalised already; and a request decides as its normalised form
//! does, so no spelling of a path (`/%61dmin`, `//admin`, `/x/../admin`)
//! can pass a rule its plain form would not.
#![no_main]

mod bounded_alloc;

use std::sync::OnceLock;

use auth_core::accounts::forward::{ProxyHeaders, describe};
use auth_core::auth::access::{Rules, Visitor};
use auth_core::support::url::normalize_path;
use libfuzzer_sys::fuzz_target;

const RULES: &str = "\
grafana.example.com                groups=admins two_factor
media.example.com   /admin         groups=admins
media.example.com                  groups=family,admins
status.example.com                 public
*.example.com                      signed_in
*                                  deny
";

fn rules() -> &'static Rules {
    static RULES_PARSED: OnceLock<Rules> = OnceLock::new();
    RULES_PARSED.get_or_init(|| Rules::parse(RULES).expect("the example rules parse"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // proto, host, uri, original URL; an empty part is a header not sent.
    let mut parts = text
        .splitn(4, '\n')
        .map(|p| Some(p).filter(|p| !p.is_empty()));
    let headers = ProxyHeaders {
        proto: parts.next().flatten(),
        host: parts.next().flatten(),
        uri: parts.next().flatten(),
        original_url: parts.next().flatten(),
    };
    let Ok(target) = describe(&headers) else {
        return;
    };
    assert_eq!(
        normalize_path(&target.path).as_deref(),
        Ok(target.path.as_str()),
        "{headers:?} described {:?}",
        target.path
    );
    let groups = ["family".to_string()];
    let kid = Visitor {
        username: "kid",
        groups: &groups,
        second_factor: true,
    };
    let host = target.host.as_ref().map(|h| h.key());
    for visitor in [None, Some(&kid)] {
        let described = rules().decide(host.as_deref(), &target.path, visitor);
        // The raw path of X-Forwarded-Uri, normalised on its own, decides
        // the same as the description.
        let raw = headers
            .uri
            .map(|uri| uri.split(['?', '#']).next().unwrap_or(""));
        if let Some(raw) = raw.filter(|_| headers.original_url.is_none())
            && let Ok(plain) = normalize_path(raw)
        {
            let again = rules().decide(host.as_deref(), &plain, visitor);
            assert_eq!(described.decision, again.decision, "{headers:?}");
        }
    }
});
