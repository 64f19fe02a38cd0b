//! The dashboard at a glance: after a sync through the job queue it shows the integration's
//! health, freshness and records held in words, and draws API credits against the budget,
//! records changed per hour and the health timeline as server-side SVG whose numbers are the
//! stored ones.

use crate::helpers;

/// The text of the `<desc>` of picture `id`.
fn desc(page: &str, id: &str) -> String {
    let start = page
        .find(&format!("<desc id=\"{id}-d\">"))
        .unwrap_or_else(|| panic!("no picture {id}"));
    let rest = &page[start..];
    rest[rest.find('>').unwrap() + 1..rest.find("</desc>").unwrap()].to_string()
}

/// The SVG of picture `id`.
fn svg<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page.find(&format!("id=\"{id}\"")).unwrap();
    &page[start..start + page[start..].find("</svg>").unwrap()]
}

#[tokio::test]
async fn after_a_sync_the_dashboard_draws_credits_changes_and_health_from_the_stored_figures() {
    // Arrange: a sync run through the job queue, against a plan with a rate limit.
    let app = helpers::spawn_app_full(25, freshdesk_emulator::Plan::Enterprise, |_| {}).await;
    let (b, t) = app.connect_acme().await;
    deskbridge::runtime::start_sync(&app.state.queue, t, "test")
        .await
        .unwrap();
    assert_eq!(app.first_run_ended().await.1, "succeeded");

    // Act
    let page = app.page(&b, "/dashboard").await;

    // Assert: words.
    let id = t.integration_id;
    assert!(page.contains("Connected"), "{page}");
    assert!(page.contains("the newest change held is"), "{page}");
    let (changes,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM record_changes")
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
    assert!(changes > 25);
    // Pictures: the changes counted are every record the first sync wrote once.
    assert_eq!(
        desc(&page, &format!("changes-{id}")),
        format!("{changes} records changed in 48 hours")
    );
    assert!(svg(&page, &format!("changes-{id}")).contains("<rect"));
    let (credits,): (i64,) = sqlx::query_as("SELECT CAST(SUM(credits) AS BIGINT) FROM api_usage")
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
    let words = desc(&page, &format!("credits-{id}"));
    assert!(credits > 0);
    assert!(
        words.starts_with(&format!(
            "{credits} credits in 24 hours; the busiest minute used"
        )),
        "{words}"
    );
    assert!(
        svg(&page, &format!("credits-{id}")).contains("class=\"limit\""),
        "the budget line"
    );
    assert!(svg(&page, &format!("health-{id}")).contains("status-connected"));
    assert!(page.contains(&format!("href=\"/data/{id}/tickets\"")));
}
