//! The emulator's own record types for everything a help desk holds. They are not the client's wire
//! types and never will be: the JSON is produced from these by `render`, so a mistake in the
//! client's models cannot be mirrored here and hidden.

use std::collections::{BTreeMap, BTreeSet, HashMap};

pub type Ts = i64;

pub const ROLE_ACCOUNT_ADMIN: i64 = 43_000_000_001;
pub const ROLE_ADMIN: i64 = 43_000_000_002;
pub const ROLE_SUPERVISOR: i64 = 43_000_000_003;
pub const ROLE_AGENT: i64 = 43_000_000_004;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    Trial,
    Growth,
    Pro,
    Enterprise,
    Unlimited,
}

/// A rate-limited endpoint family with its own per-minute sub-limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SubLimit {
    TicketCreate,
    TicketUpdate,
    TicketsList,
    ContactsList,
}

impl Plan {
    pub fn parse(s: &str) -> Option<Plan> {
        Some(match s.to_ascii_lowercase().as_str() {
            "trial" => Plan::Trial,
            "growth" => Plan::Growth,
            "pro" => Plan::Pro,
            "enterprise" => Plan::Enterprise,
            "unlimited" => Plan::Unlimited,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Plan::Trial => "trial",
            Plan::Growth => "growth",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
            Plan::Unlimited => "unlimited",
        }
    }

    /// Calls per minute for the whole account, or `None` when unthrottled.
    /// Trial's sub-limits are not published; the emulator scales Growth's ratios to 50/min.
    pub fn per_minute(self) -> Option<u32> {
        match self {
            Plan::Trial => Some(50),
            Plan::Growth => Some(200),
            Plan::Pro => Some(400),
            Plan::Enterprise => Some(700),
            Plan::Unlimited => None,
        }
    }

    pub fn sub_limit(self, which: SubLimit) -> Option<u32> {
        let (create_update, lists) = match self {
            Plan::Trial => (20, 5),
            Plan::Growth => (80, 20),
            Plan::Pro => (160, 100),
            Plan::Enterprise => (280, 200),
            Plan::Unlimited => return None,
        };
        Some(match which {
            SubLimit::TicketCreate | SubLimit::TicketUpdate => create_update,
            SubLimit::TicketsList | SubLimit::ContactsList => lists,
        })
    }

    /// Features switched on by default. Trials get everything, as Freshdesk trials do.
    pub fn has_feature(self, feature: Feature) -> bool {
        match feature {
            Feature::Timesheets => true,
            Feature::Surveys | Feature::MultipleBusinessHours => !matches!(self, Plan::Growth),
        }
    }
}

/// Plan-gated features that answer 403 `require_feature` when off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feature {
    Timesheets,
    Surveys,
    MultipleBusinessHours,
}

impl Feature {
    pub fn parse(s: &str) -> Option<Feature> {
        Some(
            match s.to_ascii_lowercase().replace([' ', '-'], "_").as_str() {
                "timesheets" => Feature::Timesheets,
                "surveys" => Feature::Surveys,
                "multiple_business_hours" => Feature::MultipleBusinessHours,
                _ => return None,
            },
        )
    }

    /// The titleized name Freshdesk puts in the `require_feature` message.
    pub fn title(self) -> &'static str {
        match self {
            Feature::Timesheets => "Timesheets",
            Feature::Surveys => "Surveys",
            Feature::MultipleBusinessHours => "Multiple Business Hours",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Account {
    pub organisation_id: i64,
    pub account_id: i64,
    pub name: String,
    pub domain: String,
    pub plan: Plan,
    pub suspended: bool,
    pub features_off: BTreeSet<&'static str>,
    pub features_on: BTreeSet<&'static str>,
    pub created_at: Ts,
    /// Whose words the account's tickets are in; the living help desk writes new ones alike.
    pub corpus: crate::corpus::Corpus,
}

impl Account {
    pub fn feature_enabled(&self, f: Feature) -> bool {
        if self.features_off.contains(f.title()) {
            return false;
        }
        self.features_on.contains(f.title()) || self.plan.has_feature(f)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentState {
    Active,
    /// Deactivated in the admin UI; its key resolves to nobody (401).
    Suspended,
    /// Deleted through `DELETE /agents/{id}`: the user is downgraded to a contact and keeps its key,
    /// which then authenticates as a contact (403 everywhere).
    Deleted,
}

#[derive(Clone, Debug)]
pub struct Agent {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub job_title: Option<String>,
    pub language: &'static str,
    pub time_zone: &'static str,
    pub role_ids: Vec<i64>,
    pub ticket_scope: u8,
    pub group_ids: Vec<i64>,
    pub skill_ids: Vec<i64>,
    pub occasional: bool,
    pub agent_type: &'static str,
    pub available: bool,
    pub signature: Option<String>,
    pub api_key: String,
    pub password: String,
    pub failed_logins: u32,
    pub locked_out: bool,
    pub state: AgentState,
    /// Role held before a `demote`, so `promote` without a role gives it back.
    pub demoted_from: Option<Vec<i64>>,
    pub last_login_at: Option<Ts>,
    pub last_active_at: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl Agent {
    pub fn is_admin(&self) -> bool {
        self.role_ids
            .iter()
            .any(|r| *r == ROLE_ADMIN || *r == ROLE_ACCOUNT_ADMIN)
    }
}

#[derive(Clone, Debug)]
pub struct Role {
    pub id: i64,
    pub name: &'static str,
    pub description: &'static str,
    pub default: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub escalate_to: Option<i64>,
    pub unassigned_for: Option<&'static str>,
    pub business_hour_id: Option<i64>,
    pub auto_ticket_assign: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactState {
    Verified,
    Unverified,
    Blocked,
    Deleted,
}

#[derive(Clone, Debug)]
pub struct Contact {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub other_emails: Vec<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub company_id: Option<i64>,
    pub job_title: Option<String>,
    pub language: &'static str,
    pub time_zone: &'static str,
    pub address: Option<String>,
    pub description: Option<String>,
    pub twitter_id: Option<String>,
    pub unique_external_id: Option<String>,
    pub view_all_tickets: bool,
    pub tags: Vec<String>,
    pub state: ContactState,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl Contact {
    /// A contact as Freshdesk creates one from an address alone: unverified, English, Pacific
    /// time, no company, no phone; callers that know more set it with struct update syntax.
    pub fn new(id: i64, name: String, email: Option<String>, now: Ts) -> Contact {
        Contact {
            id,
            name,
            email,
            other_emails: vec![],
            phone: None,
            mobile: None,
            company_id: None,
            job_title: None,
            language: "en",
            time_zone: "Pacific Time (US & Canada)",
            address: None,
            description: None,
            twitter_id: None,
            unique_external_id: None,
            view_all_tickets: false,
            tags: vec![],
            state: ContactState::Unverified,
            created_at: now,
            updated_at: now,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Company {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub note: Option<String>,
    pub domains: Vec<String>,
    pub industry: Option<&'static str>,
    pub account_tier: Option<&'static str>,
    pub health_score: Option<&'static str>,
    pub renewal_date: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Clone, Debug, Default)]
pub struct TicketStats {
    pub agent_responded_at: Option<Ts>,
    pub requester_responded_at: Option<Ts>,
    pub first_responded_at: Option<Ts>,
    pub status_updated_at: Option<Ts>,
    pub reopened_at: Option<Ts>,
    pub resolved_at: Option<Ts>,
    pub closed_at: Option<Ts>,
    pub pending_since: Option<Ts>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trash {
    Live,
    /// In the trash (`DELETE /tickets/{id}`); restorable, listed by `filter=deleted`.
    Deleted,
    /// Deleted forever, purge pending: 403 on show, absent from every list.
    Purging,
}

#[derive(Clone, Debug)]
pub struct Ticket {
    pub id: i64,
    pub subject: String,
    pub description_html: String,
    pub description_text: String,
    pub status: i64,
    pub priority: i64,
    pub source: i64,
    pub ticket_type: Option<String>,
    pub requester_id: i64,
    pub responder_id: Option<i64>,
    pub group_id: Option<i64>,
    pub company_id: Option<i64>,
    pub email_config_id: Option<i64>,
    pub product_id: Option<i64>,
    pub cc_emails: Vec<String>,
    pub fwd_emails: Vec<String>,
    pub reply_cc_emails: Vec<String>,
    pub to_emails: Option<Vec<String>>,
    pub tags: Vec<String>,
    pub cf_category: Option<String>,
    pub cf_order_number: Option<String>,
    pub spam: bool,
    pub trash: Trash,
    pub fr_escalated: bool,
    pub is_escalated: bool,
    pub nr_escalated: bool,
    pub due_by: Ts,
    pub fr_due_by: Ts,
    pub nr_due_by: Option<Ts>,
    pub watchers: Vec<i64>,
    pub stats: TicketStats,
    pub created_at: Ts,
    pub updated_at: Ts,
    /// The intent the customer's words carry (`banking77` tickets only): ground truth that
    /// only the export shows, so a test can score what a product predicted.
    pub truth: Option<String>,
    /// Every change of a tracked field (see [`TRACKED`]) with who made it, oldest first.
    pub history: Vec<FieldChange>,
    /// The agents' summary of the ticket, when one was written.
    pub summary: Option<TicketSummary>,
    /// Its place in a parent–child or tracker–related link, when it has one.
    pub association: Option<Association>,
}

/// Freshdesk's ticket links (`association_type`): a parent and its children (created with
/// `parent_id`), or a tracker and the tickets it tracks (created with `related_ticket_ids`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Association {
    /// 1 parent, 2 child, 3 tracker, 4 related.
    pub kind: i64,
    /// A parent's children or a tracker's related tickets; a child's parent or a related
    /// ticket's tracker (one id).
    pub with: Vec<i64>,
}

impl Association {
    /// Whether this ticket leads the link (a parent or a tracker).
    pub fn leads(&self) -> bool {
        matches!(self.kind, 1 | 3)
    }
}

/// A ticket's summary (`/tickets/{id}/summary`).
#[derive(Clone, Debug)]
pub struct TicketSummary {
    pub body_html: String,
    pub body_text: String,
    pub editor: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// The fields whose history the export keeps: what people and products set on a ticket.
pub const TRACKED: [&str; 6] = [
    "status",
    "priority",
    "group_id",
    "responder_id",
    "ticket_type",
    "cf_category",
];

/// One value a tracked field took. `by` is `customer`, `simulated_agent:<id>` (the living help
/// desk) or `api_key:<agent id>` (a write through the API).
#[derive(Clone, Debug, serde::Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub value: serde_json::Value,
    pub by: String,
    pub at: Ts,
}

impl Ticket {
    /// The tracked fields' values now, in [`TRACKED`] order.
    pub fn tracked(&self) -> [serde_json::Value; 6] {
        use serde_json::json;
        [
            json!(self.status),
            json!(self.priority),
            json!(self.group_id),
            json!(self.responder_id),
            json!(self.ticket_type),
            json!(self.cf_category),
        ]
    }

    /// The ticket with its opening values recorded as set by `by` when it was created.
    pub fn created_by(mut self, by: &str) -> Ticket {
        let nothing: [serde_json::Value; 6] = Default::default();
        let at = self.created_at;
        self.record_changes(&nothing, by, at);
        self
    }

    /// Records each tracked field whose value is not what it was in `before`.
    pub fn record_changes(&mut self, before: &[serde_json::Value; 6], by: &str, at: Ts) {
        let now = self.tracked();
        for (i, (old, new)) in before.iter().zip(now).enumerate() {
            if *old != new {
                self.history.push(FieldChange {
                    field: TRACKED[i],
                    value: new,
                    by: by.to_string(),
                    at,
                });
            }
        }
    }

    /// A ticket as it is the moment it is created, through the API or the control API: open,
    /// by email, live, due when its priority's SLA says, with nothing else set. Callers fill in
    /// what their request gave.
    pub fn opened(id: i64, requester_id: i64, priority: i64, now: Ts) -> Ticket {
        let (respond, resolve) = crate::seed::sla_for(priority);
        Ticket {
            id,
            subject: String::new(),
            description_html: String::new(),
            description_text: String::new(),
            status: 2,
            priority,
            source: 2,
            ticket_type: None,
            requester_id,
            responder_id: None,
            group_id: None,
            company_id: None,
            email_config_id: None,
            product_id: None,
            cc_emails: vec![],
            fwd_emails: vec![],
            reply_cc_emails: vec![],
            to_emails: None,
            tags: vec![],
            cf_category: None,
            cf_order_number: None,
            spam: false,
            trash: Trash::Live,
            fr_escalated: false,
            is_escalated: false,
            nr_escalated: false,
            due_by: now + resolve,
            fr_due_by: now + respond,
            nr_due_by: None,
            watchers: vec![],
            stats: TicketStats {
                status_updated_at: Some(now),
                ..Default::default()
            },
            created_at: now,
            updated_at: now,
            truth: None,
            history: vec![],
            summary: None,
            association: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Conversation {
    pub id: i64,
    pub ticket_id: i64,
    pub body_html: String,
    pub body_text: String,
    pub incoming: bool,
    pub private: bool,
    pub user_id: i64,
    pub support_email: Option<String>,
    pub source: i64,
    pub from_email: Option<String>,
    pub to_emails: Vec<String>,
    pub cc_emails: Vec<String>,
    pub bcc_emails: Vec<String>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Clone, Debug)]
pub struct TicketField {
    pub id: i64,
    pub name: &'static str,
    pub label: &'static str,
    pub label_for_customers: &'static str,
    pub description: &'static str,
    pub position: i64,
    pub field_type: &'static str,
    pub default: bool,
    pub required_for_closure: bool,
    pub required_for_agents: bool,
    pub required_for_customers: bool,
    pub customers_can_edit: bool,
    pub displayed_to_customers: bool,
    pub choices: FieldChoices,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Clone, Debug)]
pub enum FieldChoices {
    None,
    /// Plain dropdown values (`cf_*` dropdowns, ticket type).
    List(Vec<&'static str>),
    /// `{"Low": 1, …}`-style maps (priority, source).
    Named(Vec<(&'static str, i64)>),
    /// Status: `{"2": ["Open", "Being Processed"], …}`.
    Status(Vec<(i64, &'static str, &'static str)>),
}

#[derive(Clone, Debug)]
pub struct BusinessHour {
    pub id: i64,
    pub name: &'static str,
    pub description: &'static str,
    pub time_zone: &'static str,
    pub is_default: bool,
    /// monday..sunday: `(start, end)` like `"08:00:00 am"`; `None` for a closed day.
    pub hours: [Option<(&'static str, &'static str)>; 7],
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Clone, Debug)]
pub struct SlaPolicy {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub active: bool,
    pub is_default: bool,
    pub position: i64,
    /// priority 4..1: (respond_within, resolve_within) in seconds.
    pub targets: [(i64, i64); 4],
    pub group_ids: Vec<i64>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Clone, Debug)]
pub struct SatisfactionRating {
    pub id: i64,
    pub survey_id: i64,
    pub user_id: i64,
    pub agent_id: Option<i64>,
    pub group_id: Option<i64>,
    pub ticket_id: i64,
    pub feedback: Option<String>,
    pub rating: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Clone, Debug)]
pub struct TimeEntry {
    pub id: i64,
    pub agent_id: i64,
    pub ticket_id: i64,
    pub company_id: Option<i64>,
    pub billable: bool,
    pub note: String,
    pub time_spent_minutes: i64,
    /// While the timer runs, when it was last started; time since then is added on stopping.
    pub timer_started: Option<Ts>,
    pub executed_at: Ts,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Clone, Debug)]
pub struct SolutionCategory {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Clone, Debug)]
pub struct SolutionFolder {
    pub id: i64,
    pub category_id: i64,
    /// The folder this one sits in (the flexible hierarchy); `None` at the top of a category.
    pub parent_folder_id: Option<i64>,
    pub name: String,
    pub description: Option<String>,
    pub visibility: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
}

#[derive(Clone, Debug)]
pub struct SolutionArticle {
    pub id: i64,
    pub folder_id: i64,
    pub category_id: i64,
    pub agent_id: i64,
    pub title: String,
    pub description_html: String,
    pub description_text: String,
    pub status: i64,
    pub hits: i64,
    pub thumbs_up: i64,
    pub thumbs_down: i64,
    pub tags: Vec<String>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// Where the next page of a list starts, remembered so that a client paging forward through an
/// unchanged list costs one page of work per call instead of re-skipping every earlier page.
/// It changes nothing a client can see: a cursor is used only for the exact same query, viewer
/// and help-desk version, where re-skipping would land on the same row.
#[derive(Clone, Copy, Debug)]
pub struct PageCursor {
    pub version: u64,
    pub next_page: u32,
    /// The ordering key of the last row served: `(updated_at, id)` or `(id, id)`.
    pub last: (Ts, i64),
}

/// Everything one Freshdesk account holds.
#[derive(Debug)]
pub struct HelpDesk {
    /// Bumped by every write; see [`PageCursor`].
    pub version: u64,
    pub page_cursors: parking_lot::Mutex<HashMap<String, PageCursor>>,
    pub account: Account,
    pub agents: BTreeMap<i64, Agent>,
    pub keys: HashMap<String, i64>,
    pub roles: Vec<Role>,
    pub groups: BTreeMap<i64, Group>,
    pub contacts: BTreeMap<i64, Contact>,
    pub companies: BTreeMap<i64, Company>,
    pub tickets: BTreeMap<i64, Ticket>,
    /// `(updated_at, id)` for every ticket, so `order_by=updated_at` pages without sorting.
    pub by_updated: BTreeSet<(Ts, i64)>,
    pub conversations: BTreeMap<i64, Conversation>,
    pub conversations_by_ticket: HashMap<i64, Vec<i64>>,
    pub ticket_fields: Vec<TicketField>,
    pub business_hours: Vec<BusinessHour>,
    pub sla_policies: Vec<SlaPolicy>,
    pub satisfaction_ratings: BTreeMap<i64, SatisfactionRating>,
    pub time_entries: BTreeMap<i64, TimeEntry>,
    pub solution_categories: BTreeMap<i64, SolutionCategory>,
    pub solution_folders: BTreeMap<i64, SolutionFolder>,
    pub solution_articles: BTreeMap<i64, SolutionArticle>,
    pub next_ticket_id: i64,
    pub next_conversation_id: i64,
    pub next_contact_id: i64,
    pub next_time_entry_id: i64,
    /// Bulk actions' jobs by id (`/jobs/{id}`), as `GET` answers them.
    pub jobs: BTreeMap<String, serde_json::Value>,
    /// Tickets Freshdesk has archived (closed and inactive): out of every list, search and
    /// `/tickets/{id}`, read only through `/tickets/archived/{id}`.
    pub archived: BTreeMap<i64, Ticket>,
    /// The community forums (`/discussions/…`).
    pub community: crate::community::Community,
    /// The newest ticket-activity export files with their link's token (`/exports/{token}.json`),
    /// oldest first; older links expire, as Freshdesk's do.
    pub exports: parking_lot::Mutex<std::collections::VecDeque<(String, Vec<u8>)>>,
}

impl HelpDesk {
    /// The `cf_category` dropdown's choices, as its ticket field holds them.
    pub fn category_choices(&self) -> Vec<&'static str> {
        self.ticket_fields
            .iter()
            .find(|f| f.name == "cf_category")
            .map(|f| match &f.choices {
                FieldChoices::List(c) => c.clone(),
                _ => Vec::new(),
            })
            .unwrap_or_default()
    }

    /// The contact whose primary email this is, compared as Freshdesk does: case aside.
    pub fn contact_with_email(&self, email: &str) -> Option<i64> {
        self.contacts
            .values()
            .find(|c| {
                c.email
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(email))
            })
            .map(|c| c.id)
    }

    /// Changes a ticket's `updated_at`, keeping the ordering index in step.
    pub fn touch_ticket(&mut self, id: i64, at: Ts) {
        if let Some(t) = self.tickets.get_mut(&id) {
            self.by_updated.remove(&(t.updated_at, id));
            t.updated_at = at;
            self.by_updated.insert((at, id));
        }
    }

    pub fn insert_ticket(&mut self, t: Ticket) {
        self.by_updated.insert((t.updated_at, t.id));
        self.next_ticket_id = self.next_ticket_id.max(t.id + 1);
        self.tickets.insert(t.id, t);
    }

    /// Removes a ticket and its thread for good.
    pub fn remove_ticket(&mut self, id: i64) -> Option<Ticket> {
        let t = self.remove_ticket_keep_thread(id)?;
        self.remove_thread(id);
        Some(t)
    }

    /// Takes a ticket out of the live set but keeps its thread, as archiving does.
    pub fn remove_ticket_keep_thread(&mut self, id: i64) -> Option<Ticket> {
        let t = self.tickets.remove(&id)?;
        self.by_updated.remove(&(t.updated_at, id));
        Some(t)
    }

    /// Deletes every conversation of a ticket.
    pub fn remove_thread(&mut self, ticket: i64) {
        for c in self
            .conversations_by_ticket
            .remove(&ticket)
            .unwrap_or_default()
        {
            self.conversations.remove(&c);
        }
    }

    /// A ticket's conversations, oldest first (ties by id), as Freshdesk lists them.
    pub fn conversations_of(&self, ticket: i64) -> Vec<&Conversation> {
        let mut list: Vec<&Conversation> = self
            .conversations_by_ticket
            .get(&ticket)
            .map(|ids| {
                ids.iter()
                    .filter_map(|c| self.conversations.get(c))
                    .collect()
            })
            .unwrap_or_default();
        list.sort_by_key(|c| (c.created_at, c.id));
        list
    }

    /// Deletes a conversation from its ticket's thread.
    pub fn remove_conversation(&mut self, id: i64) {
        if let Some(c) = self.conversations.remove(&id)
            && let Some(ids) = self.conversations_by_ticket.get_mut(&c.ticket_id)
        {
            ids.retain(|x| *x != id);
        }
    }

    pub fn insert_conversation(&mut self, c: Conversation) {
        self.next_conversation_id = self.next_conversation_id.max(c.id + 1);
        self.conversations_by_ticket
            .entry(c.ticket_id)
            .or_default()
            .push(c.id);
        self.conversations.insert(c.id, c);
    }

    pub fn role_name(&self, id: i64) -> Option<&'static str> {
        self.roles.iter().find(|r| r.id == id).map(|r| r.name)
    }

    pub fn agent_ids_in_group(&self, group: i64) -> Vec<i64> {
        self.agents
            .values()
            .filter(|a| a.state != AgentState::Deleted && a.group_ids.contains(&group))
            .map(|a| a.id)
            .collect()
    }
}
