//! Organisations and their people: creating an organisation with its first admin, users, and
//! setting a password (which ends the user's sessions). Passwords, sign-in with its throttle,
//! sessions and API tokens each have a file of their own.

mod model;
mod passwords;
mod sessions;
mod signin;
pub mod tokens;

pub use model::{AccountError, Role, User, random_token, token_hash};
pub use passwords::{
    MAX_EMAIL_BYTES, MAX_PASSWORD_BYTES, check_input_sizes, check_password_strength,
    check_password_strength_for, hash_password,
};
pub use sessions::{NewSession, Session, end_session, expose, session, start_session};
pub use signin::{LoginLimits, authenticate};

use crate::store::{Store, now};
use model::valid_email;

pub async fn create_org(store: &Store, name: &str) -> Result<i64, AccountError> {
    let (id,): (i64,) =
        sqlx::query_as("INSERT INTO organisations (name, created_at) VALUES ($1, $2) RETURNING id")
            .bind(name)
            .bind(now())
            .fetch_one(&store.pool)
            .await?;
    Ok(id)
}

/// A new organisation with its first admin, all or nothing: every input is checked before
/// anything is written, and both rows go in one transaction, so a refused password or a taken
/// email leaves no organisation without an admin behind.
pub async fn create_org_with_admin(
    store: &Store,
    name: &str,
    email: &str,
    password: &str,
) -> Result<(i64, i64), AccountError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(AccountError::BadName);
    }
    let email = email.trim().to_ascii_lowercase();
    check_input_sizes(&email, password)?;
    if !valid_email(&email) {
        return Err(AccountError::BadEmail);
    }
    check_password_strength_for(password, &[&email, name])?;
    let hash = hash_password(password);
    let mut tx = store.pool.begin().await?;
    let (org_id,): (i64,) =
        sqlx::query_as("INSERT INTO organisations (name, created_at) VALUES ($1, $2) RETURNING id")
            .bind(name)
            .bind(now())
            .fetch_one(&mut *tx)
            .await?;
    let r: Result<(i64,), sqlx::Error> = sqlx::query_as("INSERT INTO users (org_id, email, password_hash, role, created_at) VALUES ($1, $2, $3, 'admin', $4) RETURNING id")
        .bind(org_id)
        .bind(&email)
        .bind(hash)
        .bind(now())
        .fetch_one(&mut *tx)
        .await;
    let user_id = match r {
        Ok((id,)) => id,
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
            return Err(AccountError::EmailTaken);
        }
        Err(e) => return Err(e.into()),
    };
    tx.commit().await?;
    Ok((org_id, user_id))
}

pub async fn create_user(
    store: &Store,
    org_id: i64,
    email: &str,
    password: &str,
    role: Role,
) -> Result<i64, AccountError> {
    let email = email.trim().to_ascii_lowercase();
    check_input_sizes(&email, password)?;
    if !valid_email(&email) {
        return Err(AccountError::BadEmail);
    }
    check_password_strength_for(password, &[&email])?;
    let hash = hash_password(password);
    let r: Result<(i64,), sqlx::Error> = sqlx::query_as("INSERT INTO users (org_id, email, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id").bind(org_id).bind(&email).bind(hash).bind(role.as_str()).bind(now()).fetch_one(&store.pool).await;
    match r {
        Ok((id,)) => Ok(id),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Err(AccountError::EmailTaken),
        Err(e) => Err(e.into()),
    }
}

pub async fn set_password(store: &Store, email: &str, password: &str) -> Result<(), AccountError> {
    let email = email.trim().to_ascii_lowercase();
    check_input_sizes(&email, password)?;
    check_password_strength_for(password, &[&email])?;
    let mut tx = store.pool.begin().await?;
    let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM users WHERE email = $1")
        .bind(&email)
        .fetch_optional(&mut *tx)
        .await?;
    let (id,) = row.ok_or(AccountError::NoSuchUser)?;
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash_password(password))
        .bind(id)
        .execute(&mut *tx)
        .await?;
    // A new password ends every session of that user.
    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// An active user by email (operator commands act as them).
pub async fn user_by_email(store: &Store, email: &str) -> Result<Option<User>, AccountError> {
    let row: Option<(i64, i64, String, String, String)> = sqlx::query_as(
        "SELECT u.id, u.org_id, o.name, u.email, u.role FROM users u JOIN organisations o ON o.id = u.org_id WHERE u.email = $1 AND u.disabled = 0",
    )
    .bind(email.trim().to_lowercase())
    .fetch_optional(&store.pool)
    .await?;
    Ok(row.map(|(id, org_id, org_name, email, role)| User {
        id,
        org_id,
        org_name,
        email,
        role: Role::parse(&role),
        attention: Vec::new(),
    }))
}
