//! How connecting, re-authorizing and building a client can fail, and the plain words for each
//! way a Freshdesk connection check can fail.

use freshdesk::check::ConnectionReport;
use freshdesk::{Error as FdError, FreshdeskDomain};

use crate::store::StoreError;
use crate::vault::VaultError;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Domain(#[from] freshdesk::DomainError),
    #[error("{0}")]
    Key(#[from] freshdesk::ApiKeyError),
    /// Freshdesk (or the path to it) refused; the message says what to do.
    #[error("{0}")]
    Refused(String),
    #[error(
        "This user is not an admin in Freshdesk, so deskbridge could not read agents, groups and roles. Give it the Administrator role in Admin > Team > Agents, or use the dedicated integration user's key."
    )]
    NotAdmin(Box<ConnectionReport>),
    #[error(
        "Freshdesk at {0} is already connected. Use Re-authorize on its page to change the key."
    )]
    AlreadyConnected(String),
    #[error(
        "This key belongs to {new}, not {old}. Confirm to switch the integration to the other agent."
    )]
    DifferentAgent {
        old: String,
        new: String,
        report: Box<ConnectionReport>,
    },
    #[error("the Freshdesk client could not be set up")]
    Client(#[source] FdError),
    #[error("not found")]
    NotFound,
    #[error("only admins can manage integrations")]
    Forbidden,
    #[error(transparent)]
    Queue(#[from] crate::jobs::QueueError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ConnectError {
    fn from(e: sqlx::Error) -> Self {
        ConnectError::Store(StoreError::Query(e))
    }
}

/// Plain words for each way a check can fail.
pub fn explain(e: &FdError, domain: &FreshdeskDomain) -> String {
    match e {
        FdError::InvalidCredentials => "This API key was rejected. It may have been reset, or its user deleted or deactivated. Copy the key again from Profile Settings in Freshdesk.".into(),
        FdError::AccessDenied => "Freshdesk denied access with this key: its user is no longer an agent (perhaps deleted and turned into a contact). Use an active admin's key.".into(),
        FdError::AccountSuspended => format!("The Freshdesk account at {domain} is suspended. Reactivate it in Freshdesk, then try again."),
        FdError::PasswordLockout => "This Freshdesk login is locked after too many failed attempts. Unlock it in Freshdesk, then try again.".into(),
        FdError::DomainNotFound => format!("No Freshdesk account at {domain}. Check the domain: it is the name in https://<name>.freshdesk.com."),
        FdError::FeatureNotInPlan => "The Freshdesk plan does not include a feature deskbridge needs (agents, roles and groups). Check the plan under Admin › Account › Plans & Billing in Freshdesk.".into(),
        FdError::Revoked => "The key was removed or replaced while this was running. Try again.".into(),
        FdError::BlockedAddress(_) => format!("{domain} resolves to an internal address, so deskbridge will not connect to it."),
        FdError::RateLimited { .. } => "Freshdesk's rate limit is used up right now. Wait a minute and try again.".into(),
        FdError::Transient(_) | FdError::TooLarge { .. } => format!("Freshdesk at {domain} did not answer properly. It may be having trouble; try again in a few minutes."),
        _ => format!("Freshdesk at {domain} gave an unexpected answer. Try again; if it keeps happening, contact support."),
    }
}
