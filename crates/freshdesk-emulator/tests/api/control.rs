use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn the_control_api_refuses_a_missing_or_wrong_token() {
    let t = spawn_emulator().await;
    let url = format!("{}/_emulator/export", t.base);
    assert_eq!(t.client.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        t.client
            .get(&url)
            .header("X-Emulator-Control", "nope")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn bad_control_requests_get_a_clear_4xx_and_change_nothing() {
    let t = spawn_emulator().await;
    let before = t.export("tickets,agents").await;
    let r = t
        .control_send(
            Method::POST,
            "/_emulator/faults",
            json!({"path_prefix": "/api", "kind": "explode", "count": 1}),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(
        json(r).await["error"]
            .as_str()
            .unwrap()
            .contains("invalid request body")
    );
    let agent = t.emu.agent(0).id;
    let ticket = before["tickets"][0]["id"].as_i64().unwrap();
    for (method, path, body, status) in [
        (
            Method::POST,
            "/_emulator/faults".to_string(),
            json!({"path_prefix": "/api", "kind": "status", "count": 1}),
            400,
        ),
        (
            Method::POST,
            "/_emulator/agents/1/suspend".to_string(),
            json!({}),
            404,
        ),
        (
            Method::POST,
            format!("/_emulator/agents/{agent}/scope"),
            json!({"ticket_scope": 9}),
            400,
        ),
        (
            Method::PUT,
            format!("/_emulator/tickets/{ticket}"),
            json!({"status": 99}),
            400,
        ),
    ] {
        let r = t.control_send(method, &path, body).await;
        assert_eq!(r.status(), status, "{path}");
    }
    let faults = t
        .control_json(Method::GET, "/_emulator/faults", json!({}))
        .await;
    assert_eq!(faults, json!([]));
    assert_eq!(t.export("tickets,agents").await, before, "nothing changed");
}

#[tokio::test]
async fn a_status_fault_answers_the_next_matching_calls_then_clears() {
    let t = spawn_emulator().await;
    t.control_json(
        Method::POST,
        "/_emulator/faults",
        json!({"path_prefix": "/api/v2/tickets", "kind": "status", "status": 500, "count": 2}),
    )
    .await;
    for _ in 0..2 {
        let r = t.get("/api/v2/tickets").await;
        assert_eq!(r.status(), 500);
        assert_eq!(
            r.text().await.unwrap(),
            r#"{"message":"We're sorry, but something went wrong."}"#
        );
    }
    assert_eq!(
        t.get("/api/v2/agents/me").await.status(),
        200,
        "other paths are untouched"
    );
    assert_eq!(t.get("/api/v2/tickets").await.status(), 200);
}

#[tokio::test]
async fn reset_truncate_html_and_delay_faults_break_the_reply_as_named() {
    let t = spawn_emulator().await;
    let fault = |kind: &str| json!({"path_prefix": "/api/v2/contacts", "kind": kind, "count": 1, "delay_ms": 300});
    t.control_json(Method::POST, "/_emulator/faults", fault("reset"))
        .await;
    let r = t.get_or_err("/api/v2/contacts").await;
    assert!(r.is_err(), "a reset gives no complete reply");

    t.control_json(Method::POST, "/_emulator/faults", fault("truncate"))
        .await;
    let r = t.call(Method::GET, "/api/v2/contacts?per_page=100").await;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err(), "the body ends early");

    t.control_json(Method::POST, "/_emulator/faults", fault("html"))
        .await;
    let r = t.get("/api/v2/contacts").await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "content-type").unwrap().starts_with("text/html"));

    t.control_json(Method::POST, "/_emulator/faults", fault("delay"))
        .await;
    let started = Instant::now();
    assert_eq!(t.get("/api/v2/contacts").await.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

impl TestEmulator {
    async fn get_or_err(&self, path: &str) -> Result<Vec<u8>, reqwest::Error> {
        let r = self
            .request(Method::GET, path, &self.admin_key())
            .send()
            .await?;
        Ok(r.bytes().await?.to_vec())
    }
}

#[tokio::test]
async fn the_request_log_records_calls_without_any_key() {
    let t = spawn_emulator().await;
    t.get("/api/v2/tickets?include=stats").await;
    t.get_as("/api/v2/agents/me", "wrong-key").await;
    let log = t
        .control_send(Method::GET, "/_emulator/requests", json!({}))
        .await
        .text()
        .await
        .unwrap();
    assert!(!log.contains(&t.admin_key()));
    assert!(!log.contains("wrong-key"));
    assert!(!log.to_lowercase().contains("authorization"));
    let entries: serde_json::Value = serde_json::from_str(&log).unwrap();
    let first = &entries[0];
    assert_eq!(first["path"], "/api/v2/tickets");
    assert_eq!(first["query"], "include=stats");
    assert_eq!(first["credits"], 3);
    assert_eq!(
        first["agent_id"],
        t.emu
            .agent(freshdesk_emulator::well_known::INTEGRATION_ADMIN)
            .id
    );
    assert_eq!(entries[1]["status"], 401);
}

#[tokio::test]
async fn activity_injected_through_control_shows_up_in_the_api() {
    let t = spawn_emulator().await;
    let created = t
        .control_send(
            Method::POST,
            "/_emulator/tickets",
            json!({"subject": "Where is my parcel?", "description": "It has been a week", "cf_category": "Shipping"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let id = json(created).await["id"].as_i64().unwrap();
    t.control_json(
        Method::POST,
        &format!("/_emulator/tickets/{id}/conversations"),
        json!({"body": "Any news?"}),
    )
    .await;
    t.control_json(
        Method::PUT,
        &format!("/_emulator/tickets/{id}"),
        json!({"updated_at": "2030-01-01T00:00:00Z", "status": 3}),
    )
    .await;
    let v = json(
        t.get(&format!("/api/v2/tickets/{id}?include=conversations"))
            .await,
    )
    .await;
    assert_eq!(v["status"], 3);
    assert_eq!(v["updated_at"], "2030-01-01T00:00:00Z");
    assert_eq!(v["conversations"][0]["body_text"], "Any news?");
    let r = t
        .control_send(
            Method::DELETE,
            &format!("/_emulator/tickets/{id}"),
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(t.get(&format!("/api/v2/tickets/{id}")).await.status(), 404);
}

#[tokio::test]
async fn the_clock_can_be_skewed() {
    let t = spawn_emulator().await;
    t.control_json(Method::POST, "/_emulator/clock", json!({"skew_secs": 600}))
        .await;
    let r = t
        .post(
            "/api/v2/tickets",
            json!({"subject": "Skewed", "email": "skew@example.org"}),
        )
        .await;
    let created =
        freshdesk_emulator::util::parse_ts(json(r).await["created_at"].as_str().unwrap()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((created - now - 600).abs() <= 5);
}

#[tokio::test]
async fn the_export_holds_every_ticket_including_spam_and_trash() {
    let t = spawn_tickets(2_000).await;
    let tickets = t.tickets().await;
    assert_eq!(tickets.len(), 2_000);
    assert!(tickets.iter().any(|x| x["spam"] == true));
    assert!(tickets.iter().any(|x| x["_emulator"]["trash"] == "deleted"));
}
