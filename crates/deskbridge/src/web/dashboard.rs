//! The dashboard (the organisation's connections and recent audit entries in words), the stylesheet, the
//! root redirect and the liveness probe.

use askama::Template;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::Error;
use super::render::{render, when};
use super::routes::Routes;
use super::session::Signed;
use crate::accounts::User;
use crate::audit;
use crate::connections::{self};

pub fn routes() -> Routes {
    Routes::default()
        .get("/", || async { Redirect::to("/dashboard") })
        .get("/dashboard", dashboard)
        .get("/static/app.css", css)
        .get("/healthz", || async { "ok" })
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/app.css"),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    user: Option<User>,
    csrf: String,
    org_name: String,
    connected: usize,
    audit: Vec<AuditView>,
}

struct AuditView {
    at: String,
    actor: String,
    action: String,
    detail: String,
}

async fn dashboard(Signed(state, s): Signed) -> Result<Html<String>, Error> {
    let list = connections::list(&state.store, s.user.org_id)
        .await
        .map_err(Error::internal)?;
    let audit = audit::recent(&state.store, s.user.org_id, 10)
        .await
        .into_iter()
        .map(|e| AuditView {
            at: when(e.at),
            actor: e.actor,
            action: audit::words(&e.action).to_string(),
            detail: e.detail,
        })
        .collect();
    render(&DashboardPage {
        org_name: s.user.org_name.clone(),
        user: Some(s.user),
        csrf: s.csrf,
        connected: list.len(),
        audit,
    })
}
