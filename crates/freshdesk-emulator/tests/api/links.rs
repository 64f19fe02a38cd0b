//! Tickets that involve other tickets: merges, parent–child and tracker links, archived tickets,
//! the ticket-activities export, and the community forums (`/discussions`).

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

/// The first `n` open tickets' ids, as the admin lists them.
async fn ticket_ids(t: &TestEmulator, n: usize) -> Vec<i64> {
    let all = t.tickets().await;
    let open = all.iter().filter(|x| x["status"] == 2);
    let ids: Vec<i64> = open.take(n).map(|x| x["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), n, "the seed has {n} open tickets");
    ids
}

#[tokio::test]
async fn a_merge_closes_the_secondaries_with_a_note_and_tells_the_primary() {
    let t = spawn_emulator().await;
    let ids = ticket_ids(&t, 3).await;
    let (primary, a, b) = (ids[0], ids[1], ids[2]);
    let before = json(t.get(&format!("/api/v2/tickets/{primary}")).await).await;
    let body = json!({
        "primary_id": primary,
        "ticket_ids": [primary, a, b],
        "note_in_primary": {"body": "Same customer, same card", "private": false},
        "convert_recepients_to_cc": true,
    });
    let r = t.put("/api/v2/tickets/merge", body).await;
    assert_eq!(r.status(), 204);
    for id in [a, b] {
        let s = json(t.get(&format!("/api/v2/tickets/{id}")).await).await;
        assert_eq!(s["status"], 5, "secondary {id} is closed");
        let thread = t.list(&format!("/api/v2/tickets/{id}/conversations")).await;
        let last = thread.last().unwrap();
        assert_eq!(last["private"], true);
        assert!(
            last["body_text"]
                .as_str()
                .unwrap()
                .contains(&format!("#{primary}")),
            "{last}"
        );
    }
    let p = json(t.get(&format!("/api/v2/tickets/{primary}")).await).await;
    assert_eq!(p["status"], before["status"], "the primary stays as it was");
    let thread = t
        .list(&format!("/api/v2/tickets/{primary}/conversations"))
        .await;
    let note = thread.last().unwrap();
    assert_eq!(
        (&note["body_text"], &note["private"]),
        (&json!("Same customer, same card"), &json!(false))
    );
    let history = t.export("tickets").await["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == a)
        .unwrap()["_emulator"]["history"]
        .clone();
    let last = history.as_array().unwrap().last().unwrap();
    assert_eq!(
        (&last["field"], &last["value"]),
        (&json!("status"), &json!(5))
    );
    assert!(last["by"].as_str().unwrap().starts_with("api_key:"));
}

#[tokio::test]
async fn a_bad_merge_is_refused_clearly_and_changes_nothing() {
    let t = spawn_emulator().await;
    let ids = ticket_ids(&t, 2).await;
    let before = t.export("tickets,conversations").await;
    for (body, field) in [
        (json!({"ticket_ids": [ids[1]]}), "primary_id"),
        (json!({"primary_id": ids[0]}), "ticket_ids"),
        (
            json!({"primary_id": ids[0], "ticket_ids": "x"}),
            "ticket_ids",
        ),
        (
            json!({"primary_id": ids[0], "ticket_ids": [ids[0]]}),
            "ticket_ids",
        ),
        (
            json!({"primary_id": ids[0], "ticket_ids": [ids[1], 999_999]}),
            "ticket_ids",
        ),
        (
            json!({"primary_id": ids[0], "ticket_ids": [ids[1]], "colour": 1}),
            "colour",
        ),
        (
            json!({"primary_id": ids[0], "ticket_ids": [ids[1]], "note_in_primary": {"private": true}}),
            "note_in_primary.body",
        ),
    ] {
        let r = t.put("/api/v2/tickets/merge", body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        let e = json(r).await;
        assert_eq!(e["errors"][0]["field"], field, "{body}: {e}");
    }
    assert_eq!(t.export("tickets,conversations").await, before);
    let r = t.call(Method::GET, "/api/v2/tickets/merge").await;
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn a_child_ticket_links_to_its_parent_both_ways() {
    let t = spawn_emulator().await;
    let parent = ticket_ids(&t, 1).await[0];
    let body = json!({"subject": "Replace card", "description": "x", "email": "a@b.example", "parent_id": parent});
    let child = t.create("/api/v2/tickets", body).await;
    assert_eq!(child["association_type"], 2);
    assert_eq!(child["associated_tickets_list"], json!([parent]));
    let child_id = child["id"].as_i64().unwrap();
    let p = json(t.get(&format!("/api/v2/tickets/{parent}")).await).await;
    assert_eq!(
        (&p["association_type"], &p["associated_tickets_list"]),
        (&json!(1), &json!([child_id]))
    );
    let kids = t
        .list(&format!("/api/v2/tickets/{parent}/associated_tickets"))
        .await;
    assert_eq!(kids.len(), 1);
    assert_eq!(kids[0]["id"], child_id);
    let lead = json(
        t.get(&format!("/api/v2/tickets/{child_id}/prime_association"))
            .await,
    )
    .await;
    assert_eq!(lead["id"], parent);
    // The other directions are not found, as on Freshdesk.
    for path in [
        format!("/api/v2/tickets/{child_id}/associated_tickets"),
        format!("/api/v2/tickets/{parent}/prime_association"),
    ] {
        assert_eq!(t.get(&path).await.status(), 404, "{path}");
    }
    // A listed ticket carries the count, not the list (the parent was just updated: it is near
    // the top of the newest first).
    let listed = t
        .list("/api/v2/tickets?order_by=updated_at&order_type=desc&per_page=5")
        .await;
    let row = listed
        .iter()
        .find(|x| x["id"] == parent)
        .expect("the parent is listed");
    assert_eq!(row["associated_tickets_count"], 1);
    assert!(row.get("associated_tickets_list").is_none());
}

#[tokio::test]
async fn a_tracker_tracks_its_related_tickets_and_bad_links_are_refused() {
    let t = spawn_emulator().await;
    let ids = ticket_ids(&t, 2).await;
    let body = json!({"subject": "Outage", "description": "x", "email": "ops@acme.example", "related_ticket_ids": ids});
    let tracker = t.create("/api/v2/tickets", body).await;
    assert_eq!(tracker["association_type"], 3);
    let tid = tracker["id"].as_i64().unwrap();
    for id in &ids {
        let lead = json(
            t.get(&format!("/api/v2/tickets/{id}/prime_association"))
                .await,
        )
        .await;
        assert_eq!(lead["id"], tid);
    }
    let before = t.export("tickets").await;
    for body in [
        json!({"subject": "s", "email": "a@b.example", "parent_id": 999_999}),
        json!({"subject": "s", "email": "a@b.example", "related_ticket_ids": [ids[0]]}),
        json!({"subject": "s", "email": "a@b.example", "parent_id": ids[0], "related_ticket_ids": [ids[1]]}),
        json!({"subject": "s", "email": "a@b.example", "related_ticket_ids": []}),
    ] {
        let r = t.post("/api/v2/tickets", body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
    }
    assert_eq!(t.export("tickets").await, before);
}

#[tokio::test]
async fn an_archived_ticket_leaves_every_list_and_is_read_at_its_archive_path() {
    let t = spawn_tickets(300).await;
    let archived = t.emu.control().archive(30).await.unwrap();
    let ids: Vec<i64> = archived["archived"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert!(!ids.is_empty(), "old closed tickets were archived");
    let id = ids[0];
    assert_eq!(t.get(&format!("/api/v2/tickets/{id}")).await.status(), 404);
    let all = t
        .list("/api/v2/tickets?updated_since=2000-01-01&per_page=100")
        .await;
    assert!(
        all.iter()
            .all(|x| !ids.contains(&x["id"].as_i64().unwrap()))
    );
    let a = json(t.get(&format!("/api/v2/tickets/archived/{id}")).await).await;
    assert_eq!(
        (&a["id"], &a["archived"], &a["status"]),
        (&json!(id), &json!(true), &json!(5))
    );
    let thread = t
        .list(&format!("/api/v2/tickets/archived/{id}/conversations"))
        .await;
    assert!(thread.iter().all(|c| c["ticket_id"] == id));
    let plain = t
        .call_as(
            Method::DELETE,
            &format!("/api/v2/tickets/archived/{id}"),
            &t.key(2),
        )
        .await;
    assert_eq!(plain.status(), 403, "only admins delete archived tickets");
    let r = t
        .call(Method::DELETE, &format!("/api/v2/tickets/archived/{id}"))
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        t.get(&format!("/api/v2/tickets/archived/{id}"))
            .await
            .status(),
        404
    );
    let left = t.export("archived_tickets").await["archived_tickets"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(left, ids.len() - 1);
}

#[tokio::test]
async fn the_activities_export_links_a_file_with_todays_changes_and_who_made_them() {
    let t = spawn_emulator().await;
    let id = ticket_ids(&t, 1).await[0];
    let r = t
        .put(
            &format!("/api/v2/tickets/{id}"),
            json!({"priority": 4, "status": 3}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let today = chrono_today();
    let r = t
        .get(&format!(
            "/api/v2/export/ticket_activities?created_at={today}"
        ))
        .await;
    assert_eq!(r.status(), 200);
    let url = json(r).await["export"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.starts_with(&t.base), "{url}");
    // The file link needs no key, as a link to Freshdesk's file storage does not.
    let file = json(t.anonymous(&url).await).await;
    let admin = t
        .emu
        .agent(freshdesk_emulator::well_known::INTEGRATION_ADMIN)
        .id;
    let mine = file["activities_data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["ticket_id"] == id && a["performer_id"] == admin)
        .cloned()
        .expect("the write is in the file");
    assert_eq!(mine["performer_type"], "agent");
    assert_eq!(mine["activity"]["priority"], 4);
    assert_eq!(mine["activity"]["status"], "Pending");
    for (query, status) in [
        ("", 400),
        ("?created_at=yesterday", 400),
        ("?created_at=2999-01-01", 400),
    ] {
        let r = t
            .get(&format!("/api/v2/export/ticket_activities{query}"))
            .await;
        assert_eq!(r.status(), status, "{query}");
    }
    let plain = t
        .get_as(
            &format!("/api/v2/export/ticket_activities?created_at={today}"),
            &t.key(2),
        )
        .await;
    assert_eq!(plain.status(), 403);
    let forged = t
        .anonymous(&format!("{}/exports/nothing.json", t.base))
        .await;
    assert_eq!(forged.status(), 404);
}

/// Today's date in UTC as `YYYY-MM-DD`.
fn chrono_today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    freshdesk_emulator::util::format_date(secs)
}

#[tokio::test]
async fn the_seeded_forum_is_read_category_by_forum_by_topic_with_its_comments() {
    let t = spawn_emulator().await;
    let categories = t.list("/api/v2/discussions/categories").await;
    assert_eq!(categories.len(), 2);
    let cat = categories[0]["id"].as_i64().unwrap();
    let forums = t
        .list(&format!("/api/v2/discussions/categories/{cat}/forums"))
        .await;
    assert!(!forums.is_empty());
    let forum = &forums[0];
    for key in [
        "forum_category_id",
        "forum_type",
        "forum_visibility",
        "topics_count",
        "posts_count",
    ] {
        assert!(forum.get(key).is_some(), "{key}");
    }
    let fid = forum["id"].as_i64().unwrap();
    let topics = t
        .list(&format!("/api/v2/discussions/forums/{fid}/topics"))
        .await;
    assert_eq!(topics.len() as i64, forum["topics_count"].as_i64().unwrap());
    let topic = &topics[0];
    let comments = t
        .list(&format!(
            "/api/v2/discussions/topics/{}/comments",
            topic["id"]
        ))
        .await;
    assert_eq!(
        comments.len() as i64,
        topic["comments_count"].as_i64().unwrap()
    );
    assert_eq!(comments[0]["topic_id"], topic["id"]);
    assert_eq!(t.get("/api/v2/discussions/forums/1").await.status(), 404);
}

#[tokio::test]
async fn an_agent_opens_a_topic_and_answers_it_and_the_export_shows_both() {
    let t = spawn_emulator().await;
    let plain = t.key(2);
    let cat = t.list("/api/v2/discussions/categories").await[0]["id"].clone();
    let fid = t
        .list(&format!("/api/v2/discussions/categories/{cat}/forums"))
        .await[0]["id"]
        .as_i64()
        .unwrap();
    let topics = format!("/api/v2/discussions/forums/{fid}/topics");
    let opened = json!({"title": "Card not arriving", "message": "<p>Where is my card?</p>"});
    let r = t.post_as(&topics, &plain, opened).await;
    assert_eq!(r.status(), 201);
    let topic = json(r).await;
    assert_eq!(topic["comments_count"], 1);
    let tid = topic["id"].as_i64().unwrap();
    let comments = format!("/api/v2/discussions/topics/{tid}/comments");
    let comment = t
        .create(&comments, json!({"body": "It ships in 5 days."}))
        .await;
    assert_eq!(comment["body_text"], "It ships in 5 days.");
    let cid = comment["id"].as_i64().unwrap();
    let edited = t
        .put(
            &format!("/api/v2/discussions/comments/{cid}"),
            json!({"answer": true}),
        )
        .await;
    assert_eq!(json(edited).await["answer"], true);
    assert!(forum_export(&t, "topics", "id").await.contains(&tid));
    assert!(forum_export(&t, "comments", "id").await.contains(&cid));
    // Locked topics take no comment; agents make no categories; a topic delete takes its comments.
    let topic_path = format!("/api/v2/discussions/topics/{tid}");
    let lock = t.put(&topic_path, json!({"locked": true})).await;
    assert_eq!(lock.status(), 200);
    let before = t.export("discussions").await;
    let late = json!({"body": "late"});
    let r = t
        .post(&format!("/api/v2/discussions/topics/{tid}/comments"), late)
        .await;
    assert_eq!(r.status(), 400);
    let mine = json!({"name": "Mine"});
    let r = t
        .post_as("/api/v2/discussions/categories", &plain, mine)
        .await;
    assert_eq!(r.status(), 403);
    for (body, status) in [
        (json!({}), 400),
        (json!({"name": "General"}), 409),
        (json!({"name": "x", "colour": 1}), 400),
    ] {
        let r = t.post("/api/v2/discussions/categories", body.clone()).await;
        assert_eq!(r.status(), status, "{body}");
    }
    assert_eq!(t.export("discussions").await, before);
    let r = t.call(Method::DELETE, &topic_path).await;
    assert_eq!(r.status(), 204);
    assert!(
        !forum_export(&t, "comments", "topic_id")
            .await
            .contains(&tid)
    );
}

/// One field of every forum record of a kind in the export (`topics`, `comments`, …).
async fn forum_export(t: &TestEmulator, kind: &str, key: &str) -> Vec<i64> {
    let d = t.export("discussions").await;
    let rows = d["discussions"][kind]
        .as_array()
        .expect("the export has discussions");
    rows.iter().filter_map(|x| x[key].as_i64()).collect()
}
