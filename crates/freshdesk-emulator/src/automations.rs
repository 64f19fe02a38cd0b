//! Automation rules with a "Trigger webhook" action: Freshdesk's only source of webhooks (there is
//! no subscription API). Rules are made through the control API; a ticket created or updated
//! through the API or the control API fires the matching rules. Delivery follows the reference
//! (§11): the rule's method and content type, `User-Agent: Freshdesk`, Basic auth only when set,
//! custom headers merged last, a 15 s timeout, no signature, no redirects followed. Simple mode
//! sends `{"freshdesk_webhook":{…placeholders…}}`; advanced mode renders the rule's template
//! (`{{ticket.id}}`, `{{ticket.subject}}`, …). Failures are retried after 5, 30 and 60 emulated
//! minutes. Deliveries go over plain HTTP only (the emulator carries no trust store); every
//! attempt is logged for tests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::HelpDesk;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    TicketCreated,
    TicketUpdated,
}

#[derive(Clone, Debug, Serialize)]
pub struct Rule {
    pub id: u64,
    pub name: String,
    pub events: Vec<Event>,
    pub url: String,
    pub request_type: String,
    pub headers: Vec<(String, String)>,
    /// Advanced mode's template; `None` is simple mode.
    pub content: Option<String>,
    pub auth: Option<(String, String)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Delivery {
    pub rule_id: u64,
    pub ticket_id: i64,
    pub attempt: u32,
    /// The HTTP status, or the error.
    pub outcome: String,
    pub at_ms: u128,
}

#[derive(Default)]
pub struct Automations {
    pub rules: Mutex<Vec<Rule>>,
    pub deliveries: Mutex<Vec<Delivery>>,
    next: AtomicU64,
}

/// A new rule, as the control API receives it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    #[serde(default)]
    pub name: Option<String>,
    pub events: Vec<Event>,
    pub url: String,
    #[serde(default)]
    pub request_type: Option<String>,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub auth: Option<(String, String)>,
}

impl Automations {
    pub fn add(&self, r: NewRule) -> Result<Rule, String> {
        if r.events.is_empty() {
            return Err("events must name ticket_created and/or ticket_updated".into());
        }
        let (host, _) = split_url(&r.url)?;
        if host.is_empty() {
            return Err("url needs a host".into());
        }
        let method = r
            .request_type
            .unwrap_or_else(|| "POST".into())
            .to_uppercase();
        if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE") {
            return Err("request_type must be GET, POST, PUT, PATCH or DELETE".into());
        }
        let rule = Rule {
            id: self.next.fetch_add(1, Ordering::Relaxed) + 1,
            name: r.name.unwrap_or_else(|| "Webhook".into()),
            events: r.events,
            url: r.url,
            request_type: method,
            headers: r.headers.into_iter().collect(),
            content: r.content,
            auth: r.auth,
        };
        self.rules.lock().push(rule.clone());
        Ok(rule)
    }
}

/// `http://host:port/path` → ("host:port", "/path"); https is refused (no trust store here).
fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("the emulator delivers webhooks over http:// only")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Ok((host.to_string(), path.to_string()))
}

/// Ticket statuses 2 to 7 by name, as Freshdesk shows them.
pub const STATUS: [&str; 6] = [
    "Open",
    "Pending",
    "Resolved",
    "Closed",
    "Waiting on Customer",
    "Waiting on Third Party",
];
const PRIORITY: [&str; 4] = ["Low", "Medium", "High", "Urgent"];

/// The name of `v` in `table`, whose first entry is the value `first`; the number itself when
/// the table has no name for it (custom statuses).
pub fn name(table: &[&str], first: i64, v: i64) -> String {
    usize::try_from(v - first)
        .ok()
        .and_then(|i| table.get(i))
        .map(|s| s.to_string())
        .unwrap_or_else(|| v.to_string())
}

/// The placeholders of one ticket, as Freshdesk renders them (names, not numbers).
fn placeholders(desk: &HelpDesk, ticket_id: i64) -> Option<Vec<(&'static str, Value)>> {
    let t = desk.tickets.get(&ticket_id)?;
    let requester = desk.contacts.get(&t.requester_id);
    Some(vec![
        ("ticket_id", json!(t.id)),
        ("ticket_subject", json!(t.subject)),
        ("ticket_description", json!(t.description_text)),
        (
            "ticket_url",
            json!(format!(
                "https://{}.freshdesk.com/helpdesk/tickets/{}",
                desk.account.domain, t.id
            )),
        ),
        ("ticket_status", json!(name(&STATUS, 2, t.status))),
        ("ticket_priority", json!(name(&PRIORITY, 1, t.priority))),
        ("ticket_tags", json!(t.tags.join(","))),
        (
            "ticket_requester_email",
            json!(requester.and_then(|c| c.email.clone()).unwrap_or_default()),
        ),
        (
            "ticket_requester_name",
            json!(requester.map(|c| c.name.clone()).unwrap_or_default()),
        ),
        ("helpdesk_name", json!(desk.account.domain.clone())),
    ])
}

fn render(rule: &Rule, fields: &[(&'static str, Value)]) -> String {
    match &rule.content {
        None => {
            let map: serde_json::Map<String, Value> = fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
            json!({ "freshdesk_webhook": map }).to_string()
        }
        Some(template) => {
            let mut out = template.clone();
            for (k, v) in fields {
                let key = format!("{{{{{}}}}}", k.replacen("ticket_", "ticket.", 1));
                // Placeholders are escaped for JSON (the content type is JSON).
                let text = match v {
                    Value::String(s) => {
                        let quoted = Value::String(s.clone()).to_string();
                        quoted[1..quoted.len() - 1].to_string()
                    }
                    other => other.to_string(),
                };
                out = out.replace(&key, &text);
            }
            out
        }
    }
}

/// Fires every rule that listens to `event`, for one ticket; deliveries run in the background.
pub fn fire(
    autos: &Arc<Automations>,
    desk: &HelpDesk,
    event: Event,
    ticket_id: i64,
    minute: Duration,
) {
    let rules: Vec<Rule> = autos
        .rules
        .lock()
        .iter()
        .filter(|r| r.events.contains(&event))
        .cloned()
        .collect();
    if rules.is_empty() {
        return;
    }
    let Some(fields) = placeholders(desk, ticket_id) else {
        return;
    };
    for rule in rules {
        let body = render(&rule, &fields);
        let autos = autos.clone();
        tokio::spawn(async move {
            // Freshdesk retries after 5 min, 30 min and 1 h (in emulated minutes).
            let waits = [0u32, 5, 30, 60];
            for (attempt, wait) in waits.iter().enumerate() {
                if *wait > 0 {
                    tokio::time::sleep(minute * *wait).await;
                }
                let outcome = deliver(&rule, &body).await;
                let ok = outcome.as_ref().is_ok_and(|s| (200..400).contains(s));
                autos.deliveries.lock().push(Delivery {
                    rule_id: rule.id,
                    ticket_id,
                    attempt: attempt as u32 + 1,
                    outcome: match &outcome {
                        Ok(s) => s.to_string(),
                        Err(e) => e.clone(),
                    },
                    at_ms: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis())
                        .unwrap_or(0),
                });
                // 2xx is done; 3xx is neither followed nor retried.
                if ok {
                    return;
                }
            }
        });
    }
}

async fn deliver(rule: &Rule, body: &str) -> Result<u16, String> {
    use http_body_util::{BodyExt, Full};
    use hyper::Request;
    let (host, path) = split_url(&rule.url)?;
    let attempt = async {
        let stream = tokio::net::TcpStream::connect(&host)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(rule.request_type.as_str())
            .uri(path)
            .header("host", host.as_str())
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .header("user-agent", "Freshdesk");
        if let Some((user, pass)) = &rule.auth {
            use base64::Engine;
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            req = req.header("authorization", format!("Basic {token}"));
        }
        for (k, v) in &rule.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req
            .body(Full::new(bytes::Bytes::from(body.to_string())))
            .map_err(|e| format!("request: {e}"))?;
        let res = sender
            .send_request(req)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let status = res.status().as_u16();
        let _ = res.into_body().collect().await;
        Ok(status)
    };
    match tokio::time::timeout(Duration::from_secs(15), attempt).await {
        Ok(r) => r,
        Err(_) => Err("timed out after 15 s".into()),
    }
}

/// `GET /automations/{type}/rules` (admins): the rules with a "Trigger webhook" action, as
/// Freshdesk lists them: type 1 are ticket-creation rules, 4 ticket-update rules, 3 time
/// triggers (none here). Another type is not found.
pub fn rules_view(autos: &Automations, kind: i64, created_at: i64) -> Option<serde_json::Value> {
    let event = match kind {
        1 => Some(Event::TicketCreated),
        4 => Some(Event::TicketUpdated),
        3 => None,
        _ => return None,
    };
    let at = crate::util::format_ts(created_at);
    let rules: Vec<serde_json::Value> = autos
        .rules
        .lock()
        .iter()
        .filter(|r| event.is_some_and(|e| r.events.contains(&e)))
        .enumerate()
        .map(|(i, r)| {
            serde_json::json!({
                "id": r.id,
                "name": r.name,
                "position": i + 1,
                "active": true,
                "automation_type_id": kind,
                "conditions": [],
                "actions": [{
                    "field_name": "trigger_webhook",
                    "url": r.url,
                    "request_type": r.request_type,
                    "content_layout": if r.content.is_some() { "2" } else { "1" },
                }],
                "created_at": at,
                "updated_at": at,
            })
        })
        .collect();
    Some(serde_json::Value::Array(rules))
}
