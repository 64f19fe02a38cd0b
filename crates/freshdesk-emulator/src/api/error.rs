//! Freshdesk's error replies, in their exact shapes: validation errors
//! (`{"description":"Validation failed","errors":[…]}`), request errors (`{"code":…,"message":…}`),
//! message-only errors (405, 500, 429) and the 404 whose body is a single space.

use serde_json::{Value, json};

#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
    pub code: &'static str,
    pub additional_info: Option<Value>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>, code: &'static str) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
            code,
            additional_info: None,
        }
    }

    pub fn invalid_field(field: impl Into<String>) -> Self {
        Self::new(
            field,
            "Unexpected/invalid field in request",
            "invalid_field",
        )
    }

    /// A value of the right type that Freshdesk will not take (`invalid_value`).
    pub fn invalid_value(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(field, message, "invalid_value")
    }

    /// A value of the wrong JSON type (`datatype_mismatch`).
    pub fn mismatch(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(field, message, "datatype_mismatch")
    }

    pub fn missing(field: impl Into<String>) -> Self {
        Self::new(field, "Mandatory attribute missing", "missing_field")
    }

    fn status(&self) -> u16 {
        match self.code {
            "duplicate_value" => 409,
            "access_denied" => 403,
            _ => 400,
        }
    }
}

#[derive(Clone, Debug)]
pub enum ApiError {
    Validation(Vec<FieldError>),
    Request {
        status: u16,
        code: &'static str,
        message: String,
    },
    MethodNotAllowed {
        method: String,
        allowed: Vec<&'static str>,
    },
    NotFound,
    Internal,
}

impl ApiError {
    pub fn field(e: FieldError) -> Self {
        ApiError::Validation(vec![e])
    }

    pub fn invalid_credentials() -> Self {
        ApiError::Request {
            status: 401,
            code: "invalid_credentials",
            message: "You have to be logged in to perform this action.".into(),
        }
    }

    pub fn access_denied() -> Self {
        ApiError::Request {
            status: 403,
            code: "access_denied",
            message: "You are not authorized to perform this action.".into(),
        }
    }

    pub fn account_suspended() -> Self {
        ApiError::Request {
            status: 403,
            code: "account_suspended",
            message: "Your account has been suspended.".into(),
        }
    }

    pub fn password_lockout() -> Self {
        ApiError::Request {
            status: 403,
            code: "password_lockout",
            message: "Maximum failed login attempts 10, reached.".into(),
        }
    }

    pub fn require_feature(title: &str) -> Self {
        ApiError::Request {
            status: 403,
            code: "require_feature",
            message: format!(
                "The {title} feature(s) is/are not supported in your plan. Please upgrade your account to use it."
            ),
        }
    }

    pub fn invalid_json() -> Self {
        ApiError::Request {
            status: 400,
            code: "invalid_json",
            message: "Request body has invalid json format".into(),
        }
    }

    pub fn missing_params() -> Self {
        ApiError::Request {
            status: 400,
            code: "missing_params",
            message:
                "Your update call does not have any parameter. Atleast one parameter is required."
                    .into(),
        }
    }

    pub fn invalid_content_type(ct: &str) -> Self {
        ApiError::Request {
            status: 415,
            code: "invalid_content_type",
            message: format!(
                "Content-Type header is set to {ct}. It should be set to application/json"
            ),
        }
    }

    pub fn invalid_accept(accept: &str) -> Self {
        ApiError::Request {
            status: 406,
            code: "invalid_accept_header",
            message: format!(
                "Accept header is set to {accept}. It should have application/json or */*"
            ),
        }
    }

    pub fn only_get(method: &str) -> Self {
        ApiError::MethodNotAllowed {
            method: method.into(),
            allowed: vec!["GET"],
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::Validation(errors) => {
                // The status is the most frequent one among the field errors (ties: the first seen).
                let mut counts: Vec<(u16, usize)> = Vec::new();
                for e in errors {
                    let s = e.status();
                    match counts.iter_mut().find(|(st, _)| *st == s) {
                        Some((_, n)) => *n += 1,
                        None => counts.push((s, 1)),
                    }
                }
                let max = counts.iter().map(|(_, n)| *n).max().unwrap_or(0);
                counts
                    .iter()
                    .find(|(_, n)| *n == max)
                    .map(|(s, _)| *s)
                    .unwrap_or(400)
            }
            ApiError::Request { status, .. } => *status,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::NotFound => 404,
            ApiError::Internal => 500,
        }
    }

    /// The body bytes and, for 405, the `Allow` header.
    pub fn body(&self) -> (Vec<u8>, Option<String>) {
        match self {
            ApiError::Validation(errors) => {
                let list: Vec<Value> = errors
                    .iter()
                    .map(|e| {
                        let mut m = serde_json::Map::new();
                        m.insert("field".into(), json!(e.field));
                        if let Some(info) = &e.additional_info {
                            m.insert("additional_info".into(), info.clone());
                        }
                        m.insert("message".into(), json!(e.message));
                        m.insert("code".into(), json!(e.code));
                        Value::Object(m)
                    })
                    .collect();
                (
                    serde_json::to_vec(
                        &json!({"description": "Validation failed", "errors": list}),
                    )
                    .unwrap_or_default(),
                    None,
                )
            }
            ApiError::Request { code, message, .. } => (
                serde_json::to_vec(&json!({"code": code, "message": message})).unwrap_or_default(),
                None,
            ),
            ApiError::MethodNotAllowed { method, allowed } => {
                let list = allowed.join(", ");
                (
                    serde_json::to_vec(&json!({"message": format!("{method} method is not allowed. It should be one of these method(s): {list}")})).unwrap_or_default(),
                    Some(list),
                )
            }
            ApiError::NotFound => (b" ".to_vec(), None),
            ApiError::Internal => (
                serde_json::to_vec(&json!({"message": "We're sorry, but something went wrong."}))
                    .unwrap_or_default(),
                None,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_validation_reply_takes_the_most_frequent_status_of_its_errors() {
        let mut dup = FieldError::new("email", "It should be a unique value", "duplicate_value");
        dup.additional_info = Some(json!({"user_id": 1}));
        let e = ApiError::Validation(vec![dup.clone(), dup, FieldError::missing("name")]);
        assert_eq!(e.status(), 409);
        let e = ApiError::Validation(vec![
            FieldError::missing("name"),
            FieldError::invalid_field("x"),
        ]);
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn field_error_keys_come_in_freshdesks_order() {
        let mut dup = FieldError::new("email", "It should be a unique value", "duplicate_value");
        dup.additional_info = Some(json!({"user_id": 7}));
        let (body, _) = ApiError::field(dup).body();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"description":"Validation failed","errors":[{"field":"email","additional_info":{"user_id":7},"message":"It should be a unique value","code":"duplicate_value"}]}"#
        );
    }
}
