//! Sessions: random 256-bit tokens stored only as SHA-256 hashes, with idle and absolute
//! timeouts, a fresh id at every sign-in and a server-side delete at sign-out.

use secrecy::{ExposeSecret, SecretString};

use crate::store::Store;

use super::model::{AccountError, Role, User, now_ms, random_token, token_hash};

/// A new session: the raw token goes into the cookie, only its hash into the database.
pub struct NewSession {
    pub token: SecretString,
    pub csrf: String,
}

pub async fn start_session(store: &Store, user_id: i64) -> Result<NewSession, AccountError> {
    let token = random_token();
    let csrf = random_token();
    let t = now_ms();
    sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf_token, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5)").bind(token_hash(&token)).bind(user_id).bind(&csrf).bind(t).bind(t).execute(&store.pool).await?;
    Ok(NewSession {
        token: SecretString::from(token),
        csrf,
    })
}

#[derive(Clone, Debug)]
pub struct Session {
    pub id_hash: String,
    pub user: User,
    pub csrf: String,
    /// What this caller may do: every right for a person signed in, a token's scopes otherwise.
    pub scopes: super::tokens::Scopes,
}

/// Resolves a session cookie, enforcing the timeouts (an expired session is deleted).
/// csrf, created, last seen, user id, org id, org name, email, role, disabled.
type SessionRow = (String, i64, i64, i64, i64, String, String, String, i64);

pub async fn session(
    store: &Store,
    token: &str,
    idle_secs: u64,
    absolute_secs: u64,
) -> Result<Option<Session>, AccountError> {
    let id_hash = token_hash(token);
    // One round trip for the session and its user: this runs on every authenticated request.
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT s.csrf_token, s.created_at, s.last_seen_at, u.id, u.org_id, o.name, u.email, u.role, u.disabled \
         FROM sessions s JOIN users u ON u.id = s.user_id JOIN organisations o ON o.id = u.org_id WHERE s.id_hash = $1",
    )
    .bind(&id_hash)
    .fetch_optional(&store.pool)
    .await?;
    let Some((csrf, created, seen, user_id, org_id, org_name, email, role, disabled)) = row else {
        return Ok(None);
    };
    let t = now_ms();
    let (idle, absolute) = (idle_secs as i64 * 1000, absolute_secs as i64 * 1000);
    if t - seen > idle || t - created > absolute || disabled != 0 {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(&id_hash)
            .execute(&store.pool)
            .await?;
        return Ok(None);
    }
    // Refresh the idle clock at most every 30 s (or half the idle timeout, if shorter).
    if t - seen >= (idle / 2).min(30_000) {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(t)
            .bind(&id_hash)
            .execute(&store.pool)
            .await?;
    }
    Ok(Some(Session {
        id_hash,
        user: User {
            id: user_id,
            org_id,
            org_name,
            email,
            role: Role::parse(&role),
            attention: Vec::new(),
        },
        csrf,
        scopes: super::tokens::Scopes::all(),
    }))
}

pub async fn end_session(store: &Store, id_hash: &str) -> Result<(), AccountError> {
    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(&store.pool)
        .await?;
    Ok(())
}

pub fn expose(token: &SecretString) -> &str {
    token.expose_secret()
}
