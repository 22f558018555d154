//! A shopper's visit: the cookies the storefront keeps and the checks on every form.
//!
//! - `sessao`: 32 hex characters from a CSPRNG, HttpOnly, SameSite=Lax, 30 days. It is the
//!   cart's `X-Session-Id` and the capability that reads the session's orders.
//! - CSRF: every form carries `csrf = HMAC-SHA256(key, "csrf:" + sessao)`, checked in
//!   constant time before any POST acts ([`Protected`]); a forged page cannot know it, and
//!   SameSite=Lax keeps the session cookie off cross-site POSTs besides.
//! - `admin`: the admin's JWT, HttpOnly, SameSite=Strict, `Path=/admin`, 8 hours.
//! - `pedidos`: the ids of the orders this browser placed (newest first, at most 20), for
//!   "meus pedidos"; each is still read with the session, so a forged id shows nothing.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::{HeaderMap, HeaderValue, COOKIE, SET_COOKIE};
use axum::middleware::Next;
use axum::response::Response;
use ring::hmac;
use serde::de::DeserializeOwned;

use crate::error::PageError;
use crate::{AppState, Config};

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "sessao";
/// Name of the admin token cookie.
pub const ADMIN_COOKIE: &str = "admin";
/// Name of the order list cookie.
pub const ORDERS_COOKIE: &str = "pedidos";
/// Orders remembered per browser.
pub const MAX_ORDERS: usize = 20;

const SESSION_MAX_AGE: u64 = 30 * 24 * 3600;
const ADMIN_MAX_AGE: u64 = 8 * 3600;
const ORDERS_MAX_AGE: u64 = 90 * 24 * 3600;

/// The CSRF key and how cookies are marked.
pub struct Keys {
    csrf: hmac::Key,
    secure: bool,
}

impl Keys {
    /// From the configuration (a random key when none is configured).
    pub fn new(cfg: &Config) -> Self {
        let secret: Vec<u8> = match &cfg.csrf_secret {
            Some(s) => s.expose().to_vec(),
            None => (0..4)
                .flat_map(|_| rand::random::<u64>().to_le_bytes())
                .collect(),
        };
        Self {
            csrf: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            secure: cfg.secure_cookies,
        }
    }

    /// The CSRF token of `session`.
    pub fn csrf(&self, session: &str) -> String {
        let tag = hmac::sign(&self.csrf, format!("csrf:{session}").as_bytes());
        hex(tag.as_ref())
    }

    /// Whether `token` is `session`'s CSRF token (constant time).
    pub fn csrf_ok(&self, session: &str, token: &str) -> bool {
        match unhex(token) {
            Some(tag) => {
                hmac::verify(&self.csrf, format!("csrf:{session}").as_bytes(), &tag).is_ok()
            }
            None => false,
        }
    }

    /// A `Set-Cookie` value.
    pub fn cookie(
        &self,
        name: &str,
        value: &str,
        path: &str,
        max_age: u64,
        strict: bool,
    ) -> String {
        let same_site = if strict { "Strict" } else { "Lax" };
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}")
    }

    /// The `Set-Cookie` value that keeps the admin's token.
    pub fn admin_cookie(&self, token: &str) -> String {
        self.cookie(ADMIN_COOKIE, token, "/admin", ADMIN_MAX_AGE, true)
    }

    /// The `Set-Cookie` value that forgets the admin's token.
    pub fn admin_cookie_cleared(&self) -> String {
        self.cookie(ADMIN_COOKIE, "", "/admin", 0, true)
    }

    /// The `Set-Cookie` value of the order list.
    pub fn orders_cookie(&self, ids: &[String]) -> String {
        self.cookie(ORDERS_COOKIE, &ids.join("."), "/", ORDERS_MAX_AGE, false)
    }
}

/// What the request's cookies say, put in the request's extensions by [`middleware`].
#[derive(Debug, Clone)]
pub struct Visit {
    /// The session id (new when the browser sent none).
    pub session: String,
    /// The CSRF token every form of the page carries.
    pub csrf: String,
    /// The admin's token, on `/admin` paths when logged in.
    pub admin: Option<String>,
    /// Orders placed from this browser, newest first.
    pub orders: Vec<String>,
}

impl Visit {
    /// The order list with `id` put first.
    pub fn with_order(&self, id: &str) -> Vec<String> {
        let mut ids = vec![id.to_owned()];
        ids.extend(self.orders.iter().filter(|x| *x != id).cloned());
        ids.truncate(MAX_ORDERS);
        ids
    }
}

/// Whether `s` is 32 hex characters (session, order and idempotency ids).
pub fn is_hex32(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A fresh 128-bit id as 32 lowercase hex characters.
pub fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Reads the cookies into a [`Visit`], starts a session when there is none, and adds the
/// security headers every page carries.
pub async fn middleware(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let existing = cookie(headers, SESSION_COOKIE)
        .filter(|s| is_hex32(s))
        .map(str::to_ascii_lowercase);
    let is_new = existing.is_none();
    let session = existing.unwrap_or_else(new_id);
    let admin = cookie(headers, ADMIN_COOKIE)
        .filter(|t| !t.is_empty() && t.len() <= 4096)
        .map(str::to_owned);
    let orders = cookie(headers, ORDERS_COOKIE)
        .map(|v| {
            v.split('.')
                .filter(|id| is_hex32(id))
                .take(MAX_ORDERS)
                .map(str::to_ascii_lowercase)
                .collect()
        })
        .unwrap_or_default();
    let visit = Visit {
        csrf: st.keys.csrf(&session),
        session,
        admin,
        orders,
    };
    let set = is_new.then(|| {
        st.keys
            .cookie(SESSION_COOKIE, &visit.session, "/", SESSION_MAX_AGE, false)
    });
    req.extensions_mut().insert(visit);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Some(v) = set.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.append(SET_COOKIE, v);
    }
    for (k, v) in SECURITY_HEADERS {
        if !h.contains_key(*k) {
            h.insert(*k, HeaderValue::from_static(v));
        }
    }
    resp
}

/// Sent with every response: scripts and styles only from this origin (no inline script), no
/// framing, no MIME sniffing, pages never cached.
const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
         connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("cache-control", "no-store"),
];

/// A form that carries a `csrf` field.
pub trait CsrfForm {
    /// The submitted token.
    fn csrf(&self) -> &str;
}

/// A posted form whose CSRF token matched the session: the only way handlers read forms.
pub struct Protected<T>(pub T, pub Visit);

impl<T> FromRequest<AppState> for Protected<T>
where
    T: DeserializeOwned + CsrfForm + Send,
{
    type Rejection = PageError;

    async fn from_request(req: Request, st: &AppState) -> Result<Self, PageError> {
        let visit = req
            .extensions()
            .get::<Visit>()
            .cloned()
            .ok_or(PageError::Internal)?;
        let bytes = Bytes::from_request(req, st)
            .await
            .map_err(|_| PageError::BadRequest("O formulário é grande demais."))?;
        // The token is checked before the rest of the form is even read.
        let token: CsrfOnly = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
        if !st.keys.csrf_ok(&visit.session, &token.csrf) {
            return Err(PageError::Csrf);
        }
        let form: T = serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| PageError::BadRequest("O formulário veio incompleto."))?;
        debug_assert_eq!(form.csrf(), token.csrf);
        Ok(Protected(form, visit))
    }
}

#[derive(Default, serde::Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Implements [`CsrfForm`] for structs with a `csrf: String` field.
#[macro_export]
macro_rules! csrf_form {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::visit::CsrfForm for $t {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        }
    )*};
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 128 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_token_is_bound_to_its_session_and_key() {
        let keys = Keys::new(&Config::new("http://x"));
        let a = new_id();
        let b = new_id();
        let t = keys.csrf(&a);
        assert!(keys.csrf_ok(&a, &t));
        assert!(!keys.csrf_ok(&b, &t));
        assert!(!keys.csrf_ok(&a, ""));
        assert!(!keys.csrf_ok(&a, "zz"));
        let other = Keys::new(&Config::new("http://x"));
        assert!(!other.csrf_ok(&a, &t));
    }

    #[test]
    fn cookies_are_found_among_several() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; sessao=abc ; b=2"));
        h.append(COOKIE, HeaderValue::from_static("admin=tok"));
        assert_eq!(cookie(&h, "sessao"), Some("abc"));
        assert_eq!(cookie(&h, "admin"), Some("tok"));
        assert_eq!(cookie(&h, "x"), None);
    }
}
