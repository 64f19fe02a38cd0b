//! The deterministic help-desk generator. One seed, one ticket count and one anchor time always give
//! the same account, byte for byte. Everything is generated here; nothing is copied from anywhere.
//!
//! Shape of the data: eleven agents (an account owner, the dedicated integration admin, a plain
//! agent, a group-scoped admin and a mix of supervisors, scoped, restricted and occasional agents) in
//! six groups; contacts and companies in proportion to the tickets; tickets spread over the two
//! years before the anchor with 0–8 conversations each, some spam, some in the trash, one purge
//! pending; a bulk update that left 150 tickets sharing one `updated_at`; satisfaction ratings,
//! time entries and a knowledge base of a few dozen articles.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::corpus::{self, Corpus};
use crate::model::*;
use crate::text::{self, CATEGORIES, CATEGORY_WEIGHTS};
use crate::util::{Rng, html_escape};

pub const USER_ID_BASE: i64 = 43_000_100_000;
pub const COMPANY_ID_BASE: i64 = 43_000_200_000;
pub const GROUP_ID_BASE: i64 = 43_000_300_000;
pub const FIELD_ID_BASE: i64 = 43_000_400_000;
pub const BUSINESS_HOUR_ID: i64 = 43_000_500_001;
pub const SLA_ID_BASE: i64 = 43_000_600_000;
pub const SATISFACTION_ID_BASE: i64 = 43_000_700_000;
pub const TIME_ENTRY_ID_BASE: i64 = 43_000_800_000;
pub const SOLUTION_CATEGORY_ID_BASE: i64 = 43_000_900_000;
pub const SOLUTION_FOLDER_ID_BASE: i64 = 43_000_910_000;
pub const SOLUTION_ARTICLE_ID_BASE: i64 = 43_000_920_000;
pub const CONVERSATION_ID_BASE: i64 = 43_100_000_000;
pub const EMAIL_CONFIG_ID: i64 = 43_000_000_777;
/// The default satisfaction survey every rating answers.
pub const SURVEY_ID: i64 = 43_000_000_901;
/// The first hosted account's `account_id`; the others follow in order.
pub const ACCOUNT_ID_BASE: i64 = 1_234_567;
/// Larger than 2^53, as real organisation ids are: a JavaScript double would corrupt it.
pub const ORGANISATION_ID: i64 = 284_960_733_419_037_820;

const DAY: i64 = 86_400;

#[derive(Clone, Debug)]
pub struct SeedConfig {
    pub seed: u64,
    pub tickets: usize,
    /// "Now" at seeding time: every generated timestamp is at or before it.
    pub anchor: Ts,
    pub plan: Plan,
    pub domain: String,
    /// The account's place among those one emulator hosts (0 for the first): it gives each
    /// account its own organisation and account ids and its name.
    pub index: usize,
    /// Whose words the tickets are written in (see [`crate::corpus`]).
    pub corpus: Corpus,
}

/// Well-known agents, by their index in the seeded agent list.
pub mod agents {
    pub const OWNER: usize = 0;
    pub const INTEGRATION_ADMIN: usize = 1;
    pub const PLAIN_AGENT: usize = 2;
    pub const GROUP_ADMIN: usize = 3;
}

struct AgentSeed {
    name: &'static str,
    email: &'static str,
    role: i64,
    scope: u8,
    groups: &'static [usize],
    occasional: bool,
    title: &'static str,
}

const AGENTS: &[AgentSeed] = &[
    AgentSeed {
        name: "Avery Owner",
        email: "avery.owner",
        role: ROLE_ACCOUNT_ADMIN,
        scope: 1,
        groups: &[],
        occasional: false,
        title: "Head of Support",
    },
    AgentSeed {
        name: "Deskbridge Integration",
        email: "integration",
        role: ROLE_ADMIN,
        scope: 1,
        groups: &[],
        occasional: false,
        title: "Integration user",
    },
    AgentSeed {
        name: "Priya Patel",
        email: "priya.patel",
        role: ROLE_AGENT,
        scope: 1,
        groups: &[1, 5],
        occasional: false,
        title: "Support Engineer",
    },
    AgentSeed {
        name: "Morgan Lee",
        email: "morgan.lee",
        role: ROLE_ADMIN,
        scope: 2,
        groups: &[0, 4],
        occasional: false,
        title: "Billing Lead",
    },
    AgentSeed {
        name: "Sam Rivera",
        email: "sam.rivera",
        role: ROLE_SUPERVISOR,
        scope: 1,
        groups: &[1, 2],
        occasional: false,
        title: "Support Supervisor",
    },
    AgentSeed {
        name: "Jordan Kim",
        email: "jordan.kim",
        role: ROLE_AGENT,
        scope: 2,
        groups: &[1],
        occasional: false,
        title: "Technical Support",
    },
    AgentSeed {
        name: "Casey Nguyen",
        email: "casey.nguyen",
        role: ROLE_AGENT,
        scope: 3,
        groups: &[2],
        occasional: false,
        title: "Logistics Specialist",
    },
    AgentSeed {
        name: "Taylor Brooks",
        email: "taylor.brooks",
        role: ROLE_AGENT,
        scope: 2,
        groups: &[2],
        occasional: true,
        title: "Seasonal Agent",
    },
    AgentSeed {
        name: "Riley Chen",
        email: "riley.chen",
        role: ROLE_AGENT,
        scope: 2,
        groups: &[3, 5],
        occasional: false,
        title: "Accounts Specialist",
    },
    AgentSeed {
        name: "Alex Novak",
        email: "alex.novak",
        role: ROLE_AGENT,
        scope: 1,
        groups: &[0, 3],
        occasional: false,
        title: "Support Agent",
    },
    AgentSeed {
        name: "Dana Okafor",
        email: "dana.okafor",
        role: ROLE_SUPERVISOR,
        scope: 2,
        groups: &[4],
        occasional: false,
        title: "Escalations Manager",
    },
];

const GROUPS: &[(&str, &str)] = &[
    ("Billing", "Invoices, payments and refunds"),
    ("Technical Support", "Device, app and connectivity problems"),
    ("Shipping & Logistics", "Orders, deliveries and returns"),
    ("Accounts", "Logins, passwords and team access"),
    (
        "Escalations EU",
        "Escalated and product-feedback tickets for Europe",
    ),
    ("Sales", "Pre-sales questions"),
];

pub fn api_key(rng: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..20)
        .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char)
        .collect()
}

pub fn generate(cfg: &SeedConfig) -> HelpDesk {
    let root = Rng::new(cfg.seed);
    let anchor = cfg.anchor;
    let start = anchor - 730 * DAY;
    let account_created = start - 30 * DAY;

    let name = match cfg.index {
        0 => "Acme Support".to_string(),
        _ => {
            let mut c = cfg.domain.chars();
            let first = c.next().map(|f| f.to_ascii_uppercase());
            format!("{}{} Support", first.unwrap_or('X'), c.as_str())
        }
    };
    let account = Account {
        organisation_id: ORGANISATION_ID + cfg.index as i64 * 1_000_003,
        account_id: ACCOUNT_ID_BASE + cfg.index as i64,
        name,
        domain: cfg.domain.clone(),
        plan: cfg.plan,
        suspended: false,
        features_off: BTreeSet::new(),
        features_on: BTreeSet::new(),
        created_at: account_created,
        corpus: cfg.corpus,
    };

    let roles = vec![
        role(
            ROLE_ACCOUNT_ADMIN,
            "Account Administrator",
            "Has complete control over the help desk and the organisation including access to Account or Billing related information, and receives Invoices.",
            account_created,
        ),
        role(
            ROLE_ADMIN,
            "Administrator",
            "Can configure all features through the Admin tab, but is restricted from viewing Account or Billing related information.",
            account_created,
        ),
        role(
            ROLE_SUPERVISOR,
            "Supervisor",
            "Can perform all agent related activities and access reports, but cannot access or change configurations in the Admin tab.",
            account_created,
        ),
        role(
            ROLE_AGENT,
            "Agent",
            "Can log, view, reply, update and resolve tickets and manage contacts.",
            account_created,
        ),
    ];

    let banking = cfg.corpus == Corpus::Banking77;
    let group_names = if banking { corpus::BANK_GROUPS } else { GROUPS };
    let groups: BTreeMap<i64, Group> = group_names
        .iter()
        .enumerate()
        .map(|(i, (name, desc))| {
            let id = GROUP_ID_BASE + 1 + i as i64;
            (
                id,
                Group {
                    id,
                    name: (*name).into(),
                    description: Some((*desc).into()),
                    escalate_to: if i == 4 {
                        Some(USER_ID_BASE + 1 + 10)
                    } else {
                        None
                    },
                    unassigned_for: if i == 4 { Some("30m") } else { None },
                    business_hour_id: Some(BUSINESS_HOUR_ID),
                    auto_ticket_assign: if i == 1 { 1 } else { 0 },
                    created_at: account_created + i as i64 * 3600,
                    updated_at: account_created + i as i64 * 3600 + 7 * DAY,
                },
            )
        })
        .collect();
    let group_id = |i: usize| GROUP_ID_BASE + 1 + i as i64;

    let mut key_rng = root.fork(1);
    let mut agents = BTreeMap::new();
    let mut keys = HashMap::new();
    for (i, a) in AGENTS.iter().enumerate() {
        let id = USER_ID_BASE + 1 + i as i64;
        let key = api_key(&mut key_rng);
        keys.insert(key.clone(), id);
        let created = account_created + i as i64 * DAY;
        agents.insert(
            id,
            Agent {
                id,
                name: a.name.into(),
                email: format!("{}@acme-support.example", a.email),
                phone: if i % 3 == 0 {
                    Some(format!("+1 415 555 01{:02}", i))
                } else {
                    None
                },
                mobile: None,
                job_title: Some(a.title.into()),
                language: "en",
                time_zone: text::TIME_ZONES[i % 3],
                role_ids: vec![a.role],
                ticket_scope: a.scope,
                group_ids: a.groups.iter().map(|g| group_id(*g)).collect(),
                skill_ids: vec![],
                occasional: a.occasional,
                agent_type: "support_agent",
                available: i % 4 != 3,
                signature: Some(format!(
                    "<div>{}<br>Acme Support</div>",
                    html_escape(a.name)
                )),
                api_key: key,
                password: format!("{}-password-{}", a.email, i),
                failed_logins: 0,
                locked_out: false,
                state: AgentState::Active,
                demoted_from: None,
                last_login_at: Some(anchor - (i as i64 + 1) * 3600),
                last_active_at: Some(anchor - (i as i64 + 1) * 1800),
                created_at: created,
                updated_at: created + 2 * DAY,
            },
        );
    }
    let agent_ids: Vec<i64> = agents.keys().copied().collect();

    // Companies and contacts, in proportion to the tickets.
    let n_contacts = (cfg.tickets / 8).clamp(60, 60_000);
    let n_companies = (n_contacts / 25).clamp(8, 2_000);
    let mut crng = root.fork(2);
    let mut companies = BTreeMap::new();
    for i in 0..n_companies {
        let id = COMPANY_ID_BASE + 1 + i as i64;
        let word = text::COMPANY_WORDS[i % text::COMPANY_WORDS.len()];
        let suffix =
            text::COMPANY_SUFFIXES[(i / text::COMPANY_WORDS.len()) % text::COMPANY_SUFFIXES.len()];
        let round = i / (text::COMPANY_WORDS.len() * text::COMPANY_SUFFIXES.len());
        let name = if round == 0 {
            format!("{word} {suffix}")
        } else {
            format!("{word} {suffix} {}", round + 1)
        };
        let slug: String = name
            .to_ascii_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let created = account_created + crng.range(0, 700) * DAY;
        companies.insert(
            id,
            Company {
                id,
                name,
                description: if crng.chance(0.5) {
                    Some("Customer since the early days".into())
                } else {
                    None
                },
                note: if crng.chance(0.2) {
                    Some("Prefers email over phone".into())
                } else {
                    None
                },
                domains: vec![format!("{slug}.example")],
                industry: Some(crng.pick(text::INDUSTRIES)),
                account_tier: Some(crng.pick(&["Basic", "Premium", "Enterprise"])),
                health_score: Some(crng.pick(&["At risk", "Doing okay", "Happy"])),
                renewal_date: Some(anchor + crng.range(10, 300) * DAY),
                created_at: created,
                updated_at: (created + crng.range(0, 90) * DAY).min(anchor),
            },
        );
    }
    let company_ids: Vec<i64> = companies.keys().copied().collect();

    let first_contact_id = USER_ID_BASE + 1000;
    let mut contacts = BTreeMap::new();
    for i in 0..n_contacts {
        let id = first_contact_id + i as i64;
        let first = crng.pick(text::FIRST_NAMES);
        let last = crng.pick(text::LAST_NAMES);
        let company_id = if crng.chance(0.6) {
            Some(crng.pick(&company_ids))
        } else {
            None
        };
        let email = Some(format!(
            "{}.{}{}@{}",
            first.to_ascii_lowercase(),
            last.to_ascii_lowercase(),
            i,
            match company_id {
                Some(c) => companies[&c].domains[0].clone(),
                None => "mail.example".into(),
            }
        ));
        let state = match crng.below(200) {
            0..=1 => ContactState::Blocked,
            2..=3 => ContactState::Deleted,
            4..=13 => ContactState::Unverified,
            _ => ContactState::Verified,
        };
        let created = start - 20 * DAY + (i as i64 * 740 * DAY) / n_contacts as i64;
        contacts.insert(
            id,
            Contact {
                id,
                name: format!("{first} {last}"),
                email,
                other_emails: vec![],
                phone: if crng.chance(0.3) {
                    Some(format!(
                        "+1 (555) {:03}-{:04}",
                        crng.below(1000),
                        crng.below(10_000)
                    ))
                } else {
                    None
                },
                mobile: if crng.chance(0.2) {
                    Some(format!("+44 7700 {:06}", crng.below(1_000_000)))
                } else {
                    None
                },
                company_id,
                job_title: if crng.chance(0.3) {
                    Some("Operations Manager".into())
                } else {
                    None
                },
                language: "en",
                time_zone: crng.pick(text::TIME_ZONES),
                address: None,
                description: None,
                twitter_id: None,
                unique_external_id: None,
                view_all_tickets: false,
                tags: if crng.chance(0.1) {
                    vec!["vip".into()]
                } else {
                    vec![]
                },
                state,
                created_at: created,
                updated_at: (created + crng.range(0, 30) * DAY).min(anchor),
            },
        );
    }
    let contact_ids: Vec<i64> = contacts.keys().copied().collect();

    let mut desk = HelpDesk {
        version: 0,
        page_cursors: parking_lot::Mutex::new(HashMap::new()),
        account,
        agents,
        keys,
        roles,
        groups,
        contacts,
        companies,
        tickets: BTreeMap::new(),
        by_updated: BTreeSet::new(),
        conversations: BTreeMap::new(),
        conversations_by_ticket: HashMap::with_capacity(cfg.tickets),
        ticket_fields: ticket_fields(account_created, cfg.corpus),
        business_hours: business_hours(account_created),
        sla_policies: sla_policies(account_created, group_id(4)),
        satisfaction_ratings: BTreeMap::new(),
        time_entries: BTreeMap::new(),
        solution_categories: BTreeMap::new(),
        solution_folders: BTreeMap::new(),
        solution_articles: BTreeMap::new(),
        next_ticket_id: 1,
        next_conversation_id: CONVERSATION_ID_BASE + 1,
        next_contact_id: first_contact_id + n_contacts as i64,
        next_time_entry_id: TIME_ENTRY_ID_BASE + 1,
        jobs: BTreeMap::new(),
        archived: BTreeMap::new(),
        community: crate::community::Community::default(),
        exports: Default::default(),
    };

    // Tickets.
    let n = cfg.tickets as i64;
    let span = anchor - 3600 - start;
    let mut trng = root.fork(3);
    let mut sat_id = SATISFACTION_ID_BASE;
    let mut te_id = TIME_ENTRY_ID_BASE;
    // Agents who work tickets (not the owner, not the integration user).
    let workers: Vec<usize> = (2..AGENTS.len()).collect();
    // Under `banking77`: the train split in a fixed shuffled order, and an rng of its own, so the
    // template stream (and with it every template-seeded help desk) stays as it was.
    let bank = corpus::bank();
    let mut brng = root.fork(8);
    let mut order: Vec<usize> = if banking {
        (0..bank.train.len()).collect()
    } else {
        Vec::new()
    };
    for k in (1..order.len()).rev() {
        order.swap(k, brng.below(k as u64 + 1) as usize);
    }
    for i in 0..n {
        let id = i + 1;
        let step = span / n.max(1);
        let created = start + (i * span) / n.max(1) + trng.below(step.max(1) as u64) as i64 / 2;
        let cat_idx = trng.weighted(CATEGORY_WEIGHTS);
        let cat = &CATEGORIES[cat_idx];
        let message = banking.then(|| bank.train[order[i as usize % order.len()]]);
        let intent = message.map(|m| bank.intents[m.intent].as_str());
        let requester_id = trng.pick(&contact_ids);
        let company_id = desk.contacts[&requester_id].company_id;
        let age_days = (anchor - created) / DAY;
        let status = if age_days > 14 {
            trng.pick(&[5, 5, 5, 4, 4, 5, 5, 4, 3, 5])
        } else {
            trng.pick(&[2, 2, 3, 6, 7, 4, 2, 3, 5, 2])
        };
        let priority = [1, 2, 3, 4][trng.weighted(&[40, 35, 18, 7])];
        let source = [1, 2, 3, 7, 9, 10][trng.weighted(&[55, 20, 10, 10, 3, 2])];
        let group_idx = if trng.chance(0.85) {
            Some(intent.map_or(cat.group, corpus::group_of))
        } else if trng.chance(0.5) {
            Some(trng.below(GROUPS.len() as u64) as usize)
        } else {
            None
        };
        let group = group_idx.map(group_id);
        let responder = match group_idx {
            Some(g) if status != 2 || trng.chance(0.6) => {
                let candidates: Vec<usize> = workers
                    .iter()
                    .copied()
                    .filter(|w| AGENTS[*w].groups.contains(&g))
                    .collect();
                let w = if candidates.is_empty() {
                    trng.pick(&workers)
                } else {
                    trng.pick(&candidates)
                };
                Some(agent_ids[w])
            }
            _ => None,
        };
        let priority = match intent {
            Some(intent) => corpus::priority_for(intent, &mut brng),
            None => priority,
        };
        let subject = text::fill(trng.pick(cat.subjects), &mut trng);
        let mut body = text::fill(trng.pick(cat.openings), &mut trng);
        for _ in 0..trng.range(1, 2) {
            body.push(' ');
            body.push_str(&text::fill(trng.pick(cat.details), &mut trng));
        }
        let requester_name = desk.contacts[&requester_id].name.clone();
        let (subject, description_text, description_html) = match message {
            None => (
                subject,
                format!("{body}\n\nThanks,\n{requester_name}"),
                format!(
                    "<div>{}</div><div><br></div><div>Thanks,<br>{}</div>",
                    html_escape(&body),
                    html_escape(&requester_name)
                ),
            ),
            Some(m) => {
                let subject = corpus::subject_for(m.text, &mut brng);
                let text = corpus::description_for(m.text, &requester_name, &mut brng);
                let html = text
                    .split("\n\n")
                    .map(|p| format!("<div>{}</div>", html_escape(p).replace('\n', "<br>")))
                    .collect::<Vec<_>>()
                    .join("<div><br></div>");
                (subject, text, html)
            }
        };
        let mut tags: Vec<String> = Vec::new();
        if trng.chance(0.7) {
            tags.push((trng.pick(cat.tags)).into());
        }
        if trng.chance(0.1) {
            tags.push("vip".into());
        }
        if banking {
            // The template tags name the shop category; only the neutral one stays.
            tags.retain(|t| t == "vip");
        }

        // Conversations: 0–8, between creation and the last activity.
        let lifetime = match status {
            2 => trng.range(600, 6 * 3600),
            3 | 6 | 7 => trng.range(3600, 5 * DAY),
            _ => trng.range(2 * 3600, 12 * DAY),
        };
        let mut last = created;
        let n_conv = if trng.chance(0.08) {
            0
        } else {
            trng.range(1, 8)
        };
        let mut stats = TicketStats::default();
        let cstep = lifetime / (n_conv + 1).max(1);
        for k in 0..n_conv {
            let at = (created + cstep * (k + 1) + trng.below(cstep.max(1) as u64 / 2) as i64)
                .min(anchor - 60);
            let kind = if k == 0 {
                0
            } else {
                trng.weighted(&[45, 40, 15])
            };
            let (incoming, private, source, user, text_src): (bool, bool, i64, i64, &str) =
                match kind {
                    0 => (
                        false,
                        false,
                        0,
                        responder.unwrap_or(agent_ids[workers[0]]),
                        trng.pick(cat.agent_replies),
                    ),
                    1 => (
                        true,
                        false,
                        0,
                        requester_id,
                        trng.pick(cat.customer_followups),
                    ),
                    _ => (
                        false,
                        true,
                        2,
                        responder.unwrap_or(agent_ids[workers[0]]),
                        "Internal: checked the account history, nothing unusual. Keeping an eye on it.",
                    ),
                };
            let mut body_text = text::fill(text_src, &mut trng);
            if banking && kind < 2 {
                let said = if incoming {
                    corpus::CUSTOMER_FOLLOWUPS
                } else {
                    corpus::AGENT_REPLIES
                };
                body_text = brng.pick(said).to_string();
            }
            let conv_id = desk.next_conversation_id;
            if !incoming && !private {
                stats.agent_responded_at = Some(at);
                stats.first_responded_at.get_or_insert(at);
            } else if incoming {
                stats.requester_responded_at = Some(at);
            }
            desk.insert_conversation(Conversation {
                id: conv_id,
                ticket_id: id,
                body_html: format!("<div>{}</div>", html_escape(&body_text)),
                body_text,
                incoming,
                private,
                user_id: user,
                support_email: if incoming || private {
                    None
                } else {
                    Some("support@acme-support.example".into())
                },
                source,
                from_email: if incoming {
                    desk.contacts[&requester_id].email.clone()
                } else if private {
                    None
                } else {
                    Some("Acme Support <support@acme-support.example>".into())
                },
                to_emails: if private {
                    vec![]
                } else if incoming {
                    vec!["support@acme-support.example".into()]
                } else {
                    desk.contacts[&requester_id].email.iter().cloned().collect()
                },
                cc_emails: vec![],
                bcc_emails: vec![],
                created_at: at,
                updated_at: at,
            });
            last = last.max(at);
        }
        let mut updated = (created + lifetime).max(last).min(anchor - 30);
        match status {
            4 => stats.resolved_at = Some(updated),
            5 => {
                let resolved = updated;
                stats.resolved_at = Some(resolved);
                // The hourly "close resolved tickets after 48 hours" automation: tickets it closes
                // share the same timestamp, as real bulk automations leave them.
                let closed = ((resolved + 2 * DAY) / 3600 + 1) * 3600;
                if closed < anchor {
                    updated = closed;
                }
                stats.closed_at = Some(updated);
            }
            3 | 6 | 7 => stats.pending_since = Some(updated),
            _ => {}
        }
        stats.status_updated_at = Some(updated);
        if trng.chance(0.03) && status >= 4 {
            stats.reopened_at = Some(created + lifetime / 2);
        }

        let (respond, resolve) = sla_for(priority);
        let spam = trng.chance(0.01);
        let trash = if !spam && trng.chance(0.015) {
            Trash::Deleted
        } else {
            Trash::Live
        };
        let ticket = Ticket {
            id,
            subject,
            description_html,
            description_text,
            status,
            priority,
            source,
            ticket_type: Some(match intent {
                Some(intent) => corpus::type_for(intent, &mut brng).into(),
                None => cat.ticket_type.into(),
            }),
            requester_id,
            responder_id: responder,
            group_id: group,
            company_id,
            email_config_id: if source == 1 {
                Some(EMAIL_CONFIG_ID)
            } else {
                None
            },
            product_id: None,
            cc_emails: vec![],
            fwd_emails: vec![],
            reply_cc_emails: vec![],
            to_emails: if source == 1 {
                Some(vec!["support@acme-support.example".into()])
            } else {
                None
            },
            tags,
            cf_category: match message {
                None => Some(cat.name.into()),
                Some(m) => bank_category(m.intent, status, &mut brng),
            },
            cf_order_number: if !banking && (cat.name == "Shipping" || cat.name == "Refund Request")
            {
                Some(format!("#{}", 100_000 + trng.below(900_000)))
            } else {
                None
            },
            spam,
            trash,
            fr_escalated: stats
                .first_responded_at
                .is_some_and(|f| f > created + respond),
            is_escalated: false,
            nr_escalated: false,
            due_by: created + resolve,
            fr_due_by: created + respond,
            nr_due_by: None,
            watchers: if trng.chance(0.05) {
                vec![agent_ids[agents::PLAIN_AGENT]]
            } else {
                vec![]
            },
            stats,
            created_at: created,
            updated_at: updated,
            truth: message.map(|m| bank.labels[m.intent].clone()),
            history: vec![],
            summary: None,
            association: None,
        };

        if matches!(status, 4 | 5) && trng.chance(0.2) {
            sat_id += 1;
            let rating = trng.pick(&[103, 103, 102, 101, 100, -101, -102, -103]);
            desk.satisfaction_ratings.insert(
                sat_id,
                SatisfactionRating {
                    id: sat_id,
                    survey_id: SURVEY_ID,
                    user_id: requester_id,
                    agent_id: responder,
                    group_id: group,
                    ticket_id: id,
                    feedback: if rating < 0 {
                        Some("Took too long to get an answer.".into())
                    } else if trng.chance(0.4) {
                        Some("Quick and friendly, thanks!".into())
                    } else {
                        None
                    },
                    rating,
                    created_at: ticket.updated_at,
                    updated_at: ticket.updated_at,
                },
            );
        }
        if let Some(agent) = responder.filter(|_| trng.chance(0.15)) {
            te_id += 1;
            let at = created + lifetime / 3;
            desk.time_entries.insert(
                te_id,
                TimeEntry {
                    id: te_id,
                    agent_id: agent,
                    ticket_id: id,
                    company_id,
                    billable: trng.chance(0.5),
                    note: "Investigation and reply".into(),
                    time_spent_minutes: trng.range(5, 120),
                    timer_started: None,
                    executed_at: at,
                    created_at: at,
                    updated_at: at,
                },
            );
        }
        desk.insert_ticket(ticket);
    }
    desk.next_time_entry_id = te_id + 1;

    // A bulk update (a tag migration run through bulk_update) left 150 old tickets with one
    // shared `updated_at`: more than a page's worth of ties, as real accounts have.
    if n >= 5_000 {
        let at = start + 400 * DAY + 12 * 3600;
        let ids: Vec<i64> = desk
            .tickets
            .values()
            .filter(|t| {
                t.created_at < at - 30 * DAY
                    && t.updated_at < at
                    && t.trash == Trash::Live
                    && !t.spam
            })
            .map(|t| t.id)
            .take(150)
            .collect();
        for id in ids {
            desk.touch_ticket(id, at);
            if let Some(t) = desk.tickets.get_mut(&id) {
                t.tags.push("migrated".into());
            }
        }
    }
    // One ticket deleted forever, its purge pending.
    if n >= 100
        && let Some(t) = desk
            .tickets
            .values_mut()
            .find(|t| t.trash == Trash::Deleted)
    {
        t.trash = Trash::Purging;
    }

    seed_knowledge_base(
        &mut desk,
        &mut root.fork(4),
        account_created,
        anchor,
        agent_ids[agents::OWNER],
    );
    desk.community = crate::community::seed(
        account_created,
        anchor,
        agent_ids[agents::OWNER],
        &contact_ids,
    );
    desk
}

/// `cf_category` as people leave it under `banking77`: resolved and closed tickets mostly hold
/// the true intent (some are left unset, a few are wrong); open ones are mostly not triaged yet.
fn bank_category(intent: usize, status: i64, rng: &mut Rng) -> Option<String> {
    let labels = &corpus::bank().labels;
    let (right, wrong) = if matches!(status, 4 | 5) {
        (0.88, 0.04)
    } else {
        (0.25, 0.0)
    };
    let roll = (rng.below(1_000_000) as f64) / 1_000_000.0;
    if roll < right {
        Some(labels[intent].clone())
    } else if roll < right + wrong {
        let other = (intent + 1 + rng.below(labels.len() as u64 - 1) as usize) % labels.len();
        Some(labels[other].clone())
    } else {
        None
    }
}

fn role(id: i64, name: &'static str, description: &'static str, at: Ts) -> Role {
    Role {
        id,
        name,
        description,
        default: true,
        created_at: at,
        updated_at: at,
    }
}

/// (respond within, resolve within) in seconds for a priority.
pub fn sla_for(priority: i64) -> (i64, i64) {
    match priority {
        4 => (3600, 4 * 3600),
        3 => (4 * 3600, DAY),
        2 => (8 * 3600, 2 * DAY),
        _ => (DAY, 3 * DAY),
    }
}

fn ticket_fields(at: Ts, words: Corpus) -> Vec<TicketField> {
    let mut pos = 0;
    let mut f = |name: &'static str,
                 label: &'static str,
                 field_type: &'static str,
                 default: bool,
                 choices: FieldChoices| {
        pos += 1;
        TicketField {
            id: FIELD_ID_BASE + pos,
            name,
            label,
            label_for_customers: label,
            description: label,
            position: pos,
            field_type,
            default,
            required_for_closure: false,
            required_for_agents: name == "requester" || name == "subject",
            required_for_customers: name == "requester" || name == "subject",
            customers_can_edit: matches!(
                name,
                "requester" | "subject" | "description" | "cf_category"
            ),
            displayed_to_customers: !matches!(name, "group" | "agent" | "cf_order_number"),
            choices,
            created_at: at,
            updated_at: at,
        }
    };
    vec![
        f(
            "requester",
            "Search a requester",
            "default_requester",
            true,
            FieldChoices::None,
        ),
        f(
            "subject",
            "Subject",
            "default_subject",
            true,
            FieldChoices::None,
        ),
        f(
            "ticket_type",
            "Type",
            "default_ticket_type",
            true,
            FieldChoices::List(vec![
                "Question",
                "Incident",
                "Problem",
                "Feature Request",
                "Refund",
            ]),
        ),
        f(
            "source",
            "Source",
            "default_source",
            true,
            FieldChoices::Named(vec![
                ("Email", 1),
                ("Portal", 2),
                ("Phone", 3),
                ("Chat", 7),
                ("Feedback Widget", 9),
                ("Outbound Email", 10),
            ]),
        ),
        f(
            "status",
            "Status",
            "default_status",
            true,
            FieldChoices::Status(vec![
                (2, "Open", "Being Processed"),
                (3, "Pending", "Awaiting your Reply"),
                (4, "Resolved", "This ticket has been Resolved"),
                (5, "Closed", "This ticket has been Closed"),
                (6, "Waiting on Customer", "Awaiting your Reply"),
                (7, "Waiting on Third Party", "Being Processed"),
            ]),
        ),
        f(
            "priority",
            "Priority",
            "default_priority",
            true,
            FieldChoices::Named(vec![("Low", 1), ("Medium", 2), ("High", 3), ("Urgent", 4)]),
        ),
        f("group", "Group", "default_group", true, FieldChoices::None),
        f("agent", "Agent", "default_agent", true, FieldChoices::None),
        f(
            "description",
            "Description",
            "default_description",
            true,
            FieldChoices::None,
        ),
        f(
            "company",
            "Company",
            "default_company",
            true,
            FieldChoices::None,
        ),
        f(
            "cf_category",
            "Category",
            "custom_dropdown",
            false,
            FieldChoices::List(match words {
                Corpus::Templates => CATEGORIES.iter().map(|c| c.name).collect(),
                Corpus::Banking77 => corpus::bank().labels.iter().map(String::as_str).collect(),
            }),
        ),
        f(
            "cf_order_number",
            "Order number",
            "custom_text",
            false,
            FieldChoices::None,
        ),
    ]
}

fn business_hours(at: Ts) -> Vec<BusinessHour> {
    let day = Some(("08:00:00 am", "05:00:00 pm"));
    vec![BusinessHour {
        id: BUSINESS_HOUR_ID,
        name: "Default",
        description: "Default Business Calendar",
        time_zone: "Pacific Time (US & Canada)",
        is_default: true,
        hours: [day, day, day, day, day, None, None],
        created_at: at,
        updated_at: at,
    }]
}

fn sla_policies(at: Ts, escalation_group: i64) -> Vec<SlaPolicy> {
    let targets = [sla_for(4), sla_for(3), sla_for(2), sla_for(1)];
    vec![
        SlaPolicy {
            id: SLA_ID_BASE + 1,
            name: "Default SLA Policy".into(),
            description: "default policy".into(),
            active: true,
            is_default: true,
            position: 1,
            targets,
            group_ids: vec![],
            created_at: at,
            updated_at: at,
        },
        SlaPolicy {
            id: SLA_ID_BASE + 2,
            name: "EU escalations".into(),
            description: "Faster targets for escalated European customers".into(),
            active: true,
            is_default: false,
            position: 2,
            targets: [
                (1800, 2 * 3600),
                (2 * 3600, 8 * 3600),
                (4 * 3600, DAY),
                (8 * 3600, 2 * DAY),
            ],
            group_ids: vec![escalation_group],
            created_at: at,
            updated_at: at,
        },
    ]
}

fn seed_knowledge_base(desk: &mut HelpDesk, rng: &mut Rng, at: Ts, anchor: Ts, author: i64) {
    let mut categories: Vec<&str> = Vec::new();
    for (fi, seed) in text::KNOWLEDGE_BASE.iter().enumerate() {
        let ci = match categories.iter().position(|c| *c == seed.category) {
            Some(ci) => ci,
            None => {
                categories.push(seed.category);
                let id = SOLUTION_CATEGORY_ID_BASE + categories.len() as i64;
                desk.solution_categories.insert(
                    id,
                    SolutionCategory {
                        id,
                        name: seed.category.into(),
                        description: Some(format!(
                            "Articles about {}",
                            seed.category.to_lowercase()
                        )),
                        created_at: at,
                        updated_at: at,
                    },
                );
                categories.len() - 1
            }
        };
        let category_id = SOLUTION_CATEGORY_ID_BASE + 1 + ci as i64;
        let folder_id = SOLUTION_FOLDER_ID_BASE + 1 + fi as i64;
        let internal = seed.folder.starts_with("Internal");
        desk.solution_folders.insert(
            folder_id,
            SolutionFolder {
                id: folder_id,
                category_id,
                parent_folder_id: None,
                name: seed.folder.into(),
                description: None,
                visibility: if internal { 3 } else { 1 },
                created_at: at,
                updated_at: at,
            },
        );
        for title in seed.titles {
            let id = SOLUTION_ARTICLE_ID_BASE + 1 + desk.solution_articles.len() as i64;
            let body = format!(
                "{title}. This article walks you through it step by step. If the steps below do not help, reply to your ticket and our team will take a look."
            );
            let created = at + rng.range(1, 300) * DAY;
            desk.solution_articles.insert(
                id,
                SolutionArticle {
                    id,
                    folder_id,
                    category_id,
                    agent_id: author,
                    title: (*title).into(),
                    description_html: format!(
                        "<p>{}</p><ol><li>Open the Acme app.</li><li>Follow the prompts.</li></ol>",
                        html_escape(&body)
                    ),
                    description_text: format!("{body} Open the Acme app. Follow the prompts."),
                    status: if rng.chance(0.9) { 2 } else { 1 },
                    hits: rng.range(0, 5000),
                    thumbs_up: rng.range(0, 200),
                    thumbs_down: rng.range(0, 30),
                    tags: vec![],
                    created_at: created,
                    updated_at: (created + rng.range(0, 200) * DAY).min(anchor),
                },
            );
        }
    }
}
