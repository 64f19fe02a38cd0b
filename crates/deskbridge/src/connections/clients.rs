//! The only way to get a Freshdesk client for an integration: [`Clients`] holds the store, the
//! vault, this process's key watch and the client settings, and builds a client from the stored,
//! decrypted key. The client stops at once when its key is removed or replaced, here or in
//! another process (see [`super::keys`]).

use std::sync::Arc;

use freshdesk::{ApiKey, ClientConfig, FreshdeskDomain};
use secrecy::ExposeSecret;

use super::budget::DbBudget;
use super::error::ConnectError;
use super::keys::{GenerationCheck, KeyWatch};
use super::rewrap::key_binding;
use super::table::Target;
use crate::store::Store;
use crate::vault::Vault;

/// A client factory: cheap to clone, one per process (the key watch is shared).
#[derive(Clone)]
pub struct Clients {
    store: Store,
    vault: Vault,
    keys: Arc<KeyWatch>,
    cfg: ClientConfig,
    /// Each account's rate budget, shared through the database with every other process.
    shared: Arc<DbBudget>,
}

impl Clients {
    pub fn new(store: Store, vault: Vault, cfg: ClientConfig) -> Clients {
        Clients {
            shared: Arc::new(DbBudget::new(store.clone())),
            store,
            vault,
            keys: Arc::default(),
            cfg,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    pub fn keys(&self) -> &KeyWatch {
        &self.keys
    }

    /// The client settings (rate budget, emulator routing) every client gets.
    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    /// The same factory with fewer retries per call (a health check counts failures itself).
    pub fn with_max_retries(&self, n: u32) -> Clients {
        Clients {
            cfg: ClientConfig {
                max_retries: n,
                ..self.cfg.clone()
            },
            ..self.clone()
        }
    }

    /// A client for an integration's stored key. A key that cannot be decrypted is
    /// `ConnectError::Vault`; a missing integration `ConnectError::NotFound`.
    pub async fn client_for(&self, t: Target) -> Result<freshdesk::Client, ConnectError> {
        // The token first: a key read after a revocation is already the new one.
        let token = self.keys.token(t.integration_id);
        let (domain, key, generation) = stored_key(&self.store, &self.vault, t).await?;
        let domain = FreshdeskDomain::parse(&domain)?;
        let check = GenerationCheck::new(
            self.store.clone(),
            t.integration_id,
            generation,
            token.clone(),
        );
        let client = freshdesk::Client::new(domain, key, &self.cfg)
            .map_err(ConnectError::Client)?
            .with_revocation(token)
            .with_key_check(check);
        // Every process working for this account keeps to one budget.
        client.governor().share_through(self.shared.clone());
        Ok(client)
    }
}

/// The decrypted key of an integration, for the code that calls Freshdesk with it.
pub async fn api_key(
    store: &Store,
    vault: &Vault,
    org_id: i64,
    id: i64,
) -> Result<ApiKey, ConnectError> {
    let t = Target {
        org_id,
        integration_id: id,
    };
    Ok(stored_key(store, vault, t).await?.1)
}

/// Domain, decrypted key and key generation, read together.
async fn stored_key(
    store: &Store,
    vault: &Vault,
    t: Target,
) -> Result<(String, ApiKey, i64), ConnectError> {
    let row: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT domain, key_ciphertext, key_generation FROM integrations WHERE id = $1 AND org_id = $2",
    )
    .bind(t.integration_id)
    .bind(t.org_id)
    .fetch_optional(&store.pool)
    .await?;
    let (domain, sealed, generation) = row.ok_or(ConnectError::NotFound)?;
    let plain = vault.decrypt(&sealed, key_binding(t.org_id, t.integration_id))?;
    let key = ApiKey::parse(plain.expose_secret()).map_err(ConnectError::Key)?;
    Ok((domain, key, generation))
}
