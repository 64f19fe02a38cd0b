//! Check L1: run the connect story at TRACE level with every log line captured (our code and every
//! dependency), and find no API key, no `Basic` credentials and no master key in it.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine;
use freshdesk_emulator::well_known;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_reaches_the_logs_even_at_trace_level() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let app = helpers::spawn_app().await;
    let b = app.login("admin@acme.test").await;
    let key = app.admin_key();
    // A failing check (401 from Freshdesk), a 500 from Freshdesk, then a successful connect.
    app.connect(&b, "acme", "WrongKey1234567890ab").await;
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .no_proxy()
        .build()
        .unwrap();
    let fault = serde_json::json!({"path_prefix": "/api/v2/agents/me", "kind": "status", "status": 500, "count": 10});
    http.post(format!("{}/_emulator/faults", app.emu.base_url))
        .header("X-Emulator-Control", &app.emu.control_token)
        .json(&fault)
        .send()
        .await
        .unwrap();
    app.connect(&b, "acme", &key).await;
    // An upstream that echoes the request's Authorization header in its error message.
    let echo = serde_json::json!({"path_prefix": "/api/v2/roles", "kind": "echo_authorization", "count": 2});
    http.post(format!("{}/_emulator/faults", app.emu.base_url))
        .header("X-Emulator-Control", &app.emu.control_token)
        .json(&echo)
        .send()
        .await
        .unwrap();
    app.connect(&b, "acme", &key).await;
    http.delete(format!("{}/_emulator/faults", app.emu.base_url))
        .header("X-Emulator-Control", &app.emu.control_token)
        .send()
        .await
        .unwrap();
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
    let r = app.api(&b, reqwest::Method::GET, &api, None).await;
    assert_eq!(r.status(), reqwest::StatusCode::INTERNAL_SERVER_ERROR);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["request_id"], request_id.as_str());
    let shown = body["error"].as_str().unwrap();
    assert!(
        !shown.contains("hook_events") && !shown.contains("table"),
        "{shown}"
    );

    let logs = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
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
