//! The list endpoints deskbridge reads, each a type that knows its path, its change filter and
//! the model its records decode into. [`list`] walks one as a page stream of typed records (the
//! raw JSON kept beside each), so the server names resources, never paths.

use chrono::{DateTime, Utc};
use futures_util::Stream;

use crate::client::Client;
use crate::error::Error;
use crate::governor::Priority;
use crate::models::{
    Agent, BusinessHour, Company, Contact, Conversation, Group, Record, Role, SatisfactionRating,
    SlaPolicy, SolutionArticle, SolutionCategory, SolutionFolder, TicketField, TimeEntry,
};
use crate::paging::{format_since, pages};

/// A list endpoint: where it is and what its records are.
pub trait Endpoint {
    type Item: serde::de::DeserializeOwned + Send + 'static;

    /// The first page, relative to `/api/v2/`, with the largest page size it serves.
    fn path(&self) -> String;

    /// The change filter it takes (`updated_since`, `created_since`), if any.
    fn since_param(&self) -> Option<&'static str> {
        None
    }
}

/// Every page of an endpoint, changed at or after `since` when it has a change filter.
pub fn list<E: Endpoint>(
    client: Client,
    endpoint: &E,
    since: Option<DateTime<Utc>>,
    priority: Priority,
) -> impl Stream<Item = Result<Vec<Record<E::Item>>, Error>> + Send + use<E> {
    pages::<E::Item>(client, first_page(endpoint, since), priority)
}

/// The first page's path: the endpoint's, with its change filter when it has one and `since` is
/// given.
pub fn first_page<E: Endpoint>(endpoint: &E, since: Option<DateTime<Utc>>) -> String {
    let path = endpoint.path();
    match (endpoint.since_param(), since) {
        (Some(param), Some(since)) => {
            let sep = if path.contains('?') { '&' } else { '?' };
            format!("{path}{sep}{param}={}", format_since(since))
        }
        _ => path,
    }
}

/// Which contacts a `GET /contacts` lists: the default view holds neither blocked nor deleted
/// ones, so a full copy walks all three.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContactState {
    Active,
    Blocked,
    Deleted,
}

pub struct Contacts(pub ContactState);
pub struct Companies;
pub struct SatisfactionRatings;
pub struct Agents;
pub struct Roles;
pub struct Groups;
pub struct TicketFields;
pub struct BusinessHours;
pub struct SlaPolicies;
pub struct TimeEntries;
pub struct SolutionCategories;
pub struct SolutionFolders {
    pub category: i64,
}
pub struct SolutionArticles {
    pub folder: i64,
}
pub struct Conversations {
    pub ticket: i64,
}

impl Endpoint for Contacts {
    type Item = Contact;
    fn path(&self) -> String {
        match self.0 {
            ContactState::Active => "contacts?per_page=100".into(),
            ContactState::Blocked => "contacts?per_page=100&state=blocked".into(),
            ContactState::Deleted => "contacts?per_page=100&state=deleted".into(),
        }
    }
    fn since_param(&self) -> Option<&'static str> {
        Some("updated_since")
    }
}

/// Endpoints with a change filter, with their path, model and filter.
macro_rules! incremental {
    ($($name:ident => $item:ty, $path:expr, $param:expr;)*) => {$(
        impl Endpoint for $name {
            type Item = $item;
            fn path(&self) -> String {
                $path.into()
            }
            fn since_param(&self) -> Option<&'static str> {
                Some($param)
            }
        }
    )*};
}

incremental! {
    Companies => Company, "companies?per_page=100", "updated_since";
    // Ratings are listed by when they were given.
    SatisfactionRatings => SatisfactionRating, "surveys/satisfaction_ratings?per_page=100", "created_since";
}

/// Endpoints read whole (no change filter), with their path and model.
macro_rules! whole {
    ($($name:ident => $item:ty, $path:expr;)*) => {$(
        impl Endpoint for $name {
            type Item = $item;
            fn path(&self) -> String {
                $path.into()
            }
        }
    )*};
}

whole! {
    Agents => Agent, "agents?per_page=100";
    Roles => Role, "roles?per_page=100";
    Groups => Group, "groups?per_page=100";
    // Ticket fields come in one unpaged list.
    TicketFields => TicketField, "ticket_fields";
    BusinessHours => BusinessHour, "business_hours?per_page=100";
    SlaPolicies => SlaPolicy, "sla_policies?per_page=100";
    TimeEntries => TimeEntry, "time_entries?per_page=100";
    SolutionCategories => SolutionCategory, "solutions/categories";
}

impl Endpoint for SolutionFolders {
    type Item = SolutionFolder;
    fn path(&self) -> String {
        format!("solutions/categories/{}/folders", self.category)
    }
}

impl Endpoint for SolutionArticles {
    type Item = SolutionArticle;
    fn path(&self) -> String {
        format!("solutions/folders/{}/articles?per_page=100", self.folder)
    }
}

impl Endpoint for Conversations {
    type Item = Conversation;
    fn path(&self) -> String {
        format!("tickets/{}/conversations?per_page=100", self.ticket)
    }
}

/// The path of one ticket.
pub fn ticket(id: i64) -> String {
    format!("tickets/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_filter_is_added_only_where_the_endpoint_takes_one() {
        let since = DateTime::from_timestamp(1_700_000_000, 0);
        assert_eq!(
            first_page(&Contacts(ContactState::Blocked), since),
            "contacts?per_page=100&state=blocked&updated_since=2023-11-14T22:13:20Z"
        );
        assert_eq!(
            first_page(&SatisfactionRatings, since),
            "surveys/satisfaction_ratings?per_page=100&created_since=2023-11-14T22:13:20Z"
        );
        assert_eq!(first_page(&Agents, since), "agents?per_page=100");
        assert_eq!(first_page(&TicketFields, since), "ticket_fields");
        assert_eq!(first_page(&Companies, None), "companies?per_page=100");
        assert_eq!(
            first_page(&SolutionArticles { folder: 7 }, since),
            "solutions/folders/7/articles?per_page=100"
        );
    }
}
