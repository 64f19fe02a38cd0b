//! API tokens: created by an admin in Settings, shown once, stored only as a SHA-256 hash, sent as
//! `Authorization: Bearer dbt_…`, and acting as the admin who created them.

use secrecy::SecretString;

use crate::store::{Store, now};

use super::model::{AccountError, USER_SELECT, User, UserRow, random_token, to_user, token_hash};

pub const PREFIX: &str = "dbt_";

pub struct Token {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

pub async fn create(store: &Store, user: &User, name: &str) -> Result<SecretString, AccountError> {
    let token = format!("{PREFIX}{}", random_token());
    sqlx::query("INSERT INTO api_tokens (org_id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)").bind(user.org_id).bind(user.id).bind(name).bind(token_hash(&token)).bind(now()).execute(&store.pool).await?;
    Ok(SecretString::from(token))
}

pub async fn list(store: &Store, org_id: i64) -> Result<Vec<Token>, AccountError> {
    let rows: Vec<(i64, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT id, name, created_at, last_used_at FROM api_tokens WHERE org_id = $1 ORDER BY id",
    )
    .bind(org_id)
    .fetch_all(&store.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, created_at, last_used_at)| Token {
            id,
            name,
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

/// The user a bearer token acts as, if the token exists and its user is enabled.
pub async fn resolve(store: &Store, token: &str) -> Result<Option<User>, AccountError> {
    if !token.starts_with(PREFIX) {
        return Ok(None);
    }
    let hash = token_hash(token);
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT user_id FROM api_tokens WHERE token_hash = $1")
            .bind(&hash)
            .fetch_optional(&store.pool)
            .await?;
    let Some((user_id,)) = row else {
        return Ok(None);
    };
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
    Ok(Some(to_user(user)))
}
