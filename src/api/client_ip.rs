//! Which address a request comes from, for throttling and logs.

use std::net::IpAddr;

use crate::http::Request;

/// The client's address: the TCP peer, or with `trust_proxy` the address the
/// proxy appended to `X-Forwarded-For`.
///
/// Only the right-most entry is believed: a proxy appends the address it saw,
/// while everything to its left came from the client, who can write anything
/// there (MDN, "X-Forwarded-For": security and privacy concerns). A missing
/// or malformed header falls back to the peer, and without `trust_proxy` the
/// header is ignored, so a client can never choose its own address.
pub fn client_ip(request: &Request, trust_proxy: bool) -> IpAddr {
    if trust_proxy && let Some(ip) = rightmost_forwarded(request.header_values("x-forwarded-for")) {
        return ip;
    }
    request.peer.ip()
}

/// The last address of a possibly repeated `X-Forwarded-For` (repeated
/// headers are one comma-separated list, RFC 9110 §5.3); `None` if that
/// entry is not a bare IP address. Only the last entry is decoded, so bytes
/// a client put further left cannot spoil the proxy's entry.
pub fn rightmost_forwarded<'a>(values: impl Iterator<Item = &'a [u8]>) -> Option<IpAddr> {
    let last_value = values.last()?;
    let entry = last_value.rsplit(|&b| b == b',').next()?;
    std::str::from_utf8(entry).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> Option<IpAddr> {
        rightmost_forwarded(values.iter().map(|v| v.as_bytes()))
    }

    #[test]
    fn takes_the_rightmost_entry() {
        assert_eq!(forwarded(&["203.0.113.9"]), "203.0.113.9".parse().ok());
        assert_eq!(forwarded(&["1.1.1.1, 2.2.2.2"]), "2.2.2.2".parse().ok());
        assert_eq!(
            forwarded(&["1.1.1.1", "2001:db8::1"]),
            "2001:db8::1".parse().ok()
        );
    }

    #[test]
    fn garbage_is_none() {
        for bad in [
            "",
            "unknown",
            "1.1.1.1, ",
            "1.1.1.1:80",
            "[::1]",
            "999.1.1.1",
            "2.2.2.2, garbage",
        ] {
            assert_eq!(forwarded(&[bad]), None, "{bad:?}");
        }
        assert_eq!(rightmost_forwarded([&[0xffu8, 0xfe][..]].into_iter()), None);
        let spoiled = b"\xff\xfe, 192.0.2.7";
        assert_eq!(
            rightmost_forwarded([&spoiled[..]].into_iter()),
            "192.0.2.7".parse().ok()
        );
        assert_eq!(forwarded(&[]), None);
    }
}
