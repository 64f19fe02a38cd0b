//! The control API under `/_emulator/`, for tests, demos and benchmarks: account and agent changes
//! (suspend, delete, demote, reset a key, narrow a scope), injected faults, help-desk activity as
//! customers and agents would cause it, the request log and the full ground truth. Every call needs
//! `X-Emulator-Control: <token>`. A bad call gets a 4xx with `{"error": "…"}` and changes nothing.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query as AxQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::tickets as tk;
use crate::model::*;
use crate::render;
use crate::state::{Account, Fault, FaultKind, Shared};

pub struct ControlError(StatusCode, String);

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.0, axum::Json(json!({"error": self.1}))).into_response()
    }
}

fn bad(msg: impl Into<String>) -> ControlError {
    ControlError(StatusCode::BAD_REQUEST, msg.into())
}

fn not_found(msg: impl Into<String>) -> ControlError {
    ControlError(StatusCode::NOT_FOUND, msg.into())
}

type R = Result<Response, ControlError>;

/// Which account a control call acts on: set by [`per_account`] for
/// `/_emulator/accounts/{label}/…`; the plain `/_emulator/…` paths act on the first account.
#[derive(Clone, Copy)]
struct AccountIndex(usize);

/// The account a control call acts on.
struct Acct(Arc<Account>);

impl axum::extract::FromRequestParts<Arc<Shared>> for Acct {
    type Rejection = ControlError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        shared: &Arc<Shared>,
    ) -> Result<Acct, ControlError> {
        let i = parts.extensions.get::<AccountIndex>().map_or(0, |i| i.0);
        shared
            .accounts
            .get(i)
            .cloned()
            .map(Acct)
            .ok_or_else(|| not_found("no such account"))
    }
}

/// `/_emulator/accounts/{label}/<rest>`: the call `/_emulator/<rest>` on that account.
async fn per_account(
    State(shared): State<Arc<Shared>>,
    Path((label, rest)): Path<(String, String)>,
    req: Request,
) -> Response {
    let Some((i, _)) = shared.by_label(&label) else {
        return not_found(format!("no account has the domain {label}")).into_response();
    };
    let path = match req.uri().query() {
        Some(q) => format!("/_emulator/{rest}?{q}"),
        None => format!("/_emulator/{rest}"),
    };
    let Ok(uri) = path.parse::<axum::http::Uri>() else {
        return bad("not a valid path").into_response();
    };
    // A new request with the same method, headers and body: the outer route's path parameters
    // live in the old one's extensions and would confuse the inner route's.
    let (parts, body) = req.into_parts();
    let mut req = Request::new(body);
    *req.method_mut() = parts.method;
    *req.uri_mut() = uri;
    *req.headers_mut() = parts.headers;
    req.extensions_mut().insert(AccountIndex(i));
    // Already past the token check: this router is the inner part of `router`.
    let inner = routes().with_state(shared);
    match tower::ServiceExt::oneshot(inner, req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// Every hosted account: its domain label, plan, size and agents with their keys.
async fn list_accounts(State(shared): State<Arc<Shared>>) -> R {
    let list: Vec<Value> = shared
        .accounts
        .iter()
        .map(|a| {
            let d = a.desk.read();
            json!({
                "domain": d.account.domain,
                "plan": d.account.plan.name(),
                "suspended": d.account.suspended,
                "tickets": d.tickets.len(),
                "contacts": d.contacts.len(),
                "agents": d.agents.values().map(|x| agent_info(x, &d)).collect::<Vec<_>>(),
            })
        })
        .collect();
    ok(Value::Array(list))
}

fn ok(v: Value) -> R {
    Ok(axum::Json(v).into_response())
}

fn parse<T: for<'de> Deserialize<'de>>(body: &Bytes) -> Result<T, ControlError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid request body: {e}")))
}

async fn require_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let given = headers
        .get("x-emulator-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Constant-time enough for a test tool: compare full lengths and every byte.
    let want = shared.control_token.as_bytes();
    let same = given.len() == want.len()
        && given
            .bytes()
            .zip(want)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return ControlError(
            StatusCode::UNAUTHORIZED,
            "missing or wrong X-Emulator-Control header".into(),
        )
        .into_response();
    }
    next.run(req).await
}

pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    routes()
        .route("/_emulator/accounts", get(list_accounts))
        .route(
            "/_emulator/accounts/{label}/{*rest}",
            axum::routing::any(per_account),
        )
        .route_layer(middleware::from_fn_with_state(shared, require_token))
}

/// The calls on one account (the first, unless [`per_account`] chose another), without the
/// token check that [`router`] puts in front of them.
fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_emulator/agents", get(list_agents))
        .route("/_emulator/agents/{id}/scope", post(agent_scope))
        .route("/_emulator/agents/{id}/occasional", post(agent_occasional))
        .route("/_emulator/agents/{id}/{action}", post(agent_action))
        .route("/_emulator/account/plan", post(account_plan))
        .route("/_emulator/account/features", post(account_feature))
        .route("/_emulator/account/domain", post(account_domain))
        .route("/_emulator/account/{action}", post(account_action))
        .route(
            "/_emulator/faults",
            post(add_fault).delete(clear_faults).get(list_faults),
        )
        .route(
            "/_emulator/ticket_fields/{name}/remove_choice",
            post(remove_choice),
        )
        .route("/_emulator/tickets", post(create_ticket))
        .route(
            "/_emulator/tickets/{id}",
            put(update_ticket).delete(purge_ticket),
        )
        .route(
            "/_emulator/tickets/{id}/conversations",
            post(add_conversation),
        )
        .route(
            "/_emulator/automations",
            get(list_automations).post(add_automation),
        )
        .route("/_emulator/automations/deliveries", get(deliveries))
        .route("/_emulator/requests", get(requests).delete(clear_requests))
        .route("/_emulator/export", get(export))
        .route("/_emulator/clock", post(set_clock))
        .route("/_emulator/archive", post(archive))
        .route(
            "/_emulator/live",
            get(live_status).post(live_start).delete(live_stop),
        )
        .route("/_emulator/rate/reset", post(reset_rate))
        .route(
            "/_emulator/{*rest}",
            axum::routing::any(|| async { not_found("no such control endpoint").into_response() }),
        )
}

fn agent_info(a: &Agent, desk: &HelpDesk) -> Value {
    json!({
        "id": a.id,
        "name": a.name,
        "email": a.email,
        "role": a.role_ids.first().and_then(|r| desk.role_name(*r)),
        "ticket_scope": a.ticket_scope,
        "group_ids": a.group_ids,
        "occasional": a.occasional,
        "state": match a.state { AgentState::Active => "active", AgentState::Suspended => "suspended", AgentState::Deleted => "deleted" },
        "locked_out": a.locked_out,
        "api_key": a.api_key,
        "password": a.password,
    })
}

async fn list_agents(Acct(s): Acct) -> R {
    let d = s.desk.read();
    ok(Value::Array(
        d.agents.values().map(|a| agent_info(a, &d)).collect(),
    ))
}

async fn agent_action(Acct(s): Acct, Path((id, action)): Path<(i64, String)>, body: Bytes) -> R {
    let now = s.now();
    let mut d = s.desk_write();
    if !d.agents.contains_key(&id) {
        return Err(not_found(format!("no agent with id {id}")));
    }
    match action.as_str() {
        "suspend" => {
            let a = d.agents.get_mut(&id).ok_or_else(|| not_found("agent"))?;
            if a.state == AgentState::Deleted {
                return Err(ControlError(
                    StatusCode::CONFLICT,
                    "agent is deleted; restore it first".into(),
                ));
            }
            a.state = AgentState::Suspended;
            a.updated_at = now;
        }
        "delete" => {
            crate::api::people::downgrade_agent(&mut d, id, now).ok_or_else(|| {
                ControlError(StatusCode::CONFLICT, "agent is already deleted".into())
            })?;
        }
        "restore" => {
            let was_deleted = d
                .agents
                .get(&id)
                .is_some_and(|a| a.state == AgentState::Deleted);
            if was_deleted {
                d.contacts.remove(&id);
            }
            let a = d.agents.get_mut(&id).ok_or_else(|| not_found("agent"))?;
            a.state = AgentState::Active;
            a.locked_out = false;
            a.failed_logins = 0;
            a.updated_at = now;
        }
        "demote" => {
            let a = d.agents.get_mut(&id).ok_or_else(|| not_found("agent"))?;
            if a.role_ids != [ROLE_AGENT] {
                a.demoted_from = Some(a.role_ids.clone());
                a.role_ids = vec![ROLE_AGENT];
                a.updated_at = now;
            }
        }
        "promote" => {
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Body {
                role: Option<String>,
            }
            let b: Body = parse(&body)?;
            let role = match b.role.as_deref() {
                None => None,
                Some(name) => Some(d.roles.iter().find(|r| r.name.eq_ignore_ascii_case(name)).map(|r| r.id).ok_or_else(|| bad(format!("unknown role {name:?}; use Account Administrator, Administrator, Supervisor or Agent")))?),
            };
            let a = d.agents.get_mut(&id).ok_or_else(|| not_found("agent"))?;
            a.role_ids = match role {
                Some(r) => vec![r],
                None => a.demoted_from.take().unwrap_or_else(|| vec![ROLE_ADMIN]),
            };
            a.updated_at = now;
        }
        "reset-key" => {
            let old = d.agents[&id].api_key.clone();
            let mut rng = crate::util::Rng::new(s.next_seq() ^ now as u64 ^ id as u64);
            let key = crate::seed::api_key(&mut rng);
            d.keys.remove(&old);
            d.keys.insert(key.clone(), id);
            if let Some(a) = d.agents.get_mut(&id) {
                a.api_key = key.clone();
            }
            return ok(json!({"id": id, "api_key": key}));
        }
        "lockout" => {
            let a = d.agents.get_mut(&id).ok_or_else(|| not_found("agent"))?;
            a.locked_out = true;
        }
        other => {
            return Err(not_found(format!(
                "unknown agent action {other:?}; use suspend, delete, demote, promote, restore, reset-key or lockout"
            )));
        }
    }
    let info = agent_info(&d.agents[&id], &d);
    ok(info)
}

async fn agent_scope(Acct(s): Acct, Path(id): Path<i64>, body: Bytes) -> R {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        ticket_scope: u8,
        #[serde(default)]
        group_ids: Vec<i64>,
    }
    let b: Body = parse(&body)?;
    if !(1..=3).contains(&b.ticket_scope) {
        return Err(bad(
            "ticket_scope must be 1 (Global), 2 (Group) or 3 (Restricted)",
        ));
    }
    let now = s.now();
    let mut d = s.desk_write();
    if let Some(g) = b.group_ids.iter().find(|g| !d.groups.contains_key(g)) {
        return Err(bad(format!("no group with id {g}")));
    }
    let a = d
        .agents
        .get_mut(&id)
        .ok_or_else(|| not_found(format!("no agent with id {id}")))?;
    a.ticket_scope = b.ticket_scope;
    a.group_ids = b.group_ids;
    a.updated_at = now;
    let info = agent_info(&d.agents[&id], &d);
    ok(info)
}

async fn agent_occasional(Acct(s): Acct, Path(id): Path<i64>, body: Bytes) -> R {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        occasional: bool,
    }
    let b: Body = parse(&body)?;
    let mut d = s.desk_write();
    let a = d
        .agents
        .get_mut(&id)
        .ok_or_else(|| not_found(format!("no agent with id {id}")))?;
    a.occasional = b.occasional;
    let info = agent_info(&d.agents[&id], &d);
    ok(info)
}

async fn account_action(Acct(s): Acct, Path(action): Path<String>) -> R {
    let mut d = s.desk_write();
    match action.as_str() {
        "suspend" => d.account.suspended = true,
        "restore" => d.account.suspended = false,
        other => {
            return Err(not_found(format!(
                "unknown account action {other:?}; use suspend or restore"
            )));
        }
    }
    ok(json!({"suspended": d.account.suspended}))
}

async fn account_plan(Acct(s): Acct, body: Bytes) -> R {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        plan: String,
    }
    let b: Body = parse(&body)?;
    let plan = Plan::parse(&b.plan)
        .ok_or_else(|| bad("plan must be trial, growth, pro, enterprise or unlimited"))?;
    s.desk_write().account.plan = plan;
    *s.rate.lock() = crate::state::RateWindow::new();
    ok(json!({"plan": plan.name()}))
}

async fn account_feature(Acct(s): Acct, body: Bytes) -> R {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        feature: String,
        enabled: bool,
    }
    let b: Body = parse(&body)?;
    let f = Feature::parse(&b.feature)
        .ok_or_else(|| bad("feature must be timesheets, surveys or multiple_business_hours"))?;
    let mut d = s.desk_write();
    if b.enabled {
        d.account.features_off.remove(f.title());
        d.account.features_on.insert(f.title());
    } else {
        d.account.features_on.remove(f.title());
        d.account.features_off.insert(f.title());
    }
    ok(json!({"feature": f.title(), "enabled": d.account.feature_enabled(f)}))
}

async fn account_domain(State(all): State<Arc<Shared>>, Acct(s): Acct, body: Bytes) -> R {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        domain: String,
    }
    let b: Body = parse(&body)?;
    let label = b.domain.to_ascii_lowercase();
    let valid = !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-');
    if !valid {
        return Err(bad("domain must be one DNS label, such as acme"));
    }
    if all
        .by_label(&label)
        .is_some_and(|(_, other)| !Arc::ptr_eq(other, &s))
    {
        return Err(bad(format!(
            "another account already has the domain {label}"
        )));
    }
    s.desk_write().account.domain = label.clone();
    ok(json!({"domain": label}))
}

/// The choice to remove from a dropdown field.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Choice {
    value: String,
}

/// An admin removes a value from a dropdown field's choices: from then on a ticket write that
/// sets it is refused with a validation error, as Freshdesk refuses any value not offered.
async fn remove_choice(Acct(s): Acct, Path(name): Path<String>, body: Bytes) -> R {
    let Choice { value } = parse(&body)?;
    let mut d = s.desk_write();
    let field = d
        .ticket_fields
        .iter_mut()
        .find(|f| f.name == name)
        .ok_or_else(|| bad(format!("no ticket field named {name}")))?;
    let FieldChoices::List(choices) = &mut field.choices else {
        return Err(bad(format!("{name} is not a plain dropdown")));
    };
    let before = choices.len();
    choices.retain(|c| *c != value);
    if choices.len() == before {
        return Err(bad(format!("{value:?} is not one of {name}'s choices")));
    }
    ok(json!({"field": name, "choices": choices}))
}

async fn add_fault(Acct(s): Acct, body: Bytes) -> R {
    let f: Fault = parse(&body)?;
    if !f.path_prefix.starts_with('/') {
        return Err(bad(
            "path_prefix must start with /, for example /api/v2/tickets",
        ));
    }
    if f.count == 0 {
        return Err(bad("count must be at least 1"));
    }
    match f.kind {
        FaultKind::Status if !f.status.is_some_and(|st| (400..=599).contains(&st)) => {
            return Err(bad("a status fault needs status between 400 and 599"));
        }
        FaultKind::Delay if f.delay_ms.is_none() => {
            return Err(bad("a delay fault needs delay_ms"));
        }
        _ => {}
    }
    s.faults.lock().push(f);
    ok(json!({"faults": s.faults.lock().len()}))
}

async fn clear_faults(Acct(s): Acct) -> R {
    s.faults.lock().clear();
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_faults(Acct(s): Acct) -> R {
    ok(serde_json::to_value(&*s.faults.lock()).unwrap_or(Value::Null))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TicketChange {
    subject: Option<String>,
    description: Option<String>,
    status: Option<i64>,
    priority: Option<i64>,
    source: Option<i64>,
    group_id: Option<Option<i64>>,
    responder_id: Option<Option<i64>>,
    requester_id: Option<i64>,
    tags: Option<Vec<String>>,
    cf_category: Option<Option<String>>,
    spam: Option<bool>,
    deleted: Option<bool>,
    purge: Option<bool>,
    /// Sets `updated_at` exactly (RFC 3339); without it a change moves `updated_at` to now.
    updated_at: Option<String>,
    /// Changes stats without moving `updated_at`, as Freshdesk sometimes does.
    silent: Option<bool>,
}

fn check_change(d: &HelpDesk, c: &TicketChange) -> Result<Option<i64>, ControlError> {
    if c.status.is_some_and(|s| !(2..=7).contains(&s)) {
        return Err(bad("status must be 2 to 7"));
    }
    if c.priority.is_some_and(|p| !(1..=4).contains(&p)) {
        return Err(bad("priority must be 1 to 4"));
    }
    if let Some(Some(g)) = c.group_id
        && !d.groups.contains_key(&g)
    {
        return Err(bad(format!("no group with id {g}")));
    }
    if let Some(Some(a)) = c.responder_id
        && !d.agents.contains_key(&a)
    {
        return Err(bad(format!("no agent with id {a}")));
    }
    if let Some(r) = c.requester_id
        && !d.contacts.contains_key(&r)
    {
        return Err(bad(format!("no contact with id {r}")));
    }
    if let Some(Some(cat)) = &c.cf_category
        && !d.category_choices().contains(&cat.as_str())
    {
        return Err(bad(format!(
            "cf_category {cat:?} is not one of the field's choices"
        )));
    }
    match &c.updated_at {
        None => Ok(None),
        Some(s) => crate::util::parse_ts(s)
            .map(Some)
            .ok_or_else(|| bad("updated_at must be an RFC 3339 timestamp")),
    }
}

/// Applies a control-API change, recorded in the ticket's history as made by `by`.
fn apply_change(d: &mut HelpDesk, id: i64, c: TicketChange, at: i64, by: &str) {
    let Some(t) = d.tickets.get_mut(&id) else {
        return;
    };
    let before = t.tracked();
    if let Some(s) = c.subject {
        t.subject = s;
    }
    if let Some(desc) = c.description {
        t.description_html = tk::html_from_text(&desc);
        t.description_text = desc;
    }
    if let Some(s) = c.status {
        tk::apply_status(t, s, at);
    }
    if let Some(p) = c.priority {
        t.priority = p;
    }
    if let Some(s) = c.source {
        t.source = s;
    }
    if let Some(g) = c.group_id {
        t.group_id = g;
    }
    if let Some(r) = c.responder_id {
        t.responder_id = r;
    }
    if let Some(r) = c.requester_id {
        t.requester_id = r;
    }
    if let Some(tags) = c.tags {
        t.tags = tags;
    }
    if let Some(cat) = c.cf_category {
        t.cf_category = cat;
    }
    if let Some(spam) = c.spam {
        t.spam = spam;
    }
    if let Some(del) = c.deleted {
        t.trash = if del { Trash::Deleted } else { Trash::Live };
    }
    if c.purge == Some(true) {
        t.trash = Trash::Purging;
    }
    t.record_changes(&before, by, at);
    if c.silent != Some(true) {
        d.touch_ticket(id, at);
    }
}

fn ticket_json(d: &HelpDesk, id: i64) -> Value {
    render::ticket_detail(&d.tickets[&id], true)
}

async fn create_ticket(Acct(s): Acct, body: Bytes) -> R {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        subject: String,
        #[serde(default)]
        description: String,
        /// The description as the customer's mail client sent it (HTML, kept as given); the
        /// plain `description` is then its text.
        description_html: Option<String>,
        requester_id: Option<i64>,
        #[serde(flatten)]
        change: TicketChangeCreate,
    }
    #[derive(Deserialize, Default)]
    struct TicketChangeCreate {
        status: Option<i64>,
        priority: Option<i64>,
        source: Option<i64>,
        group_id: Option<i64>,
        responder_id: Option<i64>,
        tags: Option<Vec<String>>,
        cf_category: Option<String>,
    }
    let b: Body = parse(&body)?;
    if b.subject.trim().is_empty() {
        return Err(bad("subject must not be empty"));
    }
    let now = s.now();
    let mut d = s.desk_write();
    let requester = match b.requester_id {
        Some(r) => r,
        None => *d
            .contacts
            .keys()
            .next()
            .ok_or_else(|| bad("the help desk has no contacts"))?,
    };
    let change = TicketChange {
        status: b.change.status,
        priority: b.change.priority,
        source: b.change.source,
        group_id: b.change.group_id.map(Some),
        responder_id: b.change.responder_id.map(Some),
        requester_id: Some(requester),
        tags: b.change.tags,
        cf_category: b.change.cf_category.map(Some),
        ..Default::default()
    };
    check_change(&d, &change)?;
    let id = d.next_ticket_id;
    let priority = change.priority.unwrap_or(1);
    let ticket = Ticket {
        subject: b.subject,
        description_html: b
            .description_html
            .unwrap_or_else(|| tk::html_from_text(&b.description)),
        description_text: b.description,
        source: change.source.unwrap_or(2),
        company_id: d.contacts.get(&requester).and_then(|c| c.company_id),
        ..Ticket::opened(id, requester, priority, now)
    };
    d.insert_ticket(ticket.created_by("customer"));
    // What the customer's ticket opened with, as one set of changes by the customer.
    apply_change(&mut d, id, change, now, "customer");
    let v = ticket_json(&d, id);
    drop(d);
    fire(&s, crate::automations::Event::TicketCreated, id);
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

async fn update_ticket(Acct(s): Acct, Path(id): Path<i64>, body: Bytes) -> R {
    let c: TicketChange = parse(&body)?;
    let now = s.now();
    let mut d = s.desk_write();
    if !d.tickets.contains_key(&id) {
        return Err(not_found(format!("no ticket with id {id}")));
    }
    let at = check_change(&d, &c)?.unwrap_or(now);
    apply_change(&mut d, id, c, at, "control");
    let v = ticket_json(&d, id);
    drop(d);
    fire(&s, crate::automations::Event::TicketUpdated, id);
    ok(v)
}

/// Removes a ticket and its conversations for good, as a purge or a hard delete does.
async fn purge_ticket(Acct(s): Acct, Path(id): Path<i64>) -> R {
    let mut d = s.desk_write();
    d.remove_ticket(id)
        .ok_or_else(|| not_found(format!("no ticket with id {id}")))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn add_conversation(Acct(s): Acct, Path(id): Path<i64>, body: Bytes) -> R {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        body: String,
        #[serde(default = "yes")]
        incoming: bool,
        #[serde(default)]
        private: bool,
        user_id: Option<i64>,
        created_at: Option<String>,
    }
    fn yes() -> bool {
        true
    }
    let b: Body = parse(&body)?;
    let now = s.now();
    let at = match &b.created_at {
        None => now,
        Some(x) => crate::util::parse_ts(x)
            .ok_or_else(|| bad("created_at must be an RFC 3339 timestamp"))?,
    };
    let mut d = s.desk_write();
    let t = d
        .tickets
        .get(&id)
        .ok_or_else(|| not_found(format!("no ticket with id {id}")))?;
    let requester = t.requester_id;
    let user = b.user_id.unwrap_or(if b.incoming {
        requester
    } else {
        t.responder_id.unwrap_or(requester)
    });
    if !d.contacts.contains_key(&user) && !d.agents.contains_key(&user) {
        return Err(bad(format!("no user with id {user}")));
    }
    let conv_id = d.next_conversation_id;
    let from = if b.incoming {
        d.contacts.get(&requester).and_then(|c| c.email.clone())
    } else {
        None
    };
    d.insert_conversation(Conversation {
        id: conv_id,
        ticket_id: id,
        body_html: tk::html_from_text(&b.body),
        body_text: b.body,
        incoming: b.incoming,
        private: b.private,
        user_id: user,
        support_email: None,
        source: if b.private { 2 } else { 0 },
        from_email: from,
        to_emails: vec![],
        cc_emails: vec![],
        bcc_emails: vec![],
        created_at: at,
        updated_at: at,
    });
    if let Some(t) = d.tickets.get_mut(&id)
        && b.incoming
    {
        t.stats.requester_responded_at = Some(at);
    }
    d.touch_ticket(id, at);
    let v = render::conversation(&d.conversations[&conv_id]);
    drop(d);
    fire(&s, crate::automations::Event::TicketUpdated, id);
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

#[derive(Deserialize)]
struct Since {
    since: Option<u64>,
}

async fn requests(Acct(s): Acct, AxQuery(q): AxQuery<Since>) -> R {
    let log = s.log.lock();
    let since = q.since.unwrap_or(0);
    let list: Vec<&crate::state::LogEntry> = log.iter().filter(|e| e.seq > since).collect();
    ok(serde_json::to_value(list).unwrap_or(Value::Null))
}

async fn clear_requests(Acct(s): Acct) -> R {
    s.log.lock().clear();
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct ExportQuery {
    only: Option<String>,
}

/// Every record the account holds, in API form, including spam, trashed, purging and deleted ones.
async fn export(Acct(s): Acct, AxQuery(q): AxQuery<ExportQuery>) -> R {
    let wanted: Option<Vec<String>> = q
        .only
        .map(|o| o.split(',').map(|x| x.trim().to_string()).collect());
    let want = |name: &str| wanted.as_ref().is_none_or(|w| w.iter().any(|x| x == name));
    let d = s.desk.read();
    let mut out = serde_json::Map::new();
    if want("account") {
        out.insert("account".into(), json!({"domain": d.account.domain, "plan": d.account.plan.name(), "suspended": d.account.suspended, "organisation_id": d.account.organisation_id}));
    }
    if want("tickets") {
        let list: Vec<Value> = d
            .tickets
            .values()
            .map(|t| {
                let mut v = render::ticket_detail(t, true);
                v["_emulator"] = json!({
                    "trash": match t.trash { Trash::Live => "live", Trash::Deleted => "deleted", Trash::Purging => "purging" },
                    "truth": t.truth,
                    "history": t.history,
                });
                v
            })
            .collect();
        out.insert("tickets".into(), Value::Array(list));
    }
    if want("conversations") {
        out.insert(
            "conversations".into(),
            Value::Array(d.conversations.values().map(render::conversation).collect()),
        );
    }
    if want("contacts") {
        out.insert(
            "contacts".into(),
            Value::Array(d.contacts.values().map(render::contact).collect()),
        );
    }
    if want("companies") {
        out.insert(
            "companies".into(),
            Value::Array(d.companies.values().map(render::company).collect()),
        );
    }
    if want("agents") {
        out.insert(
            "agents".into(),
            Value::Array(
                d.agents
                    .values()
                    .filter(|a| a.state != AgentState::Deleted)
                    .map(render::agent)
                    .collect(),
            ),
        );
    }
    if want("roles") {
        out.insert(
            "roles".into(),
            Value::Array(d.roles.iter().map(render::role).collect()),
        );
    }
    if want("groups") {
        out.insert(
            "groups".into(),
            Value::Array(
                d.groups
                    .values()
                    .map(|g| render::group(g, d.agent_ids_in_group(g.id)))
                    .collect(),
            ),
        );
    }
    if want("ticket_fields") {
        out.insert(
            "ticket_fields".into(),
            Value::Array(d.ticket_fields.iter().map(render::ticket_field).collect()),
        );
    }
    if want("business_hours") {
        out.insert(
            "business_hours".into(),
            Value::Array(d.business_hours.iter().map(render::business_hour).collect()),
        );
    }
    if want("sla_policies") {
        out.insert(
            "sla_policies".into(),
            Value::Array(d.sla_policies.iter().map(render::sla_policy).collect()),
        );
    }
    if want("satisfaction_ratings") {
        out.insert(
            "satisfaction_ratings".into(),
            Value::Array(
                d.satisfaction_ratings
                    .values()
                    .map(render::satisfaction_rating)
                    .collect(),
            ),
        );
    }
    if want("time_entries") {
        out.insert(
            "time_entries".into(),
            Value::Array(d.time_entries.values().map(render::time_entry).collect()),
        );
    }
    if want("solution_categories") {
        out.insert(
            "solution_categories".into(),
            Value::Array(
                d.solution_categories
                    .values()
                    .map(render::solution_category)
                    .collect(),
            ),
        );
    }
    if want("solution_folders") {
        out.insert(
            "solution_folders".into(),
            Value::Array(
                d.solution_folders
                    .values()
                    .map(|f| render::solution_folder(f, &d))
                    .collect(),
            ),
        );
    }
    if want("archived_tickets") {
        let list: Vec<Value> = d
            .archived
            .values()
            .map(|t| render::ticket_detail(t, true))
            .collect();
        out.insert("archived_tickets".into(), Value::Array(list));
    }
    if want("discussions") {
        use crate::api::discussions as forum;
        let c = &d.community;
        out.insert(
            "discussions".into(),
            json!({
                "categories": c.categories.values().map(forum::category_view).collect::<Vec<_>>(),
                "forums": c.forums.values().map(|f| forum::forum_view(f, c)).collect::<Vec<_>>(),
                "topics": c.topics.values().map(|t| forum::topic_view(t, c)).collect::<Vec<_>>(),
                "comments": c.comments.values().map(|x| forum::comment_view(x, c)).collect::<Vec<_>>(),
            }),
        );
    }
    if want("solution_articles") {
        out.insert(
            "solution_articles".into(),
            Value::Array(
                d.solution_articles
                    .values()
                    .map(|a| render::solution_article(a, &d))
                    .collect(),
            ),
        );
    }
    ok(Value::Object(out))
}

async fn add_automation(Acct(s): Acct, body: Bytes) -> R {
    let rule: crate::automations::NewRule = parse(&body)?;
    let rule = s.automations.add(rule).map_err(bad)?;
    Ok((StatusCode::CREATED, axum::Json(rule)).into_response())
}

async fn list_automations(Acct(s): Acct) -> R {
    ok(json!({"rules": *s.automations.rules.lock()}))
}

async fn deliveries(Acct(s): Acct) -> R {
    ok(json!({"deliveries": *s.automations.deliveries.lock()}))
}

fn fire(s: &Account, event: crate::automations::Event, id: i64) {
    s.fire(event, id);
}

/// Starts (or restarts with these settings) the living help desk.
async fn live_start(Acct(s): Acct, body: Bytes) -> R {
    let config: crate::live::LiveConfig = parse(&body)?;
    crate::live::start(&s, config).map_err(bad)?;
    live_status(Acct(s)).await
}

async fn live_stop(Acct(s): Acct) -> R {
    crate::live::stop(&s);
    live_status(Acct(s)).await
}

async fn live_status(Acct(s): Acct) -> R {
    let live = s.live.lock();
    ok(match live.as_ref() {
        None => json!({"running": false}),
        Some(run) => json!({"running": true, "config": run.config, "counts": run.counts()}),
    })
}

async fn set_clock(Acct(s): Acct, body: Bytes) -> R {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        skew_secs: i64,
    }
    let b: Body = parse(&body)?;
    if b.skew_secs.abs() > 10 * 365 * 86_400 {
        return Err(bad("skew_secs must be within ten years"));
    }
    s.clock_skew.store(b.skew_secs, Ordering::Relaxed);
    ok(json!({"skew_secs": b.skew_secs}))
}

/// Runs Freshdesk's archiving now: closed tickets untouched for `closed_for_days` (default 120,
/// Freshdesk's own) leave every list and are read at `/tickets/archived/{id}`.
async fn archive(Acct(s): Acct, body: Bytes) -> R {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        closed_for_days: Option<i64>,
    }
    let b: Body = if body.iter().all(u8::is_ascii_whitespace) {
        Body {
            closed_for_days: None,
        }
    } else {
        parse(&body)?
    };
    let days = b.closed_for_days.unwrap_or(120);
    if !(0..=3650).contains(&days) {
        return Err(bad("closed_for_days must be between 0 and 3650"));
    }
    let now = s.now();
    let ids = crate::api::links::archive_inactive(&mut s.desk_write(), days, now);
    ok(json!({"archived": ids}))
}

async fn reset_rate(Acct(s): Acct) -> R {
    *s.rate.lock() = crate::state::RateWindow::new();
    Ok(StatusCode::NO_CONTENT.into_response())
}
