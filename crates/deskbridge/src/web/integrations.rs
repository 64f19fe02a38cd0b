//! Settings › Integrations: the list of active connectors, the Freshdesk side panel (its own
//! URL, so it works without JavaScript) with the connect form, and one integration's page with
//! its health card, re-authorize and disconnect.

use askama::Template;
use axum::extract::{Form, Path, Query};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::render::{render, when};
use super::routes::Routes;
use super::session::{Signed, admin_only};
use super::{AppState, Error};
use crate::accounts::{self, User};
use crate::connections::{self, ConnectError, Integration, Status, Target};
use crate::runtime;

pub fn routes() -> Routes {
    Routes::default()
        .get("/settings/integrations", integrations)
        .get("/settings/integrations/freshdesk/connect", panel)
        .post("/settings/integrations/freshdesk/connect", connect)
        .get("/settings/integrations/{id}", integration)
        .post("/settings/integrations/{id}/disconnect", disconnect)
        .post("/settings/integrations/{id}/reauthorize", reauthorize)
}

struct ActiveView {
    id: i64,
    domain: String,
    status: String,
    status_label: &'static str,
    agent_email: String,
    last_checked: String,
    /// What happened, when it needs attention.
    cause: Option<String>,
}

#[derive(Template)]
#[template(path = "integrations.html")]
struct IntegrationsPage {
    user: Option<User>,
    csrf: String,
    active: Vec<ActiveView>,
    panel: bool,
    error: Option<String>,
    domain: String,
}

async fn integrations_page(
    state: &AppState,
    s: &accounts::Session,
    panel: bool,
    error: Option<String>,
    domain: String,
) -> Result<Html<String>, Error> {
    let list = connections::list(&state.store, s.user.org_id).await?;
    let active = list
        .into_iter()
        .map(|i| ActiveView {
            id: i.id,
            status_label: i.status.label(),
            status: i.status.code().to_string(),
            domain: i.domain,
            agent_email: i.agent_email,
            last_checked: when(i.last_checked_at),
            cause: s
                .user
                .attention
                .iter()
                .find(|a| a.0 == i.id)
                .map(|a| a.2.clone()),
        })
        .collect();
    render(&IntegrationsPage {
        user: Some(s.user.clone()),
        csrf: s.csrf.clone(),
        active,
        panel,
        error,
        domain,
    })
}

async fn integrations(Signed(state, s): Signed) -> Result<Html<String>, Error> {
    integrations_page(&state, &s, false, None, String::new()).await
}

async fn panel(Signed(state, s): Signed) -> Result<Response, Error> {
    admin_only(&s, "only admins can connect integrations")?;
    Ok(integrations_page(&state, &s, true, None, String::new())
        .await?
        .into_response())
}

#[derive(Deserialize)]
struct ConnectForm {
    domain: String,
    api_key: String,
}

async fn connect(Signed(state, s): Signed, Form(f): Form<ConnectForm>) -> Result<Response, Error> {
    match runtime::lifecycle::connect(&state.clients, &s.user, &f.domain, &f.api_key).await {
        Ok((i, _)) => Ok(
            Redirect::to(&format!("/settings/integrations/{}?connected=1", i.id)).into_response(),
        ),
        Err(e) => match Error::from(e) {
            // The key is never echoed back: the field is re-rendered empty.
            Error::Unprocessable(msg) => Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                integrations_page(&state, &s, true, Some(msg), f.domain.clone()).await?,
            )
                .into_response()),
            other => Err(other),
        },
    }
}

#[derive(Template)]
#[template(path = "integration.html")]
struct IntegrationPage {
    user: Option<User>,
    csrf: String,
    i: ActiveView2,
    roles: String,
    scope: String,
    groups: String,
    tickets: String,
    plan: String,
    last_checked: String,
    warnings: Vec<String>,
    capabilities: Vec<(String, bool, String)>,
    is_admin: bool,
    notice: Option<String>,
    error: Option<String>,
    confirm_other: bool,
    health: Option<HealthView>,
}

/// The health card: the cause and its fix, and the timeline as lines.
struct HealthView {
    status: String,
    title: Option<&'static str>,
    fix: Option<&'static str>,
    detail: Option<String>,
    timeline: Vec<(String, Option<String>)>,
}

fn health_view(h: crate::health::Health) -> HealthView {
    let timeline = h
        .history
        .iter()
        .map(|e| {
            let cause = e
                .cause
                .as_deref()
                .and_then(crate::health::Cause::parse)
                .map(|c| format!(" ({})", c.title()))
                .unwrap_or_default();
            (
                format!(
                    "{}: {} → {}{cause}",
                    when(e.at),
                    Status::parse(&e.from).label(),
                    Status::parse(&e.to).label()
                ),
                e.detail.clone(),
            )
        })
        .collect();
    HealthView {
        status: h.status.code().to_string(),
        title: h.title,
        fix: h.fix,
        detail: h.detail,
        timeline,
    }
}

struct ActiveView2 {
    id: i64,
    domain: String,
    status: String,
    status_label: &'static str,
    agent_name: String,
    agent_email: String,
    key_fingerprint: String,
}

fn integration_view(
    s: &accounts::Session,
    i: Integration,
    notice: Option<String>,
    error: Option<String>,
    confirm_other: bool,
) -> IntegrationPage {
    let report = i.report.clone();
    let (roles, scope, groups, tickets, plan, warnings, capabilities) = match &report {
        Some(r) => (
            if r.agent.roles.is_empty() {
                "unknown".into()
            } else {
                r.agent.roles.join(", ")
            },
            r.agent.ticket_scope.clone(),
            if r.agent.groups.is_empty() {
                "none".into()
            } else {
                r.agent.groups.join(", ")
            },
            r.visible_tickets
                .map(|n| n.to_string())
                .unwrap_or_else(|| "unknown".into()),
            match r.account.rate_limit_per_minute {
                Some(n) => format!("{} · {n} calls a minute", r.account.plan),
                None => r.account.plan.clone(),
            },
            r.warnings.clone(),
            r.capabilities
                .iter()
                .map(|c| (c.label.clone(), c.available, c.detail.clone()))
                .collect(),
        ),
        None => (
            "unknown".into(),
            "unknown".into(),
            "unknown".into(),
            "unknown".into(),
            "unknown".into(),
            vec![],
            vec![],
        ),
    };
    IntegrationPage {
        user: Some(s.user.clone()),
        csrf: s.csrf.clone(),
        last_checked: when(i.last_checked_at),
        i: ActiveView2 {
            id: i.id,
            status_label: i.status.label(),
            status: i.status.code().to_string(),
            domain: i.domain,
            agent_name: i.agent_name,
            agent_email: i.agent_email,
            key_fingerprint: i.key_fingerprint,
        },
        roles,
        scope,
        groups,
        tickets,
        plan,
        warnings,
        capabilities,
        is_admin: s.user.role == accounts::Role::Admin,
        notice,
        error,
        confirm_other,
        health: None,
    }
}

#[derive(Deserialize)]
struct Flags {
    connected: Option<String>,
    reauthorized: Option<String>,
}

async fn integration(
    Signed(state, s): Signed,
    Path(id): Path<i64>,
    Query(flags): Query<Flags>,
) -> Result<Html<String>, Error> {
    let i = connections::get(&state.store, s.user.org_id, id).await?;
    let notice = if flags.connected.is_some() {
        Some("Connected. deskbridge checked the key and saved it encrypted.".to_string())
    } else if flags.reauthorized.is_some() {
        Some("Re-authorized with the new key.".to_string())
    } else {
        None
    };
    let mut page = integration_view(&s, i, notice, None, false);
    page.health = crate::health::get(
        &state.store,
        Target {
            org_id: s.user.org_id,
            integration_id: id,
        },
    )
    .await
    .ok()
    .map(health_view);
    render(&page)
}

#[derive(Deserialize)]
struct DisconnectForm {
    confirm: Option<String>,
}

async fn disconnect(
    Signed(state, s): Signed,
    Path(id): Path<i64>,
    Form(f): Form<DisconnectForm>,
) -> Result<Response, Error> {
    if f.confirm.as_deref() != Some("yes") {
        return Err(Error::BadRequest(
            "tick the confirmation box to disconnect".into(),
        ));
    }
    runtime::lifecycle::disconnect(&state.clients, &s.user, id).await?;
    Ok(Redirect::to("/settings/integrations").into_response())
}

#[derive(Deserialize)]
struct ReauthForm {
    api_key: String,
    confirm_other_agent: Option<String>,
}

async fn reauthorize(
    Signed(state, s): Signed,
    Path(id): Path<i64>,
    Form(f): Form<ReauthForm>,
) -> Result<Response, Error> {
    let confirm = f.confirm_other_agent.as_deref() == Some("yes");
    let refused =
        match connections::reauthorize(&state.clients, &s.user, id, &f.api_key, confirm).await {
            Ok((_, report)) => {
                after_reauthorize(&state, &s.user, id, &report).await?;
                return Ok(
                    Redirect::to(&format!("/settings/integrations/{id}?reauthorized=1"))
                        .into_response(),
                );
            }
            Err(e) => e,
        };
    let confirm_other = matches!(refused, ConnectError::DifferentAgent { .. });
    let msg = match Error::from(refused) {
        Error::Unprocessable(msg) | Error::Conflict(msg) => msg,
        other => return Err(other),
    };
    let i = connections::get(&state.store, s.user.org_id, id).await?;
    Ok((
        StatusCode::UNPROCESSABLE_ENTITY,
        render(&integration_view(&s, i, None, Some(msg), confirm_other))?,
    )
        .into_response())
}

/// A working key is back: the status follows the new check (resolving any incident), and a sync
/// resumes from its cursors at once.
pub(super) async fn after_reauthorize(
    state: &AppState,
    user: &User,
    id: i64,
    report: &freshdesk::check::ConnectionReport,
) -> Result<(), Error> {
    let t = Target {
        org_id: user.org_id,
        integration_id: id,
    };
    let detail = (!report.warnings.is_empty()).then(|| report.warnings.join(" "));
    state
        .monitor
        .record(t, Status::of_report(report), None, detail)
        .await?;
    crate::runtime::start_sync(&state.queue, t, "reauthorized").await?;
    Ok(())
}
