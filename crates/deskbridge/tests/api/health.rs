//! Connection health against the emulator: every cause produced for real through its control API
//! and undone; the status text and fix in the page and the API; syncs paused and resumed with
//! nothing lost; exactly one alert and one resolved notice by email (an in-process SMTP listener)
//! and by signed webhook (a loopback receiver that checks the signature); anti-flap; repair.

use crate::helpers;

use std::sync::Arc;
use std::time::{Duration, Instant};

use deskbridge::sync::{self, Target};
use freshdesk_emulator::{Plan, well_known};
use parking_lot::Mutex;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Mail received by the test's SMTP listener: the raw DATA of each message.
type Inbox = Arc<Mutex<Vec<String>>>;

/// A minimal SMTP server on loopback that accepts everything and keeps each message.
async fn smtp_listener() -> (String, Inbox) {
    let inbox: Inbox = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    let keep = inbox.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let keep = keep.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut lines = BufReader::new(r).lines();
                let _ = w.write_all(b"220 test ESMTP\r\n").await;
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(d) = data.as_mut() {
                        if line == "." {
                            keep.lock().push(data.take().unwrap());
                            let _ = w.write_all(b"250 queued\r\n").await;
                        } else {
                            d.push_str(&line);
                            d.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 test\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    let _ = w.write_all(reply).await;
                }
            });
        }
    });
    (url, inbox)
}

struct World {
    app: helpers::TestApp,
    t: Target,
    b: helpers::Browser,
    inbox: Inbox,
    hooks: helpers::Hooks,
    secret: String,
    client: freshdesk::Client,
}

async fn world() -> World {
    world_with(|_| {}).await
}

async fn world_with(tweak: impl FnOnce(&mut deskbridge::config::Config)) -> World {
    let (smtp, inbox) = smtp_listener().await;
    let app = helpers::spawn_app_full(120, Plan::Unlimited, |c| {
        c.alerts.smtp_url = Some(secrecy::SecretString::from(smtp));
        c.alerts.allow_private_webhook_targets = true;
        c.alerts.retry_base_secs = 1;
        c.alerts.from = "deskbridge <alerts@deskbridge.test>".into();
        // Checks are run by the tests themselves, one at a time.
        c.health.interval_secs = 3600;
        c.health.unavailable_after_failures = 3;
        c.health.unavailable_after_secs = 0;
        tweak(c);
    })
    .await;
    let b = app.login("admin@acme.test").await;
    let r = app.connect(&b, "acme", &app.admin_key()).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let (hook_url, hooks) = helpers::webhook_receiver(0).await;
    let page = app
        .post_page(
            &b,
            "/settings/alerts",
            &[("webhook_url", hook_url.as_str())],
        )
        .await;
    let secret = helpers::shown_once(&page, "alert-secret");
    let t = app.the_integration().await;
    let client = app.client(t).await;
    sync::run(&app.store, &client, t, |_| {}).await.unwrap();
    World {
        app,
        t,
        b,
        inbox,
        hooks,
        secret,
        client,
    }
}

async fn control(app: &helpers::TestApp, path: &str, body: Value) -> Value {
    app.emulator(Method::POST, path, Some(body)).await
}

async fn status(w: &World) -> (String, Option<String>) {
    sqlx::query_as("SELECT status, health_cause FROM integrations WHERE id = $1")
        .bind(w.t.integration_id)
        .fetch_one(&w.app.store.pool)
        .await
        .unwrap()
}

/// The integration's own page, as its admin sees it.
async fn integration_page(w: &World) -> String {
    let path = format!("/settings/integrations/{}", w.t.integration_id);
    w.app.page(&w.b, &path).await
}

async fn check(w: &World) {
    w.app.state.monitor.check(w.t).await.unwrap();
}

async fn tickets(w: &World) -> i64 {
    w.app.count("fd_tickets").await
}

/// Waits until `n` emails and `n` webhooks have arrived, then a little longer to see no more.
async fn alerts_settle(w: &World, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while w.inbox.lock().len() < n || w.hooks.lock().len() < n {
        assert!(
            Instant::now() < deadline,
            "{n} alerts arrived: {} emails, {} webhooks",
            w.inbox.lock().len(),
            w.hooks.lock().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.inbox.lock().len(), n, "exactly {n} emails");
    assert_eq!(w.hooks.lock().len(), n, "exactly {n} webhooks");
}

/// Breaks the integration with `breaks`, checks the cause everywhere, then mends it with `mends`
/// and checks the recovery, the alerts and the data.
async fn break_and_mend(breaks: (&str, Value), mends: (&str, Value), cause: &str, words: &str) {
    let w = world().await;
    let before = tickets(&w).await;
    let agent = agent_id(&w).await.to_string();
    let breaks = (breaks.0.replace("{agent}", &agent), breaks.1);
    let mends = (mends.0.replace("{agent}", &agent), mends.1);
    control(&w.app, &breaks.0, breaks.1).await;
    check(&w).await;
    assert_eq!(
        status(&w).await,
        ("needs_attention".into(), Some(cause.into()))
    );
    let page = integration_page(&w).await;
    assert!(page.contains(words), "the page says {words:?}");
    assert!(page.contains("id=\"health-fix\""), "and what to do");
    let dash = w.app.page(&w.b, "/dashboard").await;
    assert!(
        dash.contains("data-testid=\"attention-banner\""),
        "a banner on every page"
    );
    let api: Value = w
        .app
        .api_json(
            &w.b,
            &format!("/api/v1/integrations/{}/health", w.t.integration_id),
        )
        .await;
    assert_eq!(api["status"], "needs_attention");
    assert_eq!(api["cause"], cause);
    assert!(api["fix"].as_str().unwrap().len() > 10);
    assert!(api["history"].as_array().unwrap().len() >= 2);
    // Paused: a sync is not started while it needs attention.
    assert!(
        !deskbridge::runtime::start_sync(&w.app.state.queue, w.t, "test")
            .await
            .unwrap()
    );
    alerts_settle(&w, 1).await;
    let body = w.hooks.lock()[0].body.clone();
    helpers::verify_signature(&w.secret, &w.hooks.lock()[0].signature, &body);
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["event"], "integration.incident.opened");
    assert_eq!(event["cause"], cause);
    assert!(w.inbox.lock()[0].contains("Needs attention"));
    // A second check of the same break sends nothing more.
    check(&w).await;
    control(&w.app, &mends.0, mends.1).await;
    check(&w).await;
    assert_eq!(status(&w).await.0, "connected");
    alerts_settle(&w, 2).await;
    let body = w.hooks.lock()[1].body.clone();
    helpers::verify_signature(&w.secret, &w.hooks.lock()[1].signature, &body);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["event"],
        "integration.incident.resolved"
    );
    assert!(w.inbox.lock()[1].contains("Resolved"));
    // Syncs resume from their cursors, and nothing was lost.
    sync::run(&w.app.store, &w.client, w.t, |_| {})
        .await
        .unwrap();
    assert_eq!(tickets(&w).await, before);
}

async fn agent_id(w: &World) -> i64 {
    w.app.emu.agent(well_known::INTEGRATION_ADMIN).id
}

/// One test per cause: break it through the emulator's control API, see the cause and its words
/// on the page, in the API and in one alert, then mend it and see it resolved.
macro_rules! cause_is_found_and_resolved {
    ($($name:ident: $breaks:expr => $mends:expr, $cause:literal, $words:literal;)+) => {$(
        #[tokio::test]
        async fn $name() {
            break_and_mend($breaks, $mends, $cause, $words).await;
        }
    )+};
}

cause_is_found_and_resolved! {
    a_suspended_integration_user_is_a_rejected_key_until_restored:
        ("/_emulator/agents/{agent}/suspend", json!({})) => ("/_emulator/agents/{agent}/restore", json!({})),
        "key_rejected", "Freshdesk rejected the API key";
    a_deleted_integration_user_needs_attention_until_restored:
        ("/_emulator/agents/{agent}/delete", json!({})) => ("/_emulator/agents/{agent}/restore", json!({})),
        "agent_deleted", "The integration user was deleted in Freshdesk";
    admin_rights_removed_need_attention_until_given_back:
        ("/_emulator/agents/{agent}/demote", json!({})) => ("/_emulator/agents/{agent}/promote", json!({})),
        "admin_removed", "no longer an admin";
    a_suspended_account_needs_attention_until_reactivated:
        ("/_emulator/account/suspend", json!({})) => ("/_emulator/account/restore", json!({})),
        "account_suspended", "The Freshdesk account is suspended";
    a_renamed_account_is_a_domain_not_found_until_renamed_back:
        ("/_emulator/account/domain", json!({"domain": "acme2"})) => ("/_emulator/account/domain", json!({"domain": "acme"})),
        "domain_not_found", "no Freshdesk account at this domain";
}

#[tokio::test]
async fn a_narrowed_scope_or_an_occasional_agent_is_a_warning_without_an_alert() {
    let w = world().await;
    let id = agent_id(&w).await;
    let group = w.app.emu.agent(well_known::GROUP_ADMIN).group_ids[0];
    control(
        &w.app,
        &format!("/_emulator/agents/{id}/scope"),
        json!({"ticket_scope": 2, "group_ids": [group]}),
    )
    .await;
    control(
        &w.app,
        &format!("/_emulator/agents/{id}/occasional"),
        json!({"occasional": true}),
    )
    .await;
    check(&w).await;
    assert_eq!(status(&w).await.0, "connected_with_warnings");
    let h: Value = w
        .app
        .api_json(
            &w.b,
            &format!("/api/v1/integrations/{}/health", w.t.integration_id),
        )
        .await;
    let detail = h["detail"].as_str().unwrap();
    assert!(
        detail.contains("narrowed from Global to Groups"),
        "{detail}"
    );
    assert!(detail.contains("occasional"), "{detail}");
    // It still works, so syncs go on and nobody is paged.
    sync::run(&w.app.store, &w.client, w.t, |_| {})
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(w.inbox.lock().is_empty() && w.hooks.lock().is_empty());
}

#[tokio::test]
async fn freshdesk_failing_flips_to_unavailable_only_after_several_failures() {
    let w = world().await;
    let fault = |count: u32| json!({"path_prefix": "/api/v2/agents/me", "kind": "status", "status": 503, "count": count});
    // One failure (with the client's own retries spent) changes nothing.
    control(&w.app, "/_emulator/faults", fault(5)).await;
    check(&w).await;
    assert_eq!(status(&w).await.0, "connected");
    check(&w).await;
    assert_eq!(
        status(&w).await.0,
        "connected",
        "two failures are not enough"
    );
    control(&w.app, "/_emulator/faults", fault(5)).await;
    check(&w).await;
    assert_eq!(
        status(&w).await,
        ("unavailable".into(), Some("unavailable".into()))
    );
    let page = integration_page(&w).await;
    assert!(page.contains("Freshdesk unavailable"));
    assert!(page.contains("Nothing to do on your side"));
    alerts_settle(&w, 1).await;
    w.app.control.clear_faults().await.unwrap();
    check(&w).await;
    assert_eq!(status(&w).await.0, "connected");
    alerts_settle(&w, 2).await;
}

#[tokio::test]
async fn a_reset_key_is_repaired_by_re_authorizing_with_the_new_one() {
    let w = world().await;
    let id = agent_id(&w).await;
    let before = tickets(&w).await;
    let new_key = control(
        &w.app,
        &format!("/_emulator/agents/{id}/reset-key"),
        json!({}),
    )
    .await["api_key"]
        .as_str()
        .unwrap()
        .to_string();
    check(&w).await;
    assert_eq!(status(&w).await.1.as_deref(), Some("key_rejected"));
    let r = w
        .app
        .post(
            &w.b,
            &format!("/settings/integrations/{}/reauthorize", w.t.integration_id),
            &[("api_key", new_key.as_str())],
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(status(&w).await, ("connected".into(), None));
    alerts_settle(&w, 2).await;
    assert_eq!(tickets(&w).await, before, "the synced copy is intact");
}

#[tokio::test]
async fn re_authorizing_with_a_key_freshdesk_rejects_is_refused_and_changes_nothing() {
    let w = world().await;
    let (fp_before,): (String,) = sqlx::query_as("SELECT key_fingerprint FROM integrations")
        .fetch_one(&w.app.store.pool)
        .await
        .unwrap();
    // A key of another Freshdesk account: this account does not know it.
    let r = w
        .app
        .post(
            &w.b,
            &format!("/settings/integrations/{}/reauthorize", w.t.integration_id),
            &[("api_key", "AnotherAccountsKeyAbcdefgh")],
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("rejected"));
    let (fp_after,): (String,) = sqlx::query_as("SELECT key_fingerprint FROM integrations")
        .fetch_one(&w.app.store.pool)
        .await
        .unwrap();
    assert_eq!(fp_before, fp_after);
    assert_eq!(status(&w).await.0, "connected");
}

#[tokio::test]
async fn re_authorizing_with_another_agent_asks_for_confirmation_and_shows_what_changes() {
    let w = world().await;
    let key = w.app.key(well_known::GROUP_ADMIN);
    let path = format!("/settings/integrations/{}/reauthorize", w.t.integration_id);
    let r = w.app.post(&w.b, &path, &[("api_key", key.as_str())]).await;
    assert_eq!(r.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("ticket scope Groups"),
        "the new scope is shown"
    );
    assert!(page.contains("Confirm to switch"));
    let r = w
        .app
        .post(
            &w.b,
            &path,
            &[("api_key", key.as_str()), ("confirm_other_agent", "yes")],
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    assert_eq!(status(&w).await.0, "connected_with_warnings");
}

#[tokio::test]
async fn a_private_or_metadata_webhook_of_either_kind_is_refused_before_any_packet_leaves() {
    let app = helpers::spawn_app().await;
    let b = app.login("admin@acme.test").await;
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.5/hook",
        "https://127.0.0.1:9/hook",
        "https://[::1]/hook",
        "https://localhost/hook",
        "http://example.com/hook",
        // SIIT, IPv4-compatible, NAT64 and 6to4 embeddings of private addresses.
        "https://[::ffff:0:a00:1]/hook",
        "https://[::a00:1]/hook",
        "https://[64:ff9b::a9fe:a9fe]/hook",
        "https://[2002:a00:1::1]/hook",
    ] {
        for kind in ["alerts", "changes"] {
            let fields = [("kind", kind), ("webhook_url", url)];
            let r = app.post(&b, "/settings/alerts", &fields).await;
            assert_eq!(
                r.status(),
                reqwest::StatusCode::UNPROCESSABLE_ENTITY,
                "{kind} {url}"
            );
            let page = r.text().await.unwrap();
            assert!(page.contains("id=\"alerts-error\""), "{page}");
        }
    }
    let saved: (Option<String>, Option<String>) = sqlx::query_as(
        "SELECT alert_webhook_url, changes_webhook_url FROM organisations WHERE name = 'Acme'",
    )
    .fetch_one(&app.store.pool)
    .await
    .unwrap();
    assert_eq!(saved, (None, None));
}

#[tokio::test]
async fn an_incident_that_stays_open_sends_a_reminder() {
    let w = world_with(|c| c.alerts.reminder_secs = 1).await;
    control(&w.app, "/_emulator/account/suspend", json!({})).await;
    check(&w).await;
    // Opened, then (a second or two later) a reminder on both channels while nothing changes.
    let deadline = Instant::now() + Duration::from_secs(10);
    let reminded = |w: &World| {
        w.inbox.lock().len() >= 2
            && w.hooks
                .lock()
                .iter()
                .any(|h| h.body.contains("integration.incident.reminder"))
    };
    while !reminded(&w) {
        assert!(
            Instant::now() < deadline,
            "a reminder arrived by email and webhook"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mails = w.inbox.lock().clone();
    assert!(mails[0].contains("Needs attention"));
    assert!(mails[1].contains("Still needs attention"));
}

#[tokio::test]
async fn a_sync_that_meets_a_rejected_key_checks_health_at_once() {
    // Arrange: scheduled checks are an hour apart, so only the sync can notice in time.
    let w = world().await;
    let id = agent_id(&w).await;
    control(
        &w.app,
        &format!("/_emulator/agents/{id}/reset-key"),
        json!({}),
    )
    .await;
    // Act
    assert!(
        deskbridge::runtime::start_sync(&w.app.state.queue, w.t, "test")
            .await
            .unwrap()
    );
    // Assert
    let deadline = Instant::now() + Duration::from_secs(15);
    while status(&w).await.1.as_deref() != Some("key_rejected") {
        assert!(
            Instant::now() < deadline,
            "no health check after the failed sync: {:?}",
            status(&w).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    alerts_settle(&w, 1).await;
}
