use std::time::Duration;

use freshdesk_emulator::Plan;

use crate::helpers::*;

#[tokio::test]
async fn every_reply_carries_the_rate_headers_and_includes_cost_credits() {
    let t = spawn_plan(Plan::Enterprise, Duration::from_secs(60)).await;
    let r = t
        .get("/api/v2/tickets?include=requester,stats,description")
        .await;
    assert_eq!(header(&r, "x-ratelimit-total").as_deref(), Some("700"));
    assert_eq!(
        header(&r, "x-ratelimit-used-currentrequest").as_deref(),
        Some("5")
    );
    assert_eq!(header(&r, "x-ratelimit-remaining").as_deref(), Some("695"));
    let id = json(r).await[0]["id"].clone();
    let r = t
        .get(&format!("/api/v2/tickets/{id}?include=conversations"))
        .await;
    assert_eq!(
        header(&r, "x-ratelimit-used-currentrequest").as_deref(),
        Some("2")
    );
    let r = t.get_as("/api/v2/tickets", "bad-key").await;
    assert_eq!(r.status(), 401);
    assert_eq!(header(&r, "x-ratelimit-remaining").as_deref(), Some("692"));
}

#[tokio::test]
async fn exceeding_the_plan_gives_429_with_retry_after_and_no_rate_headers() {
    let t = spawn_plan(Plan::Trial, Duration::from_secs(30)).await;
    for _ in 0..50 {
        assert_eq!(t.get("/api/v2/agents/me").await.status(), 200);
    }
    let r = t.get("/api/v2/agents/me").await;
    assert_eq!(r.status(), 429);
    let retry: u64 = header(&r, "retry-after").unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert!(r.headers().get("x-ratelimit-total").is_none());
    assert!(r.headers().get("x-freshdesk-api-version").is_none());
    assert_eq!(
        r.text().await.unwrap(),
        r#"{"message":"You have exceeded the limit of requests per minute"}"#
    );
}

#[tokio::test]
async fn the_window_reopens_after_retry_after() {
    let t = spawn_plan(Plan::Trial, Duration::from_secs(2)).await;
    let mut throttled = None;
    for _ in 0..60 {
        let r = t.get("/api/v2/agents/me").await;
        if r.status() == 429 {
            throttled = Some(header(&r, "retry-after").unwrap().parse::<u64>().unwrap());
            break;
        }
    }
    let wait = throttled.expect("the 51st call is throttled");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(t.get("/api/v2/agents/me").await.status(), 200);
}

#[tokio::test]
async fn the_tickets_list_has_its_own_sub_limit() {
    let t = spawn_plan(Plan::Growth, Duration::from_secs(60)).await;
    for _ in 0..20 {
        assert_eq!(t.get("/api/v2/tickets").await.status(), 200);
    }
    assert_eq!(t.get("/api/v2/tickets").await.status(), 429);
    // Other endpoints still have account budget left.
    assert_eq!(t.get("/api/v2/agents/me").await.status(), 200);
}
