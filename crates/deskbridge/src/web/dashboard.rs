//! The dashboard: per integration its health, freshness, records held, last and next sync, and
//! pictures (API credits per minute against the budget over 24 hours, records changed per hour,
//! the health timeline over 30 days), then recent activity in words. Also the stylesheet, the
//! root redirect and the liveness probe.

use askama::Template;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::Error;
use super::charts::{self, Span};
use super::render::{render, when};
use super::routes::Routes;
use super::session::Signed;
use crate::accounts::User;
use crate::audit;
use crate::connections::{self};
use crate::runtime::overview::{self, CREDIT_SLOT, Overview};

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
    cards: Vec<Card>,
    audit: Vec<AuditView>,
}

/// One integration on the dashboard, in words and pictures.
struct Card {
    id: i64,
    domain: String,
    status: &'static str,
    status_label: &'static str,
    cause: Option<&'static str>,
    freshness: String,
    held: i64,
    last_sync: String,
    next_sync: String,
    credits_svg: String,
    changes_svg: String,
    health_svg: String,
}

/// How long ago `t` was, in the largest whole unit.
fn ago(now: i64, t: i64) -> String {
    let s = (now - t).max(0);
    let (n, unit) = match s {
        0..60 => return "less than a minute".into(),
        60..3600 => (s / 60, "minute"),
        3600..86_400 => (s / 3600, "hour"),
        _ => (s / 86_400, "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn hour_minute(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%H:%M").to_string())
        .unwrap_or_default()
}

fn day(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%b %-d").to_string())
        .unwrap_or_default()
}

fn card(domain: String, o: Overview) -> Card {
    let f = &o.facts;
    let now = f.at;
    let budget_now = f.credits.limit.iter().rev().flatten().next().copied();
    let peak = f.credits.values.iter().fold(0.0f64, |a, b| a.max(*b));
    let total = f.credits.total;
    let credits_svg = charts::bars(
        &format!("credits-{}", o.t.integration_id),
        "API credits per minute, last 24 hours",
        &match budget_now {
            Some(b) => format!(
                "{total} credits in 24 hours; the busiest minute used {peak:.0} of a budget of {b:.0} a minute"
            ),
            None => format!("{total} credits in 24 hours; budget not learned yet"),
        },
        &f.credits.values,
        Some(&f.credits.limit),
        (
            &hour_minute(now - CREDIT_SLOT * overview::CREDIT_SLOTS as i64),
            "now",
        ),
    );
    let changes_svg = charts::bars(
        &format!("changes-{}", o.t.integration_id),
        "Records changed per hour, last 48 hours",
        &format!("{} records changed in 48 hours", f.changes.total),
        &f.changes.values,
        None,
        (&day(now - 48 * 3600), "now"),
    );
    let spans: Vec<Span> = f
        .spans
        .iter()
        .map(|(from, to, status)| Span {
            from: *from,
            to: *to,
            status: status.clone(),
        })
        .collect();
    let start = now - overview::TIMELINE_SECS;
    let health_svg = charts::timeline(
        &format!("health-{}", o.t.integration_id),
        "Health over the last 30 days",
        &format!("Now {}", o.health.status_label),
        &spans,
        (start, now),
        7 * 86_400,
        day,
    );
    Card {
        id: o.t.integration_id,
        domain,
        status: o.health.status.code(),
        status_label: o.health.status_label,
        cause: o.health.title,
        freshness: f.newest_change.map_or_else(
            || "nothing synced yet".into(),
            |t| format!("the newest change held is {} old", ago(now, t)),
        ),
        held: o.sync.held.iter().map(|(_, n)| n).sum(),
        last_sync: match (o.sync.running, o.sync.finished_at) {
            (true, _) => "running now".into(),
            (false, Some(at)) => format!(
                "{} ago ({})",
                ago(now, at),
                o.sync.status.clone().unwrap_or_default()
            ),
            (false, None) => "none yet".into(),
        },
        next_sync: match f.next_sync {
            Some(t) if t <= now => "due now".into(),
            Some(t) => format!("in {}", ago(t, now)),
            None => "not scheduled (paused, or scheduled syncs are off)".into(),
        },
        credits_svg,
        changes_svg,
        health_svg,
    }
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
    let mut cards = Vec::with_capacity(list.len());
    for i in &list {
        let t = crate::sync::Target {
            org_id: i.org_id,
            integration_id: i.id,
        };
        let sync = &state.config.sync;
        let o = overview::overview(&state.store, t, sync.interval_secs as i64, sync.enabled)
            .await
            .map_err(Error::internal)?;
        cards.push(card(i.domain.clone(), o));
    }
    render(&DashboardPage {
        org_name: s.user.org_name.clone(),
        user: Some(s.user),
        csrf: s.csrf,
        connected: list.len(),
        cards,
        audit,
    })
}
