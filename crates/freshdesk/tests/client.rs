//! The client against the emulator (and, for byte-level faults the emulator cannot make, a tiny
//! stub): every error variant, the connection check, paging across the wall, retries and pacing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use freshdesk::client::EmulatorRouting;
use freshdesk::paging::{self, TicketQuery};
use freshdesk::{ApiKey, Client, ClientConfig, Error, FreshdeskDomain, Priority, check_connection};
use freshdesk_emulator::{EmulatorConfig, RunningEmulator, TlsConfig, well_known};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// An Enterprise-plan emulator (700 calls a minute), as the connection check expects to report.
async fn emulator(tickets: usize) -> RunningEmulator {
    freshdesk_emulator::spawn(EmulatorConfig {
        tls: Some(TlsConfig { cert_dir: None }),
        tickets,
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator")
}

/// An unthrottled emulator, for tests that page a lot and are not about pacing.
async fn fast_emulator(tickets: usize) -> RunningEmulator {
    freshdesk_emulator::spawn(EmulatorConfig {
        tls: Some(TlsConfig { cert_dir: None }),
        tickets,
        plan: freshdesk_emulator::Plan::Unlimited,
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator")
}

fn config(emu: &RunningEmulator) -> ClientConfig {
    ClientConfig {
        backoff_base: Duration::from_millis(10),
        backoff_cap: Duration::from_millis(100),
        emulator: Some(EmulatorRouting {
            base_url: emu.base_url.parse().unwrap(),
            ca_pem: emu.ca_pem.clone(),
        }),
        ..ClientConfig::default()
    }
}

fn acme() -> FreshdeskDomain {
    FreshdeskDomain::parse("acme").unwrap()
}

fn key_of(emu: &RunningEmulator, who: usize) -> ApiKey {
    ApiKey::parse(&emu.agent(who).api_key).unwrap()
}

fn client(emu: &RunningEmulator) -> Client {
    Client::new(
        acme(),
        key_of(emu, well_known::INTEGRATION_ADMIN),
        &config(emu),
    )
    .unwrap()
}

async fn control(emu: &RunningEmulator, path: &str, body: Value) -> Value {
    emu.control()
        .call(reqwest::Method::POST, path, Some(body))
        .await
        .unwrap()
}

async fn export_live_ids(emu: &RunningEmulator) -> Vec<i64> {
    let v = emu.control().export(Some("tickets")).await.unwrap();
    let mut ids: Vec<i64> = v["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["spam"] == false && t["_emulator"]["trash"] == "live")
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids
}

#[test]
fn emulator_routing_is_off_by_default() {
    assert!(ClientConfig::default().emulator.is_none());
    assert!((ClientConfig::default().budget_share - 0.5).abs() < f64::EPSILON);
}

#[tokio::test]
async fn without_routing_a_loopback_answer_is_refused_before_dialling() {
    struct Loopback;
    impl freshdesk::net::Lookup for Loopback {
        fn lookup(
            &self,
            _host: String,
        ) -> futures_util::future::BoxFuture<'static, std::io::Result<Vec<std::net::IpAddr>>>
        {
            Box::pin(async { Ok(vec!["127.0.0.1".parse().unwrap()]) })
        }
    }
    let cfg = ClientConfig {
        max_retries: 0,
        ..ClientConfig::default()
    };
    let c = Client::with_lookup(
        acme(),
        ApiKey::parse("CANARY-key-1234").unwrap(),
        &cfg,
        Arc::new(Loopback),
    )
    .unwrap();
    let err = c.me(Priority::Interactive).await.unwrap_err();
    assert!(
        matches!(err, Error::BlockedAddress(ref h) if h == "acme.freshdesk.com"),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?} {c:?}").contains("CANARY"));
}

#[tokio::test]
async fn the_integration_admins_key_passes_the_check_with_a_full_report() {
    let emu = emulator(400).await;
    let report = check_connection(
        &acme(),
        &key_of(&emu, well_known::INTEGRATION_ADMIN),
        &config(&emu),
    )
    .await
    .unwrap();
    assert_eq!(report.account.domain, "acme.freshdesk.com");
    assert_eq!(report.account.plan, "Enterprise");
    assert_eq!(report.account.rate_limit_per_minute, Some(700));
    assert_eq!(
        report.agent.email.as_deref(),
        Some("integration@acme-support.example")
    );
    assert!(report.agent.is_admin);
    assert_eq!(report.agent.roles, vec!["Administrator".to_string()]);
    assert_eq!(report.agent.ticket_scope, "Global");
    assert!(report.visible_tickets.unwrap() > 300);
    assert!(
        report.capabilities.iter().all(|c| c.available),
        "{:?}",
        report.capabilities
    );
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

#[tokio::test]
async fn the_plain_agents_key_is_reported_as_not_an_admin_who_works_tickets() {
    let emu = emulator(400).await;
    let report = check_connection(
        &acme(),
        &key_of(&emu, well_known::PLAIN_AGENT),
        &config(&emu),
    )
    .await
    .unwrap();
    assert!(!report.agent.is_admin);
    assert!(!report.capability("read_admin_settings").unwrap().available);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.starts_with("Not an admin")),
        "{:?}",
        report.warnings
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("dedicated integration user")),
        "{:?}",
        report.warnings
    );
}

#[tokio::test]
async fn a_group_scoped_admin_is_warned_about_invisible_tickets() {
    let emu = emulator(400).await;
    let report = check_connection(
        &acme(),
        &key_of(&emu, well_known::GROUP_ADMIN),
        &config(&emu),
    )
    .await
    .unwrap();
    assert!(report.agent.is_admin);
    assert_eq!(
        report.agent.groups,
        vec!["Billing".to_string(), "Escalations EU".to_string()]
    );
    assert!(report.warnings.contains(&"Scope is Groups (Billing, Escalations EU): tickets outside these groups are invisible.".to_string()), "{:?}", report.warnings);
    let admin = check_connection(
        &acme(),
        &key_of(&emu, well_known::INTEGRATION_ADMIN),
        &config(&emu),
    )
    .await
    .unwrap();
    assert!(report.visible_tickets.unwrap() < admin.visible_tickets.unwrap());
}

#[tokio::test]
async fn each_broken_account_state_maps_to_its_own_error() {
    let emu = emulator(100).await;
    let cfg = config(&emu);
    let id = emu.agent(well_known::INTEGRATION_ADMIN).id;
    let check = |key: ApiKey| {
        let cfg = cfg.clone();
        async move { check_connection(&acme(), &key, &cfg).await }
    };
    assert!(matches!(
        check(ApiKey::parse("wrong-key-0000").unwrap()).await,
        Err(Error::InvalidCredentials)
    ));

    control(&emu, &format!("/_emulator/agents/{id}/suspend"), json!({})).await;
    assert!(matches!(
        check(key_of(&emu, well_known::INTEGRATION_ADMIN)).await,
        Err(Error::InvalidCredentials)
    ));
    control(&emu, &format!("/_emulator/agents/{id}/restore"), json!({})).await;

    control(&emu, &format!("/_emulator/agents/{id}/delete"), json!({})).await;
    assert!(matches!(
        check(key_of(&emu, well_known::INTEGRATION_ADMIN)).await,
        Err(Error::AccessDenied)
    ));
    control(&emu, &format!("/_emulator/agents/{id}/restore"), json!({})).await;

    control(&emu, &format!("/_emulator/agents/{id}/demote"), json!({})).await;
    let demoted = check(key_of(&emu, well_known::INTEGRATION_ADMIN))
        .await
        .unwrap();
    assert!(!demoted.agent.is_admin);
    control(&emu, &format!("/_emulator/agents/{id}/promote"), json!({})).await;

    control(&emu, "/_emulator/account/suspend", json!({})).await;
    assert!(matches!(
        check(key_of(&emu, well_known::INTEGRATION_ADMIN)).await,
        Err(Error::AccountSuspended)
    ));
    control(&emu, "/_emulator/account/restore", json!({})).await;

    let elsewhere = check_connection(
        &FreshdeskDomain::parse("nope").unwrap(),
        &key_of(&emu, well_known::INTEGRATION_ADMIN),
        &cfg,
    )
    .await;
    assert!(
        matches!(elsewhere, Err(Error::DomainNotFound)),
        "{elsewhere:?}"
    );

    control(&emu, "/_emulator/account/plan", json!({"plan": "growth"})).await;
    let c = client(&emu);
    let r = c
        .get::<Vec<Value>>("surveys/satisfaction_ratings", Priority::Interactive)
        .await;
    assert!(matches!(r, Err(Error::FeatureNotInPlan)), "{r:?}");
    let v = c
        .get::<Vec<Value>>("tickets?per_page=500", Priority::Interactive)
        .await;
    assert!(
        matches!(v, Err(Error::Validation { ref errors }) if errors[0].field == "per_page"),
        "{v:?}"
    );
    assert!(matches!(
        c.get::<Value>("tickets/999999", Priority::Interactive)
            .await,
        Err(Error::NotFound)
    ));
}

#[tokio::test]
async fn a_429_is_waited_out_for_retry_after_and_not_counted_as_a_failure() {
    let emu = emulator(100).await;
    let c = client(&emu);
    control(
        &emu,
        "/_emulator/faults",
        json!({"path_prefix": "/api/v2/agents/me", "kind": "status", "status": 429, "count": 1}),
    )
    .await;
    let started = std::time::Instant::now();
    c.me(Priority::Interactive).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert_eq!(c.governor().stats().throttled, 1);
}

#[tokio::test]
async fn transient_faults_are_retried_until_the_call_succeeds() {
    let emu = fast_emulator(100).await;
    let c = client(&emu);
    for (kind, status) in [
        ("status", Some(503)),
        ("status", Some(500)),
        ("reset", None),
        ("truncate", None),
        ("html", None),
    ] {
        let mut f = json!({"path_prefix": "/api/v2/contacts", "kind": kind, "count": 2});
        if let Some(s) = status {
            f["status"] = json!(s);
        }
        control(&emu, "/_emulator/faults", f).await;
        let page = c
            .get::<Vec<Value>>("contacts?per_page=5", Priority::Background)
            .await;
        assert_eq!(
            page.unwrap_or_else(|e| panic!("{kind}: {e:?}")).len(),
            5,
            "{kind}"
        );
    }
}

#[tokio::test]
async fn a_reply_slower_than_the_read_timeout_is_transient_once_retries_run_out() {
    let emu = emulator(100).await;
    let cfg = ClientConfig {
        read_timeout: Duration::from_millis(200),
        max_retries: 1,
        ..config(&emu)
    };
    let c = Client::new(acme(), key_of(&emu, well_known::INTEGRATION_ADMIN), &cfg).unwrap();
    control(
        &emu,
        "/_emulator/faults",
        json!({"path_prefix": "/api/v2/groups", "kind": "delay", "delay_ms": 1500, "count": 5}),
    )
    .await;
    let r = c.get::<Vec<Value>>("groups", Priority::Background).await;
    assert!(matches!(r, Err(Error::Transient(_))), "{r:?}");
}

#[tokio::test]
async fn the_tickets_stream_walks_past_300_pages_without_gaps_or_repeats() {
    let emu = fast_emulator(1_000).await;
    let c = client(&emu);
    let q = TicketQuery {
        per_page: 3,
        include: vec!["stats".into()],
        ..TicketQuery::since("2000-01-01T00:00:00Z".parse().unwrap())
    };
    let mut ids = Vec::new();
    let mut stream = Box::pin(paging::tickets(c.clone(), q, Priority::Background));
    while let Some(page) = stream.next().await {
        ids.extend(page.unwrap().into_iter().map(|r| r.value.id));
    }
    let want = export_live_ids(&emu).await;
    assert!(
        want.len() > 900,
        "the data must cross the wall at 3 per page"
    );
    let mut got = ids.clone();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), ids.len(), "no ticket was yielded twice");
    assert_eq!(got, want);
}

async fn control_put(emu: &RunningEmulator, id: i64, body: Value) {
    emu.control().update_ticket(id, body).await.unwrap();
}

#[tokio::test]
async fn tickets_edited_or_spammed_while_the_stream_pages_are_not_skipped() {
    let emu = fast_emulator(300).await;
    let c = client(&emu);
    let q = TicketQuery {
        per_page: 10,
        ..TicketQuery::since("2000-01-01T00:00:00Z".parse().unwrap())
    };
    let mut stream = Box::pin(paging::tickets(c.clone(), q, Priority::Background));
    let first = stream.next().await.unwrap().unwrap();
    let mut ids: Vec<i64> = first.iter().map(|r| r.value.id).collect();
    // Rows already read leave their place mid-walk: with offset paging every later row would
    // shift back and the walk would skip as many rows.
    control_put(&emu, ids[0], json!({"subject": "edited mid-walk"})).await;
    control_put(&emu, ids[1], json!({"spam": true})).await;
    control_put(&emu, ids[2], json!({"deleted": true})).await;
    while let Some(page) = stream.next().await {
        ids.extend(page.unwrap().into_iter().map(|r| r.value.id));
    }
    let mut want = export_live_ids(&emu).await;
    want.extend([ids[1], ids[2]]);
    want.sort();
    let mut got = ids.clone();
    got.sort();
    got.dedup();
    assert_eq!(got, want, "every ticket seen, none skipped");
}

#[tokio::test]
async fn a_tie_of_equal_updated_at_across_a_page_boundary_is_walked_once() {
    let emu = fast_emulator(200).await;
    let c = client(&emu);
    let ids = export_live_ids(&emu).await;
    // 25 tickets share one second, so the tie spans three pages of 10.
    for id in &ids[40..65] {
        control_put(&emu, *id, json!({"updated_at": "2029-06-01T12:00:00Z"})).await;
    }
    let q = TicketQuery {
        per_page: 10,
        ..TicketQuery::since("2000-01-01T00:00:00Z".parse().unwrap())
    };
    let mut seen = Vec::new();
    let mut stream = Box::pin(paging::tickets(c, q, Priority::Background));
    while let Some(page) = stream.next().await {
        seen.extend(page.unwrap().into_iter().map(|r| r.value.id));
    }
    let mut got = seen.clone();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), seen.len(), "no ticket was yielded twice");
    assert_eq!(got, ids);
}

#[tokio::test]
async fn a_tie_wider_than_the_wall_stops_with_an_error_instead_of_looping() {
    let emu = fast_emulator(320).await;
    let c = client(&emu);
    let ids = export_live_ids(&emu).await;
    for id in &ids {
        control_put(&emu, *id, json!({"updated_at": "2030-01-01T00:00:00Z"})).await;
    }
    let q = TicketQuery {
        per_page: 1,
        ..TicketQuery::since("2000-01-01T00:00:00Z".parse().unwrap())
    };
    let results: Vec<_> = paging::tickets(c, q, Priority::Background).collect().await;
    let yielded: usize = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(Vec::len)
        .sum();
    assert_eq!(yielded, 300);
    assert!(matches!(
        results.last(),
        Some(Err(Error::PagingStalled { .. }))
    ));
}

#[tokio::test]
async fn lists_follow_link_headers_and_search_stops_at_page_ten() {
    let emu = fast_emulator(2_000).await;
    let c = client(&emu);
    let mut contacts = 0;
    let mut pages = 0;
    let mut s = Box::pin(paging::pages::<freshdesk::models::Contact>(
        c.clone(),
        "contacts?per_page=40".into(),
        Priority::Background,
    ));
    while let Some(p) = s.next().await {
        contacts += p.unwrap().len();
        pages += 1;
    }
    assert!(pages > 2);
    assert_eq!(contacts, 245, "visible contacts");
    let results: Vec<_> =
        paging::search_tickets(c, "priority:>1 OR priority:1".into(), Priority::Background)
            .collect()
            .await;
    assert_eq!(results.len(), 10);
    assert_eq!(
        results
            .iter()
            .map(|r| r.as_ref().unwrap().len())
            .sum::<usize>(),
        300
    );
}

#[tokio::test]
async fn two_clients_of_one_account_share_a_governor() {
    let emu = emulator(100).await;
    let (a, b) = (client(&emu), client(&emu));
    assert!(Arc::ptr_eq(a.governor(), b.governor()));
    a.me(Priority::Interactive).await.unwrap();
    assert_eq!(b.governor().stats().limit, Some(700));
}

/// A loopback stub for what the emulator deliberately cannot do: redirects and huge bodies.
async fn stub(hits: Arc<AtomicUsize>) -> std::net::SocketAddr {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/api/v2/agents/me",
            get(|| async {
                (
                    axum::http::StatusCode::MOVED_PERMANENTLY,
                    [("location", "http://127.0.0.1:9/steal")],
                    "",
                )
            }),
        )
        .route(
            "/api/v2/tickets",
            get(|| async {
                (
                    [("content-type", "application/json")],
                    vec![b' '; 11 * 1024 * 1024],
                )
            }),
        )
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                let hits = hits.clone();
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    next.run(req).await
                }
            },
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn redirects_are_never_followed_and_oversized_replies_are_cut_off() {
    let hits = Arc::new(AtomicUsize::new(0));
    let addr = stub(hits.clone()).await;
    let cfg = ClientConfig {
        emulator: Some(EmulatorRouting {
            base_url: format!("http://{addr}").parse().unwrap(),
            ca_pem: None,
        }),
        max_retries: 0,
        ..ClientConfig::default()
    };
    let c = Client::new(acme(), ApiKey::parse("CANARY-redirect-key").unwrap(), &cfg).unwrap();
    let r = c.me(Priority::Interactive).await;
    assert!(
        matches!(r, Err(Error::Unexpected { status: 301, .. })),
        "{r:?}"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1, "no second request");
    let big = c.get::<Vec<Value>>("tickets", Priority::Interactive).await;
    assert!(matches!(big, Err(Error::TooLarge { .. })), "{big:?}");
}

#[tokio::test]
async fn a_reply_trickled_a_byte_a_second_ends_the_check_at_its_one_deadline_retries_included() {
    let emu = emulator(10).await;
    control(
        &emu,
        "/_emulator/faults",
        json!({"path_prefix": "/api/v2/agents/me", "kind": "trickle", "delay_ms": 200, "count": 100}),
    )
    .await;
    // Each attempt alone would take its full total timeout (never silent for the read timeout),
    // and four retries would multiply it; the check as a whole has one deadline.
    let cfg = ClientConfig {
        total_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(1),
        ..config(&emu)
    };
    let started = std::time::Instant::now();
    let r = check_connection(&acme(), &key_of(&emu, well_known::INTEGRATION_ADMIN), &cfg).await;
    assert!(matches!(r, Err(Error::Transient(_))), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "ended after {:?}, not after retries of a 2 s deadline",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_revoked_client_sends_nothing_more_and_abandons_what_is_in_flight() {
    let emu = emulator(10).await;
    control(
        &emu,
        "/_emulator/faults",
        json!({"path_prefix": "/api/v2/agents/me", "kind": "delay", "delay_ms": 3000, "count": 1}),
    )
    .await;
    let token = tokio_util::sync::CancellationToken::new();
    let c = client(&emu).with_revocation(token.clone());
    let in_flight = tokio::spawn({
        let c = c.clone();
        async move { c.me(Priority::Interactive).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    token.cancel();
    let r = in_flight.await.unwrap();
    assert!(matches!(r, Err(Error::Revoked)), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
    let before = logged_requests(&emu).await;
    assert!(matches!(
        c.me(Priority::Interactive).await,
        Err(Error::Revoked)
    ));
    let after = logged_requests(&emu).await;
    assert_eq!(before, after, "nothing was sent after the revocation");
}

async fn logged_requests(emu: &RunningEmulator) -> usize {
    emu.control().requests().await.unwrap().len()
}
