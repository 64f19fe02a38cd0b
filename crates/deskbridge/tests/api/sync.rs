//! Sync against the emulator: a full copy equals the emulator's ground truth, a second run fetches
//! only what changed, and a cursor in the future fetches nothing and never moves back.

use crate::helpers;

use std::collections::BTreeMap;

use deskbridge::sync::{self, Target};
use freshdesk_emulator::Plan;
use serde_json::Value;

async fn setup(tickets: usize) -> (helpers::TestApp, freshdesk::Client, Target) {
    let app = helpers::spawn_app_full(tickets, Plan::Unlimited, |_| {}).await;
    let b = app.login("admin@acme.test").await;
    let r = app.connect(&b, "acme", &app.admin_key()).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let t = app.the_integration().await;
    let (id, org) = (t.integration_id, t.org_id);
    let key = deskbridge::connections::api_key(&app.store, &app.state.vault, org, id)
        .await
        .unwrap();
    // Short backoffs keep the fault tests quick; everything else is the app's own config.
    let cfg = freshdesk::ClientConfig {
        backoff_base: std::time::Duration::from_millis(20),
        backoff_cap: std::time::Duration::from_millis(200),
        ..app.state.freshdesk.clone()
    };
    let client = freshdesk::Client::new(
        freshdesk::FreshdeskDomain::parse("acme").unwrap(),
        key,
        &cfg,
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
    app.emulator(method, path, body).await
}

/// The first `n` live tickets of the local copy.
async fn live_tickets(app: &helpers::TestApp, n: usize) -> Vec<i64> {
    local_tickets(app)
        .await
        .into_iter()
        .filter(|(_, (s, _))| s == "live")
        .map(|(id, _)| id)
        .take(n)
        .collect()
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
        app.control
            .add_conversation(*id, serde_json::json!({"body": "Any update?"}))
            .await
            .unwrap();
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

async fn export(app: &helpers::TestApp, only: &str) -> Value {
    control(
        app,
        reqwest::Method::GET,
        &format!("/_emulator/export?only={only}"),
        None,
    )
    .await
}

const EVERYTHING: &str = "tickets,conversations,contacts,companies,agents,groups";

#[tokio::test]
async fn a_full_sync_matches_the_source_record_by_record_in_every_stream() {
    let (app, client, t) = setup(300).await;
    let p = sync::run(&app.store, &client, t, |_| {}).await.unwrap();
    let truth = export(&app, EVERYTHING).await;
    let report = helpers::assert_copy_matches(&app, t, &truth).await;
    for stream in [
        "tickets",
        "conversations",
        "contacts",
        "companies",
        "agents",
        "groups",
    ] {
        assert!(report.checked[stream] > 0, "{stream} was compared");
    }
    for table in ["fd_ticket_fields", "fd_articles"] {
        let (n,): (i64,) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&app.store.pool)
                .await
                .unwrap();
        assert!(n > 0, "{table} holds records");
    }
    for stream in [
        "roles",
        "business_hours",
        "sla_policies",
        "satisfaction_ratings",
        "time_entries",
        "solution_categories",
        "solution_folders",
    ] {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM fd_records WHERE stream = $1")
            .bind(stream)
            .fetch_one(&app.store.pool)
            .await
            .unwrap();
        assert!(n > 0, "{stream} holds records");
    }
    assert!(p.skipped.is_empty(), "{:?}", p.skipped);
    // The API-walk verification agrees, for the tickets it compares.
    assert!(
        sync::verify::against_api(&app.store, &client, t)
            .await
            .unwrap()
            .ok()
    );
}

#[tokio::test]
async fn a_full_refresh_twice_gives_identical_tables() {
    let (app, client, t) = setup(200).await;
    sync::run(&app.store, &client, t, |_| {}).await.unwrap();
    let dump = || async {
        let mut all = Vec::new();
        for (table, cols) in [
            ("fd_tickets", "id, state, updated_at, raw"),
            (
                "fd_conversations",
                "id, CAST(ticket_id AS TEXT), updated_at, raw",
            ),
            ("fd_contacts", "id, state, updated_at, raw"),
            ("fd_companies", "id, state, updated_at, raw"),
            ("fd_agents", "id, state, updated_at, raw"),
            ("fd_articles", "id, state, updated_at, raw"),
        ] {
            let rows: Vec<(i64, String, Option<i64>, String)> = sqlx::query_as(
                sqlx::AssertSqlSafe(format!("SELECT {cols} FROM {table} ORDER BY id")),
            )
            .fetch_all(&app.store.pool)
            .await
            .unwrap();
            all.push(rows);
        }
        all
    };
    let first = dump().await;
    // A full refresh: every cursor and reference stream forgotten.
    sqlx::query("DELETE FROM sync_cursors")
        .execute(&app.store.pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM sync_streams")
        .execute(&app.store.pool)
        .await
        .unwrap();
    sync::run(&app.store, &client, t, |_| {}).await.unwrap();
    assert_eq!(dump().await, first);
}

#[tokio::test]
async fn endpoints_the_plan_does_not_include_are_skipped_with_the_reason_and_the_rest_goes_on() {
    let (app, client, t) = setup(100).await;
    for feature in ["timesheets", "surveys"] {
        control(
            &app,
            reqwest::Method::POST,
            "/_emulator/account/features",
            Some(serde_json::json!({"feature": feature, "enabled": false})),
        )
        .await;
    }
    let p = sync::run(&app.store, &client, t, |_| {}).await.unwrap();
    for stream in ["time_entries", "satisfaction_ratings"] {
        let reason = p
            .skipped
            .get(stream)
            .unwrap_or_else(|| panic!("{stream} skipped: {:?}", p.skipped));
        assert!(reason.contains("plan"), "{reason}");
    }
    assert!(
        p.records["contacts"] > 0 && p.records["agents"] > 0,
        "the rest went on"
    );
    let (status, reason): (String, Option<String>) =
        sqlx::query_as("SELECT status, reason FROM sync_streams WHERE stream = 'time_entries'")
            .fetch_one(&app.store.pool)
            .await
            .unwrap();
    assert_eq!(status, "skipped");
    assert!(reason.unwrap().contains("plan"));
}

#[tokio::test]
async fn soft_deletes_spam_and_hard_deletes_become_tombstones() {
    let (app, client, t) = setup(200).await;
    let opts = sync::Options {
        reconcile_every_secs: Some(0),
        ..sync::Options::default()
    };
    let cancel = tokio_util::sync::CancellationToken::new;
    sync::run_with(&app.store, &client, t, &opts, cancel(), |_| {})
        .await
        .unwrap();
    let live: Vec<i64> = live_tickets(&app, 3).await;
    let (trashed, spammed, purged) = (live[0], live[1], live[2]);
    app.control
        .update_ticket(trashed, serde_json::json!({"deleted": true}))
        .await
        .unwrap();
    app.control
        .update_ticket(spammed, serde_json::json!({"spam": true}))
        .await
        .unwrap();
    app.control.purge_ticket(purged).await.unwrap();
    // A contact deleted for good through the API (which also deletes their tickets).
    let (contact,): (i64,) =
        sqlx::query_as("SELECT id FROM fd_contacts WHERE state = 'active' ORDER BY id LIMIT 1")
            .fetch_one(&app.store.pool)
            .await
            .unwrap();
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .no_proxy()
        .build()
        .unwrap();
    let r = http
        .delete(format!(
            "{}/api/v2/contacts/{contact}/hard_delete?force=true",
            app.emu.base_url
        ))
        .basic_auth(app.admin_key(), Some("X"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::NO_CONTENT);
    let p = sync::run_with(&app.store, &client, t, &opts, cancel(), |_| {})
        .await
        .unwrap();
    let local = local_tickets(&app).await;
    assert_eq!(local[&trashed].0, "deleted");
    assert_eq!(local[&spammed].0, "spam");
    assert_eq!(local[&purged].0, "purged");
    let (state, email): (String, Option<String>) =
        sqlx::query_as("SELECT state, email FROM fd_contacts WHERE id = $1")
            .bind(contact)
            .fetch_one(&app.store.pool)
            .await
            .unwrap();
    assert_eq!(
        (state.as_str(), email),
        ("purged", None),
        "only a tombstone is kept"
    );
    assert!(p.purged >= 1);
    helpers::assert_copy_matches(&app, t, &export(&app, EVERYTHING).await).await;
}

#[tokio::test]
async fn a_35000_ticket_help_desk_is_copied_whole_past_the_300_page_wall() {
    let (app, client, t) = setup(35_000).await;
    let opts = sync::Options {
        conversations: false,
        other_streams: false,
        reconcile_every_secs: None,
        ..sync::Options::default()
    };
    let p = sync::run_with(
        &app.store,
        &client,
        t,
        &opts,
        tokio_util::sync::CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap();
    assert!(p.pages > 300, "more than 300 pages were read: {}", p.pages);
    let truth = export(&app, "tickets").await;
    let want: BTreeMap<i64, i64> = truth["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["_emulator"]["trash"] != "purging")
        .map(|x| {
            let at =
                chrono::DateTime::parse_from_rfc3339(x["updated_at"].as_str().unwrap()).unwrap();
            (x["id"].as_i64().unwrap(), at.timestamp())
        })
        .collect();
    let got: BTreeMap<i64, i64> = local_tickets(&app)
        .await
        .into_iter()
        .map(|(id, (_, at))| (id, at))
        .collect();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "every ticket, at its latest version");
}

#[tokio::test]
async fn a_clock_skew_of_ten_minutes_either_way_loses_no_change() {
    let (app, client, t) = setup(100).await;
    sync::run(&app.store, &client, t, |_| {}).await.unwrap();
    let ids: Vec<i64> = live_tickets(&app, 2).await;
    for (skew, id) in [(-600, ids[0]), (600, ids[1])] {
        control(
            &app,
            reqwest::Method::POST,
            "/_emulator/clock",
            Some(serde_json::json!({"skew_secs": skew})),
        )
        .await;
        let subject = format!("changed at skew {skew}");
        app.control
            .update_ticket(id, serde_json::json!({"subject": subject}))
            .await
            .unwrap();
        sync::run(&app.store, &client, t, |_| {}).await.unwrap();
        let (got,): (String,) = sqlx::query_as("SELECT subject FROM fd_tickets WHERE id = $1")
            .bind(id)
            .fetch_one(&app.store.pool)
            .await
            .unwrap();
        assert_eq!(got, subject);
    }
}

#[tokio::test]
async fn two_triggers_for_one_integration_give_one_run() {
    let (app, client, t) = setup(300).await;
    let opts = sync::Options::default();
    let run = || {
        deskbridge::runtime::runs::execute(
            &app.store,
            &client,
            t,
            "test",
            &opts,
            60,
            tokio_util::sync::CancellationToken::new(),
            |_| {},
        )
    };
    let (a, b) = tokio::join!(run(), run());
    let refused = [&a, &b]
        .iter()
        .filter(|r| matches!(r, Err(sync::SyncError::AlreadyRunning)))
        .count();
    assert_eq!(
        refused,
        1,
        "{:?} / {:?}",
        a.as_ref().map(|x| x.0),
        b.as_ref().map(|x| x.0)
    );
    let (runs,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM sync_runs WHERE status = 'succeeded'")
            .fetch_one(&app.store.pool)
            .await
            .unwrap();
    assert_eq!(runs, 1);
    // The lease was released: a later trigger runs.
    assert!(run().await.is_ok());
}

#[tokio::test]
async fn disconnect_stops_a_running_sync_and_deletes_the_copy() {
    let (app, _client, t) = setup(3_000).await;
    let b = app.login("admin@acme.test").await;
    assert!(
        deskbridge::runtime::start_sync(&app.state.queue, t, "test")
            .await
            .unwrap()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let n = app.count("fd_tickets").await;
        if n > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the sync started");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let r = app.disconnect(&b, t.integration_id).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    while deskbridge::jobs::is_live(&app.store, &deskbridge::sync::job_key(t))
        .await
        .unwrap()
    {
        assert!(std::time::Instant::now() < deadline, "the run stopped");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for table in [
        "fd_tickets",
        "fd_conversations",
        "fd_contacts",
        "sync_cursors",
        "sync_runs",
        "sync_locks",
    ] {
        let (n,): (i64,) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&app.store.pool)
                .await
                .unwrap();
        assert_eq!(n, 0, "{table} is empty after disconnect");
    }
}

/// The webhook secret shown once on the sync page.
async fn make_secret(app: &helpers::TestApp, b: &helpers::Browser, id: i64) -> String {
    let page = app
        .post_page(b, &format!("/settings/integrations/{id}/sync/webhook"), &[])
        .await;
    helpers::shown_once(&page, "hook-secret")
}

#[tokio::test]
async fn a_webhook_from_an_automation_rule_refreshes_the_ticket_within_a_second() {
    let (app, client, t) = setup(100).await;
    sync::run(&app.store, &client, t, |_| {}).await.unwrap();
    let b = app.login("admin@acme.test").await;
    let secret = make_secret(&app, &b, t.integration_id).await;
    let hook = format!("{}/hooks/freshdesk/{}", app.base, t.integration_id);
    control(
        &app,
        reqwest::Method::POST,
        "/_emulator/automations",
        Some(serde_json::json!({
            "events": ["ticket_updated", "ticket_created"],
            "url": hook,
            "headers": {deskbridge::web::HOOK_HEADER: secret},
            "content": "{\"ticket_id\": {{ticket.id}}}"
        })),
    )
    .await;
    let id = *local_tickets(&app)
        .await
        .iter()
        .find(|(_, (s, _))| s == "live")
        .unwrap()
        .0;
    app.control
        .update_ticket(id, serde_json::json!({"subject": "Refreshed by webhook"}))
        .await
        .unwrap();
    app.control
        .add_conversation(id, serde_json::json!({"body": "And a new message"}))
        .await
        .unwrap();
    let changed = std::time::Instant::now();
    loop {
        let (subject, convs): (String, i64) = sqlx::query_as("SELECT t.subject, (SELECT COUNT(*) FROM fd_conversations c WHERE c.ticket_id = t.id AND c.body_text = 'And a new message') FROM fd_tickets t WHERE t.id = $1")
            .bind(id)
            .fetch_one(&app.store.pool)
            .await
            .unwrap();
        if subject == "Refreshed by webhook" && convs == 1 {
            break;
        }
        assert!(
            changed.elapsed() < std::time::Duration::from_secs(1),
            "refreshed within a second"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // The sync page says events are arriving.
    let page = app
        .page(
            &b,
            &format!("/settings/integrations/{}/sync", t.integration_id),
        )
        .await;
    assert!(page.contains("webhooks received"), "{page}");
}

#[tokio::test]
async fn a_webhook_without_the_right_secret_is_refused_and_queues_nothing() {
    let (app, _client, t) = setup(50).await;
    let b = app.login("admin@acme.test").await;
    let secret = make_secret(&app, &b, t.integration_id).await;
    let url = format!("{}/hooks/freshdesk/{}", app.base, t.integration_id);
    let send = |header: Option<String>, body: &'static str| {
        let mut r = app
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(h) = header {
            r = r.header(deskbridge::web::HOOK_HEADER, h);
        }
        r.send()
    };
    assert_eq!(
        send(None, r#"{"ticket_id": 1}"#).await.unwrap().status(),
        401
    );
    assert_eq!(
        send(Some("dbh_wrong".into()), r#"{"ticket_id": 1}"#)
            .await
            .unwrap()
            .status(),
        401
    );
    let other = app
        .http
        .post(format!("{}/hooks/freshdesk/999", app.base))
        .header(deskbridge::web::HOOK_HEADER, &secret)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        401,
        "another integration's id is refused the same way"
    );
    assert_eq!(
        send(Some(secret.clone()), r#"{"nothing": 1}"#)
            .await
            .unwrap()
            .status(),
        400
    );
    let n = app.count("hook_events").await;
    assert_eq!(n, 0);
    // Simple mode's shape is accepted too.
    assert_eq!(
        send(Some(secret), r#"{"freshdesk_webhook": {"ticket_id": 1}}"#)
            .await
            .unwrap()
            .status(),
        202
    );
}

#[tokio::test]
async fn the_scheduler_syncs_a_connected_integration_by_itself_and_the_page_shows_it() {
    let app = helpers::spawn_app_full(100, Plan::Unlimited, |c| c.sync.enabled = true).await;
    let b = app.login("admin@acme.test").await;
    app.connect(&b, "acme", &app.admin_key()).await;
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM integrations")
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
    let run = app.first_run_ended().await;
    assert_eq!(run, ("schedule".to_string(), "succeeded".to_string()));
    // Five ticks later, no second run: the interval counts from the first run's start.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        app.count("sync_runs").await,
        1,
        "one run within the interval"
    );
    let page = app
        .page(&b, &format!("/settings/integrations/{id}/sync"))
        .await;
    assert!(page.contains("Last sync finished"), "{page}");
    assert!(page.contains("Held in deskbridge"));
    let api = app
        .api_get(&b, &format!("/api/v1/integrations/{id}/sync"))
        .await;
    let v: Value = api.json().await.unwrap();
    assert_eq!(v["status"], "succeeded");
    assert!(v["held"][0][1].as_i64().unwrap() > 0);
    // The live view streams server-sent events.
    let mut events = app
        .get(&b, &format!("/settings/integrations/{id}/sync/events"))
        .await;
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let chunk = events.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&chunk).contains("event: progress"));
}

#[tokio::test]
async fn every_kind_of_fault_loses_and_duplicates_nothing() {
    let (app, client, t) = setup(300).await;
    let faults = [
        serde_json::json!({"path_prefix": "/api/v2/tickets", "kind": "status", "status": 429, "count": 2}),
        serde_json::json!({"path_prefix": "/api/v2/tickets", "kind": "reset", "count": 2}),
        serde_json::json!({"path_prefix": "/api/v2/tickets/", "kind": "truncate", "count": 2}),
        serde_json::json!({"path_prefix": "/api/v2/tickets/", "kind": "status", "status": 502, "count": 3}),
        serde_json::json!({"path_prefix": "/api/v2/contacts", "kind": "html", "count": 2}),
        serde_json::json!({"path_prefix": "/api/v2/companies", "kind": "delay", "delay_ms": 300, "count": 1}),
        serde_json::json!({"path_prefix": "/api/v2/agents", "kind": "status", "status": 500, "count": 4}),
    ];
    // The governor learns the account's limit from the first good reply; until then it paces as
    // if on the smallest plan, which would make this test slow rather than more thorough.
    client.me(freshdesk::Priority::Interactive).await.unwrap();
    for f in faults {
        control(&app, reqwest::Method::POST, "/_emulator/faults", Some(f)).await;
    }
    // A run may stop on a fault its retries do not outlast; the next resumes from its pages.
    let mut finished = false;
    for _ in 0..6 {
        let started = std::time::Instant::now();
        let r = sync::run(&app.store, &client, t, |_| {}).await;
        eprintln!("run: {:?} after {:?}", r.as_ref().err(), started.elapsed());
        if r.is_ok() {
            finished = true;
            break;
        }
    }
    assert!(finished, "a run finished once the faults were spent");
    let left = control(&app, reqwest::Method::GET, "/_emulator/faults", None).await;
    assert_eq!(
        left.as_array().map(Vec::len).unwrap_or(0),
        0,
        "every fault was met: {left}"
    );
    helpers::assert_copy_matches(&app, t, &export(&app, EVERYTHING).await).await;
}

#[tokio::test]
async fn a_running_backfill_shows_a_progress_bar_that_moves_with_its_time_left() {
    let app = helpers::spawn_app_full(200, Plan::Unlimited, |_| {}).await;
    let (b, t) = app.connect_acme().await;
    // Slow conversations calls, so the backfill is seen mid-way.
    control(
        &app,
        reqwest::Method::POST,
        "/_emulator/faults",
        Some(serde_json::json!({"path_prefix": "/api/v2/tickets/", "kind": "delay", "delay_ms": 150, "count": 100000})),
    )
    .await;
    deskbridge::runtime::start_sync(&app.state.queue, t, "test")
        .await
        .unwrap();
    let path = format!("/settings/integrations/{}/sync", t.integration_id);
    let percent = |page: &str| -> Option<u64> {
        let at = page.find("id=\"sync-progress\">")?;
        let rest = &page[at..];
        let v = rest.find("value=\"")? + 7;
        rest[v..v + rest[v..].find('"')?].parse().ok()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let page = app.page(&b, &path).await;
        if let Some(p) = percent(&page).filter(|p| seen.last() != Some(p)) {
            assert!(p <= 100);
            assert!(
                page.contains("left") || page.contains("estimating"),
                "{page}"
            );
            seen.push(p);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "progress seen: {seen:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(seen[1] > seen[0], "the bar moves forward: {seen:?}");
    app.first_run_ended().await;
    let page = app.page(&b, &path).await;
    assert!(
        page.contains("id=\"sync-progress\" hidden"),
        "no bar once done"
    );
}
