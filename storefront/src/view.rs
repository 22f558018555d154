//! What the templates print: the page frame ([`Layout`]), banners ([`Aviso`]), money in reais,
//! dates, Portuguese names of statuses and events, and the category illustrations.

use axum::http::header::{HeaderValue, LOCATION, SET_COOKIE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use confeitaria_types::orders::{DadosEvento, EventoPedido, StatusPedido};

/// A banner at the top of a page.
#[derive(Debug, Clone)]
pub struct Aviso {
    /// `ok`, `info` or `erro` (the CSS class).
    pub tipo: &'static str,
    /// The sentence (escaped when printed, like all text).
    pub texto: String,
}

impl Aviso {
    /// A success banner.
    pub fn ok(texto: impl Into<String>) -> Self {
        Self {
            tipo: "ok",
            texto: texto.into(),
        }
    }
    /// A neutral banner.
    pub fn info(texto: impl Into<String>) -> Self {
        Self {
            tipo: "info",
            texto: texto.into(),
        }
    }
    /// A problem banner.
    pub fn erro(texto: impl Into<String>) -> Self {
        Self {
            tipo: "erro",
            texto: texto.into(),
        }
    }
}

/// What the page frame (`base.html`) needs.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The `<title>` and the page's heading.
    pub titulo: String,
    /// The CSRF token of the page's forms.
    pub csrf: String,
    /// Banners, in order.
    pub avisos: Vec<Aviso>,
    /// Whether this is an admin page (admin navigation).
    pub admin: bool,
}

impl Layout {
    /// A shop page.
    pub fn new(titulo: impl Into<String>, csrf: &str) -> Self {
        Self {
            titulo: titulo.into(),
            csrf: csrf.to_owned(),
            avisos: Vec::new(),
            admin: false,
        }
    }

    /// An admin page.
    pub fn admin(titulo: impl Into<String>, csrf: &str) -> Self {
        Self {
            admin: true,
            ..Self::new(titulo, csrf)
        }
    }

    /// Adds a banner.
    pub fn aviso(mut self, aviso: Aviso) -> Self {
        self.avisos.push(aviso);
        self
    }

    /// Adds the banner a redirect asked for with `?aviso=CODE` (unknown codes show nothing:
    /// the page never echoes text from the address).
    pub fn flash(mut self, code: Option<&str>) -> Self {
        if let Some(a) = code.and_then(flash) {
            self.avisos.push(a);
        }
        self
    }
}

/// The banner of a redirect's `?aviso=` code.
pub fn flash(code: &str) -> Option<Aviso> {
    Some(match code {
        "adicionado" => Aviso::ok("Adicionado ao carrinho."),
        "atualizado" => Aviso::ok("Carrinho atualizado."),
        "removido" => Aviso::ok("Item removido do carrinho."),
        "sem-estoque" => Aviso::erro("Não temos tantas unidades deste doce agora."),
        "limite" => Aviso::erro("Cada item aceita no máximo 99 unidades, e o carrinho 50 itens."),
        "indisponivel" => Aviso::erro("Este doce não está à venda no momento."),
        "carrinho-fora" => {
            Aviso::erro("Não conseguimos falar com o carrinho agora. Tente novamente em instantes.")
        }
        "carrinho-vazio" => Aviso::info("Seu carrinho está vazio: escolha alguns doces primeiro."),
        "chave-usada" => {
            Aviso::info("Este formulário já foi usado: confira o pedido e confirme de novo.")
        }
        "entrou" => Aviso::ok("Bem-vinda, administração."),
        "saiu" => Aviso::ok("Você saiu da área administrativa."),
        "expirou" => Aviso::erro("Sua sessão de administração expirou: entre de novo."),
        "criado" => Aviso::ok("Produto criado."),
        "salvo" => Aviso::ok("Alterações salvas."),
        "estoque" => Aviso::ok("Estoque atualizado."),
        "status" => Aviso::ok("Status do pedido atualizado."),
        "status-recusado" => Aviso::erro("Esta mudança de status não é permitida agora."),
        _ => return None,
    })
}

/// A 303 to `location` (after a POST), with optional `Set-Cookie` values.
pub fn see_other(location: &str, cookies: &[String]) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(LOCATION, v);
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            r.headers_mut().append(SET_COOKIE, v);
        }
    }
    r
}

/// Cents as Brazilian reais: `4500` → `R$ 45,00`, `123456` → `R$ 1.234,56`.
pub fn reais(centavos: u64) -> String {
    let inteiro = (centavos / 100).to_string();
    let mut grupos = String::new();
    for (i, c) in inteiro.chars().enumerate() {
        if i > 0 && (inteiro.len() - i).is_multiple_of(3) {
            grupos.push('.');
        }
        grupos.push(c);
    }
    format!("R$ {grupos},{:02}", centavos % 100)
}

/// A price typed by the admin (`45`, `45,5`, `45,50`, `1.234,56`, `45.50`) in cents.
pub fn parse_reais(s: &str) -> Option<u64> {
    let s = s.trim().trim_start_matches("R$").trim();
    if s.is_empty() {
        return None;
    }
    // The last separator followed by one or two digits is the decimal one.
    let (int, frac) = match s.rfind([',', '.']) {
        Some(i) if s.len() - i - 1 <= 2 => (&s[..i], &s[i + 1..]),
        _ => (s, ""),
    };
    let int: String = int.chars().filter(|c| *c != '.' && *c != ',').collect();
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let reais: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let cents: u64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<u64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    reais.checked_mul(100)?.checked_add(cents)
}

/// An RFC 3339 instant as `02/12/2026 13:05 UTC` (the text itself if it is not one).
pub fn data(rfc3339: &str) -> String {
    let b = rfc3339.as_bytes();
    if rfc3339.is_ascii()
        && b.len() >= 16
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
    {
        format!(
            "{}/{}/{} {} UTC",
            &rfc3339[8..10],
            &rfc3339[5..7],
            &rfc3339[0..4],
            &rfc3339[11..16]
        )
    } else {
        rfc3339.to_owned()
    }
}

/// The shopper's name of a status.
pub fn status_nome(s: StatusPedido) -> &'static str {
    match s {
        StatusPedido::Pendente => "Aguardando confirmação",
        StatusPedido::Confirmado => "Confirmado",
        StatusPedido::Pago => "Pago",
        StatusPedido::Enviado => "Saiu para entrega",
        StatusPedido::Entregue => "Entregue",
        StatusPedido::Cancelado => "Cancelado",
        StatusPedido::Rejeitado => "Recusado",
    }
}

/// One line of an order's timeline.
#[derive(Debug, Clone)]
pub struct Marco {
    /// Position in the order's log.
    pub seq: u64,
    /// The event's `tipo`.
    pub tipo: &'static str,
    /// What happened, in Portuguese.
    pub texto: String,
    /// When.
    pub quando: String,
}

/// The timeline line of an event.
pub fn marco(e: &EventoPedido) -> Marco {
    let texto = match &e.dados {
        DadosEvento::Criado { .. } => "Pedido recebido".to_owned(),
        DadosEvento::Confirmado => "Doces separados: pedido confirmado".to_owned(),
        DadosEvento::Rejeitado { rejeicao } => {
            format!("Pedido recusado: {}", motivo(&rejeicao.code))
        }
        DadosEvento::PagamentoSolicitado => "Pagamento em processamento".to_owned(),
        DadosEvento::Pago => "Pagamento aprovado".to_owned(),
        DadosEvento::CancelamentoSolicitado => "Cancelamento solicitado".to_owned(),
        DadosEvento::Cancelado => "Pedido cancelado".to_owned(),
        DadosEvento::AcaoAbortada { .. } => "Uma etapa não pôde ser concluída".to_owned(),
        DadosEvento::Enviado => "Saiu para entrega".to_owned(),
        DadosEvento::Entregue => "Entregue. Bom apetite!".to_owned(),
    };
    Marco {
        seq: e.seq,
        tipo: e.dados.tipo(),
        texto,
        quando: data(&e.em),
    }
}

/// Why the catalog refused an order, in Portuguese.
pub fn motivo(code: &str) -> &'static str {
    match code {
        "insufficient_stock" => "um dos doces esgotou",
        "inactive_product" => "um dos doces saiu de venda",
        "not_found" => "um dos doces não existe mais",
        _ => "o estoque não pôde ser reservado",
    }
}

/// The statuses an admin may move an order to from `s` (DESIGN.md's legal transitions; the
/// saga's own steps, out of `pendente`, are not the admin's).
pub fn proximos(s: StatusPedido) -> &'static [StatusPedido] {
    match s {
        StatusPedido::Confirmado => &[StatusPedido::Pago, StatusPedido::Cancelado],
        StatusPedido::Pago => &[StatusPedido::Enviado, StatusPedido::Cancelado],
        StatusPedido::Enviado => &[StatusPedido::Entregue],
        _ => &[],
    }
}

/// The SVG illustration of a category (the storefront's own markup, never catalog text).
pub fn ilustracao(categoria: &str) -> &'static str {
    match categoria {
        "bolos" => SVG_BOLO,
        "tortas" => SVG_TORTA,
        "doces-finos" => SVG_BRIGADEIRO,
        "salgados" => SVG_COXINHA,
        "biscoitos" => SVG_BISCOITO,
        _ => SVG_CUPCAKE,
    }
}

const SVG_BOLO: &str = r##"<svg viewBox="0 0 120 90" aria-hidden="true"><ellipse cx="60" cy="78" rx="46" ry="7" fill="#e9d8c4"/><rect x="24" y="44" width="72" height="32" rx="6" fill="#8a5a3c"/><rect x="24" y="56" width="72" height="5" fill="#f4d7a1"/><path d="M24 50c0-8 6-10 12-10h48c6 0 12 2 12 10v2c-4 0-5 6-9 6s-5-6-9-6-5 7-9 7-5-7-9-7-5 6-9 6-5-6-9-6-5 6-9 6-4-6-9-6z" fill="#5b3424"/><rect x="57" y="22" width="6" height="18" rx="2" fill="#f7a8b8"/><path d="M60 12c4 5 4 9 0 10-4-1-4-5 0-10z" fill="#f6b73c"/></svg>"##;
const SVG_TORTA: &str = r##"<svg viewBox="0 0 120 90" aria-hidden="true"><ellipse cx="60" cy="72" rx="48" ry="10" fill="#e9d8c4"/><ellipse cx="60" cy="58" rx="44" ry="16" fill="#d9a05b"/><ellipse cx="60" cy="54" rx="38" ry="12" fill="#f3e27a"/><g stroke="#d9a05b" stroke-width="4" stroke-linecap="round"><path d="M34 50l14 12M50 44l22 18M68 43l18 14"/><path d="M40 60l14-14M56 63l22-19M74 62l10-9"/></g><circle cx="60" cy="40" r="6" fill="#e5484d"/><path d="M60 34c2-4 5-5 8-4-2 3-5 4-8 4z" fill="#4f9d69"/></svg>"##;
const SVG_BRIGADEIRO: &str = r##"<svg viewBox="0 0 120 90" aria-hidden="true"><ellipse cx="60" cy="78" rx="48" ry="6" fill="#e9d8c4"/><g><path d="M18 60h28l-4 16H22z" fill="#f7a8b8"/><circle cx="32" cy="52" r="13" fill="#4a2a1c"/><path d="M74 60h28l-4 16H78z" fill="#9dd3c0"/><circle cx="88" cy="52" r="13" fill="#f3e6d0"/><path d="M46 52h28l-4 16H50z" fill="#f6b73c"/><circle cx="60" cy="42" r="14" fill="#6b3b25"/></g><g fill="#f7a8b8"><rect x="54" y="34" width="5" height="2" rx="1" transform="rotate(30 56 35)"/><rect x="62" y="38" width="5" height="2" rx="1"/><rect x="57" y="45" width="5" height="2" rx="1" transform="rotate(-40 59 46)"/><rect x="26" y="47" width="5" height="2" rx="1" fill="#f6b73c"/><rect x="34" y="52" width="5" height="2" rx="1" fill="#9dd3c0"/></g><g fill="#c98b5e"><circle cx="84" cy="48" r="1.6"/><circle cx="91" cy="53" r="1.6"/><circle cx="86" cy="57" r="1.6"/></g></svg>"##;
const SVG_COXINHA: &str = r##"<svg viewBox="0 0 120 90" aria-hidden="true"><ellipse cx="60" cy="78" rx="46" ry="6" fill="#e9d8c4"/><path d="M42 76c-12 0-14-14-6-26 6-9 10-18 12-28 1-4 5-4 6 0 2 10 6 19 12 28 8 12 6 26-6 26z" fill="#d98c3a"/><path d="M66 76c-10 0-12-12-5-22 5-8 8-15 10-23 1-3 4-3 5 0 2 8 5 15 10 23 7 10 5 22-5 22z" fill="#e7a24f"/><g fill="#b86b26"><circle cx="44" cy="58" r="1.5"/><circle cx="52" cy="64" r="1.5"/><circle cx="47" cy="70" r="1.5"/><circle cx="74" cy="60" r="1.5"/><circle cx="80" cy="68" r="1.5"/></g></svg>"##;
const SVG_BISCOITO: &str = r##"<svg viewBox="0 0 120 90" aria-hidden="true"><ellipse cx="60" cy="78" rx="46" ry="6" fill="#e9d8c4"/><circle cx="44" cy="52" r="22" fill="#d9a05b"/><circle cx="80" cy="56" r="20" fill="#c98b4a"/><g fill="#5b3424"><circle cx="36" cy="46" r="3"/><circle cx="50" cy="44" r="2.5"/><circle cx="44" cy="58" r="3"/><circle cx="54" cy="56" r="2"/><circle cx="34" cy="60" r="2"/><circle cx="76" cy="50" r="3"/><circle cx="88" cy="56" r="2.5"/><circle cx="78" cy="64" r="2.5"/></g></svg>"##;
const SVG_CUPCAKE: &str = r##"<svg viewBox="0 0 120 90" aria-hidden="true"><ellipse cx="60" cy="80" rx="40" ry="5" fill="#e9d8c4"/><path d="M38 50h44l-6 28H44z" fill="#9dd3c0"/><path d="M36 52c-6 0-6-12 4-14 0-10 12-16 20-12 8-4 20 2 20 12 10 2 10 14 4 14z" fill="#f7a8b8"/><circle cx="60" cy="22" r="5" fill="#e5484d"/></svg>"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_written_in_reais() {
        assert_eq!(reais(0), "R$ 0,00");
        assert_eq!(reais(4500), "R$ 45,00");
        assert_eq!(reais(123_456), "R$ 1.234,56");
        assert_eq!(reais(100_000_005), "R$ 1.000.000,05");
    }

    #[test]
    fn typed_prices_are_read_as_cents() {
        assert_eq!(parse_reais("45"), Some(4500));
        assert_eq!(parse_reais("45,5"), Some(4550));
        assert_eq!(parse_reais("R$ 1.234,56"), Some(123_456));
        assert_eq!(parse_reais("45.50"), Some(4550));
        assert_eq!(parse_reais("abc"), None);
        assert_eq!(parse_reais(""), None);
        assert_eq!(parse_reais("-3"), None);
    }

    #[test]
    fn dates_are_written_day_first() {
        assert_eq!(data("2026-12-02T13:05:09.123Z"), "02/12/2026 13:05 UTC");
        assert_eq!(data("ontem"), "ontem");
    }
}
