//! `GET /search/tickets?query="…"`: Freshdesk's filter language (fields, `AND`, `OR`, parentheses,
//! `:>` meaning at least, `:<` meaning at most, quoted strings and dates, `null`), 30 results a page,
//! pages 1 to 10, `{"results": […], "total": N}` and no `link` header.

use serde_json::{Value, json};

use super::error::{ApiError, FieldError};
use super::{Reply, Req, Viewer};
use crate::model::{HelpDesk, Ticket, Trash};
use crate::render::{TicketIncludes, TicketView};

const INVALID_QUERY: &str = "Given query is invalid, expected format \"keyword:value  OPERATOR keyword:'string' OPERATOR keyword:>'yyyy-mm-dd' OPERATOR keyword:<integer\". Space is mandatory between key/value pair and operator. Please check the paranthesis if there are any.";

#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    Int(i64),
    Str(String),
    Null,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Eq,
    AtLeast,
    AtMost,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Cond { field: String, op: Op, value: Lit },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

#[derive(Debug, PartialEq)]
pub enum QueryError {
    Syntax,
    UnknownField(String),
    BadValue(String, String),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    /// The fields this resource's search knows.
    fields: &'a [&'a str],
}

const FIELDS: &[&str] = &[
    "agent_id",
    "group_id",
    "priority",
    "status",
    "tag",
    "type",
    "due_by",
    "fr_due_by",
    "nr_due_by",
    "created_at",
    "updated_at",
    "cf_category",
    "cf_order_number",
];

impl Parser<'_> {
    fn ws(&mut self) -> usize {
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] == b' ' {
            self.i += 1;
        }
        self.i - start
    }

    fn keyword(&mut self, kw: &str) -> bool {
        let save = self.i;
        if self.ws() == 0 {
            self.i = save;
            return false;
        }
        if self.s[self.i..].starts_with(kw.as_bytes())
            && self.s.get(self.i + kw.len()) == Some(&b' ')
        {
            self.i += kw.len();
            true
        } else {
            self.i = save;
            false
        }
    }

    fn expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.term()?;
        while self.keyword("OR") {
            self.ws();
            let right = self.term()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.factor()?;
        while self.keyword("AND") {
            self.ws();
            let right = self.factor()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Expr, QueryError> {
        if self.s.get(self.i) == Some(&b'(') {
            self.i += 1;
            self.ws();
            let e = self.expr()?;
            self.ws();
            if self.s.get(self.i) != Some(&b')') {
                return Err(QueryError::Syntax);
            }
            self.i += 1;
            return Ok(e);
        }
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
        {
            self.i += 1;
        }
        let field = std::str::from_utf8(&self.s[start..self.i])
            .map_err(|_| QueryError::Syntax)?
            .to_string();
        if field.is_empty() || self.s.get(self.i) != Some(&b':') {
            return Err(QueryError::Syntax);
        }
        self.i += 1;
        let op = match self.s.get(self.i) {
            Some(b'>') => {
                self.i += 1;
                Op::AtLeast
            }
            Some(b'<') => {
                self.i += 1;
                Op::AtMost
            }
            _ => Op::Eq,
        };
        let value = match self.s.get(self.i) {
            Some(b'\'') => {
                let start = self.i + 1;
                let end = self.s[start..]
                    .iter()
                    .position(|b| *b == b'\'')
                    .ok_or(QueryError::Syntax)?
                    + start;
                self.i = end + 1;
                Lit::Str(String::from_utf8_lossy(&self.s[start..end]).into_owned())
            }
            Some(b) if b.is_ascii_digit() || *b == b'-' => {
                let start = self.i;
                self.i += 1;
                while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                Lit::Int(
                    std::str::from_utf8(&self.s[start..self.i])
                        .ok()
                        .and_then(|x| x.parse().ok())
                        .ok_or(QueryError::Syntax)?,
                )
            }
            _ if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Lit::Null
            }
            _ => return Err(QueryError::Syntax),
        };
        if !self.fields.contains(&field.as_str()) {
            return Err(QueryError::UnknownField(field));
        }
        let enum_values: Option<&[i64]> = match field.as_str() {
            "priority" => Some(&[1, 2, 3, 4]),
            "status" => Some(&[2, 3, 4, 5, 6, 7]),
            _ => None,
        };
        if let (Some(allowed), Lit::Int(n)) = (enum_values, &value)
            && !allowed.contains(n)
        {
            let list = allowed
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(",");
            return Err(QueryError::BadValue(
                field,
                format!("It should be one of these values: '{list}'"),
            ));
        }
        Ok(Expr::Cond { field, op, value })
    }
}

/// Parses a ticket query with its surrounding double quotes.
pub fn parse(query: &str) -> Result<Expr, QueryError> {
    parse_for(query, FIELDS)
}

/// Parses a query over `fields` with its surrounding double quotes.
pub fn parse_for(query: &str, fields: &[&str]) -> Result<Expr, QueryError> {
    let inner = query
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .ok_or(QueryError::Syntax)?;
    let mut p = Parser {
        s: inner.as_bytes(),
        i: 0,
        fields,
    };
    let e = p.expr()?;
    if p.i != p.s.len() {
        return Err(QueryError::Syntax);
    }
    Ok(e)
}

fn cmp_int(have: Option<i64>, op: Op, want: &Lit) -> bool {
    match (want, have) {
        (Lit::Null, h) => op == Op::Eq && h.is_none(),
        (Lit::Int(w), Some(h)) => match op {
            Op::Eq => h == *w,
            Op::AtLeast => h >= *w,
            Op::AtMost => h <= *w,
        },
        _ => false,
    }
}

fn cmp_date(have: Option<i64>, op: Op, want: &Lit) -> bool {
    match (want, have) {
        (Lit::Null, h) => op == Op::Eq && h.is_none(),
        (Lit::Str(s), Some(h)) => {
            let Some(day) = crate::util::parse_ts(s) else {
                return false;
            };
            // A bare date means the whole day.
            let end = if s.len() == 10 { day + 86_400 } else { day + 1 };
            match op {
                Op::Eq => h >= day && h < end,
                Op::AtLeast => h >= day,
                Op::AtMost => h < end,
            }
        }
        _ => false,
    }
}

fn cmp_str(have: Option<&str>, want: &Lit) -> bool {
    match want {
        Lit::Null => have.is_none(),
        Lit::Str(s) => have.is_some_and(|h| h == s),
        Lit::Int(n) => have.is_some_and(|h| h == n.to_string()),
    }
}

pub fn matches(e: &Expr, t: &Ticket) -> bool {
    match e {
        Expr::And(a, b) => matches(a, t) && matches(b, t),
        Expr::Or(a, b) => matches(a, t) || matches(b, t),
        Expr::Cond { field, op, value } => match field.as_str() {
            "agent_id" => cmp_int(t.responder_id, *op, value),
            "group_id" => cmp_int(t.group_id, *op, value),
            "priority" => cmp_int(Some(t.priority), *op, value),
            "status" => cmp_int(Some(t.status), *op, value),
            "tag" => match value {
                Lit::Null => t.tags.is_empty(),
                _ => t.tags.iter().any(|tag| cmp_str(Some(tag), value)),
            },
            "type" => cmp_str(t.ticket_type.as_deref(), value),
            "due_by" => cmp_date(Some(t.due_by), *op, value),
            "fr_due_by" => cmp_date(Some(t.fr_due_by), *op, value),
            "nr_due_by" => cmp_date(t.nr_due_by, *op, value),
            "created_at" => cmp_date(Some(t.created_at), *op, value),
            "updated_at" => cmp_date(Some(t.updated_at), *op, value),
            "cf_category" => cmp_str(t.cf_category.as_deref(), value),
            "cf_order_number" => cmp_str(t.cf_order_number.as_deref(), value),
            _ => false,
        },
    }
}

/// The `query` and `page` of a search request over `fields`, checked as Freshdesk checks them.
fn checked_query(req: &Req, fields: &[&str]) -> Result<(Expr, usize), ApiError> {
    let q = &req.query;
    let mut errors = Vec::new();
    for k in q.keys() {
        if k != "query" && k != "page" && !errors.iter().any(|e: &FieldError| e.field == k) {
            errors.push(FieldError::invalid_field(k));
        }
    }
    let page = match q.get("page") {
        None => 1,
        Some(p) => match p.parse::<i64>() {
            Ok(n) if (1..=10).contains(&n) => n as usize,
            _ => {
                errors.push(FieldError::invalid_value(
                    "page",
                    "It should be a Positive Integer less than or equal to 10",
                ));
                1
            }
        },
    };
    let raw = q.get("query").unwrap_or("");
    let expr = if raw.chars().count() > 512 {
        errors.push(FieldError::invalid_value(
            "query",
            format!(
                "Has {} characters, it can have maximum of 512 characters",
                raw.chars().count()
            ),
        ));
        None
    } else {
        match parse_for(raw, fields) {
            Ok(e) => Some(e),
            Err(QueryError::Syntax) => {
                errors.push(FieldError::invalid_value("query", INVALID_QUERY));
                None
            }
            Err(QueryError::UnknownField(f)) => {
                errors.push(FieldError::invalid_field(f));
                None
            }
            Err(QueryError::BadValue(f, m)) => {
                errors.push(FieldError::invalid_value(f, m));
                None
            }
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    Ok((expr.ok_or(ApiError::Internal)?, page))
}

/// Whether `e` holds, with `cond` deciding each condition.
fn eval(e: &Expr, cond: &dyn Fn(&str, Op, &Lit) -> bool) -> bool {
    match e {
        Expr::And(a, b) => eval(a, cond) && eval(b, cond),
        Expr::Or(a, b) => eval(a, cond) || eval(b, cond),
        Expr::Cond { field, op, value } => cond(field, *op, value),
    }
}

/// A page of search results, newest first: `{"results": [...], "total": N}`, 30 a page.
fn results_page<T>(hits: &[T], page: usize, view: impl Fn(&T) -> Value) -> Reply {
    let results: Vec<Value> = hits
        .iter()
        .skip((page - 1) * 30)
        .take(30)
        .map(view)
        .collect();
    Reply::value(&json!({"results": results, "total": hits.len()}))
}

const CONTACT_FIELDS: &[&str] = &[
    "name",
    "email",
    "phone",
    "mobile",
    "company_id",
    "active",
    "tag",
    "language",
    "time_zone",
    "created_at",
    "updated_at",
];

/// `GET /search/contacts?query="…"`: live contacts (not deleted or blocked) that match.
pub fn contacts(desk: &HelpDesk, req: &Req) -> Result<Reply, ApiError> {
    use crate::model::ContactState;
    let (expr, page) = checked_query(req, CONTACT_FIELDS)?;
    let hits: Vec<&crate::model::Contact> = desk
        .contacts
        .values()
        .rev()
        .filter(|c| !matches!(c.state, ContactState::Deleted | ContactState::Blocked))
        .filter(|c| {
            eval(&expr, &|field, op, value| match field {
                "name" => cmp_str(Some(&c.name), value),
                "email" => {
                    c.email
                        .iter()
                        .chain(&c.other_emails)
                        .any(|e| cmp_str(Some(e), value))
                        || (value == &Lit::Null && c.email.is_none())
                }
                "phone" => cmp_str(c.phone.as_deref(), value),
                "mobile" => cmp_str(c.mobile.as_deref(), value),
                "company_id" => cmp_int(c.company_id, op, value),
                "active" => cmp_str(
                    Some(if c.state == ContactState::Verified {
                        "true"
                    } else {
                        "false"
                    }),
                    value,
                ),
                "tag" => c.tags.iter().any(|t| cmp_str(Some(t), value)),
                "language" => cmp_str(Some(c.language), value),
                "time_zone" => cmp_str(Some(c.time_zone), value),
                "created_at" => cmp_date(Some(c.created_at), op, value),
                "updated_at" => cmp_date(Some(c.updated_at), op, value),
                _ => false,
            })
        })
        .collect();
    Ok(results_page(&hits, page, |c| crate::render::contact(c)))
}

/// `GET /search/companies?query="…"`: companies by name, domain and times.
pub fn companies(desk: &HelpDesk, req: &Req) -> Result<Reply, ApiError> {
    let (expr, page) = checked_query(req, &["name", "domain", "created_at", "updated_at"])?;
    let hits: Vec<&crate::model::Company> = desk
        .companies
        .values()
        .rev()
        .filter(|c| {
            eval(&expr, &|field, op, value| match field {
                "name" => cmp_str(Some(&c.name), value),
                "domain" => c.domains.iter().any(|d| cmp_str(Some(d), value)),
                "created_at" => cmp_date(Some(c.created_at), op, value),
                "updated_at" => cmp_date(Some(c.updated_at), op, value),
                _ => false,
            })
        })
        .collect();
    Ok(results_page(&hits, page, |c| crate::render::company(c)))
}

/// `GET /search/solutions?term=`: articles whose title or text holds the term (any case).
pub fn solutions(desk: &HelpDesk, req: &Req) -> Result<Reply, ApiError> {
    let term = match req.query.get("term").map(str::trim) {
        Some(t) if !t.is_empty() => t.to_lowercase(),
        _ => return Err(ApiError::Validation(vec![FieldError::missing("term")])),
    };
    let hits: Vec<Value> = desk
        .solution_articles
        .values()
        .filter(|a| {
            a.title.to_lowercase().contains(&term)
                || a.description_text.to_lowercase().contains(&term)
        })
        .map(|a| crate::render::solution_article(a, desk))
        .collect();
    Ok(Reply::value(&Value::Array(hits)))
}

pub fn tickets(desk: &HelpDesk, req: &Req, v: &Viewer) -> Result<Reply, ApiError> {
    let (expr, page) = checked_query(req, FIELDS)?;
    let hits: Vec<&Ticket> = desk
        .tickets
        .values()
        .rev()
        .filter(|t| !t.spam && t.trash == Trash::Live && v.can_see(t) && matches(&expr, t))
        .collect();
    Ok(results_page(&hits, page, |t| {
        serde_json::to_value(TicketView {
            t,
            inc: TicketIncludes {
                description: true,
                ..Default::default()
            },
        })
        .unwrap_or(Value::Null)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_query_forms_parse() {
        for q in [
            "\"priority:>3\"",
            "\"status:2 OR status:3\"",
            "\"(status:2 OR status:3) AND priority:4\"",
            "\"created_at:>'2017-01-01' AND created_at:<'2017-02-01'\"",
            "\"tag:'vip' AND agent_id:null\"",
            "\"cf_category:'Billing'\"",
        ] {
            assert!(parse(q).is_ok(), "{q}");
        }
    }

    #[test]
    fn malformed_queries_are_refused() {
        assert_eq!(parse("priority:3"), Err(QueryError::Syntax));
        assert_eq!(parse("\"priority:3AND status:2\""), Err(QueryError::Syntax));
        assert_eq!(parse("\"(priority:3\""), Err(QueryError::Syntax));
        assert_eq!(
            parse("\"subject:'x'\""),
            Err(QueryError::UnknownField("subject".into()))
        );
        assert!(matches!(
            parse("\"priority:9\""),
            Err(QueryError::BadValue(..))
        ));
    }
}
