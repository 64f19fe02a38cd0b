//! Sign-in: the throttle (three counters, each reserved by one atomic statement before the
//! password is checked; see [`LoginLimits`]) and [`authenticate`]. An unknown user costs the same
//! hash as a wrong password and gets the same answer.

use crate::store::Store;

use super::model::{AccountError, USER_SELECT, User, UserRow, now_ms, to_user};
use super::passwords::{
    check_input_sizes, dummy_hash, hash_slots, on_hash_thread, verify_password,
};

/// Sign-in throttling. Three counters, each one row of `login_throttle`:
///
/// 1. **Account and client** (`pair:`): at most `pair_max` failed attempts of one client on one
///    account per window; further attempts from that client on that account are refused (429)
///    until the window ends. A success clears it. This is what stops guessing.
/// 2. **Client** (`client:`): at most `client_max` failed attempts of one client over all accounts
///    per window, so one address cannot spray many accounts.
/// 3. **Account** (`account:`): once an account has `account_slow_after` failures in the window
///    from any clients, attempts on it are admitted at most one per `account_spacing_ms`; the
///    others are answered 429 with a one-second `Retry-After`. That slows a guesser spread over
///    many addresses, but never refuses anyone for long: a different client with the correct
///    password gets in at its next try once the slot is free.
///
/// A client is the peer address (an IPv6 client is its /64), or, behind a trusted proxy, the
/// address that proxy saw. Counters are reserved *before* the password is checked with one
/// upsert each (no count-then-insert race: 30 parallel guesses admit exactly `pair_max`), a
/// refused attempt releases what it reserved and stores nothing, and a success gives the client's
/// reservation back.
#[derive(Clone, Copy, Debug)]
pub struct LoginLimits {
    pub pair_max: u32,
    pub client_max: u32,
    pub account_slow_after: u32,
    pub account_spacing_ms: u64,
    pub window_secs: u64,
}

/// How long a caller waits for a free hashing slot before being told the server is busy.
const HASH_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Reserves one attempt on a counter; `Ok(None)` if admitted, `Ok(Some(secs))` (until the
/// window ends) if the counter is full. One statement: the increment is capped at `max + 1`, so a
/// full counter does not grow.
async fn reserve(
    store: &Store,
    subject: &str,
    max: u32,
    window_ms: i64,
) -> Result<Option<u64>, AccountError> {
    let t = now_ms();
    let (count, start): (i64, i64) = sqlx::query_as(
        "INSERT INTO login_throttle (subject, count, window_start, last_at) VALUES ($1, 1, $2, 0) \
         ON CONFLICT (subject) DO UPDATE SET \
           count = CASE WHEN login_throttle.window_start <= $3 THEN 1 \
                        WHEN login_throttle.count <= $4 THEN login_throttle.count + 1 \
                        ELSE login_throttle.count END, \
           window_start = CASE WHEN login_throttle.window_start <= $3 THEN $2 ELSE login_throttle.window_start END \
         RETURNING count, window_start",
    )
    .bind(subject)
    .bind(t)
    .bind(t - window_ms)
    .bind(max as i64)
    .fetch_one(&store.pool)
    .await?;
    if count <= max as i64 {
        Ok(None)
    } else {
        Ok(Some(((start + window_ms - t).max(1000) / 1000) as u64))
    }
}

/// Gives back one reservation (a refused or successful attempt is not a failure).
async fn release(store: &Store, subject: &str) -> Result<(), AccountError> {
    sqlx::query("UPDATE login_throttle SET count = count - 1 WHERE subject = $1 AND count > 0")
        .bind(subject)
        .execute(&store.pool)
        .await?;
    Ok(())
}

/// Takes the account's next slot if the account is being slowed; true if the attempt may go on.
async fn account_slot(
    store: &Store,
    subject: &str,
    limits: &LoginLimits,
) -> Result<bool, AccountError> {
    let t = now_ms();
    let window_ms = limits.window_secs as i64 * 1000;
    let taken = sqlx::query(
        "UPDATE login_throttle SET last_at = $1 WHERE subject = $2 \
         AND (window_start <= $3 OR count < $4 OR last_at <= $5)",
    )
    .bind(t)
    .bind(subject)
    .bind(t - window_ms)
    .bind(limits.account_slow_after as i64)
    .bind(t - limits.account_spacing_ms as i64)
    .execute(&store.pool)
    .await?;
    if taken.rows_affected() == 1 {
        return Ok(true);
    }
    // No row at all: no failures yet, nothing to slow.
    let exists: Option<(i64,)> =
        sqlx::query_as("SELECT count FROM login_throttle WHERE subject = $1")
            .bind(subject)
            .fetch_optional(&store.pool)
            .await?;
    Ok(exists.is_none())
}

/// Counts a failure against the account (window-reset like the others), and drops counters
/// whose window ended long ago so the table stays small.
async fn account_failed(store: &Store, subject: &str, window_ms: i64) -> Result<(), AccountError> {
    let t = now_ms();
    sqlx::query(
        "INSERT INTO login_throttle (subject, count, window_start, last_at) VALUES ($1, 1, $2, 0) \
         ON CONFLICT (subject) DO UPDATE SET \
           count = CASE WHEN login_throttle.window_start <= $3 THEN 1 ELSE login_throttle.count + 1 END, \
           window_start = CASE WHEN login_throttle.window_start <= $3 THEN $2 ELSE login_throttle.window_start END",
    )
    .bind(subject)
    .bind(t)
    .bind(t - window_ms)
    .execute(&store.pool)
    .await?;
    sqlx::query("DELETE FROM login_throttle WHERE window_start <= $1")
        .bind(t - 2 * window_ms)
        .execute(&store.pool)
        .await?;
    Ok(())
}

/// Checks a sign-in under the [`LoginLimits`] rules. Unknown users and wrong passwords look and
/// take the same. `client` is the client's address as the web edge determined it.
pub async fn authenticate(
    store: &Store,
    email: &str,
    password: &str,
    client: &str,
    limits: &LoginLimits,
) -> Result<User, AccountError> {
    let email = email.trim().to_ascii_lowercase();
    check_input_sizes(&email, password)?;
    let window_ms = limits.window_secs as i64 * 1000;
    let client_key = format!("client:{client}");
    let pair_key = format!("pair:{client}|{email}");
    let account_key = format!("account:{email}");
    if let Some(secs) = reserve(store, &client_key, limits.client_max, window_ms).await? {
        return Err(AccountError::Throttled {
            retry_after_secs: secs,
        });
    }
    if let Some(secs) = reserve(store, &pair_key, limits.pair_max, window_ms).await? {
        release(store, &client_key).await?;
        return Err(AccountError::Throttled {
            retry_after_secs: secs,
        });
    }
    let give_back = async || -> Result<(), AccountError> {
        release(store, &client_key).await?;
        release(store, &pair_key).await
    };
    if !account_slot(store, &account_key, limits).await? {
        give_back().await?;
        return Err(AccountError::Throttled {
            retry_after_secs: 1,
        });
    }
    let permit = match tokio::time::timeout(HASH_QUEUE_WAIT, hash_slots().acquire()).await {
        Ok(Ok(p)) => p,
        _ => {
            give_back().await?;
            return Err(AccountError::Busy);
        }
    };
    let row: Option<UserRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{USER_SELECT} WHERE u.email = $1"
    )))
    .bind(&email)
    .fetch_optional(&store.pool)
    .await?;
    let hash = row
        .as_ref()
        .map(|r| r.5.clone())
        .unwrap_or_else(|| dummy_hash().to_string());
    let pw = password.to_string();
    let ok = on_hash_thread(move || verify_password(&pw, &hash)).await;
    drop(permit);
    match row {
        Some(r) if ok && r.6 == 0 => {
            sqlx::query("DELETE FROM login_throttle WHERE subject = $1")
                .bind(&pair_key)
                .execute(&store.pool)
                .await?;
            release(store, &client_key).await?;
            Ok(to_user(r))
        }
        _ => {
            account_failed(store, &account_key, window_ms).await?;
            Err(AccountError::InvalidLogin)
        }
    }
}
