//! The `deskbridge` binary as an operator runs it: startup fails closed on a missing or wrong
//! master key, and `vault rewrap` survives being killed halfway.

use crate::helpers;

use std::process::Command;

use deskbridge::accounts::{self, Role};
use deskbridge::vault::MasterKeys;

fn deskbridge(app: &helpers::TestApp, keys: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_deskbridge"));
    c.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DESKBRIDGE_DATABASE__URL", &app.db_url)
        .env("DESKBRIDGE_SERVER__LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn");
    if let Some(k) = keys {
        c.env("DESKBRIDGE_VAULT__MASTER_KEYS", k);
    }
    c.output().expect("the deskbridge binary runs")
}

#[tokio::test]
async fn the_server_refuses_to_start_without_its_master_key_or_with_the_wrong_one() {
    let app = helpers::spawn_app().await;
    let out = deskbridge(&app, None, &["serve"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DESKBRIDGE_VAULT__MASTER_KEYS"), "{err}");
    let wrong = MasterKeys::generate(1);
    let out = deskbridge(&app, Some(&wrong), &["serve"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("master key for version 1 is wrong"), "{err}");
    assert!(
        !err.contains(wrong.split(':').nth(1).unwrap()),
        "the key value is never printed"
    );
    let out = deskbridge(&app, Some("1:c2hvcnQ="), &["serve"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not 32"));
}

#[tokio::test]
async fn a_rewrap_killed_halfway_loses_nothing_and_finishes_when_run_again() {
    let app = helpers::spawn_app().await;
    for n in 0..5 {
        let org = accounts::create_org(&app.store, &format!("Org {n}"))
            .await
            .unwrap();
        accounts::create_user(
            &app.store,
            org,
            &format!("admin{n}@orgs.test"),
            helpers::PASSWORD,
            Role::Admin,
        )
        .await
        .unwrap();
        let b = app.login(&format!("admin{n}@orgs.test")).await;
        assert_eq!(
            app.connect(&b, "acme", &app.admin_key()).await.status(),
            reqwest::StatusCode::SEE_OTHER
        );
    }
    let both = format!("{},{}", app.master_keys, MasterKeys::generate(2));
    let mut c = Command::new(env!("CARGO_BIN_EXE_deskbridge"));
    let out = c
        .args(["vault", "rewrap"])
        .env("DESKBRIDGE_DATABASE__URL", &app.db_url)
        .env("DESKBRIDGE_VAULT__MASTER_KEYS", &both)
        .env("DESKBRIDGE_FAILPOINT", "rewrap-abort-after:2")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the failpoint kills the process");
    let versions: Vec<(i64,)> = sqlx::query_as("SELECT key_version FROM integrations ORDER BY id")
        .fetch_all(&app.store.pool)
        .await
        .unwrap();
    assert_eq!(versions.iter().filter(|(v,)| *v == 2).count(), 2);
    let out = deskbridge(&app, Some(&both), &["vault", "rewrap"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("3 stored key(s) now use master key version 2")
    );
    let newest = both.split(',').nth(1).unwrap().to_string();
    let (store, vault) = {
        let mut c = deskbridge::config::Config::default();
        c.database.url = secrecy::SecretString::from(app.db_url.clone());
        c.vault.master_keys = Some(secrecy::SecretString::from(newest));
        deskbridge::app::open(&c)
            .await
            .expect("the newest key alone opens everything")
    };
    let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT id, org_id FROM integrations")
        .fetch_all(&store.pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 5);
    for (id, org) in rows {
        let key = deskbridge::connections::api_key(&store, &vault, org, id)
            .await
            .unwrap();
        assert_eq!(key.expose_for_encryption(), app.admin_key());
    }
}

// Multi-threaded: the child process talks to the emulator served by this test's runtime while the
// test blocks on the child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_command_copies_an_integration_in_the_foreground() {
    let app = helpers::spawn_app_full(150, freshdesk_emulator::Plan::Unlimited, |_| {}).await;
    let b = app.login("admin@acme.test").await;
    app.connect(&b, "acme", &app.admin_key()).await;
    let t = app.the_integration().await;
    let out = app.sync_command(t).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let n = app.count("fd_tickets").await;
    assert!(n >= 145, "{n} tickets copied");
    let out = app
        .sync_command(deskbridge::sync::Target {
            org_id: 999,
            integration_id: t.integration_id,
        })
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such integration in that organisation")
    );
}

/// A small deterministic generator, so a failure names the moments it killed at.
fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_at_random_moments_resumes_with_nothing_lost_or_duplicated() {
    let app = helpers::spawn_app_full(2_000, freshdesk_emulator::Plan::Unlimited, |_| {}).await;
    let b = app.login("admin@acme.test").await;
    app.connect(&b, "acme", &app.admin_key()).await;
    let t = app.the_integration().await;
    let (id, org) = (t.integration_id, t.org_id);
    let command = |args: &[&str]| {
        let (org, id) = (org.to_string(), id.to_string());
        let mut c = app.cli(args);
        c.args(["--org", &org, "--integration", &id])
            .env("DESKBRIDGE_SYNC__LEASE_STALE_SECS", "2")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        c
    };
    let mut seed = 0x5eed_u64;
    let mut kills = Vec::new();
    for _ in 0..4 {
        let wait = lcg(&mut seed) % 800;
        let runs = || app.count("sync_runs");
        let before = runs().await;
        let mut child = command(&["sync"]).spawn().unwrap();
        // Killed at a random moment after its run began (a loaded machine may take a while to
        // start it): before that there is nothing to interrupt.
        let started = std::time::Instant::now();
        loop {
            if runs().await > before || started.elapsed() > std::time::Duration::from_secs(30) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        std::thread::sleep(std::time::Duration::from_millis(wait));
        let _ = child.kill(); // SIGKILL: no cleanup runs
        let _ = child.wait();
        kills.push(wait);
        // The dead run's lease must go stale before the next run may take it.
        std::thread::sleep(std::time::Duration::from_millis(2_100));
    }
    let out = command(&["sync"]).output().unwrap();
    assert!(
        out.status.success(),
        "kills at {kills:?} ms: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export_path = app.dir.join("export.json");
    let export = app.control.export(None).await.unwrap().to_string();
    std::fs::write(&export_path, export).unwrap();
    let verify = command(&["sync", "verify", "--export", export_path.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "kills at {kills:?} ms: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    let (interrupted,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM sync_runs WHERE status = 'interrupted'")
            .fetch_one(&app.store.pool)
            .await
            .unwrap();
    assert!(interrupted >= 1, "killed runs are recorded as interrupted");
}

#[tokio::test]
async fn a_sync_in_another_process_stops_using_the_old_key_once_the_server_reauthorizes() {
    use freshdesk_emulator::well_known;
    let app = helpers::spawn_app_full(400, freshdesk_emulator::Plan::Unlimited, |_| {}).await;
    let b = app.login("admin@acme.test").await;
    app.connect(&b, "acme", &app.admin_key()).await;
    let t = app.the_integration().await;
    let id = t.integration_id;
    // Every conversations call waits, so the foreground sync is still running when the key
    // changes.
    app.emulator(
        reqwest::Method::POST,
        "/_emulator/faults",
        Some(serde_json::json!({"path_prefix": "/api/v2/tickets/", "kind": "delay", "delay_ms": 40, "count": 100000})),
    )
    .await;
    let mut child = app
        .sync_command(t)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let old = app.emu.agent(well_known::INTEGRATION_ADMIN).id;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while app
        .requests()
        .await
        .iter()
        .filter(|(_, a, p)| *a == Some(old) && p.contains("/conversations"))
        .count()
        < 5
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the child reached conversations"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let r = app
        .post(
            &b,
            &format!("/settings/integrations/{id}/reauthorize"),
            &[
                ("api_key", &app.key(well_known::OWNER)),
                ("confirm_other_agent", "yes"),
            ],
        )
        .await;
    assert!(r.status().is_redirection() || r.status().is_success());
    // Another process learns of the change from the row, which its clients re-read at most every
    // RECHECK; calls already in flight then finish. After that, nothing with the old key.
    tokio::time::sleep(
        deskbridge::connections::keys::RECHECK + std::time::Duration::from_millis(250),
    )
    .await;
    let marker = app.request_marker().await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let late: Vec<String> = app
        .requests()
        .await
        .into_iter()
        .filter(|(seq, a, _)| *seq > marker && *a == Some(old))
        .map(|(_, _, p)| p)
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(late, Vec::<String>::new());
}
