//! The audit log: sign-ins, failed sign-ins, connect, disconnect, re-authorize and vault work, with
//! actor, time, Freshdesk agent and key fingerprint. Never a key. Control characters in values a
//! user typed are escaped so a log line cannot be forged.

use crate::store::{Store, now};

pub fn clean(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Longest actor and detail kept: values typed by anyone (a sign-in's email) are bounded, so a
/// flood of huge inputs cannot grow the log faster than its row count.
const MAX_ACTOR: usize = 254;
const MAX_DETAIL: usize = 1000;

fn bounded(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

pub async fn record(store: &Store, org_id: Option<i64>, actor: &str, action: &str, detail: &str) {
    let (actor, detail) = (
        bounded(clean(actor), MAX_ACTOR),
        bounded(clean(detail), MAX_DETAIL),
    );
    tracing::info!(org_id, %actor, %action, %detail, "audit");
    let r = sqlx::query(
        "INSERT INTO audit_log (org_id, actor, action, detail, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(org_id)
    .bind(&actor)
    .bind(action)
    .bind(&detail)
    .bind(now())
    .execute(&store.pool)
    .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "could not write the audit log");
    }
}

#[derive(Clone, Debug)]
pub struct Entry {
    pub actor: String,
    pub action: String,
    pub detail: String,
    pub at: i64,
}

/// What an action code means, in the words the dashboard shows; an unknown code as it is.
pub fn words(action: &str) -> &str {
    match action {
        "sign_in" => "signed in",
        "sign_in_failed" => "failed to sign in",
        "connect" => "connected Freshdesk",
        "connect_failed" => "could not connect Freshdesk",
        "reauthorize" => "re-authorized Freshdesk with a new key",
        "disconnect" => "disconnected Freshdesk",
        "api_token_created" => "created the API token",
        "api_token_revoked" => "revoked an API token",
        "alert_webhook" => "changed the alert webhook",
        "webhook_secret" => "made a new Freshdesk webhook secret",
        "vault_key_added" => "added a master key version",
        "vault_rewrap" => "re-encrypted the stored keys",
        other => other,
    }
}

pub async fn recent(store: &Store, org_id: i64, limit: i64) -> Vec<Entry> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as("SELECT actor, action, detail, at FROM audit_log WHERE org_id = $1 ORDER BY id DESC LIMIT $2").bind(org_id).bind(limit).fetch_all(&store.pool).await.unwrap_or_default();
    rows.into_iter()
        .map(|(actor, action, detail, at)| Entry {
            actor,
            action,
            detail,
            at,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(super::clean("acme\r\nFAKE entry"), "acme\\r\\nFAKE entry");
    }
}
