//! The records API: every synced stream read page by page from a cursor gives exactly the copy,
//! every later change arrives once and in order while syncs keep writing (tombstones included),
//! and bad input is refused with a clear message and a token needs the `records:read` scope.

use std::collections::{BTreeMap, BTreeSet};

use deskbridge::sync::{self, Target};
use freshdesk_emulator::Plan;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{self, TestApp};

struct Consumer<'a> {
    app: &'a TestApp,
    token: String,
    integration: i64,
}

impl<'a> Consumer<'a> {
    fn new(app: &'a TestApp, t: Target, token: String) -> Consumer<'a> {
        Consumer {
            app,
            token,
            integration: t.integration_id,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.app
            .http
            .get(format!(
                "{}/api/v1/integrations/{}{path}",
                self.app.base, self.integration
            ))
            .header("authorization", format!("Bearer {}", self.token))
            .send()
            .await
            .unwrap()
    }

    /// One page of `stream` after `cursor`.
    async fn page(&self, stream: &str, cursor: Option<&str>, limit: usize) -> (Vec<Value>, String) {
        let mut path = format!("/records/{stream}?limit={limit}");
        if let Some(c) = cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = self.get(&path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let v: Value = r.json().await.unwrap();
        let records = v["records"].as_array().unwrap().clone();
        (records, v["next_cursor"].as_str().unwrap().to_string())
    }

    /// Every record after `cursor` until a page comes back empty; the records and the cursor.
    async fn drain(
        &self,
        stream: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> (Vec<Value>, String) {
        let mut all = Vec::new();
        let mut cursor = cursor.map(str::to_string);
        loop {
            let (page, next) = self.page(stream, cursor.as_deref(), limit).await;
            if page.is_empty() {
                return (all, next);
            }
            all.extend(page);
            cursor = Some(next);
        }
    }
}

/// A synced app and a consumer holding a `records:read` token made in Settings.
async fn synced(tickets: usize) -> (TestApp, freshdesk::Client, Target, String) {
    let app = helpers::spawn_app_full(tickets, Plan::Unlimited, |_| {}).await;
    let (b, t) = app.connect_acme().await;
    let client = app.client(t).await;
    sync::run(&app.store, &client, t, |_| {}).await.unwrap();
    let token = helpers::records_token(&app, &b).await;
    (app, client, t, token)
}

async fn ids_in(app: &TestApp, sql: &str, t: Target) -> BTreeSet<i64> {
    let rows: Vec<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(t.org_id)
        .bind(t.integration_id)
        .fetch_all(&app.store.pool)
        .await
        .unwrap();
    rows.into_iter().map(|(id,)| id).collect()
}

#[tokio::test]
async fn paging_through_every_stream_gives_exactly_the_synced_copy() {
    let (app, _client, t, token) = synced(250).await;
    let c = Consumer::new(&app, t, token);
    let streams: Value = c.get("/records").await.json().await.unwrap();
    let streams: Vec<String> = streams["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(streams.len(), 15);
    let tables: BTreeMap<&str, String> = [
        ("tickets", "fd_tickets"),
        ("conversations", "fd_conversations"),
        ("contacts", "fd_contacts"),
        ("companies", "fd_companies"),
        ("agents", "fd_agents"),
        ("groups", "fd_groups"),
        ("ticket_fields", "fd_ticket_fields"),
        ("solution_articles", "fd_articles"),
    ]
    .into_iter()
    .map(|(s, table)| {
        (
            s,
            format!("SELECT id FROM {table} WHERE org_id = $1 AND integration_id = $2"),
        )
    })
    .collect();
    for stream in &streams {
        let (records, _) = c.drain(stream, None, 37).await;
        let got: Vec<i64> = records.iter().map(|r| r["id"].as_i64().unwrap()).collect();
        let unique: BTreeSet<i64> = got.iter().copied().collect();
        assert_eq!(unique.len(), got.len(), "{stream}: no record twice");
        let sql = tables.get(stream.as_str()).cloned().unwrap_or_else(|| {
            format!("SELECT id FROM fd_records WHERE org_id = $1 AND integration_id = $2 AND stream = '{stream}'")
        });
        let want = ids_in(&app, &sql, t).await;
        assert!(!want.is_empty(), "{stream} was synced");
        assert_eq!(unique, want, "{stream}");
    }
    // Tickets as Freshdesk has them, spam and trash included, with their JSON and typed fields.
    let truth = app.control.export(Some("tickets")).await.unwrap();
    let (records, _) = c.drain("tickets", None, 1000).await;
    let by_id: BTreeMap<i64, &Value> = records
        .iter()
        .map(|r| (r["id"].as_i64().unwrap(), r))
        .collect();
    for ticket in truth["tickets"].as_array().unwrap() {
        if ticket["_emulator"]["trash"] == "purging" {
            continue;
        }
        let r = by_id[&ticket["id"].as_i64().unwrap()];
        assert_eq!(r["raw"]["subject"], ticket["subject"]);
        assert_eq!(r["fields"]["priority"], ticket["priority"]);
        let gone = ticket["spam"] == true || ticket["_emulator"]["trash"] != "live";
        assert_eq!(r["deleted"], gone, "ticket {}", ticket["id"]);
    }
}

#[tokio::test]
async fn a_consumer_paging_while_syncs_write_gets_every_change_once_in_order_tombstones_included() {
    let (app, client, t, token) = synced(200).await;
    let c = Consumer::new(&app, t, token);
    let (_, mut tickets_cursor) = c.drain("tickets", None, 500).await;
    let (_, mut convs_cursor) = c.drain("conversations", None, 500).await;
    let live: Vec<i64> = ids_in(
        &app,
        "SELECT id FROM fd_tickets WHERE org_id = $1 AND integration_id = $2 AND state = 'live' ORDER BY id",
        t,
    )
    .await
    .into_iter()
    .collect();
    let opts = sync::Options {
        reconcile_every_secs: Some(0),
        ..sync::Options::default()
    };
    for round in 0..3 {
        // Each round changes other tickets: edits, a note, a trash, a spam and a purge.
        let mine = &live[round * 8..round * 8 + 8];
        for id in &mine[..4] {
            app.control
                .update_ticket(*id, json!({"priority": 4}))
                .await
                .unwrap();
        }
        app.control
            .add_conversation(mine[4], json!({"body": "Any news?"}))
            .await
            .unwrap();
        app.control
            .update_ticket(mine[5], json!({"deleted": true}))
            .await
            .unwrap();
        app.control
            .update_ticket(mine[6], json!({"spam": true}))
            .await
            .unwrap();
        app.control.purge_ticket(mine[7]).await.unwrap();
        // The sync writes while the consumer reads in small pages.
        let store = app.store.clone();
        let (client2, opts2) = (client.clone(), opts.clone());
        let writer = tokio::spawn(async move {
            let cancel = tokio_util::sync::CancellationToken::new();
            sync::run_with(&store, &client2, t, &opts2, cancel, |_| {})
                .await
                .unwrap();
        });
        let mut seen: Vec<Value> = Vec::new();
        while !writer.is_finished() {
            let (page, next) = c.page("tickets", Some(&tickets_cursor), 3).await;
            seen.extend(page);
            tickets_cursor = next;
            tokio::task::yield_now().await;
        }
        writer.await.unwrap();
        let (rest, next) = c.drain("tickets", Some(&tickets_cursor), 3).await;
        seen.extend(rest);
        tickets_cursor = next;
        let got: Vec<i64> = seen.iter().map(|r| r["id"].as_i64().unwrap()).collect();
        let mut sorted = got.clone();
        sorted.sort();
        // The ticket with a new note changed too: its updated_at moved.
        let mut want: Vec<i64> = mine.to_vec();
        want.sort();
        assert_eq!(
            sorted, want,
            "round {round}: each changed ticket exactly once, no other"
        );
        let at = |id: i64| &seen[got.iter().position(|x| *x == id).unwrap()];
        assert_eq!(at(mine[0])["fields"]["priority"], 4);
        assert_eq!(at(mine[5])["deleted"], true, "trashed");
        assert_eq!(at(mine[6])["deleted"], true, "spam");
        assert_eq!(at(mine[7])["deleted"], true, "purged");
        assert_eq!(at(mine[7])["state"], "purged");
        // The new note arrives once; the purged ticket's conversations arrive as tombstones.
        let (convs, next) = c.drain("conversations", Some(&convs_cursor), 4).await;
        convs_cursor = next;
        let note: Vec<&Value> = convs
            .iter()
            .filter(|x| x["raw"]["body_text"] == "Any news?")
            .collect();
        assert_eq!(note.len(), 1, "round {round}: the note once");
        assert!(
            convs
                .iter()
                .filter(|x| x["deleted"] == true)
                .all(|x| x["raw"].is_null()),
            "a conversation deleted outright reads as a bare tombstone"
        );
        let ids: Vec<i64> = convs.iter().map(|r| r["id"].as_i64().unwrap()).collect();
        let unique: BTreeSet<i64> = ids.iter().copied().collect();
        assert_eq!(
            unique.len(),
            ids.len(),
            "round {round}: no conversation twice"
        );
    }
    // Nothing changed since: the feed is up to date and says so with an empty page.
    let (after, same) = c.page("tickets", Some(&tickets_cursor), 10).await;
    assert!(after.is_empty());
    assert_eq!(same, tickets_cursor);
}

#[tokio::test]
async fn bad_requests_for_records_get_clear_errors_and_a_token_needs_the_scope() {
    let (app, _client, t, token) = synced(50).await;
    let c = Consumer::new(&app, t, token);
    let (_, cursor) = c.page("tickets", None, 5).await;
    let r = c.get("/records/widgets").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let error = error_of(r).await;
    assert!(error.contains("tickets, conversations"), "{error}");
    for (query, words) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("since=yesterday", "since"),
        ("cursor=not-a-cursor", "cursor"),
    ] {
        let r = c.get(&format!("/records/tickets?{query}")).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query}");
        let error = error_of(r).await;
        assert!(error.contains(words), "{query}: {error}");
    }
    // A cursor of another stream, and a forged one that names this stream.
    let r = c.get(&format!("/records/contacts?cursor={cursor}")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    use base64::Engine;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
        "c1.{}.tickets.0.00000000000000000000000000000000",
        t.integration_id
    ));
    let r = c.get(&format!("/records/tickets?cursor={forged}")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // A records token cannot manage integrations; another organisation's integration is not found.
    let r = app
        .http
        .delete(format!(
            "{}/api/v1/integrations/{}",
            app.base, t.integration_id
        ))
        .header("authorization", format!("Bearer {}", c.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(error_of(r).await.contains("integrations:write"));
    let r = app
        .http
        .get(format!("{}/api/v1/integrations", app.base))
        .header("authorization", format!("Bearer {}", c.token))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "reading integrations needs its scope too"
    );
    assert_eq!(app.integration_count().await, 1, "nothing was disconnected");
    let other = app.login("admin@other.test").await;
    let path = format!("/api/v1/integrations/{}/records/tickets", t.integration_id);
    assert_eq!(
        app.api_get(&other, &path).await.status(),
        StatusCode::NOT_FOUND
    );
    // Since a time: only changes made at or after it.
    let (all, _) = c.drain("tickets", None, 1000).await;
    let r = c.get("/records/tickets?since=2999-01-01T00:00:00Z").await;
    let v: Value = r.json().await.unwrap();
    assert!(v["records"].as_array().unwrap().is_empty());
    assert!(!all.is_empty());
}

/// The words of an API error answer.
async fn error_of(r: reqwest::Response) -> String {
    let body: Value = r.json().await.unwrap();
    body["error"]
        .as_str()
        .expect("an error message")
        .to_string()
}

/// Reads server-sent events until one named `changes` arrives (10 s at most): its id and data.
async fn next_changes(r: &mut reqwest::Response) -> (String, Value) {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            let field = |name: &str| {
                event
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(str::trim))
                    .map(str::to_string)
            };
            if field("event:").as_deref() == Some("changes") {
                let data = field("data:").expect("the event has data");
                return (field("id:").unwrap(), serde_json::from_str(&data).unwrap());
            }
            continue;
        }
        let chunk = tokio::time::timeout_at(deadline, r.chunk())
            .await
            .expect("a changes event within 10 s")
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn the_change_stream_names_what_changed_with_a_cursor_and_resumes_from_its_last_event() {
    let (app, client, t, token) = synced(60).await;
    let c = Consumer::new(&app, t, token);
    let mut events = c.get("/changes").await;
    assert_eq!(events.status(), StatusCode::OK);
    let (_, tickets_head) = c.drain("tickets", None, 1000).await;
    let id = ids_in(
        &app,
        "SELECT id FROM fd_tickets WHERE org_id = $1 AND integration_id = $2 AND state = 'live' ORDER BY id LIMIT 1",
        t,
    )
    .await
    .into_iter()
    .next()
    .unwrap();
    app.control
        .update_ticket(id, json!({"priority": 3}))
        .await
        .unwrap();
    sync::run(&app.store, &client, t, |_| {}).await.unwrap();
    let (event_id, data) = next_changes(&mut events).await;
    let tickets = data["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == "tickets")
        .expect("tickets changed")
        .clone();
    assert_eq!(tickets["changed"], 1);
    let cursor = tickets["cursor"].as_str().unwrap();
    let (page, _) = c.page("tickets", Some(cursor), 100).await;
    let ids: Vec<i64> = page.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![id], "the cursor reads exactly what changed");
    assert_eq!(
        c.page("tickets", Some(&tickets_head), 100).await.0.len(),
        1,
        "the same as from the cursor the consumer already held"
    );
    // A client that reconnects from an earlier event gets what it missed at once.
    let before: i64 = event_id.parse::<i64>().unwrap() - 1;
    let mut again = app
        .http
        .get(format!(
            "{}/api/v1/integrations/{}/changes",
            app.base, t.integration_id
        ))
        .header("authorization", format!("Bearer {}", c.token))
        .header("last-event-id", before.to_string())
        .send()
        .await
        .unwrap();
    let (resumed, _) = next_changes(&mut again).await;
    assert_eq!(resumed, event_id);
}
