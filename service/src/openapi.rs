//! What every service's OpenAPI document shares, added by [`Tail`] (a utoipa `Modify`) to the
//! operations a service generates from its handlers: the tail's own paths (`/health`,
//! `/ready`, `/metrics`, `/openapi.json`), the JSON error shape, the answers the tail itself
//! gives (503 `timeout` on every operation, 413 `payload_too_large` on every operation with a
//! JSON body) and the bearer security schemes. [`dangling_refs`] and [`operations`] are what each
//! service's tests check its document with.

use std::collections::BTreeSet;

use serde_json::Value;
use utoipa::openapi::content::Content;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::{HttpMethod, Operation, PathItem};
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Components, OpenApi, Ref, RefOr};
use utoipa::{Modify, PartialSchema, ToSchema};

use confeitaria_types::{ErrorBody, ErrorDetail};

/// Security scheme of the admin's bearer JWT (`role: admin`).
pub const ADMIN: &str = "admin";
/// Security scheme of a service's bearer JWT (`role: service`), service-to-service calls.
pub const SERVICE: &str = "servico";
/// Response component of a 503 (every one carries `Retry-After`).
pub const UNAVAILABLE: &str = "Unavailable";
/// Response component of a 413 `payload_too_large`.
pub const PAYLOAD_TOO_LARGE: &str = "PayloadTooLarge";
/// Name of the error schema ([`ErrorBody`]).
pub const ERROR: &str = "Error";

/// The shared part of a service's document; [`Tail::document`] applies it.
#[derive(Debug, Clone, Copy)]
pub struct Tail {
    /// The document's title, e.g. `Confeitaria cart`.
    pub title: &'static str,
    /// What the service is, in a sentence.
    pub description: &'static str,
    /// The service's version (its `CARGO_PKG_VERSION`).
    pub version: &'static str,
    /// What the service's `/ready` checks.
    pub ready: &'static str,
}

impl Tail {
    /// `doc` (the service's generated operations) with the tail, as JSON.
    pub fn document(&self, mut doc: OpenApi) -> Value {
        self.modify(&mut doc);
        let mut json = serde_json::to_value(&doc).unwrap_or(Value::Null);
        not_null_parameters(&mut json);
        // utoipa collects the schemas of bodies, not of parameters: add the shared ones a
        // parameter names.
        let wanted: Vec<String> = dangling_refs(&json)
            .iter()
            .filter_map(|r| r.strip_prefix("#/components/schemas/"))
            .map(str::to_owned)
            .collect();
        for (name, schema) in confeitaria_types::schema::all() {
            if wanted.contains(&name) {
                json["components"]["schemas"][&name] =
                    serde_json::to_value(schema).unwrap_or(Value::Null);
            }
        }
        json
    }
}

impl Modify for Tail {
    fn modify(&self, doc: &mut OpenApi) {
        doc.info.title = self.title.to_owned();
        doc.info.description = Some(self.description.to_owned());
        doc.info.version = self.version.to_owned();
        doc.info.license = None;
        doc.info.contact = None;
        for (_, item) in doc.paths.paths.iter_mut() {
            for op in operations_mut(item) {
                let answers = &mut op.responses.responses;
                answers
                    .entry("503".to_owned())
                    .or_insert_with(|| Ref::from_response_name(UNAVAILABLE).into());
                // The JSON handlers read their body whole and answer 413 past the limit; a form
                // (the gateway's login) is refused with its own 400.
                let json_body = op
                    .request_body
                    .as_ref()
                    .is_some_and(|b| b.content.contains_key("application/json"));
                if json_body {
                    answers
                        .entry("413".to_owned())
                        .or_insert_with(|| Ref::from_response_name(PAYLOAD_TOO_LARGE).into());
                }
            }
        }
        let text = |description: &str, content_type: &str| {
            Response::builder().description(description).content(
                content_type,
                Content::new(Some(ObjectBuilder::new().schema_type(Type::String))),
            )
        };
        let health = Response::builder().description("Alive").content(
            "application/json",
            Content::new(Some(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("status", ObjectBuilder::new().schema_type(Type::String))
                    .required("status"),
            )),
        );
        let ready = Response::builder().description("Ready").content(
            "application/json",
            Content::new(Some(ObjectBuilder::new().schema_type(Type::Object))),
        );
        let tail = [
            ("/health", "The process is alive and serving HTTP", health),
            ("/ready", self.ready, ready),
            (
                "/metrics",
                "Prometheus metrics",
                text(
                    "OpenMetrics text exposition",
                    crate::metrics::CONTENT_TYPE
                        .split(';')
                        .next()
                        .unwrap_or("text/plain"),
                ),
            ),
            (
                "/openapi.json",
                "This document",
                Response::builder().description("OpenAPI 3.1").content(
                    "application/json",
                    Content::new(Some(ObjectBuilder::new().schema_type(Type::Object))),
                ),
            ),
        ];
        for (path, summary, ok) in tail {
            let mut op = Operation::builder()
                .summary(Some(summary))
                .response("200", ok)
                .build();
            if path == "/ready" {
                op.responses.responses.insert(
                    "503".to_owned(),
                    Ref::from_response_name(UNAVAILABLE).into(),
                );
            }
            doc.paths
                .paths
                .entry(path.to_owned())
                .or_insert_with(|| PathItem::new(HttpMethod::Get, op));
        }
        let components = doc.components.get_or_insert_with(Components::new);
        components
            .schemas
            .insert(ERROR.to_owned(), ErrorBody::schema());
        components
            .schemas
            .insert(ErrorDetail::name().into_owned(), ErrorDetail::schema());
        let mut nested = Vec::new();
        ErrorBody::schemas(&mut nested);
        components.schemas.extend(nested);
        let error = |description: &str| {
            Response::builder().description(description).content(
                "application/json",
                Content::new(Some(Ref::from_schema_name(ERROR))),
            )
        };
        let retry_after = Header::builder()
            .schema(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0)),
            )
            .description(Some("seconds to wait before retrying"))
            .build();
        components.responses.insert(
            UNAVAILABLE.to_owned(),
            RefOr::T(
                error("A dependency is unavailable or the request outlived the service's deadline (`timeout`); retry after Retry-After")
                    .header("Retry-After", retry_after)
                    .build(),
            ),
        );
        components.responses.insert(
            PAYLOAD_TOO_LARGE.to_owned(),
            RefOr::T(error("payload_too_large: the body exceeds the service's limit").build()),
        );
        let bearer = |description: &str| {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.bearer_format = Some("JWT".to_owned());
            http.description = Some(description.to_owned());
            SecurityScheme::Http(http)
        };
        components.security_schemes.insert(
            ADMIN.to_owned(),
            bearer("HS256 JWT with role admin, signed with the cluster's jwt_secret (`confeitaria token --role admin`)"),
        );
        components.security_schemes.insert(
            SERVICE.to_owned(),
            bearer("HS256 JWT with role service, signed with the cluster's jwt_secret; what one service presents to another"),
        );
    }
}

/// A parameter that is `Option` in a handler is optional, not nullable: an absent header or
/// query value is absent, and `null` is no value a client can send in one. utoipa writes
/// `Option<T>` as "T or null"; this keeps T.
fn not_null_parameters(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut() {
            let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
                continue;
            };
            for schema in params.iter_mut().filter_map(|p| p.get_mut("schema")) {
                let is_null = |v: &Value| v.get("type") == Some(&Value::from("null"));
                if let Some(one_of) = schema.get("oneOf").and_then(Value::as_array) {
                    if let [a, b] = one_of.as_slice() {
                        if is_null(a) || is_null(b) {
                            *schema = if is_null(a) { b.clone() } else { a.clone() };
                        }
                    }
                }
                if let Some(types) = schema.get_mut("type").and_then(Value::as_array_mut) {
                    types.retain(|t| t != "null");
                    if let [only] = types.as_slice() {
                        let only = only.clone();
                        schema["type"] = only;
                    }
                }
            }
        }
    }
}

fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// Every `$ref` in `doc` that points at nothing in `doc`.
pub fn dangling_refs(doc: &Value) -> Vec<String> {
    let mut refs = Vec::new();
    collect_refs(doc, &mut refs);
    refs.into_iter()
        .filter(|r| {
            r.strip_prefix('#')
                .is_none_or(|pointer| doc.pointer(pointer).is_none())
        })
        .collect()
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if k == "$ref" => out.push(s.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The shared tail's own operations, which every service's document has.
pub const TAIL_OPERATIONS: [(&str, &str); 4] = [
    ("GET", "/health"),
    ("GET", "/ready"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
];

/// A service's own `(METHOD, path)` operations and the tail's, in the shape [`operations`]
/// returns: what a service's test compares its document with.
pub fn with_tail(own: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    own.iter()
        .chain(TAIL_OPERATIONS.iter())
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect()
}

/// What every service's test checks of its document: no dangling `$ref`, and operations that
/// are exactly the service's own routes (`own`) and the tail's. Panics with the difference.
pub fn assert_complete(doc: &Value, own: &[(&str, &str)]) {
    assert_eq!(dangling_refs(doc), Vec::<String>::new(), "dangling $ref");
    assert_eq!(
        operations(doc),
        with_tail(own),
        "operations and routes differ"
    );
}

/// Every `(METHOD, path)` the document has an operation for, e.g. `("GET", "/health")`.
pub fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let mut out = BTreeSet::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for m in METHODS {
                if item.get(m).is_some() {
                    out.insert((m.to_ascii_uppercase(), path.clone()));
                }
            }
        }
    }
    out
}

/// The statuses the document says `method path` can answer, e.g. `["200", "404", "503"]`.
pub fn statuses(doc: &Value, method: &str, path: &str) -> BTreeSet<String> {
    doc["paths"][path][method.to_ascii_lowercase()]["responses"]
        .as_object()
        .map(|r| r.keys().cloned().collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail() -> Value {
        Tail {
            title: "t",
            description: "d",
            version: "0",
            ready: "r",
        }
        .document(OpenApi::default())
    }

    #[test]
    fn the_tail_alone_has_its_paths_and_no_dangling_ref() {
        let doc = tail();
        assert_complete(&doc, &[]);
        assert!(doc["components"]["securitySchemes"][ADMIN].is_object());
        assert!(doc["components"]["schemas"]["ErrorDetail"].is_object());
    }

    #[test]
    fn optional_parameters_are_not_nullable() {
        let mut doc = serde_json::json!({"paths": {"/x": {"get": {"parameters": [
            {"name": "a", "in": "header", "required": false,
             "schema": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/S"}]}},
            {"name": "b", "in": "header", "required": false, "schema": {"type": ["string", "null"]}}
        ]}}}});
        not_null_parameters(&mut doc);
        let params = &doc["paths"]["/x"]["get"]["parameters"];
        assert_eq!(
            params[0]["schema"],
            serde_json::json!({"$ref": "#/components/schemas/S"})
        );
        assert_eq!(params[1]["schema"], serde_json::json!({"type": "string"}));
    }

    #[test]
    fn a_ref_to_nothing_is_found() {
        let mut doc = tail();
        doc["paths"]["/x"] = serde_json::json!({"get": {"responses": {"200": {"$ref": "#/components/responses/Nope"}}}});
        assert_eq!(dangling_refs(&doc), vec!["#/components/responses/Nope"]);
    }
}
