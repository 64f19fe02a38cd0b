//! The outside security review's findings, each as a test that failed before its fix: sign-in
//! abuse (the parallel race, the rotating header, the cross-organisation lockout, oversized
//! inputs), old keys still in use after disconnect and re-authorize, upstream text echoed, a
//! ciphertext that cannot be decrypted, and the smaller items (request ids, JSON errors, HSTS,
//! all-or-nothing organisations, rewrap naming what it could not do).

use std::time::{Duration, Instant};

use deskbridge::sync::Target;
use freshdesk_emulator::{Plan, well_known};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{self, PASSWORD, TestApp};

async fn count(app: &TestApp, sql: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
    n
}

async fn sign_in_from(app: &TestApp, forwarded: Option<&str>, email: &str, pw: &str) -> StatusCode {
    let mut r = app
        .http
        .post(format!("{}/login", app.base))
        .form(&[("email", email), ("password", pw)]);
    if let Some(f) = forwarded {
        r = r.header("x-forwarded-for", f);
    }
    r.send().await.unwrap().status()
}

#[tokio::test]
async fn thirty_parallel_wrong_passwords_for_one_account_admit_exactly_the_limit() {
    let app = helpers::spawn_app().await;
    let attempts = (0..30).map(|i| {
        let app = &app;
        async move { sign_in_from(app, None, "admin@acme.test", &format!("wrong guess {i}")).await }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let evaluated = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((evaluated, throttled), (5, 25), "{statuses:?}");
    // Only the evaluated ones were stored.
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'sign_in_failed'"
        )
        .await,
        5
    );
}

#[tokio::test]
async fn a_rotating_forwarded_for_header_does_not_escape_the_throttle() {
    let app = helpers::spawn_app().await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let ip = format!("203.0.113.{i}");
        statuses.push(sign_in_from(&app, Some(&ip), "admin@acme.test", "not the password").await);
    }
    assert_eq!(&statuses[..5], &[StatusCode::UNAUTHORIZED; 5]);
    assert_eq!(&statuses[5..], &[StatusCode::TOO_MANY_REQUESTS; 3]);
}

#[tokio::test]
async fn failures_from_one_client_never_refuse_another_organisations_admin() {
    let app = helpers::spawn_app().await;
    for _ in 0..6 {
        sign_in_from(&app, None, "admin@acme.test", "not the password").await;
    }
    assert_eq!(
        sign_in_from(&app, None, "admin@acme.test", "not the password").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        sign_in_from(&app, None, "admin@other.test", PASSWORD).await,
        StatusCode::SEE_OTHER,
        "another organisation's admin signs in from the same address"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_a_failing_client_never_locks_out_the_right_password() {
    let app = helpers::spawn_app_with(|c| {
        c.server.trusted_proxies = deskbridge::config::TrustedProxies::parse("127.0.0.1").unwrap();
    })
    .await;
    let attacker = "198.51.100.7, 203.0.113.9";
    for _ in 0..10 {
        sign_in_from(&app, Some(attacker), "admin@acme.test", "not the password").await;
    }
    assert_eq!(
        sign_in_from(&app, Some(attacker), "admin@acme.test", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the failing client is throttled even with the right password"
    );
    // The client is the hop the proxy added (the right-most), not what the client claimed.
    assert_eq!(
        sign_in_from(&app, Some("203.0.113.9"), "admin@acme.test", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        sign_in_from(
            &app,
            Some("203.0.113.9, 192.0.2.44"),
            "admin@acme.test",
            PASSWORD
        )
        .await,
        StatusCode::SEE_OTHER,
        "the real admin, from another address, signs in"
    );
}

#[tokio::test]
async fn oversized_sign_in_inputs_are_refused_before_any_work_and_store_nothing() {
    let app = helpers::spawn_app().await;
    let long_email = format!("{}@acme.test", "a".repeat(300));
    let r = app.login_raw(&long_email, "whatever").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("too long"));
    let r = app.login_raw("admin@acme.test", &"p".repeat(1025)).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A body far past any form's size is refused unread.
    let huge = "x".repeat(1_900_000);
    let r = app.login_raw(&huge, "whatever").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("too large"));
    assert_eq!(
        count(
            &app,
            "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'sign_in%'"
        )
        .await,
        0
    );
    assert_eq!(count(&app, "SELECT COUNT(*) FROM login_throttle").await, 0);
    // The real admin is unaffected.
    app.login("admin@acme.test").await;
}

/// A connected integration whose sync runs slowly (every ticket's conversations call waits),
/// with the sync running.
async fn slow_sync(app: &TestApp) -> Target {
    let b = app.login("admin@acme.test").await;
    assert_eq!(
        app.connect(&b, "acme", &app.admin_key()).await.status(),
        StatusCode::SEE_OTHER
    );
    let t = app.the_integration().await;
    app.emulator(
        Method::POST,
        "/_emulator/faults",
        Some(json!({"path_prefix": "/api/v2/tickets/", "kind": "delay", "delay_ms": 40, "count": 100000})),
    )
    .await;
    assert!(
        deskbridge::runtime::start_sync(&app.state.queue, t, "test")
            .await
            .unwrap()
    );
    let integration = app.emu.agent(well_known::INTEGRATION_ADMIN).id;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let convs = app
            .requests()
            .await
            .iter()
            .filter(|(_, a, p)| *a == Some(integration) && p.contains("/conversations"))
            .count();
        if convs >= 5 {
            return t;
        }
        assert!(Instant::now() < deadline, "the sync reached conversations");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Calls made with `agent`'s key that left after the marker.
async fn calls_after(app: &TestApp, marker: u64, agent: i64) -> Vec<String> {
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.requests()
        .await
        .into_iter()
        .filter(|(seq, a, _)| *seq > marker && *a == Some(agent))
        .map(|(_, _, p)| p)
        .collect()
}

#[tokio::test]
async fn after_disconnect_returns_no_call_with_the_old_key_leaves() {
    let app = helpers::spawn_app_full(400, Plan::Unlimited, |_| {}).await;
    let t = slow_sync(&app).await;
    let b = app.login("admin@acme.test").await;
    let r = app.disconnect(&b, t.integration_id).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let marker = app.request_marker().await;
    let old = app.emu.agent(well_known::INTEGRATION_ADMIN).id;
    assert_eq!(calls_after(&app, marker, old).await, Vec::<String>::new());
}

#[tokio::test]
async fn after_reauthorize_returns_no_call_with_the_old_key_leaves_and_webhooks_use_the_new_one() {
    let app = helpers::spawn_app_full(400, Plan::Unlimited, |_| {}).await;
    let t = slow_sync(&app).await;
    let b = app.login("admin@acme.test").await;
    // A webhook refresh first, so that the worker holds a client with the old key.
    let page = app
        .post_page(
            &b,
            &format!("/settings/integrations/{}/sync/webhook", t.integration_id),
            &[],
        )
        .await;
    let secret = helpers::shown_once(&page, "hook-secret");
    let hook = |ticket: i64| {
        app.http
            .post(format!("{}/hooks/freshdesk/{}", app.base, t.integration_id))
            .header(deskbridge::web::HOOK_HEADER, &secret)
            .json(&json!({"ticket_id": ticket}))
            .send()
    };
    assert!(hook(3).await.unwrap().status().is_success());
    let r = app
        .post(
            &b,
            &format!("/settings/integrations/{}/reauthorize", t.integration_id),
            &[
                ("api_key", &app.key(well_known::OWNER)),
                ("confirm_other_agent", "yes"),
            ],
        )
        .await;
    assert!(
        r.status().is_redirection() || r.status().is_success(),
        "{}",
        r.status()
    );
    let marker = app.request_marker().await;
    assert!(hook(4).await.unwrap().status().is_success());
    let old = app.emu.agent(well_known::INTEGRATION_ADMIN).id;
    assert_eq!(calls_after(&app, marker, old).await, Vec::<String>::new());
    let new = app.emu.agent(well_known::OWNER).id;
    let refreshed_with_new_key = app
        .requests()
        .await
        .iter()
        .any(|(seq, a, p)| *seq > marker && *a == Some(new) && p.ends_with("/tickets/4"));
    assert!(
        refreshed_with_new_key,
        "the webhook refresh used the new key"
    );
}

#[tokio::test]
async fn an_upstream_that_echoes_the_authorization_header_is_never_repeated() {
    let app = helpers::spawn_app().await;
    let b = app.login("admin@acme.test").await;
    let key = app.admin_key();
    app.emulator(
        Method::POST,
        "/_emulator/faults",
        Some(json!({"path_prefix": "/api/v2/roles", "kind": "echo_authorization", "count": 5})),
    )
    .await;
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:X"));
    let page = app.connect(&b, "acme", &key).await.text().await.unwrap();
    assert!(page.contains("plan does not include"), "{page}");
    let api = app
        .api_post(
            &b,
            "/api/v1/integrations",
            json!({"domain": "acme", "api_key": key}),
        )
        .await
        .text()
        .await
        .unwrap();
    let dashboard = app.page(&b, "/dashboard").await;
    let audit: Vec<(String,)> = sqlx::query_as("SELECT detail FROM audit_log")
        .fetch_all(&app.store.pool)
        .await
        .unwrap();
    let everything = format!("{page}{api}{dashboard}{audit:?}");
    assert!(
        !everything.contains(&basic),
        "the echoed credential is repeated"
    );
    assert!(!everything.contains(&key));
    assert!(
        !everything.contains("Request headers"),
        "upstream text is shown"
    );
}

#[tokio::test]
async fn a_key_that_cannot_be_decrypted_is_a_health_cause_with_one_alert_and_no_sync() {
    let app = helpers::spawn_app_with(|c| c.health.interval_secs = 1).await;
    let (acme, other, rows) = moved_ciphertext(&app).await;
    let id = rows[1].0;
    let deadline = Instant::now() + Duration::from_secs(20);
    let health = loop {
        let h: Value = app
            .api_json(&other, &format!("/api/v1/integrations/{id}/health"))
            .await;
        if h["cause"] == "key_unreadable" {
            break h;
        }
        assert!(Instant::now() < deadline, "the cause appears: {h}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(health["status"], "needs_attention");
    assert!(health["fix"].as_str().unwrap().contains("Re-authorize"));
    // Several more checks go by: still one status change and one alert.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let events = count(
        &app,
        &format!("SELECT COUNT(*) FROM health_events WHERE integration_id = {id} AND cause = 'key_unreadable'"),
    )
    .await;
    assert_eq!(events, 1);
    let opened = count(
        &app,
        &format!(
            "SELECT COUNT(*) FROM alert_deliveries WHERE integration_id = {id} AND kind = 'opened'"
        ),
    )
    .await;
    assert!(
        opened <= 2,
        "one alert per channel, not one per check: {opened}"
    );
    let t = Target {
        org_id: health_org(&app, id).await,
        integration_id: id,
    };
    assert!(
        !deskbridge::runtime::start_sync(&app.state.queue, t, "test")
            .await
            .unwrap(),
        "syncs are paused"
    );
    let r = app
        .post(&other, &format!("/settings/integrations/{id}/sync"), &[])
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "Sync now says it did not start"
    );
    assert!(r.text().await.unwrap().contains("cannot be read"));
    // The other organisation's integration is untouched.
    let h: Value = app
        .api_get(&acme, &format!("/api/v1/integrations/{}/health", rows[0].0))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(h["cause"], "key_unreadable");
}

/// Both organisations connect the same help desk; then organisation A's ciphertext is moved into
/// B's row with raw SQL. Bound to A's row, it cannot open for B.
async fn moved_ciphertext(
    app: &TestApp,
) -> (helpers::Browser, helpers::Browser, Vec<(i64, String)>) {
    let acme = app.login("admin@acme.test").await;
    let other = app.login("admin@other.test").await;
    app.connect(&acme, "acme", &app.admin_key()).await;
    app.connect(&other, "acme", &app.admin_key()).await;
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, key_ciphertext FROM integrations ORDER BY id")
            .fetch_all(&app.store.pool)
            .await
            .unwrap();
    sqlx::query("UPDATE integrations SET key_ciphertext = $1 WHERE id = $2")
        .bind(&rows[0].1)
        .bind(rows[1].0)
        .execute(&app.store.pool)
        .await
        .unwrap();
    (acme, other, rows)
}

async fn health_org(app: &TestApp, id: i64) -> i64 {
    let (org,): (i64,) = sqlx::query_as("SELECT org_id FROM integrations WHERE id = $1")
        .bind(id)
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
    org
}

#[tokio::test]
async fn rewrap_names_the_row_it_cannot_decrypt_and_moves_the_rest() {
    let app = helpers::spawn_app().await;
    let (_, _, rows) = moved_ciphertext(&app).await;
    let both = format!(
        "{},{}",
        app.master_keys,
        deskbridge::vault::MasterKeys::generate(2)
    );
    let vault = deskbridge::vault::Vault::new(
        deskbridge::vault::MasterKeys::parse(Some(&secrecy::SecretString::from(both))).unwrap(),
    );
    let report = crate::helpers::rewrap(&app.store, &vault, |_, _| {})
        .await
        .unwrap();
    assert_eq!(report.rewrapped, 1);
    assert_eq!(report.failed.len(), 1);
    assert!(
        report.failed[0].contains(&format!("integration {}", rows[1].0)),
        "{:?}",
        report.failed
    );
}

#[tokio::test]
async fn every_response_has_a_request_id_and_api_errors_are_json() {
    let app = helpers::spawn_app().await;
    let r = app
        .http
        .get(format!("{}/api/v1/nothing-here", app.base))
        .header("x-request-id", "client-chosen")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(id, "client-chosen", "a client's own id is not trusted");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("json")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["request_id"], id.as_str());
    assert_eq!(body["status"], 404);
    let page = app.anonymous("/nowhere").await;
    assert!(page.headers().contains_key("x-request-id"));
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("html")
    );
    let unauth = app.anonymous("/api/v1/integrations").await;
    assert_eq!(unauth.status(), StatusCode::UNAUTHORIZED);
    let body: Value = unauth.json().await.unwrap();
    assert!(body["error"].is_string());
}

#[tokio::test]
async fn hsts_is_sent_exactly_when_cookies_are_secure() {
    let secure = helpers::spawn_app().await;
    let r = secure.anonymous("/login").await;
    assert!(
        r.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .contains("max-age=")
    );
    let plain = helpers::spawn_app_with(|c| c.server.secure_cookies = false).await;
    let r = plain.anonymous("/login").await;
    assert!(!r.headers().contains_key("strict-transport-security"));
}

#[tokio::test]
async fn an_organisation_is_created_with_its_admin_or_not_at_all() {
    let app = helpers::spawn_app().await;
    let before = count(&app, "SELECT COUNT(*) FROM organisations").await;
    let weak = deskbridge::accounts::create_org_with_admin(
        &app.store,
        "Weak Password Ltd",
        "boss@weak.test",
        "Password1234",
    )
    .await;
    assert!(weak.unwrap_err().to_string().contains("guess"));
    let taken = deskbridge::accounts::create_org_with_admin(
        &app.store,
        "Taken Email Ltd",
        "admin@acme.test",
        "a perfectly good passphrase",
    )
    .await;
    assert!(matches!(
        taken,
        Err(deskbridge::accounts::AccountError::EmailTaken)
    ));
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM organisations").await,
        before
    );
    let (org, _) = deskbridge::accounts::create_org_with_admin(
        &app.store,
        "Fine Ltd",
        "boss@fine.test",
        "a perfectly good passphrase",
    )
    .await
    .unwrap();
    assert!(org > 0);
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM organisations").await,
        before + 1
    );
}
