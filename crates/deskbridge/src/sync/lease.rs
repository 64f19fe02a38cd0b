//! The one-run-per-integration lease. Taking it is one conditional upsert, so two triggers (in
//! one process or two: the server and the CLI) give exactly one run; the holder renews it while it
//! works, and a holder that died (kill -9) loses it once it is `stale_secs` old.

use crate::store::Store;

use super::{SyncError, Target};

#[derive(Clone, Debug)]
pub struct Lease {
    pub integration_id: i64,
    pub owner: String,
}

/// Milliseconds: a stale lease of a few seconds (tests) must not round to a whole second more.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Takes the lease, or says a run is already going.
pub async fn acquire(store: &Store, t: Target, stale_secs: i64) -> Result<Lease, SyncError> {
    let owner = uuid::Uuid::new_v4().to_string();
    let at = now_ms();
    let r = sqlx::query(
        "INSERT INTO sync_locks (integration_id, owner, heartbeat_at) VALUES ($1, $2, $3) \
         ON CONFLICT (integration_id) DO UPDATE SET owner = excluded.owner, heartbeat_at = excluded.heartbeat_at \
         WHERE sync_locks.heartbeat_at < $4",
    )
    .bind(t.integration_id)
    .bind(&owner)
    .bind(at)
    .bind(at - stale_secs * 1000)
    .execute(&store.pool)
    .await?;
    if r.rows_affected() == 0 {
        return Err(SyncError::AlreadyRunning);
    }
    Ok(Lease {
        integration_id: t.integration_id,
        owner,
    })
}

/// Renews the lease; false if another holder took it over (this run must stop).
pub async fn renew(store: &Store, lease: &Lease) -> Result<bool, SyncError> {
    let r = sqlx::query(
        "UPDATE sync_locks SET heartbeat_at = $1 WHERE integration_id = $2 AND owner = $3",
    )
    .bind(now_ms())
    .bind(lease.integration_id)
    .bind(&lease.owner)
    .execute(&store.pool)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn release(store: &Store, lease: &Lease) -> Result<(), SyncError> {
    sqlx::query("DELETE FROM sync_locks WHERE integration_id = $1 AND owner = $2")
        .bind(lease.integration_id)
        .bind(&lease.owner)
        .execute(&store.pool)
        .await?;
    Ok(())
}
