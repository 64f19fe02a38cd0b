//! The `/api/v2` surface. One dispatcher owns the order Freshdesk applies things in: route (404,
//! 405), rate window (429), `Accept` (406) and `Content-Type` (415), authentication (401), account
//! state (403), role and scope, then the handler. It also owns the headers every reply carries.

pub(crate) mod activities;
mod catalog;
pub(crate) mod discussions;
use discussions::Item;
pub mod error;
pub(crate) mod links;
pub(crate) mod people;
pub mod query;
pub(crate) mod resources;
pub mod search;
pub(crate) mod tickets;
pub(crate) mod writes;

use base64::Engine;
use serde_json::Value;

use crate::model::{AgentState, HelpDesk, SubLimit, Ticket};
pub use error::ApiError;
use query::Query;

/// One parsed API request.
pub struct Req<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Query,
    /// `scheme://host` as the caller addressed us, for `link` and `Location` headers.
    pub origin: String,
    pub authorization: Option<&'a str>,
    pub accept: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
    pub now: i64,
}

/// What a handler produces on success.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub location: Option<String>,
    pub link: Option<String>,
    /// Credits beyond the one every call costs (`include=` embeds).
    pub extra_credits: u32,
    /// Tickets a write changed beyond the one its path names (bulk actions, merges): each
    /// fires the ticket-update automation rules.
    pub touched: Vec<i64>,
}

impl Reply {
    pub fn json(body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            body,
            location: None,
            link: None,
            extra_credits: 0,
            touched: Vec::new(),
        }
    }

    pub fn value(v: &Value) -> Reply {
        Reply::json(serde_json::to_vec(v).unwrap_or_default())
    }

    pub fn no_content() -> Reply {
        Reply {
            status: 204,
            ..Reply::json(Vec::new())
        }
    }

    pub fn created(v: &Value, location: String) -> Reply {
        Reply {
            status: 201,
            location: Some(location),
            ..Reply::value(v)
        }
    }
}

/// The agent a key resolved to, as far as permissions go.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub id: i64,
    pub admin: bool,
    pub scope: u8,
    pub groups: Vec<i64>,
}

impl Viewer {
    pub fn can_see(&self, t: &Ticket) -> bool {
        match self.scope {
            1 => true,
            2 => {
                t.responder_id == Some(self.id)
                    || t.group_id.is_some_and(|g| self.groups.contains(&g))
            }
            _ => t.responder_id == Some(self.id),
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.admin {
            Ok(())
        } else {
            Err(ApiError::access_denied())
        }
    }
}

/// A route pattern with its ids, and the verbs it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Tickets,
    Ticket(i64),
    TicketRestore(i64),
    TicketConversations(i64),
    TicketReply(i64),
    TicketNotes(i64),
    TicketTimeEntries(i64),
    TicketSatisfaction(i64),
    SearchTickets,
    Contacts,
    Contact(i64),
    ContactRestore(i64),
    ContactHardDelete(i64),
    Companies,
    Company(i64),
    Agents,
    AgentMe,
    Agent(i64),
    Roles,
    Role(i64),
    Groups,
    Group(i64),
    TicketFields,
    BusinessHours,
    BusinessHour(i64),
    SlaPolicies,
    SatisfactionRatings,
    TimeEntries,
    SettingsHelpdesk,
    Account,
    SolutionCategories,
    SolutionCategory(i64),
    SolutionCategoryFolders(i64),
    SolutionFolder(i64),
    SolutionFolderArticles(i64),
    SolutionFolderSubfolders(i64),
    SolutionArticle(i64),
    Conversation(i64),
    ContactFields,
    CompanyFields,
    Products,
    Product(i64),
    EmailConfigs,
    Mailboxes,
    ContactsAutocomplete,
    CompaniesAutocomplete,
    AgentsAutocomplete,
    AdminTicketFields,
    AdminTicketField(i64),
    AdminTicketFieldSections(i64),
    Skills,
    Surveys,
    CannedResponseFolders,
    CannedResponseFolder(i64),
    CannedResponse(i64),
    ScenarioAutomations,
    SearchContacts,
    SearchCompanies,
    SearchSolutions,
    TicketSummary(i64),
    OutboundEmail,
    /// `/automations/{type}/rules`: 1 ticket creation, 3 time triggers, 4 ticket updates.
    AutomationRules(i64),
    TicketForward(i64),
    TimeEntry(i64),
    TimeEntryToggle(i64),
    TicketWatchers(i64),
    TicketWatch(i64),
    TicketUnwatch(i64),
    ContactMakeAgent(i64),
    BulkUpdate,
    BulkDelete,
    /// `/jobs/{id}`: the id is a string, read from the path by the handler.
    Job,
    SlaPolicy(i64),
    TicketMerge,
    TicketAssociated(i64),
    TicketPrimeAssociation(i64),
    ArchivedTicket(i64),
    ArchivedConversations(i64),
    TicketActivitiesExport,
    ForumCategories,
    ForumCategory(i64),
    ForumCategoryForums(i64),
    Forum(i64),
    ForumTopics(i64),
    Topic(i64),
    TopicComments(i64),
    Comment(i64),
}

impl Route {
    pub fn parse(path: &str) -> Option<Route> {
        let rest = path.strip_prefix("/api/v2/")?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let segs: Vec<&str> = rest.split('/').collect();
        let id = |s: &str| -> Option<i64> {
            if !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse().ok()
            } else {
                None
            }
        };
        use Route::*;
        Some(match segs.as_slice() {
            ["tickets"] => Tickets,
            ["tickets", "outbound_email"] => OutboundEmail,
            ["tickets", "bulk_update"] => BulkUpdate,
            ["tickets", "bulk_delete"] => BulkDelete,
            ["tickets", "merge"] => TicketMerge,
            ["tickets", "archived", i] => ArchivedTicket(id(i)?),
            ["tickets", "archived", i, "conversations"] => ArchivedConversations(id(i)?),
            ["tickets", i, "associated_tickets"] => TicketAssociated(id(i)?),
            ["tickets", i, "prime_association"] => TicketPrimeAssociation(id(i)?),
            ["export", "ticket_activities"] => TicketActivitiesExport,
            ["discussions", "categories"] => ForumCategories,
            ["discussions", "categories", i] => ForumCategory(id(i)?),
            ["discussions", "categories", i, "forums"] => ForumCategoryForums(id(i)?),
            ["discussions", "forums", i] => Forum(id(i)?),
            ["discussions", "forums", i, "topics"] => ForumTopics(id(i)?),
            ["discussions", "topics", i] => Topic(id(i)?),
            ["discussions", "topics", i, "comments"] => TopicComments(id(i)?),
            ["discussions", "comments", i] => Comment(id(i)?),
            ["jobs", j] if !j.is_empty() => Job,
            ["tickets", i, "summary"] => TicketSummary(id(i)?),
            ["tickets", i] => Ticket(id(i)?),
            ["tickets", i, "restore"] => TicketRestore(id(i)?),
            ["tickets", i, "conversations"] => TicketConversations(id(i)?),
            ["tickets", i, "reply"] => TicketReply(id(i)?),
            ["tickets", i, "notes"] => TicketNotes(id(i)?),
            ["tickets", i, "forward"] => TicketForward(id(i)?),
            ["tickets", i, "watchers"] => TicketWatchers(id(i)?),
            ["tickets", i, "watch"] => TicketWatch(id(i)?),
            ["tickets", i, "unwatch"] => TicketUnwatch(id(i)?),
            ["tickets", i, "time_entries"] => TicketTimeEntries(id(i)?),
            ["tickets", i, "satisfaction_ratings"] => TicketSatisfaction(id(i)?),
            ["search", "tickets"] => SearchTickets,
            ["search", "contacts"] => SearchContacts,
            ["search", "companies"] => SearchCompanies,
            ["search", "solutions"] => SearchSolutions,
            ["contacts"] => Contacts,
            ["contacts", "autocomplete"] => ContactsAutocomplete,
            ["companies", "autocomplete"] => CompaniesAutocomplete,
            ["agents", "autocomplete"] => AgentsAutocomplete,
            ["contact_fields"] => ContactFields,
            ["company_fields"] => CompanyFields,
            ["products"] => Products,
            ["products", i] => Product(id(i)?),
            ["email_configs"] => EmailConfigs,
            ["email", "mailboxes"] => Mailboxes,
            ["admin", "ticket_fields"] => AdminTicketFields,
            ["admin", "ticket_fields", i] => AdminTicketField(id(i)?),
            ["admin", "ticket_fields", i, "sections"] => AdminTicketFieldSections(id(i)?),
            ["admin", "skills"] => Skills,
            ["surveys"] => Surveys,
            ["canned_response_folders"] => CannedResponseFolders,
            ["canned_response_folders", i, "responses"] => CannedResponseFolder(id(i)?),
            ["canned_responses", i] => CannedResponse(id(i)?),
            ["scenario_automations"] => ScenarioAutomations,
            ["automations", i, "rules"] => AutomationRules(id(i)?),
            ["contacts", i] => Contact(id(i)?),
            ["contacts", i, "restore"] => ContactRestore(id(i)?),
            ["contacts", i, "hard_delete"] => ContactHardDelete(id(i)?),
            ["contacts", i, "make_agent"] => ContactMakeAgent(id(i)?),
            ["companies"] => Companies,
            ["companies", i] => Company(id(i)?),
            ["conversations", i] => Conversation(id(i)?),
            ["agents"] => Agents,
            ["agents", "me"] => AgentMe,
            ["agents", i] => Agent(id(i)?),
            ["roles"] => Roles,
            ["roles", i] => Role(id(i)?),
            ["groups"] | ["admin", "groups"] => Groups,
            ["groups", i] | ["admin", "groups", i] => Group(id(i)?),
            ["ticket_fields"] => TicketFields,
            ["business_hours"] => BusinessHours,
            ["business_hours", i] => BusinessHour(id(i)?),
            ["sla_policies"] => SlaPolicies,
            ["sla_policies", i] => SlaPolicy(id(i)?),
            ["surveys", "satisfaction_ratings"] => SatisfactionRatings,
            ["time_entries"] => TimeEntries,
            ["time_entries", i] => TimeEntry(id(i)?),
            ["time_entries", i, "toggle_timer"] => TimeEntryToggle(id(i)?),
            ["settings", "helpdesk"] => SettingsHelpdesk,
            ["account"] => Account,
            ["solutions", "categories"] => SolutionCategories,
            // The account's one language is its primary, `en`; a translation that does not exist
            // is not found, as on Freshdesk.
            ["solutions", "categories", i] | ["solutions", "categories", i, "en"] => {
                SolutionCategory(id(i)?)
            }
            ["solutions", "categories", i, "folders"] => SolutionCategoryFolders(id(i)?),
            ["solutions", "folders", i] | ["solutions", "folders", i, "en"] => {
                SolutionFolder(id(i)?)
            }
            ["solutions", "folders", i, "articles"] => SolutionFolderArticles(id(i)?),
            ["solutions", "folders", i, "subfolders"] => SolutionFolderSubfolders(id(i)?),
            ["solutions", "articles", i] | ["solutions", "articles", i, "en"] => {
                SolutionArticle(id(i)?)
            }
            _ => return None,
        })
    }

    /// The verbs this emulator implements for the route, in the order Freshdesk lists them.
    pub fn methods(self) -> &'static [&'static str] {
        use Route::*;
        match self {
            Tickets
            | Contacts
            | Companies
            | Groups
            | Agents
            | TicketTimeEntries(_)
            | SlaPolicies
            | ForumCategories
            | ForumCategoryForums(_)
            | ForumTopics(_)
            | TopicComments(_) => &["GET", "POST"],
            Ticket(_) | Contact(_) | Company(_) | ForumCategory(_) | Forum(_) | Topic(_) => {
                &["GET", "PUT", "DELETE"]
            }
            Comment(_) => &["PUT", "DELETE"],
            ArchivedTicket(_) => &["GET", "DELETE"],
            TicketMerge => &["PUT"],
            Conversation(_) => &["PUT", "DELETE"],
            TicketSummary(_) => &["GET", "PUT", "DELETE"],
            TimeEntry(_) => &["PUT", "DELETE"],
            SlaPolicy(_) => &["PUT"],
            TimeEntryToggle(_) | TicketUnwatch(_) | ContactMakeAgent(_) => &["PUT"],
            TicketWatch(_) => &["POST"],
            TicketSatisfaction(_) => &["GET", "POST"],
            OutboundEmail | BulkUpdate | BulkDelete => &["POST"],
            TicketRestore(_) | ContactRestore(_) => &["PUT"],
            TicketReply(_) | TicketNotes(_) | TicketForward(_) => &["POST"],
            ContactHardDelete(_) => &["DELETE"],
            Agent(_) => &["GET", "PUT", "DELETE"],
            _ => &["GET"],
        }
    }

    /// The per-minute sub-limit this call counts against, if any.
    pub fn sub_limit(self, method: &str) -> Option<SubLimit> {
        match (self, method) {
            (Route::Tickets, "GET") => Some(SubLimit::TicketsList),
            (Route::Tickets, "POST") => Some(SubLimit::TicketCreate),
            (Route::Ticket(_), "PUT") => Some(SubLimit::TicketUpdate),
            (Route::Contacts, "GET") => Some(SubLimit::ContactsList),
            _ => None,
        }
    }
}

/// Checks route and verb: the part of the pipeline that runs before the rate window.
pub fn resolve(path: &str, method: &str) -> Result<Route, ApiError> {
    let route = Route::parse(path).ok_or(ApiError::NotFound)?;
    let methods = route.methods();
    if methods.contains(&method) || (method == "HEAD" && methods.contains(&"GET")) {
        Ok(route)
    } else {
        Err(ApiError::MethodNotAllowed {
            method: method.to_string(),
            allowed: methods.to_vec(),
        })
    }
}

/// The checks that follow the rate window and precede authentication.
pub fn check_headers(req: &Req) -> Result<(), ApiError> {
    if let Some(accept) = req.accept {
        let ok = accept.split(',').any(|part| {
            let mime = part.split(';').next().unwrap_or("").trim();
            mime.is_empty()
                || mime == "*/*"
                || mime == "application/json"
                || mime == "application/*"
        });
        if !ok {
            return Err(ApiError::invalid_accept(accept));
        }
    }
    if matches!(req.method, "POST" | "PUT") && !req.body.is_empty() {
        let ct = req.content_type.unwrap_or("");
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json" && mime != "multipart/form-data" {
            return Err(ApiError::invalid_content_type(if ct.is_empty() {
                "nil"
            } else {
                ct
            }));
        }
    }
    Ok(())
}

/// Who is calling: an agent (by key, or by email and password, the legacy form), or nobody.
pub enum Caller {
    Agent(i64),
    /// A key that belongs to a user who is now a contact (a deleted agent).
    Contact,
}

/// Splits `Authorization: Basic …` into user and password.
pub fn credentials(authorization: Option<&str>) -> Result<(String, String), ApiError> {
    let encoded = authorization
        .and_then(|h| {
            h.strip_prefix("Basic ")
                .or_else(|| h.strip_prefix("basic "))
        })
        .ok_or_else(ApiError::invalid_credentials)?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| ApiError::invalid_credentials())?;
    let text = String::from_utf8(decoded).map_err(|_| ApiError::invalid_credentials())?;
    let (user, password) = text.split_once(':').unwrap_or((&text, ""));
    Ok((user.to_string(), password.to_string()))
}

/// Resolves an API key; `None` when no agent ever had that key.
pub fn by_key(desk: &HelpDesk, user: &str) -> Option<Result<Caller, ApiError>> {
    let id = desk.keys.get(user).copied()?;
    let agent = desk.agents.get(&id)?;
    Some(match agent.state {
        AgentState::Active => Ok(Caller::Agent(id)),
        AgentState::Suspended => Err(ApiError::invalid_credentials()),
        AgentState::Deleted => Ok(Caller::Contact),
    })
}

/// Legacy email + password Basic auth (dropped by Freshdesk in 2021, still answered here so that
/// `password_lockout` has a real path): ten failures lock the login; keys never lock out.
pub fn by_password(desk: &mut HelpDesk, user: &str, password: &str) -> Result<Caller, ApiError> {
    let Some(agent) = desk
        .agents
        .values_mut()
        .find(|a| a.email.eq_ignore_ascii_case(user))
    else {
        return Err(ApiError::invalid_credentials());
    };
    if agent.state != AgentState::Active {
        return Err(ApiError::invalid_credentials());
    }
    if agent.locked_out {
        return Err(ApiError::password_lockout());
    }
    if agent.password == password {
        agent.failed_logins = 0;
        return Ok(Caller::Agent(agent.id));
    }
    agent.failed_logins += 1;
    if agent.failed_logins >= 10 {
        agent.locked_out = true;
        return Err(ApiError::password_lockout());
    }
    Err(ApiError::invalid_credentials())
}

pub fn viewer(desk: &HelpDesk, id: i64) -> Option<Viewer> {
    let a = desk.agents.get(&id)?;
    Some(Viewer {
        id,
        admin: a.is_admin(),
        scope: a.ticket_scope,
        groups: a.group_ids.clone(),
    })
}

/// Runs a read (GET or HEAD) for an authenticated agent, under the shared read lock.
pub fn dispatch_read(
    desk: &HelpDesk,
    route: Route,
    req: &Req,
    v: &Viewer,
) -> Result<Reply, ApiError> {
    use Route::*;
    match route {
        Tickets => tickets::list(desk, req, v),
        Ticket(id) => tickets::show(desk, req, v, id),
        TicketConversations(id) => tickets::conversations(desk, req, v, id),
        TicketTimeEntries(id) => resources::ticket_time_entries(desk, req, v, id),
        TicketSatisfaction(id) => resources::ticket_satisfaction(desk, req, v, id),
        SearchTickets => search::tickets(desk, req, v),
        SearchContacts => search::contacts(desk, req),
        SearchCompanies => search::companies(desk, req),
        SearchSolutions => search::solutions(desk, req),
        TicketSummary(id) => writes::show_summary(desk, v, id),
        Job => {
            let id = req.path.rsplit('/').next().unwrap_or("");
            let job = desk.jobs.get(id).ok_or(ApiError::NotFound)?;
            Ok(Reply::value(job))
        }
        TicketWatchers(id) => {
            let t = tickets::visible(desk, v, id)?;
            Ok(Reply::value(
                &serde_json::json!({"watcher_ids": t.watchers}),
            ))
        }
        TicketAssociated(id) => links::associated(desk, req, v, id),
        TicketPrimeAssociation(id) => links::prime(desk, v, id),
        ArchivedTicket(id) => links::archived_show(desk, v, id),
        ArchivedConversations(id) => links::archived_conversations(desk, req, v, id),
        TicketActivitiesExport => activities::export(desk, req, v),
        ForumCategories => discussions::list(desk, req, None),
        ForumCategory(id) => discussions::show(desk, Item::Category(id)),
        ForumCategoryForums(id) => discussions::list(desk, req, Some(Item::Category(id))),
        Forum(id) => discussions::show(desk, Item::Forum(id)),
        ForumTopics(id) => discussions::list(desk, req, Some(Item::Forum(id))),
        Topic(id) => discussions::show(desk, Item::Topic(id)),
        TopicComments(id) => discussions::list(desk, req, Some(Item::Topic(id))),
        // Served by the edge, which holds the account's rules (`automations::rules_view`).
        AutomationRules(_) => Err(ApiError::Internal),
        Contacts => people::contacts(desk, req),
        Contact(id) => people::contact(desk, id),
        Companies => people::companies(desk, req),
        Company(id) => people::company(desk, id),
        Agents => people::agents(desk, req, v),
        AgentMe => people::agent(desk, v.id),
        Agent(id) => {
            v.require_admin()?;
            people::agent(desk, id)
        }
        Roles => people::roles(desk, req, v),
        Role(id) => people::role(desk, v, id),
        Groups => people::groups(desk, req, v),
        Group(id) => people::group(desk, v, id),
        TicketFields => resources::ticket_fields(desk, req),
        BusinessHours => resources::business_hours(desk, req),
        BusinessHour(id) => resources::business_hour(desk, id),
        SlaPolicies => resources::sla_policies(desk, req, v),
        SatisfactionRatings => resources::satisfaction_ratings(desk, req),
        TimeEntries => resources::time_entries(desk, req),
        ContactFields => catalog::contact_fields(desk, req),
        AdminTicketFields => catalog::admin_ticket_fields(desk, v),
        AdminTicketField(id) => catalog::admin_ticket_field(desk, v, id, false),
        AdminTicketFieldSections(id) => catalog::admin_ticket_field(desk, v, id, true),
        Skills => catalog::skills(req, v),
        Surveys => catalog::surveys(desk, req),
        CannedResponseFolders => catalog::canned_response_folders(desk, req),
        CannedResponseFolder(id) => catalog::canned_responses_in(desk, req, id),
        CannedResponse(id) => catalog::canned_response_by_id(desk, id),
        ScenarioAutomations => catalog::scenario_automations(desk, req),
        CompanyFields => catalog::company_fields(desk, req),
        Products => catalog::products(desk, req),
        Product(id) => catalog::product_by_id(desk, id),
        EmailConfigs => catalog::support_address(desk, req, v, false),
        Mailboxes => catalog::support_address(desk, req, v, true),
        ContactsAutocomplete => catalog::contacts_autocomplete(desk, req),
        CompaniesAutocomplete => catalog::companies_autocomplete(desk, req),
        AgentsAutocomplete => catalog::agents_autocomplete(desk, req, v),
        SettingsHelpdesk => Ok(Reply::value(&serde_json::json!({
            "primary_language": "en",
            "supported_languages": [],
            "portal_languages": [],
        }))),
        Account => {
            v.require_admin()?;
            Ok(Reply::value(&crate::render::account(desk)))
        }
        SolutionCategories => resources::solution_categories(desk, req),
        SolutionCategory(id) => resources::solution_category(desk, id),
        SolutionCategoryFolders(id) => resources::solution_folders(desk, req, id),
        SolutionFolder(id) => resources::solution_folder(desk, id),
        SolutionFolderArticles(id) => resources::solution_articles(desk, req, id),
        SolutionFolderSubfolders(id) => resources::solution_subfolders(desk, req, id),
        SolutionArticle(id) => resources::solution_article(desk, id),
        _ => Err(ApiError::MethodNotAllowed {
            method: req.method.into(),
            allowed: route.methods().to_vec(),
        }),
    }
}

/// Runs a write (POST, PUT, DELETE) for an authenticated agent, under the write lock.
pub fn dispatch_write(
    desk: &mut HelpDesk,
    route: Route,
    req: &Req,
    v: &Viewer,
) -> Result<Reply, ApiError> {
    use Route::*;
    match (route, req.method) {
        (Tickets, "POST") => tickets::create(desk, req, v),
        (Ticket(id), "PUT") => tickets::update(desk, req, v, id),
        (Ticket(id), "DELETE") => tickets::delete(desk, req, v, id),
        (TicketRestore(id), "PUT") => tickets::restore(desk, req, v, id),
        (TicketReply(id), "POST") => {
            tickets::add_conversation(desk, req, v, id, tickets::Kind::Reply)
        }
        (TicketNotes(id), "POST") => {
            tickets::add_conversation(desk, req, v, id, tickets::Kind::Note)
        }
        (TicketForward(id), "POST") => {
            tickets::add_conversation(desk, req, v, id, tickets::Kind::Forward)
        }
        (Contacts, "POST") => people::create_contact(desk, req),
        (Contact(id), "PUT") => people::update_contact(desk, req, id),
        (Contact(id), "DELETE") => people::delete_contact(desk, req, id),
        (ContactRestore(id), "PUT") => people::restore_contact(desk, req, id),
        (ContactHardDelete(id), "DELETE") => people::hard_delete_contact(desk, req, id),
        (Agent(id), "DELETE") => people::delete_agent(desk, req, v, id),
        (Companies, "POST") => writes::create_company(desk, req),
        (Company(id), "PUT") => writes::update_company(desk, req, id),
        (Company(id), "DELETE") => writes::delete_company(desk, req, id),
        (Groups, "POST") => writes::create_group(desk, req, v),
        (Agents, "POST") => writes::create_agent(desk, req, v),
        (Agent(id), "PUT") => writes::update_agent(desk, req, v, id),
        (TicketTimeEntries(id), "POST") => writes::create_time_entry(desk, req, v, id),
        (Conversation(id), "PUT" | "DELETE") => writes::conversation(desk, req, v, id),
        (TicketSummary(id), "PUT" | "DELETE") => writes::write_summary(desk, req, v, id),
        (OutboundEmail, "POST") => writes::outbound_email(desk, req, v),
        (BulkUpdate, "POST") => writes::bulk(desk, req, v, false),
        (SlaPolicies, "POST") => writes::create_sla(desk, req, v),
        (SlaPolicy(id), "PUT") => writes::update_sla(desk, req, v, id),
        (BulkDelete, "POST") => writes::bulk(desk, req, v, true),
        (TimeEntry(id), "PUT" | "DELETE") => writes::time_entry(desk, req, v, id, false),
        (TimeEntryToggle(id), "PUT") => writes::time_entry(desk, req, v, id, true),
        (TicketWatch(id), "POST") => writes::watchers(desk, req, v, id, true),
        (TicketUnwatch(id), "PUT") => writes::watchers(desk, req, v, id, false),
        (TicketSatisfaction(id), "POST") => writes::rate(desk, req, v, id),
        (ContactMakeAgent(id), "PUT") => writes::make_agent(desk, req, v, id),
        (TicketMerge, "PUT") => links::merge(desk, req, v),
        (ArchivedTicket(id), "DELETE") => links::archived_delete(desk, v, id),
        (ForumCategories, "POST") => discussions::write_category(desk, req, v, None),
        (ForumCategory(id), "PUT") => discussions::write_category(desk, req, v, Some(id)),
        (ForumCategoryForums(id), "POST") => discussions::write_forum(desk, req, v, Some(id), None),
        (Forum(id), "PUT") => discussions::write_forum(desk, req, v, None, Some(id)),
        (ForumTopics(id), "POST") => discussions::write_topic(desk, req, v, Some(id), None),
        (Topic(id), "PUT") => discussions::write_topic(desk, req, v, None, Some(id)),
        (TopicComments(id), "POST") => discussions::write_comment(desk, req, v, Some(id), None),
        (Comment(id), "PUT") => discussions::write_comment(desk, req, v, None, Some(id)),
        (ForumCategory(id), "DELETE") => discussions::delete(desk, v, Item::Category(id)),
        (Forum(id), "DELETE") => discussions::delete(desk, v, Item::Forum(id)),
        (Topic(id), "DELETE") => discussions::delete(desk, v, Item::Topic(id)),
        (Comment(id), "DELETE") => discussions::delete(desk, v, Item::Comment(id)),
        _ => Err(ApiError::MethodNotAllowed {
            method: req.method.into(),
            allowed: route.methods().to_vec(),
        }),
    }
}

/// One page of a list, rendered, with `link` when there is a next page.
/// `rows` holds up to `per_page + 1` items: the extra one only says that more exist.
pub fn page_reply<T>(
    req: &Req,
    page: u32,
    per_page: u32,
    rows: Vec<T>,
    render: impl Fn(&T) -> Value,
) -> Reply {
    page_reply_direct(req, page, per_page, rows, render)
}

/// Like [`page_reply`], but serializes rows straight to bytes: the tickets list is the hot path of
/// every sync, and a detour through `Value` costs more than the rest of the request.
pub fn page_reply_direct<T, S: serde::Serialize>(
    req: &Req,
    page: u32,
    per_page: u32,
    mut rows: Vec<T>,
    view: impl Fn(&T) -> S,
) -> Reply {
    use serde::ser::{SerializeSeq, Serializer};
    let more = rows.len() > per_page as usize;
    rows.truncate(per_page as usize);
    let mut out = Vec::with_capacity(rows.len() * 1024);
    let mut ser = serde_json::Serializer::new(&mut out);
    let written = (|| -> Result<(), serde_json::Error> {
        let mut seq = ser.serialize_seq(Some(rows.len()))?;
        for r in &rows {
            seq.serialize_element(&view(r))?;
        }
        seq.end()
    })();
    if written.is_err() {
        out = b"[]".to_vec();
    }
    let mut reply = Reply::json(out);
    if more {
        reply.link = Some(next_link(req, page + 1));
    }
    reply
}

pub fn next_link(req: &Req, page: u32) -> String {
    format!(
        "<{}{}?{}>; rel=\"next\"",
        req.origin,
        req.path,
        req.query.with_page(page)
    )
}

/// Slices an iterator into one page: skips the earlier pages and keeps `per_page + 1` rows.
/// A plain list endpoint: `page` and `per_page` from the query (30 by default), the page of
/// `rows`, each rendered, with `link` when more follow.
pub fn listed<'a, T: 'a>(
    req: &Req,
    rows: impl Iterator<Item = &'a T>,
    render: impl Fn(&T) -> Value,
) -> Result<Reply, ApiError> {
    let (page, per_page) = query::paging(&req.query, 30).map_err(ApiError::Validation)?;
    let rows = take_page(rows, page, per_page);
    Ok(page_reply(req, page, per_page, rows, |r| render(r)))
}

pub fn take_page<I: Iterator>(iter: I, page: u32, per_page: u32) -> Vec<I::Item> {
    let skip = (page as usize - 1).saturating_mul(per_page as usize);
    iter.skip(skip).take(per_page as usize + 1).collect()
}

/// Parses a JSON object body, with Freshdesk's error for anything else.
pub fn json_body(req: &Req) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(req.body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) | Err(_) if req.body.iter().all(u8::is_ascii_whitespace) => {
            Ok(serde_json::Map::new())
        }
        _ => Err(ApiError::invalid_json()),
    }
}
