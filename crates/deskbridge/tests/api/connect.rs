use crate::helpers;
use freshdesk_emulator::well_known;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn connecting_the_integration_admin_shows_connected_and_the_connector_under_active() {
    let app = spawn_app().await;
    let b = app.login("admin@acme.test").await;
    let before = app.page(&b, "/settings/integrations").await;
    assert!(before.contains("No active integrations."));
    let panel = app
        .page(&b, "/settings/integrations/freshdesk/connect")
        .await;
    assert!(
        panel.contains("Freshdesk domain")
            && panel.contains("API key")
            && panel.contains(">Connect<")
    );
    assert!(panel.contains("Disconnected"));

    let r = app.connect(&b, "acme", &app.admin_key()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = app.page(&b, &TestApp::location(&r)).await;
    assert!(page.contains(">Connected<"), "{page}");
    assert!(page.contains("integration@acme-support.example"));
    assert!(page.contains("Administrator") && page.contains("Global"));
    assert!(page.contains("Enterprise · 700 calls a minute"));
    assert!(page.contains("Read knowledge base"));
    let list = app.page(&b, "/settings/integrations").await;
    assert!(list.contains("data-testid=\"active-connector\""));
    assert!(list.contains("acme.freshdesk.com"));
    // The dashboard tells what happened in words, not action codes.
    let dashboard = app.page(&b, "/dashboard").await;
    assert!(
        dashboard.contains("admin@acme.test connected Freshdesk"),
        "{dashboard}"
    );
    assert!(dashboard.contains("admin@acme.test signed in"));
    assert!(!dashboard.contains("sign_in"));
}

async fn refused(app: &TestApp, domain: &str, key: &str) -> String {
    let b = app.login("admin@acme.test").await;
    let r = app.connect(&b, domain, key).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{domain}");
    let page = r.text().await.unwrap();
    assert!(
        !page.contains(key) || key.is_empty(),
        "the key is never echoed back"
    );
    assert_eq!(app.integration_count().await, 0, "nothing is saved");
    page
}

#[tokio::test]
async fn every_failure_of_the_connect_flow_says_what_is_wrong_and_saves_nothing() {
    let app = spawn_app().await;
    let page = refused(&app, "acme", "WrongKey1234567890ab").await;
    assert!(
        page.contains("This API key was rejected. It may have been reset, or its user deleted"),
        "{page}"
    );
    let page = refused(&app, "acme", &app.key(well_known::PLAIN_AGENT)).await;
    assert!(page.contains("This user is not an admin"), "{page}");
    let page = refused(&app, "nope", &app.admin_key()).await;
    assert!(
        page.contains("No Freshdesk account at nope.freshdesk.com"),
        "{page}"
    );
    let page = refused(&app, "acme.freshdesk.com.evil.com", &app.admin_key()).await;
    assert!(page.contains("is not a Freshdesk domain"), "{page}");
    let page = refused(&app, "127.0.0.1", &app.admin_key()).await;
    assert!(page.contains("IP addresses cannot be used"), "{page}");
    let page = refused(&app, "acme", "has spaces in it").await;
    assert!(
        page.contains("does not look like a Freshdesk API key"),
        "{page}"
    );
    assert!(
        page.contains("value=\"acme\""),
        "the domain is kept for a retry"
    );
}

#[tokio::test]
async fn a_group_scoped_admin_connects_with_a_scope_warning() {
    let app = spawn_app().await;
    let b = app.login("admin@acme.test").await;
    let r = app
        .connect(
            &b,
            "https://acme.freshdesk.com/a/tickets",
            &app.key(well_known::GROUP_ADMIN),
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = app.page(&b, &TestApp::location(&r)).await;
    assert!(page.contains("Connected with warnings"));
    assert!(page.contains(
        "Scope is Groups (Billing, Escalations EU): tickets outside these groups are invisible."
    ));
}

#[tokio::test]
async fn a_member_can_view_but_not_connect() {
    let app = spawn_app().await;
    let m = app.login("member@acme.test").await;
    app.expect_status(&m, "/settings/integrations", StatusCode::OK)
        .await;
    assert_eq!(
        app.connect(&m, "acme", &app.admin_key()).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.integration_count().await, 0);
}

#[tokio::test]
async fn disconnect_needs_confirmation_and_deletes_the_encrypted_key() {
    let app = spawn_app().await;
    let b = app.login("admin@acme.test").await;
    let r = app.connect(&b, "acme", &app.admin_key()).await;
    let id = TestApp::location(&r)
        .split('/')
        .nth(3)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .parse::<i64>()
        .unwrap();
    let r = app
        .post(&b, &format!("/settings/integrations/{id}/disconnect"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.integration_count().await, 1);
    let r = app.disconnect(&b, id).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM integrations WHERE key_ciphertext <> ''")
            .fetch_one(&app.store.pool)
            .await
            .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn reauthorizing_with_another_agent_of_the_same_account_asks_for_confirmation() {
    let app = spawn_app().await;
    let b = app.login("admin@acme.test").await;
    let r = app.connect(&b, "acme", &app.admin_key()).await;
    let path = TestApp::location(&r).split('?').next().unwrap().to_string();
    let owner_key = app.key(well_known::OWNER);
    let r = app
        .post(
            &b,
            &format!("{path}/reauthorize"),
            &[("api_key", owner_key.as_str())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("This key belongs to Avery Owner"), "{page}");
    assert!(page.contains("Switch to the other agent"));
    let r = app
        .post(
            &b,
            &format!("{path}/reauthorize"),
            &[
                ("api_key", owner_key.as_str()),
                ("confirm_other_agent", "yes"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let page = app.page(&b, &path).await;
    assert!(page.contains("avery.owner@acme-support.example"));
    assert_eq!(app.integration_count().await, 1);
}

#[tokio::test]
async fn the_json_api_has_the_same_powers_as_the_pages() {
    let app = spawn_app().await;
    let b = app.login("admin@acme.test").await;
    let r = app
        .api_post(
            &b,
            "/api/v1/integrations",
            json!({"domain": "acme", "api_key": app.key(well_known::PLAIN_AGENT)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.json::<serde_json::Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("not an admin")
    );
    let r = app
        .api_post(
            &b,
            "/api/v1/integrations",
            json!({"domain": "acme", "api_key": app.admin_key()}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: serde_json::Value = r.json().await.unwrap();
    assert_eq!(created["status"], "connected");
    assert_eq!(created["report"]["agent"]["is_admin"], true);
    let id = created["id"].as_i64().unwrap();
    let list: serde_json::Value = app.api_json(&b, "/api/v1/integrations").await;
    assert_eq!(list["integrations"][0]["id"], id);
    assert_eq!(
        app.api_delete(&b, &format!("/api/v1/integrations/{id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.api_get(&b, &format!("/api/v1/integrations/{id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn another_organisation_cannot_see_or_touch_an_integration_even_by_guessing_ids() {
    let app = spawn_app().await;
    let a = app.login("admin@acme.test").await;
    let r = app.connect(&a, "acme", &app.admin_key()).await;
    let path = TestApp::location(&r).split('?').next().unwrap().to_string();
    let id = path.rsplit('/').next().unwrap().to_string();
    let other = app.login("admin@other.test").await;
    assert_eq!(app.get(&other, &path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.api_get(&other, &format!("/api/v1/integrations/{id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(&other, &format!("{path}/disconnect"), &[("confirm", "yes")])
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.api_delete(&other, &format!("/api/v1/integrations/{id}"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(
            &other,
            &format!("{path}/reauthorize"),
            &[("api_key", app.admin_key().as_str())]
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    let list: serde_json::Value = app.api_json(&other, "/api/v1/integrations").await;
    assert_eq!(list["integrations"], json!([]));
    assert_eq!(app.integration_count().await, 1);
    assert_eq!(app.get(&a, &path).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_api_token_created_in_settings_works_once_shown_and_stops_when_revoked() {
    let app = spawn_app().await;
    let b = app.login("admin@acme.test").await;
    let page = app
        .post_page(&b, "/settings/api-tokens", &[("name", "reporting")])
        .await;
    let token = helpers::shown_once(&page, "new-token");
    assert!(token.starts_with("dbt_"));
    let (stored,): (String,) = sqlx::query_as("SELECT token_hash FROM api_tokens")
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
    assert_ne!(stored, token, "only a hash is stored");
    assert!(
        !app.page(&b, "/settings/api-tokens").await.contains(&token),
        "shown once"
    );
    let call = |method: reqwest::Method, path: &str| {
        app.http
            .request(method, format!("{}{path}", app.base))
            .header("authorization", format!("Bearer {token}"))
    };
    let r = call(Method::POST, "/api/v1/integrations")
        .json(&json!({"domain": "acme", "api_key": app.admin_key()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let list = helpers::json_of(call(Method::GET, "/api/v1/integrations")).await;
    assert_eq!(list["integrations"].as_array().unwrap().len(), 1);
    let bad = app
        .http
        .get(format!("{}/api/v1/integrations", app.base))
        .header("authorization", "Bearer dbt_forged")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM api_tokens")
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
    app.post(&b, &format!("/settings/api-tokens/{id}/revoke"), &[])
        .await;
    assert_eq!(
        call(Method::GET, "/api/v1/integrations")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let m = app.login("member@acme.test").await;
    app.expect_status(&m, "/settings/api-tokens", StatusCode::FORBIDDEN)
        .await;
}

#[tokio::test]
async fn the_api_checks_without_saving_and_reauthorizes_with_confirmation() {
    let app = spawn_app().await;
    let b = app.login("admin@acme.test").await;
    let r = app
        .api_post(
            &b,
            "/api/v1/integrations/check",
            json!({"domain": "acme", "api_key": app.key(well_known::GROUP_ADMIN)}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let report: serde_json::Value = r.json().await.unwrap();
    assert_eq!(report["agent"]["ticket_scope"], "Groups");
    assert_eq!(app.integration_count().await, 0, "a check saves nothing");
    let r = app
        .api_post(
            &b,
            "/api/v1/integrations/check",
            json!({"domain": "acme", "api_key": "WrongKey1234567890ab"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let created: serde_json::Value = app
        .api_post(
            &b,
            "/api/v1/integrations",
            json!({"domain": "acme", "api_key": app.admin_key()}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();
    let path = format!("/api/v1/integrations/{id}/reauthorize");
    let r = app
        .api_post(&b, &path, json!({"api_key": app.key(well_known::OWNER)}))
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = app
        .api_post(
            &b,
            &path,
            json!({"api_key": "WrongKey1234567890ab", "confirm_other_agent": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let still: serde_json::Value = app
        .api_json(&b, &format!("/api/v1/integrations/{id}"))
        .await;
    assert_eq!(
        still["agent"]["email"], "integration@acme-support.example",
        "a failed re-authorize keeps the old key"
    );
    let r = app
        .api_post(
            &b,
            &path,
            json!({"api_key": app.key(well_known::OWNER), "confirm_other_agent": true}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["agent"]["email"],
        "avery.owner@acme-support.example"
    );
}
