//! How connecting, re-authorizing and building a client can fail.

use freshdesk::Error as FdError;
use freshdesk::check::ConnectionReport;

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
