//! The living help desk: customers open tickets from BANKING77's test split, automation rules
//! fire, simulated agents resolve tickets and fix their category, and every change is in the
//! ticket's history with who made it.

use std::time::{Duration, Instant};

use freshdesk_emulator::Corpus;
use freshdesk_emulator::corpus::bank;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// A small BANKING77 desk whose emulated minute lasts one second.
async fn living_desk() -> TestEmulator {
    spawn_with(Options {
        tickets: 60,
        corpus: Corpus::Banking77,
        minute: Duration::from_secs(1),
        ..Options::default()
    })
    .await
}

async fn start_live(t: &TestEmulator, config: Value) {
    t.control_json(Method::POST, "/_emulator/live", config)
        .await;
}

async fn live_status(t: &TestEmulator) -> Value {
    t.control_json(Method::GET, "/_emulator/live", json!({}))
        .await
}

/// Waits until the living help desk has resolved `n` tickets.
async fn until_resolved(t: &TestEmulator, n: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = live_status(t).await;
        if status["counts"]["resolved"].as_u64().unwrap_or(0) >= n {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{n} tickets resolved in time: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The tickets the living help desk opened (those after the seeded ones).
async fn new_tickets(t: &TestEmulator) -> Vec<Value> {
    let seeded = 60;
    t.tickets()
        .await
        .into_iter()
        .filter(|tk| tk["id"].as_i64().unwrap() > seeded)
        .collect()
}

fn history(tk: &Value) -> &Vec<Value> {
    tk["_emulator"]["history"].as_array().unwrap()
}

#[tokio::test]
async fn customers_open_tickets_from_the_test_split_and_agents_resolve_them_with_the_true_intent() {
    let t = living_desk().await;
    let rule = json!({"events": ["ticket_created"], "url": "http://127.0.0.1:9/hook"});
    t.control_json(Method::POST, "/_emulator/automations", rule)
        .await;
    let config = json!({"rate": 20, "resolve_after_minutes": 1, "error_rate": 0});
    start_live(&t, config).await;
    until_resolved(&t, 4).await;
    let fresh = new_tickets(&t).await;
    assert!(fresh.len() >= 4);
    let b = bank();
    for tk in &fresh {
        let description = tk["description_text"].as_str().unwrap();
        let test = b.test.iter().find(|m| description.contains(m.text.trim()));
        let test = test.expect("a new ticket's words come from the test split");
        let truth = tk["_emulator"]["truth"].as_str().unwrap();
        assert_eq!(truth, b.labels[test.intent]);
        let first = &history(tk)[0];
        assert_eq!(first["by"], "customer");
        if tk["status"] == 4 {
            assert_eq!(tk["custom_fields"]["cf_category"], truth);
            let by_agent = history(tk)
                .iter()
                .find(|c| c["field"] == "cf_category")
                .expect("the agent set the category");
            assert!(
                by_agent["by"]
                    .as_str()
                    .unwrap()
                    .starts_with("simulated_agent:")
            );
        } else {
            assert!(
                tk["custom_fields"]["cf_category"].is_null(),
                "new tickets arrive untriaged"
            );
        }
    }
    let deliveries = t
        .control_json(Method::GET, "/_emulator/automations/deliveries", json!({}))
        .await;
    let deliveries = deliveries["deliveries"].as_array().unwrap();
    assert!(!deliveries.is_empty(), "the rule fired for new tickets");
}

#[tokio::test]
async fn an_agent_keeps_a_right_category_a_product_wrote_and_corrects_a_wrong_one() {
    let t = living_desk().await;
    let config = json!({"rate": 60, "resolve_after_minutes": 4, "error_rate": 0});
    start_live(&t, config).await;
    // Two new tickets, then a product writes one right category and one wrong one.
    let deadline = Instant::now() + Duration::from_secs(10);
    let fresh = loop {
        let fresh = new_tickets(&t).await;
        if fresh.len() >= 2 {
            break fresh;
        }
        assert!(Instant::now() < deadline, "two tickets opened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (right, wrong) = (&fresh[0], &fresh[1]);
    let truth_of = |tk: &Value| tk["_emulator"]["truth"].as_str().unwrap().to_string();
    let other = bank()
        .labels
        .iter()
        .find(|l| **l != truth_of(wrong))
        .unwrap()
        .clone();
    for (tk, value) in [(right, truth_of(right)), (wrong, other.clone())] {
        let path = format!("/api/v2/tickets/{}", tk["id"]);
        let r = t
            .put(&path, json!({"custom_fields": {"cf_category": value}}))
            .await;
        assert_eq!(r.status(), 200);
    }
    until_resolved(&t, 2).await;
    let after = t.tickets().await;
    let find = |id: &Value| after.iter().find(|x| x["id"] == *id).unwrap().clone();
    let (right, wrong) = (find(&right["id"]), find(&wrong["id"]));
    let api = format!(
        "api_key:{}",
        t.emu
            .agent(freshdesk_emulator::well_known::INTEGRATION_ADMIN)
            .id
    );
    let changes = |tk: &Value| -> Vec<(String, String)> {
        history(tk)
            .iter()
            .filter(|c| c["field"] == "cf_category")
            .map(|c| {
                (
                    c["by"].as_str().unwrap().to_string(),
                    c["value"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(right["status"], 4);
    assert_eq!(
        changes(&right),
        [(api.clone(), truth_of(&right))],
        "kept as the product wrote it"
    );
    let fixed = changes(&wrong);
    assert_eq!(fixed.len(), 2, "{fixed:?}");
    assert_eq!(fixed[0], (api, other));
    assert!(fixed[1].0.starts_with("simulated_agent:"));
    assert_eq!(fixed[1].1, truth_of(&wrong), "the agent corrected it");
}

#[tokio::test]
async fn agents_err_at_the_configured_rate_and_stopping_stops_new_tickets() {
    let t = living_desk().await;
    let config = json!({"rate": 60, "resolve_after_minutes": 0, "error_rate": 1});
    start_live(&t, config).await;
    until_resolved(&t, 3).await;
    let stopped = t
        .control_json(Method::DELETE, "/_emulator/live", json!({}))
        .await;
    assert_eq!(stopped["running"], false);
    let fresh = new_tickets(&t).await;
    for tk in fresh.iter().filter(|tk| tk["status"] == 4) {
        assert_ne!(
            tk["custom_fields"]["cf_category"], tk["_emulator"]["truth"],
            "always wrong"
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        new_tickets(&t).await.len(),
        fresh.len(),
        "no ticket after the stop"
    );
}

#[tokio::test]
async fn bad_live_settings_are_refused_and_start_nothing() {
    let t = living_desk().await;
    for body in [
        json!({"rate": 0}),
        json!({"rate": -1}),
        json!({"rate": 5, "error_rate": 2}),
        json!({"rate": 5, "speed": 2}),
    ] {
        let r = t
            .control_send(Method::POST, "/_emulator/live", body.clone())
            .await;
        assert_eq!(r.status(), 400, "{body}");
    }
    let status = live_status(&t).await;
    assert_eq!(status["running"], false);
}
