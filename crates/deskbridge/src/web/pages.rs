//! Page and API handlers: sign-in, dashboard, Settings › Integrations with the Freshdesk side
//! panel (its own URL, so it works without JavaScript), the integration page with re-authorize and
//! disconnect, the setup guide, and `/api/v1` with the same powers.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{Authenticated, Error, cookie_name};
use crate::accounts::{self, AccountError, User};
use crate::app::AppState;
use crate::audit;
use crate::connections::{self, ConnectError, Integration};

type S = State<Arc<AppState>>;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route(
            "/login",
            get(login_page)
                .post(login)
                // A sign-in form is a few hundred bytes; anything far larger is refused unread.
                .layer(axum::extract::DefaultBodyLimit::max(16 * 1024)),
        )
        .route("/logout", post(logout))
        .route("/dashboard", get(dashboard))
        .route("/settings/integrations", get(integrations))
        .route(
            "/settings/integrations/freshdesk/connect",
            get(panel).post(connect),
        )
        .route("/settings/integrations/{id}", get(integration))
        .route("/settings/integrations/{id}/disconnect", post(disconnect))
        .route("/settings/integrations/{id}/reauthorize", post(reauthorize))
        .route("/guide/freshdesk", get(guide))
        .route("/guide/freshdesk/feedback", post(guide_feedback))
        .route("/help", get(help_page).post(help_submit))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/settings/api-tokens", get(tokens_page).post(token_create))
        .route("/settings/api-tokens/{id}/revoke", post(token_revoke))
        .route("/static/app.css", get(css))
        .route("/api/v1/integrations", get(api_list).post(api_connect))
        .route(
            "/api/v1/integrations/{id}",
            get(api_get).delete(api_disconnect),
        )
        .route("/api/v1/integrations/check", post(api_check))
        .route(
            "/api/v1/integrations/{id}/reauthorize",
            post(api_reauthorize),
        )
        .route("/healthz", get(|| async { "ok" }))
}

fn render<T: Template>(t: &T) -> Result<Html<String>, Error> {
    t.render().map(Html).map_err(Error::internal)
}

fn when(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
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
#[template(path = "login.html")]
struct LoginPage {
    user: Option<User>,
    csrf: String,
    error: Option<String>,
    email: String,
}

async fn login_page() -> Result<Html<String>, Error> {
    render(&LoginPage {
        user: None,
        csrf: String::new(),
        error: None,
        email: String::new(),
    })
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
}

async fn login(
    State(state): S,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, Error> {
    let cfg = &state.config.server;
    // Oversized or malformed bodies are refused before anything else happens.
    let Form(f) = form.map_err(|e| {
        Error::BadRequest(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            "that sign-in form is too large".into()
        } else {
            "send an email and a password".into()
        })
    })?;
    let client = super::client_address(peer.ip(), &headers, &cfg.trusted_proxies);
    let refused = |status: StatusCode, e: &AccountError, email: &str| -> Result<Response, Error> {
        let page = render(&LoginPage {
            user: None,
            csrf: String::new(),
            error: Some(e.to_string()),
            email: email.to_string(),
        })?;
        let mut res = (status, page).into_response();
        if let AccountError::Throttled { retry_after_secs } = e {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        Ok(res)
    };
    match accounts::authenticate(
        &state.store,
        &f.email,
        &f.password,
        &client,
        &state.config.login_limits(),
    )
    .await
    {
        Ok(user) => {
            let s = accounts::start_session(&state.store, user.id).await?;
            audit::record(&state.store, Some(user.org_id), &user.email, "sign_in", "").await;
            let secure = if cfg.secure_cookies { "; Secure" } else { "" };
            let cookie = format!(
                "{}={}; Path=/; HttpOnly; SameSite=Lax{secure}",
                cookie_name(cfg.secure_cookies),
                accounts::expose(&s.token)
            );
            let mut res = Redirect::to("/dashboard").into_response();
            res.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_str(&cookie).map_err(Error::internal)?,
            );
            Ok(res)
        }
        Err(e @ AccountError::InputTooLong(_)) => {
            tracing::info!(client = %client, reason = %e, "sign-in refused");
            // The oversized value is neither stored nor echoed back.
            refused(StatusCode::UNPROCESSABLE_ENTITY, &e, "")
        }
        Err(e @ (AccountError::Throttled { .. } | AccountError::Busy)) => {
            // Throttled attempts are not stored: a flood must not fill the audit log.
            tracing::info!(client = %client, reason = %e, "sign-in refused");
            refused(StatusCode::TOO_MANY_REQUESTS, &e, &f.email)
        }
        Err(e @ AccountError::InvalidLogin) => {
            tracing::info!(client = %client, "sign-in failed");
            audit::record(
                &state.store,
                None,
                &f.email,
                "sign_in_failed",
                &format!("client={client}"),
            )
            .await;
            refused(StatusCode::UNAUTHORIZED, &e, &f.email)
        }
        Err(e) => Err(e.into()),
    }
}

async fn logout(State(state): S, Authenticated(s): Authenticated) -> Result<Response, Error> {
    accounts::end_session(&state.store, &s.id_hash)
        .await
        .map_err(Error::internal)?;
    let cfg = &state.config.server;
    let secure = if cfg.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
        cookie_name(cfg.secure_cookies)
    );
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(Error::internal)?,
    );
    Ok(res)
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

async fn dashboard(
    State(state): S,
    Authenticated(s): Authenticated,
) -> Result<Html<String>, Error> {
    let list = connections::list(&state.store, s.user.org_id)
        .await
        .map_err(internal)?;
    let audit = audit::recent(&state.store, s.user.org_id, 10)
        .await
        .into_iter()
        .map(|e| AuditView {
            at: when(e.at),
            actor: e.actor,
            action: e.action,
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

fn internal<E: std::error::Error + Send + Sync + 'static>(e: E) -> Error {
    Error::internal(e)
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
    let list = connections::list(&state.store, s.user.org_id)
        .await
        .map_err(internal)?;
    let active = list
        .into_iter()
        .map(|i| ActiveView {
            id: i.id,
            status_label: connections::status_label(&i.status),
            status: i.status,
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

async fn integrations(
    State(state): S,
    Authenticated(s): Authenticated,
) -> Result<Html<String>, Error> {
    integrations_page(&state, &s, false, None, String::new()).await
}

async fn panel(State(state): S, Authenticated(s): Authenticated) -> Result<Response, Error> {
    if s.user.role != accounts::Role::Admin {
        return Err(Error::Forbidden("only admins can connect integrations"));
    }
    Ok(integrations_page(&state, &s, true, None, String::new())
        .await?
        .into_response())
}

#[derive(Deserialize)]
struct ConnectForm {
    domain: String,
    api_key: String,
}

fn connect_message(e: &ConnectError) -> Option<String> {
    match e {
        ConnectError::Vault(_) | ConnectError::Store(_) => None,
        other => Some(other.to_string()),
    }
}

async fn connect(
    State(state): S,
    Authenticated(s): Authenticated,
    Form(f): Form<ConnectForm>,
) -> Result<Response, Error> {
    match connections::connect(
        &state.store,
        &state.vault,
        &state.freshdesk,
        &s.user,
        &f.domain,
        &f.api_key,
    )
    .await
    {
        Ok((i, _)) => Ok(
            Redirect::to(&format!("/settings/integrations/{}?connected=1", i.id)).into_response(),
        ),
        Err(ConnectError::Forbidden) => {
            Err(Error::Forbidden("only admins can connect integrations"))
        }
        Err(e) => match connect_message(&e) {
            // The key is never echoed back: the field is re-rendered empty.
            Some(msg) => Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                integrations_page(&state, &s, true, Some(msg), f.domain.clone()).await?,
            )
                .into_response()),
            None => Err(internal(e)),
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
                    connections::status_label(&e.from),
                    connections::status_label(&e.to)
                ),
                e.detail.clone(),
            )
        })
        .collect();
    HealthView {
        status: h.status,
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
            status_label: connections::status_label(&i.status),
            status: i.status,
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
    State(state): S,
    Authenticated(s): Authenticated,
    Path(id): Path<i64>,
    Query(flags): Query<Flags>,
) -> Result<Html<String>, Error> {
    let i = connections::get(&state.store, s.user.org_id, id)
        .await
        .map_err(|e| match e {
            ConnectError::NotFound => Error::NotFound,
            e => internal(e),
        })?;
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
        crate::sync::Target {
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
    State(state): S,
    Authenticated(s): Authenticated,
    Path(id): Path<i64>,
    Form(f): Form<DisconnectForm>,
) -> Result<Response, Error> {
    if f.confirm.as_deref() != Some("yes") {
        return Err(Error::BadRequest(
            "tick the confirmation box to disconnect".into(),
        ));
    }
    match connections::disconnect(&state.store, &state.keys, &s.user, id).await {
        Ok(()) => Ok(Redirect::to("/settings/integrations").into_response()),
        Err(ConnectError::NotFound) => Err(Error::NotFound),
        Err(ConnectError::Forbidden) => {
            Err(Error::Forbidden("only admins can disconnect integrations"))
        }
        Err(e) => Err(internal(e)),
    }
}

#[derive(Deserialize)]
struct ReauthForm {
    api_key: String,
    confirm_other_agent: Option<String>,
}

async fn reauthorize(
    State(state): S,
    Authenticated(s): Authenticated,
    Path(id): Path<i64>,
    Form(f): Form<ReauthForm>,
) -> Result<Response, Error> {
    let confirm = f.confirm_other_agent.as_deref() == Some("yes");
    match connections::reauthorize(
        &state.store,
        &state.vault,
        &state.keys,
        &state.freshdesk,
        &s.user,
        id,
        &f.api_key,
        confirm,
    )
    .await
    {
        Ok((_, report)) => {
            after_reauthorize(&state, &s.user, id, &report).await?;
            Ok(
                Redirect::to(&format!("/settings/integrations/{id}?reauthorized=1"))
                    .into_response(),
            )
        }
        Err(ConnectError::NotFound) => Err(Error::NotFound),
        Err(ConnectError::Forbidden) => Err(Error::Forbidden(
            "only admins can re-authorize integrations",
        )),
        Err(e) => {
            let Some(msg) = connect_message(&e) else {
                return Err(internal(e));
            };
            let confirm_other = matches!(e, ConnectError::DifferentAgent { .. });
            let i = connections::get(&state.store, s.user.org_id, id)
                .await
                .map_err(internal)?;
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                render(&integration_view(&s, i, None, Some(msg), confirm_other))?,
            )
                .into_response())
        }
    }
}

/// A working key is back: the status follows the new check (resolving any incident), and a sync
/// resumes from its cursors at once.
async fn after_reauthorize(
    state: &Arc<AppState>,
    user: &User,
    id: i64,
    report: &freshdesk::check::ConnectionReport,
) -> Result<(), Error> {
    let t = crate::sync::Target {
        org_id: user.org_id,
        integration_id: id,
    };
    let detail = (!report.warnings.is_empty()).then(|| report.warnings.join(" "));
    crate::health::record(state, t, connections::status_for(report), None, detail)
        .await
        .map_err(internal)?;
    crate::runtime::start_sync(state, t, "reauthorized")
        .await
        .map_err(internal)?;
    Ok(())
}

#[derive(Template)]
#[template(path = "guide.html")]
struct GuidePage {
    user: Option<User>,
    csrf: String,
    helpful: i64,
    votes: i64,
}

const GUIDE: &str = "freshdesk-setup";

async fn guide(State(state): S, Authenticated(s): Authenticated) -> Result<Html<String>, Error> {
    let (helpful, votes) = crate::help::tally(&state.store, GUIDE)
        .await
        .map_err(internal)?;
    render(&GuidePage {
        user: Some(s.user),
        csrf: s.csrf,
        helpful,
        votes,
    })
}

#[derive(Deserialize)]
struct Vote {
    helpful: String,
}

async fn guide_feedback(
    State(state): S,
    Authenticated(s): Authenticated,
    Form(v): Form<Vote>,
) -> Result<Response, Error> {
    let helpful = match v.helpful.as_str() {
        "yes" => true,
        "no" => false,
        _ => return Err(Error::BadRequest("answer yes or no".into())),
    };
    crate::help::vote(&state.store, s.user.id, GUIDE, helpful)
        .await
        .map_err(internal)?;
    Ok(Redirect::to("/guide/freshdesk").into_response())
}

#[derive(Template)]
#[template(path = "help.html")]
struct HelpPage {
    user: Option<User>,
    csrf: String,
    hours: String,
    notice: Option<String>,
    error: Option<String>,
    is_admin: bool,
    requests: Vec<(String, String, String, String)>,
}

async fn help_view(
    state: &AppState,
    s: &accounts::Session,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Html<String>, Error> {
    let is_admin = s.user.role == accounts::Role::Admin;
    let requests = if is_admin {
        crate::help::requests(&state.store, s.user.org_id)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|r| (r.email, r.subject, r.message, when(r.at)))
            .collect()
    } else {
        Vec::new()
    };
    let hours = crate::help::describe(&crate::help::support_status(chrono::Utc::now()));
    render(&HelpPage {
        user: Some(s.user.clone()),
        csrf: s.csrf.clone(),
        hours,
        notice,
        error,
        is_admin,
        requests,
    })
}

async fn help_page(
    State(state): S,
    Authenticated(s): Authenticated,
) -> Result<Html<String>, Error> {
    help_view(&state, &s, None, None).await
}

#[derive(Deserialize)]
struct HelpForm {
    subject: String,
    message: String,
}

async fn help_submit(
    State(state): S,
    Authenticated(s): Authenticated,
    Form(f): Form<HelpForm>,
) -> Result<Response, Error> {
    let (subject, message) = (f.subject.trim(), f.message.trim());
    if subject.is_empty()
        || message.is_empty()
        || subject.chars().count() > 200
        || message.chars().count() > 5000
    {
        let page = help_view(
            &state,
            &s,
            None,
            Some(
                "Give your request a subject (up to 200 characters) and a message (up to 5,000)."
                    .into(),
            ),
        )
        .await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    crate::help::submit(&state.store, s.user.org_id, &s.user.email, subject, message)
        .await
        .map_err(internal)?;
    Ok(help_view(
        &state,
        &s,
        Some("Thanks, we have your request and will answer by email.".into()),
        None,
    )
    .await?
    .into_response())
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    user: Option<User>,
    csrf: String,
    tokens: Vec<(i64, String, String, String)>,
    new_token: Option<String>,
}

async fn tokens_view(
    state: &AppState,
    s: &accounts::Session,
    new_token: Option<String>,
) -> Result<Html<String>, Error> {
    if s.user.role != accounts::Role::Admin {
        return Err(Error::Forbidden("only admins can manage API tokens"));
    }
    let tokens = accounts::tokens::list(&state.store, s.user.org_id)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|t| {
            (
                t.id,
                t.name,
                when(t.created_at),
                t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
            )
        })
        .collect();
    render(&TokensPage {
        user: Some(s.user.clone()),
        csrf: s.csrf.clone(),
        tokens,
        new_token,
    })
}

async fn tokens_page(
    State(state): S,
    Authenticated(s): Authenticated,
) -> Result<Html<String>, Error> {
    tokens_view(&state, &s, None).await
}

#[derive(Deserialize)]
struct TokenForm {
    name: String,
}

async fn token_create(
    State(state): S,
    Authenticated(s): Authenticated,
    Form(f): Form<TokenForm>,
) -> Result<Response, Error> {
    if s.user.role != accounts::Role::Admin {
        return Err(Error::Forbidden("only admins can manage API tokens"));
    }
    let name = f.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::BadRequest(
            "give the token a name of up to 100 characters".into(),
        ));
    }
    let token = accounts::tokens::create(&state.store, &s.user, name)
        .await
        .map_err(internal)?;
    audit::record(
        &state.store,
        Some(s.user.org_id),
        &s.user.email,
        "api_token_created",
        name,
    )
    .await;
    Ok(
        tokens_view(&state, &s, Some(accounts::expose(&token).to_string()))
            .await?
            .into_response(),
    )
}

async fn token_revoke(
    State(state): S,
    Authenticated(s): Authenticated,
    Path(id): Path<i64>,
) -> Result<Response, Error> {
    if s.user.role != accounts::Role::Admin {
        return Err(Error::Forbidden("only admins can manage API tokens"));
    }
    if !accounts::tokens::revoke(&state.store, s.user.org_id, id)
        .await
        .map_err(internal)?
    {
        return Err(Error::NotFound);
    }
    audit::record(
        &state.store,
        Some(s.user.org_id),
        &s.user.email,
        "api_token_revoked",
        &id.to_string(),
    )
    .await;
    Ok(Redirect::to("/settings/api-tokens").into_response())
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../openapi.json"),
    )
        .into_response()
}

#[derive(serde::Serialize)]
struct AgentView<'a> {
    id: i64,
    name: &'a str,
    email: &'a str,
}

/// The API's integration object. The stored report is already JSON and is passed through as is.
#[derive(serde::Serialize)]
struct ApiIntegration<'a> {
    id: i64,
    kind: &'static str,
    domain: &'a str,
    status: &'a str,
    status_label: &'static str,
    agent: AgentView<'a>,
    key_fingerprint: &'a str,
    connected_at: String,
    last_checked_at: String,
    report: Option<&'a serde_json::value::RawValue>,
}

fn api_view(i: &Integration) -> ApiIntegration<'_> {
    ApiIntegration {
        id: i.id,
        kind: "freshdesk",
        domain: &i.domain,
        status: &i.status,
        status_label: connections::status_label(&i.status),
        agent: AgentView {
            id: i.agent_id,
            name: &i.agent_name,
            email: &i.agent_email,
        },
        key_fingerprint: &i.key_fingerprint,
        connected_at: when(i.connected_at),
        last_checked_at: when(i.last_checked_at),
        report: serde_json::from_str(&i.report_json).ok(),
    }
}

fn api_error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

async fn api_list(State(state): S, Authenticated(s): Authenticated) -> Response {
    match connections::list(&state.store, s.user.org_id).await {
        Ok(list) => Json(json!({"integrations": list.iter().map(api_view).collect::<Vec<_>>()}))
            .into_response(),
        Err(e) => internal(e).into_response(),
    }
}

async fn api_get(
    State(state): S,
    Authenticated(s): Authenticated,
    Path(id): Path<i64>,
) -> Response {
    match connections::get(&state.store, s.user.org_id, id).await {
        Ok(i) => Json(api_view(&i)).into_response(),
        Err(ConnectError::NotFound) => api_error(StatusCode::NOT_FOUND, "not found".into()),
        Err(e) => internal(e).into_response(),
    }
}

#[derive(Deserialize)]
struct ApiConnect {
    domain: String,
    api_key: String,
}

async fn api_connect(
    State(state): S,
    Authenticated(s): Authenticated,
    Json(b): Json<ApiConnect>,
) -> Response {
    match connections::connect(
        &state.store,
        &state.vault,
        &state.freshdesk,
        &s.user,
        &b.domain,
        &b.api_key,
    )
    .await
    {
        Ok((i, _)) => (StatusCode::CREATED, Json(api_view(&i))).into_response(),
        Err(ConnectError::Forbidden) => api_error(
            StatusCode::FORBIDDEN,
            "only admins can connect integrations".into(),
        ),
        Err(e) => match connect_message(&e) {
            Some(msg) => api_error(StatusCode::UNPROCESSABLE_ENTITY, msg),
            None => internal(e).into_response(),
        },
    }
}

/// Runs the connection check and returns the report; saves nothing.
async fn api_check(
    State(state): S,
    Authenticated(s): Authenticated,
    Json(b): Json<ApiConnect>,
) -> Response {
    if s.user.role != accounts::Role::Admin {
        return api_error(
            StatusCode::FORBIDDEN,
            "only admins can check integrations".into(),
        );
    }
    let domain = match freshdesk::FreshdeskDomain::parse(&b.domain) {
        Ok(d) => d,
        Err(e) => return api_error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    };
    let key = match freshdesk::ApiKey::parse(&b.api_key) {
        Ok(k) => k,
        Err(e) => return api_error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()),
    };
    match freshdesk::check_connection(&domain, &key, &state.freshdesk).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => api_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            connections::explain(&e, &domain),
        ),
    }
}

#[derive(Deserialize)]
struct ApiReauth {
    api_key: String,
    #[serde(default)]
    confirm_other_agent: bool,
}

async fn api_reauthorize(
    State(state): S,
    Authenticated(s): Authenticated,
    Path(id): Path<i64>,
    Json(b): Json<ApiReauth>,
) -> Response {
    match connections::reauthorize(
        &state.store,
        &state.vault,
        &state.keys,
        &state.freshdesk,
        &s.user,
        id,
        &b.api_key,
        b.confirm_other_agent,
    )
    .await
    {
        Ok((_, report)) => {
            if let Err(e) = after_reauthorize(&state, &s.user, id, &report).await {
                return e.into_response();
            }
            match connections::get(&state.store, s.user.org_id, id).await {
                Ok(i) => Json(api_view(&i)).into_response(),
                Err(e) => internal(e).into_response(),
            }
        }
        Err(ConnectError::NotFound) => api_error(StatusCode::NOT_FOUND, "not found".into()),
        Err(ConnectError::Forbidden) => api_error(
            StatusCode::FORBIDDEN,
            "only admins can re-authorize integrations".into(),
        ),
        Err(e @ ConnectError::DifferentAgent { .. }) => api_error(
            StatusCode::CONFLICT,
            format!("{e} Send confirm_other_agent: true to switch."),
        ),
        Err(e) => match connect_message(&e) {
            Some(msg) => api_error(StatusCode::UNPROCESSABLE_ENTITY, msg),
            None => internal(e).into_response(),
        },
    }
}

async fn api_disconnect(
    State(state): S,
    Authenticated(s): Authenticated,
    Path(id): Path<i64>,
) -> Response {
    match connections::disconnect(&state.store, &state.keys, &s.user, id).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(ConnectError::NotFound) => api_error(StatusCode::NOT_FOUND, "not found".into()),
        Err(ConnectError::Forbidden) => api_error(
            StatusCode::FORBIDDEN,
            "only admins can disconnect integrations".into(),
        ),
        Err(e) => internal(e).into_response(),
    }
}
