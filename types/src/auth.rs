//! HS256 JWTs with a `role` claim: `admin` for catalog and order administration,
//! `service` for calls between services (reservations).

use serde::{Deserialize, Serialize};

/// Who a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenRole {
    /// Administrators: everything.
    Admin,
    /// Other services: reservations and reads.
    Service,
}

impl TokenRole {
    /// Whether a holder of this role may act as `needed`. Admin may do anything.
    pub fn grants(self, needed: TokenRole) -> bool {
        self == TokenRole::Admin || self == needed
    }
}

/// The claims every token carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Subject (free text, for logs).
    pub sub: String,
    /// The role granted.
    pub role: TokenRole,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("missing bearer token")]
    Missing,
    /// Bad signature, malformed or expired.
    #[error("invalid or expired token")]
    Invalid,
    /// Valid token, insufficient role.
    #[error("token role does not allow this call")]
    Forbidden,
}

/// Signs a token for `role` valid for `ttl_secs` from `now_secs`.
pub fn sign(
    secret: &[u8],
    role: TokenRole,
    sub: &str,
    now_secs: u64,
    ttl_secs: u64,
) -> Result<String, AuthError> {
    let claims = Claims {
        sub: sub.to_owned(),
        role,
        exp: now_secs.saturating_add(ttl_secs),
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .map_err(|_| AuthError::Invalid)
}

/// Verifies signature and expiry of `token` and that its role grants `needed`.
pub fn verify(secret: &[u8], token: &str, needed: TokenRole) -> Result<Claims, AuthError> {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.required_spec_claims = ["exp".to_owned()].into_iter().collect();
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(secret),
        &validation,
    )
    .map_err(|_| AuthError::Invalid)?;
    if data.claims.role.grants(needed) {
        Ok(data.claims)
    } else {
        Err(AuthError::Forbidden)
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Extracts the token from an `Authorization` header value.
pub fn bearer(header: Option<&str>) -> Result<&str, AuthError> {
    header
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AuthError::Missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_token_grants_service_calls_but_not_the_reverse() {
        let now = now_secs();
        let t = sign(b"s3cret", TokenRole::Admin, "t", now, 3600).unwrap();
        assert!(verify(b"s3cret", &t, TokenRole::Service).is_ok());
        let s = sign(b"s3cret", TokenRole::Service, "t", now, 3600).unwrap();
        assert_eq!(
            verify(b"s3cret", &s, TokenRole::Admin),
            Err(AuthError::Forbidden)
        );
    }

    #[test]
    fn wrong_secret_and_expired_tokens_are_refused() {
        let t = sign(b"a", TokenRole::Admin, "t", 0, 10).unwrap();
        assert_eq!(verify(b"a", &t, TokenRole::Admin), Err(AuthError::Invalid));
        let t = sign(b"a", TokenRole::Admin, "t", now_secs(), 60).unwrap();
        assert_eq!(verify(b"b", &t, TokenRole::Admin), Err(AuthError::Invalid));
        assert!(verify(b"a", &t, TokenRole::Admin).is_ok());
    }

    #[test]
    fn bearer_header_is_parsed() {
        assert_eq!(bearer(Some("Bearer abc")), Ok("abc"));
        assert_eq!(bearer(Some("Basic abc")), Err(AuthError::Missing));
        assert_eq!(bearer(None), Err(AuthError::Missing));
    }
}
