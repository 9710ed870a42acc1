//! Random tokens: session cookies, mailed links and (as their hashes) what
//! the server keeps of them. 256 bits from the operating system, written as
//! unpadded base64url, kept only as SHA-256.

use sha2::{Digest, Sha256};

use crate::support::base64;

/// 256 bits from the operating system's random source: guessing one live
/// token among 100,000 takes about 2^239 tries (OWASP ASVS 5.0 V7.2.3 asks
/// for 128).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token([u8; 32]);

impl Token {
    pub fn generate() -> Result<Token, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Token(bytes))
    }

    /// The cookie form: 43 characters of unpadded base64url.
    pub fn encode(&self) -> String {
        base64::encode_url(&self.0)
    }

    /// Parses a cookie value; anything that is not exactly a token's shape is
    /// `None`, and is then simply not found.
    pub fn decode(text: &str) -> Option<Token> {
        let bytes = base64::decode_url(text)?;
        Some(Token(bytes.try_into().ok()?))
    }

    /// The raw bytes (for tests that check they are kept nowhere).
    pub fn bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The form the server keeps: SHA-256 of the token. Sessions are found
    /// by it, so the live tokens themselves are in no map a memory dump (or,
    /// once stored, a copy of the database) would show (OWASP Session
    /// Management Cheat Sheet; ASVS 5.0 V7.2.4 keeps reference tokens
    /// unguessable, and a hash of 256 random bits cannot be turned back).
    #[inline]
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0).into())
    }
}

/// SHA-256 of a session token: the key of the session map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_other_shapes() {
        let token = Token::generate().unwrap();
        let text = token.encode();
        assert_eq!(text.len(), 43);
        assert_eq!(Token::decode(&text), Some(token));
        assert_eq!(Token::decode(&text[..42]), None);
        assert_eq!(Token::decode(&format!("{text}A")), None);
        assert_eq!(
            Token::decode(&"+".repeat(43)),
            None,
            "base64, not base64url"
        );
        assert_eq!(Token::decode("é"), None);
    }
}
