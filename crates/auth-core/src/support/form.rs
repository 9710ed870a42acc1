//! `application/x-www-form-urlencoded` (the WHATWG URL Standard's parser):
//! the body of an OAuth request and the query of an authorization request
//! (RFC 6749 §3.1, §4.1.1, §4.1.3).
//!
//! A parameter given twice is refused, not picked (RFC 6749 §3.1: "Request
//! and response parameters MUST NOT be included more than once"): two
//! parsers in a chain must never see two different `redirect_uri`s.

use std::collections::BTreeMap;

/// The decoded pairs, or `None` for bad percent-escapes, text that is not
/// UTF-8 once decoded, or a repeated name.
pub fn parse(text: &str) -> Option<BTreeMap<String, String>> {
    let mut pairs = BTreeMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (decode(name)?, decode(value)?);
        if pairs.insert(name, value).is_some() {
            return None;
        }
    }
    Some(pairs)
}

/// `+` is a space; `%XX` a byte; the bytes must be UTF-8.
fn decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.bytes();
    while let Some(byte) = rest.next() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = (rest.next()? as char).to_digit(16)?;
                let low = (rest.next()? as char).to_digit(16)?;
                bytes.push((high * 16 + low) as u8);
            }
            _ => bytes.push(byte),
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_decoded_and_repeats_refused() {
        let pairs =
            parse("a=1&redirect_uri=https%3A%2F%2Fx.example%2Fcb&scope=openid+email&empty=&flag")
                .unwrap();
        assert_eq!(pairs["redirect_uri"], "https://x.example/cb");
        assert_eq!(pairs["scope"], "openid email");
        assert_eq!(pairs["empty"], "");
        assert_eq!(pairs["flag"], "");
        assert_eq!(parse("a=1&a=2"), None);
        assert_eq!(parse("a=%zz"), None);
        assert_eq!(parse("a=%f"), None);
        assert_eq!(parse("a=%ff%fe"), None, "not UTF-8");
        assert_eq!(parse("").unwrap().len(), 0);
        assert_eq!(parse("caf%C3%A9=%E2%9C%93").unwrap()["café"], "✓");
    }
}
