//! Automation rules with a "Trigger webhook" action: a ticket update through the API fires the
//! rule with Freshdesk's request shape; bad rules are refused and change nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

type Seen = Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>>;

/// A loopback receiver that records every request and answers `status`.
async fn receiver(status: u16) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
        let s = s.clone();
        async move {
            s.lock().push((headers, body));
            axum::http::StatusCode::from_u16(status).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// A receiver answering `status`, and a rule (`rule` plus the receiver's URL) that calls it.
async fn hooked(t: &TestEmulator, status: u16, mut rule: Value) -> Seen {
    let (url, seen) = receiver(status).await;
    rule["url"] = json!(url);
    t.control_json(Method::POST, "/_emulator/automations", rule)
        .await;
    seen
}

async fn wait_for(seen: &Seen, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while seen.lock().len() < n {
        assert!(Instant::now() < deadline, "{n} webhook(s) arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_ticket_update_fires_the_rule_in_simple_mode_with_freshdesks_request_shape() {
    let t = spawn_emulator().await;
    let rule = json!({"events": ["ticket_updated"], "headers": {"X-Secret": "s3"}});
    let seen = hooked(&t, 200, rule).await;
    let id = t.tickets().await[0]["id"].as_i64().unwrap();
    let r = t
        .put(&format!("/api/v2/tickets/{id}"), json!({"priority": 4}))
        .await;
    assert_eq!(r.status(), 200);
    wait_for(&seen, 1).await;
    let (headers, body) = seen.lock()[0].clone();
    assert_eq!(headers["user-agent"], "Freshdesk");
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["x-secret"], "s3");
    assert!(
        headers.get("authorization").is_none(),
        "no auth unless the rule sets it"
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["freshdesk_webhook"]["ticket_id"], id);
    assert_eq!(v["freshdesk_webhook"]["ticket_priority"], "Urgent");
    let log = t
        .control_json(Method::GET, "/_emulator/automations/deliveries", json!({}))
        .await;
    assert_eq!(log["deliveries"][0]["outcome"], "200");
}

#[tokio::test]
async fn an_advanced_template_is_filled_in_and_escaped_for_json() {
    let t = spawn_emulator().await;
    let template = r#"{"id": {{ticket.id}}, "subject": "{{ticket.subject}}"}"#;
    let seen = hooked(
        &t,
        202,
        json!({"events": ["ticket_created"], "content": template}),
    )
    .await;
    let created = t
        .control_json(
            Method::POST,
            "/_emulator/tickets",
            json!({"subject": "Say \"hi\""}),
        )
        .await;
    wait_for(&seen, 1).await;
    let v: Value = serde_json::from_str(&seen.lock()[0].1).unwrap();
    assert_eq!(v["id"], created["id"]);
    assert_eq!(v["subject"], "Say \"hi\"");
}

#[tokio::test]
async fn bad_rules_are_refused_and_change_nothing() {
    let t = spawn_emulator().await;
    for body in [
        json!({"events": [], "url": "http://127.0.0.1:9/x"}),
        json!({"events": ["ticket_updated"], "url": "https://example.com/x"}),
        json!({"events": ["ticket_exploded"], "url": "http://127.0.0.1:9/x"}),
        json!({"events": ["ticket_updated"], "url": "http://127.0.0.1:9/x", "request_type": "BREW"}),
    ] {
        let r = t
            .control_send(Method::POST, "/_emulator/automations", body.clone())
            .await;
        assert_eq!(r.status(), 400, "{body}");
    }
    let rules = t
        .control_json(Method::GET, "/_emulator/automations", json!({}))
        .await;
    assert_eq!(rules["rules"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn the_api_lists_webhook_rules_by_automation_type() {
    let t = spawn_emulator().await;
    let seen = hooked(&t, 200, json!({"events": ["ticket_updated"]})).await;
    let updates = t.list("/api/v2/automations/4/rules").await;
    assert_eq!(updates.len(), 1);
    let action = &updates[0]["actions"][0];
    assert_eq!(action["field_name"], "trigger_webhook");
    assert!(
        action["url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert!(
        t.list("/api/v2/automations/1/rules").await.is_empty(),
        "no creation rules"
    );
    assert!(
        t.list("/api/v2/automations/3/rules").await.is_empty(),
        "no time triggers"
    );
    assert_eq!(t.get("/api/v2/automations/2/rules").await.status(), 404);
    let plain = t.emu.agent(freshdesk_emulator::well_known::PLAIN_AGENT);
    let r = t
        .get_as("/api/v2/automations/4/rules", &plain.api_key)
        .await;
    assert_eq!(r.status(), 403);
    assert!(seen.lock().is_empty(), "listing fires nothing");
}

#[tokio::test]
async fn a_bulk_update_and_a_merge_fire_the_update_rule_once_for_every_ticket_they_change() {
    let t = spawn_emulator().await;
    let seen = hooked(&t, 200, json!({"events": ["ticket_updated"]})).await;
    let ids: Vec<i64> = t.tickets().await[..3]
        .iter()
        .map(|x| x["id"].as_i64().unwrap())
        .collect();
    let body = json!({"bulk_action": {"ids": [ids[0], ids[1]], "properties": {"priority": 3}}});
    assert_eq!(
        t.post("/api/v2/tickets/bulk_update", body).await.status(),
        202
    );
    wait_for(&seen, 2).await;
    let merge = json!({"primary_id": ids[2], "ticket_ids": [ids[0]]});
    assert_eq!(t.put("/api/v2/tickets/merge", merge).await.status(), 204);
    wait_for(&seen, 4).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fired: Vec<i64> = seen
        .lock()
        .iter()
        .map(|(_, b)| {
            serde_json::from_str::<Value>(b).unwrap()["freshdesk_webhook"]["ticket_id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    fired.sort();
    let mut want = vec![ids[0], ids[1], ids[0], ids[2]];
    want.sort();
    assert_eq!(fired, want);
}
