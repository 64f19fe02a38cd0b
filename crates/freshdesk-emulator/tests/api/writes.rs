//! Writes Freshdesk supports on companies, groups and conversations: documented shapes, clear
//! validation errors that change nothing, and the change visible in lists and the export.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn a_company_is_created_updated_and_deleted_and_its_contacts_let_go_of_it() {
    let t = spawn_emulator().await;
    let body = json!({"name": "Globex", "description": "Paper", "domains": ["Globex.example"]});
    let r = t.post("/api/v2/companies", body).await;
    assert_eq!(r.status(), 201);
    let location = header(&r, "location").unwrap();
    let created = json(r).await;
    let id = created["id"].as_i64().unwrap();
    assert!(
        location.ends_with(&format!("/api/v2/companies/{id}")),
        "{location}"
    );
    assert_eq!(created["domains"], json!(["globex.example"]));
    for key in [
        "note",
        "custom_fields",
        "health_score",
        "account_tier",
        "industry",
        "created_at",
    ] {
        assert!(created.get(key).is_some(), "{key}");
    }
    let path = format!("/api/v2/companies/{id}");
    let updated = json(t.put(&path, json!({"note": "VIP"})).await).await;
    assert_eq!(
        (&updated["note"], &updated["name"]),
        (&json!("VIP"), &json!("Globex"))
    );
    let contact = json!({"name": "Hank", "email": "hank@globex.example", "company_id": id});
    let contact = json(t.post("/api/v2/contacts", contact).await).await;
    assert_eq!(t.call(Method::DELETE, &path).await.status(), 204);
    assert_eq!(t.get(&path).await.status(), 404);
    let after = json(t.get(&format!("/api/v2/contacts/{}", contact["id"])).await).await;
    assert!(after["company_id"].is_null());
}

#[tokio::test]
async fn bad_company_writes_are_refused_and_change_nothing() {
    let t = spawn_emulator().await;
    let existing = t.list("/api/v2/companies").await[0].clone();
    let before = t.export("companies").await;
    // A duplicate is a conflict (409), as Freshdesk answers `duplicate_value`; the rest 400.
    for (body, field, code, status) in [
        (
            json!({"description": "no name"}),
            "name",
            "missing_field",
            400,
        ),
        (
            json!({"name": existing["name"]}),
            "name",
            "duplicate_value",
            409,
        ),
        (
            json!({"name": "X", "domains": "x.example"}),
            "domains",
            "datatype_mismatch",
            400,
        ),
        (
            json!({"name": "X", "colour": "red"}),
            "colour",
            "invalid_field",
            400,
        ),
    ] {
        let r = t.post("/api/v2/companies", body.clone()).await;
        assert_eq!(r.status(), status, "{body}");
        let e = &json(r).await["errors"][0];
        assert_eq!(
            (&e["field"], &e["code"]),
            (&json!(field), &json!(code)),
            "{body}"
        );
    }
    let r = t
        .put(&format!("/api/v2/companies/{}", existing["id"]), json!({}))
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        t.put("/api/v2/companies/1", json!({"note": "x"}))
            .await
            .status(),
        404
    );
    assert_eq!(t.export("companies").await, before);
}

#[tokio::test]
async fn an_admin_creates_a_group_with_its_agents_and_a_bad_one_is_refused() {
    let t = spawn_emulator().await;
    let agent = t.emu.agent(freshdesk_emulator::well_known::PLAIN_AGENT);
    let body = json!({"name": "Night shift", "agent_ids": [agent.id], "unassigned_for": "1h", "auto_ticket_assign": 1});
    let r = t.post("/api/v2/groups", body).await;
    assert_eq!(r.status(), 201);
    let group = json(r).await;
    assert_eq!(group["agent_ids"], json!([agent.id]));
    assert_eq!(group["unassigned_for"], "1h");
    let listed = t.list("/api/v2/groups").await;
    assert!(listed.iter().any(|g| g["id"] == group["id"]));
    for (body, field, status) in [
        (json!({"name": "Night shift"}), "name", 409),
        (json!({"name": "B", "agent_ids": [1]}), "agent_ids", 400),
        (
            json!({"name": "C", "unassigned_for": "5m"}),
            "unassigned_for",
            400,
        ),
    ] {
        let r = t.post("/api/v2/groups", body.clone()).await;
        assert_eq!(r.status(), status, "{body}");
        assert_eq!(json(r).await["errors"][0]["field"], field);
    }
    let plain = t
        .post_as("/api/v2/groups", &agent.api_key, json!({"name": "Mine"}))
        .await;
    assert_eq!(plain.status(), 403, "only admins create groups");
    assert_eq!(t.list("/api/v2/groups").await.len(), listed.len());
}

/// A live ticket's conversations, created fresh: a reply and a note.
async fn reply_and_note(t: &TestEmulator) -> (i64, Value, Value) {
    let ticket = t
        .tickets()
        .await
        .into_iter()
        .find(|x| x["spam"] == false && x["_emulator"]["trash"] == "live")
        .unwrap();
    let id = ticket["id"].as_i64().unwrap();
    let reply = t
        .create(
            &format!("/api/v2/tickets/{id}/reply"),
            json!({"body": "On it"}),
        )
        .await;
    let note = t
        .create(
            &format!("/api/v2/tickets/{id}/notes"),
            json!({"body": "internal"}),
        )
        .await;
    (id, reply, note)
}

#[tokio::test]
async fn a_note_is_edited_and_a_conversation_deleted_but_a_reply_cannot_be_edited() {
    let t = spawn_emulator().await;
    let (ticket, reply, note) = reply_and_note(&t).await;
    let at = |c: &Value| format!("/api/v2/conversations/{}", c["id"]);
    let r = t.put(&at(&note), json!({"body": "<p>checked</p>"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await["body_text"], "checked");
    let r = t.put(&at(&reply), json!({"body": "changed"})).await;
    assert_eq!(r.status(), 405, "a reply cannot be edited");
    assert_eq!(header(&r, "allow").as_deref(), Some("DELETE"));
    assert_eq!(t.put(&at(&note), json!({"text": "x"})).await.status(), 400);
    assert_eq!(t.call(Method::DELETE, &at(&reply)).await.status(), 204);
    let thread = t
        .list(&format!(
            "/api/v2/tickets/{ticket}/conversations?per_page=100"
        ))
        .await;
    assert!(thread.iter().all(|c| c["id"] != reply["id"]));
    assert!(
        thread
            .iter()
            .any(|c| c["id"] == note["id"] && c["body_text"] == "checked")
    );
    let gone = t.call(Method::DELETE, "/api/v2/conversations/1").await;
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn an_admin_creates_an_agent_whose_key_works_and_updates_its_scope() {
    let t = spawn_emulator().await;
    let group = t.list("/api/v2/groups").await[0]["id"].clone();
    let body = json!({"name": "Nina", "email": "nina@acme-support.example", "ticket_scope": 2, "group_ids": [group]});
    let agent = t.create("/api/v2/agents", body).await;
    assert_eq!(
        (&agent["ticket_scope"], &agent["group_ids"]),
        (&json!(2), &json!([group]))
    );
    let created = t
        .emu
        .agents()
        .into_iter()
        .find(|a| a.email == "nina@acme-support.example")
        .unwrap();
    assert_eq!(
        t.get_as("/api/v2/agents/me", &created.api_key)
            .await
            .status(),
        200
    );
    let path = format!("/api/v2/agents/{}", agent["id"]);
    let updated = json(
        t.put(&path, json!({"ticket_scope": 1, "occasional": true}))
            .await,
    )
    .await;
    assert_eq!(
        (&updated["ticket_scope"], &updated["occasional"]),
        (&json!(1), &json!(true))
    );
    let r = t.put(&path, json!({"name": "Renamed"})).await;
    assert_eq!(
        r.status(),
        400,
        "an agent's name is its contact's, not updatable here"
    );
    for (body, field, status) in [
        (json!({"email": "x@acme.example"}), "ticket_scope", 400),
        (
            json!({"email": "nina@acme-support.example", "ticket_scope": 1}),
            "email",
            409,
        ),
        (
            json!({"email": "y@acme.example", "ticket_scope": 7}),
            "ticket_scope",
            400,
        ),
        (
            json!({"email": "z@acme.example", "ticket_scope": 1, "role_ids": [5]}),
            "role_ids",
            400,
        ),
    ] {
        let r = t.post("/api/v2/agents", body.clone()).await;
        assert_eq!(r.status(), status, "{body}");
        assert_eq!(json(r).await["errors"][0]["field"], field, "{body}");
    }
    let plain = t.emu.agent(freshdesk_emulator::well_known::PLAIN_AGENT);
    let r = t
        .post_as(
            "/api/v2/agents",
            &plain.api_key,
            json!({"email": "p@acme.example", "ticket_scope": 1}),
        )
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn time_spent_on_a_ticket_is_logged_and_listed_and_a_bad_entry_is_refused() {
    let t = spawn_emulator().await;
    let (ticket, _, _) = reply_and_note(&t).await;
    let path = format!("/api/v2/tickets/{ticket}/time_entries");
    let entry = t
        .create(
            &path,
            json!({"time_spent": "01:30", "note": "Call", "billable": false}),
        )
        .await;
    assert_eq!(
        (&entry["time_spent"], &entry["billable"]),
        (&json!("01:30"), &json!(false))
    );
    let logged = t.list(&path).await;
    assert!(logged.iter().any(|e| e["id"] == entry["id"]));
    for body in [
        json!({"time_spent": "1h30"}),
        json!({"time_spent": "01:75"}),
        json!({"agent_id": 1}),
        json!({"minutes": 3}),
    ] {
        let r = t.post(&path, body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
    }
    assert_eq!(
        t.list(&path).await,
        logged,
        "refused entries change nothing"
    );
}

#[tokio::test]
async fn an_outbound_email_is_a_ticket_sent_from_an_email_config() {
    let t = spawn_emulator().await;
    let config = t.list("/api/v2/email_configs").await[0]["id"].clone();
    let body = json!({"email": "new.customer@example.org", "subject": "Your order", "description": "<p>Hello</p>", "email_config_id": config, "priority": 2, "status": 2});
    let ticket = t.create("/api/v2/tickets/outbound_email", body).await;
    assert_eq!(
        (&ticket["source"], &ticket["email_config_id"]),
        (&json!(10), &config)
    );
    for (body, field) in [
        (
            json!({"email": "a@example.org", "subject": "x"}),
            "email_config_id",
        ),
        (
            json!({"email": "a@example.org", "subject": "x", "email_config_id": 5}),
            "email_config_id",
        ),
        (json!({"subject": "x", "email_config_id": config}), "email"),
    ] {
        let r = t.post("/api/v2/tickets/outbound_email", body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(json(r).await["errors"][0]["field"], field, "{body}");
    }
}

#[tokio::test]
async fn a_ticket_summary_is_written_read_rewritten_and_deleted() {
    let t = spawn_emulator().await;
    let (ticket, _, _) = reply_and_note(&t).await;
    let path = format!("/api/v2/tickets/{ticket}/summary");
    assert_eq!(t.get(&path).await.status(), 404, "no summary yet");
    let written = json(
        t.put(&path, json!({"body": "<p>Card arrived late</p>"}))
            .await,
    )
    .await;
    assert_eq!(
        (&written["body_text"], &written["ticket_id"]),
        (&json!("Card arrived late"), &json!(ticket))
    );
    assert_eq!(json(t.get(&path).await).await, written);
    let again = json(t.put(&path, json!({"body": "Refunded"})).await).await;
    assert_eq!(
        (&again["body_text"], &again["created_at"]),
        (&json!("Refunded"), &written["created_at"])
    );
    assert_eq!(t.put(&path, json!({"text": "x"})).await.status(), 400);
    assert_eq!(t.call(Method::DELETE, &path).await.status(), 204);
    assert_eq!(t.get(&path).await.status(), 404);
}

#[tokio::test]
async fn a_ticket_is_forwarded_to_an_address_as_a_forwarded_email_conversation() {
    let t = spawn_emulator().await;
    let (ticket, _, _) = reply_and_note(&t).await;
    let path = format!("/api/v2/tickets/{ticket}/forward");
    let body =
        json!({"body": "<p>For the billing team</p>", "to_emails": ["billing@partner.example"]});
    let forward = t.create(&path, body).await;
    assert_eq!(
        (&forward["source"], &forward["to_emails"]),
        (&json!(8), &json!(["billing@partner.example"]))
    );
    let thread = t
        .list(&format!(
            "/api/v2/tickets/{ticket}/conversations?per_page=100"
        ))
        .await;
    assert!(thread.iter().any(|c| c["id"] == forward["id"]));
    for body in [
        json!({"body": "x"}),
        json!({"to_emails": ["a@b.example"]}),
        json!({"body": "x", "to_emails": "a@b.example"}),
    ] {
        let r = t.post(&path, body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
    }
}

#[tokio::test]
async fn a_time_entry_is_edited_timed_and_deleted() {
    let t = spawn_emulator().await;
    let (ticket, _, _) = reply_and_note(&t).await;
    let list = format!("/api/v2/tickets/{ticket}/time_entries");
    let entry = t.create(&list, json!({"time_spent": "00:10"})).await;
    let path = format!("/api/v2/time_entries/{}", entry["id"]);
    let edited = json(
        t.put(&path, json!({"time_spent": "00:45", "note": "Longer"}))
            .await,
    )
    .await;
    assert_eq!(
        (&edited["time_spent"], &edited["note"]),
        (&json!("00:45"), &json!("Longer"))
    );
    let started = json(t.put(&format!("{path}/toggle_timer"), json!({})).await).await;
    assert_eq!(started["timer_running"], true);
    let stopped = json(t.put(&format!("{path}/toggle_timer"), json!({})).await).await;
    assert_eq!(
        (&stopped["timer_running"], &stopped["time_spent"]),
        (&json!(false), &json!("00:45"))
    );
    assert_eq!(t.put(&path, json!({"time_spent": "9"})).await.status(), 400);
    assert_eq!(t.call(Method::DELETE, &path).await.status(), 204);
    let left = t.list(&list).await;
    assert!(
        left.iter().all(|e| e["id"] != entry["id"]),
        "gone from the ticket's entries"
    );
    assert_eq!(t.call(Method::DELETE, &path).await.status(), 404);
}

#[tokio::test]
async fn agents_watch_and_unwatch_a_ticket_and_a_requester_rates_it() {
    let t = spawn_emulator().await;
    let (ticket, _, _) = reply_and_note(&t).await;
    let admin = t
        .emu
        .agent(freshdesk_emulator::well_known::INTEGRATION_ADMIN)
        .id;
    let watching = async || {
        let list = json(t.get(&format!("/api/v2/tickets/{ticket}/watchers")).await).await;
        list["watcher_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(admin))
    };
    let watch = t
        .post(&format!("/api/v2/tickets/{ticket}/watch"), json!({}))
        .await;
    assert_eq!(watch.status(), 204);
    assert!(watching().await);
    let unwatch = t
        .put(&format!("/api/v2/tickets/{ticket}/unwatch"), json!({}))
        .await;
    assert_eq!(unwatch.status(), 204);
    assert!(!watching().await);
    let ratings = format!("/api/v2/tickets/{ticket}/satisfaction_ratings");
    let before = t.list(&ratings).await.len();
    let rating = t
        .create(
            &ratings,
            json!({"ratings": {"default_question": 102}, "feedback": "Quick"}),
        )
        .await;
    assert_eq!(
        (&rating["ratings"]["default_question"], &rating["feedback"]),
        (&json!(102), &json!("Quick"))
    );
    assert_eq!(
        t.post(&ratings, json!({"ratings": {"default_question": 7}}))
            .await
            .status(),
        400
    );
    assert_eq!(t.list(&ratings).await.len(), before + 1);
}

#[tokio::test]
async fn a_contact_with_an_email_is_made_an_agent_with_a_key_of_its_own() {
    let t = spawn_emulator().await;
    let contact = t.list("/api/v2/contacts").await[0].clone();
    let agent = json(
        t.put(
            &format!("/api/v2/contacts/{}/make_agent", contact["id"]),
            json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (&agent["id"], &agent["contact"]["email"]),
        (&contact["id"], &contact["email"])
    );
    let key = t
        .emu
        .agents()
        .into_iter()
        .find(|a| json!(a.id) == contact["id"])
        .unwrap()
        .api_key;
    assert_eq!(t.get_as("/api/v2/agents/me", &key).await.status(), 200);
    assert_eq!(
        t.get(&format!("/api/v2/contacts/{}", contact["id"]))
            .await
            .status(),
        404
    );
    let again = t
        .put(
            &format!("/api/v2/contacts/{}/make_agent", contact["id"]),
            json!({}),
        )
        .await;
    assert_eq!(again.status(), 404, "an agent is no longer a contact");
}

#[tokio::test]
async fn a_bulk_update_and_a_bulk_delete_run_as_jobs_that_report_each_ticket() {
    let t = spawn_emulator().await;
    let live: Vec<i64> = t
        .tickets()
        .await
        .iter()
        .filter(|x| x["spam"] == false && x["_emulator"]["trash"] == "live")
        .take(3)
        .map(|x| x["id"].as_i64().unwrap())
        .collect();
    let body =
        json!({"bulk_action": {"ids": [live[0], live[1], 999_999], "properties": {"priority": 4}}});
    let r = t.post("/api/v2/tickets/bulk_update", body).await;
    assert_eq!(r.status(), 202);
    let started = json(r).await;
    let href = started["href"].as_str().unwrap();
    let job_path = &href[href.find("/api/v2/").unwrap()..];
    let job = json(t.get(job_path).await).await;
    assert_eq!(job["status"], "COMPLETED");
    let outcomes: Vec<(i64, bool)> = job["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["id"].as_i64().unwrap(), o["success"] == true))
        .collect();
    assert_eq!(
        outcomes,
        [(live[0], true), (live[1], true), (999_999, false)]
    );
    for id in &live[..2] {
        assert_eq!(
            json(t.get(&format!("/api/v2/tickets/{id}")).await).await["priority"],
            4
        );
    }
    let r = t
        .post(
            "/api/v2/tickets/bulk_delete",
            json!({"bulk_action": {"ids": [live[2]]}}),
        )
        .await;
    assert_eq!(r.status(), 202);
    let deleted = t.list("/api/v2/tickets?filter=deleted&per_page=100").await;
    assert!(deleted.iter().any(|x| x["id"] == live[2]));
    for body in [
        json!({"bulk_action": {"ids": []}}),
        json!({"bulk_action": {"ids": [1]}}),
        json!({"ids": [1]}),
    ] {
        let r = t.post("/api/v2/tickets/bulk_update", body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
    }
    assert_eq!(t.get("/api/v2/jobs/nosuchjob").await.status(), 404);
}

fn sla_target(respond: i64) -> Value {
    let t = |r: i64| json!({"respond_within": r, "resolve_within": r * 4});
    json!({"priority_4": t(respond), "priority_3": t(respond * 2), "priority_2": t(respond * 3), "priority_1": t(respond * 4)})
}

#[tokio::test]
async fn an_admin_creates_and_updates_an_sla_policy_and_bad_targets_are_refused() {
    let t = spawn_emulator().await;
    let group = t.list("/api/v2/groups").await[0]["id"].clone();
    let before = t.list("/api/v2/sla_policies").await;
    let body = json!({"name": "Cards fast lane", "sla_target": sla_target(900), "applicable_to": {"group_ids": [group]}});
    let policy = t.create("/api/v2/sla_policies", body).await;
    assert_eq!(policy["sla_target"]["priority_4"]["respond_within"], 900);
    assert_eq!(policy["applicable_to"]["group_ids"], json!([group]));
    let path = format!("/api/v2/sla_policies/{}", policy["id"]);
    let updated = json(
        t.put(
            &path,
            json!({"active": false, "sla_target": sla_target(1800)}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (
            &updated["active"],
            &updated["sla_target"]["priority_1"]["respond_within"]
        ),
        (&json!(false), &json!(7200))
    );
    assert_eq!(t.list("/api/v2/sla_policies").await.len(), before.len() + 1);
    for (body, field) in [
        (
            json!({"name": "A", "sla_target": sla_target(100), "applicable_to": {"group_ids": [group]}}),
            "sla_target.priority_4",
        ),
        (
            json!({"name": "B", "sla_target": sla_target(900)}),
            "applicable_to",
        ),
        (
            json!({"name": "C", "sla_target": sla_target(900), "applicable_to": {"group_ids": [1]}}),
            "group_ids",
        ),
    ] {
        let r = t.post("/api/v2/sla_policies", body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        assert_eq!(json(r).await["errors"][0]["field"], field, "{body}");
    }
    let default = before.iter().find(|p| p["is_default"] == true).unwrap();
    let r = t
        .put(
            &format!("/api/v2/sla_policies/{}", default["id"]),
            json!({"applicable_to": {"group_ids": [group]}}),
        )
        .await;
    assert_eq!(r.status(), 400, "the default policy applies to everything");
    assert_eq!(t.list("/api/v2/sla_policies").await.len(), before.len() + 1);
}
