//! `/painel`: the live cluster dashboard. One static page (inline CSS and a few lines of
//! plain JavaScript, no CDN) fed by `GET /painel/eventos`, a Server-Sent Events stream that
//! pushes the whole picture every second: each catalog node's role (learners marked: they
//! take reads only), term, leader, commit and applied index, last contact and health; the timeline of leader changes; each
//! upstream instance's request rate, error rate, p50/p99 and breaker state.
//!
//! When the gateway was given a [`NodeControl`](crate::control::NodeControl) (under
//! `confeitaria up`), an admin — an admin JWT in the `Authorization` header, or kept in an
//! HttpOnly, SameSite=Strict cookie after the page's login form — sees kill and start
//! buttons per node. A control call with the cookie must also carry `X-Painel: 1`, which a
//! cross-site form cannot send.

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use axum::extract::rejection::{FormRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Form, Json};
use confeitaria_types::auth::{self, TokenRole};
use futures::Stream;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::error::GatewayError;
use crate::probe::LeaderChange;
use crate::Gateway;

/// The admin cookie's name.
pub const COOKIE: &str = "painel_token";
/// Seconds the admin cookie lives.
const COOKIE_MAX_AGE: u64 = 8 * 3600;
/// Period of the event stream.
pub const PERIOD: Duration = Duration::from_secs(1);

/// One catalog node on the dashboard.
#[derive(Debug, Clone, Serialize)]
pub struct No {
    /// Node id, once known.
    pub id: Option<u64>,
    /// `host:port`.
    pub endereco: String,
    /// `leader`, `follower`, `candidate`, `learner`, `shutdown`, or `desconhecido`.
    pub papel: String,
    /// Its term.
    pub termo: Option<u64>,
    /// The leader it knows.
    pub lider: Option<u64>,
    /// Its commit index.
    pub commit: Option<u64>,
    /// Its applied index.
    pub aplicado: Option<u64>,
    /// Milliseconds since the leader last heard from it (the leader's own view).
    pub ultimo_contato_ms: Option<u64>,
    /// Whether its latest probe succeeded.
    pub responde: bool,
    /// Milliseconds since it last answered a probe.
    pub visto_ha_ms: Option<u64>,
    /// Health as the gateway judges it (probes and requests).
    pub saudavel: bool,
    /// Breaker: `fechado`, `aberto`, `meio-aberto`.
    pub disjuntor: &'static str,
    /// A learner in the membership the gateway follows: it takes reads only.
    pub aprendiz: bool,
}

/// One upstream instance's traffic over the last seconds.
#[derive(Debug, Clone, Serialize)]
pub struct Trafego {
    /// `catalog`, `cart`, `orders`.
    pub servico: &'static str,
    /// `catalog@127.0.0.1:5001`.
    pub instancia: String,
    /// Requests per second.
    pub req_s: f64,
    /// Failed share, percent.
    pub erro_pct: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
    /// Breaker state.
    pub disjuntor: &'static str,
    /// Health.
    pub saudavel: bool,
}

/// What every event of the stream carries.
#[derive(Debug, Clone, Serialize)]
pub struct Estado {
    /// Milliseconds since the Unix epoch.
    pub agora_ms: u64,
    /// The leader the gateway sends writes to.
    pub lider: Option<u64>,
    /// The catalog nodes.
    pub nos: Vec<No>,
    /// Leader changes, oldest first.
    pub linha_do_tempo: Vec<LeaderChange>,
    /// Every upstream instance.
    pub trafego: Vec<Trafego>,
    /// Whether node controls exist here.
    pub controle: bool,
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The picture now.
pub fn estado(gw: &Gateway) -> Estado {
    let now = Instant::now();
    let instances = gw.catalog.instances();
    let views: Vec<_> = instances.iter().map(|i| i.view()).collect();
    let leader_status = views
        .iter()
        .filter_map(|v| v.status.as_ref())
        .filter(|s| s.role == confeitaria_types::Role::Leader)
        .max_by_key(|s| s.term);
    let nos = instances
        .iter()
        .zip(&views)
        .map(|(i, v)| {
            let s = v.status.as_ref();
            let id = i.node_id();
            let contato = match (leader_status, id) {
                (Some(l), Some(id)) if l.id == id => Some(0),
                (Some(l), Some(id)) => l.last_contact_ms.get(&id).copied().flatten(),
                _ => None,
            };
            No {
                id,
                endereco: i.addr.clone(),
                papel: match (s, v.probe_ok) {
                    (Some(s), true) => format!("{:?}", s.role).to_lowercase(),
                    (_, false) if v.last_ok.is_some() => "fora do ar".into(),
                    _ => "desconhecido".into(),
                },
                termo: s.map(|s| s.term),
                lider: s.and_then(|s| s.leader),
                commit: s.and_then(|s| s.commit_index),
                aplicado: s.and_then(|s| s.applied_index),
                ultimo_contato_ms: contato,
                responde: v.probe_ok,
                visto_ha_ms: v
                    .last_ok
                    .map(|t| now.saturating_duration_since(t).as_millis() as u64),
                saudavel: i.health.is_healthy(),
                disjuntor: i.breaker_state().label(),
                aprendiz: i.is_learner(),
            }
        })
        .collect();
    let trafego = gw
        .pools()
        .into_iter()
        .flat_map(|p| p.instances().iter().cloned().collect::<Vec<_>>())
        .map(|i| {
            let s = i.summary(5);
            Trafego {
                servico: i.group.name(),
                instancia: i.label.to_string(),
                req_s: s.rate,
                erro_pct: s.error_rate * 100.0,
                p50_ms: s.p50_ms,
                p99_ms: s.p99_ms,
                disjuntor: i.breaker_state().label(),
                saudavel: i.health.is_healthy(),
            }
        })
        .collect();
    Estado {
        agora_ms: epoch_ms(),
        lider: gw.catalog.leader_id(),
        nos,
        linha_do_tempo: gw.timeline.changes(),
        trafego,
        controle: gw.control.is_some(),
    }
}

/// `GET /painel/eventos`: one `estado` event now and every second after.
#[utoipa::path(
    get,
    path = "/painel/eventos",
    summary = "Server-Sent Events: an `estado` event every second",
    responses((status = 200, description = "text/event-stream: an `estado` event (the dashboard's JSON) every second"))
)]
pub async fn eventos(
    State(gw): State<Gateway>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stream = futures::stream::unfold((gw, tick), |(gw, mut tick)| async move {
        tick.tick().await;
        let data = serde_json::to_string(&estado(&gw)).unwrap_or_else(|_| "{}".into());
        let event = Event::default().event("estado").data(data);
        Some((Ok(event), (gw, tick)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The admin token a request carries (header first, then the cookie), if valid.
fn admin_from(gw: &Gateway, headers: &HeaderMap) -> Option<AdminVia> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Ok(t) = auth::bearer(header) {
        return auth::verify(gw.jwt_secret.expose(), t, TokenRole::Admin)
            .ok()
            .map(|_| AdminVia::Header);
    }
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)?;
    auth::verify(gw.jwt_secret.expose(), cookie, TokenRole::Admin)
        .ok()
        .map(|_| AdminVia::Cookie)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AdminVia {
    Header,
    Cookie,
}

/// `GET /painel`.
#[utoipa::path(
    get,
    path = "/painel",
    summary = "Live cluster dashboard",
    responses((status = 200, description = "The dashboard", content_type = "text/html", body = String))
)]
pub async fn page(State(gw): State<Gateway>, headers: HeaderMap) -> Response {
    let admin = admin_from(&gw, &headers).is_some();
    let html = PAGE
        .replace("__ADMIN__", if admin { "true" } else { "false" })
        .replace(
            "__CONTROLE__",
            if gw.control.is_some() {
                "true"
            } else {
                "false"
            },
        );
    let mut r = Html(html).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The login form's body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Login {
    /// An admin JWT.
    pub token: String,
}

/// `POST /painel/entrar`: keeps a valid admin token in the HttpOnly cookie. A body that is not
/// the login form (none, another content type, no `token`) gets a 400 page that says so and
/// leads back; a wrong token, the dashboard saying so.
#[utoipa::path(
    post,
    path = "/painel/entrar",
    summary = "Keep an admin token in an HttpOnly cookie",
    request_body(content = Login, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Back to /painel (which says so if the token was wrong)"),
        (status = 400, description = "The body is not the login form", content_type = "text/html", body = String),
    )
)]
pub async fn entrar(
    State(gw): State<Gateway>,
    login: Result<Form<Login>, FormRejection>,
) -> Response {
    let Ok(Form(login)) = login else {
        return (StatusCode::BAD_REQUEST, Html(BAD_LOGIN_FORM)).into_response();
    };
    let token = login.token.trim();
    let valid = auth::verify(gw.jwt_secret.expose(), token, TokenRole::Admin).is_ok()
        && token.bytes().all(|b| b.is_ascii_graphic() && b != b';');
    if !valid {
        return Redirect::to("/painel?erro=token").into_response();
    }
    let cookie = format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/painel; Max-Age={COOKIE_MAX_AGE}"
    );
    let mut r = Redirect::to("/painel").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `POST /painel/sair`: forgets the cookie.
#[utoipa::path(
    post,
    path = "/painel/sair",
    summary = "Forget the admin cookie",
    responses((status = 303, description = "Back to /painel"))
)]
pub async fn sair() -> Response {
    let mut r = Redirect::to("/painel").into_response();
    let gone = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/painel; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&gone) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// What the dashboard can do to a node (`acao` in the path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Acao)]
pub enum NodeAction {
    /// Kill the node's process (SIGKILL).
    #[serde(rename = "parar")]
    Stop,
    /// Start the node's process again.
    #[serde(rename = "iniciar")]
    Start,
}

/// What a node control answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Controle)]
pub struct ControlDone {
    /// The node.
    #[serde(rename = "no")]
    pub node: u64,
    /// What was done.
    #[serde(rename = "acao")]
    pub action: NodeAction,
    /// Always `true` (a failure answers 409).
    pub ok: bool,
}

/// `POST /painel/nos/{id}/{acao}`, `acao` `parar` (SIGKILL) or `iniciar`.
#[utoipa::path(
    post,
    path = "/painel/nos/{id}/{acao}",
    summary = "Kill (parar) or start (iniciar) a catalog node (admin, under `confeitaria up`)",
    params(
        ("id" = u64, Path, minimum = 1, description = "the node"),
        ("acao" = NodeAction, Path, description = "what to do"),
    ),
    security(("admin" = [])),
    responses(
        (status = 200, description = "Done", body = ControlDone),
        (status = 401, description = "unauthorized: no admin token (a cookie needs X-Painel too)", body = confeitaria_types::ErrorBody),
        (status = 404, description = "not_found: the id is not a number or the action is neither parar nor iniciar", body = confeitaria_types::ErrorBody),
        (status = 409, description = "no_control (not under `confeitaria up`) or control_failed", body = confeitaria_types::ErrorBody),
    )
)]
pub async fn controlar(
    State(gw): State<Gateway>,
    path: Result<Path<(u64, NodeAction)>, PathRejection>,
    headers: HeaderMap,
) -> Result<Json<ControlDone>, GatewayError> {
    // A node id that is not a number, or an action that is not one, names nothing: the JSON
    // 404, not axum's plain text.
    let Path((id, acao)) = path.map_err(|_| GatewayError::NotFound)?;
    let via = admin_from(&gw, &headers).ok_or(GatewayError::Unauthorized)?;
    if via == AdminVia::Cookie && headers.get("x-painel").is_none() {
        return Err(GatewayError::Unauthorized);
    }
    let control = gw.control.clone().ok_or(GatewayError::NoControl)?;
    let done = match acao {
        NodeAction::Stop => control.kill(id).await,
        NodeAction::Start => control.start(id).await,
    };
    done.map_err(GatewayError::ControlFailed)?;
    tracing::info!(node = id, acao = ?acao, "dashboard node control");
    Ok(Json(ControlDone {
        node: id,
        action: acao,
        ok: true,
    }))
}

const BAD_LOGIN_FORM: &str = "<!doctype html><html lang=\"pt-BR\"><meta charset=\"utf-8\">\
<title>Painel · Confeitaria</title><p>O formulário de entrada chegou incompleto: \
cole o token de administrador no campo e envie de novo.</p><p><a href=\"/painel\">Voltar ao \
painel</a></p></html>";

const PAGE: &str = r#"<!doctype html>
<html lang="pt-BR">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Painel do cluster · Confeitaria</title>
<style>
:root{--bg:#fff8f1;--card:#fff;--ink:#3b2a20;--muted:#8a7565;--rosa:#d9487a;--verde:#2f9e6b;--amarelo:#d89b1c;--vermelho:#c8373b;--borda:#f0dccb}
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--ink)}
header{background:linear-gradient(90deg,#f7c6d9,#fde2c4);padding:1rem 1.5rem;display:flex;flex-wrap:wrap;gap:1rem;align-items:center;justify-content:space-between}
header h1{margin:0;font-size:1.4rem}
header .lider{font-weight:600}
main{padding:1rem 1.5rem;max-width:1200px;margin:0 auto}
h2{font-size:1.1rem;margin:1.5rem 0 .6rem}
.nos{display:grid;grid-template-columns:repeat(auto-fit,minmax(250px,1fr));gap:1rem}
.no{background:var(--card);border:1px solid var(--borda);border-radius:14px;padding:1rem;box-shadow:0 2px 6px rgba(80,40,20,.06)}
.no.leader{border:2px solid var(--rosa)}
.no.caido{opacity:.65;background:#fbeeee}
.no h3{margin:0 0 .4rem;display:flex;justify-content:space-between;align-items:center;font-size:1.05rem}
.pill{font-size:.75rem;padding:.15rem .55rem;border-radius:999px;background:#eee;color:#333;white-space:nowrap}
.pill.leader{background:var(--rosa);color:#fff}.pill.follower{background:#e5eefc;color:#24508f}
.pill.caido{background:var(--vermelho);color:#fff}.pill.candidate{background:var(--amarelo);color:#fff}
.pill.learner{background:#efe6fb;color:#5b3a8f}.no.aprendiz{border-style:dashed}
dl{display:grid;grid-template-columns:auto 1fr;gap:.15rem .8rem;margin:.4rem 0;font-size:.9rem}
dt{color:var(--muted)}dd{margin:0;font-variant-numeric:tabular-nums}
.ok{color:var(--verde)}.ruim{color:var(--vermelho)}.meio{color:var(--amarelo)}
button{font:inherit;border:0;border-radius:8px;padding:.35rem .8rem;cursor:pointer;margin-right:.4rem}
button.matar{background:var(--vermelho);color:#fff}button.iniciar{background:var(--verde);color:#fff}
table{width:100%;border-collapse:collapse;background:var(--card);border-radius:12px;overflow:hidden;font-size:.9rem}
th,td{padding:.45rem .6rem;text-align:left;border-bottom:1px solid var(--borda)}
th{background:#fdeee2;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
ol.tempo{list-style:none;padding:0;margin:0;max-height:260px;overflow:auto;background:var(--card);border:1px solid var(--borda);border-radius:12px}
ol.tempo li{padding:.4rem .8rem;border-bottom:1px solid var(--borda);font-size:.9rem}
form.login{display:flex;gap:.5rem;flex-wrap:wrap;align-items:center}
form.login input{padding:.35rem .6rem;border:1px solid var(--borda);border-radius:8px;min-width:16rem}
#conexao{font-size:.85rem;color:var(--muted)}
#aviso{margin:.5rem 0;color:var(--vermelho);min-height:1.2em}
.wrap{overflow-x:auto}
</style>
</head>
<body>
<header>
  <h1>🧁 Painel do cluster</h1>
  <span class="lider" id="lider">Líder: —</span>
  <span id="conexao">conectando…</span>
</header>
<main>
  <div id="admin"></div>
  <div id="aviso" role="status"></div>
  <h2>Nós do catálogo</h2>
  <div class="nos" id="nos"></div>
  <h2>Tráfego por instância (últimos 5 s)</h2>
  <div class="wrap"><table>
    <thead><tr><th>Instância</th><th>Req/s</th><th>Erros</th><th>p50</th><th>p99</th><th>Disjuntor</th><th>Saúde</th></tr></thead>
    <tbody id="trafego"></tbody>
  </table></div>
  <h2>Trocas de líder</h2>
  <ol class="tempo" id="tempo"></ol>
</main>
<script>
const ADMIN = __ADMIN__, CONTROLE = __CONTROLE__;
const $ = id => document.getElementById(id);
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) { if (k === 'class') e.className = v; else e.setAttribute(k, v); }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k ?? '—'));
  return e;
}
const hora = ms => new Date(ms).toLocaleTimeString('pt-BR');
const num = v => v === null || v === undefined ? '—' : String(v);
const papeis = {leader: 'líder', follower: 'seguidor', candidate: 'candidato', learner: 'aprendiz', shutdown: 'parando', removed: 'removido'};
if (CONTROLE) {
  if (ADMIN) {
    $('admin').append(el('form', {class: 'login', method: 'post', action: '/painel/sair'},
      'Administrador conectado: os botões param (SIGKILL) e iniciam nós. ', el('button', {type: 'submit'}, 'Sair')));
  } else {
    const f = el('form', {class: 'login', method: 'post', action: '/painel/entrar'},
      el('label', {for: 'token'}, 'Token de administrador:'),
      el('input', {id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: 'required'}),
      el('button', {type: 'submit'}, 'Entrar'));
    $('admin').append(f);
    if (location.search.includes('erro=token')) $('aviso').textContent = 'Token inválido ou expirado.';
  }
}
async function controlar(id, acao) {
  $('aviso').textContent = (acao === 'parar' ? 'Parando' : 'Iniciando') + ' o nó ' + id + '…';
  try {
    const r = await fetch('/painel/nos/' + id + '/' + acao, {method: 'POST', headers: {'X-Painel': '1'}, credentials: 'same-origin'});
    const j = await r.json();
    $('aviso').textContent = r.ok ? 'Nó ' + id + (acao === 'parar' ? ' parado.' : ' iniciado.') : (j.error && j.error.message) || 'Falhou.';
  } catch (e) { $('aviso').textContent = 'Falhou: ' + e; }
}
function render(s) {
  $('lider').textContent = 'Líder: ' + (s.lider ? 'nó ' + s.lider : 'nenhum (eleição em curso?)');
  const nos = $('nos'); nos.replaceChildren();
  for (const n of s.nos) {
    const caido = !n.responde;
    const classe = caido ? 'caido' : n.papel;
    const card = el('div', {class: 'no ' + classe + (n.aprendiz ? ' aprendiz' : ''), 'data-no': num(n.id)},
      el('h3', {}, 'Nó ' + num(n.id) + (n.aprendiz ? ' · aprendiz (só leituras)' : ''), el('span', {class: 'pill ' + classe}, caido ? 'fora do ar' : (papeis[n.papel] || n.papel))),
      el('div', {class: 'pill'}, n.endereco),
      el('dl', {},
        el('dt', {}, 'Termo'), el('dd', {}, num(n.termo)),
        el('dt', {}, 'Líder conhecido'), el('dd', {}, n.lider ? 'nó ' + n.lider : '—'),
        el('dt', {}, 'Commit'), el('dd', {}, num(n.commit)),
        el('dt', {}, 'Aplicado'), el('dd', {}, num(n.aplicado)),
        el('dt', {}, 'Último contato'), el('dd', {}, n.ultimo_contato_ms === null ? '—' : n.ultimo_contato_ms + ' ms'),
        el('dt', {}, 'Visto há'), el('dd', {}, n.visto_ha_ms === null ? 'nunca' : (n.visto_ha_ms / 1000).toFixed(1) + ' s'),
        el('dt', {}, 'Saúde'), el('dd', {class: n.saudavel ? 'ok' : 'ruim'}, n.saudavel ? 'saudável' : 'fora'),
        el('dt', {}, 'Disjuntor'), el('dd', {class: n.disjuntor === 'fechado' ? 'ok' : (n.disjuntor === 'aberto' ? 'ruim' : 'meio')}, n.disjuntor)));
    if (CONTROLE && ADMIN && n.id) {
      card.append(el('div', {},
        Object.assign(el('button', {class: 'matar', type: 'button'}, 'Matar'), {onclick: () => controlar(n.id, 'parar')}),
        Object.assign(el('button', {class: 'iniciar', type: 'button'}, 'Iniciar'), {onclick: () => controlar(n.id, 'iniciar')})));
    }
    nos.append(card);
  }
  const t = $('trafego'); t.replaceChildren();
  for (const u of s.trafego) {
    t.append(el('tr', {},
      el('td', {}, u.instancia), el('td', {class: 'n'}, u.req_s.toFixed(1)),
      el('td', {class: 'n ' + (u.erro_pct > 0 ? 'ruim' : '')}, u.erro_pct.toFixed(1) + ' %'),
      el('td', {class: 'n'}, u.req_s ? u.p50_ms.toFixed(2) + ' ms' : '—'),
      el('td', {class: 'n'}, u.req_s ? u.p99_ms.toFixed(2) + ' ms' : '—'),
      el('td', {class: u.disjuntor === 'fechado' ? 'ok' : 'ruim'}, u.disjuntor),
      el('td', {class: u.saudavel ? 'ok' : 'ruim'}, u.saudavel ? 'saudável' : 'fora')));
  }
  const tempo = $('tempo'); tempo.replaceChildren();
  for (const c of [...s.linha_do_tempo].reverse()) {
    tempo.append(el('li', {}, hora(c.em_ms) + ' — termo ' + c.termo + ': ' + (c.lider ? 'nó ' + c.lider + ' assume a liderança' : 'sem líder')));
  }
  $('conexao').textContent = 'ao vivo · ' + hora(s.agora_ms);
}
const fonte = new EventSource('/painel/eventos');
fonte.addEventListener('estado', e => render(JSON.parse(e.data)));
fonte.onerror = () => { $('conexao').textContent = 'reconectando…'; };
</script>
</body>
</html>
"#;
