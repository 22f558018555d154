//! The admin area: a login that takes an admin token (JWT) and keeps it in an HttpOnly,
//! SameSite=Strict cookie scoped to `/admin`; products (create, edit, activate), stock, and
//! orders with the status changes DESIGN.md allows from where each one is.
//!
//! Every call carries the token to the API, which is what decides: the storefront never
//! grants anything by itself. A token the API refuses logs the admin out.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use confeitaria_types::auth::{self, TokenRole};
use confeitaria_types::orders::StatusPedido;
use confeitaria_types::{AtualizaDoce, Categoria, Doce, EstoqueDetalhe, NovoDoce};
use serde::Deserialize;

use crate::api::{ApiError, Reader};
use crate::csrf_form;
use crate::error::{render, render_with, PageError};
use crate::pages::orders::PedidoView;
use crate::pages::{param, Params};
use crate::view::{
    marco, parse_reais, proximos, reais, see_other, status_nome, Aviso, Layout, Marco,
};
use crate::visit::{is_hex32, Protected, Visit};
use crate::AppState;

/// The admin's token, if logged in.
fn token(v: &Visit) -> Option<String> {
    v.admin.clone()
}

/// The way to the login page.
fn to_login() -> Response {
    see_other("/admin/entrar", &[])
}

/// What to do when an admin call fails: log out on 401/403, a banner otherwise.
fn failed(st: &AppState, e: &ApiError) -> Response {
    if e.is_auth() {
        return see_other(
            "/admin/entrar?aviso=expirou",
            &[st.keys.admin_cookie_cleared()],
        );
    }
    tracing::warn!(error = %e, "admin call failed");
    axum::response::IntoResponse::into_response(PageError::Unavailable(
        "O serviço não respondeu agora. Tente novamente em instantes.",
    ))
}

/// `admin-entrar.html`.
#[derive(Template)]
#[template(path = "admin-entrar.html")]
pub struct Entrar {
    l: Layout,
}

/// `GET /admin/entrar`.
pub async fn entrar(Extension(v): Extension<Visit>, q: Params) -> Response {
    let l = Layout::admin("Área administrativa", &v.csrf).flash(param(&q, "aviso"));
    render(&Entrar { l })
}

/// Body of the login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    token: String,
}
csrf_form!(LoginForm);

/// `POST /admin/entrar` `token`: keeps the token if it is an admin's.
pub async fn login(
    State(st): State<AppState>,
    Protected(f, v): Protected<LoginForm>,
) -> Result<Response, PageError> {
    let token = f.token.trim();
    let refuse = |msg: &str| {
        let l = Layout::admin("Área administrativa", &v.csrf).aviso(Aviso::erro(msg));
        render_with(StatusCode::UNAUTHORIZED, &Entrar { l })
    };
    if token.is_empty() || token.len() > 4096 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Ok(refuse("Cole um token de administração válido."));
    }
    let accepted = match &st.admin_secret {
        Some(secret) => auth::verify(secret.expose(), token, TokenRole::Admin).is_ok(),
        // Without the secret, ask the orders API: an admin reading an order that does not
        // exist gets 404; anyone else 401 or 403.
        None => match st.api.pedido(&"0".repeat(32), Reader::Admin(token)).await {
            Err(e) if e.is_not_found() => true,
            Ok(_) => true,
            Err(ApiError::Refused { .. }) => false,
            Err(e) => {
                tracing::warn!(error = %e, "cannot check admin token");
                return Err(PageError::Unavailable(
                    "Não conseguimos conferir o token agora. Tente novamente em instantes.",
                ));
            }
        },
    };
    if !accepted {
        return Ok(refuse(
            "Token recusado: ele precisa ser de administração e estar válido.",
        ));
    }
    Ok(see_other(
        "/admin?aviso=entrou",
        &[st.keys.admin_cookie(token)],
    ))
}

/// Body of forms with only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct Vazio {
    #[serde(default)]
    csrf: String,
}
csrf_form!(Vazio);

/// `POST /admin/sair`.
pub async fn sair(State(st): State<AppState>, Protected(_, _): Protected<Vazio>) -> Response {
    see_other(
        "/admin/entrar?aviso=saiu",
        &[st.keys.admin_cookie_cleared()],
    )
}

/// A product row of the admin list.
pub struct LinhaProduto {
    /// Id.
    pub id: u64,
    /// Name.
    pub nome: String,
    /// Category slug.
    pub categoria: String,
    /// Price.
    pub preco: String,
    /// Units for sale.
    pub estoque: u64,
    /// For sale.
    pub ativo: bool,
}

/// `admin-inicio.html`.
#[derive(Template)]
#[template(path = "admin-inicio.html")]
pub struct Inicio {
    l: Layout,
    produtos: Vec<LinhaProduto>,
}

/// `GET /admin`: every product.
pub async fn inicio(
    State(st): State<AppState>,
    Extension(v): Extension<Visit>,
    q: Params,
) -> Response {
    if token(&v).is_none() {
        return to_login();
    }
    let l = Layout::admin("Produtos", &v.csrf).flash(param(&q, "aviso"));
    let produtos = match st.api.produtos(true).await {
        Ok(p) => p,
        Err(_) => match st.api.produtos(false).await {
            Ok(p) => p,
            Err(e) => return failed(&st, &e),
        },
    };
    let produtos = produtos
        .into_iter()
        .map(|d| LinhaProduto {
            id: d.id,
            preco: reais(d.preco_centavos),
            nome: d.nome,
            categoria: d.categoria,
            estoque: d.estoque,
            ativo: d.ativo,
        })
        .collect();
    render(&Inicio { l, produtos })
}

/// The product form's values.
#[derive(Debug, Default)]
pub struct Campos {
    /// Name.
    pub nome: String,
    /// Description.
    pub descricao: String,
    /// Price as typed (`45,00`).
    pub preco: String,
    /// Category slug.
    pub categoria: String,
    /// Initial stock (creation only).
    pub estoque: String,
    /// For sale.
    pub ativo: bool,
}

/// A category option of the product form.
pub struct Opcao {
    /// Slug.
    pub slug: String,
    /// Name.
    pub nome: String,
    /// Selected.
    pub sel: bool,
}

fn opcoes(cats: &[Categoria], sel: &str) -> Vec<Opcao> {
    cats.iter()
        .map(|c| Opcao {
            slug: c.slug.clone(),
            nome: c.nome.clone(),
            sel: c.slug == sel,
        })
        .collect()
}

/// `admin-produto.html`: the create and the edit form.
#[derive(Template)]
#[template(path = "admin-produto.html")]
pub struct ProdutoForm {
    l: Layout,
    /// `None` when creating.
    id: Option<u64>,
    c: Campos,
    categorias: Vec<Opcao>,
    estoque: Option<EstoqueDetalhe>,
}

/// `GET /admin/produtos/novo`.
pub async fn novo(State(st): State<AppState>, Extension(v): Extension<Visit>) -> Response {
    if token(&v).is_none() {
        return to_login();
    }
    let cats = st.api.categorias().await.unwrap_or_default();
    let c = Campos {
        ativo: true,
        estoque: "0".into(),
        categoria: cats.first().map(|c| c.slug.clone()).unwrap_or_default(),
        ..Campos::default()
    };
    render(&ProdutoForm {
        l: Layout::admin("Novo produto", &v.csrf),
        id: None,
        categorias: opcoes(&cats, &c.categoria),
        c,
        estoque: None,
    })
}

/// Body of the product form.
#[derive(Debug, Deserialize)]
pub struct ProdutoBody {
    #[serde(default)]
    csrf: String,
    nome: String,
    #[serde(default)]
    descricao: String,
    preco: String,
    categoria: String,
    #[serde(default)]
    estoque: String,
    #[serde(default)]
    ativo: Option<String>,
}
csrf_form!(ProdutoBody);

impl ProdutoBody {
    fn campos(&self) -> Campos {
        Campos {
            nome: self.nome.clone(),
            descricao: self.descricao.clone(),
            preco: self.preco.clone(),
            categoria: self.categoria.clone(),
            estoque: self.estoque.clone(),
            ativo: self.ativo.is_some(),
        }
    }
}

async fn form_again(st: &AppState, v: &Visit, id: Option<u64>, c: Campos, msg: String) -> Response {
    let cats = st.api.categorias().await.unwrap_or_default();
    let titulo = if id.is_some() {
        "Editar produto"
    } else {
        "Novo produto"
    };
    render_with(
        StatusCode::UNPROCESSABLE_ENTITY,
        &ProdutoForm {
            l: Layout::admin(titulo, &v.csrf).aviso(Aviso::erro(msg)),
            id,
            categorias: opcoes(&cats, &c.categoria),
            c,
            estoque: None,
        },
    )
}

/// A refusal's message for the form (the API's message is shown as text).
fn refusal_text(e: &ApiError) -> String {
    match e {
        ApiError::Refused { message, .. } if !message.is_empty() => {
            format!("O catálogo recusou: {message}")
        }
        _ => "O catálogo recusou os dados.".into(),
    }
}

/// `POST /admin/produtos`: creates a product.
pub async fn criar(
    State(st): State<AppState>,
    Protected(f, v): Protected<ProdutoBody>,
) -> Response {
    let Some(token) = token(&v) else {
        return to_login();
    };
    let Some(preco) = parse_reais(&f.preco) else {
        return form_again(
            &st,
            &v,
            None,
            f.campos(),
            "Preço inválido: use, por exemplo, 45,00.".into(),
        )
        .await;
    };
    let estoque = if f.estoque.trim().is_empty() {
        Some(0)
    } else {
        f.estoque.trim().parse().ok()
    };
    let Some(estoque) = estoque else {
        return form_again(&st, &v, None, f.campos(), "Estoque inválido.".into()).await;
    };
    let novo = NovoDoce {
        nome: f.nome.trim().to_owned(),
        descricao: f.descricao.trim().to_owned(),
        preco_centavos: preco,
        categoria: f.categoria.clone(),
        estoque,
        ativo: f.ativo.is_some(),
    };
    match st.api.criar_doce(&token, &novo).await {
        Ok(d) => see_other(&format!("/admin/produtos/{}?aviso=criado", d.id), &[]),
        Err(e @ ApiError::Refused { .. }) if !e.is_auth() => {
            form_again(&st, &v, None, f.campos(), refusal_text(&e)).await
        }
        Err(e) => failed(&st, &e),
    }
}

/// `GET /admin/produtos/{id}`: edit form, stock and activation.
pub async fn produto(
    State(st): State<AppState>,
    Extension(v): Extension<Visit>,
    Path(id): Path<String>,
    q: Params,
) -> Result<Response, PageError> {
    if token(&v).is_none() {
        return Ok(to_login());
    }
    let id: u64 = id.parse().map_err(|_| PageError::NotFound)?;
    let (d, cats, estoque) = tokio::join!(
        st.api.doce(id, true),
        st.api.categorias(),
        st.api.estoque(id)
    );
    let d: Doce = match d {
        Ok(d) => d,
        Err(e) if e.is_not_found() => return Err(PageError::NotFound),
        Err(_) => match st.api.doce(id, false).await {
            Ok(d) => d,
            Err(e) if e.is_not_found() => return Err(PageError::NotFound),
            Err(e) => return Ok(failed(&st, &e)),
        },
    };
    let cats = cats.unwrap_or_default();
    let c = Campos {
        nome: d.nome.clone(),
        descricao: d.descricao.clone(),
        preco: reais(d.preco_centavos).trim_start_matches("R$ ").to_owned(),
        categoria: d.categoria.clone(),
        estoque: d.estoque.to_string(),
        ativo: d.ativo,
    };
    Ok(render(&ProdutoForm {
        l: Layout::admin(format!("Editar: {}", d.nome), &v.csrf).flash(param(&q, "aviso")),
        id: Some(id),
        categorias: opcoes(&cats, &c.categoria),
        c,
        estoque: estoque.ok(),
    }))
}

/// `POST /admin/produtos/{id}`: saves the edit form.
pub async fn atualizar(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Protected(f, v): Protected<ProdutoBody>,
) -> Result<Response, PageError> {
    let Some(token) = token(&v) else {
        return Ok(to_login());
    };
    let id: u64 = id.parse().map_err(|_| PageError::NotFound)?;
    let Some(preco) = parse_reais(&f.preco) else {
        return Ok(form_again(
            &st,
            &v,
            Some(id),
            f.campos(),
            "Preço inválido: use, por exemplo, 45,00.".into(),
        )
        .await);
    };
    let mudanca = AtualizaDoce {
        nome: Some(f.nome.trim().to_owned()),
        descricao: Some(f.descricao.trim().to_owned()),
        preco_centavos: Some(preco),
        categoria: Some(f.categoria.clone()),
        ativo: Some(f.ativo.is_some()),
    };
    Ok(match st.api.atualizar_doce(&token, id, &mudanca).await {
        Ok(()) => see_other(&format!("/admin/produtos/{id}?aviso=salvo"), &[]),
        Err(e) if e.is_not_found() => return Err(PageError::NotFound),
        Err(e @ ApiError::Refused { .. }) if !e.is_auth() => {
            form_again(&st, &v, Some(id), f.campos(), refusal_text(&e)).await
        }
        Err(e) => failed(&st, &e),
    })
}

/// Body of the stock form.
#[derive(Debug, Deserialize)]
pub struct EstoqueBody {
    #[serde(default)]
    csrf: String,
    estoque: String,
}
csrf_form!(EstoqueBody);

/// `POST /admin/produtos/{id}/estoque` `estoque`: sets the units for sale.
pub async fn estoque(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Protected(f, v): Protected<EstoqueBody>,
) -> Result<Response, PageError> {
    let Some(token) = token(&v) else {
        return Ok(to_login());
    };
    let id: u64 = id.parse().map_err(|_| PageError::NotFound)?;
    let n: u64 = f
        .estoque
        .trim()
        .parse()
        .map_err(|_| PageError::BadRequest("Estoque inválido: use um número inteiro."))?;
    Ok(match st.api.definir_estoque(&token, id, n).await {
        Ok(()) => see_other(&format!("/admin/produtos/{id}?aviso=estoque"), &[]),
        Err(e) if e.is_not_found() => return Err(PageError::NotFound),
        Err(e) => failed(&st, &e),
    })
}

/// Body of the activation toggle.
#[derive(Debug, Deserialize)]
pub struct AtivoBody {
    #[serde(default)]
    csrf: String,
    ativo: String,
}
csrf_form!(AtivoBody);

/// `POST /admin/produtos/{id}/ativo` `ativo=sim|nao`.
pub async fn ativo(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Protected(f, v): Protected<AtivoBody>,
) -> Result<Response, PageError> {
    let Some(token) = token(&v) else {
        return Ok(to_login());
    };
    let id: u64 = id.parse().map_err(|_| PageError::NotFound)?;
    let mudanca = AtualizaDoce {
        ativo: Some(f.ativo == "sim"),
        ..AtualizaDoce::default()
    };
    Ok(match st.api.atualizar_doce(&token, id, &mudanca).await {
        Ok(()) => see_other(&format!("/admin/produtos/{id}?aviso=salvo"), &[]),
        Err(e) if e.is_not_found() => return Err(PageError::NotFound),
        Err(e) => failed(&st, &e),
    })
}

/// `admin-pedidos.html`.
#[derive(Template)]
#[template(path = "admin-pedidos.html")]
pub struct Pedidos {
    l: Layout,
    pedidos: Vec<PedidoView>,
}

/// `GET /admin/pedidos` (`?id=` opens one): the orders placed through this storefront.
pub async fn pedidos(
    State(st): State<AppState>,
    Extension(v): Extension<Visit>,
    q: Params,
) -> Response {
    let Some(token) = token(&v) else {
        return to_login();
    };
    if let Some(id) = param(&q, "id").map(str::trim).filter(|s| !s.is_empty()) {
        return if is_hex32(id) {
            see_other(&format!("/admin/pedidos/{}", id.to_ascii_lowercase()), &[])
        } else {
            let l = Layout::admin("Pedidos", &v.csrf).aviso(Aviso::erro(
                "Um número de pedido tem 32 caracteres (0-9, a-f).",
            ));
            render_with(
                StatusCode::BAD_REQUEST,
                &Pedidos {
                    l,
                    pedidos: Vec::new(),
                },
            )
        };
    }
    let mut l = Layout::admin("Pedidos", &v.csrf).flash(param(&q, "aviso"));
    let mut lista = Vec::new();
    for id in st.recent_orders() {
        match st.api.pedido(&id, Reader::Admin(&token)).await {
            Ok(p) => lista.push(PedidoView::new(&p)),
            Err(e) if e.is_auth() => return failed(&st, &e),
            Err(_) => {
                l = l.aviso(Aviso::erro("Alguns pedidos não carregaram agora."));
            }
        }
    }
    render(&Pedidos { l, pedidos: lista })
}

/// A status button of the admin order page.
pub struct Transicao {
    /// Wire name (`pago`).
    pub status: &'static str,
    /// Button text.
    pub nome: &'static str,
}

/// `admin-pedido.html`.
#[derive(Template)]
#[template(path = "admin-pedido.html")]
pub struct PedidoAdmin {
    l: Layout,
    p: PedidoView,
    marcos: Vec<Marco>,
    transicoes: Vec<Transicao>,
}

/// `GET /admin/pedidos/{id}`: the order with the buttons for its legal next statuses.
pub async fn pedido(
    State(st): State<AppState>,
    Extension(v): Extension<Visit>,
    Path(id): Path<String>,
    q: Params,
) -> Result<Response, PageError> {
    let Some(token) = token(&v) else {
        return Ok(to_login());
    };
    if !is_hex32(&id) {
        return Err(PageError::NotFound);
    }
    let id = id.to_ascii_lowercase();
    let reader = Reader::Admin(&token);
    let (p, evs) = tokio::join!(st.api.pedido(&id, reader), st.api.eventos(&id, reader));
    let p = match p {
        Ok(p) => p,
        Err(e) if e.is_not_found() => return Err(PageError::NotFound),
        Err(e) => return Ok(failed(&st, &e)),
    };
    let transicoes = proximos(p.status)
        .iter()
        .map(|s| Transicao {
            status: s.as_str(),
            nome: acao(*s),
        })
        .collect();
    Ok(render(&PedidoAdmin {
        l: Layout::admin(format!("Pedido {}", &id[..8]), &v.csrf).flash(param(&q, "aviso")),
        p: PedidoView::new(&p),
        marcos: evs.unwrap_or_default().iter().map(marco).collect(),
        transicoes,
    }))
}

fn acao(s: StatusPedido) -> &'static str {
    match s {
        StatusPedido::Pago => "Registrar pagamento",
        StatusPedido::Enviado => "Marcar como enviado",
        StatusPedido::Entregue => "Marcar como entregue",
        StatusPedido::Cancelado => "Cancelar pedido",
        other => status_nome(other),
    }
}

/// Body of a status button.
#[derive(Debug, Deserialize)]
pub struct StatusBody {
    #[serde(default)]
    csrf: String,
    status: String,
}
csrf_form!(StatusBody);

/// `POST /admin/pedidos/{id}/status` `status`.
pub async fn status(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Protected(f, v): Protected<StatusBody>,
) -> Result<Response, PageError> {
    let Some(token) = token(&v) else {
        return Ok(to_login());
    };
    if !is_hex32(&id) {
        return Err(PageError::NotFound);
    }
    let id = id.to_ascii_lowercase();
    let status = StatusPedido::TODOS
        .into_iter()
        .find(|s| s.as_str() == f.status)
        .ok_or(PageError::BadRequest("Status inválido."))?;
    Ok(match st.api.mudar_status(&token, &id, status).await {
        Ok(_) => see_other(&format!("/admin/pedidos/{id}?aviso=status"), &[]),
        Err(e) if e.is_not_found() => return Err(PageError::NotFound),
        Err(e @ ApiError::Refused { .. }) if !e.is_auth() => {
            tracing::info!(error = %e, "status change refused");
            see_other(&format!("/admin/pedidos/{id}?aviso=status-recusado"), &[])
        }
        Err(e) => failed(&st, &e),
    })
}
