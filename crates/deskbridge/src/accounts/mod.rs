//! Organisations, their people and their sessions. Passwords are Argon2id PHC strings, judged by
//! zxcvbn before they are accepted; sign-in is throttled (see [`authenticate`] for the rules) with
//! counters reserved by single atomic statements, its inputs are capped before any work, and at
//! most one Argon2 hash per core runs at a time, so a flood queues instead of growing memory. An
//! unknown user costs the same hash as a wrong password and gets the same answer. Sessions are random 256-bit tokens stored only as SHA-256 hashes, with
//! idle and absolute timeouts, a fresh id at every sign-in and a server-side delete at sign-out.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError, now};

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

    fn parse(s: &str) -> Role {
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

fn hasher() -> Argon2<'static> {
    // OWASP's minimum for Argon2id: 19 MiB, 2 passes, 1 lane.
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters"),
    )
}

/// Longest email and password accepted anywhere, checked before any other work (RFC 5321's path
/// limit; a password longer than 1,024 bytes is no stronger, only costlier to hash).
pub const MAX_EMAIL_BYTES: usize = 254;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Refuses inputs over the caps, with words that say which.
pub fn check_input_sizes(email: &str, password: &str) -> Result<(), AccountError> {
    if email.len() > MAX_EMAIL_BYTES {
        return Err(AccountError::InputTooLong(
            "that email address is too long (254 characters at most)",
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::InputTooLong(
            "that password is too long (1,024 bytes at most)",
        ));
    }
    Ok(())
}

/// At least 12 characters, and "strong" by zxcvbn (score 3 of 4: its frequency lists hold the
/// common passwords, names, words and keyboard patterns, so `Password1234` is refused). The
/// reason given is zxcvbn's own warning where it has one. `context` (the email, the organisation)
/// counts as guessable too.
pub fn check_password_strength_for(p: &str, context: &[&str]) -> Result<(), AccountError> {
    if p.len() > MAX_PASSWORD_BYTES {
        return Err(AccountError::WeakPassword("use at most 1,024 bytes".into()));
    }
    if p.chars().count() < 12 {
        return Err(AccountError::WeakPassword(
            "use at least 12 characters".into(),
        ));
    }
    let estimate = zxcvbn::zxcvbn(p, context);
    if u8::from(estimate.score()) >= 3 {
        return Ok(());
    }
    let why = estimate
        .feedback()
        .and_then(|f| f.warning())
        .map(|w| w.to_string())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "it would be guessed too easily".into());
    Err(AccountError::WeakPassword(format!(
        "that password is too easy to guess: {}. Add a few more unusual words",
        why.trim_end_matches('.')
    )))
}

pub fn check_password_strength(p: &str) -> Result<(), AccountError> {
    check_password_strength_for(p, &[])
}

pub fn hash_password(p: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random number generator");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes of salt");
    hasher()
        .hash_password(p.as_bytes(), &salt)
        .expect("Argon2 hashing")
        .to_string()
}

/// Checks a password against its PHC string. The 19 MiB of Argon2 working memory is kept per
/// thread and reused: allocating and freeing it for every sign-in fragments the allocator's heap
/// until the process holds ten such blocks (measured: 36 MB after one sign-in, 232 MB after 26).
fn verify_password(p: &str, phc: &str) -> bool {
    use argon2::password_hash::Output;
    thread_local! {
        static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let Ok(h) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (h.salt, h.hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (Params::try_from(&h), Algorithm::try_from(h.algorithm))
    else {
        return false;
    };
    let version = match h.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    let hashed = BLOCKS.with(|b| {
        let mut b = b.borrow_mut();
        if b.len() != blocks {
            b.clear();
            b.resize(blocks, argon2::Block::default());
        }
        Argon2::new(algorithm, version, params)
            .hash_password_into_with_memory(p.as_bytes(), salt, &mut out, &mut b[..])
            .is_ok()
    });
    // Output's equality is constant-time.
    hashed && Output::new(&out).is_ok_and(|o| o == expected)
}

/// A hash to verify against when the user does not exist, so both answers take as long.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not a real password, only for timing"))
}

pub fn random_token() -> String {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).expect("the OS random number generator");
    B64.encode(b)
}

pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
}

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

type UserRow = (i64, i64, String, String, String, String, i64);

const USER_SELECT: &str = "SELECT u.id, u.org_id, o.name, u.email, u.role, u.password_hash, u.disabled FROM users u JOIN organisations o ON o.id = u.org_id";

fn to_user(r: UserRow) -> User {
    User {
        id: r.0,
        org_id: r.1,
        org_name: r.2,
        email: r.3,
        role: Role::parse(&r.4),
        attention: Vec::new(),
    }
}

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

/// At most one Argon2 computation (19 MiB each) per core at a time, process-wide.
fn hash_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(hash_slot_count()))
}

fn hash_slot_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().max(1))
}

type HashJob = Box<dyn FnOnce() + Send>;

/// Runs an Argon2 computation on one of a fixed set of threads (one per hashing slot). Each
/// thread's allocator keeps its 19 MiB for the next hash, so memory stays at slots × 19 MiB
/// however many sign-ins come; on tokio's blocking pool every new thread would keep its own.
async fn on_hash_thread(job: impl FnOnce() -> bool + Send + 'static) -> bool {
    static QUEUE: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<HashJob>>> =
        std::sync::OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<HashJob>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..hash_slot_count() {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("starting a hashing thread");
        }
        std::sync::Mutex::new(tx)
    });
    let (done, result) = tokio::sync::oneshot::channel();
    let sent = queue
        .lock()
        .map(|q| {
            q.send(Box::new(move || {
                let _ = done.send(job());
            }))
            .is_ok()
        })
        .unwrap_or(false);
    sent && result.await.unwrap_or(false)
}

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
    }))
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

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_unique_salts() {
        let a = hash_password("correct horse battery staple");
        let b = hash_password("correct horse battery staple");
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
        assert!(verify_password("correct horse battery staple", &a));
        assert!(!verify_password("correct horse battery stapl", &a));
        let long: String = "ünïcødé-".repeat(10);
        assert!(verify_password(&long, &hash_password(&long)));
    }

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        for weak in [
            "short",
            "password123",
            "changeme1234",
            "Password1234",
            "passwordpassword",
            "qwertyuiop123",
            "111111111111",
            "iloveyou2024",
        ] {
            let e = check_password_strength(weak).expect_err(weak);
            assert!(!e.to_string().is_empty());
        }
        assert!(check_password_strength("a sensible passphrase").is_ok());
        assert!(check_password_strength("a long test passphrase").is_ok());
        // The person's own email, as a password, is guessable once the context is given.
        assert!(check_password_strength("averyowner@acme-support.test").is_ok());
        let why = check_password_strength_for(
            "averyowner@acme-support.test",
            &["averyowner@acme-support.test"],
        )
        .map(|_| String::new())
        .unwrap_or_else(|e| e.to_string());
        assert!(why.contains("guess"), "{why}");
    }

    #[test]
    fn oversized_inputs_are_refused_before_any_work() {
        let long_email = format!("{}@x.test", "a".repeat(300));
        assert!(matches!(
            check_input_sizes(&long_email, "pw"),
            Err(AccountError::InputTooLong(_))
        ));
        assert!(matches!(
            check_input_sizes("a@b.test", &"p".repeat(1025)),
            Err(AccountError::InputTooLong(_))
        ));
        assert!(check_input_sizes("a@b.test", &"p".repeat(1024)).is_ok());
    }
}

/// API tokens: created by an admin in Settings, shown once, stored only as a SHA-256 hash, sent as
/// `Authorization: Bearer dbt_…`, and acting as the admin who created them.
pub mod tokens {
    use super::*;

    pub const PREFIX: &str = "dbt_";

    pub struct Token {
        pub id: i64,
        pub name: String,
        pub created_at: i64,
        pub last_used_at: Option<i64>,
    }

    pub async fn create(
        store: &Store,
        user: &User,
        name: &str,
    ) -> Result<SecretString, AccountError> {
        let token = format!("{PREFIX}{}", random_token());
        sqlx::query("INSERT INTO api_tokens (org_id, user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)").bind(user.org_id).bind(user.id).bind(name).bind(token_hash(&token)).bind(now()).execute(&store.pool).await?;
        Ok(SecretString::from(token))
    }

    pub async fn list(store: &Store, org_id: i64) -> Result<Vec<Token>, AccountError> {
        let rows: Vec<(i64, String, i64, Option<i64>)> = sqlx::query_as("SELECT id, name, created_at, last_used_at FROM api_tokens WHERE org_id = $1 ORDER BY id").bind(org_id).fetch_all(&store.pool).await?;
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
}
