//! Sync against the emulator: a full copy equals the emulator's ground truth, a second run fetches
//! only what changed, and a cursor in the future fetches nothing and never moves back.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::collections::BTreeMap;

use deskbridge::sync::{self, Target};
use freshdesk_emulator::Plan;
use serde_json::Value;

async fn setup(tickets: usize) -> (helpers::TestApp, freshdesk::Client, Target) {
    let app = helpers::spawn_app_full(tickets, Plan::Unlimited, |_| {}).await;
    let b = app.login("admin@acme.test").await;
    let r = app.connect(&b, "acme", &app.admin_key()).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let (id, org): (i64, i64) = sqlx::query_as("SELECT id, org_id FROM integrations")
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
    let key = deskbridge::connections::api_key(&app.store, &app.state.vault, org, id)
        .await
        .unwrap();
    let client = freshdesk::Client::new(
        freshdesk::FreshdeskDomain::parse("acme").unwrap(),
        key,
        &app.state.freshdesk,
    )
    .unwrap();
    (
        app,
        client,
        Target {
            org_id: org,
            integration_id: id,
        },
    )
}

async fn control(
    app: &helpers::TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .no_proxy()
        .build()
        .unwrap();
    let mut r = http
        .request(method, format!("{}{path}", app.emu.base_url))
        .header("X-Emulator-Control", &app.emu.control_token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

async fn local_tickets(app: &helpers::TestApp) -> BTreeMap<i64, (String, i64)> {
    let rows: Vec<(i64, String, i64)> =
        sqlx::query_as("SELECT id, state, updated_at FROM fd_tickets")
            .fetch_all(&app.store.pool)
            .await
            .unwrap();
    rows.into_iter().map(|(id, s, u)| (id, (s, u))).collect()
}

#[tokio::test]
async fn a_full_sync_copies_every_ticket_and_conversation_including_spam_and_trash() {
    let (app, client, t) = setup(400).await;
    let p = sync::run(&app.store, &client, t, |_| {}).await.unwrap();
    let export = control(
        &app,
        reqwest::Method::GET,
        "/_emulator/export?only=tickets,conversations",
        None,
    )
    .await;
    let truth: BTreeMap<i64, String> = export["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["_emulator"]["trash"] != "purging")
        .map(|x| {
            (
                x["id"].as_i64().unwrap(),
                if x["_emulator"]["trash"] == "deleted" {
                    "deleted".to_string()
                } else if x["spam"] == true {
                    "spam".to_string()
                } else {
                    "live".to_string()
                },
            )
        })
        .collect();
    let local = local_tickets(&app).await;
    assert_eq!(
        local
            .iter()
            .map(|(id, (s, _))| (*id, s.clone()))
            .collect::<BTreeMap<_, _>>(),
        truth
    );
    let want_convs = export["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| truth.contains_key(&c["ticket_id"].as_i64().unwrap()))
        .count() as i64;
    let (got,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM fd_conversations")
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
    assert_eq!(got, want_convs);
    assert_eq!(p.tickets as usize, truth.len());
    // Raw JSON is kept whole, so fields we do not model are not lost.
    let (raw,): (String,) = sqlx::query_as("SELECT raw FROM fd_tickets LIMIT 1")
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
    assert!(raw.contains("\"fr_due_by\""));
}

#[tokio::test]
async fn a_second_sync_fetches_only_what_changed_and_their_conversations() {
    let (app, client, t) = setup(400).await;
    sync::run(&app.store, &client, t, |_| {}).await.unwrap();
    let before = local_tickets(&app).await;
    let again = sync::run(&app.store, &client, t, |_| {}).await.unwrap();
    assert_eq!(
        again.conversation_calls, 0,
        "nothing changed, so no conversation is re-fetched"
    );
    assert_eq!(
        local_tickets(&app).await,
        before,
        "a second full pass leaves identical rows"
    );
    let changed: Vec<i64> = before
        .iter()
        .filter(|(_, (s, _))| s == "live")
        .map(|(id, _)| *id)
        .take(3)
        .collect();
    for id in &changed {
        control(
            &app,
            reqwest::Method::POST,
            &format!("/_emulator/tickets/{id}/conversations"),
            Some(serde_json::json!({"body": "Any update?"})),
        )
        .await;
    }
    let third = sync::run(&app.store, &client, t, |_| {}).await.unwrap();
    assert_eq!(
        third.conversation_calls, 3,
        "exactly the three changed tickets"
    );
    for id in changed {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM fd_conversations WHERE ticket_id = $1 AND body_text = 'Any update?'").bind(id).fetch_one(&app.store.pool).await.unwrap();
        assert_eq!(n, 1);
    }
}

#[tokio::test]
async fn a_cursor_in_the_year_2100_fetches_nothing_and_does_not_move_back() {
    let (app, client, t) = setup(100).await;
    let y2100 = 4_102_444_800;
    for stream in ["tickets", "tickets_spam", "tickets_deleted"] {
        sync::set_cursor(&app.store, t, stream, y2100)
            .await
            .unwrap();
    }
    let p = sync::run(&app.store, &client, t, |_| {}).await.unwrap();
    assert_eq!(p.tickets, 0);
    assert_eq!(
        sync::cursor(&app.store, t, "tickets").await.unwrap(),
        Some(y2100)
    );
}

#[tokio::test]
async fn a_sync_interrupted_by_faults_resumes_and_ends_complete_without_duplicates() {
    let (app, client, t) = setup(400).await;
    let fault = serde_json::json!({"path_prefix": "/api/v2/tickets/", "kind": "status", "status": 503, "count": 40});
    control(
        &app,
        reqwest::Method::POST,
        "/_emulator/faults",
        Some(fault),
    )
    .await;
    // The first run may give up on a burst of failures; a later run picks up where it stopped.
    let _ = sync::run(&app.store, &client, t, |_| {}).await;
    control(&app, reqwest::Method::DELETE, "/_emulator/faults", None).await;
    sync::run(&app.store, &client, t, |_| {}).await.unwrap();
    let export = control(
        &app,
        reqwest::Method::GET,
        "/_emulator/export?only=conversations,tickets",
        None,
    )
    .await;
    let live: std::collections::BTreeSet<i64> = export["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["_emulator"]["trash"] != "purging")
        .map(|x| x["id"].as_i64().unwrap())
        .collect();
    let want = export["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| live.contains(&c["ticket_id"].as_i64().unwrap()))
        .count() as i64;
    let (got, distinct): (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COUNT(DISTINCT id) FROM fd_conversations")
            .fetch_one(&app.store.pool)
            .await
            .unwrap();
    assert_eq!((got, distinct), (want, want));
}
