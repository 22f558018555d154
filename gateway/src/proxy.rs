//! Pass-through forwarding: the request's method, path, query, headers and body go to an
//! upstream instance unchanged (hop-by-hop headers aside, `X-Request-Id` added), and its
//! status, headers and body come back unchanged, with `X-Upstream` naming the instance.
//!
//! The body is buffered (bounded by [`BODY_LIMIT`]) so that an attempt can be repeated on
//! another catalog node: always when the first never reached its instance (connection
//! refused), and — when [`retry::repeatable`] says so — after a reset, a timeout or a 503,
//! all within the request's deadline. Responses are buffered too (bounded), except event
//! streams (`text/event-stream`), which are streamed as they come.
//!
//! The upstream client is hyper-util's legacy pooled client, which the workspace already
//! uses (`confeitaria-client`'s transport): its response body is a hyper body that axum
//! streams as is, it tells a refused connection (`is_connect`, request never sent) from a
//! later failure — the distinction retries rest on — and retry policy here depends on the
//! route, so reqwest's own retries would not help (see docs/decisions.md).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Instant;

use crate::error::GatewayError;
use crate::retry;
use crate::upstream::{Group, Pool};
use crate::Gateway;

/// Largest request body forwarded (catalog admin bodies are the largest, a few KiB).
pub const BODY_LIMIT: usize = 64 * 1024;
/// Largest buffered response body.
pub const RESPONSE_LIMIT: usize = 16 * 1024 * 1024;
/// The gateway answers this long before its own deadline, so that its answer (not the
/// tail's generic timeout) reaches the client.
const MARGIN: Duration = Duration::from_millis(100);

/// The pooled upstream client.
pub type UpstreamClient = Client<HttpConnector, Full<Bytes>>;

/// A client with `TCP_NODELAY`, a short connect timeout and a pool sized for many
/// concurrent requests per instance.
pub fn client() -> UpstreamClient {
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    c.set_connect_timeout(Some(Duration::from_millis(500)));
    Client::builder(TokioExecutor::new())
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(512)
        .build(c)
}

/// Every route passed through: its path, its upstream, and whether GET alone passes (the
/// cluster's read-only views; membership changes go to a node directly). The router
/// ([`routes`]) and the document's `x-passed-through` (`crate::openapi`) are both built from it.
pub const PASSED_THROUGH: [(&str, Group, bool); 10] = [
    ("/api/produtos", Group::Catalog, false),
    ("/api/produtos/{*rest}", Group::Catalog, false),
    ("/api/categorias", Group::Catalog, false),
    ("/api/reservas", Group::Catalog, false),
    ("/api/reservas/{*rest}", Group::Catalog, false),
    ("/cluster/{*rest}", Group::Catalog, true),
    ("/api/carrinho", Group::Cart, false),
    ("/api/carrinho/{*rest}", Group::Cart, false),
    ("/api/pedidos", Group::Orders, false),
    ("/api/pedidos/{*rest}", Group::Orders, false),
];

/// The passed-through routes of one upstream group, from [`PASSED_THROUGH`].
pub fn routes(group: Group) -> Router<Gateway> {
    PASSED_THROUGH.iter().filter(|(_, g, _)| *g == group).fold(
        Router::new(),
        |router, &(path, _, get_only)| {
            let to = move |State(gw): State<Gateway>, req: Request| async move {
                forward(&gw, group, req).await
            };
            router.route(path, if get_only { get(to) } else { any(to) })
        },
    )
}

/// Headers that describe one connection, not the message: never forwarded.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes the hop-by-hop headers from `headers`, in place (cheaper than copying the rest:
/// docs/gateway.md, "Cost per request in instructions").
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The headers to send on: everything but hop-by-hop headers, those the `Connection`
/// header names, `Host` (the client sets the upstream's) and `Content-Length` (the buffered
/// body's length is known).
fn outgoing(mut headers: HeaderMap) -> HeaderMap {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| HeaderName::from_bytes(s.trim().as_bytes()).ok())
        .collect();
    for name in &named {
        headers.remove(name);
    }
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    headers.remove(header::CONTENT_LENGTH);
    headers
}

/// The upstream's headers for the client: all but hop-by-hop ones.
fn incoming(mut headers: HeaderMap) -> HeaderMap {
    strip_hop_by_hop(&mut headers);
    headers
}

fn is_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// How one attempt ended, for metrics and the decision to try again.
enum Attempt {
    /// A complete answer to pass on.
    Answer(Response),
    /// A 503 from a node that is alive but cannot serve now; kept in case no other
    /// instance does better.
    Shed(Response),
    /// The connection was refused: the request never left.
    NotSent,
    /// Reset or broken after the request may have been received.
    Broken,
    /// No answer within the attempt's deadline.
    TimedOut,
}

/// Sends `req` to `group`'s instances until one answers or no attempt is left.
pub async fn forward(gw: &Gateway, group: Group, req: Request) -> Response {
    let started = Instant::now();
    let deadline = started + gw.request_timeout.saturating_sub(MARGIN);
    let (mut parts, body) = req.into_parts();
    // Most requests (reads) have no body: nothing to collect.
    let body = if axum::body::HttpBody::size_hint(&body).exact() == Some(0) {
        Bytes::new()
    } else {
        match axum::body::to_bytes(body, BODY_LIMIT).await {
            Ok(b) => b,
            Err(e) => {
                let too_large = std::error::Error::source(&e)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                return if too_large || e.to_string().contains("length limit") {
                    GatewayError::TooLarge.into_response()
                } else {
                    GatewayError::BadBody.into_response()
                };
            }
        }
    };
    let pool = gw.pool(group);
    let repeatable = retry::repeatable(group, &parts.method, parts.uri.path(), &body);
    let write = group == Group::Catalog && !retry::is_read(&parts.method);
    let headers = outgoing(std::mem::take(&mut parts.headers));
    // One snapshot of the pool for the whole request: `tried` indexes it.
    let instances = pool.instances();
    let mut tried: Vec<usize> = Vec::with_capacity(instances.len());
    let mut shed: Option<Response> = None;
    let mut failure = GatewayError::Unavailable(group.name());
    while let Some(pick) = pool.pick(&instances, write, &tried) {
        let now = Instant::now();
        if now >= deadline {
            failure = GatewayError::Timeout;
            break;
        }
        if !tried.is_empty() {
            gw.metrics.retry(group.name());
        }
        tried.push(pick.index);
        let inst = &pick.instance;
        let Some(uri) = inst.uri(parts.uri.path_and_query()) else {
            return GatewayError::NotFound.into_response();
        };
        let mut up = http::Request::new(Full::new(body.clone()));
        *up.method_mut() = parts.method.clone();
        *up.uri_mut() = uri;
        *up.headers_mut() = headers.clone();
        let limit = (deadline - now).min(pool.timeout);
        let outcome = attempt(gw, pool, up, limit, deadline).await;
        let took = now.elapsed();
        let policy = &gw.health_policy;
        let label = |o: &'static str| gw.metrics.attempt(group.name(), &inst.label, o);
        match outcome {
            Attempt::Answer(mut r) => {
                inst.answered(took, false, policy);
                label(if r.status().is_server_error() {
                    "http_5xx"
                } else {
                    "ok"
                });
                tag(&mut r, &inst.header);
                return r;
            }
            Attempt::Shed(mut r) => {
                inst.answered(took, true, policy);
                label("shed");
                tag(&mut r, &inst.header);
                if !repeatable || group != Group::Catalog {
                    return r;
                }
                shed = Some(r);
            }
            Attempt::NotSent => {
                inst.failed(took, policy);
                label("connect_error");
            }
            Attempt::Broken => {
                inst.failed(took, policy);
                label("error");
                if !repeatable {
                    failure = GatewayError::BadGateway(group.name());
                    break;
                }
            }
            Attempt::TimedOut => {
                inst.failed(took, policy);
                label("timeout");
                if !repeatable {
                    failure = GatewayError::UpstreamTimeout(group.name());
                    break;
                }
                failure = GatewayError::UpstreamTimeout(group.name());
            }
        }
    }
    match shed {
        Some(r) => r,
        None => failure.into_response(),
    }
}

static X_UPSTREAM: HeaderName = HeaderName::from_static("x-upstream");

fn tag(r: &mut Response, value: &HeaderValue) {
    r.headers_mut().insert(X_UPSTREAM.clone(), value.clone());
}

/// One attempt: the answer's headers within `limit`, then (unless it is an event stream)
/// its body before `deadline`.
async fn attempt(
    gw: &Gateway,
    pool: &Pool,
    req: http::Request<Full<Bytes>>,
    limit: Duration,
    deadline: Instant,
) -> Attempt {
    let resp = match tokio::time::timeout(limit, gw.client.request(req)).await {
        Err(_) => return Attempt::TimedOut,
        Ok(Err(e)) if e.is_connect() => return Attempt::NotSent,
        Ok(Err(_)) => return Attempt::Broken,
        Ok(Ok(r)) => r,
    };
    if pool.group == Group::Catalog {
        let leader = resp
            .headers()
            .get("x-raft-leader")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if leader.is_some() {
            pool.set_leader_id(leader);
        }
    }
    let (parts, body) = resp.into_parts();
    let status = parts.status;
    let headers = incoming(parts.headers);
    if is_event_stream(&headers) {
        let mut r = Response::new(Body::new(body));
        *r.status_mut() = status;
        *r.headers_mut() = headers;
        return Attempt::Answer(r);
    }
    let left = deadline.saturating_duration_since(Instant::now());
    let bytes = match tokio::time::timeout(left, Limited::new(body, RESPONSE_LIMIT).collect()).await
    {
        Ok(Ok(c)) => c.to_bytes(),
        Ok(Err(_)) => return Attempt::Broken,
        Err(_) => return Attempt::TimedOut,
    };
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    if status == StatusCode::SERVICE_UNAVAILABLE {
        Attempt::Shed(r)
    } else {
        Attempt::Answer(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn names(h: &HeaderMap) -> Vec<String> {
        let mut v: Vec<String> = h.keys().map(|k| k.as_str().to_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn outgoing_drops_hop_by_hop_host_length_and_what_connection_names() {
        let h = outgoing(map(&[
            ("connection", "keep-alive, X-Secret-Hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("host", "gateway:8000"),
            ("content-length", "12"),
            ("authorization", "Bearer t"),
            ("x-session-id", "s1"),
            ("accept", "a"),
            ("accept", "b"),
        ]));
        assert_eq!(names(&h), ["accept", "authorization", "x-session-id"]);
        assert_eq!(h.get_all("accept").iter().count(), 2, "every value kept");
    }

    #[test]
    fn incoming_drops_only_hop_by_hop() {
        let h = incoming(map(&[
            ("connection", "close"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("retry-after", "1"),
            ("x-raft-leader", "2"),
            ("content-length", "3"),
        ]));
        assert_eq!(
            names(&h),
            ["content-length", "retry-after", "x-raft-leader"]
        );
    }
}
