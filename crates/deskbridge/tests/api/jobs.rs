//! The durable job queue through the real tables: dedupe, retry with back-off to a visible
//! `failed`, cancel, a stale owner's writes refused, and a sync whose worker died taken over by
//! another worker after the lease expired and finished once.

use std::time::{Duration, Instant};

use deskbridge::jobs::{Finish, JobState, NewJob, Queue, Worker};
use freshdesk_emulator::Plan;

use crate::helpers;

/// An app whose own worker is off, so the test's workers are the only ones.
async fn app_without_worker(lease_secs: u64) -> helpers::TestApp {
    helpers::spawn_app_full(600, Plan::Unlimited, |c| {
        c.jobs.worker = false;
        c.jobs.lease_secs = lease_secs;
        c.sync.lease_stale_secs = lease_secs;
    })
    .await
}

async fn tickets_held(app: &helpers::TestApp) -> i64 {
    app.count("fd_tickets").await
}

/// A job of organisation `org` (integration `org * 10`), of a kind only the tests claim.
fn probe(org: i64) -> NewJob {
    NewJob::new("probe").integration(org, org * 10)
}

fn queue(app: &helpers::TestApp, owner: &str) -> Queue {
    app.state.queue.with_owner(owner)
}

#[tokio::test]
async fn a_dedupe_key_names_at_most_one_live_job() {
    let app = app_without_worker(30).await;
    let q = queue(&app, "a");
    let job = || NewJob::new("probe").dedupe("probe:1");
    let first = q.enqueue(job()).await.unwrap();
    let second = q.enqueue(job()).await.unwrap();
    assert!(first.is_some());
    assert_eq!(second, None, "a live job already carries the key");
    let claimed = q.claim(&["probe"]).await.unwrap().expect("claimable");
    assert_eq!(q.enqueue(job()).await.unwrap(), None, "running is live too");
    assert!(q.finish(&claimed, &Finish::Succeeded).await.unwrap());
    assert!(
        q.enqueue(job()).await.unwrap().is_some(),
        "a finished job frees its key"
    );
}

#[tokio::test]
async fn a_failing_job_is_retried_with_back_off_then_stays_failed_with_its_reason() {
    let app = app_without_worker(30).await;
    let q = queue(&app, "a");
    q.enqueue(NewJob::new("flaky").max_attempts(2))
        .await
        .unwrap();
    let first = q.claim(&["flaky"]).await.unwrap().unwrap();
    let retry = Finish::Retry {
        error: "the far end said no".into(),
        after: Duration::from_millis(300),
    };
    q.finish(&first, &retry).await.unwrap();
    assert!(
        q.claim(&["flaky"]).await.unwrap().is_none(),
        "not due before its back-off"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    let second = q.claim(&["flaky"]).await.unwrap().expect("due again");
    assert_eq!(second.attempts, 2);
    q.finish(&second, &retry).await.unwrap();
    let jobs = deskbridge::jobs::queue::list_all(&app.store).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Failed);
    assert_eq!(jobs[0].attempts, 2);
    assert_eq!(jobs[0].last_error.as_deref(), Some("the far end said no"));
}

#[tokio::test]
async fn a_worker_whose_lease_expired_cannot_write_the_job_another_worker_took() {
    let app = app_without_worker(1).await;
    let (a, b) = (queue(&app, "a"), queue(&app, "b"));
    a.enqueue(NewJob::new("probe")).await.unwrap();
    let held_by_a = a.claim(&["probe"]).await.unwrap().unwrap();
    assert!(b.claim(&["probe"]).await.unwrap().is_none(), "leased to a");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let held_by_b = b.claim(&["probe"]).await.unwrap().expect("lease expired");
    assert_eq!(held_by_b.id, held_by_a.id);
    assert_eq!(
        a.heartbeat(&held_by_a).await.unwrap(),
        deskbridge::jobs::Beat::Lost
    );
    assert!(!a.finish(&held_by_a, &Finish::Succeeded).await.unwrap());
    assert!(b.finish(&held_by_b, &Finish::Succeeded).await.unwrap());
}

#[tokio::test]
async fn a_sync_whose_worker_died_is_taken_over_after_the_lease_and_done_once() {
    let app = app_without_worker(1).await;
    let (_, t) = app.connect_acme().await;
    // Slow enough that the first worker is killed mid-run.
    app.emulator(
        reqwest::Method::POST,
        "/_emulator/faults",
        Some(serde_json::json!({"path_prefix": "/api/v2/tickets/", "kind": "delay", "delay_ms": 20, "count": 100000})),
    )
    .await;
    assert!(
        deskbridge::runtime::start_sync(&app.state.queue, t, "test")
            .await
            .unwrap()
    );
    let registry = deskbridge::runtime::registry(&app.state.services());
    let first = Worker::new(queue(&app, "first"), registry.clone(), 1);
    let doomed = tokio::spawn(async move { first.run_once().await });
    let deadline = Instant::now() + Duration::from_secs(60);
    while tickets_held(&app).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the first worker started syncing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Killed: no cleanup, no finish; its lease and the sync lease simply stop being renewed.
    doomed.abort();
    app.emulator(reqwest::Method::DELETE, "/_emulator/faults", None)
        .await;
    let second = Worker::new(queue(&app, "second"), registry, 1);
    let ran = loop {
        if let Some(ran) = second.run_once().await.unwrap() {
            break ran;
        }
        assert!(Instant::now() < deadline, "the job became claimable again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ran.finish, Finish::Succeeded);
    assert!(ran.recorded);
    assert_eq!(
        ran.job.attempts, 2,
        "the dead worker's attempt and this one"
    );
    let jobs = deskbridge::jobs::queue::list_all(&app.store).await.unwrap();
    assert_eq!(jobs.len(), 1, "one job, not a second one");
    assert_eq!(jobs[0].state, JobState::Succeeded);
    let truth = app
        .control
        .export(Some(
            "tickets,conversations,contacts,companies,agents,groups",
        ))
        .await
        .unwrap();
    helpers::assert_copy_matches(&app, t, &truth).await;
    let runs: Vec<(String,)> = sqlx::query_as("SELECT status FROM sync_runs ORDER BY id")
        .fetch_all(&app.store.pool)
        .await
        .unwrap();
    let statuses: Vec<&str> = runs.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(statuses, ["interrupted", "succeeded"]);
}

#[tokio::test]
async fn disconnecting_cancels_the_queued_work_of_the_integration() {
    let app = app_without_worker(30).await;
    let (b, t) = app.connect_acme().await;
    let id = t.integration_id;
    assert!(
        deskbridge::runtime::start_sync(&app.state.queue, t, "test")
            .await
            .unwrap()
    );
    let r = app.disconnect(&b, id).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let jobs = deskbridge::jobs::queue::list_all(&app.store).await.unwrap();
    assert!(!jobs.is_empty());
    assert!(
        jobs.iter().all(|j| j.state == JobState::Cancelled),
        "{jobs:?}"
    );
}

#[tokio::test]
async fn a_failed_sync_job_shows_on_the_sync_page_and_in_the_api_from_the_table() {
    let app = helpers::spawn_app_full(50, Plan::Unlimited, |_| {}).await;
    let (b, t) = app.connect_acme().await;
    let id = t.integration_id;
    // Every ticket page is refused: the run fails at once, with the reason in plain words.
    app.emulator(
        reqwest::Method::POST,
        "/_emulator/faults",
        Some(serde_json::json!({"path_prefix": "/api/v2/tickets", "kind": "status", "status": 401, "count": 100000})),
    )
    .await;
    let r = app
        .post(&b, &format!("/settings/integrations/{id}/sync"), &[])
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let v: serde_json::Value = app
            .api_json(&b, &format!("/api/v1/integrations/{id}/sync"))
            .await;
        // The failed run also queued a health check (a 401 may mean a broken key): find the sync.
        let sync = v["jobs"]
            .as_array()
            .and_then(|jobs| jobs.iter().find(|j| j["kind"] == "sync"))
            .cloned();
        if let Some(job) = sync.filter(|j| j["state"] == "failed") {
            break job;
        }
        assert!(Instant::now() < deadline, "the job failed visibly: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(job["kind"], "sync");
    assert!(job["last_error"].as_str().unwrap().len() > 10, "{job}");
    let page = app
        .page(&b, &format!("/settings/integrations/{id}/sync"))
        .await;
    assert!(page.contains("Background jobs"));
    assert!(page.contains("<td>Sync</td><td>failed</td>"), "{page}");
}

#[tokio::test]
async fn within_a_priority_the_organisation_with_the_least_running_goes_first() {
    // Arrange: organisation 1 has one job running and two queued; organisation 2 queues one
    // later; a health-check-like job of organisation 1 has a higher priority.
    let app = app_without_worker(30).await;
    let q = queue(&app, "a");
    for _ in 0..3 {
        q.enqueue(probe(1)).await.unwrap();
    }
    let running = q.claim(&["probe"]).await.unwrap().unwrap();
    assert_eq!(running.org_id, Some(1));
    tokio::time::sleep(Duration::from_millis(5)).await;
    q.enqueue(probe(2)).await.unwrap();
    q.enqueue(probe(1).priority(5)).await.unwrap();

    // Act
    let order: Vec<(Option<i64>, i64)> = {
        let mut out = Vec::new();
        while let Some(j) = q.claim(&["probe"]).await.unwrap() {
            out.push((j.org_id, j.id));
        }
        out
    };

    // Assert: priority first; then organisation 2, though queued last; then 1's in due order.
    let orgs: Vec<Option<i64>> = order.iter().map(|o| o.0).collect();
    assert_eq!(orgs, [Some(1), Some(2), Some(1), Some(1)], "{order:?}");
    assert!(order[2].1 < order[3].1, "the longest due first");
}

#[tokio::test]
async fn an_organisation_that_queues_a_flood_of_jobs_is_served_in_turn_with_the_others() {
    // Arrange: organisation 1 queues 200 jobs at once, then organisations 2 and 3 one each
    // (beyond the 64 a claim chooses among, were the order first come, first served).
    let app = app_without_worker(30).await;
    let q = queue(&app, "a");
    let flood: Vec<NewJob> = (0..200).map(|_| probe(1)).collect();
    for job in flood {
        q.enqueue(job).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    for org in [2, 3] {
        q.enqueue(probe(org)).await.unwrap();
    }

    // Act: four claims, each finished before the next (one worker, one slot).
    let mut orgs = Vec::new();
    for _ in 0..4 {
        let j = q.claim(&["probe"]).await.unwrap().unwrap();
        orgs.push(j.org_id.unwrap());
        assert!(q.finish(&j, &Finish::Succeeded).await.unwrap());
    }

    // Assert: the other organisations' jobs are among the first claims, not the 201st and 202nd.
    assert!(orgs.contains(&2) && orgs.contains(&3), "{orgs:?}");
    assert_eq!(orgs[0], 1, "the first of the flood was queued first");
}

#[tokio::test]
async fn an_incremental_sync_starts_before_first_syncs_queued_ahead_of_it() {
    // Arrange: Acme's copy is complete once; Other Corp connects its own help desk, and its
    // first sync is queued before Acme's next (incremental) one.
    let app = helpers::spawn_app_emulating(
        |e| {
            e.accounts = 2;
            e.tickets = 30;
        },
        |c| c.jobs.worker = false,
    )
    .await;
    let (_, acme) = app.connect_acme().await;
    let worker = Worker::new(
        queue(&app, "w"),
        deskbridge::runtime::registry(&app.state.services()),
        1,
    );
    deskbridge::runtime::start_sync(&app.state.queue, acme, "test")
        .await
        .unwrap();
    let first = worker.run_once().await.unwrap().expect("Acme's first sync");
    assert_eq!(first.finish, Finish::Succeeded);
    let other_desk = &app.emu.accounts()[1];
    let other = app.login("admin@other.test").await;
    let key = &other_desk.agents[freshdesk_emulator::well_known::INTEGRATION_ADMIN].api_key;
    let r = app.connect(&other, &other_desk.domain, key).await;
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER, "connect");
    let (other_id,): (i64,) = sqlx::query_as("SELECT id FROM integrations WHERE id <> $1")
        .bind(acme.integration_id)
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
    let other_t = deskbridge::sync::Target {
        org_id: sqlx::query_as::<_, (i64,)>("SELECT org_id FROM integrations WHERE id = $1")
            .bind(other_id)
            .fetch_one(&app.store.pool)
            .await
            .unwrap()
            .0,
        integration_id: other_id,
    };
    deskbridge::runtime::start_sync(&app.state.queue, other_t, "test")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    deskbridge::runtime::start_sync(&app.state.queue, acme, "test")
        .await
        .unwrap();

    // Act
    let claimed = queue(&app, "a").claim(&["sync"]).await.unwrap().unwrap();
    let next = queue(&app, "a").claim(&["sync"]).await.unwrap().unwrap();

    // Assert: Acme's incremental first, though queued last; the first sync next.
    assert_eq!(claimed.integration_id, Some(acme.integration_id));
    assert_eq!(next.integration_id, Some(other_id));
}

#[tokio::test]
async fn a_long_backfill_yields_at_each_slice_and_finishes_across_turns_with_nothing_missing() {
    // Arrange: one-second slices, and the first pages slow enough to need several.
    let app = helpers::spawn_app_full(600, freshdesk_emulator::Plan::Unlimited, |c| {
        c.jobs.worker = false;
        c.sync.slice_secs = 1;
    })
    .await;
    let (_, t) = app.connect_acme().await;
    let slow = serde_json::json!({"path_prefix": "/api/v2/tickets", "kind": "delay", "delay_ms": 120, "count": 40});
    app.control.add_fault(slow).await.unwrap();
    deskbridge::runtime::start_sync(&app.state.queue, t, "test")
        .await
        .unwrap();
    let registry = deskbridge::runtime::registry(&app.state.services());
    let worker = Worker::new(queue(&app, "w"), registry, 1);

    // Act: the worker runs the job until it succeeds.
    let mut turns = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ran = worker.run_once().await.unwrap().expect("the sync is due");
        turns.push(ran.finish.clone());
        if ran.finish == Finish::Succeeded {
            break;
        }
        assert!(Instant::now() < deadline, "{turns:?}");
    }

    // Assert: it yielded (back to the queue, no attempt counted) before it finished, as one job,
    // and the copy matches the help desk record by record.
    assert!(turns.len() >= 2, "{turns:?}");
    assert!(
        turns[..turns.len() - 1]
            .iter()
            .all(|f| *f == Finish::Later(Duration::ZERO)),
        "{turns:?}"
    );
    let jobs = deskbridge::jobs::queue::list_all(&app.store).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].attempts, 1);
    let export = app.control.export(None).await.unwrap();
    let report = deskbridge::sync::verify::against_export(&app.store, t, &export)
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
}
