use deskbridge::config::Config;
use deskbridge::connections;
use deskbridge::vault::{MasterKeys, Vault, VaultError};
use secrecy::{ExposeSecret, SecretString};

use crate::helpers::*;

fn config_for(app: &TestApp, keys: Option<&str>) -> Config {
    let mut c = Config::default();
    c.database.url = SecretString::from(app.db_url.clone());
    c.vault.master_keys = keys.map(|k| SecretString::from(k.to_string()));
    c
}

#[tokio::test]
async fn startup_fails_closed_without_the_master_key_or_with_the_wrong_one() {
    let app = spawn_app().await;
    let missing = deskbridge::app::open(&config_for(&app, None))
        .await
        .unwrap_err();
    assert!(
        missing.to_string().contains("no master key is configured"),
        "{missing}"
    );
    let wrong = deskbridge::app::open(&config_for(&app, Some(&MasterKeys::generate(1))))
        .await
        .unwrap_err();
    assert!(
        wrong
            .to_string()
            .contains("master key for version 1 is wrong"),
        "{wrong}"
    );
    assert!(!wrong.to_string().contains(&app.master_keys));
    deskbridge::app::open(&config_for(&app, Some(&app.master_keys)))
        .await
        .expect("the right key opens");
}

#[tokio::test]
async fn a_ciphertext_copied_into_another_organisations_row_does_not_decrypt() {
    let app = two_organisations_connected().await;
    let rows: Vec<(i64, i64, String)> =
        sqlx::query_as("SELECT id, org_id, key_ciphertext FROM integrations ORDER BY id")
            .fetch_all(&app.store.pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), 2);
    sqlx::query("UPDATE integrations SET key_ciphertext = $1 WHERE id = $2")
        .bind(&rows[0].2)
        .bind(rows[1].0)
        .execute(&app.store.pool)
        .await
        .unwrap();
    let r = connections::api_key(&app.store, &app.state.vault, rows[1].1, rows[1].0).await;
    assert!(
        matches!(
            r,
            Err(connections::ConnectError::Vault(VaultError::Decrypt))
        ),
        "{r:?}"
    );
    let own = connections::api_key(&app.store, &app.state.vault, rows[0].1, rows[0].0)
        .await
        .unwrap();
    assert_eq!(own.expose_for_encryption(), app.admin_key());
}

#[tokio::test]
async fn rotation_then_rewrap_moves_every_key_to_the_new_version_and_can_resume() {
    let app = two_organisations_connected().await;
    // An organisation's alert-webhook signing secret is sealed too and must move with the keys.
    let (acme,): (i64,) = sqlx::query_as("SELECT id FROM organisations WHERE name = 'Acme'")
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
    let hook_binding = deskbridge::vault::Binding {
        org_id: acme,
        integration_id: 0,
        field: "alert_webhook_secret",
    };
    let (_, sealed) = app.state.vault.encrypt("signing secret", hook_binding);
    sqlx::query("UPDATE organisations SET alert_webhook_url = 'https://example.com/h', alert_webhook_secret = $1 WHERE id = $2")
        .bind(sealed)
        .bind(acme)
        .execute(&app.store.pool)
        .await
        .unwrap();
    let both = format!("{},{}", app.master_keys, MasterKeys::generate(2));
    let (store, vault) = deskbridge::app::open(&config_for(&app, Some(&both)))
        .await
        .unwrap();
    // An interrupted run: only the first row moved before the "crash".
    let mut moved = 0;
    let first_only =
        Vault::new(MasterKeys::parse(Some(&SecretString::from(both.clone()))).unwrap());
    rewrap(&store, &first_only, |n, _| moved = n).await.unwrap();
    let versions: Vec<(i64,)> = sqlx::query_as("SELECT key_version FROM integrations")
        .fetch_all(&store.pool)
        .await
        .unwrap();
    assert!(versions.iter().all(|(v,)| *v == 2));
    assert_eq!(
        rewrap(&store, &vault, |_, _| {}).await.unwrap().rewrapped,
        0,
        "a second run has nothing left to do"
    );
    // Old versions can now be retired: the new key alone opens everything.
    let only_new = both.split(',').nth(1).unwrap().to_string();
    let (store2, vault2) = deskbridge::app::open(&config_for(&app, Some(&only_new)))
        .await
        .unwrap();
    let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT id, org_id FROM integrations")
        .fetch_all(&store2.pool)
        .await
        .unwrap();
    for (id, org) in rows {
        let k = connections::api_key(&store2, &vault2, org, id)
            .await
            .unwrap();
        assert!(!k.expose_for_encryption().is_empty());
    }
    let (sealed,): (String,) =
        sqlx::query_as("SELECT alert_webhook_secret FROM organisations WHERE id = $1")
            .bind(acme)
            .fetch_one(&store2.pool)
            .await
            .unwrap();
    assert_eq!(
        vault2
            .decrypt(&sealed, hook_binding)
            .unwrap()
            .expose_secret(),
        "signing secret"
    );
    let _ = moved;
}

#[tokio::test]
async fn rows_under_an_unconfigured_version_refuse_startup_and_name_it() {
    let app = spawn_app().await;
    let a = app.login("admin@acme.test").await;
    app.connect(&a, "acme", &app.admin_key()).await;
    let err = deskbridge::app::open(&config_for(&app, Some(&MasterKeys::generate(2))))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("versions [1]"), "{err}");
}

/// Both organisations connect the same help desk, each with its own admin's key.
async fn two_organisations_connected() -> TestApp {
    let app = spawn_app().await;
    let a = app.login("admin@acme.test").await;
    app.connect(&a, "acme", &app.admin_key()).await;
    let b = app.login("admin@other.test").await;
    app.connect(&b, "acme", &app.key(freshdesk_emulator::well_known::OWNER))
        .await;
    app
}
