//! The real-browser story, in headless Chromium over WebDriver: sign in, go Dashboard › Settings ›
//! Integrations, open Freshdesk, enter the domain and the integration admin's key, click Connect,
//! see Connected and the card under Active; then try the plain agent's key and a wrong key and see
//! the right messages. A screenshot lands in `target/browser/`. Without Debian's `chromium` and
//! `chromium-driver` the test says so and is skipped, except in CI (CI=true), where it must run.

use crate::helpers;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use freshdesk_emulator::well_known;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    http: reqwest::Client,
    base: String,
    session: String,
    child: Child,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

impl Driver {
    /// Opens the Freshdesk side panel, fills in the domain and key, and clicks Connect.
    async fn connect_freshdesk(&self, base: &str, domain: &str, key: &str) {
        self.go(&format!("{base}/settings/integrations/freshdesk/connect"))
            .await;
        self.type_into("#freshdesk-panel input[name=domain]", domain)
            .await;
        self.type_into("#freshdesk-panel input[name=api_key]", key)
            .await;
        self.click("#connect").await;
    }

    /// Connects Acme's help desk with the integration admin's key, sees it connected, and syncs a
    /// copy in the foreground.
    async fn connect_and_sync(&self, app: &helpers::TestApp) -> deskbridge::sync::Target {
        self.connect_freshdesk(&app.base, "acme", &app.admin_key())
            .await;
        self.wait_text("#status", "Connected").await;
        let t = app.the_integration().await;
        let client = app.client(t).await;
        deskbridge::sync::run(&app.store, &client, t, |_| {})
            .await
            .unwrap();
        t
    }

    /// The page's HTML as the browser holds it now.
    async fn source(&self) -> String {
        let v = self.cmd(reqwest::Method::GET, "/source", Value::Null).await;
        v.as_str().unwrap_or_default().to_string()
    }

    /// Signs in through the form, as a person would, and waits for the dashboard.
    async fn sign_in(&self, base: &str, email: &str) {
        self.go(&format!("{base}/login")).await;
        self.type_into("input[name=email]", email).await;
        self.type_into("input[name=password]", helpers::PASSWORD)
            .await;
        self.click("button[type=submit]").await;
        self.wait_text("main h1", "Dashboard").await;
    }

    async fn start() -> Option<Driver> {
        let (chromium, driver) = ("/usr/bin/chromium", "/usr/bin/chromedriver");
        if !std::path::Path::new(chromium).exists() || !std::path::Path::new(driver).exists() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "CI must run the browser test: install Debian's chromium and chromium-driver (.ci/run does)"
                );
            }
            eprintln!(
                "SKIPPED: the browser test needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not come up"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!(
            "deskbridge-chromium-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1280,900",
                     format!("--user-data-dir={}", profile.display())]
        }}}});
        let r = helpers::json_of(http.post(format!("{base}/session")).json(&caps)).await;
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {r}"))
            .to_string();
        Some(Driver {
            http,
            base,
            session,
            child,
        })
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method.clone(), url);
        if method == reqwest::Method::POST {
            req = req.json(&body);
        }
        let r = req.send().await.unwrap();
        let v: Value = r.json().await.unwrap();
        if v["value"].get("error").is_some() {
            panic!("WebDriver {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", json!({"url": url}))
            .await;
    }

    async fn find(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let url = format!("{}/session/{}/element", self.base, self.session);
            let by = json!({"using": "css selector", "value": css});
            let v = helpers::json_of(self.http.post(url).json(&by)).await;
            if let Some(id) = v["value"][ELEMENT].as_str() {
                return id.to_string();
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "no element {css}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An action on one element (`clear`, `value`, `click`).
    async fn element(&self, id: &str, action: &str, body: Value) -> Value {
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/{action}"),
            body,
        )
        .await
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.element(&id, "clear", json!({})).await;
        self.element(&id, "value", json!({"text": text})).await;
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.element(&id, "click", json!({})).await;
    }

    async fn text(&self, css: &str) -> String {
        // After a click the page may be replaced between finding an element and reading it:
        // a stale element is found again.
        let mut last = String::new();
        for _ in 0..50 {
            let id = self.find(css).await;
            let url = format!("{}/session/{}/element/{id}/text", self.base, self.session);
            let v: Value = self
                .http
                .get(url)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            // Chromium reports a replaced node as "stale element reference" or, mid-navigation,
            // as an inspector error; both mean: find it again.
            if v["value"].get("error").is_none() {
                return v["value"].as_str().unwrap_or_default().to_string();
            }
            last = v["value"].to_string();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("WebDriver text of {css}: {last}")
    }

    async fn wait_text(&self, css: &str, want: &str) -> String {
        let started = Instant::now();
        loop {
            let t = self.text(css).await;
            if t.contains(want) {
                return t;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{css} shows {t:?}, not {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        use base64::Engine;
        let v = self
            .cmd(reqwest::Method::GET, "/screenshot", Value::Null)
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

#[tokio::test]
async fn an_admin_connects_freshdesk_in_a_real_browser_and_sees_the_failure_messages() {
    let app = helpers::spawn_app().await;
    let Some(d) = Driver::start().await else {
        return;
    };

    d.sign_in(&app.base, "admin@acme.test").await;

    // First the failures: nothing is saved and the status stays Disconnected.
    for (key, message) in [
        (
            app.key(well_known::PLAIN_AGENT),
            "This user is not an admin",
        ),
        (
            "WrongKey1234567890ab".to_string(),
            "This API key was rejected",
        ),
    ] {
        d.connect_freshdesk(&app.base, "acme.freshdesk.com", &key)
            .await;
        d.wait_text("#connect-error", message).await;
        assert_eq!(d.text("#panel-status").await, "Disconnected");
    }
    d.screenshot("wrong-key.png").await;

    d.click("a[href='/settings/integrations']").await;
    d.wait_text("main h1", "Integrations").await;
    d.click("#open-freshdesk").await;
    d.wait_text("#freshdesk-panel h2", "Connect Freshdesk")
        .await;
    assert_eq!(d.text("#panel-status").await, "Disconnected");
    d.type_into("#freshdesk-panel input[name=domain]", "acme")
        .await;
    d.type_into("#freshdesk-panel input[name=api_key]", &app.admin_key())
        .await;
    d.click("#connect").await;
    d.wait_text("#status", "Connected").await;
    d.screenshot("connected.png").await;
    d.click("a[href='/settings/integrations']").await;
    let card = d.text("[data-testid=active-connector]").await;
    assert!(
        card.contains("Freshdesk")
            && card.contains("Connected")
            && card.contains("acme.freshdesk.com"),
        "{card}"
    );
    d.screenshot("integrations-active.png").await;

    d.cmd(reqwest::Method::DELETE, "", Value::Null).await;
}

async fn control(app: &helpers::TestApp, path: &str) {
    app.emulator(reqwest::Method::POST, path, Some(json!({})))
        .await;
}

#[tokio::test]
async fn a_broken_integration_is_seen_explained_and_repaired_in_a_real_browser() {
    // Checks every second, so a break shows within one (shortened) interval; an unthrottled
    // emulator keeps the sync in step 1 quick.
    let app = helpers::spawn_app_full(80, freshdesk_emulator::Plan::Unlimited, |c| {
        c.health.interval_secs = 1
    })
    .await;
    let Some(d) = Driver::start().await else {
        return;
    };
    d.sign_in(&app.base, "admin@acme.test").await;

    // 1. Connect, and sync a copy.
    d.connect_and_sync(&app).await;
    let count = || async { app.count("fd_tickets").await };
    let synced = count().await;
    assert!(synced > 0);

    // 2. The integration user is deleted in Freshdesk.
    let admin = app.emu.agent(well_known::INTEGRATION_ADMIN);
    control(&app, &format!("/_emulator/agents/{}/delete", admin.id)).await;

    // 3. Within one check interval the banner and the cause appear.
    let started = Instant::now();
    loop {
        d.go(&format!("{}/dashboard", app.base)).await;
        let html = d.source().await;
        if html.contains("attention-banner") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the banner appeared"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    d.wait_text("[data-testid=attention-banner]", "was deleted in Freshdesk")
        .await;
    d.screenshot("health-banner.png").await;
    d.click("[data-testid=attention-banner] a").await;
    d.wait_text("#status", "Needs attention").await;
    d.wait_text("#health-fix", "Restore the agent").await;

    // 4. Re-authorize with the group-scoped admin's key: confirm, and see the scope warning.
    let reauth = "form[action$='/reauthorize']";
    d.type_into(
        &format!("{reauth} input[name=api_key]"),
        &app.key(well_known::GROUP_ADMIN),
    )
    .await;
    d.click(&format!("{reauth} button")).await;
    d.wait_text("#page-error", "ticket scope Groups").await;
    d.type_into(
        &format!("{reauth} input[name=api_key]"),
        &app.key(well_known::GROUP_ADMIN),
    )
    .await;
    d.click("input[name=confirm_other_agent]").await;
    d.click(&format!("{reauth} button")).await;
    d.wait_text("#status", "Connected with warnings").await;
    d.wait_text(".warnings", "Scope is Groups").await;
    d.screenshot("health-reauthorized-group-admin.png").await;

    // 5. Restore the original user and re-authorize back with its key.
    control(&app, &format!("/_emulator/agents/{}/restore", admin.id)).await;
    d.type_into(&format!("{reauth} input[name=api_key]"), &admin.api_key)
        .await;
    d.click(&format!("{reauth} button")).await;
    d.click("input[name=confirm_other_agent]").await;
    d.type_into(&format!("{reauth} input[name=api_key]"), &admin.api_key)
        .await;
    d.click(&format!("{reauth} button")).await;

    // 6. Connected, and the synced data is intact.
    d.wait_text("#status", "Connected").await;
    let status = d.text("#status").await;
    assert_eq!(status, "Connected");
    d.wait_text("#health-timeline", "Needs attention").await;
    d.screenshot("health-repaired.png").await;
    assert_eq!(count().await, synced);
    d.cmd(reqwest::Method::DELETE, "", Value::Null).await;
}

#[tokio::test]
async fn a_person_finds_a_ticket_by_a_word_reads_its_thread_and_its_hostile_html_does_nothing() {
    // Arrange: a ticket whose description tries a script and an event handler, and a synced copy.
    let app = helpers::spawn_app_full(60, freshdesk_emulator::Plan::Unlimited, |_| {}).await;
    let Some(d) = Driver::start().await else {
        return;
    };
    let hostile = r#"<p>My <b>Zanzibar</b> transfer never arrived</p><script>window.owned = 1; document.title = 'owned'</script><img src="x" onerror="window.owned = 2; document.title = 'owned'">"#;
    helpers::zanzibar_ticket(&app, hostile).await;
    d.sign_in(&app.base, "admin@acme.test").await;
    let t = d.connect_and_sync(&app).await;
    let id = t.integration_id;

    // Act and assert: the dashboard draws its pictures and links to the data.
    d.go(&format!("{}/dashboard", app.base)).await;
    for picture in ["credits", "changes", "health"] {
        d.find(&format!("svg#{picture}-{id}")).await;
    }
    d.screenshot("dashboard.png").await;
    d.click(&format!("a[href='/data/{id}/tickets']")).await;

    // Search for a word, open the ticket, read its thread.
    d.type_into("#ticket-search", "zanzibar").await;
    d.click("form.filters button[type=submit]").await;
    d.wait_text("#tickets", "Zanzibar transfer never arrived")
        .await;
    d.click("#tickets tbody a").await;
    d.wait_text("#ticket-subject", "Zanzibar transfer never arrived")
        .await;
    d.wait_text("#thread", "We are looking into it").await;
    d.wait_text("#description", "My Zanzibar transfer never arrived")
        .await;
    d.screenshot("data-ticket.png").await;

    // Nothing the description carried ran.
    let owned = d
        .cmd(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": "return [document.title, typeof window.owned, document.querySelectorAll('#description script, #description img, [onerror]').length];", "args": []}),
        )
        .await;
    assert_ne!(owned[0], "owned", "{owned}");
    assert_eq!(owned[1], "undefined", "{owned}");
    assert_eq!(owned[2], 0, "{owned}");
}

#[tokio::test]
async fn an_admin_trains_triage_reads_its_evaluation_and_sees_a_new_ticket_get_its_category() {
    let app = helpers::spawn_app_full(600, freshdesk_emulator::Plan::Unlimited, |_| {}).await;
    let Some(d) = Driver::start().await else {
        return;
    };
    d.sign_in(&app.base, "admin@acme.test").await;
    let t = d.connect_and_sync(&app).await;
    let page = format!(
        "{}/settings/integrations/{}/triage",
        app.base, t.integration_id
    );
    let row = "tr[data-field=cf_category]";

    // Train the category, and wait for the model.
    d.go(&page).await;
    d.click(&format!("{row} button.train")).await;
    let started = Instant::now();
    loop {
        d.go(&page).await;
        if d.text(&format!("{row} td:nth-child(4)"))
            .await
            .contains("ready")
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the model was trained"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Its evaluation: accuracy and the precision-coverage picture.
    d.click(&format!("{row} a.model-link")).await;
    d.wait_text("#model-accuracy", "%").await;
    d.find("svg polyline.curve").await;
    d.screenshot("triage-evaluation.png").await;

    // Write-back with a target of 50%, then a new ticket in the words of a categorised one.
    d.go(&page).await;
    d.click(&format!("{row} select[name=mode] option[value=write]"))
        .await;
    d.type_into(&format!("{row} input[name=target]"), "50")
        .await;
    d.click(&format!("{row} form.mode button")).await;
    d.wait_text(&format!("{row} td:nth-child(5)"), "sure or more")
        .await;
    let known = helpers::categorised_words(&app).await;
    let created = app.control.create_ticket(known).await.unwrap();
    let ticket = created["id"].as_i64().unwrap();
    deskbridge::runtime::start_sync(&app.state.queue, t, "test")
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        d.go(&page).await;
        let html = d.source().await;
        if html.contains(&format!("#{ticket}</a>")) && html.contains("<td>written</td>") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the ticket got its category"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    d.screenshot("triage-written.png").await;
}
