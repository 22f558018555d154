//! The orders service's wire types (`/api/pedidos/...` and the `pedidos:eventos` stream).
//!
//! An order (`Pedido`) is the fold of its events (`EventoPedido`); both travel as JSON with
//! Portuguese field names, as docs/design.md fixes them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::limits::IDEMPOTENCY_KEY_MAX;
use crate::schema::{Contagem, Instante, PedidoId, SessionId};

/// Name of the Redis stream order events are published to.
pub const STREAM_EVENTOS: &str = "pedidos:eventos";

/// Whether `raw` is an acceptable `Idempotency-Key`: 1 to [`IDEMPOTENCY_KEY_MAX`] visible
/// ASCII characters (the schema is `crate::schema::IdempotencyKey`).
pub fn is_idempotency_key(raw: &str) -> bool {
    !raw.is_empty() && raw.len() <= IDEMPOTENCY_KEY_MAX && raw.bytes().all(|b| b.is_ascii_graphic())
}

/// Status of an order. Legal transitions: `pendente→confirmado|rejeitado`,
/// `confirmado→pago|cancelado`, `pago→enviado|cancelado`, `enviado→entregue`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum StatusPedido {
    /// Recorded; stock not yet reserved.
    Pendente,
    /// Stock reserved for the order.
    Confirmado,
    /// Paid: the reservation is confirmed (units sold).
    Pago,
    /// Shipped.
    Enviado,
    /// Delivered.
    Entregue,
    /// Cancelled: the reservation was released.
    Cancelado,
    /// The catalog refused the reservation (see `Pedido::rejeicao`).
    Rejeitado,
}

impl StatusPedido {
    /// Every status, in declaration order.
    pub const TODOS: [StatusPedido; 7] = [
        StatusPedido::Pendente,
        StatusPedido::Confirmado,
        StatusPedido::Pago,
        StatusPedido::Enviado,
        StatusPedido::Entregue,
        StatusPedido::Cancelado,
        StatusPedido::Rejeitado,
    ];

    /// The lowercase wire name, e.g. `"confirmado"`.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusPedido::Pendente => "pendente",
            StatusPedido::Confirmado => "confirmado",
            StatusPedido::Pago => "pago",
            StatusPedido::Enviado => "enviado",
            StatusPedido::Entregue => "entregue",
            StatusPedido::Cancelado => "cancelado",
            StatusPedido::Rejeitado => "rejeitado",
        }
    }
}

/// One line of an order: the cart line as it was at checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ItemPedido {
    /// Product id.
    #[schema(value_type = Contagem)]
    pub doce_id: u64,
    /// Product name at checkout.
    pub nome: String,
    /// Unit price in cents at checkout.
    #[schema(value_type = Contagem)]
    pub preco_centavos: u64,
    /// Units ordered.
    #[schema(value_type = Contagem)]
    pub quantidade: u64,
    /// `preco_centavos * quantidade`.
    #[schema(value_type = Contagem)]
    pub subtotal_centavos: u64,
}

/// Why the catalog refused an order's reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Rejeicao {
    /// The catalog's error code, e.g. `insufficient_stock`, `inactive_product`.
    pub code: String,
    /// The product that was short or not for sale, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Contagem>)]
    pub doce_id: Option<u64>,
    /// Human-readable explanation.
    pub message: String,
}

/// An order, as every order endpoint answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pedido {
    /// 32 lowercase hex characters; also the id of its stock reservation.
    #[schema(value_type = PedidoId)]
    pub id: String,
    /// The cart session checked out; the owner's capability.
    #[schema(value_type = SessionId)]
    pub session_id: String,
    /// Lines, as in the cart at checkout.
    pub itens: Vec<ItemPedido>,
    /// Sum of the subtotals, in cents.
    #[schema(value_type = Contagem)]
    pub total_centavos: u64,
    /// Current status.
    pub status: StatusPedido,
    /// When the order was recorded (RFC 3339, UTC).
    #[schema(value_type = Instante)]
    pub criado_em: String,
    /// When its last event was recorded (RFC 3339, UTC).
    #[schema(value_type = Instante)]
    pub atualizado_em: String,
    /// Why it was rejected (only when `status` is `rejeitado`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejeicao: Option<Rejeicao>,
}

/// Body of `POST /api/pedidos`: check out this cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NovoPedido {
    /// The cart's session id (32 hex characters).
    #[schema(value_type = SessionId)]
    pub session_id: String,
}

/// Body of `PUT /api/pedidos/{id}/status` (admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AtualizaStatus {
    /// The status to move to.
    pub status: StatusPedido,
}

/// What happened to an order. Step intents (`criado`, `pagamento_solicitado`,
/// `cancelamento_solicitado`) are logged before the catalog is called; their outcomes after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "tipo", rename_all = "snake_case")]
pub enum DadosEvento {
    /// The order was recorded `pendente`; its stock is to be reserved.
    Criado {
        /// The cart session checked out.
        #[schema(value_type = SessionId)]
        session_id: String,
        /// Lines.
        itens: Vec<ItemPedido>,
        /// Sum of the subtotals, in cents.
        #[schema(value_type = Contagem)]
        total_centavos: u64,
    },
    /// The reservation holds the order's stock: `confirmado`.
    Confirmado,
    /// The catalog refused the reservation: `rejeitado`.
    Rejeitado {
        /// Why.
        rejeicao: Rejeicao,
    },
    /// Payment recorded; the reservation is to be confirmed.
    PagamentoSolicitado,
    /// The reservation is confirmed (units sold): `pago`.
    Pago,
    /// Cancellation asked; the reservation is to be released.
    CancelamentoSolicitado,
    /// The reservation is released: `cancelado`.
    Cancelado,
    /// A step intent was abandoned because the catalog refused it for good; the status is
    /// unchanged.
    AcaoAbortada {
        /// Why.
        motivo: String,
    },
    /// Shipped: `enviado`.
    Enviado,
    /// Delivered: `entregue`.
    Entregue,
}

impl DadosEvento {
    /// The `tipo` tag as it appears in the JSON.
    pub fn tipo(&self) -> &'static str {
        match self {
            DadosEvento::Criado { .. } => "criado",
            DadosEvento::Confirmado => "confirmado",
            DadosEvento::Rejeitado { .. } => "rejeitado",
            DadosEvento::PagamentoSolicitado => "pagamento_solicitado",
            DadosEvento::Pago => "pago",
            DadosEvento::CancelamentoSolicitado => "cancelamento_solicitado",
            DadosEvento::Cancelado => "cancelado",
            DadosEvento::AcaoAbortada { .. } => "acao_abortada",
            DadosEvento::Enviado => "enviado",
            DadosEvento::Entregue => "entregue",
        }
    }
}

/// One entry of an order's append-only log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventoPedido {
    /// Globally unique: `{pedido_id}:{seq}`. Consumers deduplicate on it.
    pub id: String,
    /// The order.
    #[schema(value_type = PedidoId)]
    pub pedido_id: String,
    /// Position in the order's log, from 1.
    #[schema(value_type = Contagem)]
    pub seq: u64,
    /// When it was recorded (RFC 3339, UTC).
    #[schema(value_type = Instante)]
    pub em: String,
    /// What happened.
    #[serde(flatten)]
    pub dados: DadosEvento,
}

/// `GET /api/pedidos/{id}/eventos`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventosPedido {
    /// The order.
    #[schema(value_type = PedidoId)]
    pub pedido_id: String,
    /// Its events in order.
    pub eventos: Vec<EventoPedido>,
}
