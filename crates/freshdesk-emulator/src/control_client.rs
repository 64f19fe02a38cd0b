//! `EmulatorControl`: the one typed client for the control API under `/_emulator/`, used by every
//! test and benchmark that changes the emulator's world (suspend an agent, inject a fault, edit a
//! ticket, read the request log or the ground-truth export). It speaks HTTP like any outside
//! caller, so it checks the control token and the routes as well; it shares no types with the
//! `freshdesk` client crate.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};

/// What went wrong talking to the control API.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the emulator's CA certificate does not parse")]
    Certificate(#[source] std::io::Error),
    #[error("building the control client")]
    Build(#[source] reqwest::Error),
    #[error("calling {path}")]
    Transport {
        path: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{path} answered {status}: {body}")]
    Refused {
        path: String,
        status: u16,
        body: String,
    },
}

/// Things an agent can be made to go through (`POST /_emulator/agents/{id}/{action}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentAction {
    Suspend,
    Delete,
    Restore,
    Demote,
    Promote,
    ResetKey,
}

impl AgentAction {
    fn path(self) -> &'static str {
        match self {
            AgentAction::Suspend => "suspend",
            AgentAction::Delete => "delete",
            AgentAction::Restore => "restore",
            AgentAction::Demote => "demote",
            AgentAction::Promote => "promote",
            AgentAction::ResetKey => "reset-key",
        }
    }
}

/// A handle on one emulator's control API.
#[derive(Clone, Debug)]
pub struct EmulatorControl {
    http: reqwest::Client,
    base: String,
    token: String,
    /// The account the calls act on; `None` is the first.
    account: Option<String>,
}

/// One entry of the emulator's request log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub seq: u64,
    pub agent_id: Option<i64>,
    pub method: String,
    pub path: String,
    /// Wall-clock milliseconds when the request arrived and when its answer was ready.
    pub received_ms: u64,
    pub answered_ms: u64,
    /// The caller's `User-Agent`.
    pub client: Option<String>,
}

impl EmulatorControl {
    /// For the emulator at `base_url` with its control token; `ca_pem` is the CA its certificate
    /// chains to (none in plain-HTTP mode).
    pub fn new(base_url: &str, token: &str, ca_pem: Option<&str>) -> Result<Self, ControlError> {
        let mut builder = reqwest::Client::builder().no_proxy();
        if let Some(pem) = ca_pem {
            let mut roots = rustls::RootCertStore::empty();
            for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
                let cert = cert.map_err(ControlError::Certificate)?;
                roots.add(cert).map_err(|e| {
                    ControlError::Certificate(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        e,
                    ))
                })?;
            }
            let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| {
                ControlError::Certificate(std::io::Error::new(std::io::ErrorKind::InvalidData, e))
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
            builder = builder.tls_backend_preconfigured(tls);
        }
        Ok(EmulatorControl {
            http: builder.build().map_err(ControlError::Build)?,
            base: base_url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            account: None,
        })
    }

    /// The same control API, acting on the account with domain label `label`.
    pub fn for_account(&self, label: &str) -> EmulatorControl {
        EmulatorControl {
            account: Some(label.to_string()),
            ..self.clone()
        }
    }

    /// Any control call: `path` starts with `/_emulator/`. The answer's JSON (null if none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ControlError> {
        let url = match (&self.account, path.strip_prefix("/_emulator/")) {
            (Some(label), Some(rest)) => format!("{}/_emulator/accounts/{label}/{rest}", self.base),
            _ => format!("{}{path}", self.base),
        };
        let mut req = self
            .http
            .request(method, url)
            .header("X-Emulator-Control", &self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let transport = |source| ControlError::Transport {
            path: path.to_string(),
            source,
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let text = resp.text().await.map_err(transport)?;
        if !status.is_success() {
            return Err(ControlError::Refused {
                path: path.to_string(),
                status: status.as_u16(),
                body: text,
            });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, ControlError> {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Every agent with its role, scope and key.
    pub async fn agents(&self) -> Result<Value, ControlError> {
        self.call(Method::GET, "/_emulator/agents", None).await
    }

    pub async fn agent(&self, id: i64, action: AgentAction) -> Result<Value, ControlError> {
        self.post(
            &format!("/_emulator/agents/{id}/{}", action.path()),
            json!({}),
        )
        .await
    }

    /// Ticket scope 1 (global), 2 (groups) or 3 (restricted), with the groups for scope 2.
    pub async fn agent_scope(
        &self,
        id: i64,
        scope: u8,
        group_ids: &[i64],
    ) -> Result<Value, ControlError> {
        self.post(
            &format!("/_emulator/agents/{id}/scope"),
            json!({"ticket_scope": scope, "group_ids": group_ids}),
        )
        .await
    }

    pub async fn agent_occasional(&self, id: i64, occasional: bool) -> Result<Value, ControlError> {
        self.post(
            &format!("/_emulator/agents/{id}/occasional"),
            json!({"occasional": occasional}),
        )
        .await
    }

    /// `suspend` or `restore` the whole account.
    pub async fn account(&self, action: &str) -> Result<Value, ControlError> {
        self.post(&format!("/_emulator/account/{action}"), json!({}))
            .await
    }

    pub async fn set_plan(&self, plan: &str) -> Result<Value, ControlError> {
        self.post("/_emulator/account/plan", json!({"plan": plan}))
            .await
    }

    pub async fn set_domain(&self, domain: &str) -> Result<Value, ControlError> {
        self.post("/_emulator/account/domain", json!({"domain": domain}))
            .await
    }

    pub async fn set_feature(&self, feature: &str, on: bool) -> Result<Value, ControlError> {
        self.post(
            "/_emulator/account/features",
            json!({"feature": feature, "enabled": on}),
        )
        .await
    }

    /// Adds a fault (see the README for its fields).
    pub async fn add_fault(&self, fault: Value) -> Result<Value, ControlError> {
        self.post("/_emulator/faults", fault).await
    }

    pub async fn clear_faults(&self) -> Result<Value, ControlError> {
        self.call(Method::DELETE, "/_emulator/faults", None).await
    }

    /// Removes `value` from the dropdown field `name`'s choices, as an admin would in Freshdesk.
    pub async fn remove_choice(&self, name: &str, value: &str) -> Result<Value, ControlError> {
        let path = format!("/_emulator/ticket_fields/{name}/remove_choice");
        self.post(&path, serde_json::json!({ "value": value }))
            .await
    }

    pub async fn create_ticket(&self, ticket: Value) -> Result<Value, ControlError> {
        self.post("/_emulator/tickets", ticket).await
    }

    pub async fn update_ticket(&self, id: i64, changes: Value) -> Result<Value, ControlError> {
        self.call(
            Method::PUT,
            &format!("/_emulator/tickets/{id}"),
            Some(changes),
        )
        .await
    }

    pub async fn purge_ticket(&self, id: i64) -> Result<Value, ControlError> {
        self.call(Method::DELETE, &format!("/_emulator/tickets/{id}"), None)
            .await
    }

    pub async fn add_conversation(&self, ticket: i64, body: Value) -> Result<Value, ControlError> {
        self.post(&format!("/_emulator/tickets/{ticket}/conversations"), body)
            .await
    }

    /// The ground truth; `only` is a comma-separated list of collections, or all of them.
    pub async fn export(&self, only: Option<&str>) -> Result<Value, ControlError> {
        let path = match only {
            Some(o) => format!("/_emulator/export?only={o}"),
            None => "/_emulator/export".to_string(),
        };
        self.call(Method::GET, &path, None).await
    }

    /// Every API request so far, in order.
    pub async fn requests(&self) -> Result<Vec<LoggedRequest>, ControlError> {
        let log = self.call(Method::GET, "/_emulator/requests", None).await?;
        Ok(log
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|e| LoggedRequest {
                seq: e["seq"].as_u64().unwrap_or(0),
                agent_id: e["agent_id"].as_i64(),
                method: e["method"].as_str().unwrap_or("").to_string(),
                path: e["path"].as_str().unwrap_or("").to_string(),
                client: e["client"].as_str().map(str::to_string),
                received_ms: e["received_ms"].as_u64().unwrap_or(0),
                answered_ms: e["answered_ms"].as_u64().unwrap_or(0),
            })
            .collect())
    }

    pub async fn clear_requests(&self) -> Result<Value, ControlError> {
        self.call(Method::DELETE, "/_emulator/requests", None).await
    }

    /// Archives closed tickets untouched for `closed_for_days`; `{"archived": [ids]}`.
    pub async fn archive(&self, closed_for_days: i64) -> Result<Value, ControlError> {
        self.post(
            "/_emulator/archive",
            json!({ "closed_for_days": closed_for_days }),
        )
        .await
    }

    pub async fn reset_rate(&self) -> Result<Value, ControlError> {
        self.post("/_emulator/rate/reset", json!({})).await
    }
}
