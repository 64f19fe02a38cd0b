//! The dashboard's figures for one integration, gathered across capabilities: its health and the
//! health timeline of the last 30 days, how fresh the copy is (the newest change it holds), how
//! many records it holds, the last and next sync, API credits per minute against the budget over
//! the last 24 hours, and records changed per hour over the last 48. Numbers only: the web layer
//! draws them.

use crate::health;
use crate::store::{Store, now};
use crate::sync::{Target, activity, browse};

/// Slots of the credits picture: 5 minutes each over 24 hours.
pub const CREDIT_SLOT: i64 = 300;
pub const CREDIT_SLOTS: usize = 288;
/// Slots of the changes picture: an hour each over 48 hours.
pub const CHANGE_SLOTS: usize = 48;
/// The health timeline's reach.
pub const TIMELINE_SECS: i64 = 30 * 86_400;

#[derive(Debug, Clone)]
pub struct Overview {
    pub t: Target,
    pub health: health::Health,
    /// The sync page's view: the last run, records held per table, the interval.
    pub sync: super::SyncView,
    pub facts: Facts,
}

/// What the dashboard works out from the figures.
#[derive(Debug, Clone)]
pub struct Facts {
    /// `updated_at` of the newest ticket change held.
    pub newest_change: Option<i64>,
    /// When the scheduler will start the next run (`None` when scheduled syncs are off).
    pub next_sync: Option<i64>,
    /// Where the pictures end (now), as of reading.
    pub at: i64,
    /// Per 5-minute slot over 24 hours: the busiest minute's credits, and the budget then.
    pub credits: Series,
    /// Per hour over 48 hours: records changed (no limit).
    pub changes: Series,
    /// The health timeline: (from, to, status code), oldest first.
    pub spans: Vec<(i64, i64, String)>,
}

/// Values per slot, oldest first, an optional limit per slot, and the sum of what was counted.
#[derive(Debug, Clone)]
pub struct Series {
    pub values: Vec<f64>,
    pub limit: Vec<Option<f64>>,
    pub total: i64,
}

impl Series {
    fn new(slots: usize) -> Series {
        Series {
            values: vec![0.0; slots],
            limit: vec![None; slots],
            total: 0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OverviewError {
    #[error("could not read the integration's figures")]
    Store(#[from] sqlx::Error),
    #[error(transparent)]
    View(#[from] super::ViewError),
    #[error(transparent)]
    Health(#[from] health::HealthError),
}

/// The figures of one integration; `interval` is the default sync interval, and `scheduled`
/// whether the scheduler runs syncs by itself.
pub async fn overview(
    store: &Store,
    t: Target,
    interval: i64,
    scheduled: bool,
) -> Result<Overview, OverviewError> {
    let at = now();
    let health = health::get(store, t).await?;
    let view = super::view(store, interval, t).await?;
    let newest_change = browse::newest_change(store, t).await?;

    let start = (at / CREDIT_SLOT + 1) * CREDIT_SLOT - CREDIT_SLOT * CREDIT_SLOTS as i64;
    let hour_start = (at / 3600 + 1) * 3600 - 3600 * CHANGE_SLOTS as i64;
    let (minutes, hours) = activity::since(store, t, start.min(hour_start)).await?;
    let mut credits = Series::new(CREDIT_SLOTS);
    for (minute, spent, limit) in minutes {
        if let Ok(slot @ 0..CREDIT_SLOTS) = usize::try_from((minute - start) / CREDIT_SLOT) {
            credits.values[slot] = f64::max(credits.values[slot], spent as f64);
            credits.limit[slot] = limit.map(|l| l as f64).or(credits.limit[slot]);
            credits.total += spent;
        }
    }
    let mut changes = Series::new(CHANGE_SLOTS);
    for (hour, n) in hours {
        if let Ok(slot @ 0..CHANGE_SLOTS) = usize::try_from((hour - hour_start) / 3600) {
            changes.values[slot] += n as f64;
            changes.total += n;
        }
    }
    let spans = spans(&health, at);
    let next_sync = (scheduled && health.status.can_run()).then(|| {
        view.started_at
            .map_or(at, |s| (s + view.interval_secs).max(at))
    });
    Ok(Overview {
        t,
        health,
        sync: view,
        facts: Facts {
            newest_change,
            next_sync,
            at,
            credits,
            changes,
            spans,
        },
    })
}

/// The status at each moment of the last 30 days, from the transitions (newest first in
/// `history`): before the first, its `from`; after the last, the current status.
fn spans(h: &health::Health, at: i64) -> Vec<(i64, i64, String)> {
    let start = at - TIMELINE_SECS;
    let mut events: Vec<&health::Transition> = h.history.iter().collect();
    events.reverse();
    let mut out = Vec::new();
    let mut from = start;
    let mut status = events
        .first()
        .map_or_else(|| h.status.code().to_string(), |e| e.from.clone());
    for e in events {
        if e.at > from {
            out.push((from, e.at, status.clone()));
            from = e.at;
        }
        status = e.to.clone();
    }
    out.push((from.max(start), at, status));
    out.retain(|(a, b, _)| *b > start && b > a);
    out
}
