//! What one health check finds: a check's finding (the causes are `connections::fault`'s, the one
//! place a Freshdesk error is given a meaning), and the probe itself (`/agents/me` and one
//! admin-only call, compared with what was connected).

use freshdesk::endpoints::{Endpoint, Roles};
use freshdesk::models::{Agent, TicketScope};
use freshdesk::{Client, Error as FdError, Priority};

pub use crate::connections::fault::Cause;
use crate::connections::fault::{Call, Fault, fault};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the integration is gone")]
    Gone,
    #[error(transparent)]
    Queue(#[from] crate::jobs::QueueError),
}

impl From<sqlx::Error> for HealthError {
    fn from(e: sqlx::Error) -> Self {
        HealthError::Store(StoreError::Query(e))
    }
}

/// One check's finding.
#[derive(Debug, Clone)]
pub enum Finding {
    /// Working; warnings keep it usable but tell the admin something changed.
    Healthy { warnings: Vec<String> },
    /// Broken with a cause.
    Broken(Cause),
    /// Freshdesk failed to answer properly; counts toward "unavailable".
    Failing(String),
}

pub(super) fn classify(e: &FdError, call: Call) -> Finding {
    match fault(e, call) {
        Fault::Broken(cause) => Finding::Broken(cause),
        _ => Finding::Failing(e.to_string()),
    }
}

fn scope_name(s: TicketScope) -> &'static str {
    match s {
        TicketScope::Global => "Global",
        TicketScope::Group => "Groups",
        TicketScope::Restricted => "Restricted",
        _ => "Unknown",
    }
}

/// Calls `/agents/me` and one admin-only endpoint, and compares with what was connected.
pub async fn probe(client: &Client, connected_scope: &str, was_occasional: bool) -> Finding {
    // `me` marks the call as the account's root: a 404 there means no account at this domain.
    let me: Agent = match client.me(Priority::Interactive).await {
        Ok(a) => a,
        Err(e) => return classify(&e, Call::Root),
    };
    if let Err(e) = client
        .get::<serde_json::Value>(&Roles.path(), Priority::Interactive)
        .await
    {
        return classify(&e, Call::Admin);
    }
    let mut warnings = Vec::new();
    let scope = scope_name(me.ticket_scope);
    if scope != connected_scope && connected_scope == "Global" {
        warnings.push(format!(
            "The integration user's ticket scope was narrowed from Global to {scope}: tickets outside its groups are no longer visible."
        ));
    }
    if me.occasional && !was_occasional {
        warnings.push("The integration user was turned into an occasional agent: it uses a day pass whenever it signs in. Make it a full-time agent.".into());
    }
    Finding::Healthy { warnings }
}
