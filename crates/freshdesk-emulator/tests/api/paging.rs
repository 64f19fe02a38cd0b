use serde_json::Value;

use crate::helpers::*;

const WALL: &str = r#"{"description":"Validation failed","errors":[{"field":"page","message":"You cannot access tickets beyond the 300th page. Please provide a smaller page number.","code":"invalid_value"}]}"#;

#[tokio::test]
async fn the_tickets_list_stops_at_page_300_with_freshdesks_exact_error() {
    let t = spawn_emulator().await;
    let page300 = t.get("/api/v2/tickets?updated_since=2000-01-01&order_by=updated_at&order_type=asc&per_page=1&page=300").await;
    assert_eq!(page300.status(), 200);
    assert_eq!(json(page300).await.as_array().unwrap().len(), 1);
    let page301 = t.get("/api/v2/tickets?updated_since=2000-01-01&order_by=updated_at&order_type=asc&per_page=1&page=301").await;
    assert_eq!(page301.status(), 400);
    assert_eq!(page301.text().await.unwrap(), WALL);
}

#[tokio::test]
async fn the_link_header_repeats_the_callers_host_and_query_with_the_next_page() {
    let t = spawn_emulator().await;
    let r = t
        .get("/api/v2/tickets?per_page=2&updated_since=2000-01-01T00:00:00Z&page=3")
        .await;
    let link = header(&r, "link").expect("a next page");
    assert_eq!(
        link,
        format!(
            "<{}/api/v2/tickets?per_page=2&updated_since=2000-01-01T00:00:00Z&page=4>; rel=\"next\"",
            t.base
        )
    );
    let r = t.get("/api/v2/contacts?per_page=10").await;
    let link = header(&r, "link").expect("a next page");
    assert!(
        link.ends_with("/api/v2/contacts?per_page=10&page=2>; rel=\"next\""),
        "{link}"
    );
}

#[tokio::test]
async fn following_links_visits_every_row_once_and_stops_on_the_last_page() {
    let t = spawn_emulator().await;
    let mut url = format!("{}/api/v2/contacts?per_page=17", t.base);
    let mut seen = std::collections::BTreeSet::new();
    let mut pages = 0;
    loop {
        let r = t
            .client
            .get(&url)
            .header("Authorization", basic(&t.admin_key()))
            .send()
            .await
            .unwrap();
        let next = header(&r, "link");
        let rows = json(r).await;
        pages += 1;
        for c in rows.as_array().unwrap() {
            assert!(seen.insert(c["id"].as_i64().unwrap()), "duplicate contact");
        }
        match next {
            Some(l) => {
                url = l
                    .trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap()
                    .to_string()
            }
            None => {
                assert!(rows.as_array().unwrap().len() <= 17);
                break;
            }
        }
    }
    let export = t.export("contacts").await;
    let visible = export["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c.get("deleted").is_none() && c.get("blocked").is_none())
        .count();
    assert_eq!(seen.len(), visible);
    assert!(pages > 1);
}

#[tokio::test]
async fn past_the_data_a_list_is_an_empty_array() {
    let t = spawn_emulator().await;
    let r = t.get("/api/v2/groups?page=50").await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "link").is_none());
    assert_eq!(json(r).await, Value::Array(vec![]));
}

#[tokio::test]
async fn ticket_fields_are_not_paginated_and_ignore_per_page() {
    let t = spawn_emulator().await;
    let r = t.get("/api/v2/ticket_fields?per_page=1&page=5").await;
    assert!(header(&r, "link").is_none());
    let fields = json(r).await;
    assert!(fields.as_array().unwrap().len() > 5);
    let category = fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "cf_category")
        .expect("custom dropdown");
    assert_eq!(category["type"], "custom_dropdown");
    assert!(
        category["choices"]
            .as_array()
            .unwrap()
            .contains(&Value::from("Billing"))
    );
}

#[tokio::test]
async fn singletons_accept_per_page_as_airbyte_sends_it() {
    let t = spawn_emulator().await;
    let r = t.get("/api/v2/settings/helpdesk?per_page=100").await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["primary_language"], "en");
}

#[tokio::test]
async fn search_returns_thirty_results_a_page_for_ten_pages_without_links() {
    let t = spawn_tickets(2_000).await;
    let r = t
        .get("/api/v2/search/tickets?query=%22priority:%3E1%20OR%20priority:1%22")
        .await;
    assert_eq!(r.status(), 200);
    assert!(header(&r, "link").is_none());
    let body = json(r).await;
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["results", "total"]
    );
    assert_eq!(body["results"].as_array().unwrap().len(), 30);
    assert!(body["total"].as_u64().unwrap() > 300);
    assert!(body["results"][0]["description"].is_string());
    let r = t
        .get("/api/v2/search/tickets?query=%22priority:1%22&page=11")
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        json(r).await["errors"][0]["message"],
        "It should be a Positive Integer less than or equal to 10"
    );
    let r = t
        .get("/api/v2/search/tickets?query=%22priority:1%22&per_page=5")
        .await;
    assert_eq!(json(r).await["errors"][0]["code"], "invalid_field");
}

#[tokio::test]
async fn search_filters_by_the_documented_language() {
    let t = spawn_emulator().await;
    let body = json(
        t.get(
            "/api/v2/search/tickets?query=%22(status:2%20OR%20status:3)%20AND%20priority:%3E3%22",
        )
        .await,
    )
    .await;
    let results = body["results"].as_array().unwrap();
    assert!(results.iter().all(|r| (r["status"] == 2 || r["status"] == 3) && r["priority"].as_i64().unwrap() >= 3));
    let body = json(
        t.get("/api/v2/search/tickets?query=%22cf_category:'Billing'%22")
            .await,
    )
    .await;
    assert!(
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["custom_fields"]["cf_category"] == "Billing")
    );
    let bad = t.get("/api/v2/search/tickets?query=priority:1").await;
    assert_eq!(bad.status(), 400);
    assert_eq!(json(bad).await["errors"][0]["field"], "query");
}

#[tokio::test]
async fn sequential_paging_gives_the_same_rows_whether_or_not_the_help_desk_changed_in_between() {
    // The emulator remembers where a page ended to serve the next one cheaply; a write between
    // pages must fall back to plain offsets, exactly as Freshdesk's offset paging behaves.
    let t = spawn_tickets(1_000).await;
    let q =
        "/api/v2/tickets?updated_since=2000-01-01&order_by=updated_at&order_type=asc&per_page=50";
    let mut quiet = Vec::new();
    for page in 1..=6 {
        quiet.push(json(t.get(&format!("{q}&page={page}")).await).await);
    }
    let mut noisy = Vec::new();
    for page in 1..=6 {
        // A control write that changes no ticket still invalidates remembered cursors.
        t.control_json(
            reqwest::Method::POST,
            "/_emulator/clock",
            serde_json::json!({"skew_secs": 0}),
        )
        .await;
        t.control_json(
            reqwest::Method::POST,
            "/_emulator/account/plan",
            serde_json::json!({"plan": "unlimited"}),
        )
        .await;
        noisy.push(json(t.get(&format!("{q}&page={page}")).await).await);
    }
    assert_eq!(quiet, noisy);
    let ids: Vec<i64> = quiet
        .iter()
        .flat_map(|p| {
            p.as_array()
                .unwrap()
                .iter()
                .map(|x| x["id"].as_i64().unwrap())
        })
        .collect();
    let unique: std::collections::BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len());
    assert_eq!(ids.len(), 300);
}

#[tokio::test]
async fn a_ticket_edited_during_paging_shifts_later_pages_as_offset_paging_does() {
    let t = spawn_tickets(1_000).await;
    let q =
        "/api/v2/tickets?updated_since=2000-01-01&order_by=updated_at&order_type=asc&per_page=50";
    let old1 = json(t.get(&format!("{q}&page=1")).await).await;
    let old2 = json(t.get(&format!("{q}&page=2")).await).await;
    let moved = old1[0]["id"].as_i64().unwrap();
    t.control_json(
        reqwest::Method::PUT,
        &format!("/_emulator/tickets/{moved}"),
        serde_json::json!({"priority": 4}),
    )
    .await;
    let new2 = json(t.get(&format!("{q}&page=2")).await).await;
    // The edited ticket jumps to the end, so every later row slides back by one.
    assert_eq!(new2[0]["id"], old2[1]["id"]);
    assert!(new2.as_array().unwrap().iter().all(|x| x["id"] != moved));
}
