//! One typed method per catalog endpoint (docs/design.md "API"), each declaring how it is routed
//! and whether it is safe to send again.
//!
//! | call | route | retried after it may have arrived |
//! |---|---|---|
//! | reads, `consistency=local` | any node, round-robin | yes |
//! | reads, `consistency=linearizable` | leader first | yes |
//! | set stock, update product, upsert category, reservations, membership | leader first | yes (idempotent) |
//! | create product, adjust stock by a delta | leader first | no |

use confeitaria_types::{
    AtualizaDoce, Categoria, ClusterStatus, Doce, EstoqueDetalhe, NovaReserva, NovoDoce,
    NovoMembro, PaginaDoces, Reserva,
};
use http::Method;
use hyper_util::client::legacy::connect::Connect;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::catalog::{decode, CatalogClient, ClientError, Consistency, Retry, Route};

/// Percent-encodes one path segment (ids and slugs come from callers).
pub fn encode_segment(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn read_route(c: Consistency) -> Route {
    match c {
        Consistency::Linearizable => Route::Leader,
        Consistency::Local => Route::Any,
    }
}

impl<C> CatalogClient<C>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        consistency: Consistency,
    ) -> Result<T, ClientError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let path = format!("{path}{sep}consistency={}", consistency.query());
        let resp = self
            .call(
                Method::GET,
                &path,
                None,
                Retry::Safe,
                read_route(consistency),
            )
            .await?;
        decode(&resp)
    }

    async fn write<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        retry: Retry,
    ) -> Result<T, ClientError> {
        let bytes = match body {
            Some(b) => Some(serde_json::to_vec(b).map_err(|e| ClientError::BadRequest {
                code: "encode".into(),
                message: e.to_string(),
            })?),
            None => None,
        };
        let resp = self.call(method, path, bytes, retry, Route::Leader).await?;
        decode(&resp)
    }

    /// `GET /api/produtos?limit&offset`: one page of products.
    pub async fn produtos(
        &self,
        limit: u64,
        offset: u64,
        consistency: Consistency,
    ) -> Result<PaginaDoces, ClientError> {
        self.get(
            &format!("/api/produtos?limit={limit}&offset={offset}"),
            consistency,
        )
        .await
    }

    /// `GET /api/produtos/{id}`.
    pub async fn doce(&self, id: u64, consistency: Consistency) -> Result<Doce, ClientError> {
        self.get(&format!("/api/produtos/{id}"), consistency).await
    }

    /// `GET /api/produtos/categoria/{categoria}`: every product of a category.
    pub async fn produtos_por_categoria(
        &self,
        categoria: &str,
        consistency: Consistency,
    ) -> Result<Vec<Doce>, ClientError> {
        self.get(
            &format!("/api/produtos/categoria/{}", encode_segment(categoria)),
            consistency,
        )
        .await
    }

    /// `GET /api/categorias`.
    pub async fn categorias(
        &self,
        consistency: Consistency,
    ) -> Result<Vec<Categoria>, ClientError> {
        self.get("/api/categorias", consistency).await
    }

    /// `GET /api/produtos/{id}/estoque`: the available, reserved, sold and received counters.
    pub async fn estoque(
        &self,
        id: u64,
        consistency: Consistency,
    ) -> Result<EstoqueDetalhe, ClientError> {
        self.get(&format!("/api/produtos/{id}/estoque"), consistency)
            .await
    }

    /// `POST /api/produtos` (admin). Not idempotent: never resent once it may have arrived.
    pub async fn criar_produto(&self, novo: &NovoDoce) -> Result<Doce, ClientError> {
        self.write(
            Method::POST,
            "/api/produtos",
            Some(novo),
            Retry::OnlyIfNeverSent,
        )
        .await
    }

    /// `PUT /api/produtos/{id}` (admin). Idempotent: sets the same fields again.
    pub async fn atualizar_produto(
        &self,
        id: u64,
        update: &AtualizaDoce,
    ) -> Result<Doce, ClientError> {
        self.write(
            Method::PUT,
            &format!("/api/produtos/{id}"),
            Some(update),
            Retry::Safe,
        )
        .await
    }

    /// `POST /api/categorias` (admin). Idempotent: an upsert by slug.
    pub async fn criar_categoria(&self, categoria: &Categoria) -> Result<Categoria, ClientError> {
        self.write(
            Method::POST,
            "/api/categorias",
            Some(categoria),
            Retry::Safe,
        )
        .await
    }

    /// `PUT /api/produtos/{id}/estoque {"estoque": n}` (admin). Idempotent.
    pub async fn set_estoque(&self, id: u64, estoque: u64) -> Result<Doce, ClientError> {
        let body = serde_json::json!({ "estoque": estoque });
        self.write(
            Method::PUT,
            &format!("/api/produtos/{id}/estoque"),
            Some(&body),
            Retry::Safe,
        )
        .await
    }

    /// `PUT /api/produtos/{id}/estoque {"delta": d}` (admin). Not idempotent: never resent
    /// once it may have arrived.
    pub async fn adjust_estoque(&self, id: u64, delta: i64) -> Result<Doce, ClientError> {
        let body = serde_json::json!({ "delta": delta });
        self.write(
            Method::PUT,
            &format!("/api/produtos/{id}/estoque"),
            Some(&body),
            Retry::OnlyIfNeverSent,
        )
        .await
    }

    /// `POST /api/reservas` (service). Idempotent by reservation id.
    pub async fn reservar(&self, reserva: &NovaReserva) -> Result<Reserva, ClientError> {
        self.write(Method::POST, "/api/reservas", Some(reserva), Retry::Safe)
            .await
    }

    /// `GET /api/reservas/{id}` (service).
    pub async fn obter_reserva(
        &self,
        id: &str,
        consistency: Consistency,
    ) -> Result<Reserva, ClientError> {
        self.get(
            &format!("/api/reservas/{}", encode_segment(id)),
            consistency,
        )
        .await
    }

    /// `POST /api/reservas/{id}/confirmar` (service). Idempotent.
    pub async fn confirmar(&self, id: &str) -> Result<Reserva, ClientError> {
        self.write::<(), _>(
            Method::POST,
            &format!("/api/reservas/{}/confirmar", encode_segment(id)),
            None,
            Retry::Safe,
        )
        .await
    }

    /// `POST /api/reservas/{id}/encerrar` (service): the reservation's order is final, so a
    /// confirmed reservation is closed for good and forgotten after the catalog's retention
    /// window. Idempotent; `NotFound` once it has been forgotten.
    pub async fn encerrar(&self, id: &str) -> Result<Reserva, ClientError> {
        self.write::<(), _>(
            Method::POST,
            &format!("/api/reservas/{}/encerrar", encode_segment(id)),
            None,
            Retry::Safe,
        )
        .await
    }

    /// `DELETE /api/reservas/{id}` (service). Idempotent; an unknown id is remembered as
    /// released.
    pub async fn liberar(&self, id: &str) -> Result<Reserva, ClientError> {
        self.write::<(), _>(
            Method::DELETE,
            &format!("/api/reservas/{}", encode_segment(id)),
            None,
            Retry::Safe,
        )
        .await
    }

    /// `GET /cluster/status` of any node, learning addresses and leader from it.
    pub async fn cluster_status(&self) -> Result<ClusterStatus, ClientError> {
        self.refresh().await
    }

    /// `POST /cluster/members` (admin): adds a node as learner, then voter.
    pub async fn add_member(&self, membro: &NovoMembro) -> Result<ClusterStatus, ClientError> {
        let st: ClusterStatus = self
            .write(Method::POST, "/cluster/members", Some(membro), Retry::Safe)
            .await?;
        self.learn_status(&st);
        Ok(st)
    }

    /// `DELETE /cluster/members/{id}` (admin).
    pub async fn remove_member(&self, id: u64) -> Result<ClusterStatus, ClientError> {
        self.write::<(), _>(
            Method::DELETE,
            &format!("/cluster/members/{id}"),
            None,
            Retry::Safe,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode_segment("doces-finos"), "doces-finos");
        assert_eq!(encode_segment("a/b c?"), "a%2Fb%20c%3F");
        assert_eq!(encode_segment("pão"), "p%C3%A3o");
    }
}
