//! The OpenAPI document of `/api/v1`, generated from the handlers' `#[utoipa::path]` attributes
//! and the response types' `ToSchema` derives, so it cannot drift from the code: a route added
//! without its attribute fails the test that walks the router's own route list.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi;

use super::routes::Routes;

pub fn routes() -> Routes {
    Routes::default().get("/api/v1/openapi.json", || async {
        ([(header::CONTENT_TYPE, "application/json")], json()).into_response()
    })
}
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("dbt_…")
                    .description(Some("An API token from Settings › API tokens, with the scope the route needs (records:read, integrations:write or admin)"))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "deskbridge_session",
                "The dashboard's session cookie; writes also need its CSRF token in X-CSRF-Token",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "deskbridge API", version = "1",
        description = "Help-desk integrations and their synced copy. Authenticate with an API token (Authorization: Bearer dbt_…) or with the dashboard session."),
    paths(
        super::api::api_list, super::api::api_connect, super::api::api_get,
        super::api::api_disconnect, super::api::api_check, super::api::api_reauthorize,
        super::sync::api_view, super::health::api_health,
        super::records::streams, super::records::page, super::records::changes,
        super::triage::api_predict, super::triage::api_models, super::triage::api_predictions,
    ),
    components(schemas(super::error::ErrorBody, crate::records::StreamChanges)),
    modifiers(&Security),
    security(("token" = []), ("session" = [])),
)]
struct ApiDoc;

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(ApiDoc::openapi)
}

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        document()
            .to_pretty_json()
            .expect("the OpenAPI document serialises")
    })
}
