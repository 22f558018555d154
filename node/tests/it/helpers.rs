//! Typed HTTP helpers over the real transport.

use std::time::Duration;

use confeitaria_client::transport::{Response, Transport};
use http::Method;
use serde_json::Value;

/// A response with its body parsed as JSON (Null when empty or not JSON).
pub struct Reply {
    pub status: u16,
    pub json: Value,
    pub raw: Response,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.raw.header(name)
    }
    /// The error code of a docs/design.md error body.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

pub async fn call(
    addr: &str,
    method: Method,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> Reply {
    let t = Transport::http();
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    let raw = t
        .send(
            method,
            &format!("http://{addr}{path}"),
            &headers,
            body.map(|b| b.as_bytes().to_vec()),
            Duration::from_secs(15),
        )
        .await
        .unwrap_or_else(|e| panic!("{path} on {addr}: {e}"));
    let json = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
    Reply {
        status: raw.status.as_u16(),
        json,
        raw,
    }
}

pub async fn get(addr: &str, path: &str) -> Reply {
    call(addr, Method::GET, path, None, None).await
}
