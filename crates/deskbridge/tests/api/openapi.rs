//! The OpenAPI document is generated from the code: every `/api/` route the router serves is in
//! it, every example in it validates against the schema it illustrates, and what the API really
//! answers (integrations, sync, health, records, errors) validates against the documented schema.

use serde_json::{Value, json};

use crate::helpers;

async fn document(app: &helpers::TestApp, b: &helpers::Browser) -> Value {
    app.get(b, "/api/v1/openapi.json")
        .await
        .json()
        .await
        .unwrap()
}

/// Checks `instance` against `schema`, whose `$ref`s point into the document's components.
fn check(doc: &Value, schema: &Value, instance: &Value, what: &str) {
    let mut root = schema.clone();
    if let Some(obj) = root.as_object_mut() {
        obj.insert("components".into(), doc["components"].clone());
    }
    let validator = jsonschema::validator_for(&root)
        .unwrap_or_else(|e| panic!("{what}: the schema does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:?}\n{instance}");
}

/// Every schema node in `v` that carries an example, with its path.
fn examples(v: &Value, path: String, out: &mut Vec<(String, Value, Value)>) {
    match v {
        Value::Object(map) => {
            if let Some(example) = map.get("example") {
                let mut schema = v.clone();
                schema.as_object_mut().unwrap().remove("example");
                out.push((path.clone(), schema, example.clone()));
            }
            for (k, child) in map {
                if k != "example" {
                    examples(child, format!("{path}/{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                examples(child, format!("{path}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn every_api_route_is_in_the_generated_document_and_every_example_validates() {
    let app = helpers::spawn_app().await;
    let b = app.login("admin@acme.test").await;
    let doc = document(&app, &b).await;

    for (method, route) in deskbridge::web::route_list()
        .iter()
        .filter(|(_, r)| r.starts_with("/api/") && !r.ends_with("openapi.json"))
    {
        assert!(
            doc["paths"][route][method.to_ascii_lowercase()].is_object(),
            "{method} {route} is not in the OpenAPI document"
        );
    }
    let mut found = Vec::new();
    examples(&doc["components"], "#/components".into(), &mut found);
    examples(&doc["paths"], "#/paths".into(), &mut found);
    assert!(found.len() >= 10, "examples found: {}", found.len());
    for (path, schema, example) in &found {
        check(&doc, schema, example, path);
    }
    // And a check that can fail: a wrong example is refused.
    let limit = &doc["components"]["schemas"]["RecordsPage"];
    let bad = json!({"stream": 7, "records": [], "next_cursor": "x"});
    let validator = {
        let mut root = limit.clone();
        root["components"] = doc["components"].clone();
        jsonschema::validator_for(&root).unwrap()
    };
    assert!(!validator.is_valid(&bad), "a number is no stream name");
}

/// The schema of `method path`'s answer with `status`.
fn response_schema(doc: &Value, method: &str, path: &str, status: u16) -> Value {
    let s = &doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]
        ["schema"];
    assert!(s.is_object(), "{method} {path} {status} has no JSON schema");
    s.clone()
}

#[tokio::test]
async fn what_the_api_answers_matches_the_document() {
    let app = helpers::spawn_app_full(40, freshdesk_emulator::Plan::Unlimited, |_| {}).await;
    let (b, t) = app.connect_acme().await;
    let client = app.client(t).await;
    deskbridge::sync::run(&app.store, &client, t, |_| {})
        .await
        .unwrap();
    let doc = document(&app, &b).await;
    let id = t.integration_id;
    let cases = [
        (
            "/api/v1/integrations",
            "/api/v1/integrations".to_string(),
            200,
        ),
        (
            "/api/v1/integrations/{id}",
            format!("/api/v1/integrations/{id}"),
            200,
        ),
        (
            "/api/v1/integrations/{id}/sync",
            format!("/api/v1/integrations/{id}/sync"),
            200,
        ),
        (
            "/api/v1/integrations/{id}/health",
            format!("/api/v1/integrations/{id}/health"),
            200,
        ),
        (
            "/api/v1/integrations/{id}/records",
            format!("/api/v1/integrations/{id}/records"),
            200,
        ),
        (
            "/api/v1/integrations/{id}/records/{stream}",
            format!("/api/v1/integrations/{id}/records/tickets?limit=5"),
            200,
        ),
        (
            "/api/v1/integrations/{id}/records/{stream}",
            format!("/api/v1/integrations/{id}/records/tickets?limit=0"),
            400,
        ),
        (
            "/api/v1/integrations/{id}/health",
            "/api/v1/integrations/999999/health".into(),
            404,
        ),
        (
            "/api/v1/integrations/{id}/sync",
            "/api/v1/integrations/999999/sync".into(),
            404,
        ),
    ];
    for (documented, path, status) in cases {
        let r = app.get(&b, &path).await;
        assert_eq!(r.status().as_u16(), status, "{path}");
        let body: Value = r.json().await.unwrap();
        let schema = response_schema(&doc, "get", documented, status);
        check(&doc, &schema, &body, &path);
    }
}
