//! The emulator's runtime state: one [`Account`] per hosted help desk (the help desk behind a
//! lock, its rate window, fault queue, request log, automation rules and clock, which tests may
//! skew), and the [`Shared`] list of them that the server routes by domain label. Accounts share
//! nothing, so a fault or a rate limit on one leaves the others as they were. Everything is in
//! memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::model::{HelpDesk, SubLimit, Ts};

/// Every hosted account, the first of which answers any host that names no account, and the
/// control API's token.
pub struct Shared {
    pub accounts: Vec<Arc<Account>>,
    pub control_token: String,
}

impl Shared {
    /// The account whose domain label is `label` (case-insensitive).
    pub fn by_label(&self, label: &str) -> Option<(usize, &Arc<Account>)> {
        self.accounts
            .iter()
            .enumerate()
            .find(|(_, a)| a.desk.read().account.domain.eq_ignore_ascii_case(label))
    }

    /// The account that a request with this `Host` reaches: `<label>.freshdesk.com` must name an
    /// account; any other host (localhost, an IP) is served as the first account.
    pub fn by_host(&self, host: &str) -> Option<&Arc<Account>> {
        let name = match host.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        match name.to_ascii_lowercase().strip_suffix(".freshdesk.com") {
            Some(label) => self.by_label(label).map(|(_, a)| a),
            None => self.accounts.first(),
        }
    }
}

/// One hosted help desk and everything that belongs to it alone.
pub struct Account {
    pub desk: RwLock<HelpDesk>,
    pub rate: Mutex<RateWindow>,
    pub faults: Mutex<Vec<Fault>>,
    pub log: Mutex<Vec<LogEntry>>,
    pub clock_skew: AtomicI64,
    pub seq: AtomicU64,
    pub minute: Duration,
    pub scheme: &'static str,
    /// Automation rules with webhook actions, and their delivery log.
    pub automations: std::sync::Arc<crate::automations::Automations>,
    /// The living help desk, while it runs.
    pub live: Mutex<Option<crate::live::LiveRun>>,
}

impl Account {
    /// Adds a finished request to the log, stamped with when its answer was ready.
    pub fn record(&self, mut entry: LogEntry) {
        entry.answered_ms = unix_ms();
        self.log.lock().push(entry);
    }

    /// Fires the automation rules that listen for `event` on ticket `id`.
    pub fn fire(&self, event: crate::automations::Event, id: i64) {
        crate::automations::fire(&self.automations, &self.desk.read(), event, id, self.minute);
    }

    /// The emulator's "now", in unix seconds, including any skew a test set.
    pub fn now(&self) -> Ts {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        real + self.clock_skew.load(Ordering::Relaxed)
    }

    /// The write lock, with the help desk's version bumped: every cached page cursor taken
    /// before this write is invalid after it.
    pub fn desk_write(&self) -> parking_lot::RwLockWriteGuard<'_, HelpDesk> {
        let mut g = self.desk.write();
        g.version += 1;
        g
    }

    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Freshdesk's fixed window: opened by the first call after the previous one expired; every call
/// adds one credit before it runs (rejected calls count too), `include` credits after.
#[derive(Debug)]
pub struct RateWindow {
    pub opened: Option<Instant>,
    pub used: u32,
    pub sub_used: HashMap<SubLimit, u32>,
}

pub enum Admission {
    Allowed,
    Throttled { retry_after: u64 },
}

impl RateWindow {
    pub fn new() -> Self {
        RateWindow {
            opened: None,
            used: 0,
            sub_used: HashMap::new(),
        }
    }

    fn roll(&mut self, now: Instant, minute: Duration) {
        if self.opened.is_none_or(|o| now.duration_since(o) >= minute) {
            self.opened = Some(now);
            self.used = 0;
            self.sub_used.clear();
        }
    }

    pub fn admit(
        &mut self,
        now: Instant,
        minute: Duration,
        total: Option<u32>,
        sub: Option<(SubLimit, Option<u32>)>,
    ) -> Admission {
        let Some(total) = total else {
            return Admission::Allowed;
        };
        self.roll(now, minute);
        self.used += 1;
        let mut over = self.used > total;
        if let Some((which, Some(limit))) = sub {
            let n = self.sub_used.entry(which).or_insert(0);
            *n += 1;
            over |= *n > limit;
        }
        if over {
            let elapsed = self
                .opened
                .map(|o| now.duration_since(o))
                .unwrap_or_default();
            let left = minute.saturating_sub(elapsed);
            Admission::Throttled {
                retry_after: left.as_secs_f64().ceil().max(1.0) as u64,
            }
        } else {
            Admission::Allowed
        }
    }

    pub fn add_credits(&mut self, credits: u32) {
        self.used += credits;
    }
}

impl Default for RateWindow {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with this status and Freshdesk's body for it.
    Status,
    /// Wait `delay_ms`, then answer normally.
    Delay,
    /// Drop the connection without a complete answer.
    Reset,
    /// Send the headers and half of the real body, then drop the connection.
    Truncate,
    /// Answer 200 with an HTML maintenance page, as a misbehaving edge does.
    Html,
    /// Answer `status` (default 403) with a `require_feature` error whose message repeats the
    /// request's `Authorization` header, as a misconfigured edge that echoes requests would: the
    /// client must never show or log Freshdesk's message text.
    EchoAuthorization,
    /// Answer 200 with a JSON body sent one byte every `delay_ms` (default 1000), so a reply
    /// never times out on silence but takes far too long in total.
    Trickle,
    /// Carry the request out (and log it), then wait `delay_ms` (default 1000) before answering:
    /// a write that was made although its caller may never hear so.
    SlowReply,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub path_prefix: String,
    pub kind: FaultKind,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Only requests with this method (`PUT`, …); every method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// How many matching requests this fault applies to.
    pub count: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct LogEntry {
    pub seq: u64,
    pub at: String,
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub credits: u32,
    pub agent_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultKind>,
    /// The caller's `User-Agent`: it tells apart the processes of one integration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Wall-clock milliseconds when the request arrived and when its answer was ready: two
    /// callers whose spans cross had requests in flight at once.
    pub received_ms: u64,
    pub answered_ms: u64,
}

/// Wall-clock milliseconds since the epoch (real time, no test skew).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
