//! What the accounts module is made of: its error, a user's role, a user, how users are read,
//! and the random tokens and hashes sessions and API tokens use.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::{Digest, Sha256};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("that email or password is not right")]
    InvalidLogin,
    #[error("too many failed sign-ins; wait a few minutes and try again")]
    Throttled { retry_after_secs: u64 },
    #[error("the server is busy signing people in; try again in a moment")]
    Busy,
    #[error("{0}")]
    InputTooLong(&'static str),
    #[error("{0}")]
    WeakPassword(String),
    #[error("an account with that email already exists")]
    EmailTaken,
    #[error("enter a valid email address")]
    BadEmail,
    #[error("give the organisation a name of 1 to 200 characters")]
    BadName,
    #[error("no such user")]
    NoSuchUser,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AccountError {
    fn from(e: sqlx::Error) -> Self {
        AccountError::Store(StoreError::Query(e))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Manages integrations.
    Admin,
    /// Can view.
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub(super) fn parse(s: &str) -> Role {
        if s == "admin" {
            Role::Admin
        } else {
            Role::Member
        }
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: i64,
    pub org_id: i64,
    pub org_name: String,
    pub email: String,
    pub role: Role,
    /// Integrations of the organisation that need attention (id, domain, what happened), for the
    /// banner on every page; filled in by the web layer.
    pub attention: Vec<(i64, String, String)>,
}

pub fn random_token() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the OS random number generator");
    B64.encode(b)
}

pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
}

pub(super) type UserRow = (i64, i64, String, String, String, String, i64);

pub(super) const USER_SELECT: &str = "SELECT u.id, u.org_id, o.name, u.email, u.role, u.password_hash, u.disabled FROM users u JOIN organisations o ON o.id = u.org_id";

pub(super) fn to_user(r: UserRow) -> User {
    User {
        id: r.0,
        org_id: r.1,
        org_name: r.2,
        email: r.3,
        role: Role::parse(&r.4),
        attention: Vec::new(),
    }
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
