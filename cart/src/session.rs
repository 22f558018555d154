//! Session ids: 128-bit random values written as 32 lowercase hex characters.
//!
//! A session id is the only capability that reaches a cart, so it comes from a
//! cryptographically secure generator and is never derived from anything a client chose.

use std::fmt;

/// Name of the header that carries the session id on add and remove.
pub const HEADER: &str = "x-session-id";

/// A validated session id (32 lowercase hex characters).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

impl SessionId {
    /// A fresh, unguessable id: 128 bits from the thread-local CSPRNG (ChaCha, seeded by the OS).
    pub fn new_random() -> Self {
        Self(format!("{:032x}", rand::random::<u128>()))
    }

    /// Accepts exactly 32 hex characters (either case, stored lowercase); `None` otherwise.
    pub fn parse(raw: &str) -> Option<Self> {
        if confeitaria_types::cart::is_session_id(raw) {
            Some(Self(raw.to_ascii_lowercase()))
        } else {
            None
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Printed shortened so that logs do not hand out working capabilities.
impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({}…)", self.0.get(..8).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_32_hex_chars_and_distinct() {
        let a = SessionId::new_random();
        let b = SessionId::new_random();
        assert_eq!(a.as_str().len(), 32);
        assert!(SessionId::parse(a.as_str()).is_some());
        assert_ne!(a, b);
    }

    #[test]
    fn parse_rejects_wrong_length_and_non_hex() {
        assert!(SessionId::parse("").is_none());
        assert!(SessionId::parse("abc").is_none());
        assert!(SessionId::parse(&"g".repeat(32)).is_none());
        assert!(SessionId::parse(&"a".repeat(33)).is_none());
        assert!(SessionId::parse("../../../../../../../etc/passwd00").is_none());
        assert_eq!(
            SessionId::parse(&"AB".repeat(16)).map(|s| s.to_string()),
            Some("ab".repeat(16))
        );
    }
}
