//! The rate governor: one per Freshdesk account, shared by every caller in the process. It learns
//! the account's per-minute budget from `X-RateLimit-Total`, spends at most a configured share of it
//! (the customer's other apps keep the rest), honours the per-endpoint sub-limits and `include`
//! credits, backs off as `X-RateLimit-Remaining` falls, stops everyone for exactly `Retry-After`
//! on a 429, and lets interactive calls go ahead of background sync, up to
//! [`INTERACTIVE_SHARE`] of the budget: past that they wait for their share to refill, so that a
//! burst of write-backs cannot starve the sync.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// A person is waiting (connection check, write-back): never queued behind background work.
    Interactive,
    /// Sync and other bulk work.
    Background,
}

/// Endpoint families with their own per-minute sub-limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubLimit {
    TicketCreate,
    TicketUpdate,
    TicketsList,
    ContactsList,
}

impl SubLimit {
    /// The published sub-limit for an account whose total is `total` calls a minute.
    pub fn limit_for(self, total: u32) -> u32 {
        let (write, list) = match total {
            0..=50 => (20, 5),
            51..=200 => (80, 20),
            201..=400 => (160, 100),
            401..=700 => (280, 200),
            701..=1000 => (400, 300),
            1001..=2000 => (800, 400),
            // Beyond the published tiers (or an unthrottled emulator): scale Growth's ratios.
            t => (t * 2 / 5, t / 10),
        };
        match self {
            SubLimit::TicketCreate | SubLimit::TicketUpdate => write,
            SubLimit::TicketsList | SubLimit::ContactsList => list,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
struct State {
    limit: Option<u32>,
    bucket: Bucket,
    subs: HashMap<SubLimit, Bucket>,
    blocked_until: Option<Instant>,
    interactive_waiting: usize,
    /// What interactive calls may still take ahead of background work (refills at
    /// [`INTERACTIVE_SHARE`] of the budget).
    interactive: Bucket,
    /// Credits spent since the governor was made; for progress displays and benchmarks.
    spent: u64,
    throttled: u64,
}

/// What the governor has seen, for status pages and benchmarks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GovernorStats {
    pub limit: Option<u32>,
    pub budget_per_window: Option<f64>,
    pub credits_spent: u64,
    pub throttled: u64,
}

/// A rate budget shared with other processes working for the same Freshdesk accounts (deskbridge
/// keeps it in its database). Each process's governor reserves credits from it in batches, so
/// that all of them together stay inside the account's share.
pub trait SharedBudget: Send + Sync + 'static {
    /// Reserves credits as `ask` says; how many were granted: 0 when other processes have spent
    /// the stretch's budget. An error means the shared store is failing; the governor then keeps
    /// to its own budget.
    fn reserve(&self, ask: Ask) -> futures_util::future::BoxFuture<'_, Result<u32, BudgetError>>;
}

/// The shared budget's store failed; it keeps the cause.
#[derive(Debug, thiserror::Error)]
#[error("the shared rate budget could not be read or reserved")]
pub struct BudgetError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// A reservation: up to `want` credits of `account`'s budget for the stretch numbered `stretch`
/// (unix time divided by the stretch's length, a twelfth of the rate window), whose budget is
/// `budget` credits.
#[derive(Clone, Debug)]
pub struct Ask {
    pub account: String,
    pub stretch: i64,
    pub want: u32,
    pub budget: u32,
}

/// Credits reserved from the shared budget and not yet spent, for one window.
#[derive(Debug, Default)]
struct Grant {
    window: i64,
    credits: u32,
}

pub struct Governor {
    share: f64,
    window: Duration,
    state: Mutex<State>,
    /// The account's name in the shared budget, and the budget, once a client sets it.
    account: String,
    shared: OnceLock<Arc<dyn SharedBudget>>,
    grant: Mutex<Grant>,
}

impl std::fmt::Debug for Governor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Governor")
            .field("account", &self.account)
            .field("share", &self.share)
            .field("shared", &self.shared.get().is_some())
            .finish()
    }
}

/// Until the first reply teaches the real limit, assume the smallest paid budget.
const ASSUMED_LIMIT: u32 = 50;

/// The shared budget is reserved per this many parts of the window.
const SLICES: i64 = 12;

/// The part of our budget interactive calls may take ahead of background work. A person waiting
/// on a connection check spends a few credits; a burst of product writes could spend them all.
pub const INTERACTIVE_SHARE: f64 = 0.5;

impl Governor {
    pub fn new(share: f64, window: Duration) -> Self {
        Governor::for_named("", share, window)
    }

    fn for_named(account: &str, share: f64, window: Duration) -> Self {
        let now = Instant::now();
        Governor {
            account: account.to_string(),
            shared: OnceLock::new(),
            grant: Mutex::new(Grant::default()),
            share: share.clamp(0.01, 1.0),
            window,
            state: Mutex::new(State {
                limit: None,
                // Enough for the first few calls before a reply has taught the real budget.
                bucket: Bucket {
                    tokens: 8.0,
                    at: now,
                },
                subs: HashMap::new(),
                blocked_until: None,
                interactive_waiting: 0,
                interactive: Bucket {
                    tokens: 8.0,
                    at: now,
                },
                spent: 0,
                throttled: 0,
            }),
        }
    }

    fn rate(&self, per_window: f64) -> f64 {
        per_window / self.window.as_secs_f64()
    }

    /// Tokens refill continuously; the burst is capped at a sixth of the window's budget so that our
    /// calls never bunch up against one of Freshdesk's fixed windows.
    fn cap(per_window: f64) -> f64 {
        (per_window / 6.0).max(8.0).min(per_window.max(1.0))
    }

    fn refill(&self, b: &mut Bucket, per_window: f64, now: Instant) {
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate(per_window))
            .min(Self::cap(per_window));
        b.at = now;
    }

    /// From now on, also spend only credits reserved from `shared` (the first one given stays).
    pub fn share_through(&self, shared: Arc<dyn SharedBudget>) {
        let _ = self.shared.set(shared);
    }

    /// Takes `cost` credits from this process's reservation of the shared budget, reserving more
    /// when it runs out, and waiting for the next slice when every process together has spent
    /// this one's. The budget is shared per twelfth of the window, so that however Freshdesk's
    /// own window falls, no stretch of one window's length holds more than 13/12 of a slice's
    /// share times twelve: under the limit for any share up to 90%.
    async fn take_shared(&self, cost: u32) {
        let Some(shared) = self.shared.get() else {
            return;
        };
        let slice_ms = (self.window.as_millis() as i64 / SLICES).max(1);
        loop {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let slice = now_ms / slice_ms;
            {
                let mut g = self.grant.lock();
                if g.window != slice {
                    *g = Grant {
                        window: slice,
                        credits: 0,
                    };
                }
                if g.credits >= cost {
                    g.credits -= cost;
                    return;
                }
            }
            // Until a reply has taught the real limit, the local bucket's first few tokens
            // suffice: a twelfth of the assumed smallest budget would be two calls a stretch.
            let Some(limit) = self.state.lock().limit else {
                return;
            };
            let budget = ((limit as f64 * self.share / SLICES as f64).floor() as u32).max(1);
            // A quarter of the slice at a time: few round trips, and little held back unused.
            let want = (budget / 4).max(cost).min(budget.max(cost));
            let ask = Ask {
                account: self.account.clone(),
                stretch: slice,
                want,
                budget: budget.max(cost),
            };
            match shared.reserve(ask).await {
                Ok(0) => {
                    let left = (slice + 1) * slice_ms - now_ms;
                    tokio::time::sleep(Duration::from_millis(left.max(1) as u64)).await;
                }
                Ok(n) => {
                    let mut g = self.grant.lock();
                    if g.window == slice {
                        g.credits += n;
                    }
                }
                // The shared store is failing: this process keeps to its own budget meanwhile.
                Err(_) => return,
            }
        }
    }

    /// Waits until `cost` credits may be spent (and one call against `sub`, if any), then spends them.
    pub async fn acquire(&self, cost: u32, sub: Option<SubLimit>, priority: Priority) {
        self.take_shared(cost).await;
        // Counted as waiting only while within its share: an interactive call over the cap must
        // not hold background work back.
        let mut guard = Guard {
            counted: false,
            governor: self,
        };
        loop {
            let wait = {
                let mut s = self.state.lock();
                let now = Instant::now();
                let limit = s.limit.unwrap_or(ASSUMED_LIMIT);
                let budget = limit as f64 * self.share;
                let mut ahead = false;
                let mut ahead_wait = 0.0f64;
                if priority == Priority::Interactive {
                    let share = budget * INTERACTIVE_SHARE;
                    self.refill(&mut s.interactive, share, now);
                    ahead = s.interactive.tokens >= (cost as f64).min(Self::cap(share));
                    if !ahead {
                        ahead_wait = (1.0 - s.interactive.tokens) / self.rate(share);
                    }
                    if ahead != guard.counted {
                        if ahead {
                            s.interactive_waiting += 1;
                        } else {
                            s.interactive_waiting -= 1;
                        }
                        guard.counted = ahead;
                    }
                }
                if let Some(until) = s.blocked_until {
                    if until > now {
                        Some(until - now)
                    } else {
                        s.blocked_until = None;
                        continue;
                    }
                } else if priority == Priority::Background && s.interactive_waiting > 0 {
                    Some(Duration::from_millis(5))
                } else {
                    let mut bucket = std::mem::replace(
                        &mut s.bucket,
                        Bucket {
                            tokens: 0.0,
                            at: now,
                        },
                    );
                    self.refill(&mut bucket, budget, now);
                    let sub_budget = sub.map(|k| k.limit_for(limit) as f64 * self.share);
                    let mut sub_ok = true;
                    let mut sub_wait = 0.0f64;
                    if let (Some(k), Some(sb)) = (sub, sub_budget) {
                        let b = s.subs.entry(k).or_insert(Bucket {
                            tokens: 1.0,
                            at: now,
                        });
                        self.refill(b, sb, now);
                        if b.tokens < 1.0 {
                            sub_ok = false;
                            sub_wait = (1.0 - b.tokens) / self.rate(sb);
                        }
                    }
                    // A call costing more than the burst cap waits for a full bucket and then
                    // runs it into debt, which later calls repay.
                    let need = (cost as f64).min(Self::cap(budget));
                    // Interactive calls within their share borrow the same way, so a person never
                    // waits behind a backfill; past their share they wait for it to refill.
                    let ready = match priority {
                        Priority::Interactive => ahead,
                        Priority::Background => bucket.tokens >= need && sub_ok,
                    };
                    if ready {
                        bucket.tokens -= cost as f64;
                        if let Some(b) = sub.and_then(|k| s.subs.get_mut(&k)) {
                            b.tokens -= 1.0;
                        }
                        if priority == Priority::Interactive {
                            s.interactive.tokens -= cost as f64;
                        }
                        s.bucket = bucket;
                        s.spent += cost as u64;
                        None
                    } else {
                        let main_wait = match priority {
                            Priority::Interactive => ahead_wait,
                            Priority::Background => {
                                ((need - bucket.tokens) / self.rate(budget)).max(0.0)
                            }
                        };
                        s.bucket = bucket;
                        Some(Duration::from_secs_f64(
                            main_wait.max(sub_wait).clamp(0.001, 60.0),
                        ))
                    }
                }
            };
            match wait {
                None => return,
                Some(d) => tokio::time::sleep(d).await,
            }
        }
    }

    /// Learns from a reply's rate headers.
    pub fn observe(&self, total: Option<u32>, remaining: Option<u32>) {
        let mut s = self.state.lock();
        if let Some(t) = total {
            s.limit = Some(t);
        }
        if let (Some(limit), Some(rem)) = (s.limit, remaining) {
            // Others are using the account too, or a window boundary caught us: when less than
            // the customers' reserve is left, stop spending until tokens refill.
            let reserve = limit as f64 * (1.0 - self.share);
            if (rem as f64) < reserve * 0.5 && s.bucket.tokens > 0.0 {
                s.bucket.tokens = 0.0;
            }
        }
    }

    /// A 429: everyone on this account stops for exactly `retry_after`.
    pub fn throttled(&self, retry_after: Duration) {
        let mut s = self.state.lock();
        let until = Instant::now() + retry_after;
        s.blocked_until = Some(s.blocked_until.map_or(until, |u| u.max(until)));
        s.bucket.tokens = s.bucket.tokens.min(0.0);
        s.throttled += 1;
    }

    pub fn stats(&self) -> GovernorStats {
        let s = self.state.lock();
        GovernorStats {
            limit: s.limit,
            budget_per_window: s.limit.map(|l| l as f64 * self.share),
            credits_spent: s.spent,
            throttled: s.throttled,
        }
    }

    pub fn share(&self) -> f64 {
        self.share
    }

    pub fn window(&self) -> Duration {
        self.window
    }
}

struct Guard<'a> {
    counted: bool,
    governor: &'a Governor,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.governor.state.lock().interactive_waiting -= 1;
        }
    }
}

type Accounts = Mutex<HashMap<String, Weak<Governor>>>;

fn registry() -> &'static Accounts {
    static REGISTRY: OnceLock<Accounts> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// What governors no longer alive spent, per account label: kept so that the totals this
/// process reports only ever grow (a governor lives only while a client of its account does).
fn retired() -> &'static Mutex<HashMap<String, (u64, u64)>> {
    static RETIRED: OnceLock<Mutex<HashMap<String, (u64, u64)>>> = OnceLock::new();
    RETIRED.get_or_init(Default::default)
}

fn label_of(account: &str) -> String {
    account.split('@').next().unwrap_or(account).to_string()
}

impl Drop for Governor {
    fn drop(&mut self) {
        if self.account.is_empty() {
            return;
        }
        let s = self.state.get_mut();
        let mut map = retired().lock();
        let t = map.entry(label_of(&self.account)).or_default();
        t.0 += s.spent;
        t.1 += s.throttled;
    }
}

/// Every account this process has called and what it has seen since the process started, by the
/// account's domain label (for operators' metrics): its live governors, and the totals of those
/// gone (whose limit is no longer known).
pub fn accounts() -> Vec<(String, GovernorStats)> {
    let live: Vec<(String, Arc<Governor>)> = {
        let map = registry().lock();
        map.iter()
            .filter_map(|(key, g)| Some((label_of(key), g.upgrade()?)))
            .collect()
    };
    let mut out: Vec<(String, GovernorStats)> = live
        .iter()
        .map(|(label, g)| (label.clone(), g.stats()))
        .collect();
    drop(live);
    for (label, (spent, throttled)) in retired().lock().iter() {
        let stats = GovernorStats {
            limit: None,
            budget_per_window: None,
            credits_spent: *spent,
            throttled: *throttled,
        };
        out.push((label.clone(), stats));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The process-wide registry: the same account key always yields the same governor while any
/// client holds it.
pub fn for_account(account: &str, share: f64, window: Duration) -> Arc<Governor> {
    let mut map = registry().lock();
    if let Some(g) = map.get(account).and_then(Weak::upgrade) {
        return g;
    }
    map.retain(|_, w| w.strong_count() > 0);
    let g = Arc::new(Governor::for_named(account, share, window));
    map.insert(account.to_string(), Arc::downgrade(&g));
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spending_stays_within_the_share_of_the_learned_budget() {
        let g = Governor::new(0.5, Duration::from_secs(60));
        g.observe(Some(200), Some(199));
        let start = Instant::now();
        for _ in 0..300 {
            g.acquire(1, None, Priority::Background).await;
        }
        // 100 credits a minute at a 50% share of 200: 300 credits need about three minutes.
        let took = start.elapsed().as_secs_f64();
        assert!((160.0..=185.0).contains(&took), "{took}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_stops_every_caller_for_exactly_retry_after() {
        let g = Governor::new(0.5, Duration::from_secs(60));
        g.observe(Some(700_000), Some(700_000));
        g.throttled(Duration::from_secs(7));
        let start = Instant::now();
        g.acquire(1, None, Priority::Interactive).await;
        assert_eq!(start.elapsed(), Duration::from_secs(7));
        assert_eq!(g.stats().throttled, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn interactive_calls_do_not_wait_behind_background_work() {
        let g = Arc::new(Governor::new(0.5, Duration::from_secs(60)));
        g.observe(Some(200), Some(199));
        for _ in 0..20 {
            g.acquire(1, None, Priority::Background).await;
        }
        let start = Instant::now();
        g.acquire(1, None, Priority::Interactive).await;
        assert!(start.elapsed() < Duration::from_millis(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_interactive_calls_leaves_background_work_its_part_of_the_budget() {
        let g = Arc::new(Governor::new(0.5, Duration::from_secs(60)));
        g.observe(Some(200), Some(199));
        let burst = {
            let g = g.clone();
            tokio::spawn(async move {
                loop {
                    g.acquire(1, None, Priority::Interactive).await;
                }
            })
        };
        let background = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let sync = {
            let (g, n) = (g.clone(), background.clone());
            tokio::spawn(async move {
                loop {
                    g.acquire(1, None, Priority::Background).await;
                    n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        };
        tokio::time::sleep(Duration::from_secs(180)).await;
        sync.abort();
        let background = background.load(std::sync::atomic::Ordering::Relaxed);
        burst.abort();
        // 100 credits a minute, of which the burst may take half ahead of everyone: over three
        // minutes the background gets the other half of 300.
        assert!(background >= 120, "{background} background calls");
        assert!(g.stats().credits_spent <= 330, "{:?}", g.stats());
    }

    #[tokio::test(start_paused = true)]
    async fn the_tickets_list_sub_limit_paces_list_calls() {
        let g = Governor::new(0.5, Duration::from_secs(60));
        g.observe(Some(200), Some(199));
        let start = Instant::now();
        for _ in 0..30 {
            g.acquire(1, Some(SubLimit::TicketsList), Priority::Background)
                .await;
        }
        // Growth allows 20 list calls a minute; half of that is 10: 30 calls need about 3 minutes.
        let took = start.elapsed().as_secs_f64();
        assert!(took >= 150.0, "{took}");
    }

    #[test]
    fn two_clients_of_one_account_share_one_governor() {
        let a = for_account("acme|test-share", 0.5, Duration::from_secs(60));
        let b = for_account("acme|test-share", 0.5, Duration::from_secs(60));
        assert!(Arc::ptr_eq(&a, &b));
        let c = for_account("other|test-share", 0.5, Duration::from_secs(60));
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
