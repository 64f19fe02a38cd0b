//! Check L1: run the connect story at TRACE level with every log line captured (our code and every
//! dependency), and find no API key, no `Basic` credentials and no master key in it.

use crate::helpers;

use base64::Engine;
use freshdesk_emulator::well_known;

#[tokio::test]
async fn no_secret_reaches_the_logs_even_at_trace_level() {
    let capture = helpers::telemetry::capture_logs().await;

    let app = helpers::spawn_app().await;
    let b = app.login("admin@acme.test").await;
    let key = app.admin_key();
    // A failing check (401 from Freshdesk), a 500 from Freshdesk, then a successful connect.
    app.connect(&b, "acme", "WrongKey1234567890ab").await;
    let fault = serde_json::json!({"path_prefix": "/api/v2/agents/me", "kind": "status", "status": 500, "count": 10});
    app.control.add_fault(fault).await.unwrap();
    app.connect(&b, "acme", &key).await;
    // An upstream that echoes the request's Authorization header in its error message.
    let echo = serde_json::json!({"path_prefix": "/api/v2/roles", "kind": "echo_authorization", "count": 2});
    app.control.add_fault(echo).await.unwrap();
    app.connect(&b, "acme", &key).await;
    app.control.clear_faults().await.unwrap();
    let r = app.connect(&b, "acme", &key).await;
    let path = helpers::TestApp::location(&r)
        .split('?')
        .next()
        .unwrap()
        .to_string();
    app.post(
        &b,
        &format!("{path}/reauthorize"),
        &[("api_key", app.key(well_known::PLAIN_AGENT).as_str())],
    )
    .await;
    app.get(&b, &path).await;

    // A database error on an API route: the user gets generic JSON with the request id, and the
    // log has the sqlx cause under the same request id.
    sqlx::query("DROP TABLE hook_events")
        .execute(&app.store.pool)
        .await
        .unwrap();
    let api = format!(
        "/api/v1/integrations/{}/sync",
        path.rsplit('/').next().unwrap()
    );
    let r = app.api_get(&b, &api).await;
    assert_eq!(r.status(), reqwest::StatusCode::INTERNAL_SERVER_ERROR);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["request_id"], request_id.as_str());
    let shown = body["error"].as_str().unwrap();
    assert!(
        !shown.contains("hook_events") && !shown.contains("table"),
        "{shown}"
    );

    let logs = capture.text();
    let failure = logs
        .lines()
        .find(|l| l.contains("request failed") && l.contains(&request_id))
        .unwrap_or_else(|| panic!("the failure is logged with request id {request_id}"));
    assert!(
        failure.contains("hook_events"),
        "the sqlx cause is logged: {failure}"
    );
    assert!(
        logs.len() > 1_000,
        "the capture works ({} bytes)",
        logs.len()
    );
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{key}:X"));
    let master = app.master_keys.split(':').nth(1).unwrap().to_string();
    for (what, secret) in [
        ("the API key", key.as_str()),
        ("Basic credentials", basic.as_str()),
        ("the master key", master.as_str()),
        ("the plain agent's key", &app.key(well_known::PLAIN_AGENT)),
    ] {
        assert!(!logs.contains(secret), "{what} appears in the logs");
    }
    assert!(
        !logs.contains("Request headers"),
        "Freshdesk's own message text appears in the logs"
    );
    assert!(
        logs.contains("request_id="),
        "log lines of a request carry its request id"
    );
}
