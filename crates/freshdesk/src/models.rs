//! Typed models of the resources Freshdesk serves, written from the reference, not from the
//! emulator. Integer enums are open (custom statuses, new sources decode as themselves), ids are
//! `i64`, timestamps are parsed leniently as RFC 3339 with offsets, phones may be strings or
//! numbers, and `auto_ticket_assign` may be a bool or an int. [`Record`] keeps each record's raw
//! JSON beside the typed view, so fields this crate does not model are never lost.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// A typed record and the exact JSON it came from.
#[derive(Debug, Clone)]
pub struct Record<T> {
    pub value: T,
    pub raw: Box<RawValue>,
}

impl<T: for<'de> Deserialize<'de>> Record<T> {
    pub fn parse(raw: &RawValue) -> Result<Self, serde_json::Error> {
        Ok(Record {
            value: serde_json::from_str(raw.get())?,
            raw: raw.to_owned(),
        })
    }
}

/// Parses RFC 3339 with any offset, fractional seconds, or none; a bare `YYYY-MM-DD`; and a zone-less
/// `YYYY-MM-DDTHH:MM:SS` (read as UTC).
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%#z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(t.with_timezone(&Utc));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

fn ts<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    parse_timestamp(&s).ok_or_else(|| serde::de::Error::custom(format!("not a timestamp: {s:?}")))
}

fn ots<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<std::borrow::Cow<'de, str>>::deserialize(d)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => parse_timestamp(&s)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("not a timestamp: {s:?}"))),
    }
}

/// A phone that may arrive as a string or a number.
fn phone<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => Some(other.to_string()),
    })
}

/// `auto_ticket_assign`: older accounts answer a bool, newer ones an int (0 off, 1 round robin, …).
fn bool_or_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Bool(b)) => Some(b as i64),
        Some(Value::Number(n)) => n.as_i64(),
        _ => None,
    })
}

macro_rules! open_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $value:expr, $label:expr;)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        #[allow(non_upper_case_globals)]
        impl $name {
            $(pub const $variant: $name = $name($value);)*

            /// The documented name, or `None` for a value this crate does not know (custom ones).
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($label),)*
                    _ => None,
                }
            }
        }
    };
}

open_enum!(
    /// Ticket status; accounts add custom statuses (6, 7, …).
    Status { Open = 2, "Open"; Pending = 3, "Pending"; Resolved = 4, "Resolved"; Closed = 5, "Closed"; }
);
open_enum!(Priority { Low = 1, "Low"; Medium = 2, "Medium"; High = 3, "High"; Urgent = 4, "Urgent"; });
open_enum!(
    /// Ticket source.
    Source { Email = 1, "Email"; Portal = 2, "Portal"; Phone = 3, "Phone"; Chat = 7, "Chat"; Mobihelp = 8, "Mobihelp"; FeedbackWidget = 9, "Feedback Widget"; OutboundEmail = 10, "Outbound Email"; }
);
open_enum!(
    /// Conversation source.
    ConversationSource { Reply = 0, "Reply"; Note = 2, "Note"; Tweet = 5, "Tweet"; Survey = 6, "Survey feedback"; Facebook = 7, "Facebook"; Forwarded = 8, "Forwarded email"; Phone = 9, "Phone"; Ecommerce = 11, "E-commerce"; }
);
open_enum!(
    /// An agent's ticket scope.
    TicketScope { Global = 1, "Global"; Group = 2, "Groups"; Restricted = 3, "Restricted"; }
);

#[derive(Debug, Clone, Deserialize)]
pub struct TicketStats {
    #[serde(default, deserialize_with = "ots")]
    pub agent_responded_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "ots")]
    pub requester_responded_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "ots")]
    pub first_responded_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "ots")]
    pub status_updated_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "ots")]
    pub reopened_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "ots")]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "ots")]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "ots")]
    pub pending_since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Requester {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "phone")]
    pub mobile: Option<String>,
    #[serde(default, deserialize_with = "phone")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ticket {
    pub id: i64,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub description_text: Option<String>,
    pub status: Status,
    pub priority: Priority,
    #[serde(default)]
    pub source: Option<Source>,
    #[serde(default, rename = "type")]
    pub ticket_type: Option<String>,
    #[serde(default)]
    pub requester_id: Option<i64>,
    #[serde(default)]
    pub responder_id: Option<i64>,
    #[serde(default)]
    pub group_id: Option<i64>,
    #[serde(default)]
    pub company_id: Option<i64>,
    #[serde(default)]
    pub product_id: Option<i64>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub custom_fields: serde_json::Map<String, Value>,
    #[serde(default)]
    pub spam: bool,
    /// Present (and true) only for tickets in the trash.
    #[serde(default)]
    pub deleted: bool,
    #[serde(default, deserialize_with = "ots")]
    pub due_by: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "ots")]
    pub fr_due_by: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "ts")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "ts")]
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub stats: Option<TicketStats>,
    #[serde(default)]
    pub requester: Option<Requester>,
    #[serde(default)]
    pub conversations: Option<Vec<Conversation>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Conversation {
    pub id: i64,
    #[serde(default)]
    pub ticket_id: Option<i64>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub body_text: Option<String>,
    #[serde(default)]
    pub incoming: bool,
    #[serde(default)]
    pub private: bool,
    #[serde(default)]
    pub user_id: Option<i64>,
    #[serde(default)]
    pub source: Option<ConversationSource>,
    #[serde(default)]
    pub from_email: Option<String>,
    #[serde(default)]
    pub to_emails: Option<Vec<String>>,
    #[serde(deserialize_with = "ts")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "ts")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Contact {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "phone")]
    pub phone: Option<String>,
    #[serde(default, deserialize_with = "phone")]
    pub mobile: Option<String>,
    #[serde(default)]
    pub company_id: Option<i64>,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub blocked: bool,
    #[serde(deserialize_with = "ts")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "ts")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Company {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(deserialize_with = "ts")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "ts")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AgentContact {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub active: bool,
    #[serde(default, deserialize_with = "phone")]
    pub phone: Option<String>,
    #[serde(default, deserialize_with = "phone")]
    pub mobile: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Agent {
    pub id: i64,
    #[serde(default)]
    pub occasional: bool,
    #[serde(default)]
    pub available: bool,
    pub ticket_scope: TicketScope,
    #[serde(default)]
    pub group_ids: Vec<i64>,
    #[serde(default)]
    pub role_ids: Vec<i64>,
    #[serde(default, rename = "type")]
    pub agent_type: Option<String>,
    pub contact: AgentContact,
    #[serde(deserialize_with = "ts")]
    pub created_at: DateTime<Utc>,
    #[serde(deserialize_with = "ts")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Role {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub default: bool,
    #[serde(default, deserialize_with = "ots")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "ots")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Group {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub agent_ids: Vec<i64>,
    #[serde(default, deserialize_with = "bool_or_int")]
    pub auto_ticket_assign: Option<i64>,
    #[serde(deserialize_with = "ts")]
    pub updated_at: DateTime<Utc>,
    #[serde(default, deserialize_with = "ots")]
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TicketField {
    pub id: i64,
    pub name: String,
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: String,
    #[serde(default)]
    pub choices: Option<Value>,
    #[serde(default, deserialize_with = "ots")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "ots")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BusinessHour {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default, deserialize_with = "ots")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "ots")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SlaPolicy {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub is_default: bool,
    #[serde(default, deserialize_with = "ots")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "ots")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SatisfactionRating {
    pub id: i64,
    #[serde(default)]
    pub ticket_id: Option<i64>,
    #[serde(default)]
    pub ratings: serde_json::Map<String, Value>,
    #[serde(default)]
    pub feedback: Option<String>,
    #[serde(deserialize_with = "ts")]
    pub created_at: DateTime<Utc>,
    #[serde(default, deserialize_with = "ots")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TimeEntry {
    pub id: i64,
    #[serde(default)]
    pub ticket_id: Option<i64>,
    #[serde(default)]
    pub agent_id: Option<i64>,
    #[serde(default)]
    pub time_spent: Option<String>,
    #[serde(default)]
    pub billable: bool,
    #[serde(deserialize_with = "ts")]
    pub updated_at: DateTime<Utc>,
    #[serde(default, deserialize_with = "ots")]
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SolutionCategory {
    pub id: i64,
    pub name: String,
    #[serde(default, deserialize_with = "ots")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "ots")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SolutionFolder {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub visibility: Option<i64>,
    #[serde(default, deserialize_with = "ots")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "ots")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SolutionArticle {
    pub id: i64,
    pub title: String,
    #[serde(default)]
    pub description_text: Option<String>,
    #[serde(default)]
    pub status: Option<i64>,
    #[serde(deserialize_with = "ts")]
    pub updated_at: DateTime<Utc>,
    #[serde(default, deserialize_with = "ots")]
    pub created_at: Option<DateTime<Utc>>,
    /// Not in every reply: the folder listing it came from says.
    #[serde(default)]
    pub category_id: Option<i64>,
    #[serde(default)]
    pub folder_id: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SearchPage<T> {
    pub results: Vec<T>,
    pub total: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_with_offsets_fractions_and_no_zone_all_parse() {
        let z = parse_timestamp("2014-01-08T03:38:53Z").unwrap();
        assert_eq!(parse_timestamp("2014-01-08T09:08:53+05:30"), Some(z));
        assert_eq!(parse_timestamp("2014-01-08T03:38:53.000Z"), Some(z));
        assert_eq!(parse_timestamp("2014-01-08T03:38:53"), Some(z));
        assert!(parse_timestamp("2014-01-08").is_some());
        assert!(parse_timestamp("last tuesday").is_none());
    }

    #[test]
    fn open_enums_phones_and_assignment_modes_decode_leniently() {
        let t: Ticket = serde_json::from_str(r#"{"id":1,"status":17,"priority":2,"source":15,"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00+01:00","requester":{"id":6012691534,"phone":4155550100,"mobile":"1234"}}"#).unwrap();
        assert_eq!(t.status, Status(17));
        assert_eq!(t.status.name(), None);
        assert_eq!(t.source, Some(Source(15)));
        assert_eq!(t.requester.unwrap().phone.as_deref(), Some("4155550100"));
        let g: Group = serde_json::from_str(
            r#"{"id":1,"name":"x","auto_ticket_assign":true,"updated_at":"2024-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(g.auto_ticket_assign, Some(1));
        let g: Group = serde_json::from_str(
            r#"{"id":1,"name":"x","auto_ticket_assign":3,"updated_at":"2024-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(g.auto_ticket_assign, Some(3));
    }

    #[test]
    fn a_record_keeps_fields_the_model_does_not_know() {
        let raw: Box<RawValue> = serde_json::from_str(r#"{"id":9,"name":"Acme","created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z","brand_new_field":{"x":1}}"#).unwrap();
        let r = Record::<Company>::parse(&raw).unwrap();
        assert_eq!(r.value.id, 9);
        assert!(r.raw.get().contains("brand_new_field"));
    }

    #[test]
    fn ids_beyond_two_to_the_53_survive() {
        let r: Role = serde_json::from_str(r#"{"id":284960733419037820,"name":"x"}"#).unwrap();
        assert_eq!(r.id, 284_960_733_419_037_820);
    }
}

/// `GET /account` (admins only).
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    #[serde(default)]
    pub organisation_id: Option<i64>,
    #[serde(default)]
    pub account_id: Option<i64>,
    #[serde(default)]
    pub account_name: Option<String>,
    #[serde(default)]
    pub account_domain: Option<String>,
    #[serde(default)]
    pub tier_type: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
}

/// `GET /settings/helpdesk`.
#[derive(Debug, Clone, Deserialize)]
pub struct HelpdeskSettings {
    #[serde(default)]
    pub primary_language: Option<String>,
    #[serde(default)]
    pub supported_languages: Vec<String>,
}
