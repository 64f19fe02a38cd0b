//! A help desk that lives: while it runs, customers open new tickets at a steady rate (under
//! `banking77`, with messages from the BANKING77 **test** split, never the seeded history's),
//! automation rules fire as they do for any new ticket, and simulated agents resolve each new
//! ticket after a while. On resolving, an agent sets `cf_category` (and the group) to the true
//! intent when it is empty or wrong, keeps a correct value as it is, and errs at a configurable
//! human rate. Every change is recorded in the ticket's history with who made it, so a test can
//! tell what a product wrote from what people changed afterwards.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::automations::Event;
use crate::corpus::{self, Corpus};
use crate::model::{AgentState, Ticket, Trash};
use crate::seed::{USER_ID_BASE, agents};
use crate::state::Account;
use crate::text::{self, CATEGORIES, CATEGORY_WEIGHTS};
use crate::util::Rng;

/// How the living help desk runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveConfig {
    /// New tickets per emulated minute (the account's rate window, 60 s unless configured).
    pub rate: f64,
    /// How many emulated minutes after opening a simulated agent resolves a new ticket.
    #[serde(default = "default_resolve_after")]
    pub resolve_after_minutes: f64,
    /// How often a resolving agent sets a wrong category (0 to 1).
    #[serde(default = "default_error_rate")]
    pub error_rate: f64,
    /// Seed of the simulation (which messages, which agents, which mistakes).
    #[serde(default)]
    pub seed: u64,
}

fn default_resolve_after() -> f64 {
    2.0
}

fn default_error_rate() -> f64 {
    0.03
}

impl LiveConfig {
    /// A clear reason when the numbers cannot run.
    pub fn check(&self) -> Result<(), String> {
        if !(self.rate.is_finite() && self.rate > 0.0 && self.rate <= 60_000.0) {
            return Err("rate must be more than 0 and at most 60000 tickets a minute".into());
        }
        if !(self.resolve_after_minutes.is_finite() && self.resolve_after_minutes >= 0.0) {
            return Err("resolve_after_minutes must be 0 or more".into());
        }
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err("error_rate must be between 0 and 1".into());
        }
        Ok(())
    }
}

/// What the living help desk has done so far.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LiveCounts {
    pub opened: u64,
    pub resolved: u64,
}

/// A running living help desk: stopped when dropped.
pub struct LiveRun {
    pub config: LiveConfig,
    counts: Arc<parking_lot::Mutex<LiveCounts>>,
    task: tokio::task::JoinHandle<()>,
}

impl LiveRun {
    pub fn counts(&self) -> LiveCounts {
        self.counts.lock().clone()
    }
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts (or restarts with new settings) the living help desk of `account`.
pub fn start(account: &Arc<Account>, config: LiveConfig) -> Result<(), String> {
    config.check()?;
    let counts = Arc::new(parking_lot::Mutex::new(LiveCounts::default()));
    let every = account.minute.div_f64(config.rate);
    let resolve_after = account.minute.mul_f64(config.resolve_after_minutes);
    let weak = Arc::downgrade(account);
    // Each hosted account walks the test split in its own order (the first keeps the order it
    // always had), so that many accounts do not all open the same tickets at once.
    let index = account.desk.read().account.account_id - crate::seed::ACCOUNT_ID_BASE;
    let sim = Simulation::new(&config, index as u64);
    let task = tokio::spawn(run(weak, sim, every, resolve_after, counts.clone()));
    *account.live.lock() = Some(LiveRun {
        config,
        counts,
        task,
    });
    Ok(())
}

/// Stops it; a no-op when it is not running.
pub fn stop(account: &Account) {
    account.live.lock().take();
}

async fn run(
    account: Weak<Account>,
    mut sim: Simulation,
    every: Duration,
    resolve_after: Duration,
    counts: Arc<parking_lot::Mutex<LiveCounts>>,
) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // The emulator is gone: nothing left to live for.
        let Some(a) = account.upgrade() else { return };
        if let Some(id) = sim.open(&a) {
            counts.lock().opened += 1;
            a.fire(Event::TicketCreated, id);
        }
        for id in sim.resolve_due(&a, resolve_after) {
            counts.lock().resolved += 1;
            a.fire(Event::TicketUpdated, id);
        }
    }
}

/// The simulation's own state: its random stream, where it is in the test split, and the new
/// tickets waiting to be resolved.
struct Simulation {
    rng: Rng,
    order: Vec<usize>,
    next: usize,
    waiting: VecDeque<(i64, Instant)>,
    error_rate: f64,
}

impl Simulation {
    fn new(config: &LiveConfig, account_index: u64) -> Simulation {
        let salt = account_index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut rng = Rng::new(config.seed ^ 0x11fe_11fe ^ salt);
        let mut order: Vec<usize> = (0..corpus::bank().test.len()).collect();
        for k in (1..order.len()).rev() {
            order.swap(k, rng.below(k as u64 + 1) as usize);
        }
        Simulation {
            rng,
            order,
            next: 0,
            waiting: VecDeque::new(),
            error_rate: config.error_rate,
        }
    }

    /// A customer opens a ticket; its id, or `None` when the account has no one to open it.
    fn open(&mut self, a: &Account) -> Option<i64> {
        let now = a.now();
        let mut d = a.desk_write();
        let customers: Vec<i64> = d
            .contacts
            .values()
            .filter(|c| c.state == crate::model::ContactState::Verified)
            .map(|c| c.id)
            .collect();
        if customers.is_empty() {
            return None;
        }
        let requester = self.rng.pick(&customers);
        let name = d.contacts[&requester].name.clone();
        let (subject, description, truth) = match d.account.corpus {
            Corpus::Banking77 => {
                let bank = corpus::bank();
                let m = bank.test[self.order[self.next % self.order.len()]];
                self.next += 1;
                (
                    corpus::subject_for(m.text, &mut self.rng),
                    corpus::description_for(m.text, &name, &mut self.rng),
                    bank.labels[m.intent].clone(),
                )
            }
            Corpus::Templates => {
                let cat = &CATEGORIES[self.rng.weighted(CATEGORY_WEIGHTS)];
                let subject = text::fill(self.rng.pick(cat.subjects), &mut self.rng);
                let body = text::fill(self.rng.pick(cat.openings), &mut self.rng);
                (
                    subject,
                    format!("{body}\n\nThanks,\n{name}"),
                    cat.name.to_string(),
                )
            }
        };
        let id = d.next_ticket_id;
        let ticket = Ticket {
            subject,
            description_html: crate::api::tickets::html_from_text(&description),
            description_text: description,
            company_id: d.contacts[&requester].company_id,
            truth: Some(truth),
            ..Ticket::opened(id, requester, 1, now)
        };
        d.insert_ticket(ticket.created_by("customer"));
        self.waiting.push_back((id, Instant::now()));
        Some(id)
    }

    /// Resolves every waiting ticket opened at least `after` ago; their ids.
    fn resolve_due(&mut self, a: &Account, after: Duration) -> Vec<i64> {
        let mut done = Vec::new();
        while self
            .waiting
            .front()
            .is_some_and(|(_, at)| at.elapsed() >= after)
        {
            let Some((id, _)) = self.waiting.pop_front() else {
                break;
            };
            if self.resolve(a, id) {
                done.push(id);
            }
        }
        done
    }

    /// One agent works one ticket: fixes the category and group, then resolves it. A ticket
    /// someone already resolved, deleted or marked as spam is left alone.
    fn resolve(&mut self, a: &Account, id: i64) -> bool {
        let now = a.now();
        let mut d = a.desk_write();
        let labels: Vec<&'static str> = d.category_choices();
        let groups: Vec<i64> = d.groups.keys().copied().collect();
        let corpus = d.account.corpus;
        let Some(t) = d.tickets.get(&id) else {
            return false;
        };
        if !matches!(t.status, 2 | 3) || t.spam || t.trash != Trash::Live {
            return false;
        }
        let Some(truth) = t.truth.clone() else {
            return false;
        };
        let home = match corpus {
            Corpus::Banking77 => {
                let bank = corpus::bank();
                bank.labels
                    .iter()
                    .position(|l| *l == truth)
                    .map(|i| corpus::group_of(&bank.intents[i]))
            }
            Corpus::Templates => CATEGORIES.iter().find(|c| c.name == truth).map(|c| c.group),
        };
        let group = home.and_then(|g| groups.get(g).copied());
        // People who work tickets: active, full-time, not the owner nor the integration user;
        // of the ticket's group when it has any, anyone of them otherwise.
        let people =
            [agents::OWNER, agents::INTEGRATION_ADMIN].map(|i| USER_ID_BASE + 1 + i as i64);
        let active: Vec<&crate::model::Agent> = d
            .agents
            .values()
            .filter(|x| x.state == AgentState::Active && !x.occasional && !people.contains(&x.id))
            .collect();
        let in_group: Vec<i64> = active
            .iter()
            .filter(|x| group.is_some_and(|g| x.group_ids.contains(&g)))
            .map(|x| x.id)
            .collect();
        let workers = if in_group.is_empty() {
            active.iter().map(|x| x.id).collect()
        } else {
            in_group
        };
        let Some(agent) = (!workers.is_empty()).then(|| self.rng.pick(&workers)) else {
            return false;
        };
        let wrong = self.rng.chance(self.error_rate) && labels.len() > 1;
        // A mistake is any other choice than the truth.
        let others: Vec<&str> = labels.iter().copied().filter(|l| *l != truth).collect();
        let mistaken = (!others.is_empty()).then(|| self.rng.pick(&others));
        let Some(t) = d.tickets.get_mut(&id) else {
            return false;
        };
        let before = t.tracked();
        if t.cf_category.as_deref() != Some(truth.as_str()) {
            t.cf_category = Some(match mistaken {
                Some(m) if wrong => m.to_string(),
                _ => truth,
            });
        }
        if group.is_some() && t.group_id != group {
            t.group_id = group;
        }
        t.responder_id.get_or_insert(agent);
        crate::api::tickets::apply_status(t, 4, now);
        t.record_changes(&before, &format!("simulated_agent:{agent}"), now);
        d.touch_ticket(id, now);
        true
    }
}
