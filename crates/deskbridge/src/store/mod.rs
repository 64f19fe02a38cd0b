//! The database handle: one sqlx `Any` pool over SQLite (the default; WAL and a busy timeout) or
//! PostgreSQL (picked by the URL), with embedded migrations run at startup: one source, written
//! for SQLite, and rendered for PostgreSQL by spelling the auto-numbered id column its way. Queries use
//! `$1`-style parameters, which both engines accept, and store times as unix seconds. Each
//! capability keeps its own SQL; only engine plumbing lives here.

use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, install_default_drivers};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database.url must start with sqlite:// or postgres://")]
    UnknownEngine,
    #[error("cannot open the database")]
    Connect(#[source] sqlx::Error),
    #[error("cannot apply the database migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("database error")]
    Query(#[from] sqlx::Error),
}

#[derive(Clone, Debug)]
pub struct Store {
    pub pool: AnyPool,
    pub engine: Engine,
}

/// A transaction over the pool, as capabilities hand it to each other so that one change to
/// several modules' tables commits or rolls back as one.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Deletes one integration's rows from each of `tables` inside `tx`: the way each module forgets
/// its own tables on disconnect. The names are the calling module's constants, never input.
pub async fn delete_integration_rows(
    tx: &mut Tx,
    tables: &[&'static str],
    org_id: i64,
    integration_id: i64,
) -> Result<(), sqlx::Error> {
    for table in tables {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE org_id = $1 AND integration_id = $2"
        )))
        .bind(org_id)
        .bind(integration_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// `($1, …, $cols), ($cols+1, …)` for a multi-row insert of `rows` rows.
pub fn placeholders(rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(r * cols + c + 1).to_string());
        }
        out.push(')');
    }
    out
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Store {
    pub async fn connect(url: &SecretString, max_connections: u32) -> Result<Store, StoreError> {
        install_default_drivers();
        let raw = url.expose_secret();
        let engine = if raw.starts_with("sqlite:") {
            Engine::Sqlite
        } else if raw.starts_with("postgres:") || raw.starts_with("postgresql:") {
            Engine::Postgres
        } else {
            return Err(StoreError::UnknownEngine);
        };
        let pool = match engine {
            Engine::Sqlite => {
                // Create the file if needed, then let the Any pool open it with our pragmas.
                let opts = sqlx::sqlite::SqliteConnectOptions::from_str(raw)
                    .map_err(StoreError::Connect)?
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                drop(
                    sqlx::sqlite::SqlitePool::connect_with(opts)
                        .await
                        .map_err(StoreError::Connect)?,
                );
                AnyPoolOptions::new()
                    .max_connections(max_connections)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::query("PRAGMA busy_timeout = 5000")
                                .execute(&mut *conn)
                                .await?;
                            sqlx::query("PRAGMA foreign_keys = ON")
                                .execute(&mut *conn)
                                .await?;
                            // In WAL mode NORMAL still survives a killed process (the WAL is
                            // in the OS cache); a power cut may lose the last commits, never
                            // consistency, and a sync re-reads them from its cursor.
                            sqlx::query("PRAGMA synchronous = NORMAL")
                                .execute(&mut *conn)
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(raw)
                    .await
                    .map_err(StoreError::Connect)?
            }
            Engine::Postgres => AnyPoolOptions::new()
                .max_connections(max_connections)
                .connect(raw)
                .await
                .map_err(StoreError::Connect)?,
        };
        let store = Store { pool, engine };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self.engine {
            Engine::Sqlite => MIGRATIONS.run(&self.pool).await,
            Engine::Postgres => postgres_migrations().run(&self.pool).await,
        }
        .map_err(StoreError::Migrate)
    }
}

/// The migrations, as written: in SQLite's dialect.
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// What the engines spell differently: an auto-numbered 64-bit id (this line in each), and what
/// a migration marks as one engine's own: lines between `-- sqlite only: begin` and
/// `-- sqlite only: end` run on SQLite only, and a line `-- postgres: <statement>` on PostgreSQL
/// only (SQLite reads it as a comment).
pub const SQLITE_ID: &str = "id INTEGER PRIMARY KEY AUTOINCREMENT,";
pub const POSTGRES_ID: &str = "id BIGSERIAL PRIMARY KEY,";

/// The migrations rendered for PostgreSQL. Each keeps its version and description; its checksum
/// is that of the rendered text, so a database migrated by an earlier release (which shipped the
/// rendered files) still matches.
pub fn postgres_migrations() -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    sqlx::migrate::Migrator::with_migrations(
        MIGRATIONS
            .migrations
            .iter()
            .map(|m| {
                sqlx::migrate::Migration::new(
                    m.version,
                    m.description.clone(),
                    m.migration_type,
                    sqlx::AssertSqlSafe(for_postgres(m.sql.as_str())).into_sql_str(),
                    m.no_tx,
                )
            })
            .collect(),
    )
}

/// A migration's text as PostgreSQL runs it. Migrations without engine marks (all before 0011)
/// render as before, so their checksums do not change.
fn for_postgres(sql: &str) -> String {
    if !sql.contains(SQLITE_ONLY_BEGIN) && !sql.contains(POSTGRES_ONLY) {
        return sql.replace(SQLITE_ID, POSTGRES_ID);
    }
    let mut out = String::with_capacity(sql.len());
    let mut sqlite_only = false;
    for line in sql.lines() {
        match line.trim() {
            SQLITE_ONLY_BEGIN => sqlite_only = true,
            SQLITE_ONLY_END => sqlite_only = false,
            _ if sqlite_only => {}
            l => match l.strip_prefix(POSTGRES_ONLY) {
                Some(statement) => out.push_str(statement.trim_start()),
                None => out.push_str(&line.replace(SQLITE_ID, POSTGRES_ID)),
            },
        }
        out.push('\n');
    }
    out
}

const SQLITE_ONLY_BEGIN: &str = "-- sqlite only: begin";
const SQLITE_ONLY_END: &str = "-- sqlite only: end";
const POSTGRES_ONLY: &str = "-- postgres:";
