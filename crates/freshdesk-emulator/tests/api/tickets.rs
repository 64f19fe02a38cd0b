use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn ts(v: &Value) -> i64 {
    freshdesk_emulator::util::parse_ts(v.as_str().expect("timestamp")).expect("RFC 3339")
}

async fn first_live(t: &TestEmulator) -> Value {
    t.tickets()
        .await
        .into_iter()
        .rev()
        .find(|x| x["spam"] == false && x["_emulator"]["trash"] == "live")
        .unwrap()
}

/// One timestamp field of every row, in the order the rows came.
fn times(rows: &[Value], field: &str) -> Vec<i64> {
    rows.iter().map(|x| ts(&x[field])).collect()
}

#[tokio::test]
async fn without_updated_since_only_tickets_created_in_the_last_30_days_are_listed() {
    let t = spawn_emulator().await;
    let now = chrono_now();
    let recent = times(&t.list("/api/v2/tickets?per_page=100").await, "created_at");
    assert!(!recent.is_empty());
    assert!(recent.iter().all(|c| now - c <= 30 * 86_400 + 5));
    let all = times(
        &t.list("/api/v2/tickets?per_page=100&updated_since=2000-01-01")
            .await,
        "created_at",
    );
    assert!(all.iter().any(|c| now - c > 30 * 86_400));
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn the_default_order_is_newest_first_and_updated_at_asc_is_honoured() {
    let t = spawn_emulator().await;
    let created = times(
        &t.list("/api/v2/tickets?per_page=100&updated_since=2000-01-01")
            .await,
        "created_at",
    );
    assert!(created.windows(2).all(|w| w[0] >= w[1]));
    let asc = "/api/v2/tickets?per_page=100&order_by=updated_at&order_type=asc&updated_since=";
    let updated = times(&t.list(&format!("{asc}2000-01-01")).await, "updated_at");
    assert!(updated.windows(2).all(|w| w[0] <= w[1]));
    let since = updated[50];
    let since_text = freshdesk_emulator::util::format_ts(since);
    let later = times(&t.list(&format!("{asc}{since_text}")).await, "updated_at");
    assert!(later.iter().all(|u| *u >= since));
}

#[tokio::test]
async fn real_clients_timestamp_forms_are_accepted() {
    let t = spawn_emulator().await;
    let forms =
        "2024-01-03T00:00:00.000000Z 2024-01-03 2024-01-03T00:00:00+05:30 2024-01-03T00:00:00Z";
    for form in forms.split(' ') {
        let rows = t
            .list(&format!(
                "/api/v2/tickets?updated_since={form}&per_page=1&per_page=2"
            ))
            .await;
        assert_eq!(
            rows.len(),
            2,
            "{form}: repeated per_page takes the last value"
        );
    }
}

#[tokio::test]
async fn spam_and_deleted_tickets_are_hidden_from_the_default_list_and_found_by_their_filters() {
    let t = spawn_tickets(2_000).await;
    let tickets = t.tickets().await;
    let spam: Vec<&Value> = tickets
        .iter()
        .filter(|x| x["spam"] == true && x["_emulator"]["trash"] == "live")
        .collect();
    let deleted: Vec<&Value> = tickets
        .iter()
        .filter(|x| x["_emulator"]["trash"] == "deleted")
        .collect();
    assert!(!spam.is_empty() && !deleted.is_empty());
    let default_ids = list_all(&t, "").await;
    assert!(
        spam.iter()
            .chain(deleted.iter())
            .all(|x| !default_ids.contains(&x["id"].as_i64().unwrap()))
    );
    let spam_ids = list_all(&t, "&filter=spam").await;
    assert_eq!(spam_ids.len(), spam.len());
    let deleted_ids = list_all(&t, "&filter=deleted").await;
    assert_eq!(deleted_ids.len(), deleted.len());
    let one = json(
        t.get(&format!("/api/v2/tickets/{}", deleted[0]["id"]))
            .await,
    )
    .await;
    assert_eq!(one["deleted"], true);
    let live = json(t.get(&format!("/api/v2/tickets/{}", default_ids[0])).await).await;
    assert!(
        live.get("deleted").is_none(),
        "deleted is present only when true"
    );
}

#[tokio::test]
async fn writes_to_a_trashed_ticket_get_405_and_a_purging_ticket_is_forbidden() {
    let t = spawn_tickets(2_000).await;
    let tickets = t.tickets().await;
    let deleted = tickets
        .iter()
        .find(|x| x["_emulator"]["trash"] == "deleted")
        .unwrap();
    let r = t
        .put(
            &format!("/api/v2/tickets/{}", deleted["id"]),
            json!({"priority": 2}),
        )
        .await;
    assert_eq!(r.status(), 405);
    assert_eq!(header(&r, "allow").as_deref(), Some("GET"));
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"message":"PUT method is not allowed. It should be one of these method(s): GET"}"#
    );
    let purging = tickets
        .iter()
        .find(|x| x["_emulator"]["trash"] == "purging")
        .unwrap();
    assert_eq!(
        t.get(&format!("/api/v2/tickets/{}", purging["id"]))
            .await
            .status(),
        403
    );
    assert_eq!(
        t.get(&format!("/api/v2/tickets/{}/conversations", purging["id"]))
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn the_single_ticket_view_embeds_what_include_asks_for() {
    let t = spawn_emulator().await;
    let id = first_live(&t).await["id"].clone();
    let v = json(
        t.get(&format!(
            "/api/v2/tickets/{id}?include=conversations,requester,company,stats,sla_policy"
        ))
        .await,
    )
    .await;
    assert!(v["description"].is_string() && v["description_text"].is_string());
    assert!(v["requester"]["email"].is_string());
    assert!(
        v["stats"]
            .as_object()
            .unwrap()
            .contains_key("first_responded_at")
    );
    assert!(v["conversations"].as_array().unwrap().len() <= 10);
    assert!(v["sla_policy"]["sla_target"]["priority_4"].is_object());
    let bad = t
        .get(&format!("/api/v2/tickets/{id}?include=description"))
        .await;
    assert_eq!(
        json(bad).await["errors"][0]["message"],
        "It should be one of these values: 'conversations, requester, company, stats, sla_policy'"
    );
}

#[tokio::test]
async fn lists_omit_the_description_unless_it_is_included() {
    let t = spawn_emulator().await;
    let plain = json(t.get("/api/v2/tickets?per_page=1").await).await;
    assert!(plain[0].get("description").is_none());
    let with = json(
        t.get("/api/v2/tickets?per_page=1&include=description")
            .await,
    )
    .await;
    assert!(with[0]["description"].is_string());
}

#[tokio::test]
async fn create_update_delete_and_restore_follow_freshdesks_statuses() {
    let t = spawn_emulator().await;
    let created = t.post("/api/v2/tickets", json!({"subject": "Printer on fire", "description": "<p>Help</p>", "email": "new.person@example.org", "priority": 4, "custom_fields": {"cf_category": "Technical Issue"}})).await;
    assert_eq!(created.status(), 201);
    let location = header(&created, "location").unwrap();
    let body = json(created).await;
    let id = body["id"].as_i64().unwrap();
    assert_eq!(location, format!("{}/api/v2/tickets/{id}", t.base));
    assert_eq!(body["status"], 2);
    assert_eq!(body["source"], 2);
    assert_eq!(body["description_text"], "Help");
    assert_eq!(body["custom_fields"]["cf_category"], "Technical Issue");

    let updated = t
        .put(&format!("/api/v2/tickets/{id}"), json!({"status": 4}))
        .await;
    assert_eq!(updated.status(), 200);
    assert_eq!(json(updated).await["status"], 4);

    let r = t
        .call(Method::DELETE, &format!("/api/v2/tickets/{id}"))
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.text().await.unwrap(), "");
    let r = t
        .call(Method::PUT, &format!("/api/v2/tickets/{id}/restore"))
        .await;
    assert_eq!(r.status(), 204);
    let r = t
        .call(Method::PUT, &format!("/api/v2/tickets/{id}/restore"))
        .await;
    assert_eq!(r.status(), 404, "restoring a live ticket");
}

#[tokio::test]
async fn replies_and_notes_become_conversations_and_move_updated_at() {
    let t = spawn_emulator().await;
    let ticket = first_live(&t).await;
    let id = ticket["id"].as_i64().unwrap();
    let reply = t
        .post(
            &format!("/api/v2/tickets/{id}/reply"),
            json!({"body": "<p>On it</p>"}),
        )
        .await;
    assert_eq!(reply.status(), 201);
    let reply = json(reply).await;
    assert_eq!(reply["private"], false);
    assert!(reply["replied_to"].is_array());
    let note = t
        .create(
            &format!("/api/v2/tickets/{id}/notes"),
            json!({"body": "internal"}),
        )
        .await;
    assert_eq!(note["private"], true, "notes are private by default");
    assert_eq!(note["incoming"], false);
    let convs = json(
        t.get(&format!("/api/v2/tickets/{id}/conversations?per_page=100"))
            .await,
    )
    .await;
    let ids: Vec<&Value> = convs.as_array().unwrap().iter().map(|c| &c["id"]).collect();
    assert!(ids.contains(&&reply["id"]) && ids.contains(&&note["id"]));
    let after = json(t.get(&format!("/api/v2/tickets/{id}")).await).await;
    assert!(ts(&after["updated_at"]) >= ts(&ticket["updated_at"]));
    let missing = t
        .post(&format!("/api/v2/tickets/{id}/reply"), json!({}))
        .await;
    assert_eq!(missing.status(), 400);
}

#[tokio::test]
async fn ids_are_64_bit_and_blank_fields_are_explicit_nulls() {
    let t = spawn_emulator().await;
    let raw = t.get("/api/v2/account").await.text().await.unwrap();
    assert!(
        raw.contains("\"organisation_id\":284960733419037820"),
        "{raw}"
    );
    let ticket = t
        .get("/api/v2/tickets?per_page=1")
        .await
        .text()
        .await
        .unwrap();
    assert!(ticket.contains("\"association_type\":null"));
    assert!(ticket.contains("\"product_id\":null"));
    let v: Value = serde_json::from_str(&ticket).unwrap();
    assert!(v[0]["requester_id"].as_i64().unwrap() > u32::MAX as i64);
    let created = v[0]["created_at"].as_str().unwrap();
    assert_eq!(created.len(), 20);
    assert!(created.ends_with('Z'));
}

async fn list_all(t: &TestEmulator, q: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    for page in 1.. {
        let rows = json(
            t.get(&format!(
                "/api/v2/tickets?updated_since=2000-01-01&per_page=100&page={page}{q}"
            ))
            .await,
        )
        .await;
        let rows = rows.as_array().unwrap().clone();
        ids.extend(rows.iter().map(|x| x["id"].as_i64().unwrap()));
        if rows.len() < 100 {
            break;
        }
    }
    ids
}
