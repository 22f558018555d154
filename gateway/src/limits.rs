//! What the gateway refuses to protect the shop: a per-client rate limit (429) and, per
//! upstream, a limit of requests in flight beyond which it sheds (503 + `Retry-After`).
//!
//! Shedding is tower's (`GlobalConcurrencyLimitLayer` under `LoadShedLayer`, one semaphore per
//! upstream; wired in [`crate::router`]). tower's own `RateLimitLayer` counts all clients
//! together, so the per-client limit is `governor`'s keyed GCRA limiter (one cell per client
//! address, pruned by the prober), in the small middleware [`rate_limit`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::BoxError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::GatewayError;
use crate::Gateway;

/// The keyed limiter, `None` when the rate is 0 (no limit).
pub fn rate_limiter(per_sec: u32, burst: u32) -> Option<DefaultKeyedRateLimiter<IpAddr>> {
    let rate = NonZeroU32::new(per_sec)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some(RateLimiter::keyed(
        Quota::per_second(rate).allow_burst(burst),
    ))
}

/// Refuses with 429 a client address over its quota. Loopback clients are not limited
/// unless `rate_limit_loopback` (the storefront calls the API through the gateway from
/// 127.0.0.1, as do local tools and load tests). Requests without a peer address (served
/// without connect info, as in router tests) share one quota.
pub async fn rate_limit(State(gw): State<Gateway>, req: Request, next: Next) -> Response {
    if let Some(limiter) = &gw.rate_limiter {
        let ip = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        let exempt = ip.is_loopback() && !gw.rate_limit_loopback;
        if let Some(Err(not_until)) = (!exempt).then(|| limiter.check_key(&ip)) {
            gw.metrics.refused("rate_limited");
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return GatewayError::RateLimited(secs).into_response();
        }
    }
    next.run(req).await
}

/// What tower's load shedder says when an upstream has too many requests in flight.
pub async fn overloaded(gw: Gateway, _err: BoxError) -> GatewayError {
    gw.metrics.refused("overloaded");
    GatewayError::Overloaded
}
