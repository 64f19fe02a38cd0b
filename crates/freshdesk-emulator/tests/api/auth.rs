use freshdesk_emulator::well_known;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

/// The first page of every ticket the key may see, however old.
const ALL_TICKETS: &str = "/api/v2/tickets?updated_since=2000-01-01&per_page=100";

const INVALID_CREDENTIALS: &str = r#"{"code":"invalid_credentials","message":"You have to be logged in to perform this action."}"#;
const ACCESS_DENIED: &str =
    r#"{"code":"access_denied","message":"You are not authorized to perform this action."}"#;

#[tokio::test]
async fn a_valid_key_reads_its_own_agent_record() {
    let t = spawn_emulator().await;
    let r = t.get("/api/v2/agents/me").await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "x-freshdesk-api-version").as_deref(),
        Some("latest=v2; requested=v2")
    );
    let me = json(r).await;
    assert_eq!(me["contact"]["email"], "integration@acme-support.example");
    assert_eq!(me["ticket_scope"], 1);
}

#[tokio::test]
async fn a_wrong_or_missing_key_gets_invalid_credentials_without_a_challenge() {
    let t = spawn_emulator().await;
    let wrong = t.get_as("/api/v2/tickets", "not-a-key").await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("www-authenticate").is_none());
    assert_eq!(wrong.text().await.unwrap(), INVALID_CREDENTIALS);
    let none = t.anonymous(&format!("{}/api/v2/tickets", t.base)).await;
    assert_eq!(none.status(), 401);
    assert_eq!(none.text().await.unwrap(), INVALID_CREDENTIALS);
}

#[tokio::test]
async fn a_deleted_agent_becomes_a_contact_whose_key_is_denied_everywhere() {
    let t = spawn_emulator().await;
    let owner = t.key(well_known::OWNER);
    let admin = t.emu.agent(well_known::INTEGRATION_ADMIN);
    let r = t
        .call_as(
            Method::DELETE,
            &format!("/api/v2/agents/{}", admin.id),
            &owner,
        )
        .await;
    assert_eq!(r.status(), 204);
    for path in ["/api/v2/agents/me", "/api/v2/tickets"] {
        let r = t.get_as(path, &admin.api_key).await;
        assert_eq!(r.status(), 403, "{path}");
        assert_eq!(r.text().await.unwrap(), ACCESS_DENIED);
    }
    assert_eq!(
        t.get_as(&format!("/api/v2/agents/{}", admin.id), &owner)
            .await
            .status(),
        404
    );
    let contact = json(
        t.get_as(&format!("/api/v2/contacts/{}", admin.id), &owner)
            .await,
    )
    .await;
    assert_eq!(contact["email"], admin.email);
}

#[tokio::test]
async fn an_agent_cannot_delete_itself() {
    let t = spawn_emulator().await;
    let owner = t.emu.agent(well_known::OWNER);
    let r = t
        .call_as(
            Method::DELETE,
            &format!("/api/v2/agents/{}", owner.id),
            &owner.api_key,
        )
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn a_suspended_account_refuses_reads_and_writes() {
    let t = spawn_emulator().await;
    t.control_json(Method::POST, "/_emulator/account/suspend", json!({}))
        .await;
    let r = t.get("/api/v2/tickets").await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"code":"account_suspended","message":"Your account has been suspended."}"#
    );
    let w = t
        .post(
            "/api/v2/tickets",
            json!({"subject": "x", "email": "a@b.co"}),
        )
        .await;
    assert_eq!(w.status(), 403);
    t.control_json(Method::POST, "/_emulator/account/restore", json!({}))
        .await;
    assert_eq!(t.get("/api/v2/tickets").await.status(), 200);
}

#[tokio::test]
async fn non_admins_are_denied_admin_endpoints_but_may_read_themselves() {
    let t = spawn_emulator().await;
    let plain = t.key(well_known::PLAIN_AGENT);
    for path in [
        "/api/v2/agents",
        "/api/v2/roles",
        "/api/v2/groups",
        "/api/v2/sla_policies",
        "/api/v2/account",
    ] {
        let r = t.get_as(path, &plain).await;
        assert_eq!(r.status(), 403, "{path}");
        assert_eq!(r.text().await.unwrap(), ACCESS_DENIED, "{path}");
    }
    assert_eq!(t.get_as("/api/v2/agents/me", &plain).await.status(), 200);
    assert_eq!(
        t.get_as("/api/v2/ticket_fields", &plain).await.status(),
        200
    );
    assert_eq!(t.get("/api/v2/roles").await.status(), 200);
}

/// Suspension refuses the key outright (401); demotion keeps the agent but takes away the admin
/// endpoints (403). Each takes effect at once, and its undo restores access.
#[tokio::test]
async fn suspension_and_demotion_take_effect_at_once_and_their_undo_restores_access() {
    let t = spawn_emulator().await;
    let id = t.emu.agent(well_known::INTEGRATION_ADMIN).id;
    for (change, undo, path, refused) in [
        ("suspend", "restore", "/api/v2/agents/me", 401),
        ("demote", "promote", "/api/v2/roles", 403),
    ] {
        t.agent_action(id, change).await;
        assert_eq!(t.get(path).await.status(), refused, "{change}");
        if change == "demote" {
            assert_eq!(t.get("/api/v2/agents/me").await.status(), 200);
        }
        t.agent_action(id, undo).await;
        assert_eq!(t.get(path).await.status(), 200, "{undo}");
    }
}

#[tokio::test]
async fn a_reset_key_replaces_the_old_one() {
    let t = spawn_emulator().await;
    let agent = t.emu.agent(well_known::INTEGRATION_ADMIN);
    let v = t
        .control_json(
            Method::POST,
            &format!("/_emulator/agents/{}/reset-key", agent.id),
            json!({}),
        )
        .await;
    let new_key = v["api_key"].as_str().unwrap().to_string();
    assert_ne!(new_key, agent.api_key);
    assert_eq!(
        t.get_as("/api/v2/agents/me", &agent.api_key).await.status(),
        401
    );
    assert_eq!(t.get_as("/api/v2/agents/me", &new_key).await.status(), 200);
}

#[tokio::test]
async fn ten_failed_password_logins_lock_the_legacy_login_but_never_the_key() {
    let t = spawn_emulator().await;
    let agent = t.emu.agent(well_known::PLAIN_AGENT);
    let login = |pw: &str| {
        let header = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("{}:{pw}", agent.email)
            )
        );
        t.client
            .get(format!("{}/api/v2/agents/me", t.base))
            .header("Authorization", header)
            .send()
    };
    for _ in 0..9 {
        assert_eq!(login("wrong").await.unwrap().status(), 401);
    }
    let r = login("wrong").await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"code":"password_lockout","message":"Maximum failed login attempts 10, reached."}"#
    );
    assert_eq!(
        t.get_as("/api/v2/agents/me", &agent.api_key).await.status(),
        200
    );
}

#[tokio::test]
async fn group_scoped_agents_see_only_their_groups_tickets() {
    let t = spawn_emulator().await;
    let group_admin = t.emu.agent(well_known::GROUP_ADMIN);
    let list = t.list_as(ALL_TICKETS, &group_admin.api_key).await;
    assert!(!list.is_empty());
    for tk in &list {
        let in_group = tk["group_id"]
            .as_i64()
            .is_some_and(|g| group_admin.group_ids.contains(&g));
        assert!(
            in_group || tk["responder_id"] == group_admin.id,
            "ticket {} is outside the scope",
            tk["id"]
        );
    }
    let hidden = t
        .list(ALL_TICKETS)
        .await
        .into_iter()
        .find(|tk| {
            !tk["group_id"]
                .as_i64()
                .is_some_and(|g| group_admin.group_ids.contains(&g))
                && tk["responder_id"] != group_admin.id
        })
        .expect("a ticket outside the groups");
    let r = t
        .get_as(
            &format!("/api/v2/tickets/{}", hidden["id"]),
            &group_admin.api_key,
        )
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn restricted_agents_see_only_tickets_assigned_to_them() {
    let t = spawn_emulator().await;
    let restricted = t
        .emu
        .agents()
        .into_iter()
        .find(|a| a.ticket_scope == 3)
        .unwrap();
    let list = t.list_as(ALL_TICKETS, &restricted.api_key).await;
    assert!(!list.is_empty());
    assert!(list.iter().all(|tk| tk["responder_id"] == restricted.id));
}

#[tokio::test]
async fn a_narrowed_scope_takes_effect_at_once() {
    let t = spawn_emulator().await;
    let admin = t.emu.agent(well_known::INTEGRATION_ADMIN);
    let billing = t.emu.agent(well_known::GROUP_ADMIN).group_ids[0];
    t.control_json(
        Method::POST,
        &format!("/_emulator/agents/{}/scope", admin.id),
        json!({"ticket_scope": 2, "group_ids": [billing]}),
    )
    .await;
    let list = t.list(ALL_TICKETS).await;
    assert!(
        list.iter()
            .all(|tk| tk["group_id"] == billing || tk["responder_id"] == admin.id)
    );
    let me = json(t.get("/api/v2/agents/me").await).await;
    assert_eq!(me["ticket_scope"], 2);
    assert_eq!(me["group_ids"], json!([billing]));
}
