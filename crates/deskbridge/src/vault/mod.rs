//! The vault: secrets (Freshdesk API keys, alert-webhook signing secrets) encrypted at rest with
//! XChaCha20-Poly1305. Each ciphertext names its master-key version, and its associated data binds
//! it to the organisation, integration and field its caller names, and to the version, so a
//! ciphertext copied to another row does not decrypt. The vault knows no table but its own
//! `vault_keys`: callers store the ciphertexts and say which versions they use. Master keys come
//! from the config; a stored check value per version makes a wrong or missing key fail at startup,
//! before anything is written. There is no plaintext mode.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretBox, SecretString};

use crate::store::{Store, StoreError, now};

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(
        "no master key is configured: set DESKBRIDGE_VAULT__MASTER_KEYS (or _FILE); `deskbridge vault rotate` generates one"
    )]
    Missing,
    #[error("vault.master_keys is malformed: {0} (expected `1:<base64 of 32 bytes>,2:<…>`)")]
    Malformed(String),
    #[error(
        "the master key for version {0} is wrong: it does not match the key this database was set up with"
    )]
    WrongKey(u32),
    #[error(
        "stored secrets use master-key versions {0:?}, which are not configured; add them to vault.master_keys"
    )]
    VersionsMissing(Vec<u32>),
    #[error("a stored secret could not be decrypted (tampered with, or moved to another row)")]
    Decrypt,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for VaultError {
    fn from(e: sqlx::Error) -> Self {
        VaultError::Store(StoreError::Query(e))
    }
}

/// What a ciphertext is bound to.
#[derive(Clone, Copy, Debug)]
pub struct Binding<'a> {
    pub org_id: i64,
    pub integration_id: i64,
    pub field: &'a str,
}

pub struct MasterKeys {
    keys: BTreeMap<u32, SecretBox<[u8; 32]>>,
}

impl std::fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "MasterKeys(versions {:?})",
            self.keys.keys().collect::<Vec<_>>()
        )
    }
}

impl MasterKeys {
    pub fn parse(spec: Option<&SecretString>) -> Result<MasterKeys, VaultError> {
        let spec = spec
            .map(|s| s.expose_secret().trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or(VaultError::Missing)?;
        let mut keys = BTreeMap::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (v, k) = part.split_once(':').ok_or_else(|| {
                VaultError::Malformed("each key needs a version, as in 1:<key>".into())
            })?;
            let version: u32 = v.trim().parse().ok().filter(|v| *v > 0).ok_or_else(|| {
                VaultError::Malformed(format!("{v:?} is not a positive version number"))
            })?;
            let bytes = B64.decode(k.trim()).map_err(|_| {
                VaultError::Malformed(format!("the key for version {version} is not base64"))
            })?;
            let arr: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
                VaultError::Malformed(format!(
                    "the key for version {version} is {} bytes, not 32",
                    b.len()
                ))
            })?;
            if keys
                .insert(version, SecretBox::new(Box::new(arr)))
                .is_some()
            {
                return Err(VaultError::Malformed(format!(
                    "version {version} appears twice"
                )));
            }
        }
        if keys.is_empty() {
            return Err(VaultError::Missing);
        }
        Ok(MasterKeys { keys })
    }

    /// A fresh random key in config form, for `deskbridge vault rotate`.
    pub fn generate(version: u32) -> String {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).expect("the OS random number generator");
        format!("{version}:{}", B64.encode(k))
    }

    pub fn active(&self) -> u32 {
        *self.keys.keys().next_back().expect("at least one key")
    }

    pub fn versions(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }
}

/// Cheap to clone: every handle shares the one set of master keys.
#[derive(Debug, Clone)]
pub struct Vault {
    keys: std::sync::Arc<MasterKeys>,
}

fn aad(b: &Binding<'_>, version: u32) -> Vec<u8> {
    format!(
        "deskbridge/v1|org={}|integration={}|field={}|key={version}",
        b.org_id, b.integration_id, b.field
    )
    .into_bytes()
}

const CHECK_PLAINTEXT: &[u8] = b"deskbridge master key check";

impl Vault {
    pub fn new(keys: MasterKeys) -> Vault {
        Vault {
            keys: std::sync::Arc::new(keys),
        }
    }

    fn cipher(&self, version: u32) -> Option<XChaCha20Poly1305> {
        self.keys
            .keys
            .get(&version)
            .map(|k| XChaCha20Poly1305::new(k.expose_secret().into()))
    }

    pub fn active_version(&self) -> u32 {
        self.keys.active()
    }

    fn seal(&self, version: u32, plaintext: &[u8], aad: &[u8]) -> String {
        let cipher = self
            .cipher(version)
            .expect("sealing with a configured version");
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).expect("the OS random number generator");
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail");
        let mut blob = Vec::with_capacity(24 + ct.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        format!("v{version}:{}", B64.encode(blob))
    }

    fn open(
        &self,
        sealed: &str,
        aad_for: impl Fn(u32) -> Vec<u8>,
    ) -> Result<(u32, Vec<u8>), VaultError> {
        let (v, body) = sealed.split_once(':').ok_or(VaultError::Decrypt)?;
        let version: u32 = v
            .strip_prefix('v')
            .and_then(|x| x.parse().ok())
            .ok_or(VaultError::Decrypt)?;
        let blob = B64.decode(body).map_err(|_| VaultError::Decrypt)?;
        if blob.len() < 24 + 16 {
            return Err(VaultError::Decrypt);
        }
        let cipher = self
            .cipher(version)
            .ok_or(VaultError::VersionsMissing(vec![version]))?;
        let (nonce, ct) = blob.split_at(24);
        let pt = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: &aad_for(version),
                },
            )
            .map_err(|_| VaultError::Decrypt)?;
        Ok((version, pt))
    }

    /// Encrypts a secret for one field of one row, under the active key version.
    pub fn encrypt(&self, plaintext: &str, binding: Binding<'_>) -> (u32, String) {
        let v = self.active_version();
        (v, self.seal(v, plaintext.as_bytes(), &aad(&binding, v)))
    }

    pub fn decrypt(&self, sealed: &str, binding: Binding<'_>) -> Result<SecretString, VaultError> {
        let (_, pt) = self.open(sealed, |v| aad(&binding, v))?;
        String::from_utf8(pt)
            .map(SecretString::from)
            .map_err(|_| VaultError::Decrypt)
    }

    /// Checks every configured key against its stored check value (recording new versions), and
    /// refuses when the versions its callers have stored secrets under (`in_use`) are not
    /// configured. Nothing is written when a key is wrong.
    pub async fn verify(&self, store: &Store, in_use: &[u32]) -> Result<(), VaultError> {
        let stored: Vec<(i64, String)> =
            sqlx::query_as("SELECT version, check_value FROM vault_keys")
                .fetch_all(&store.pool)
                .await?;
        for (version, check) in &stored {
            let version = *version as u32;
            if self.cipher(version).is_none() {
                continue;
            }
            let ok = self
                .open(check, |v| format!("key-check|{v}").into_bytes())
                .is_ok_and(|(_, pt)| pt == CHECK_PLAINTEXT);
            if !ok {
                return Err(VaultError::WrongKey(version));
            }
        }
        let missing: Vec<u32> = in_use
            .iter()
            .copied()
            .filter(|v| self.cipher(*v).is_none())
            .collect();
        if !missing.is_empty() {
            return Err(VaultError::VersionsMissing(missing));
        }
        for version in self.keys.versions() {
            if !stored.iter().any(|(v, _)| *v as u32 == version) {
                let check = self.seal(
                    version,
                    CHECK_PLAINTEXT,
                    format!("key-check|{version}").as_bytes(),
                );
                sqlx::query(
                    "INSERT INTO vault_keys (version, check_value, created_at) VALUES ($1, $2, $3)",
                )
                .bind(version as i64)
                .bind(check)
                .bind(now())
                .execute(&store.pool)
                .await?;
                // Rotation takes effect when the new version is first seen: record it.
                crate::audit::record(
                    store,
                    None,
                    "system",
                    "vault_key_added",
                    &format!("version={version}"),
                )
                .await;
            }
        }
        Ok(())
    }

    /// Decrypts a secret and seals it again under the active version (key rotation).
    pub fn reseal(&self, sealed: &str, binding: Binding<'_>) -> Result<String, VaultError> {
        let plain = self.decrypt(sealed, binding)?;
        Ok(self.encrypt(plain.expose_secret(), binding).1)
    }
}

/// What a rewrap did (its callers own the rows): secrets moved to the active version, and the
/// ones that could not be decrypted, named.
#[derive(Debug, Default)]
pub struct RewrapReport {
    pub rewrapped: usize,
    pub failed: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault(spec: &str) -> Vault {
        Vault::new(MasterKeys::parse(Some(&SecretString::from(spec.to_string()))).unwrap())
    }

    fn b(org: i64, id: i64) -> Binding<'static> {
        Binding {
            org_id: org,
            integration_id: id,
            field: "api_key",
        }
    }

    #[test]
    fn a_secret_round_trips_and_any_flipped_bit_fails() {
        let v = vault(&MasterKeys::generate(1));
        for len in [0usize, 1, 20, 8192] {
            let secret: String = "k".repeat(len);
            let (_, sealed) = v.encrypt(&secret, b(1, 2));
            assert_eq!(v.decrypt(&sealed, b(1, 2)).unwrap().expose_secret(), secret);
            let (prefix, body) = sealed.split_once(':').unwrap();
            let mut blob = B64.decode(body).unwrap();
            for i in [0, 23, 24, blob.len() - 1] {
                blob[i] ^= 1;
                let tampered = format!("{prefix}:{}", B64.encode(&blob));
                assert!(v.decrypt(&tampered, b(1, 2)).is_err(), "bit {i}");
                blob[i] ^= 1;
            }
        }
    }

    #[test]
    fn a_ciphertext_moved_to_another_row_or_org_does_not_decrypt() {
        let v = vault(&MasterKeys::generate(1));
        let (_, sealed) = v.encrypt("CANARY-key", b(1, 2));
        assert!(matches!(
            v.decrypt(&sealed, b(2, 2)),
            Err(VaultError::Decrypt)
        ));
        assert!(matches!(
            v.decrypt(&sealed, b(1, 3)),
            Err(VaultError::Decrypt)
        ));
        let relabelled = sealed.replacen("v1:", "v2:", 1);
        assert!(v.decrypt(&relabelled, b(1, 2)).is_err());
    }

    #[test]
    fn nonces_never_repeat() {
        let v = vault(&MasterKeys::generate(1));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100_000 {
            let (_, sealed) = v.encrypt("same", b(1, 1));
            let nonce = B64.decode(sealed.split_once(':').unwrap().1).unwrap()[..24].to_vec();
            assert!(seen.insert(nonce));
        }
    }

    #[test]
    fn malformed_master_keys_are_refused_with_the_reason() {
        for (spec, want) in [
            ("", "no master key"),
            ("abc", "needs a version"),
            ("1:!!!", "not base64"),
            ("1:AAAA", "not 32"),
            ("0:AAAA", "positive"),
        ] {
            let err = MasterKeys::parse(Some(&SecretString::from(spec.to_string()))).unwrap_err();
            assert!(err.to_string().contains(want), "{spec}: {err}");
        }
        assert!(
            !format!(
                "{:?}",
                MasterKeys::parse(Some(&SecretString::from(MasterKeys::generate(3)))).unwrap()
            )
            .contains(':')
        );
    }

    #[test]
    fn the_highest_version_encrypts_and_older_ones_still_decrypt() {
        let k1 = MasterKeys::generate(1);
        let old = vault(&k1);
        let (_, sealed) = old.encrypt("secret", b(1, 1));
        let both = vault(&format!("{k1},{}", MasterKeys::generate(2)));
        assert_eq!(both.active_version(), 2);
        assert_eq!(
            both.decrypt(&sealed, b(1, 1)).unwrap().expose_secret(),
            "secret"
        );
        assert!(both.encrypt("x", b(1, 1)).1.starts_with("v2:"));
    }
}
