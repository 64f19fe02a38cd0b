use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn unknown_routes_and_ids_answer_404_with_a_single_space() {
    let t = spawn_emulator().await;
    for path in [
        "/api/v2/nope",
        "/api/v2/tickets/999999",
        "/api/v2/tickets/abc",
        "/api/v2/companies/1",
    ] {
        let r = t.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
        assert!(r.headers().get("x-freshdesk-api-version").is_none());
        assert_eq!(r.text().await.unwrap(), " ", "{path}");
    }
}

#[tokio::test]
async fn an_unknown_subdomain_is_not_an_account() {
    let t = spawn_emulator().await;
    let r = t
        .client
        .get(format!(
            "{}/api/v2/agents/me",
            t.base.replace("acme", "other")
        ))
        .header("Authorization", basic(&t.admin_key()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_wrong_verb_gets_405_with_the_allowed_methods() {
    let t = spawn_emulator().await;
    let r = t.put("/api/v2/tickets", json!({"status": 2})).await;
    assert_eq!(r.status(), 405);
    assert_eq!(header(&r, "allow").as_deref(), Some("GET, POST"));
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"message":"PUT method is not allowed. It should be one of these method(s): GET, POST"}"#
    );
}

#[tokio::test]
async fn a_non_json_accept_header_gets_406() {
    let t = spawn_emulator().await;
    let r = t
        .request(Method::GET, "/api/v2/tickets", &t.admin_key())
        .header("Accept", "text/xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"code":"invalid_accept_header","message":"Accept header is set to text/xml. It should have application/json or */*"}"#
    );
}

#[tokio::test]
async fn a_write_without_json_content_type_gets_415() {
    let t = spawn_emulator().await;
    let r = t.post_raw("/api/v2/tickets", "text/plain", "{}").await;
    assert_eq!(r.status(), 415);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"code":"invalid_content_type","message":"Content-Type header is set to text/plain. It should be set to application/json"}"#
    );
}

#[tokio::test]
async fn malformed_json_gets_invalid_json_and_changes_nothing() {
    let t = spawn_emulator().await;
    let before = t.tickets().await.len();
    let r = t
        .post_raw("/api/v2/tickets", "application/json", "{\"subject\": ")
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"code":"invalid_json","message":"Request body has invalid json format"}"#
    );
    assert_eq!(t.tickets().await.len(), before);
}

#[tokio::test]
async fn validation_errors_list_every_field_in_freshdesks_shape() {
    let t = spawn_emulator().await;
    let r = t.post("/api/v2/tickets", json!({"subject": "Hi", "email": "a@b.co", "status": "open", "priority": 9, "colour": "red"})).await;
    assert_eq!(r.status(), 400);
    let body = json(r).await;
    assert_eq!(body["description"], "Validation failed");
    let errors = body["errors"].as_array().unwrap();
    assert!(errors.contains(&json!({"field": "colour", "message": "Unexpected/invalid field in request", "code": "invalid_field"})));
    assert!(errors.contains(&json!({"field": "status", "message": "Value set is of type String.It should be one of these values: '2,3,4,5,6,7'", "code": "datatype_mismatch"})));
    assert!(errors.contains(&json!({"field": "priority", "message": "It should be one of these values: '1,2,3,4'", "code": "invalid_value"})));
}

#[tokio::test]
async fn an_empty_update_is_refused_with_missing_params() {
    let t = spawn_emulator().await;
    let id = t.export("tickets").await["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["spam"] == false && x["_emulator"]["trash"] == "live")
        .unwrap()["id"]
        .clone();
    let r = t.put(&format!("/api/v2/tickets/{id}"), json!({})).await;
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["code"], "missing_params");
}

#[tokio::test]
async fn a_duplicate_contact_email_gets_409_with_the_existing_user() {
    let t = spawn_emulator().await;
    let existing = json(t.get("/api/v2/contacts?per_page=1").await).await[0].clone();
    let r = t
        .post(
            "/api/v2/contacts",
            json!({"name": "Copy", "email": existing["email"]}),
        )
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(
        json(r).await,
        json!({"description": "Validation failed", "errors": [{"field": "email", "additional_info": {"user_id": existing["id"]}, "message": "It should be a unique value", "code": "duplicate_value"}]})
    );
}

#[tokio::test]
async fn bad_query_parameters_get_field_errors() {
    let t = spawn_emulator().await;
    let cases = [
        (
            "per_page=101",
            "per_page",
            "It should be a Positive Integer less than or equal to 100",
        ),
        ("page=0", "page", "It should be a/an Positive Integer"),
        (
            "updated_since=yesterday",
            "updated_since",
            "It should be a valid date in the 'combined date and time ISO8601' format",
        ),
        (
            "order_by=name",
            "order_by",
            "It should be one of these values: 'due_by,created_at,updated_at,priority,status'",
        ),
        (
            "order_type=up",
            "order_type",
            "It should be one of these values: 'asc,desc'",
        ),
        (
            "filter=all",
            "filter",
            "It should be one of these values: 'new_and_my_open,watching,spam,deleted'",
        ),
        (
            "include=conversations",
            "include",
            "It should be one of these values: 'requester, stats, company, description'",
        ),
        (
            "colour=red",
            "colour",
            "Unexpected/invalid field in request",
        ),
    ];
    for (q, field, message) in cases {
        let r = t.get(&format!("/api/v2/tickets?{q}")).await;
        assert_eq!(r.status(), 400, "{q}");
        let e = &json(r).await["errors"][0];
        assert_eq!(e["field"], field, "{q}");
        assert_eq!(e["message"], message, "{q}");
    }
}

#[tokio::test]
async fn plan_gated_endpoints_answer_require_feature() {
    let t = spawn_plan(freshdesk_emulator::Plan::Growth, Duration::from_secs(60)).await;
    let r = t.get("/api/v2/surveys/satisfaction_ratings").await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"code":"require_feature","message":"The Surveys feature(s) is/are not supported in your plan. Please upgrade your account to use it."}"#
    );
    t.control_json(
        Method::POST,
        "/_emulator/account/features",
        json!({"feature": "timesheets", "enabled": false}),
    )
    .await;
    let r = t.get("/api/v2/time_entries").await;
    assert_eq!(
        json(r).await["message"],
        "The Timesheets feature(s) is/are not supported in your plan. Please upgrade your account to use it."
    );
}
