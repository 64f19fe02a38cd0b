//! Running as several processes: `/metrics` with the numbers an operator watches (and only for
//! whom it should), a `deskbridge worker` process with its own health endpoint, and a worker
//! asked to stop (SIGTERM) that gives its running job back to the queue at once and exits within
//! its grace period, the job then finished by another worker.

use std::time::{Duration, Instant};

use freshdesk_emulator::Plan;
use freshdesk_emulator::control_client::LoggedRequest;
use serde_json::json;

use crate::helpers::{self, TestApp};

/// The value of the first sample of `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|want| l.contains(want)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn metrics(app: &TestApp, token: Option<&str>) -> (u16, String) {
    let mut req = app.http.get(format!("{}/metrics", app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn metrics_give_the_queue_the_sync_lag_the_credits_and_request_latency_by_route() {
    // Arrange: a synced integration, a page visited, one job waiting.
    let app = helpers::spawn_app_full(150, Plan::Unlimited, |c| c.jobs.worker = false).await;
    let (b, t) = app.connect_acme().await;
    let client = app.client(t).await;
    deskbridge::sync::run(&app.store, &client, t, |_| {})
        .await
        .unwrap();
    let id = t.integration_id;
    app.page(&b, &format!("/settings/integrations/{id}")).await;
    deskbridge::runtime::start_sync(&app.state.queue, t, "test")
        .await
        .unwrap();
    // The client goes; what its account spent still counts.
    drop(client);

    // Act
    let (status, text) = metrics(&app, None).await;

    // Assert
    assert_eq!(status, 200, "{text}");
    let queued = sample(
        &text,
        "deskbridge_jobs",
        &["kind=\"sync\"", "state=\"queued\""],
    );
    assert_eq!(queued, Some(1.0), "{text}");
    let integration = format!("integration=\"{id}\"");
    let lag = sample(&text, "deskbridge_sync_lag_seconds", &[&integration]).unwrap();
    assert!(lag >= 0.0, "{text}");
    let credits = sample(
        &text,
        "deskbridge_freshdesk_credits_total",
        &["account=\"acme\""],
    );
    assert!(credits.unwrap_or(0.0) > 0.0, "{text}");
    // By the route's pattern: no integration id in a label.
    let timed = sample(
        &text,
        "deskbridge_http_request_duration_seconds_count",
        &["route=\"/settings/integrations/{id}\"", "status=\"200\""],
    );
    assert_eq!(timed, Some(1.0), "{text}");
    assert!(sample(&text, "deskbridge_db_pool_connections", &["state=\"open\""]).is_some());
}

#[tokio::test]
async fn with_a_metrics_token_only_its_bearer_reads_the_metrics() {
    let app = helpers::spawn_app_full(10, Plan::Unlimited, |c| {
        c.server.metrics_token = Some(secrecy::SecretString::from("scrape-me-please"));
    })
    .await;
    assert_eq!(metrics(&app, None).await.0, 403);
    assert_eq!(metrics(&app, Some("scrape-me-not")).await.0, 403);
    let (status, text) = metrics(&app, Some("scrape-me-please")).await;
    assert_eq!(status, 200);
    assert!(!text.contains("scrape-me"), "the token never shows");
}

/// A `deskbridge worker` process on this test's database, its `/metrics` and `/healthz` on
/// `port`.
fn worker(app: &TestApp, port: u16, grace_secs: u64) -> std::process::Child {
    let env = [
        ("DESKBRIDGE_JOBS__LISTEN", format!("127.0.0.1:{port}")),
        (
            "DESKBRIDGE_JOBS__SHUTDOWN_GRACE_SECS",
            grace_secs.to_string(),
        ),
        ("DESKBRIDGE_SYNC__ENABLED", "false".to_string()),
    ];
    app.process(&["worker", "--workers", "2"], &env)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

// Multi-threaded: the worker process talks to the emulator served by this test's runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_asked_to_stop_gives_its_job_back_at_once_and_another_finishes_it() {
    // Arrange: this process runs no jobs; a worker process does, and every page of tickets is
    // slow, so its backfill is still running when it is asked to stop.
    let app = helpers::spawn_app_full(600, Plan::Unlimited, |c| c.jobs.worker = false).await;
    let (_, t) = app.connect_acme().await;
    let slow = json!({"path_prefix": "/api/v2/tickets", "kind": "delay", "delay_ms": 300, "count": 100000});
    app.control.add_fault(slow).await.unwrap();
    let port = free_port();
    let mut child = worker(&app, port, 2);
    let health = format!("http://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = app.http.get(&health).send().await {
            assert_eq!(r.status(), 200);
            break;
        }
        assert!(Instant::now() < deadline, "the worker answers /healthz");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    deskbridge::runtime::start_sync(&app.state.queue, t, "test")
        .await
        .unwrap();
    let job = || async {
        let row: (i64, String, Option<String>, i64) = sqlx::query_as(
            "SELECT id, state, lease_owner, attempts FROM jobs WHERE kind = 'sync' ORDER BY id DESC LIMIT 1",
        )
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
        row
    };
    while job().await.1 != "running" {
        assert!(Instant::now() < deadline, "the worker took the sync");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Act: SIGTERM.
    let asked = Instant::now();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(15),
            "the worker exits within its grace period"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // Assert: a clean exit, the job queued again with its attempt not counted, and another
    // worker finishes the backfill with nothing missing.
    assert!(status.success(), "{status:?}");
    let (_, state, owner, attempts) = job().await;
    assert_eq!((state.as_str(), owner), ("queued", None));
    assert_eq!(attempts, 0);
    app.control.clear_faults().await.unwrap();
    let other = deskbridge::jobs::Worker::new(
        app.state.queue.with_owner("other"),
        deskbridge::runtime::registry(&app.state.services()),
        1,
    );
    let ran = other.run_once().await.unwrap().expect("the sync was due");
    assert_eq!(ran.job.kind, "sync");
    let export = app.control.export(None).await.unwrap();
    let report = deskbridge::sync::verify::against_export(&app.store, t, &export)
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
}

// Multi-threaded: the sync processes talk to the emulator served by this test's runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_syncing_for_one_account_together_keep_to_its_budget_with_no_429() {
    if !on_postgres("two_processes_syncing_for_one_account_together_keep_to_its_budget_with_no_429")
    {
        return;
    }
    // Arrange: a Growth account (200 calls a window, a window of 4 s here) that two
    // organisations connected; each process may spend 90% of it, which one alone nearly fills.
    let app = helpers::spawn_app_emulating(
        |e| {
            e.tickets = 200;
            e.plan = Plan::Growth;
            e.minute = Duration::from_secs(4);
        },
        |c| {
            c.jobs.worker = false;
            c.freshdesk.rate_window_secs = 4;
            c.freshdesk.budget_share = 0.9;
        },
    )
    .await;
    for email in ["admin@acme.test", "admin@other.test"] {
        let b = app.login(email).await;
        let r = app.connect(&b, "acme", &app.admin_key()).await;
        assert!(r.status().is_redirection(), "{}", r.status());
    }
    let targets: Vec<(i64, i64)> =
        sqlx::query_as("SELECT org_id, id FROM integrations ORDER BY id")
            .fetch_all(&app.store.pool)
            .await
            .unwrap();
    assert_eq!(targets.len(), 2);
    let before = app.request_marker().await;

    // Act: both syncs at once, each in its own process.
    let children: Vec<std::process::Child> = targets
        .iter()
        .map(|(org, id)| {
            app.sync_command(deskbridge::sync::Target {
                org_id: *org,
                integration_id: *id,
            })
            .env("DESKBRIDGE_FRESHDESK__RATE_WINDOW_SECS", "4")
            .env("DESKBRIDGE_FRESHDESK__BUDGET_SHARE", "0.9")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Assert: many calls, and not one answered 429.
    let log = app
        .emulator(reqwest::Method::GET, "/_emulator/requests", None)
        .await;
    let calls: Vec<&serde_json::Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["seq"].as_u64().unwrap_or(0) > before)
        .collect();
    let throttled = calls.iter().filter(|r| r["status"] == 429).count();
    assert!(calls.len() > 400, "{} calls", calls.len());
    assert_eq!(throttled, 0, "429s among {} calls", calls.len());
}

/// Runs only on PostgreSQL (`TEST_DATABASE_URL`, as `.ci/run` sets it); says so elsewhere.
fn on_postgres(test: &str) -> bool {
    let yes = std::env::var("TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty());
    if !yes {
        eprintln!("{test}: skipped: needs PostgreSQL (TEST_DATABASE_URL; .ci/run sets it)");
    }
    yes
}

/// What a backfill of many help desks by worker processes measured.
struct Backfill {
    app: TestApp,
    targets: Vec<(deskbridge::sync::Target, String)>,
    seconds: f64,
    /// Peak resident memory of each worker process still alive at the end, in MiB.
    peaks_mib: Vec<f64>,
    /// CPU seconds spent while the workers ran: by the workers, by this process (the emulator
    /// and the test) and by PostgreSQL's processes (Linux; 0 when unknown).
    cpu: [f64; 3],
    /// The most database connections seen open while the workers ran (PostgreSQL).
    connections: i64,
    /// Seconds from queued to started of the incremental syncs queued during the backfill.
    probe_waits: Vec<i64>,
    /// Records the probe help desks held before the clock started.
    before: i64,
}

/// `desks` help desks of mixed sizes around `tickets`, each connected by its own organisation
/// and queued for its first sync at once, backfilled by `workers` worker processes (3 jobs each);
/// the first worker is killed (SIGKILL) midway when `kill_one`. The last `probes` help desks are
/// synced beforehand, and one of them is queued for an incremental sync every 2 s while the
/// others backfill.
async fn backfill(
    desks: usize,
    tickets: usize,
    (workers, kill_one): (usize, bool),
    probes: usize,
) -> Backfill {
    let app = helpers::spawn_app_emulating(
        |e| {
            e.accounts = desks;
            e.tickets = tickets;
            e.tickets_spread = 3.0;
            e.plan = Plan::Unlimited;
        },
        |c| c.jobs.worker = false,
    )
    .await;
    let mut targets = Vec::new();
    for (i, account) in app.emu.accounts().iter().enumerate() {
        let store = &app.store;
        let org = deskbridge::accounts::create_org(store, &format!("Org {i}"))
            .await
            .unwrap();
        let email = format!("admin{i}@orgs.test");
        let role = deskbridge::accounts::Role::Admin;
        deskbridge::accounts::create_user(store, org, &email, helpers::PASSWORD, role)
            .await
            .unwrap();
        let user = deskbridge::accounts::user_by_email(store, &email)
            .await
            .unwrap()
            .unwrap();
        let key = &account.agents[freshdesk_emulator::well_known::INTEGRATION_ADMIN].api_key;
        let clients = &app.state.clients;
        let (integration, _) =
            deskbridge::runtime::lifecycle::connect(clients, &user, &account.domain, key)
                .await
                .unwrap();
        let t = deskbridge::sync::Target {
            org_id: org,
            integration_id: integration.id,
        };
        targets.push((t, account.domain.clone()));
    }
    // The probes' first syncs run as jobs, as they would in service: their next ones are
    // incremental.
    let probing = &targets[targets.len() - probes..];
    for (t, _) in probing {
        deskbridge::runtime::start_sync(&app.state.queue, *t, "test")
            .await
            .unwrap();
    }
    let registry = deskbridge::runtime::registry(&app.state.services());
    let here = deskbridge::jobs::Worker::new(app.state.queue.clone(), registry, 1);
    while here.run_once().await.unwrap().is_some() {}
    let before = app.count("fd_tickets").await + app.count("fd_conversations").await;
    let (here_before, postgres_before) = (cpu_secs("self"), postgres_cpu_secs());
    let started = Instant::now();
    for (t, _) in &targets[..targets.len() - probes] {
        deskbridge::runtime::start_sync(&app.state.queue, *t, "test")
            .await
            .unwrap();
    }
    let mut probed: Vec<(i64, i64)> = Vec::new();
    let mut last_probe = Instant::now();
    let env = |port: u16| {
        [
            ("DESKBRIDGE_JOBS__LISTEN", format!("127.0.0.1:{port}")),
            ("DESKBRIDGE_JOBS__LEASE_SECS", "2".to_string()),
            ("DESKBRIDGE_SYNC__LEASE_STALE_SECS", "2".to_string()),
            ("DESKBRIDGE_SYNC__ENABLED", "false".to_string()),
        ]
    };
    let mut children: Vec<std::process::Child> = (0..workers)
        .map(|_| app.process(&["worker", "--workers", "3"], &env(free_port())))
        .collect();
    let synced = || async {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(DISTINCT integration_id) FROM sync_runs WHERE status = 'succeeded'",
        )
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
        n
    };
    let deadline = Instant::now() + Duration::from_secs(1800);
    if kill_one {
        while app.count("fd_tickets").await < (desks * tickets / 10) as i64 {
            assert!(Instant::now() < deadline, "the backfills started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut first = children.remove(0);
        let _ = first.kill();
        let _ = first.wait();
    }
    let mut connections = 0;
    while synced().await < targets.len() as i64 {
        assert!(
            Instant::now() < deadline,
            "{} of {desks} backfilled",
            synced().await
        );
        let open: Result<(i64,), _> = sqlx::query_as(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()",
        )
        .fetch_one(&app.store.pool)
        .await;
        connections = connections.max(open.map_or(0, |o| o.0));
        if !probing.is_empty() && last_probe.elapsed() >= Duration::from_secs(2) {
            last_probe = Instant::now();
            let (t, _) = &probing[probed.len() % probing.len()];
            let at = deskbridge::store::now();
            if deskbridge::runtime::start_sync(&app.state.queue, *t, "probe")
                .await
                .unwrap()
            {
                probed.push((t.integration_id, at));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut probe_waits = Vec::new();
    for (id, at) in &probed {
        let (first,): (Option<i64>,) = sqlx::query_as(
            "SELECT MIN(started_at) FROM sync_runs WHERE integration_id = $1 AND started_at >= $2",
        )
        .bind(id)
        .bind(at)
        .fetch_one(&app.store.pool)
        .await
        .unwrap();
        probe_waits.extend(first.map(|s| s - at));
    }
    let seconds = started.elapsed().as_secs_f64();
    let peaks_mib = children.iter().map(|c| peak_mib(c.id())).collect();
    let cpu = [
        children.iter().map(|c| cpu_secs(&c.id().to_string())).sum(),
        cpu_secs("self") - here_before,
        postgres_cpu_secs() - postgres_before,
    ];
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    Backfill {
        app,
        targets,
        seconds,
        peaks_mib,
        cpu,
        connections,
        probe_waits,
        before,
    }
}

/// The CPU seconds (user and system) a process has used, from `/proc/<pid>/stat` (Linux; 0 when
/// unknown). Clock ticks are 100 a second on Linux.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    fields.iter().sum::<f64>() / 100.0
}

/// The CPU seconds used so far by every process named `postgres` (the server and its backends;
/// backends that have exited are not counted).
fn postgres_cpu_secs() -> f64 {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|pid| pid.chars().all(|c| c.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(|pid| cpu_secs(&pid))
        .sum()
}

/// A process's peak resident memory in MiB (Linux), 0 when unknown.
fn peak_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

// Multi-threaded: the worker processes talk to the emulator served by this test's runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_worker_processes_backfill_thirty_help_desks_though_one_is_killed() {
    if !on_postgres("three_worker_processes_backfill_thirty_help_desks_though_one_is_killed") {
        return;
    }
    // Arrange, act: 30 help desks, three workers, the first killed midway.
    let Backfill { app, targets, .. } = backfill(30, 120, (3, true), 0).await;

    // Assert: every copy matches its help desk record by record, and the emulator's request
    // log shows each help desk's sync in one process at a time.
    for (t, domain) in &targets {
        let export = app.control.for_account(domain).export(None).await.unwrap();
        let report = deskbridge::sync::verify::against_export(&app.store, *t, &export)
            .await
            .unwrap();
        assert!(report.ok(), "{domain}: {report:?}");
        let (runs,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM sync_runs WHERE integration_id = $1")
                .bind(t.integration_id)
                .fetch_one(&app.store.pool)
                .await
                .unwrap();
        let log = app.control.for_account(domain).requests().await.unwrap();
        one_process_at_a_time(domain, &log, app.state.queue.owner(), runs as usize);
    }
    let taken_over = app.count("jobs WHERE kind = 'sync' AND attempts > 1").await;
    assert!(taken_over >= 1, "the killed worker's jobs were taken over");
}

/// Asserts, from one help desk's request log, that its sync ran in one worker process at a time:
/// no request of one process was in flight while another's was (arrival to answer, in wall-clock
/// milliseconds), and the requests changed hands between processes at most `runs - 1` times
/// (a run is one process's; a handover is a new run). The health check's calls and this test
/// process's own (`own`, the connect) are left out: they may rightly run beside a sync.
fn one_process_at_a_time(domain: &str, log: &[LoggedRequest], own: &str, runs: usize) {
    let mut syncing: Vec<_> = log
        .iter()
        .filter(|r| !matches!(r.path.as_str(), "/api/v2/agents/me" | "/api/v2/roles"))
        .filter_map(|r| Some((r.client.as_deref()?, r)))
        .filter(|(c, _)| c.contains("(worker-") && !c.contains(own))
        .collect();
    assert!(
        !syncing.is_empty(),
        "{domain}: the workers' requests are in the log"
    );
    syncing.sort_by_key(|(_, r)| (r.received_ms, r.seq));
    let mut last_answer: std::collections::HashMap<&str, (u64, u64)> = Default::default();
    for (client, r) in &syncing {
        for (other, (answered, seq)) in &last_answer {
            assert!(
                other == client || *answered <= r.received_ms,
                "{domain}: request {} from {client} arrived while {other}'s request {seq} was in flight",
                r.seq
            );
        }
        let e = last_answer.entry(client).or_insert((0, r.seq));
        if r.answered_ms >= e.0 {
            *e = (r.answered_ms, r.seq);
        }
    }
    let handovers = syncing.windows(2).filter(|w| w[0].0 != w[1].0).count();
    assert!(
        handovers < runs.max(1),
        "{domain}: the sync changed processes {handovers} times over {runs} runs"
    );
}

/// A request log of tickets pages from `(process, arrived, answered)` in milliseconds.
fn log_of(entries: &[(&str, u64, u64)]) -> Vec<LoggedRequest> {
    let entry =
        |(seq, &(client, received_ms, answered_ms)): (usize, &(&str, u64, u64))| LoggedRequest {
            seq: seq as u64 + 1,
            agent_id: Some(1),
            method: "GET".into(),
            path: "/api/v2/tickets".into(),
            client: Some(format!("deskbridge/0 ({client})")),
            received_ms,
            answered_ms,
        };
    entries.iter().enumerate().map(entry).collect()
}

#[test]
fn the_request_log_check_accepts_a_handover_between_runs() {
    let (a, b) = ("worker-a", "worker-b");
    let log = log_of(&[(a, 0, 10), (a, 10, 20), (b, 2020, 2030), (a, 2040, 2050)]);
    one_process_at_a_time("handover", &log, "worker-test", 3);
}

#[test]
#[should_panic(expected = "was in flight")]
fn the_request_log_check_catches_two_processes_in_flight_at_once() {
    let log = log_of(&[("worker-a", 0, 50), ("worker-b", 20, 30)]);
    one_process_at_a_time("overlap", &log, "worker-test", 2);
}

#[test]
#[should_panic(expected = "changed processes")]
fn the_request_log_check_catches_processes_taking_turns_within_one_run_each() {
    let (a, b) = ("worker-a", "worker-b");
    let log = log_of(&[(a, 0, 5), (b, 6, 10), (a, 11, 15), (b, 16, 20)]);
    one_process_at_a_time("turns", &log, "worker-test", 2);
}

/// A measurement, not a check (`scripts/bench-scale.sh` runs it in release on PostgreSQL):
/// `DESKS` help desks of mixed sizes around `TICKETS` tickets, backfilled by `WORKERS` worker
/// processes. Prints records per second, the p50/p99 wait from queued to started, Jain's
/// fairness index over the help desks' throughput, each worker's peak memory and the database
/// connections in use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_the_backfill_of_many_help_desks() {
    if !on_postgres("measure_the_backfill_of_many_help_desks") {
        return;
    }
    let var = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (desks, tickets, workers) = (var("DESKS", 200), var("TICKETS", 300), var("WORKERS", 1));
    let b = backfill(desks, tickets, (workers, false), 10).await;
    let pool = &b.app.store.pool;
    let records =
        b.app.count("fd_tickets").await + b.app.count("fd_conversations").await - b.before;
    // Per help desk: seconds from queued (all at once) to its first run's start, and its
    // records over the time to its finish.
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT r.integration_id, MIN(r.started_at), MAX(r.finished_at) FROM sync_runs r GROUP BY r.integration_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let (first_start, _): (i64, i64) =
        sqlx::query_as("SELECT MIN(started_at), MAX(finished_at) FROM sync_runs")
            .fetch_one(pool)
            .await
            .unwrap();
    let mut waits: Vec<i64> = rows.iter().map(|r| r.1 - first_start).collect();
    waits.sort_unstable();
    let at = |q: f64| waits[((waits.len() - 1) as f64 * q).round() as usize];
    let mut throughput = Vec::new();
    for (id, _, finished) in &rows {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM fd_tickets WHERE integration_id = $1")
                .bind(id)
                .fetch_one(pool)
                .await
                .unwrap();
        throughput.push(n as f64 / ((finished - first_start).max(1) as f64));
    }
    let sum: f64 = throughput.iter().sum();
    let squares: f64 = throughput.iter().map(|x| x * x).sum();
    let jain = sum * sum / (throughput.len() as f64 * squares);
    let connections = b.connections;
    let mut probes = b.probe_waits.clone();
    probes.sort_unstable();
    let probe = |q: f64| {
        probes
            .get(((probes.len().max(1) - 1) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(-1)
    };
    println!(
        "incremental syncs queued during the backfill: {} queued_to_started_p50_s={} p99_s={}",
        probes.len(),
        probe(0.5),
        probe(0.99)
    );
    println!(
        "desks={desks} workers={workers} records={records} seconds={:.1} records_per_s={:.0} wait_p50_s={} wait_p99_s={} fairness_jain={jain:.3} worker_peak_mib={:?} db_connections={connections} cpu_s_workers={:.1} cpu_s_emulator={:.1} cpu_s_postgres={:.1}",
        b.seconds,
        records as f64 / b.seconds,
        at(0.5),
        at(0.99),
        b.peaks_mib.iter().map(|m| m.round()).collect::<Vec<_>>(),
        b.cpu[0],
        b.cpu[1],
        b.cpu[2]
    );
    assert_eq!(rows.len(), b.targets.len());
}

/// A measurement, not a check (`scripts/bench-scale.sh` runs it in release on PostgreSQL): the
/// job queue alone. `JOBS` jobs (default 100,000) of 200 organisations queued, then 1, 4 and 16
/// claimers at once claim and finish jobs for five seconds each; claims per second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn measure_queue_claims() {
    if !on_postgres("measure_queue_claims") {
        return;
    }
    let app = helpers::spawn_app_full(10, Plan::Unlimited, |c| c.jobs.worker = false).await;
    let jobs: i64 = std::env::var("JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    // Queued in bulk, as rows like the queue's own (each organisation's spaced in fair order).
    sqlx::query(
        "INSERT INTO jobs (kind, org_id, integration_id, payload, priority, state, run_after, attempts, max_attempts, dedupe_running, created_at, updated_at, fair_at) \
         SELECT 'probe', n % 200, n % 200, '{}', 0, 'queued', 0, 0, 1, 1, 0, 0, (n / 200) * 1000 FROM generate_series(1, $1) AS n",
    )
    .bind(jobs)
    .execute(&app.store.pool)
    .await
    .unwrap();
    // What autovacuum does soon after a bulk load: the planner learns the table's size.
    let analyse = sqlx::query("ANALYZE jobs");
    analyse.execute(&app.store.pool).await.unwrap();
    for claimers in [1usize, 4, 16] {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let until = Instant::now() + Duration::from_secs(5);
        let mut tasks = Vec::new();
        for c in 0..claimers {
            let (q, done) = (app.state.queue.with_owner(&format!("c{c}")), done.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < until {
                    if let Some(job) = q.claim(&["probe"]).await.unwrap() {
                        q.finish(&job, &deskbridge::jobs::Finish::Succeeded)
                            .await
                            .unwrap();
                        done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let n = done.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "queued={jobs} claimers={claimers} claims_per_s={:.0}",
            n as f64 / 5.0
        );
    }
}

/// Each `Environment=` and the `ExecStart=` arguments of a systemd unit, `%i` as `instance`.
fn unit(path: &str, instance: &str) -> (Vec<(String, String)>, Vec<String>) {
    let text = std::fs::read_to_string(path).unwrap();
    let (mut env, mut exec) = (Vec::new(), Vec::new());
    for line in text.lines().map(|l| l.replace("%i", instance)) {
        if let Some(kv) = line.strip_prefix("Environment=") {
            let (k, v) = kv.split_once('=').unwrap();
            env.push((k.to_string(), v.to_string()));
        } else if let Some(cmd) = line.strip_prefix("ExecStart=") {
            exec = cmd.split_whitespace().map(str::to_string).collect();
        }
    }
    (env, exec)
}

#[test]
fn the_deployment_units_run_real_commands_with_settings_the_server_accepts() {
    use clap::Parser;
    use deskbridge::cli::Cli;
    use deskbridge::cli::args::Command;
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/systemd");
    let dir = std::env::temp_dir().join(format!("units-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, instance) in [
        ("deskbridge-web.service", ""),
        ("deskbridge-worker@.service", "9188"),
    ] {
        let (env, exec) = unit(&format!("{root}/{name}"), instance);
        // The command line is this binary's.
        let cli = Cli::try_parse_from(
            std::iter::once("deskbridge".to_string()).chain(exec.into_iter().skip(1)),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        match (name, &cli.command) {
            ("deskbridge-web.service", Command::Serve { workers: Some(0) }) => {}
            ("deskbridge-worker@.service", Command::Worker { .. }) => {}
            (n, c) => panic!("{n} runs {c:?}"),
        }
        // Every setting is one the configuration knows; secrets come from files.
        let mut vars = Vec::new();
        for (k, v) in env {
            if k == "DESKBRIDGE_CONFIG" {
                continue;
            }
            if k.ends_with("_FILE") {
                let file = dir.join(k.to_lowercase());
                let secret = if k.contains("MASTER_KEYS") {
                    deskbridge::vault::MasterKeys::generate(1)
                } else if k.contains("DATABASE") {
                    "postgres://deskbridge@db.internal/deskbridge".to_string()
                } else {
                    "a-metrics-token".to_string()
                };
                std::fs::write(&file, secret).unwrap();
                assert!(
                    v.starts_with("/etc/deskbridge/"),
                    "{name}: {k} in /etc/deskbridge"
                );
                vars.push((k, file.display().to_string()));
            } else {
                vars.push((k, v));
            }
        }
        let config = deskbridge::config::Config::load_from(None, vars)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        if name.starts_with("deskbridge-worker") {
            assert_eq!(config.jobs.listen.port(), 9188);
        }
        assert!(config.server.metrics_token.is_some(), "{name}");
    }
}
