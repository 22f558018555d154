//! Confeitaria's storefront: the shop's pages, rendered on the server from compile-time
//! checked templates (askama), over the shop's JSON API at [`Config::api_base`].
//!
//! - [`api`]: the JSON API as the storefront calls it (every call under a deadline);
//! - [`visit`]: cookies — the session (HttpOnly, SameSite=Lax), the CSRF token bound to it,
//!   the admin token, the shopper's order list — and the middleware that sets them;
//! - [`pages`]: the handlers (`shop`, `cart`, `orders`, `admin`) and the templates' data;
//! - [`error`]: the friendly error page every failure ends in (never a stack trace);
//! - [`view`]: money, dates, status names and illustrations for the templates;
//! - [`assets`]: the CSS, the few lines of JavaScript and the icon, served from the binary.
//!
//! [`router`] returns the pages with their state applied; the gateway mounts it at `/`.

pub mod api;
pub mod assets;
pub mod error;
pub mod pages;
pub mod view;
pub mod visit;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use confeitaria_client::config::Secret;

use crate::api::Api;
use crate::visit::Keys;

/// How the storefront reaches the shop and protects its forms.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL of the shop's JSON API, e.g. `http://127.0.0.1:8000` (the gateway), without a
    /// trailing slash.
    pub api_base: String,
    /// Deadline of each call to the API.
    pub request_timeout: Duration,
    /// Mark cookies `Secure` (only when the shop is served over HTTPS).
    pub secure_cookies: bool,
    /// Key of the CSRF tokens. `None`: a random key per process (forms rendered before a
    /// restart are refused once, and the shopper resubmits). Set it when several storefronts
    /// serve one shop.
    pub csrf_secret: Option<Secret>,
    /// The admin JWT secret, to check a token at login. `None`: the login asks the orders API
    /// whether it accepts the token.
    pub admin_jwt_secret: Option<Secret>,
}

impl Config {
    /// Defaults around `api_base`: 5 s per API call, plain-HTTP cookies, random CSRF key.
    pub fn new(api_base: impl Into<String>) -> Self {
        Self {
            api_base: api_base.into().trim_end_matches('/').to_owned(),
            request_timeout: Duration::from_secs(5),
            secure_cookies: false,
            csrf_secret: None,
            admin_jwt_secret: None,
        }
    }
}

/// How many order ids the admin's "recent orders" list keeps.
pub const RECENT_ORDERS: usize = 50;

/// What every handler shares; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The shop's API.
    pub api: Arc<Api>,
    /// CSRF key and cookie settings.
    pub keys: Arc<Keys>,
    /// Ids of the latest orders placed through this storefront, newest first (the orders API
    /// has no listing). A `std` mutex: held for a push or a copy, never across an await.
    pub recent: Arc<Mutex<VecDeque<String>>>,
    /// The admin JWT secret, when configured (checks tokens at login).
    pub admin_secret: Option<Secret>,
}

impl AppState {
    /// Remembers an order id for the admin's list.
    pub fn remember_order(&self, id: &str) {
        if let Ok(mut r) = self.recent.lock() {
            r.retain(|x| x != id);
            r.push_front(id.to_owned());
            r.truncate(RECENT_ORDERS);
        }
    }

    /// The remembered order ids, newest first.
    pub fn recent_orders(&self) -> Vec<String> {
        self.recent
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The storefront's pages with their state applied. Owns `/`, `/categoria/…`, `/produto/…`,
/// `/carrinho…`, `/finalizar`, `/pedidos/…`, `/meus-pedidos`, `/admin…`, `/static/…` and a
/// friendly 404 page as its fallback.
pub fn router(cfg: Config) -> Router {
    let keys = Arc::new(Keys::new(&cfg));
    let state = AppState {
        api: Arc::new(Api::new(&cfg.api_base, cfg.request_timeout)),
        keys,
        recent: Arc::default(),
        admin_secret: cfg.admin_jwt_secret.clone(),
    };
    use pages::{admin, cart, orders, shop};
    Router::new()
        .route("/", get(shop::vitrine))
        .route("/categoria/{slug}", get(shop::categoria))
        .route("/produto/{id}", get(shop::produto))
        .route("/produtos/{id}", get(shop::produto_alias))
        .route("/carrinho", get(cart::carrinho))
        .route("/carrinho/adicionar", post(cart::adicionar))
        .route("/carrinho/atualizar", post(cart::atualizar))
        .route("/carrinho/remover", post(cart::remover))
        .route("/finalizar", get(cart::finalizar).post(cart::confirmar))
        .route("/checkout", get(cart::checkout_alias))
        .route("/pedidos/{id}", get(orders::pedido))
        .route("/pedidos/{id}/eventos", get(orders::eventos))
        .route("/meus-pedidos", get(orders::meus_pedidos))
        .route("/admin", get(admin::inicio))
        .route("/admin/entrar", get(admin::entrar).post(admin::login))
        .route("/admin/sair", post(admin::sair))
        .route("/admin/produtos", post(admin::criar))
        .route("/admin/produtos/novo", get(admin::novo))
        .route(
            "/admin/produtos/{id}",
            get(admin::produto).post(admin::atualizar),
        )
        .route("/admin/produtos/{id}/estoque", post(admin::estoque))
        .route("/admin/produtos/{id}/ativo", post(admin::ativo))
        .route("/admin/pedidos", get(admin::pedidos))
        .route("/admin/pedidos/{id}", get(admin::pedido))
        .route("/admin/pedidos/{id}/status", post(admin::status))
        .route("/static/{file}", get(assets::serve))
        .fallback(error::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            visit::middleware,
        ))
        .with_state(state)
}
