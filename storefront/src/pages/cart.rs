//! The cart and the checkout.
//!
//! The checkout form carries a one-time idempotency key, drawn when the form is rendered and
//! sent as `Idempotency-Key` to `POST /api/pedidos`: a double click or a resubmitted form
//! replays the same order instead of making a second one. A checkout that fails for a moment
//! re-renders the form with the same key, so trying again is just as safe.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use confeitaria_types::cart::{Carrinho, QUANTIDADE_MAXIMA};
use confeitaria_types::orders::StatusPedido;
use serde::Deserialize;

use crate::api::ApiError;
use crate::csrf_form;
use crate::error::{render, render_with, PageError};
use crate::pages::{param, Params};
use crate::view::{ilustracao, reais, see_other, Aviso, Layout};
use crate::visit::{is_hex32, new_id, Protected, Visit};
use crate::AppState;

/// A cart line as the page shows it.
pub struct Linha {
    /// Product id.
    pub doce_id: u64,
    /// Name.
    pub nome: String,
    /// Unit price.
    pub preco: String,
    /// Units.
    pub quantidade: u64,
    /// Line total.
    pub subtotal: String,
}

fn linhas(c: &Carrinho) -> Vec<Linha> {
    c.itens
        .iter()
        .map(|i| Linha {
            doce_id: i.doce_id,
            nome: i.nome.clone(),
            preco: reais(i.preco_centavos),
            quantidade: i.quantidade,
            subtotal: reais(i.subtotal_centavos),
        })
        .collect()
}

/// `carrinho.html`.
#[derive(Template)]
#[template(path = "carrinho.html")]
pub struct CarrinhoPage {
    l: Layout,
    linhas: Vec<Linha>,
    total: String,
    /// The cart could not be read (a banner says so).
    fora: bool,
    svg: &'static str,
}

/// `GET /carrinho`.
pub async fn carrinho(
    State(st): State<AppState>,
    Extension(v): Extension<Visit>,
    q: Params,
) -> Response {
    let l = Layout::new("Seu carrinho", &v.csrf).flash(param(&q, "aviso"));
    match st.api.carrinho(&v.session).await {
        Ok(c) => {
            let (linhas, total) = c
                .map(|c| (linhas(&c), reais(c.total_centavos)))
                .unwrap_or_else(|| (Vec::new(), reais(0)));
            render(&CarrinhoPage {
                l,
                linhas,
                total,
                fora: false,
                svg: ilustracao(""),
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "cart unavailable");
            let l = if param(&q, "aviso") == Some("carrinho-fora") {
                l
            } else {
                l.aviso(Aviso::erro(
                    "Não conseguimos abrir seu carrinho agora. Seus doces continuam guardados: tente novamente em instantes.",
                ))
            };
            render_with(
                StatusCode::SERVICE_UNAVAILABLE,
                &CarrinhoPage {
                    l,
                    linhas: Vec::new(),
                    total: reais(0),
                    fora: true,
                    svg: ilustracao(""),
                },
            )
        }
    }
}

/// Body of the add, change and remove forms.
#[derive(Debug, Deserialize)]
pub struct LinhaForm {
    #[serde(default)]
    csrf: String,
    doce_id: String,
    #[serde(default)]
    quantidade: Option<String>,
}
csrf_form!(LinhaForm);

fn parse_linha(f: &LinhaForm) -> Result<(u64, Option<u64>), PageError> {
    let id = f
        .doce_id
        .trim()
        .parse()
        .map_err(|_| PageError::BadRequest("Produto inválido."))?;
    let q = match f.quantidade.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(q) => Some(
            q.parse()
                .map_err(|_| PageError::BadRequest("Quantidade inválida."))?,
        ),
    };
    Ok((id, q))
}

/// Where a refused add leads, by the cart's error code.
fn refused(doce_id: u64, e: &ApiError) -> Response {
    let aviso = match e.code() {
        "insufficient_stock" => "sem-estoque",
        "line_limit" | "cart_full" | "invalid_quantity" => "limite",
        "product_inactive" | "product_not_found" | "not_found" => "indisponivel",
        _ => {
            tracing::warn!(error = %e, "cart refused or unavailable");
            return see_other("/carrinho?aviso=carrinho-fora", &[]);
        }
    };
    see_other(&format!("/produto/{doce_id}?aviso={aviso}"), &[])
}

/// `POST /carrinho/adicionar` `doce_id, quantidade`.
pub async fn adicionar(
    State(st): State<AppState>,
    Protected(f, v): Protected<LinhaForm>,
) -> Result<Response, PageError> {
    let (id, q) = parse_linha(&f)?;
    let q = q.unwrap_or(1);
    if q == 0 || q > QUANTIDADE_MAXIMA {
        return Ok(see_other(&format!("/produto/{id}?aviso=limite"), &[]));
    }
    Ok(match st.api.adicionar(&v.session, id, q).await {
        Ok(_) => see_other("/carrinho?aviso=adicionado", &[]),
        Err(e) => refused(id, &e),
    })
}

/// `POST /carrinho/atualizar` `doce_id, quantidade`: sets a line's quantity (0 removes it).
/// The cart API adds and removes whole lines, so a smaller quantity is a remove and an add.
pub async fn atualizar(
    State(st): State<AppState>,
    Protected(f, v): Protected<LinhaForm>,
) -> Result<Response, PageError> {
    let (id, q) = parse_linha(&f)?;
    let q = q.ok_or(PageError::BadRequest("Quantidade inválida."))?;
    if q > QUANTIDADE_MAXIMA {
        return Ok(see_other("/carrinho?aviso=limite", &[]));
    }
    let atual = match st.api.carrinho(&v.session).await {
        Ok(c) => c
            .and_then(|c| {
                c.itens
                    .iter()
                    .find(|i| i.doce_id == id)
                    .map(|i| i.quantidade)
            })
            .unwrap_or(0),
        Err(_) => return Ok(see_other("/carrinho?aviso=carrinho-fora", &[])),
    };
    let result = if q == atual {
        Ok(())
    } else if q > atual {
        st.api
            .adicionar(&v.session, id, q - atual)
            .await
            .map(|_| ())
    } else {
        match st.api.remover(&v.session, id).await {
            Ok(()) if q > 0 => st.api.adicionar(&v.session, id, q).await.map(|_| ()),
            other => other,
        }
    };
    Ok(match result {
        Ok(()) => see_other("/carrinho?aviso=atualizado", &[]),
        Err(e) if e.code() == "insufficient_stock" => see_other("/carrinho?aviso=sem-estoque", &[]),
        Err(e) => {
            tracing::warn!(error = %e, "cart update failed");
            see_other("/carrinho?aviso=carrinho-fora", &[])
        }
    })
}

/// `POST /carrinho/remover` `doce_id`.
pub async fn remover(
    State(st): State<AppState>,
    Protected(f, v): Protected<LinhaForm>,
) -> Result<Response, PageError> {
    let (id, _) = parse_linha(&f)?;
    Ok(match st.api.remover(&v.session, id).await {
        Ok(()) => see_other("/carrinho?aviso=removido", &[]),
        Err(e) if e.is_not_found() => see_other("/carrinho", &[]),
        Err(e) => {
            tracing::warn!(error = %e, "cart remove failed");
            see_other("/carrinho?aviso=carrinho-fora", &[])
        }
    })
}

/// `finalizar.html`.
#[derive(Template)]
#[template(path = "finalizar.html")]
pub struct Finalizar {
    l: Layout,
    linhas: Vec<Linha>,
    total: String,
    /// The one-time idempotency key of this form.
    chave: String,
}

/// `GET /finalizar`: the order summary and the confirm button.
pub async fn finalizar(
    State(st): State<AppState>,
    Extension(v): Extension<Visit>,
    q: Params,
) -> Result<Response, PageError> {
    let l = Layout::new("Finalizar pedido", &v.csrf).flash(param(&q, "aviso"));
    summary(&st, &v, l, new_id(), StatusCode::OK).await
}

async fn summary(
    st: &AppState,
    v: &Visit,
    l: Layout,
    chave: String,
    status: StatusCode,
) -> Result<Response, PageError> {
    let c = match st.api.carrinho(&v.session).await {
        Ok(Some(c)) if !c.itens.is_empty() => c,
        Ok(_) => return Ok(see_other("/carrinho?aviso=carrinho-vazio", &[])),
        Err(e) => {
            tracing::warn!(error = %e, "cart unavailable at checkout");
            return Err(PageError::Unavailable(
                "Não conseguimos abrir seu carrinho agora. Tente novamente em instantes.",
            ));
        }
    };
    Ok(render_with(
        status,
        &Finalizar {
            l,
            linhas: linhas(&c),
            total: reais(c.total_centavos),
            chave,
        },
    ))
}

/// Body of the checkout form.
#[derive(Debug, Deserialize)]
pub struct CheckoutForm {
    #[serde(default)]
    csrf: String,
    chave: String,
}
csrf_form!(CheckoutForm);

/// `POST /finalizar` `chave`: places the order (or finds the one this key already placed) and
/// leads to its page.
pub async fn confirmar(
    State(st): State<AppState>,
    Protected(f, v): Protected<CheckoutForm>,
) -> Result<Response, PageError> {
    if !is_hex32(&f.chave) {
        return Err(PageError::BadRequest("Formulário de pedido inválido."));
    }
    match st.api.checkout(&v.session, &f.chave).await {
        Ok(p) => {
            st.remember_order(&p.id);
            if p.status == StatusPedido::Confirmado {
                // The cart also empties itself on the order's event; doing it here too means
                // the shopper never sees a paid-for cart, whatever carries the events.
                if let Err(e) = st.api.esvaziar(&v.session).await {
                    tracing::debug!(error = %e, "cart not emptied after checkout");
                }
            }
            let cookie = st.keys.orders_cookie(&v.with_order(&p.id));
            Ok(see_other(&format!("/pedidos/{}", p.id), &[cookie]))
        }
        Err(e) => match e.code() {
            "cart_not_found" | "empty_cart" => Ok(see_other("/carrinho?aviso=carrinho-vazio", &[])),
            "idempotency_key_reused" => Ok(see_other("/finalizar?aviso=chave-usada", &[])),
            _ => {
                tracing::warn!(error = %e, "checkout failed");
                let l = Layout::new("Finalizar pedido", &v.csrf).aviso(Aviso::erro(
                    "Não foi possível finalizar agora — tente novamente em instantes. Nada foi cobrado, e confirmar de novo não duplica o pedido.",
                ));
                let status = match e {
                    ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                    ApiError::Refused { .. } => StatusCode::CONFLICT,
                };
                summary(&st, &v, l, f.chave, status).await
            }
        },
    }
}

/// `GET /checkout`: the checkout under its English name.
pub async fn checkout_alias() -> impl IntoResponse {
    see_other("/finalizar", &[])
}
