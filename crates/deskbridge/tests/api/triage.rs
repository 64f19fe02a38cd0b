//! Triage against the emulator: a field with labelled history is trained by a job and its
//! evaluation (accuracy, per value, the precision-coverage picture) shows; in shadow mode a new
//! ticket is predicted once, through the sync's change feed, nothing is written to Freshdesk, and
//! the predict API abstains on empty text with its reason; in write mode only an empty field is
//! written, once, and a person's value is kept; a field with too little history says why it
//! cannot be learnt.

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

/// Every request after `before` that was not a read.
async fn writes_since(
    app: &TestApp,
    before: u64,
) -> Vec<freshdesk_emulator::control_client::LoggedRequest> {
    let log = app.control.requests().await.unwrap();
    log.into_iter()
        .filter(|r| r.seq > before && r.method != "GET")
        .collect()
}

/// Queues a sync once the one before has finished (a sync queued or running takes no second).
async fn sync_after_the_last(app: &TestApp, t: Target) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !deskbridge::runtime::start_sync(&app.state.queue, t, "test")
        .await
        .unwrap()
    {
        assert!(Instant::now() < deadline, "the last sync finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A synced help desk whose category field is trained and in write mode (target 50%).
async fn writing() -> (TestApp, Browser, Target) {
    let (app, b, t) = synced(600).await;
    trained(&app, &b, t).await;
    write_back_on(&app, &b, t).await;
    (app, b, t)
}

/// Switches the category field to write-back, target 50%, through the page.
async fn write_back_on(app: &TestApp, b: &Browser, t: Target) {
    let form = [
        ("action", "mode"),
        ("field", "cf_category"),
        ("mode", "write"),
        ("target", "50"),
    ];
    assert_eq!(change(app, b, t, &form).await, StatusCode::SEE_OTHER);
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
    trained_within(app, b, t, Duration::from_secs(60)).await
}

async fn trained_within(app: &TestApp, b: &Browser, t: Target, wait: Duration) -> Value {
    let form = [("action", "train"), ("field", "cf_category")];
    assert_eq!(change(app, b, t, &form).await, StatusCode::SEE_OTHER);
    let deadline = Instant::now() + wait;
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
        sync_after_the_last(&app, t).await;
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
    let writes = writes_since(&app, before).await;
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

/// How many synced tickets hold a value in `key`, and its most common value, as Triage counts.
async fn labelled(app: &TestApp, t: Target, key: &str) -> (usize, String) {
    let fields = deskbridge::products::triage::fields(&app.store, t)
        .await
        .unwrap();
    let f = fields.into_iter().find(|f| f.field.key == key).unwrap();
    (f.history.labelled, f.history.values.0[0].0.clone())
}

#[tokio::test]
async fn the_labelled_counts_follow_each_sync_of_the_copy() {
    // Arrange: a synced help desk, its counts read once (and kept between syncs).
    let (app, _b, t) = synced(120).await;
    let (before, common) = labelled(&app, t, "cf_category").await;
    let mut ticket = helpers::categorised_words(&app).await;
    ticket["cf_category"] = serde_json::json!(common);

    // Act: three more tickets with a category in Freshdesk, then a sync; counted twice.
    for _ in 0..3 {
        app.control.create_ticket(ticket.clone()).await.unwrap();
    }
    let client = app.client(t).await;
    deskbridge::sync::run(&app.store, &client, t, |_| {})
        .await
        .unwrap();
    let (after, _) = labelled(&app, t, "cf_category").await;
    let (again, _) = labelled(&app, t, "cf_category").await;

    // Assert: the sync's tickets are counted, and a second reading agrees.
    assert_eq!(after, before + 3);
    assert_eq!(again, after);
}

/// The category of ticket `id` in Freshdesk (the emulator's export).
async fn category_in_freshdesk(app: &TestApp, id: i64) -> Value {
    let export = app.control.export(Some("tickets")).await.unwrap();
    let tickets = export["tickets"].as_array().cloned().unwrap_or_default();
    let ticket = tickets
        .iter()
        .find(|t| t["id"] == id)
        .expect("the ticket is exported");
    ticket["custom_fields"]["cf_category"].clone()
}

/// The outcome of ticket `id`'s prediction, once it is settled.
async fn settled(app: &TestApp, id: i64) -> (Option<String>, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let row: Option<(Option<String>, String)> = sqlx::query_as(
            "SELECT value, outcome FROM triage_predictions WHERE ticket_id = $1 AND outcome <> 'pending'",
        )
        .bind(id)
        .fetch_optional(&app.store.pool)
        .await
        .unwrap();
        if let Some(r) = row {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "ticket {id} was predicted and settled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn write_back_fills_only_an_empty_field_once_and_keeps_a_persons_value() {
    // Arrange: a trained field in write mode; one new ticket without a category and one whose
    // customer's form already set it.
    let (app, b, t) = writing().await;
    let before = app.request_marker().await;
    // Words like those of a categorised ticket in the history, so the model is sure.
    let known = helpers::categorised_words(&app).await;
    let open = |category: Option<&str>| {
        let mut body = known.clone();
        if let Some(c) = category {
            body["cf_category"] = json!(c);
        }
        body
    };
    let control = &app.control;
    let create = |body: Value| async move {
        let created = control.create_ticket(body).await.unwrap();
        created["id"].as_i64().unwrap()
    };
    let empty = create(open(None)).await;
    let choice = category_in_freshdesk(&app, empty).await;
    assert_eq!(choice, Value::Null, "the new ticket has no category");
    let theirs = create(open(Some("Billing"))).await;

    // Act: two syncs through the queue (the second must change nothing).
    for _ in 0..2 {
        sync_after_the_last(&app, t).await;
        settled(&app, empty).await;
        settled(&app, theirs).await;
    }

    // Assert: the empty field got the prediction, the person's value stayed, one write in all.
    let (value, outcome) = settled(&app, empty).await;
    assert_eq!(outcome, "written");
    assert_eq!(
        category_in_freshdesk(&app, empty).await,
        json!(value.unwrap())
    );
    let (_, outcome) = settled(&app, theirs).await;
    assert_eq!(outcome, "kept");
    assert_eq!(category_in_freshdesk(&app, theirs).await, "Billing");
    let writes = writes_since(&app, before).await;
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].path, format!("/api/v2/tickets/{empty}"));

    // Act: both tickets are resolved, and the next sync brings that.
    for id in [empty, theirs] {
        let resolved = json!({"status": 4});
        app.control.update_ticket(id, resolved).await.unwrap();
    }
    sync_after_the_last(&app, t).await;

    // Assert: right at close where the value was still the prediction, as Freshdesk says.
    let deadline = Instant::now() + Duration::from_secs(30);
    let closed = loop {
        let rows: Vec<(i64, Option<String>, Option<i64>)> = sqlx::query_as(
            "SELECT ticket_id, final_value, correct FROM triage_predictions WHERE closed_at IS NOT NULL ORDER BY ticket_id",
        )
        .fetch_all(&app.store.pool)
        .await
        .unwrap();
        if rows.len() == 2 {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "both predictions settled at close: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for (id, final_value, correct) in &closed {
        assert_eq!(json!(final_value), category_in_freshdesk(&app, *id).await);
        assert_eq!(*correct, Some((*id == empty) as i64), "ticket {id}");
    }
    let path = format!(
        "/api/v1/integrations/{}/triage/predictions",
        t.integration_id
    );
    let tally = &app.api_json(&b, &path).await["tally"][0];
    assert_eq!(
        (tally["closed"].clone(), tally["correct"].clone()),
        (json!(2), json!(1))
    );
    // The picture over time counts the same, next to the held-out estimate.
    let page = app
        .page(
            &b,
            &format!("/settings/integrations/{}/triage", t.integration_id),
        )
        .await;
    let chart = page
        .split("id=\"accuracy-cf_category\"")
        .nth(1)
        .expect("a live-accuracy picture");
    assert!(chart.contains("1 of 2 closed tickets"), "{chart}");
    assert!(chart.contains("class=\"limit\""), "the held-out line");
}

#[tokio::test]
async fn a_retrained_model_that_is_not_worse_replaces_the_old_and_one_click_rolls_back() {
    let (app, b, t) = synced(600).await;
    let first = trained(&app, &b, t).await["id"].as_i64().unwrap();
    assert_eq!(shadow(&app, &b, t, "50").await, StatusCode::SEE_OTHER);
    let in_use = || async {
        let path = format!("/api/v1/integrations/{}/triage/predict", t.integration_id);
        let body = json!({"subject": "card declined at the shop", "description": "twice"});
        let v: Value = app.api_post(&b, &path, body).await.json().await.unwrap();
        v["predictions"][0]["model_id"].as_i64().unwrap()
    };
    assert_eq!(in_use().await, first);

    // The same history again: the new model scores the same, so it takes over.
    let second = trained(&app, &b, t).await["id"].as_i64().unwrap();
    assert_ne!(second, first);
    assert_eq!(in_use().await, second);

    // Rollback from the first model's page.
    let page = app
        .page(
            &b,
            &format!(
                "/settings/integrations/{}/triage/models/{first}",
                t.integration_id
            ),
        )
        .await;
    assert!(page.contains("id=\"use-model\""), "{page}");
    let model = first.to_string();
    let form = [
        ("action", "use"),
        ("field", "cf_category"),
        ("model", model.as_str()),
    ];
    assert_eq!(change(&app, &b, t, &form).await, StatusCode::SEE_OTHER);
    assert_eq!(in_use().await, first);
    let other = [
        ("action", "use"),
        ("field", "cf_category"),
        ("model", "999999"),
    ];
    assert_eq!(
        change(&app, &b, t, &other).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

/// `n` new tickets in Freshdesk, in the words of a categorised one from the history (so the
/// model is sure of them); their ids.
async fn customers_open(app: &TestApp, n: usize) -> Vec<i64> {
    let known = helpers::categorised_words(app).await;
    let mut tickets = Vec::new();
    for _ in 0..n {
        let created = app.control.create_ticket(known.clone()).await.unwrap();
        tickets.push(created["id"].as_i64().unwrap());
    }
    tickets
}

/// The integration's health status and cause, as the API gives them.
async fn health(app: &TestApp, b: &Browser, t: Target) -> (Value, Value) {
    let path = format!("/api/v1/integrations/{}/health", t.integration_id);
    let h = app.api_json(b, &path).await;
    (h["status"].clone(), h["cause"].clone())
}

#[tokio::test]
async fn a_403_on_write_back_pauses_the_field_with_the_reason_and_tries_no_more() {
    // Arrange: write-back on, and Freshdesk refusing every ticket update with 403.
    let (app, b, t) = writing().await;
    let fault = json!({"path_prefix": "/api/v2/tickets/", "method": "PUT", "kind": "status", "status": 403, "count": 1000});
    app.control.add_fault(fault).await.unwrap();
    let before = app.request_marker().await;

    // Act: two new tickets, and two syncs.
    let tickets = customers_open(&app, 2).await;
    sync_after_the_last(&app, t).await;
    let (_, outcome) = settled(&app, tickets[0]).await;
    sync_after_the_last(&app, t).await;
    settled(&app, tickets[1]).await;

    // Assert: the first refusal paused the field, with the reason; one write was tried.
    assert_eq!(outcome, "failed");
    let s = &app
        .api_json(
            &b,
            &format!(
                "/api/v1/integrations/{}/triage/predictions",
                t.integration_id
            ),
        )
        .await;
    let outcomes: Vec<&str> = s["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["outcome"].as_str().unwrap())
        .collect();
    assert!(outcomes.contains(&"failed"), "{outcomes:?}");
    let page = app
        .page(
            &b,
            &format!("/settings/integrations/{}/triage", t.integration_id),
        )
        .await;
    assert!(
        page.contains("lacks permission to edit these tickets"),
        "{page}"
    );
    let (mode,): (String,) = sqlx::query_as("SELECT mode FROM triage_fields")
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
    assert_eq!(mode, "shadow", "write-back is paused");
    let puts = writes_since(&app, before).await;
    assert_eq!(puts.len(), 1, "one refused write, no retry storm: {puts:?}");
    // The integration's health names the cause; reads go on, so it is a warning.
    let warned = (json!("connected_with_warnings"), json!("cannot_write"));
    assert_eq!(health(&app, &b, t).await, warned);
    let at = format!("/settings/integrations/{}", t.integration_id);
    assert!(app.page(&b, &at).await.contains("Triage cannot write"));
    // A health check while the refusal stands keeps the cause.
    app.state.monitor.check(t).await.unwrap();
    assert_eq!(health(&app, &b, t).await, warned);

    // Act: the admin fixes the role in Freshdesk and switches write-back on again.
    app.control.clear_faults().await.unwrap();
    write_back_on(&app, &b, t).await;

    // Assert: the queued check finds the connection as it is.
    let deadline = Instant::now() + Duration::from_secs(30);
    while health(&app, &b, t).await != (json!("connected"), Value::Null) {
        assert!(Instant::now() < deadline, "{:?}", health(&app, &b, t).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A measurement, not a check (run it with `--ignored --nocapture`): how long a new ticket takes
/// from its creation in Freshdesk, through the automation rule's webhook, to its category written
/// back, over 20 tickets one after another.
#[tokio::test]
#[ignore]
async fn measure_the_webhook_to_write_latency() {
    let (app, b, t) = writing().await;
    let id = t.integration_id;
    let page = app
        .post_page(
            &b,
            &format!("/settings/integrations/{id}/sync/webhook"),
            &[],
        )
        .await;
    let secret = helpers::shown_once(&page, "hook-secret");
    let rule = json!({
        "events": ["ticket_created"],
        "url": format!("{}/hooks/freshdesk/{id}", app.base),
        "headers": {deskbridge::web::HOOK_HEADER: secret},
        "content": "{\"ticket_id\": {{ticket.id}}}"
    });
    app.emulator(reqwest::Method::POST, "/_emulator/automations", Some(rule))
        .await;
    let known = helpers::categorised_words(&app).await;
    let mut ms = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let created = app.control.create_ticket(known.clone()).await.unwrap();
        let ticket = created["id"].as_i64().unwrap();
        loop {
            let (done,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM triage_predictions WHERE ticket_id = $1 AND outcome = 'written'",
            )
            .bind(ticket)
            .fetch_one(&app.store.pool)
            .await
            .unwrap();
            if done == 1 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "ticket {ticket} written"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    eprintln!(
        "webhook_to_write_ms p50={:.0} p95={:.0} max={:.0} n={}",
        ms[ms.len() / 2],
        ms[ms.len() * 95 / 100],
        ms[ms.len() - 1],
        ms.len()
    );
}

/// What the predict API says of `body` for the category field: its value and model.
async fn predicted(app: &TestApp, b: &Browser, t: Target, body: &Value) -> (Value, i64) {
    let path = format!("/api/v1/integrations/{}/triage/predict", t.integration_id);
    let v: Value = app
        .api_post(b, &path, body.clone())
        .await
        .json()
        .await
        .unwrap();
    let p = &v["predictions"][0];
    (p["value"].clone(), p["model_id"].as_i64().unwrap())
}

#[tokio::test]
async fn a_value_freshdesk_no_longer_offers_is_retired_until_the_field_is_retrained() {
    // Arrange: write-back on; the value the model gives these words is then removed from the
    // field's choices in Freshdesk.
    let (app, b, t) = writing().await;
    let known = helpers::categorised_words(&app).await;
    let (value, first_model) = predicted(&app, &b, t, &known).await;
    let value = value.as_str().expect("the model is sure").to_string();
    app.control
        .remove_choice("cf_category", &value)
        .await
        .unwrap();
    let before = app.request_marker().await;

    // Act: two new tickets with those words, one sync.
    let tickets = customers_open(&app, 2).await;
    sync_after_the_last(&app, t).await;
    settled(&app, tickets[0]).await;
    settled(&app, tickets[1]).await;

    // Assert: one refused write; the value is retired for this model and said so.
    let refused: Vec<_> = writes_since(&app, before)
        .await
        .into_iter()
        .filter(|w| w.method == "PUT")
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    for id in &tickets {
        assert_eq!(category_in_freshdesk(&app, *id).await, Value::Null);
    }
    let (now, _) = predicted(&app, &b, t, &known).await;
    assert_ne!(now, json!(value), "the model no longer answers it");
    let page = app
        .page(
            &b,
            &format!("/settings/integrations/{}/triage", t.integration_id),
        )
        .await;
    let retired = page.split("class=\"muted retired\"").nth(1).unwrap_or("");
    assert!(retired.contains(value.as_str()), "{page}");

    // Act: a retraining.
    let second = trained(&app, &b, t).await["id"].as_i64().unwrap();

    // Assert: the new model starts afresh.
    assert_ne!(second, first_model);
    let (_, in_use) = predicted(&app, &b, t, &known).await;
    assert_eq!(in_use, second);
    let page = app
        .page(
            &b,
            &format!("/settings/integrations/{}/triage", t.integration_id),
        )
        .await;
    assert!(!page.contains("class=\"muted retired\""), "{page}");
}

#[tokio::test]
async fn with_annotation_on_a_write_also_tags_the_ticket_and_adds_one_private_note() {
    // Arrange: write-back with annotation; a new ticket that already has a tag of its own.
    let (app, b, t) = writing().await;
    let form = [
        ("action", "annotate"),
        ("field", "cf_category"),
        ("annotate", "on"),
    ];
    assert_eq!(change(&app, &b, t, &form).await, StatusCode::SEE_OTHER);
    let mut body = helpers::categorised_words(&app).await;
    body["tags"] = json!(["vip"]);
    let id = app.control.create_ticket(body).await.unwrap()["id"]
        .as_i64()
        .unwrap();
    let before = app.request_marker().await;

    // Act: two syncs (the second must add nothing).
    for _ in 0..2 {
        sync_after_the_last(&app, t).await;
        settled(&app, id).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let annotation = loop {
        let (a,): (Option<String>,) =
            sqlx::query_as("SELECT annotation FROM triage_predictions WHERE ticket_id = $1")
                .bind(id)
                .fetch_one(&app.store.pool)
                .await
                .unwrap();
        if a.as_deref() != Some("due") && a.as_deref() != Some("sending") {
            break a;
        }
        assert!(Instant::now() < deadline, "the note was sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // Assert: the value and the tag in one PUT, the ticket's own tag kept, one private note.
    assert_eq!(annotation.as_deref(), Some("sent"));
    let (value, outcome) = settled(&app, id).await;
    assert_eq!(outcome, "written");
    let writes = writes_since(&app, before).await;
    let paths: Vec<(&str, &str)> = writes
        .iter()
        .map(|w| (w.method.as_str(), w.path.as_str()))
        .collect();
    let ticket = format!("/api/v2/tickets/{id}");
    let notes = format!("/api/v2/tickets/{id}/notes");
    assert_eq!(
        paths,
        [("PUT", ticket.as_str()), ("POST", notes.as_str())],
        "one write and one note"
    );
    let export = app.control.export(None).await.unwrap();
    let exported = export["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(exported["custom_fields"]["cf_category"], json!(value));
    assert_eq!(exported["tags"], json!(["vip", "deskbridge-triage"]));
    let notes: Vec<&Value> = export["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ticket_id"] == id && c["private"] == true)
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    let text = notes[0]["body"].as_str().unwrap();
    assert!(text.contains("three likeliest values"), "{text}");
    assert!(text.contains(value.as_deref().unwrap()), "{text}");
}

#[tokio::test]
async fn on_a_living_help_desk_the_live_accuracy_equals_what_people_kept_at_close() {
    // Arrange: write-back on; customers open tickets and agents resolve each a few seconds
    // later, fixing a wrong category (and now and then setting a wrong one themselves).
    let (app, b, t) = writing().await;
    let live = json!({"rate": 120.0, "resolve_after_minutes": 0.05, "error_rate": 0.05, "seed": 3});
    app.emulator(reqwest::Method::POST, "/_emulator/live", Some(live))
        .await;

    // Act: syncs keep coming until a dozen predictions are settled at close.
    let deadline = Instant::now() + Duration::from_secs(120);
    let closed = || async {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM triage_predictions WHERE closed_at IS NOT NULL")
                .fetch_one(&app.store.pool)
                .await
                .unwrap();
        n
    };
    while closed().await < 12 {
        assert!(Instant::now() < deadline, "predictions settled at close");
        let _ = deskbridge::runtime::start_sync(&app.state.queue, t, "test").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    app.emulator(reqwest::Method::DELETE, "/_emulator/live", None)
        .await;

    // Assert: each settled prediction is right exactly when Freshdesk still holds its value,
    // and the tally counts the same.
    let rows: Vec<(i64, Option<String>, Option<String>, i64)> = sqlx::query_as(
        "SELECT ticket_id, value, final_value, correct FROM triage_predictions WHERE closed_at IS NOT NULL",
    )
    .fetch_all(&app.store.pool)
    .await
    .unwrap();
    let mut kept = 0;
    for (id, value, final_value, correct) in &rows {
        let now = category_in_freshdesk(&app, *id).await;
        assert_eq!(json!(final_value), now, "ticket {id}");
        let held = json!(value) == now;
        assert_eq!(*correct == 1, held, "ticket {id}: {value:?} against {now}");
        kept += held as i64;
    }
    let path = format!(
        "/api/v1/integrations/{}/triage/predictions",
        t.integration_id
    );
    let tally = &app.api_json(&b, &path).await["tally"][0];
    assert_eq!(tally["closed"], json!(rows.len()));
    assert_eq!(tally["correct"], json!(kept));
    assert!(tally["written"].as_i64().unwrap() > 0, "{tally}");
}

/// A server in another process (`deskbridge serve` on this test's database and emulator) that
/// runs the jobs, with leases short enough for a killed one's work to be taken over quickly.
fn worker_process(app: &TestApp) -> std::process::Child {
    let env = [
        ("DESKBRIDGE_SERVER__LISTEN", "127.0.0.1:0".to_string()),
        ("DESKBRIDGE_JOBS__LEASE_SECS", "2".to_string()),
        ("DESKBRIDGE_SYNC__LEASE_STALE_SECS", "2".to_string()),
        ("DESKBRIDGE_SYNC__ENABLED", "false".to_string()),
    ];
    app.process(&["serve"], &env)
}

// Multi-threaded: the worker process talks to the emulator served by this test's runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_back_killed_again_and_again_during_a_burst_writes_every_ticket_exactly_once() {
    // Arrange: this process only serves pages; a worker process runs every job. Write-back on,
    // and every ticket update answered late after it is made, so that kills land between a
    // write and the worker's record of it.
    let app = helpers::spawn_app_full(600, Plan::Unlimited, |c| {
        c.jobs.worker = false;
    })
    .await;
    let (b, t) = app.connect_acme().await;
    let client = app.client(t).await;
    deskbridge::sync::run(&app.store, &client, t, |_| {})
        .await
        .unwrap();
    let mut worker = worker_process(&app);
    trained(&app, &b, t).await;
    write_back_on(&app, &b, t).await;
    let slow = json!({"path_prefix": "/api/v2/tickets/", "method": "PUT", "kind": "slow_reply", "delay_ms": 150, "count": 100000});
    app.control.add_fault(slow).await.unwrap();
    let before = app.request_marker().await;
    let tickets = customers_open(&app, 24).await;
    let puts = || async {
        let log = app.control.requests().await.unwrap();
        log.into_iter()
            .filter(|r| r.seq > before && r.method == "PUT")
            .map(|r| r.path)
            .collect::<Vec<String>>()
    };

    // Act: a sync brings the burst; the worker is killed (SIGKILL) three times while it writes,
    // and a new one started each time.
    deskbridge::runtime::start_sync(&app.state.queue, t, "test")
        .await
        .unwrap();
    for at in [2, 8, 14] {
        let deadline = Instant::now() + Duration::from_secs(60);
        while puts().await.len() < at {
            assert!(Instant::now() < deadline, "{at} writes reached Freshdesk");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = worker.kill();
        let _ = worker.wait();
        worker = worker_process(&app);
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (open,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM triage_predictions WHERE outcome = 'pending'")
                .fetch_one(&app.store.pool)
                .await
                .unwrap();
        let (made,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM triage_predictions")
            .fetch_one(&app.store.pool)
            .await
            .unwrap();
        if open == 0 && made == tickets.len() as i64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{made} predicted, {open} pending"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = worker.kill();
    let _ = worker.wait();

    // Assert: every ticket the model was sure of has its value, from exactly one update.
    let puts = puts().await;
    for id in &tickets {
        let (value, outcome) = settled(&app, *id).await;
        let path = format!("/api/v2/tickets/{id}");
        let n = puts.iter().filter(|p| **p == path).count();
        match outcome.as_str() {
            "written" => {
                assert_eq!(n, 1, "ticket {id}: {puts:?}");
                let now = category_in_freshdesk(&app, *id).await;
                assert_eq!(now, json!(value), "ticket {id}");
            }
            other => assert_eq!(n, 0, "ticket {id} ({other})"),
        }
    }
    assert!(puts.len() >= 14, "{} writes", puts.len());
}

/// This process's resident memory now and at its peak since the last reset, in MiB (Linux).
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A measurement, not a check (run it in release with `--ignored --nocapture`): how much memory
/// training one field takes over a help desk of 100,000 synced tickets, as the peak resident
/// memory during the training above what the process held before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_the_training_memory_on_100k_tickets() {
    let (app, b, t) = synced(100_000).await;
    let held = app.count("fd_tickets").await;
    // Resets the peak to the present (Linux: "5" to clear_refs), so the next peak is training's.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let (before, _) = memory_mib();
    let started = Instant::now();
    let model = trained_within(&app, &b, t, Duration::from_secs(1800)).await;
    let took = started.elapsed().as_secs_f64();
    let (_, peak) = memory_mib();
    println!(
        "training_tickets={held} examples={} train_s={took:.1} rss_before_mib={before:.0} peak_mib={peak:.0} training_extra_mib={:.0}",
        model["examples"],
        peak - before
    );
}
