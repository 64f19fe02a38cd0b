//! How requests reach a route: repeated slashes, trailing slashes and `.json` suffixes as
//! Freshdesk's router accepts them, and CORS (preflight and exposed headers) on the API only.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn repeated_slashes_and_a_json_suffix_reach_the_same_route() {
    let t = spawn_emulator().await;
    let plain = t.list("/api/v2/tickets?per_page=5").await;
    let id = plain[0]["id"].as_i64().unwrap();
    for path in [
        "/api/v2//tickets?per_page=5",
        "//api/v2/tickets/?per_page=5",
        "/api/v2/tickets.json?per_page=5",
    ] {
        assert_eq!(t.list(path).await, plain, "{path}");
    }
    let one = json(t.get(&format!("/api/v2/tickets/{id}")).await).await;
    for path in [
        format!("/api/v2/tickets//{id}"),
        format!("/api/v2/tickets/{id}.json"),
    ] {
        let r = t.get(&path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(json(r).await, one, "{path}");
    }
    let body = json!({"subject": "Slashes", "email": "s@example.org"});
    let created = t.post("/api/v2//tickets.json", body).await;
    assert_eq!(created.status(), 201);
    let log = t
        .control_json(Method::GET, "/_emulator/requests", json!({}))
        .await;
    let paths: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        paths
            .iter()
            .all(|p| !p.contains("//") && !p.ends_with(".json")),
        "{paths:?}"
    );
}

#[tokio::test]
async fn other_suffixes_are_still_unknown_routes() {
    let t = spawn_emulator().await;
    for path in [
        "/api/v2/tickets.xml",
        "/api/v2/.json",
        "/api/v2/tickets.jsonx",
    ] {
        let r = t.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
    }
}

const ORIGIN: &str = "https://app.example.org";

/// Sends `r` as a script on another origin would, and checks that any origin may read the reply.
async fn from_origin(r: reqwest::RequestBuilder) -> reqwest::Response {
    let r = r.header("Origin", ORIGIN).send().await.expect("request");
    let allowed = header(&r, "access-control-allow-origin");
    assert_eq!(allowed.as_deref(), Some("*"), "{}", r.url());
    r
}

#[tokio::test]
async fn a_cors_preflight_is_answered_before_auth_and_costs_nothing() {
    let t = spawn_emulator().await;
    let preflight = t
        .client
        .request(Method::OPTIONS, format!("{}/api/v2/tickets/1", t.base))
        .header("Access-Control-Request-Method", "PUT")
        .header(
            "Access-Control-Request-Headers",
            "authorization, content-type",
        );
    let r = from_origin(preflight).await;
    assert_eq!(r.status(), 200);
    let methods = header(&r, "access-control-allow-methods").unwrap();
    assert!(
        ["GET", "POST", "PUT", "DELETE"]
            .iter()
            .all(|m| methods.contains(m)),
        "{methods}"
    );
    let mirrored = header(&r, "access-control-allow-headers");
    assert_eq!(mirrored.as_deref(), Some("authorization, content-type"));
    let log = t
        .control_json(Method::GET, "/_emulator/requests", json!({}))
        .await;
    assert_eq!(log, json!([]), "a preflight never reaches the API");
}

#[tokio::test]
async fn api_replies_expose_the_rate_headers_to_scripts_and_the_control_api_does_not() {
    let t = spawn_emulator().await;
    let r = from_origin(t.request(Method::GET, "/api/v2/agents/me", &t.admin_key())).await;
    assert_eq!(r.status(), 200);
    let exposed = header(&r, "access-control-expose-headers")
        .unwrap()
        .to_lowercase();
    let rate =
        "x-ratelimit-total x-ratelimit-remaining x-ratelimit-used-currentrequest x-request-id";
    assert!(rate.split(' ').all(|h| exposed.contains(h)), "{exposed}");
    let control = t
        .control(Method::GET, "/_emulator/requests")
        .header("Origin", ORIGIN);
    let control = control.send().await.unwrap();
    assert!(header(&control, "access-control-allow-origin").is_none());
}
