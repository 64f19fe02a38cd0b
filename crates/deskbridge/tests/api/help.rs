use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn the_guide_counts_helpful_votes_one_per_person() {
    let app = spawn_app().await;
    let a = app.login("admin@acme.test").await;
    let m = app.login("member@acme.test").await;
    assert!(
        app.page(&a, "/guide/freshdesk")
            .await
            .contains("0 out of 0 found this helpful")
    );
    assert_eq!(
        app.post(&a, "/guide/freshdesk/feedback", &[("helpful", "yes")])
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    app.post(&a, "/guide/freshdesk/feedback", &[("helpful", "yes")])
        .await;
    app.post(&m, "/guide/freshdesk/feedback", &[("helpful", "no")])
        .await;
    let page = app.page(&m, "/guide/freshdesk").await;
    assert!(page.contains("1 out of 2 found this helpful"), "{page}");
    assert!(page.contains("dedicated integration user"));
    assert_eq!(
        app.post(&a, "/guide/freshdesk/feedback", &[("helpful", "maybe")])
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn support_requests_are_stored_and_shown_to_the_organisations_admins_only() {
    let app = spawn_app().await;
    let m = app.login("member@acme.test").await;
    let page = app.page(&m, "/help").await;
    assert!(page.contains("Support is open now") || page.contains("Support is closed now"));
    let r = app
        .post(
            &m,
            "/help",
            &[
                ("subject", "Sync looks stuck"),
                ("message", "<script>alert(1)</script> since Monday"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        !r.text().await.unwrap().contains("Sync looks stuck"),
        "members do not see the list"
    );
    let empty = app
        .post(&m, "/help", &[("subject", " "), ("message", "x")])
        .await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let a = app.login("admin@acme.test").await;
    let page = app.page(&a, "/help").await;
    assert!(page.contains("Sync looks stuck") && page.contains("member@acme.test"));
    assert!(
        page.contains("alert(1)") && !page.contains("<script>alert"),
        "escaped"
    );
    let other = app.login("admin@other.test").await;
    assert!(!app.page(&other, "/help").await.contains("Sync looks stuck"));
}
