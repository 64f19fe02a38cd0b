//! API tokens: created by an admin in Settings, shown once, stored only as a SHA-256 hash, sent as
//! `Authorization: Bearer dbt_…`, and acting as the admin who created them, within their scopes:
//! `records:read` (the synced copy's records and changes), `integrations:write` (the
//! integrations API) and `admin` (everything the admin can do). Tokens made before scopes existed
//! hold `admin`.

use secrecy::SecretString;

use crate::store::{Store, now};

use super::model::{AccountError, USER_SELECT, User, UserRow, random_token, to_user, token_hash};

pub const PREFIX: &str = "dbt_";

/// One right a token can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    RecordsRead,
    IntegrationsWrite,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::RecordsRead, Scope::IntegrationsWrite, Scope::Admin];

    pub fn code(self) -> &'static str {
        match self {
            Scope::RecordsRead => "records:read",
            Scope::IntegrationsWrite => "integrations:write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.code() == s)
    }
}

/// Why a list of scopes was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error("unknown scope {0:?}: use records:read, integrations:write or admin")]
    Unknown(String),
    #[error("give the token at least one scope")]
    None,
}

/// The rights a caller holds: a token's scopes, or every right for a signed-in person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

impl Scopes {
    pub fn all() -> Scopes {
        Scopes(Scope::ALL.to_vec())
    }

    /// Parses a space- or comma-separated list; an unknown scope or an empty list is refused.
    pub fn parse(text: &str) -> Result<Scopes, ScopeError> {
        let mut out = Vec::new();
        for word in text.split([' ', ',']).filter(|w| !w.is_empty()) {
            let scope = Scope::parse(word).ok_or_else(|| ScopeError::Unknown(word.into()))?;
            if !out.contains(&scope) {
                out.push(scope);
            }
        }
        if out.is_empty() {
            return Err(ScopeError::None);
        }
        Ok(Scopes(out))
    }

    /// Whether these scopes allow what `needed` names; `admin` allows everything.
    pub fn allow(&self, needed: Scope) -> bool {
        self.0.contains(&Scope::Admin) || self.0.contains(&needed)
    }

    pub fn text(&self) -> String {
        let codes: Vec<&str> = self.0.iter().map(|s| s.code()).collect();
        codes.join(" ")
    }
}

pub struct Token {
    pub id: i64,
    pub name: String,
    pub scopes: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

pub async fn create(
    store: &Store,
    user: &User,
    name: &str,
    scopes: &Scopes,
) -> Result<SecretString, AccountError> {
    let token = format!("{PREFIX}{}", random_token());
    sqlx::query("INSERT INTO api_tokens (org_id, user_id, name, token_hash, created_at, scopes) VALUES ($1, $2, $3, $4, $5, $6)").bind(user.org_id).bind(user.id).bind(name).bind(token_hash(&token)).bind(now()).bind(scopes.text()).execute(&store.pool).await?;
    Ok(SecretString::from(token))
}

pub async fn list(store: &Store, org_id: i64) -> Result<Vec<Token>, AccountError> {
    let rows: Vec<(i64, String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT id, name, scopes, created_at, last_used_at FROM api_tokens WHERE org_id = $1 ORDER BY id",
    )
    .bind(org_id)
    .fetch_all(&store.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, scopes, created_at, last_used_at)| Token {
            id,
            name,
            scopes,
            created_at,
            last_used_at,
        })
        .collect())
}

pub async fn revoke(store: &Store, org_id: i64, id: i64) -> Result<bool, AccountError> {
    let r = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND org_id = $2")
        .bind(id)
        .bind(org_id)
        .execute(&store.pool)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// The user a bearer token acts as and the token's scopes, if the token exists and its user is
/// enabled.
pub async fn resolve(store: &Store, token: &str) -> Result<Option<(User, Scopes)>, AccountError> {
    if !token.starts_with(PREFIX) {
        return Ok(None);
    }
    let hash = token_hash(token);
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT user_id, scopes FROM api_tokens WHERE token_hash = $1")
            .bind(&hash)
            .fetch_optional(&store.pool)
            .await?;
    let Some((user_id, scopes)) = row else {
        return Ok(None);
    };
    // A stored set that no longer parses grants nothing rather than everything.
    let scopes = Scopes::parse(&scopes).unwrap_or(Scopes(Vec::new()));
    let user: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{USER_SELECT} WHERE u.id = $1"
    )))
    .bind(user_id)
    .fetch_optional(&store.pool)
    .await?;
    let Some(user) = user.filter(|u| u.6 == 0) else {
        return Ok(None);
    };
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2")
        .bind(now())
        .bind(&hash)
        .execute(&store.pool)
        .await?;
    Ok(Some((to_user(user), scopes)))
}
