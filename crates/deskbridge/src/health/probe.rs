//! What one health check finds: the causes an integration can break with (each with its own
//! words and fix), a check's finding, how a Freshdesk error maps to one, and the probe itself
//! (`/agents/me` and one admin-only call, compared with what was connected).

use freshdesk::models::{Agent, TicketScope};
use freshdesk::{Client, Error as FdError, Priority};
use serde::Serialize;

use crate::connections::Status;
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

/// Why an integration is not healthy. Each has its own words and fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    KeyRejected,
    AgentDeleted,
    AdminRemoved,
    PasswordLockout,
    AccountSuspended,
    DomainNotFound,
    BlockedAddress,
    KeyUnreadable,
    Unavailable,
}

impl Cause {
    pub fn code(self) -> &'static str {
        match self {
            Cause::KeyRejected => "key_rejected",
            Cause::AgentDeleted => "agent_deleted",
            Cause::AdminRemoved => "admin_removed",
            Cause::PasswordLockout => "password_lockout",
            Cause::AccountSuspended => "account_suspended",
            Cause::DomainNotFound => "domain_not_found",
            Cause::BlockedAddress => "blocked_address",
            Cause::KeyUnreadable => "key_unreadable",
            Cause::Unavailable => "unavailable",
        }
    }

    pub fn parse(code: &str) -> Option<Cause> {
        [
            Cause::KeyRejected,
            Cause::AgentDeleted,
            Cause::AdminRemoved,
            Cause::PasswordLockout,
            Cause::AccountSuspended,
            Cause::DomainNotFound,
            Cause::BlockedAddress,
            Cause::KeyUnreadable,
            Cause::Unavailable,
        ]
        .into_iter()
        .find(|c| c.code() == code)
    }

    /// What happened, in plain words.
    pub fn title(self) -> &'static str {
        match self {
            Cause::KeyRejected => "Freshdesk rejected the API key",
            Cause::AgentDeleted => "The integration user was deleted in Freshdesk",
            Cause::AdminRemoved => "The integration user is no longer an admin",
            Cause::PasswordLockout => "The integration user's login is locked",
            Cause::AccountSuspended => "The Freshdesk account is suspended",
            Cause::DomainNotFound => "There is no Freshdesk account at this domain any more",
            Cause::BlockedAddress => "The domain now points to an internal address",
            Cause::KeyUnreadable => "The stored API key cannot be read",
            Cause::Unavailable => "Freshdesk is unavailable",
        }
    }

    /// What to do about it.
    pub fn fix(self) -> &'static str {
        match self {
            Cause::KeyRejected => {
                "The key was reset, or the integration user was deactivated. Reactivate the user, or paste its current key (Profile settings in Freshdesk) under Re-authorize, or re-authorize with another admin's key."
            }
            Cause::AgentDeleted => {
                "Restore the agent in Freshdesk (Admin › Team › Agents › Deleted), or re-authorize with another admin's key."
            }
            Cause::AdminRemoved => {
                "Give the integration user the Administrator role back in Freshdesk (Admin › Team › Agents), or re-authorize with another admin's key."
            }
            Cause::PasswordLockout => "Unlock the user in Freshdesk, then wait for the next check.",
            Cause::AccountSuspended => {
                "Reactivate the Freshdesk account (usually billing); deskbridge resumes by itself."
            }
            Cause::DomainNotFound => {
                "If the account was renamed, disconnect and connect again with the new domain."
            }
            Cause::BlockedAddress => {
                "deskbridge refuses to call internal addresses. Check the domain's DNS."
            }
            Cause::KeyUnreadable => {
                "deskbridge cannot decrypt the key it stored for this integration: the stored row was altered or restored from elsewhere, or the master key version that sealed it is no longer configured. Re-authorize with the integration user's API key; the synced data is kept."
            }
            Cause::Unavailable => {
                "Nothing to do on your side: Freshdesk is failing or not answering. deskbridge keeps checking and resumes by itself."
            }
        }
    }

    /// The status this cause puts an integration in.
    pub fn status(self) -> Status {
        match self {
            Cause::Unavailable => Status::Unavailable,
            _ => Status::NeedsAttention,
        }
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

pub(super) fn classify(e: &FdError, admin_call: bool) -> Finding {
    match e {
        FdError::InvalidCredentials => Finding::Broken(Cause::KeyRejected),
        FdError::AccessDenied if admin_call => Finding::Broken(Cause::AdminRemoved),
        FdError::AccessDenied => Finding::Broken(Cause::AgentDeleted),
        FdError::PasswordLockout => Finding::Broken(Cause::PasswordLockout),
        FdError::AccountSuspended => Finding::Broken(Cause::AccountSuspended),
        FdError::DomainNotFound => Finding::Broken(Cause::DomainNotFound),
        FdError::BlockedAddress(_) => Finding::Broken(Cause::BlockedAddress),
        other => Finding::Failing(other.to_string()),
    }
}

/// Whether a sync error means the connection itself may be broken (check at once).
pub fn is_auth_error(e: &FdError) -> bool {
    matches!(
        e,
        FdError::InvalidCredentials
            | FdError::AccessDenied
            | FdError::PasswordLockout
            | FdError::AccountSuspended
            | FdError::DomainNotFound
    )
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
        Err(e) => return classify(&e, false),
    };
    if let Err(e) = client
        .get::<serde_json::Value>("roles", Priority::Interactive)
        .await
    {
        return classify(&e, true);
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
