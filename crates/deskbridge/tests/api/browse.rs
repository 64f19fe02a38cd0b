//! The data browser: tickets found by words through the full-text index (kept in step as syncs
//! change them), filtered and paged without loss, a ticket shown with its thread and its hostile
//! HTML made inert, the people and knowledge-base lists, and bad input refused.

use std::collections::BTreeSet;

use deskbridge::sync::{self, Target};
use freshdesk_emulator::Plan;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{self, Browser, TestApp};

async fn synced() -> (TestApp, Browser, Target, freshdesk::Client) {
    let app = helpers::spawn_app_full(130, Plan::Unlimited, |_| {}).await;
    let (b, t) = app.connect_acme().await;
    let client = app.client(t).await;
    sync::run(&app.store, &client, t, |_| {}).await.unwrap();
    (app, b, t, client)
}

/// The ticket ids a list page links to, in order.
fn ticket_links(page: &str, t: Target) -> Vec<i64> {
    let prefix = format!("href=\"/data/{}/tickets/", t.integration_id);
    page.match_indices(&prefix)
        .map(|(i, _)| {
            let rest = &page[i + prefix.len()..];
            rest[..rest.find('"').unwrap()].parse().unwrap()
        })
        .collect()
}

fn next_link(page: &str) -> Option<String> {
    let i = page.find("id=\"next-page\"")?;
    let start = page[..i].rfind("href=\"")? + 6;
    Some(page[start..start + page[start..].find('"')?].replace("&amp;", "&"))
}

#[tokio::test]
async fn a_word_finds_its_ticket_and_the_thread_shows_with_hostile_html_made_inert() {
    // Arrange: a ticket whose description carries a script and an event handler.
    let (app, b, t, client) = synced().await;
    let hostile = "<p>My transfer <b>never</b> arrived<script>document.title='owned'</script><img src=x onerror=\"alert(1)\"><a href=\"javascript:alert(2)\">see</a></p>";
    let id = helpers::zanzibar_ticket(&app, hostile).await;
    sync::run(&app.store, &client, t, |_| {}).await.unwrap();

    // Act: search by a word (and by its first letters), then open the ticket.
    let base = format!("/data/{}/tickets", t.integration_id);
    let found = app.page(&b, &format!("{base}?q=zanzibar")).await;
    let prefix = app.page(&b, &format!("{base}?q=ZANZ")).await;
    let none = app
        .page(&b, &format!("{base}?q=%22nothing%20like%20this%22%20OR"))
        .await;
    let page = app.page(&b, &format!("{base}/{id}")).await;

    // Assert
    assert_eq!(ticket_links(&found, t), vec![id]);
    assert_eq!(ticket_links(&prefix, t), vec![id]);
    assert!(none.contains("No ticket matches"), "{none}");
    assert!(page.contains("Zanzibar transfer never arrived"));
    assert!(page.contains("<b>never</b>"), "formatting kept");
    assert!(
        page.contains("We are looking into it"),
        "the thread is shown"
    );
    for bad in ["<script", "onerror", "javascript:", "<img"] {
        assert!(!page.contains(bad), "{bad} reached the page");
    }

    // Act: the subject changes in Freshdesk and the next sync brings it.
    app.control
        .update_ticket(id, json!({"subject": "Mombasa transfer found"}))
        .await
        .unwrap();
    sync::run(&app.store, &client, t, |_| {}).await.unwrap();

    // Assert: the index followed the row; the description still names Zanzibar.
    let new = app.page(&b, &format!("{base}?q=mombasa")).await;
    let old = app.page(&b, &format!("{base}?q=zanzibar")).await;
    assert_eq!(ticket_links(&new, t), vec![id]);
    assert_eq!(ticket_links(&old, t), vec![id]);
    assert!(old.contains("Mombasa transfer found") && !old.contains("Zanzibar transfer"));
}

#[tokio::test]
async fn paging_through_the_tickets_newest_first_shows_each_once_and_filters_hold() {
    let (app, b, t, _client) = synced().await;
    let all: BTreeSet<i64> = sqlx::query_as::<_, (i64,)>("SELECT id FROM fd_tickets")
        .fetch_all(&app.store.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|(id,)| id)
        .collect();

    // Every page, following the links.
    let mut seen = Vec::new();
    let mut path = Some(format!("/data/{}/tickets", t.integration_id));
    while let Some(p) = path {
        let page = app.page(&b, &p).await;
        seen.extend(ticket_links(&page, t));
        path = next_link(&page);
    }
    assert_eq!(seen.len(), all.len(), "no ticket twice");
    assert_eq!(seen.iter().copied().collect::<BTreeSet<_>>(), all);

    // A filter: only pending tickets, and all of them.
    let (pending,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM fd_tickets WHERE status = 3")
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
    assert!(pending > 0);
    let mut shown = 0;
    let mut path = Some(format!("/data/{}/tickets?status=3", t.integration_id));
    while let Some(p) = path {
        let page = app.page(&b, &p).await;
        shown += ticket_links(&page, t).len() as i64;
        assert!(!page.contains("<td>Open</td>"), "only pending tickets");
        path = next_link(&page);
    }
    assert_eq!(shown, pending);
}

#[tokio::test]
async fn contacts_companies_and_articles_are_listed_and_an_article_opens() {
    let (app, b, t, _client) = synced().await;
    for (listing, table) in [
        ("contacts", "fd_contacts"),
        ("companies", "fd_companies"),
        ("articles", "fd_articles"),
    ] {
        let page = app
            .page(&b, &format!("/data/{}/{listing}", t.integration_id))
            .await;
        let rows = page.matches("<tr").count() - 1;
        let held = app.count(table).await.min(50);
        assert!(held > 0, "{table} has rows");
        assert_eq!(rows as i64, held, "{listing}");
    }
    let (article, title): (i64, String) =
        sqlx::query_as("SELECT id, title FROM fd_articles LIMIT 1")
            .fetch_one(&app.store.pool)
            .await
            .unwrap();
    let page = app
        .page(
            &b,
            &format!("/data/{}/articles/{article}", t.integration_id),
        )
        .await;
    assert!(page.contains(&askama_escape(&title)), "{page}");
}

fn askama_escape(s: &str) -> String {
    s.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

#[tokio::test]
async fn bad_browser_input_is_refused_plainly_and_other_organisations_data_is_not_found() {
    let (app, b, t, _client) = synced().await;
    let id = t.integration_id;
    for (path, want) in [
        (
            format!("/data/{id}/tickets?status=abc"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/data/{id}/tickets?before=xyz"),
            StatusCode::BAD_REQUEST,
        ),
        (format!("/data/{id}/secrets"), StatusCode::NOT_FOUND),
        (
            format!("/data/{id}/tickets/999999999"),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/data/{}/tickets", id + 1000),
            StatusCode::NOT_FOUND,
        ),
    ] {
        app.expect_status(&b, &path, want).await;
    }
    let other = app.login("admin@other.test").await;
    app.expect_status(
        &other,
        &format!("/data/{id}/tickets"),
        StatusCode::NOT_FOUND,
    )
    .await;
    let r = app.get(&b, &format!("/data/{id}/tickets?status=abc")).await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("status must be chosen from the list")
    );
}
