//! Base64 (RFC 4648): the unpadded URL-safe form of tokens (§5) and the
//! padded standard form of RFC 2047 mail headers and HTTP Basic
//! credentials (§4). The codec is `base64ct`, which the crypto crates
//! already bring: constant-time, and strict, so each value has exactly one
//! spelling (no padding where none belongs, no stray bits, no white
//! space). These four names are all the rest of the code uses.

use base64ct::{Base64, Base64UrlUnpadded, Encoding};

/// Unpadded base64url (RFC 4648 §5).
pub fn encode_url(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

/// Padded standard base64 (RFC 4648 §4).
pub fn encode(bytes: &[u8]) -> String {
    Base64::encode_string(bytes)
}

/// Unpadded base64url back to bytes; `None` for anything else, including
/// non-zero leftover bits, so each value has exactly one spelling.
pub fn decode_url(text: &str) -> Option<Vec<u8>> {
    Base64UrlUnpadded::decode_vec(text).ok()
}

/// Padded standard base64 back to bytes (an HTTP Basic credential, RFC
/// 7617); `None` for anything else.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    Base64::decode_vec(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4648_vectors() {
        for (plain, standard, url) in [
            (&b"f"[..], "Zg==", "Zg"),
            (b"fo", "Zm8=", "Zm8"),
            (b"foo", "Zm9v", "Zm9v"),
            (b"foob", "Zm9vYg==", "Zm9vYg"),
            (b"fooba", "Zm9vYmE=", "Zm9vYmE"),
            (b"foobar", "Zm9vYmFy", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain), standard);
            assert_eq!(encode_url(plain), url);
            assert_eq!(decode_url(url).as_deref(), Some(plain));
            assert_eq!(decode(standard).as_deref(), Some(plain));
        }
        assert_eq!(encode_url(&[0xfb, 0xff]), "-_8");
        assert_eq!(encode(&[0xfb, 0xff]), "+/8=");
        assert_eq!(decode_url("-_9"), None, "non-zero leftover bits");
        for wrong in ["Zg=", "Zg==", "Z", "Zm9v\n", "Zm 9v", "Zm+v", "Zm/v"] {
            assert_eq!(decode_url(wrong), None, "{wrong:?}");
        }
        for wrong in ["Zg", "Zg=", "Zg===", "Zm9v-_8=", "Zh==", "Zm9v\n"] {
            assert_eq!(decode(wrong), None, "{wrong:?}");
        }
        assert_eq!(decode(""), Some(Vec::new()));
        assert_eq!(decode_url(""), Some(Vec::new()));
    }
}
