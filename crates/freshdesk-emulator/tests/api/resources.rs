use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn every_documented_read_endpoint_answers_for_an_admin() {
    let t = spawn_emulator().await;
    let export = t
        .export(
            "solution_categories,solution_folders,solution_articles,business_hours,groups,roles",
        )
        .await;
    let cat = &export["solution_categories"][0]["id"];
    let folder = &export["solution_folders"][0]["id"];
    let article = &export["solution_articles"][0]["id"];
    let bh = &export["business_hours"][0]["id"];
    let group = &export["groups"][0]["id"];
    let role = &export["roles"][0]["id"];
    let paths = [
        "/api/v2/agents".to_string(),
        "/api/v2/agents/me".into(),
        "/api/v2/roles".into(),
        format!("/api/v2/roles/{role}"),
        "/api/v2/groups".into(),
        format!("/api/v2/groups/{group}"),
        "/api/v2/admin/groups".into(),
        "/api/v2/contacts".into(),
        "/api/v2/companies".into(),
        "/api/v2/ticket_fields".into(),
        "/api/v2/business_hours".into(),
        format!("/api/v2/business_hours/{bh}"),
        "/api/v2/sla_policies".into(),
        "/api/v2/surveys/satisfaction_ratings".into(),
        "/api/v2/time_entries".into(),
        "/api/v2/settings/helpdesk".into(),
        "/api/v2/account".into(),
        "/api/v2/solutions/categories".into(),
        format!("/api/v2/solutions/categories/{cat}"),
        format!("/api/v2/solutions/categories/{cat}/folders"),
        format!("/api/v2/solutions/folders/{folder}"),
        format!("/api/v2/solutions/folders/{folder}/articles"),
        format!("/api/v2/solutions/articles/{article}"),
        format!("/api/v2/solutions/folders/{folder}/subfolders"),
        "/api/v2/contact_fields".into(),
        "/api/v2/company_fields".into(),
        "/api/v2/products".into(),
        "/api/v2/email_configs".into(),
        "/api/v2/email/mailboxes".into(),
        "/api/v2/contacts/autocomplete?term=a".into(),
        "/api/v2/companies/autocomplete?name=a".into(),
        "/api/v2/agents/autocomplete?term=a".into(),
        "/api/v2/admin/ticket_fields".into(),
        "/api/v2/admin/skills".into(),
        "/api/v2/surveys".into(),
        "/api/v2/canned_response_folders".into(),
        "/api/v2/scenario_automations".into(),
    ];
    for p in paths {
        let r = t.get(&p).await;
        assert_eq!(r.status(), 200, "{p}");
        let v = json(r).await;
        assert!(v.is_array() || v.is_object(), "{p}");
    }
}

#[tokio::test]
async fn contacts_filter_by_either_updated_since_spelling_and_by_state() {
    let t = spawn_emulator().await;
    let contacts = "/api/v2/contacts?per_page=100";
    let all = t
        .list(&format!("{contacts}&_updated_since=2000-01-01"))
        .await;
    let also = t
        .list(&format!("{contacts}&updated_since=2000-01-01"))
        .await;
    assert_eq!(all, also);
    let future = t
        .list("/api/v2/contacts?_updated_since=2100-01-01T00:00:00Z")
        .await;
    assert!(future.is_empty());
    for state in ["blocked", "deleted"] {
        let rows = t
            .list(&format!("/api/v2/contacts?state={state}&per_page=100"))
            .await;
        // One contact in a hundred is blocked: a small seed may have none, but always has deleted ones.
        assert!(state == "blocked" || !rows.is_empty(), "{state}");
        assert!(rows.iter().all(|c| c[state] == true), "{state}");
    }
    let default = t.list("/api/v2/contacts?per_page=100").await;
    let names: Vec<&str> = default
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "alphabetical");
}

#[tokio::test]
async fn agents_phones_and_group_assignment_modes_have_documented_shapes() {
    let t = spawn_emulator().await;
    let agents = json(t.get("/api/v2/agents?per_page=100").await).await;
    let a = &agents[0];
    for key in [
        "available",
        "occasional",
        "ticket_scope",
        "group_ids",
        "role_ids",
        "type",
        "contact",
    ] {
        assert!(a.get(key).is_some(), "{key}");
    }
    let groups = t.list("/api/v2/groups").await;
    assert!(
        groups
            .iter()
            .all(|g| g["auto_ticket_assign"].is_i64() && g["agent_ids"].is_array())
    );
}

/// The flexible-hierarchy flavour: folders count their articles and subfolders and say where
/// they sit; articles say where they sit; a category lists its top folders.
#[tokio::test]
async fn knowledge_base_shapes_follow_the_flexible_hierarchy() {
    let t = spawn_emulator().await;
    let category = &t.list("/api/v2/solutions/categories").await[0];
    let path = format!("/api/v2/solutions/categories/{}/folders", category["id"]);
    let folders = t.list(&path).await;
    assert!(!folders.is_empty());
    for f in &folders {
        assert!(f["parent_folder_id"].is_null());
        let level0 = serde_json::json!([{"level": 0, "type": "category", "data": {"id": category["id"], "name": category["name"], "language": "en"}}]);
        assert_eq!(f["hierarchy"], level0);
        let path = format!(
            "/api/v2/solutions/folders/{}/articles?per_page=100",
            f["id"]
        );
        let articles = t.list(&path).await;
        assert_eq!(f["articles_count"], articles.len());
        let path = format!("/api/v2/solutions/folders/{}/subfolders", f["id"]);
        let subfolders = t.list(&path).await;
        assert_eq!(f["sub_folders_count"], subfolders.len());
        for a in &articles {
            let levels = a["hierarchy"].as_array().unwrap();
            assert_eq!(levels.len(), 2, "{a}");
            assert_eq!(levels[0]["data"]["id"], a["category_id"]);
            assert_eq!(
                (&levels[1]["type"], &levels[1]["data"]["id"]),
                (&serde_json::json!("folder"), &a["folder_id"])
            );
        }
    }
    let r = t.get("/api/v2/solutions/folders/1/subfolders").await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn autocomplete_finds_people_and_companies_by_the_start_of_a_word() {
    let t = spawn_emulator().await;
    let contact = t.list("/api/v2/contacts").await[0].clone();
    let name = contact["name"].as_str().unwrap();
    let last = name.split_whitespace().last().unwrap();
    let hits = t
        .list(&format!(
            "/api/v2/contacts/autocomplete?term={}",
            &last[..3].to_lowercase()
        ))
        .await;
    assert!(
        hits.iter()
            .any(|h| h["id"] == contact["id"] && h["name"] == name),
        "{hits:?}"
    );
    assert!(
        hits.iter().all(|h| h.as_object().unwrap().len() == 2),
        "id and name only"
    );
    let company = t.list("/api/v2/companies").await[0].clone();
    let prefix = &company["name"].as_str().unwrap()[..2];
    let found = json(
        t.get(&format!("/api/v2/companies/autocomplete?name={prefix}"))
            .await,
    )
    .await;
    let found = found["companies"].as_array().unwrap();
    assert!(found.iter().any(|c| c["id"] == company["id"]));
    let none = t.list("/api/v2/contacts/autocomplete?term=zzzqqq").await;
    assert!(none.is_empty());
    let missing = t.get("/api/v2/contacts/autocomplete").await;
    assert_eq!(missing.status(), 400);
    assert_eq!(json(missing).await["errors"][0]["field"], "term");
    let plain = t.emu.agent(freshdesk_emulator::well_known::PLAIN_AGENT);
    let r = t
        .get_as("/api/v2/agents/autocomplete?term=a", &plain.api_key)
        .await;
    assert_eq!(r.status(), 403, "agent lookups are for admins");
}

#[tokio::test]
async fn fields_products_and_mailboxes_describe_the_seeded_account() {
    let t = spawn_emulator().await;
    let fields = t.list("/api/v2/contact_fields").await;
    let name = fields.iter().find(|f| f["name"] == "name").unwrap();
    assert_eq!(
        (&name["type"], &name["required_for_agents"]),
        (&serde_json::json!("default_name"), &serde_json::json!(true))
    );
    let company = t.list("/api/v2/company_fields").await;
    assert!(company.iter().any(|f| f["name"] == "domains"));
    let product = &t.list("/api/v2/products").await[0];
    let one = json(t.get(&format!("/api/v2/products/{}", product["id"])).await).await;
    assert_eq!(&one, product);
    assert_eq!(t.get("/api/v2/products/1").await.status(), 404);
    let configs = t.list("/api/v2/email_configs").await;
    let tickets = t.tickets().await;
    let by_email = tickets.iter().find(|x| x["source"] == 1).unwrap();
    assert_eq!(
        configs[0]["id"], by_email["email_config_id"],
        "email tickets name the config"
    );
    assert_eq!(configs[0]["product_id"], product["id"]);
    let mailboxes = t.list("/api/v2/email/mailboxes").await;
    assert_eq!(mailboxes[0]["support_email"], configs[0]["to_email"]);
}

#[tokio::test]
async fn admin_ticket_fields_canned_responses_and_surveys_have_documented_shapes() {
    let t = spawn_emulator().await;
    let category = &t.field("/api/v2/admin/ticket_fields", "cf_category").await;
    let plain_category = &t.field("/api/v2/ticket_fields", "cf_category").await;
    let labels: Vec<&Value> = category["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["label"])
        .collect();
    let plain_labels: Vec<&Value> = plain_category["choices"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(labels, plain_labels, "the same choices, as objects");
    assert_eq!(category["choices"][0]["position"], 1);
    let one = json(
        t.get(&format!("/api/v2/admin/ticket_fields/{}", category["id"]))
            .await,
    )
    .await;
    assert_eq!(&one, category);
    let path = format!("/api/v2/admin/ticket_fields/{}/sections", category["id"]);
    let sections = t.list(&path).await;
    assert!(sections.is_empty() && category["has_section"] == false);
    assert_eq!(t.get("/api/v2/admin/ticket_fields/1").await.status(), 404);
    let folder = &t.list("/api/v2/canned_response_folders").await[0];
    let path = format!("/api/v2/canned_response_folders/{}/responses", folder["id"]);
    let responses = t.list(&path).await;
    assert_eq!(folder["responses_count"], responses.len());
    let first = json(
        t.get(&format!("/api/v2/canned_responses/{}", responses[0]["id"]))
            .await,
    )
    .await;
    assert_eq!(first, responses[0]);
    let survey = &t.list("/api/v2/surveys").await[0];
    let ratings = t
        .list("/api/v2/surveys/satisfaction_ratings?created_since=2000-01-01T00:00:00Z")
        .await;
    assert!(!ratings.is_empty());
    assert!(
        ratings.iter().all(|r| r["survey_id"] == survey["id"]),
        "ratings answer the survey"
    );
    let plain_agent = t.emu.agent(freshdesk_emulator::well_known::PLAIN_AGENT);
    let r = t
        .get_as("/api/v2/admin/ticket_fields", &plain_agent.api_key)
        .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn contacts_companies_and_articles_are_searched_as_freshdesk_documents() {
    let t = spawn_emulator().await;
    let contact = t.list("/api/v2/contacts").await[3].clone();
    let email = contact["email"].as_str().unwrap();
    let q = format!("/api/v2/search/contacts?query=\"email:'{email}'\"");
    let found = json(t.get(&q).await).await;
    assert_eq!(found["total"], 1);
    assert_eq!(found["results"][0]["id"], contact["id"]);
    let company = t.list("/api/v2/companies").await[0].clone();
    let q = format!(
        "/api/v2/search/companies?query=\"name:'{}'\"",
        company["name"].as_str().unwrap()
    );
    let found = json(t.get(&q.replace(' ', "%20")).await).await;
    assert_eq!(found["results"][0]["id"], company["id"]);
    let members = json(
        t.get(&format!(
            "/api/v2/search/contacts?query=\"company_id:{}\"",
            company["id"]
        ))
        .await,
    )
    .await;
    let all = t
        .list(&format!(
            "/api/v2/contacts?company_id={}&per_page=100",
            company["id"]
        ))
        .await;
    assert_eq!(
        members["total"],
        all.len(),
        "search and the filtered list agree"
    );
    for (path, field) in [
        ("/api/v2/search/contacts?query=\"colour:'red'\"", "colour"),
        ("/api/v2/search/companies?query=name:'x'", "query"),
        ("/api/v2/search/solutions", "term"),
    ] {
        let r = t.get(path).await;
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(json(r).await["errors"][0]["field"], field, "{path}");
    }
    let article = &t.export("solution_articles").await["solution_articles"][0];
    let word = article["title"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .trim_matches('.');
    let hits = t
        .list(&format!(
            "/api/v2/search/solutions?term={}",
            word.to_uppercase()
        ))
        .await;
    assert!(hits.iter().any(|a| a["id"] == article["id"]), "{word}");
}

#[tokio::test]
async fn knowledge_base_records_answer_in_their_one_language_and_no_other() {
    let t = spawn_emulator().await;
    let article = t.export("solution_articles").await["solution_articles"][0]["id"].clone();
    let plain = json(
        t.get(&format!("/api/v2/solutions/articles/{article}"))
            .await,
    )
    .await;
    let en = json(
        t.get(&format!("/api/v2/solutions/articles/{article}/en"))
            .await,
    )
    .await;
    assert_eq!(plain, en);
    let de = t
        .get(&format!("/api/v2/solutions/articles/{article}/de"))
        .await;
    assert_eq!(de.status(), 404, "no German translation");
}
