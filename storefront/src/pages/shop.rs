//! The vitrine (all products or one category, paginated, sold-out ones badged "esgotado")
//! and the product page. Both read the catalog from any node's replica, so they keep working
//! while the catalog elects a leader.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use confeitaria_types::{Categoria, Doce};

use crate::api::ApiError;
use crate::error::{render, PageError};
use crate::pages::{param, Params};
use crate::view::{ilustracao, reais, see_other, Aviso, Layout};
use crate::visit::Visit;
use crate::AppState;

/// Products per vitrine page.
pub const PER_PAGE: usize = 12;

/// A category link above the vitrine.
pub struct Chip {
    /// Display name.
    pub nome: String,
    /// Where it leads.
    pub href: String,
    /// Whether it is the one shown.
    pub ativa: bool,
}

/// A product as the vitrine and the product page show it.
pub struct Cartao {
    /// Product id.
    pub id: u64,
    /// Name.
    pub nome: String,
    /// Description.
    pub descricao: String,
    /// Price in reais.
    pub preco: String,
    /// Category display name.
    pub categoria: String,
    /// Category slug.
    pub categoria_slug: String,
    /// Units for sale.
    pub estoque: u64,
    /// No unit for sale.
    pub esgotado: bool,
    /// Largest quantity one add may ask for.
    pub max: u64,
    /// The category's illustration (the storefront's own SVG).
    pub svg: &'static str,
}

impl Cartao {
    fn new(d: Doce, categorias: &[Categoria]) -> Self {
        let categoria = categorias
            .iter()
            .find(|c| c.slug == d.categoria)
            .map(|c| c.nome.clone())
            .unwrap_or_else(|| d.categoria.clone());
        Self {
            id: d.id,
            preco: reais(d.preco_centavos),
            svg: ilustracao(&d.categoria),
            esgotado: d.estoque == 0,
            max: d
                .estoque
                .clamp(1, confeitaria_types::cart::QUANTIDADE_MAXIMA),
            estoque: d.estoque,
            nome: d.nome,
            descricao: d.descricao,
            categoria,
            categoria_slug: d.categoria,
        }
    }
}

/// `vitrine.html`.
#[derive(Template)]
#[template(path = "vitrine.html")]
pub struct Vitrine {
    l: Layout,
    secao: String,
    categorias: Vec<Chip>,
    produtos: Vec<Cartao>,
    pagina: usize,
    paginas: usize,
    anterior: Option<String>,
    proxima: Option<String>,
}

/// `GET /`: every active product.
pub async fn vitrine(
    State(st): State<AppState>,
    Extension(v): Extension<Visit>,
    q: Params,
) -> Result<Response, PageError> {
    show(st, v, None, q).await
}

/// `GET /categoria/{slug}`: one category's active products.
pub async fn categoria(
    State(st): State<AppState>,
    Extension(v): Extension<Visit>,
    Path(slug): Path<String>,
    q: Params,
) -> Result<Response, PageError> {
    show(st, v, Some(slug), q).await
}

async fn show(
    st: AppState,
    v: Visit,
    slug: Option<String>,
    q: Params,
) -> Result<Response, PageError> {
    let (categorias, produtos) = tokio::join!(st.api.categorias(), async {
        match &slug {
            Some(s) => st.api.por_categoria(s).await,
            None => st.api.produtos(false).await,
        }
    });
    let mut l = Layout::new("Vitrine", &v.csrf).flash(param(&q, "aviso"));
    let categorias = match categorias {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "categories unavailable");
            l = l.aviso(Aviso::info(
                "As categorias não carregaram agora; mostramos todos os doces.",
            ));
            Vec::new()
        }
    };
    let produtos = match produtos {
        Ok(p) => p,
        Err(e) if e.is_not_found() => return Err(PageError::NotFound),
        Err(e) => {
            tracing::warn!(error = %e, "catalog unavailable");
            return Err(PageError::Unavailable(
                "Nossa vitrine está sendo arrumada. Tente novamente em instantes.",
            ));
        }
    };
    let ativos: Vec<Doce> = produtos.into_iter().filter(|d| d.ativo).collect();
    let paginas = ativos.len().div_ceil(PER_PAGE).max(1);
    let pagina = param(&q, "pagina")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, paginas);
    let base = match &slug {
        Some(s) => format!("/categoria/{}", crate::api::path_segment(s)),
        None => "/".to_owned(),
    };
    let link = |p: usize| format!("{base}?pagina={p}");
    let secao = slug
        .as_ref()
        .and_then(|s| categorias.iter().find(|c| &c.slug == s))
        .map(|c| c.nome.clone())
        .unwrap_or_else(|| "Todos os doces".to_owned());
    let mut chips = vec![Chip {
        nome: "Todos".into(),
        href: "/".into(),
        ativa: slug.is_none(),
    }];
    chips.extend(categorias.iter().map(|c| Chip {
        nome: c.nome.clone(),
        href: format!("/categoria/{}", crate::api::path_segment(&c.slug)),
        ativa: slug.as_deref() == Some(c.slug.as_str()),
    }));
    let produtos = ativos
        .into_iter()
        .skip((pagina - 1) * PER_PAGE)
        .take(PER_PAGE)
        .map(|d| Cartao::new(d, &categorias))
        .collect();
    Ok(render(&Vitrine {
        l,
        secao,
        categorias: chips,
        produtos,
        pagina,
        paginas,
        anterior: (pagina > 1).then(|| link(pagina - 1)),
        proxima: (pagina < paginas).then(|| link(pagina + 1)),
    }))
}

/// `produto.html`.
#[derive(Template)]
#[template(path = "produto.html")]
pub struct Produto {
    l: Layout,
    p: Cartao,
}

/// `GET /produto/{id}`.
pub async fn produto(
    State(st): State<AppState>,
    Extension(v): Extension<Visit>,
    Path(id): Path<String>,
    q: Params,
) -> Result<Response, PageError> {
    let id: u64 = id.parse().map_err(|_| PageError::NotFound)?;
    let (doce, categorias) = tokio::join!(st.api.doce(id, false), st.api.categorias());
    let doce = match doce {
        Ok(d) if d.ativo => d,
        Ok(_) => return Err(PageError::NotFound),
        Err(e) if e.is_not_found() => return Err(PageError::NotFound),
        Err(e) => return Err(unavailable(e)),
    };
    let l = Layout::new(doce.nome.clone(), &v.csrf).flash(param(&q, "aviso"));
    Ok(render(&Produto {
        l,
        p: Cartao::new(doce, &categorias.unwrap_or_default()),
    }))
}

/// `GET /produtos/{id}`: the same page under the plural path.
pub async fn produto_alias(Path(id): Path<String>) -> Response {
    see_other(&format!("/produto/{}", crate::api::path_segment(&id)), &[])
}

fn unavailable(e: ApiError) -> PageError {
    tracing::warn!(error = %e, "catalog unavailable");
    PageError::Unavailable("Não conseguimos abrir este doce agora. Tente novamente em instantes.")
}
