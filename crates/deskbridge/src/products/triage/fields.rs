//! The ticket fields Triage can learn, and how much labelled history each has: group,
//! priority, type and every custom dropdown of the account, each read from the synced tickets'
//! JSON. A value needs [`MIN_EXAMPLES`] labelled tickets to be learnt.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

use serde::Serialize;
use serde_json::Value;

use crate::store::Store;
use crate::sync::{Target, browse, changes};

/// The job kind that trains one field.
pub const TRAIN_JOB: &str = "triage_train";
/// How many labelled tickets a value needs before it is learnt.
pub const MIN_EXAMPLES: usize = 10;
/// The most history one training reads (the newest tickets).
pub const MAX_HISTORY: i64 = 200_000;

#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error("there is no such field to triage")]
    NoSuchField,
    #[error("{0}")]
    Refused(String),
    #[error("Triage could not read or write its tables")]
    Store(#[from] sqlx::Error),
    #[error("the training could not be queued")]
    Queue(#[from] crate::jobs::QueueError),
}

/// A ticket field Triage can learn, by its key in the ticket JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Field {
    /// `group_id`, `priority`, `type` or a custom field's name (`cf_…`).
    pub key: String,
    pub label: String,
}

impl Field {
    /// The field's value on a ticket, as text (None when empty).
    pub fn value(&self, raw: &Value) -> Option<String> {
        let v = if self.key.starts_with("cf_") {
            &raw["custom_fields"][&self.key]
        } else {
            &raw[&self.key]
        };
        match v {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

/// What the classifier reads of a ticket: its subject and description.
/// A statement about one field of one integration, bound as `$1` org, `$2` integration and
/// `$3` field; the caller binds the rest from `$4`.
pub(super) fn on_field(
    sql: &'static str,
    t: Target,
    key: &str,
) -> sqlx::query::Query<'static, sqlx::Any, sqlx::any::AnyArguments> {
    sqlx::query(sql)
        .bind(t.org_id)
        .bind(t.integration_id)
        .bind(key.to_string())
}

pub fn text_of(raw: &Value) -> String {
    let subject = raw["subject"].as_str().unwrap_or_default();
    let description = raw["description_text"].as_str().unwrap_or_default();
    format!("{subject}\n{description}")
}

/// The fields of this help desk Triage offers: group, priority, type and every custom dropdown.
pub async fn candidates(store: &Store, t: Target) -> Result<Vec<Field>, sqlx::Error> {
    let mut out = vec![
        Field {
            key: "group_id".into(),
            label: "Group".into(),
        },
        Field {
            key: "priority".into(),
            label: "Priority".into(),
        },
        Field {
            key: "type".into(),
            label: "Type".into(),
        },
    ];
    for (name, label, _) in browse::dropdowns(store, t).await? {
        out.push(Field { key: name, label });
    }
    Ok(out)
}

pub(super) async fn field(store: &Store, t: Target, key: &str) -> Result<Field, TriageError> {
    candidates(store, t)
        .await?
        .into_iter()
        .find(|f| f.key == key)
        .ok_or(TriageError::NoSuchField)
}

/// What Triage reads of a synced ticket: its words (`Text` is `Value`; `IgnoredAny` skips them
/// unread, for counting) and the fields it can learn, and nothing else of the raw JSON (a large
/// history stays small in memory).
#[derive(serde::Deserialize)]
struct Slim<Text> {
    #[serde(default)]
    subject: Text,
    #[serde(default)]
    description_text: Text,
    #[serde(default)]
    group_id: Value,
    #[serde(default)]
    priority: Value,
    #[serde(default, rename = "type")]
    kind: Value,
    #[serde(default)]
    custom_fields: Value,
}

/// A synced ticket's JSON cut down to what Triage reads; `None` if it does not parse.
pub(super) fn slim(raw: &str) -> Option<Value> {
    let s: Slim<Value> = serde_json::from_str(raw).ok()?;
    Some(serde_json::json!({
        "subject": s.subject, "description_text": s.description_text, "group_id": s.group_id,
        "priority": s.priority, "type": s.kind, "custom_fields": s.custom_fields,
    }))
}

/// A synced ticket's fields alone, for counting; `None` if it does not parse.
fn labels(raw: &str) -> Option<Value> {
    let s: Slim<serde::de::IgnoredAny> = serde_json::from_str(raw).ok()?;
    Some(serde_json::json!({
        "group_id": s.group_id, "priority": s.priority, "type": s.kind,
        "custom_fields": s.custom_fields,
    }))
}

/// Per field key: how many synced tickets hold a value, and how many hold each value.
pub(super) type LabelCounts = HashMap<String, (usize, BTreeMap<String, usize>)>;

/// Counted label histories, per integration, with the change-feed head and the field keys they
/// were counted at.
type KeptCounts = HashMap<(i64, i64), (i64, Vec<String>, Arc<LabelCounts>)>;
static COUNTED: LazyLock<Mutex<KeptCounts>> = LazyLock::new(Default::default);

/// The label counts of `fields` over the synced history. Counting reads every ticket (seconds at
/// 100,000), so the answer is kept in this process until the copy changes (the integration's
/// change-feed head moves) or the fields do: between syncs the Triage page is instant. The head
/// is read first, so a count is never older than the head it is kept under.
pub(super) async fn label_counts(
    store: &Store,
    t: Target,
    fields: &[Field],
) -> Result<Arc<LabelCounts>, sqlx::Error> {
    let head = changes::head(store, t).await?;
    let keys: Vec<String> = fields.iter().map(|f| f.key.clone()).collect();
    let at = (t.org_id, t.integration_id);
    if let Some((h, k, counted)) = COUNTED.lock().get(&at)
        && *h == head
        && *k == keys
    {
        return Ok(counted.clone());
    }
    let mut counts: LabelCounts = keys
        .iter()
        .map(|k| (k.clone(), (0, BTreeMap::new())))
        .collect();
    browse::history(store, t, MAX_HISTORY, |_, _, raw| {
        let Some(ticket) = labels(raw) else { return };
        for f in fields {
            if let (Some(value), Some((labelled, by))) = (f.value(&ticket), counts.get_mut(&f.key))
            {
                *labelled += 1;
                *by.entry(value).or_insert(0) += 1;
            }
        }
    })
    .await?;
    let counts = Arc::new(counts);
    COUNTED.lock().insert(at, (head, keys, counts.clone()));
    Ok(counts)
}

/// Values with their counts.
pub type Counted = Vec<(String, usize)>;

/// The values with enough examples, and those left out; most first.
pub(super) fn split_values(by: BTreeMap<String, usize>) -> (Counted, Counted) {
    let (mut enough, mut too_few): (Vec<_>, Vec<_>) =
        by.into_iter().partition(|(_, n)| *n >= MIN_EXAMPLES);
    enough.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    too_few.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    (enough, too_few)
}

pub(super) fn blocked(labelled: usize, enough: &[(String, usize)]) -> Option<String> {
    if labelled == 0 {
        Some("no synced ticket has a value in this field yet".into())
    } else if enough.len() < 2 {
        Some(format!(
            "fewer than two values have {MIN_EXAMPLES} or more labelled tickets; there is nothing to choose between"
        ))
    } else {
        None
    }
}
