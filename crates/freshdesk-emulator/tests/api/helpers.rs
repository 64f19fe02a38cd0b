//! `spawn_emulator()`: a fresh emulator on port 0 over HTTPS, and a client that reaches it as
//! `acme.freshdesk.com` (through a fixed DNS override to loopback) and trusts its CA.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use freshdesk_emulator::{EmulatorConfig, Plan, RunningEmulator, TlsConfig, well_known};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;

pub struct TestEmulator {
    pub emu: RunningEmulator,
    pub client: reqwest::Client,
    /// `https://acme.freshdesk.com:<port>`: the name resolves to the emulator's loopback address.
    pub base: String,
}

pub struct Options {
    pub tickets: usize,
    pub plan: Plan,
    pub minute: Duration,
    pub anchor: Option<i64>,
    pub accounts: usize,
    pub tickets_spread: f64,
    pub corpus: freshdesk_emulator::Corpus,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tickets: 400,
            plan: Plan::Unlimited,
            minute: Duration::from_secs(60),
            anchor: None,
            accounts: 1,
            tickets_spread: 1.0,
            corpus: freshdesk_emulator::Corpus::Templates,
        }
    }
}

pub async fn spawn_emulator() -> TestEmulator {
    spawn_with(Options::default()).await
}

/// An emulator seeded with `tickets` tickets, otherwise the defaults.
pub async fn spawn_tickets(tickets: usize) -> TestEmulator {
    spawn_with(Options {
        tickets,
        ..Options::default()
    })
    .await
}

/// An emulator on `plan` whose rate-limit window lasts `minute` (a real minute in production).
pub async fn spawn_plan(plan: Plan, minute: Duration) -> TestEmulator {
    spawn_with(Options {
        plan,
        minute,
        ..Options::default()
    })
    .await
}

pub fn client_for(ca_pem: &str, port: u16, hosts: &[&str]) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut b = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30));
    for h in hosts {
        b = b.resolve(h, std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    b.build().expect("client")
}

pub async fn spawn_with(o: Options) -> TestEmulator {
    let emu = freshdesk_emulator::spawn(EmulatorConfig {
        tls: Some(TlsConfig { cert_dir: None }),
        tickets: o.tickets,
        plan: o.plan,
        minute: o.minute,
        anchor: o.anchor,
        accounts: o.accounts,
        tickets_spread: o.tickets_spread,
        corpus: o.corpus,
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator starts");
    let port = emu.addr.port();
    let mut hosts = vec!["other.freshdesk.com".to_string()];
    hosts.extend(
        emu.accounts()
            .into_iter()
            .map(|a| format!("{}.freshdesk.com", a.domain)),
    );
    let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let client = client_for(emu.ca_pem.as_deref().expect("TLS on"), port, &hosts);
    TestEmulator {
        base: format!("https://acme.freshdesk.com:{port}"),
        emu,
        client,
    }
}

pub fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:X"))
    )
}

impl TestEmulator {
    pub fn key(&self, who: usize) -> String {
        self.emu.agent(who).api_key
    }

    pub fn admin_key(&self) -> String {
        self.key(well_known::INTEGRATION_ADMIN)
    }

    /// `base` for another hosted account: `https://<label>.freshdesk.com:<port>`.
    pub fn base_of(&self, label: &str) -> String {
        self.base.replace("acme", label)
    }

    pub fn request(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.base, path))
            .header("Authorization", basic(key))
    }

    /// A call with the admin's key and no body.
    pub async fn call(&self, method: Method, path: &str) -> Response {
        self.call_as(method, path, &self.admin_key()).await
    }

    /// A call with `key` and no body.
    pub async fn call_as(&self, method: Method, path: &str, key: &str) -> Response {
        self.request(method, path, key)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path, &self.admin_key())
            .send()
            .await
            .expect("request")
    }

    /// A list endpoint read with the admin's key: it must answer 200 with a JSON array.
    pub async fn list(&self, path: &str) -> Vec<Value> {
        self.list_as(path, &self.admin_key()).await
    }

    /// The field named `name` in a fields list (`/api/v2/ticket_fields`, …).
    pub async fn field(&self, list: &str, name: &str) -> Value {
        let fields = self.list(list).await;
        let found = fields.into_iter().find(|f| f["name"] == name);
        found.unwrap_or_else(|| panic!("{list} has no field {name}"))
    }

    /// A list endpoint read with `key`: it must answer 200 with a JSON array.
    pub async fn list_as(&self, path: &str, key: &str) -> Vec<Value> {
        let r = self.get_as(path, key).await;
        assert_eq!(r.status(), 200, "{path}");
        match json(r).await {
            Value::Array(rows) => rows,
            other => panic!("{path} answered no list: {other}"),
        }
    }

    /// A GET of a whole URL with no key at all.
    pub async fn anonymous(&self, url: &str) -> Response {
        self.client.get(url).send().await.expect("request")
    }

    pub async fn get_as(&self, path: &str, key: &str) -> Response {
        self.call_as(Method::GET, path, key).await
    }

    pub async fn send_json(&self, method: Method, path: &str, body: Value) -> Response {
        self.request(method, path, &self.admin_key())
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// A JSON POST with the admin's key.
    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.send_json(Method::POST, path, body).await
    }

    /// A JSON POST with the admin's key that must create (201): the created record.
    pub async fn create(&self, path: &str, body: Value) -> Value {
        let r = self.post(path, body).await;
        assert_eq!(r.status(), 201, "{path}");
        json(r).await
    }

    /// A JSON POST with `key`.
    pub async fn post_as(&self, path: &str, key: &str, body: Value) -> Response {
        let r = self
            .request(Method::POST, path, key)
            .json(&body)
            .send()
            .await;
        r.expect("request")
    }

    /// A JSON PUT with the admin's key.
    pub async fn put(&self, path: &str, body: Value) -> Response {
        self.send_json(Method::PUT, path, body).await
    }

    /// A POST with the admin's key, a content type and a body as given (not necessarily JSON).
    pub async fn post_raw(&self, path: &str, content_type: &str, body: &'static str) -> Response {
        self.request(Method::POST, path, &self.admin_key())
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .expect("request")
    }

    /// An account change to one agent through the control API (`suspend`, `restore`, `delete`,
    /// `demote`, `promote`, …).
    pub async fn agent_action(&self, id: i64, action: &str) -> Value {
        self.control_json(
            Method::POST,
            &format!("/_emulator/agents/{id}/{action}"),
            serde_json::json!({}),
        )
        .await
    }

    pub fn control(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(
                method,
                format!(
                    "{}{}",
                    self.emu.base_url.replace("127.0.0.1", "acme.freshdesk.com"),
                    path
                ),
            )
            .header("X-Emulator-Control", &self.emu.control_token)
    }

    /// A control call with a JSON body, whatever its answer.
    pub async fn control_send(&self, method: Method, path: &str, body: Value) -> Response {
        self.control(method, path)
            .json(&body)
            .send()
            .await
            .expect("control call")
    }

    /// A control call that must succeed; its JSON answer, or null when it has none.
    pub async fn control_json(&self, method: Method, path: &str, body: Value) -> Value {
        let r = self.control_send(method, path, body).await;
        assert!(
            r.status().is_success(),
            "control call {path} failed: {}",
            r.status()
        );
        r.json().await.unwrap_or(Value::Null)
    }

    /// Every ticket, as the ground truth holds it.
    pub async fn tickets(&self) -> Vec<Value> {
        match self.export("tickets").await["tickets"].take() {
            Value::Array(all) => all,
            other => panic!("the export holds no ticket list: {other}"),
        }
    }

    pub async fn export(&self, only: &str) -> Value {
        self.control(Method::GET, &format!("/_emulator/export?only={only}"))
            .send()
            .await
            .expect("export")
            .json()
            .await
            .expect("export json")
    }
}

pub async fn json(r: Response) -> Value {
    r.json().await.expect("JSON body")
}

pub fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().expect("ascii header").to_string())
}
