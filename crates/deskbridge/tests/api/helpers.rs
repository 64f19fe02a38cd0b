use std::path::PathBuf;
use std::sync::Arc;

use deskbridge::accounts::{self, Role};
use deskbridge::app::App;
use deskbridge::config::Config;
use deskbridge::store::Store;
use deskbridge::vault::MasterKeys;
use freshdesk_emulator::{EmulatorConfig, EmulatorControl, RunningEmulator, TlsConfig, well_known};
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use serde_json::Value;

/// Test logging: one process-wide subscriber. Quiet (a sink) unless `TEST_LOG` names a filter
/// (`TEST_LOG=debug`), which prints to the test output; a test that reads the logs takes
/// [`capture_logs`], which turns everything up to TRACE into a buffer until it is dropped.
pub mod telemetry {
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, OnceLock};

    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Registry, reload};

    struct Logs {
        buffer: Arc<Mutex<Vec<u8>>>,
        capturing: Arc<AtomicBool>,
        filter: reload::Handle<EnvFilter, Registry>,
        one_at_a_time: tokio::sync::Mutex<()>,
    }

    #[derive(Clone)]
    struct Sink {
        buffer: Arc<Mutex<Vec<u8>>>,
        capturing: Arc<AtomicBool>,
        echo: bool,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.capturing.load(Ordering::SeqCst) {
                self.buffer.lock().unwrap().extend_from_slice(buf);
            }
            if self.echo {
                std::io::stdout().write_all(buf)?;
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn quiet() -> EnvFilter {
        EnvFilter::new(std::env::var("TEST_LOG").unwrap_or_else(|_| "off".into()))
    }

    fn logs() -> &'static Logs {
        static LOGS: OnceLock<Logs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let sink = Sink {
                buffer: Default::default(),
                capturing: Default::default(),
                echo: std::env::var_os("TEST_LOG").is_some(),
            };
            let (filter, handle) = reload::Layer::new(quiet());
            let writer = sink.clone();
            tracing_subscriber::registry()
                .with(filter)
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_ansi(false)
                        .with_writer(move || writer.clone()),
                )
                .init();
            Logs {
                buffer: sink.buffer,
                capturing: sink.capturing,
                filter: handle,
                one_at_a_time: tokio::sync::Mutex::new(()),
            }
        })
    }

    /// Installs the subscriber (once per process).
    pub fn init() {
        logs();
    }

    /// Everything logged, at every level, from now until the guard is dropped.
    pub struct Capture {
        _turn: tokio::sync::MutexGuard<'static, ()>,
    }

    pub async fn capture_logs() -> Capture {
        let logs = logs();
        let turn = logs.one_at_a_time.lock().await;
        logs.buffer.lock().unwrap().clear();
        logs.filter.reload(EnvFilter::new("trace")).unwrap();
        logs.capturing.store(true, Ordering::SeqCst);
        Capture { _turn: turn }
    }

    impl Capture {
        pub fn text(&self) -> String {
            String::from_utf8_lossy(&logs().buffer.lock().unwrap()).into_owned()
        }
    }

    impl Drop for Capture {
        fn drop(&mut self) {
            let logs = logs();
            logs.capturing.store(false, Ordering::SeqCst);
            let _ = logs.filter.reload(quiet());
            logs.buffer.lock().unwrap().clear();
        }
    }
}

pub const PASSWORD: &str = "a long test passphrase";

pub struct TestApp {
    pub base: String,
    pub store: Store,
    pub emu: RunningEmulator,
    /// The emulator's control API, typed.
    pub control: EmulatorControl,
    pub state: Arc<deskbridge::app::AppState>,
    pub dir: PathBuf,
    pub db_url: String,
    pub master_keys: String,
    pub http: reqwest::Client,
}

/// A signed-in browser: its cookie and CSRF token.
#[derive(Clone, Debug)]
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

async fn database_url(dir: &std::path::Path) -> String {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(base) if !base.is_empty() => {
            use sqlx::Connection;
            let name = format!("deskbridge_test_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&base)
                .await
                .expect("TEST_DATABASE_URL reachable");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let (prefix, _) = base
                .rsplit_once('/')
                .expect("a database name in TEST_DATABASE_URL");
            format!("{prefix}/{name}")
        }
        _ => format!("sqlite://{}", dir.join("test.db").display()),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_full(300, freshdesk_emulator::Plan::Enterprise, tweak).await
}

/// With the emulator's size and plan chosen (sync tests use an unthrottled one).
pub async fn spawn_app_full(
    tickets: usize,
    plan: freshdesk_emulator::Plan,
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    let emulator = |e: &mut EmulatorConfig| {
        e.tickets = tickets;
        e.plan = plan;
    };
    spawn_app_emulating(emulator, tweak).await
}

/// With the emulator configured by `emulator` (its certificates stay the test's own).
pub async fn spawn_app_emulating(
    emulator: impl FnOnce(&mut EmulatorConfig),
    tweak: impl FnOnce(&mut Config),
) -> TestApp {
    telemetry::init();
    let dir =
        std::env::temp_dir().join(format!("deskbridge-test-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut emulated = EmulatorConfig::default();
    emulator(&mut emulated);
    emulated.tls = Some(TlsConfig {
        cert_dir: Some(dir.join("certs")),
    });
    let emu = freshdesk_emulator::spawn(emulated).await.expect("emulator");
    let db_url = database_url(&dir).await;
    let master_keys = MasterKeys::generate(1);
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.database.url = SecretString::from(db_url.clone());
    config.vault.master_keys = Some(SecretString::from(master_keys.clone()));
    config.freshdesk.emulator_base_url = Some(emu.base_url.clone());
    config.freshdesk.emulator_ca_path = emu.ca_path.clone();
    // Scheduled syncs would race the tests' own; tests that want the scheduler turn it on.
    config.sync.enabled = false;
    config.sync.tick_ms = 100;
    tweak(&mut config);
    let app = App::build(config).await.expect("app builds");
    let port = app.port();
    let state = app.state.clone();
    let store = state.store.clone();
    tokio::spawn(app.run(std::future::pending()));
    let acme = accounts::create_org(&store, "Acme").await.unwrap();
    accounts::create_user(&store, acme, "admin@acme.test", PASSWORD, Role::Admin)
        .await
        .unwrap();
    accounts::create_user(&store, acme, "member@acme.test", PASSWORD, Role::Member)
        .await
        .unwrap();
    let other = accounts::create_org(&store, "Other Corp").await.unwrap();
    accounts::create_user(&store, other, "admin@other.test", PASSWORD, Role::Admin)
        .await
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        store,
        control: emu.control(),
        emu,
        state,
        dir,
        db_url,
        master_keys,
        http,
    }
}

impl TestApp {
    pub fn key(&self, who: usize) -> String {
        self.emu.agent(who).api_key
    }

    pub fn admin_key(&self) -> String {
        self.key(well_known::INTEGRATION_ADMIN)
    }

    pub async fn login_raw(&self, email: &str, password: &str) -> Response {
        self.http
            .post(format!("{}/login", self.base))
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, email: &str) -> Browser {
        let r = self.login_raw(email, PASSWORD).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in of {email}");
        let cookie = set_cookie(&r).split(';').next().unwrap().to_string();
        let page = self
            .http
            .get(format!("{}/dashboard", self.base))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        Browser { cookie, csrf }
    }

    pub async fn get(&self, b: &Browser, path: &str) -> Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header("cookie", &b.cookie)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, b: &Browser, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut form: Vec<(&str, &str)> = vec![("csrf", &b.csrf)];
        form.extend_from_slice(fields);
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", &b.cookie)
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// A GET with no session at all.
    pub async fn anonymous(&self, path: &str) -> Response {
        self.http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// Asserts the status a GET of `path` answers this browser with.
    pub async fn expect_status(&self, b: &Browser, path: &str, want: StatusCode) {
        assert_eq!(self.get(b, path).await.status(), want, "GET {path}");
    }

    /// A page's HTML.
    pub async fn page(&self, b: &Browser, path: &str) -> String {
        self.get(b, path).await.text().await.unwrap()
    }

    /// A form posted, and the HTML it answers with.
    pub async fn post_page(&self, b: &Browser, path: &str, fields: &[(&str, &str)]) -> String {
        self.post(b, path, fields).await.text().await.unwrap()
    }

    /// Disconnects an integration from its page, confirmed.
    pub async fn disconnect(&self, b: &Browser, id: i64) -> Response {
        self.post(
            b,
            &format!("/settings/integrations/{id}/disconnect"),
            &[("confirm", "yes")],
        )
        .await
    }

    pub async fn connect(&self, b: &Browser, domain: &str, key: &str) -> Response {
        self.post(
            b,
            "/settings/integrations/freshdesk/connect",
            &[("domain", domain), ("api_key", key)],
        )
        .await
    }

    pub async fn api(
        &self,
        b: &Browser,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &b.cookie)
            .header("x-csrf-token", &b.csrf);
        if let Some(v) = body {
            r = r.json(&v);
        }
        r.send().await.unwrap()
    }

    pub async fn api_get(&self, b: &Browser, path: &str) -> Response {
        self.api(b, reqwest::Method::GET, path, None).await
    }

    /// A GET of the API, as JSON.
    pub async fn api_json(&self, b: &Browser, path: &str) -> Value {
        self.api_get(b, path).await.json().await.unwrap()
    }

    pub async fn api_post(&self, b: &Browser, path: &str, body: Value) -> Response {
        self.api(b, reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn api_delete(&self, b: &Browser, path: &str) -> Response {
        self.api(b, reqwest::Method::DELETE, path, None).await
    }

    /// Acme's admin signs in and connects Acme's help desk: the browser and the integration.
    pub async fn connect_acme(&self) -> (Browser, deskbridge::sync::Target) {
        let b = self.login("admin@acme.test").await;
        let r = self.connect(&b, "acme", &self.admin_key()).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "connect");
        (b, self.the_integration().await)
    }

    /// The one integration the test connected (panics unless there is exactly one).
    pub async fn the_integration(&self) -> deskbridge::sync::Target {
        let (id, org): (i64, i64) = sqlx::query_as("SELECT id, org_id FROM integrations")
            .fetch_one(&self.store.pool)
            .await
            .unwrap();
        deskbridge::sync::Target {
            org_id: org,
            integration_id: id,
        }
    }

    /// A Freshdesk client for an integration, from the server's own factory.
    pub async fn client(&self, t: deskbridge::sync::Target) -> freshdesk::Client {
        self.state
            .clients
            .client_for(t)
            .await
            .unwrap_or_else(|e| panic!("{}", deskbridge::error_chain(&e)))
    }

    /// The `deskbridge` binary with this app's database, master keys and emulator, as an
    /// operator would run it beside the server.
    pub fn cli(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_deskbridge"));
        c.args(args)
            .env("DESKBRIDGE_DATABASE__URL", &self.db_url)
            .env("DESKBRIDGE_VAULT__MASTER_KEYS", &self.master_keys)
            .env(
                "DESKBRIDGE_FRESHDESK__EMULATOR_BASE_URL",
                &self.emu.base_url,
            )
            .env("RUST_LOG", "warn");
        if let Some(ca) = &self.emu.ca_path {
            c.env("DESKBRIDGE_FRESHDESK__EMULATOR_CA_PATH", ca);
        }
        c
    }

    /// A long-running `deskbridge` process (`serve`, `worker`) on this test's database and
    /// emulator, with `env` on top and its output discarded.
    pub fn process(&self, args: &[&str], env: &[(&str, String)]) -> std::process::Child {
        let mut c = self.cli(args);
        for (k, v) in env {
            c.env(k, v);
        }
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    }

    /// `deskbridge sync` of one integration.
    pub fn sync_command(&self, t: deskbridge::sync::Target) -> std::process::Command {
        let (org, id) = (t.org_id.to_string(), t.integration_id.to_string());
        self.cli(&["sync", "--org", &org, "--integration", &id])
    }

    /// How many rows a table holds.
    /// Waits (up to a minute) for the first sync run to end; its trigger and status.
    pub async fn first_run_ended(&self) -> (String, String) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let done: Option<(String, String)> = sqlx::query_as(
                "SELECT trigger, status FROM sync_runs WHERE status <> 'running' ORDER BY id LIMIT 1",
            )
            .fetch_optional(&self.store.pool)
            .await
            .unwrap();
            if let Some(run) = done {
                return run;
            }
            assert!(std::time::Instant::now() < deadline, "a sync run ended");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub async fn count(&self, table: &str) -> i64 {
        let (n,): (i64,) =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&self.store.pool)
                .await
                .unwrap();
        n
    }

    pub async fn integration_count(&self) -> i64 {
        self.count("integrations").await
    }

    /// A call to the emulator's control API; panics unless it succeeds.
    pub async fn emulator(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        self.control
            .call(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("{}", deskbridge::error_chain(&e)))
    }

    /// The emulator's request log: (seq, agent id, path) of every call so far.
    pub async fn requests(&self) -> Vec<(u64, Option<i64>, String)> {
        let log = self.control.requests().await.expect("the request log");
        log.into_iter()
            .map(|e| (e.seq, e.agent_id, e.path))
            .collect()
    }

    /// A marker in the emulator's request log: the sequence number of a call made now (with a
    /// key that the tests never connect). A request that left deskbridge before this moment has
    /// a smaller number, even if the emulator logs it later.
    pub async fn request_marker(&self) -> u64 {
        let key = self.key(freshdesk_emulator::well_known::PLAIN_AGENT);
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .no_proxy()
            .build()
            .unwrap();
        http.get(format!("{}/api/v2/agents/me", self.emu.base_url))
            .basic_auth(&key, Some("X"))
            .send()
            .await
            .unwrap();
        let plain = self
            .emu
            .agent(freshdesk_emulator::well_known::PLAIN_AGENT)
            .id;
        self.requests()
            .await
            .iter()
            .filter(|(_, agent, path)| *agent == Some(plain) && path.ends_with("/agents/me"))
            .map(|(seq, _, _)| *seq)
            .max()
            .expect("the marker call is logged")
    }

    pub fn location(r: &Response) -> String {
        r.headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

/// What `deskbridge vault rewrap` runs: the integrations' keys, then the webhook secrets.
pub async fn rewrap(
    store: &deskbridge::store::Store,
    vault: &deskbridge::vault::Vault,
    progress: impl FnMut(usize, usize),
) -> Result<deskbridge::vault::RewrapReport, deskbridge::vault::VaultError> {
    deskbridge::connections::rewrap::rewrap_all(store, vault, progress).await
}

/// A value a page shows once (a new token or secret): the text of the element with that id.
/// Sends a request whose answer must be JSON, and reads it.
pub async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// A customer's ticket "Zanzibar transfer never arrived" whose HTML description is `html` (the
/// text says "My transfer to Zanzibar never arrived"), with one reply "We are looking into it".
pub async fn zanzibar_ticket(app: &TestApp, html: &str) -> i64 {
    let created = app
        .control
        .create_ticket(serde_json::json!({
            "subject": "Zanzibar transfer never arrived",
            "description": "My transfer to Zanzibar never arrived",
            "description_html": html,
        }))
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();
    let reply = serde_json::json!({"body": "We are looking into it"});
    app.control.add_conversation(id, reply).await.unwrap();
    id
}

/// The words of the first synced ticket that has a category, as a new ticket's subject and
/// description: a model trained on the history is sure of them.
pub async fn categorised_words(app: &TestApp) -> Value {
    let (raw,): (String,) = sqlx::query_as(
        "SELECT raw FROM fd_tickets WHERE raw LIKE '%\"cf_category\":\"%' ORDER BY id LIMIT 1",
    )
    .fetch_one(&app.store.pool)
    .await
    .unwrap();
    let known: Value = serde_json::from_str(&raw).unwrap();
    serde_json::json!({"subject": known["subject"], "description": known["description_text"]})
}

/// A `records:read` API token made in Settings by `b`.
pub async fn records_token(app: &TestApp, b: &Browser) -> String {
    let page = app
        .post_page(
            b,
            "/settings/api-tokens",
            &[("name", "consumer"), ("scopes", "records:read")],
        )
        .await;
    shown_once(&page, "new-token")
}

pub fn shown_once(page: &str, id: &str) -> String {
    page.split(&format!("id=\"{id}\">"))
        .nth(1)
        .unwrap_or_else(|| panic!("the page shows no #{id}"))
        .split('<')
        .next()
        .unwrap()
        .to_string()
}

/// Asserts the local copy matches an emulator export record by record (the first mismatches
/// shown).
pub async fn assert_copy_matches(
    app: &TestApp,
    t: deskbridge::sync::Target,
    truth: &Value,
) -> deskbridge::sync::verify::Report {
    let report = deskbridge::sync::verify::against_export(&app.store, t, truth)
        .await
        .unwrap();
    assert!(
        report.ok(),
        "{:?}",
        &report.mismatches[..report.mismatches.len().min(5)]
    );
    report
}

/// The `Set-Cookie` header of a response, whole.
pub fn set_cookie(r: &Response) -> String {
    r.headers()
        .get("set-cookie")
        .expect("a Set-Cookie header")
        .to_str()
        .unwrap()
        .to_string()
}

/// One request a [`webhook_receiver`] took.
#[derive(Clone, Debug)]
pub struct Hook {
    pub signature: String,
    pub event_id: String,
    pub body: String,
    /// Whether the receiver answered 500 to it.
    pub failed: bool,
}

pub type Hooks = Arc<parking_lot::Mutex<Vec<Hook>>>;

/// A loopback webhook receiver that answers 500 to the first `fail_first` requests, then 200.
pub async fn webhook_receiver(fail_first: usize) -> (String, Hooks) {
    let seen: Hooks = Arc::default();
    let keep = seen.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
        let keep = keep.clone();
        async move {
            let header = |name: &str| {
                let v = headers.get(name).and_then(|v| v.to_str().ok());
                v.unwrap_or_default().to_string()
            };
            let mut seen = keep.lock();
            let failed = seen.len() < fail_first;
            seen.push(Hook {
                signature: header("x-deskbridge-signature"),
                event_id: header("x-deskbridge-event-id"),
                body,
                failed,
            });
            if failed {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// Checks a webhook's `X-Deskbridge-Signature` (`t=…,v1=…`) against its body and the secret.
pub fn verify_signature(secret: &str, header: &str, body: &str) {
    let (t, v1) = header
        .split_once(',')
        .map(|(t, v)| (t.trim_start_matches("t="), v.trim_start_matches("v1=")))
        .expect("t=…,v1=…");
    let want = deskbridge::webhook::sign(secret, t.parse().unwrap(), body);
    assert_eq!(v1, want, "the webhook signature verifies");
}
