//! Keys stop at once. Every Freshdesk client this process builds for an integration carries that
//! integration's revocation token from [`KeyWatch`] and a [`GenerationCheck`] against the
//! integration row. Disconnect and re-authorize commit first, then revoke: every client holding
//! the old key fails its next call with `Revoked` before anything is sent, and calls in flight
//! are abandoned, so once the operation returns no request with the old key leaves this process.
//! Another process (a `deskbridge sync` in a terminal, a second server) sees the change through
//! `key_generation` on the row, which its clients compare before each request (cached for
//! [`RECHECK`], so at most that long after the change).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// How long a generation check's "still current" is believed before the row is read again.
pub const RECHECK: Duration = Duration::from_millis(250);

/// One revocation token per integration, for this process.
#[derive(Default)]
pub struct KeyWatch {
    tokens: Mutex<HashMap<i64, CancellationToken>>,
}

impl KeyWatch {
    /// The current token of an integration. Take it *before* reading the key: a key read after a
    /// revocation is the new one, and a key read before it is stopped by it.
    pub fn token(&self, integration_id: i64) -> CancellationToken {
        self.tokens
            .lock()
            .entry(integration_id)
            .or_default()
            .clone()
    }

    /// Stops every client of the integration built so far; later ones get a fresh token.
    pub fn revoke(&self, integration_id: i64) {
        if let Some(token) = self.tokens.lock().remove(&integration_id) {
            token.cancel();
        }
    }
}

/// Compares the generation a client's key was read at with the row's, before each request.
pub struct GenerationCheck {
    store: Store,
    integration_id: i64,
    generation: i64,
    token: CancellationToken,
    confirmed: Mutex<Option<Instant>>,
}

impl GenerationCheck {
    pub fn new(
        store: Store,
        integration_id: i64,
        generation: i64,
        token: CancellationToken,
    ) -> Arc<GenerationCheck> {
        Arc::new(GenerationCheck {
            store,
            integration_id,
            generation,
            token,
            confirmed: Mutex::new(Some(Instant::now())),
        })
    }
}

impl freshdesk::KeyCheck for GenerationCheck {
    fn still_current(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            if self.token.is_cancelled() {
                return false;
            }
            if self
                .confirmed
                .lock()
                .is_some_and(|at| at.elapsed() < RECHECK)
            {
                return true;
            }
            let row: Result<Option<(i64,)>, sqlx::Error> =
                sqlx::query_as("SELECT key_generation FROM integrations WHERE id = $1")
                    .bind(self.integration_id)
                    .fetch_optional(&self.store.pool)
                    .await;
            match row {
                Ok(Some((g,))) if g == self.generation => {
                    *self.confirmed.lock() = Some(Instant::now());
                    true
                }
                Ok(_) => {
                    // Replaced or removed elsewhere: this client is done for good.
                    self.token.cancel();
                    false
                }
                // The database is unreachable: send nothing we cannot vouch for.
                Err(e) => {
                    tracing::warn!(integration = self.integration_id, error = %e, "cannot confirm the key is current; not calling Freshdesk");
                    false
                }
            }
        })
    }
}
