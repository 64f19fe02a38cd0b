//! Change notifications: a sync that changes records sends one signed `records.changed` event per
//! stretch of the feed (retried with the same event id until the receiver takes it), whose cursors
//! read exactly the changes; a sync that changes nothing sends nothing. (Private targets are
//! refused with the alert webhook's, in `health`.)

use std::time::{Duration, Instant};

use deskbridge::sync::Target;
use freshdesk_emulator::Plan;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{self, Hook, Hooks, TestApp};

/// Waits until `n` requests arrived, then a little longer to see that no more do.
async fn settle(seen: &Hooks, n: usize) -> Vec<Hook> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while seen.lock().len() < n {
        assert!(
            Instant::now() < deadline,
            "{n} requests arrived: {}",
            seen.lock().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let got = seen.lock().clone();
    assert_eq!(got.len(), n, "exactly {n} requests: {got:?}");
    got
}

async fn sync_by_job(app: &TestApp, t: Target) {
    let queued = deskbridge::runtime::handlers::start_sync(&app.state.queue, t, "test")
        .await
        .unwrap();
    assert!(queued, "a sync was queued");
}

fn changed(event: &Value, stream: &str) -> Option<(i64, String)> {
    event["streams"].as_array().unwrap().iter().find_map(|s| {
        (s["stream"] == stream).then(|| {
            (
                s["changed"].as_i64().unwrap(),
                s["cursor"].as_str().unwrap().to_string(),
            )
        })
    })
}

async fn records_from(app: &TestApp, token: &str, t: Target, cursor: &str) -> Vec<Value> {
    let url = format!(
        "{}/api/v1/integrations/{}/records/tickets?limit=1000&cursor={cursor}",
        app.base, t.integration_id
    );
    let r = app.http.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["records"].as_array().unwrap().clone()
}

#[tokio::test]
async fn each_change_is_announced_once_signed_retried_with_one_event_id_and_its_cursor_reads_it() {
    // Arrange: a receiver that fails the first delivery, set as the change webhook.
    let app = helpers::spawn_app_full(40, Plan::Unlimited, |c| {
        c.alerts.allow_private_webhook_targets = true;
        c.alerts.retry_base_secs = 1;
    })
    .await;
    let (b, t) = app.connect_acme().await;
    let (url, seen) = helpers::webhook_receiver(1).await;
    let page = app
        .post_page(
            &b,
            "/settings/alerts",
            &[("kind", "changes"), ("webhook_url", url.as_str())],
        )
        .await;
    let secret = helpers::shown_once(&page, "changes-secret");
    let token = helpers::records_token(&app, &b).await;

    // Act: a sync through the job queue.
    sync_by_job(&app, t).await;

    // Assert: one event, delivered on the second try with the same id and body, signed.
    let got = settle(&seen, 2).await;
    assert!(
        got[0].failed && !got[1].failed,
        "the first attempt failed, the second took"
    );
    assert_eq!(
        got[0].event_id, got[1].event_id,
        "a retry keeps its event id"
    );
    assert_eq!(got[0].body, got[1].body, "a retry keeps its body");
    helpers::verify_signature(&secret, &got[1].signature, &got[1].body);
    let event: Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(event["event"], "records.changed");
    assert_eq!(event["event_id"], got[1].event_id);
    assert_eq!(event["integration_id"], t.integration_id);
    let (n, cursor) = changed(&event, "tickets").expect("tickets changed");
    assert_eq!(n, app.count("fd_tickets").await);
    assert_eq!(records_from(&app, &token, t, &cursor).await.len() as i64, n);

    // Act: a sync that changes nothing, then one after an edit.
    sync_by_job(&app, t).await;
    let got = settle(&seen, 2).await;
    assert_eq!(got.len(), 2, "nothing changed, nothing announced");
    let (id,): (i64,) = sqlx::query_as("SELECT MIN(id) FROM fd_tickets WHERE state = 'live'")
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
    app.control
        .update_ticket(id, json!({"subject": "Announced once"}))
        .await
        .unwrap();
    sync_by_job(&app, t).await;

    // Assert: a second event starts where the first ended and reads just that ticket.
    let got = settle(&seen, 3).await;
    helpers::verify_signature(&secret, &got[2].signature, &got[2].body);
    let second: Value = serde_json::from_str(&got[2].body).unwrap();
    assert_eq!(second["from_position"], event["to_position"]);
    let (n, cursor) = changed(&second, "tickets").expect("tickets changed");
    assert_eq!(n, 1);
    let read = records_from(&app, &token, t, &cursor).await;
    assert_eq!(read.len(), 1);
    assert_eq!(read[0]["id"], id);
    assert_eq!(read[0]["fields"]["subject"], "Announced once");
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM change_notifications")
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
    assert_eq!(rows, 2, "one notification per stretch");
}
