//! Key rotation for the stored API keys: every integration's key is resealed under the vault's
//! active master-key version, one row per statement, so an interrupted run loses nothing and
//! continues when started again. A row that cannot be decrypted is named and left as it is.

use secrecy::ExposeSecret;

use crate::store::Store;
use crate::vault::{Binding, RewrapReport, Vault, VaultError};

/// The associated data an integration's API key is sealed with.
pub fn key_binding(org_id: i64, integration_id: i64) -> Binding<'static> {
    Binding {
        org_id,
        integration_id,
        field: "api_key",
    }
}

/// Reseals the stored keys not yet under the active version; `progress(done, total)` after each.
pub async fn rewrap_keys(
    store: &Store,
    vault: &Vault,
    mut progress: impl FnMut(usize, usize),
) -> Result<RewrapReport, VaultError> {
    let mut report = RewrapReport::default();
    let active = vault.active_version() as i64;
    let todo: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, org_id FROM integrations WHERE key_version <> $1 ORDER BY id")
            .bind(active)
            .fetch_all(&store.pool)
            .await?;
    let total = todo.len();
    for (n, (id, org_id)) in todo.into_iter().enumerate() {
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT key_ciphertext, key_version FROM integrations WHERE id = $1 AND org_id = $2",
        )
        .bind(id)
        .bind(org_id)
        .fetch_optional(&store.pool)
        .await?;
        let Some((sealed, version)) = row else {
            continue;
        };
        if version == active {
            continue;
        }
        let binding = key_binding(org_id, id);
        let plain = match vault.decrypt(&sealed, binding) {
            Ok(p) => p,
            Err(e) => {
                report
                    .failed
                    .push(format!("integration {id} of organisation {org_id} ({e})"));
                continue;
            }
        };
        let (v, resealed) = vault.encrypt(plain.expose_secret(), binding);
        // One statement, compare-and-swap: a row re-authorized meanwhile keeps its new key, and
        // no read lock is held while another process writes (SQLite would refuse the upgrade).
        let swapped = sqlx::query("UPDATE integrations SET key_ciphertext = $1, key_version = $2 WHERE id = $3 AND key_version = $4 AND key_ciphertext = $5")
            .bind(resealed)
            .bind(v as i64)
            .bind(id)
            .bind(version)
            .bind(&sealed)
            .execute(&store.pool)
            .await?;
        if swapped.rows_affected() == 0 {
            continue;
        }
        report.rewrapped += 1;
        progress(n + 1, total);
        // Test hook for crash-and-resume checks: die without any cleanup after N rows.
        if std::env::var("DESKBRIDGE_FAILPOINT").ok().and_then(|f| {
            f.strip_prefix("rewrap-abort-after:")
                .and_then(|n| n.parse::<usize>().ok())
        }) == Some(n + 1)
        {
            std::process::abort();
        }
    }
    Ok(report)
}

/// What `deskbridge vault rewrap` runs: the integrations' keys, then every webhook secret.
pub async fn rewrap_all(
    store: &Store,
    vault: &Vault,
    progress: impl FnMut(usize, usize),
) -> Result<RewrapReport, VaultError> {
    let mut report = rewrap_keys(store, vault, progress).await?;
    for slot in [crate::webhook::ALERTS, crate::webhook::CHANGES] {
        crate::webhook::rewrap_secrets(store, vault, slot, &mut report).await?;
    }
    Ok(report)
}
