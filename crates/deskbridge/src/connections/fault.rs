//! What a Freshdesk error means to deskbridge, decided in one place. [`fault`] sorts an error by
//! the call that met it: the connection is broken (a health [`Cause`], with its own words and
//! fix), this one endpoint is unavailable to the account or role (a stream is skipped with a
//! reason), the key was revoked mid-call, or Freshdesk is failing (try again later).
//! [`explain`] gives the plain words an admin reads when a check or a run fails. Connect, health
//! checks, stream skips and run failures all use these two.

use freshdesk::{Error as FdError, FreshdeskDomain};
use serde::Serialize;

use super::table::Status;

/// Which kind of call met the error: the same 403 means different things on each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `/agents/me`, the account's root: a 403 there means the user is no longer an agent.
    Root,
    /// An admin-only call: a 403 there means the user lost the admin role.
    Admin,
    /// Reading one stream: a 403 or 404 there is about that endpoint, not the connection.
    Data,
}

/// What an error means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The connection itself is broken.
    Broken(Cause),
    /// This endpoint is not available to this account or role; the rest goes on.
    Unavailable(&'static str),
    /// The key was removed or replaced while the call ran.
    Revoked,
    /// Freshdesk failed or refused this once; worth trying again later.
    Failing,
}

pub fn fault(e: &FdError, call: Call) -> Fault {
    match (e, call) {
        (FdError::InvalidCredentials, _) => Fault::Broken(Cause::KeyRejected),
        (FdError::AccessDenied, Call::Root) => Fault::Broken(Cause::AgentDeleted),
        (FdError::AccessDenied, Call::Admin) => Fault::Broken(Cause::AdminRemoved),
        (FdError::AccessDenied, Call::Data) => {
            Fault::Unavailable("the integration user's role is not allowed to read it")
        }
        (FdError::PasswordLockout, _) => Fault::Broken(Cause::PasswordLockout),
        (FdError::AccountSuspended, _) => Fault::Broken(Cause::AccountSuspended),
        (FdError::DomainNotFound, _) => Fault::Broken(Cause::DomainNotFound),
        (FdError::BlockedAddress(_), _) => Fault::Broken(Cause::BlockedAddress),
        (FdError::FeatureNotInPlan, Call::Data) => {
            Fault::Unavailable("not included in this Freshdesk plan")
        }
        (FdError::NotFound, Call::Data) => {
            Fault::Unavailable("not available on this Freshdesk account")
        }
        (FdError::Revoked, _) => Fault::Revoked,
        _ => Fault::Failing,
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
    /// Reads work, but Freshdesk refused a product's write: write-back is paused.
    CannotWrite,
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
            Cause::CannotWrite => "cannot_write",
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
            Cause::CannotWrite,
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
            Cause::CannotWrite => {
                "Triage cannot write: the integration user lacks permission to edit these tickets"
            }
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
            Cause::CannotWrite => {
                "Syncing goes on; write-back is paused. In Freshdesk, give the integration user an Administrator role whose ticket scope covers these tickets (Global, or their groups), then switch write-back on again on the Triage page."
            }
        }
    }

    /// The status this cause puts an integration in.
    pub fn status(self) -> Status {
        match self {
            Cause::Unavailable => Status::Unavailable,
            Cause::CannotWrite => Status::ConnectedWithWarnings,
            _ => Status::NeedsAttention,
        }
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
