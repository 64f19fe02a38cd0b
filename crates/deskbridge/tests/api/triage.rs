//! Triage against the emulator: a field with labelled history is trained by a job and its
//! evaluation (accuracy, per value, the precision-coverage picture) shows; in shadow mode a new
//! ticket is predicted once, through the sync's change feed, nothing is written to Freshdesk, and
//! the predict API abstains on empty text with its reason; a field with too little history says
//! why it cannot be learnt.

use std::time::{Duration, Instant};

use deskbridge::sync::Target;
use freshdesk_emulator::Plan;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{self, Browser, TestApp};

/// Posts the Triage page's form: `train` a field, or set its `mode` with a target in percent.
async fn change(app: &TestApp, b: &Browser, t: Target, fields: &[(&str, &str)]) -> StatusCode {
    let path = format!("/settings/integrations/{}/triage", t.integration_id);
    app.post(b, &path, fields).await.status()
}

/// Switches the category field to shadow with a target precision of `target` percent.
async fn shadow(app: &TestApp, b: &Browser, t: Target, target: &str) -> StatusCode {
    let form = [
        ("action", "mode"),
        ("field", "cf_category"),
        ("mode", "shadow"),
        ("target", target),
    ];
    change(app, b, t, &form).await
}

/// A synced help desk of `tickets` tickets (600 hold enough labelled history for the category).
async fn synced(tickets: usize) -> (TestApp, Browser, Target) {
    let app = helpers::spawn_app_full(tickets, Plan::Unlimited, |_| {}).await;
    let (b, t) = app.connect_acme().await;
    let client = app.client(t).await;
    deskbridge::sync::run(&app.store, &client, t, |_| {})
        .await
        .unwrap();
    (app, b, t)
}

async fn models(app: &TestApp, b: &Browser, t: Target) -> Vec<Value> {
    let path = format!("/api/v1/integrations/{}/triage/models", t.integration_id);
    let v = app.api_json(b, &path).await;
    v["models"].as_array().cloned().unwrap_or_default()
}

/// Trains the category field through the page and waits for the model to be ready.
async fn trained(app: &TestApp, b: &Browser, t: Target) -> Value {
    let form = [("action", "train"), ("field", "cf_category")];
    assert_eq!(change(app, b, t, &form).await, StatusCode::SEE_OTHER);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ms = models(app, b, t).await;
        if let Some(m) = ms.first().filter(|m| m["status"] != "training") {
            assert_eq!(m["status"], "ready", "{m}");
            return m.clone();
        }
        assert!(Instant::now() < deadline, "the training finished");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_field_with_history_is_trained_by_a_job_and_its_evaluation_shows_the_curve() {
    let (app, b, t) = synced(600).await;
    let id = t.integration_id;
    let page = app
        .page(&b, &format!("/settings/integrations/{id}/triage"))
        .await;
    assert!(page.contains("data-field=\"cf_category\""), "{page}");

    let m = trained(&app, &b, t).await;

    let report = &m["report"];
    let values = report["values"].as_u64().unwrap() as f64;
    let accuracy = report["accuracy"].as_f64().unwrap();
    assert!(values >= 2.0);
    assert!(
        accuracy > 1.5 / values,
        "better than chance: {accuracy} of {values} values"
    );
    assert!(report["test_n"].as_u64().unwrap() > 0);
    let page = app
        .page(
            &b,
            &format!("/settings/integrations/{id}/triage/models/{}", m["id"]),
        )
        .await;
    assert!(page.contains("class=\"curve\""), "the picture is drawn");
    assert!(page.contains("id=\"model-values\""));
}

#[tokio::test]
async fn in_shadow_mode_a_new_ticket_is_predicted_once_and_nothing_is_written() {
    let (app, b, t) = synced(600).await;
    let id = t.integration_id;
    trained(&app, &b, t).await;
    assert_eq!(shadow(&app, &b, t, "50").await, StatusCode::SEE_OTHER);
    let before = app.request_marker().await;
    let created = app
        .control
        .create_ticket(json!({
            "subject": "My card payment was declined",
            "description": "The shop refused my card twice today."
        }))
        .await
        .unwrap();
    let ticket = created["id"].as_i64().unwrap();

    // Two syncs through the queue: the first brings the ticket, the second changes nothing.
    for _ in 0..2 {
        deskbridge::runtime::start_sync(&app.state.queue, t, "test")
            .await
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (n,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM triage_predictions WHERE ticket_id = $1")
                    .bind(ticket)
                    .fetch_one(&app.store.pool)
                    .await
                    .unwrap();
            if n > 0 {
                assert_eq!(n, 1, "one prediction per ticket, field and model");
                break;
            }
            assert!(Instant::now() < deadline, "the new ticket was predicted");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let writes: Vec<_> = app
        .control
        .requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.seq > before && r.method != "GET")
        .collect();
    assert!(
        writes.is_empty(),
        "shadow mode wrote to Freshdesk: {writes:?}"
    );
    let page = app
        .page(&b, &format!("/settings/integrations/{id}/triage"))
        .await;
    assert!(page.contains(&format!("#{ticket}")), "{page}");
    let made = app
        .api_json(&b, &format!("/api/v1/integrations/{id}/triage/predictions"))
        .await;
    assert_eq!(made["predictions"][0]["ticket_id"], ticket);
    assert_eq!(made["predictions"][0]["outcome"], "shadow");

    // The predict API: empty text abstains with its reason; a real one gets the top three.
    let path = format!("/api/v1/integrations/{id}/triage/predict");
    let body = json!({"subject": " ", "description": "<p></p>"});
    let r = app.api_post(&b, &path, body).await;
    let empty: Value = r.json().await.unwrap();
    let p = &empty["predictions"][0];
    assert_eq!(p["value"], Value::Null, "{empty}");
    assert!(p["abstained"].as_str().unwrap().contains("no words"), "{p}");
    let body =
        json!({"subject": "My card was declined at the shop", "description": "Twice today."});
    let full: Value = app.api_post(&b, &path, body).await.json().await.unwrap();
    assert_eq!(full["predictions"][0]["field"], "cf_category");
    assert_eq!(full["predictions"][0]["top"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_field_with_too_little_history_cannot_be_trained_and_says_why() {
    // Fifteen tickets: no value of any field has ten examples.
    let (app, b, t) = synced(15).await;
    let path = format!("/settings/integrations/{}/triage", t.integration_id);
    let form = [("action", "train"), ("field", "cf_category")];
    let r = app.post(&b, &path, &form).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = r.text().await.unwrap();
    assert!(text.contains("cannot be learnt"), "{text}");
    let no_model = shadow(&app, &b, t, "90").await;
    assert_eq!(no_model, StatusCode::UNPROCESSABLE_ENTITY, "no model yet");
    let unknown = [("action", "train"), ("field", "cf_nonexistent")];
    assert_eq!(change(&app, &b, t, &unknown).await, StatusCode::NOT_FOUND);
    assert!(models(&app, &b, t).await.is_empty(), "nothing was queued");
}
