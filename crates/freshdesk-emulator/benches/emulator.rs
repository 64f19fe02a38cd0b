//! Emulator benchmark: how long seeding takes, and how much CPU one 100-ticket page costs to serve.
//! Serving must never be the bottleneck of a sync benchmark, so the target is well under a
//! millisecond of CPU per page.
//!
//! Run: `cargo bench -p freshdesk-emulator --bench emulator` (add `-- --tickets 100000` to change
//! the size). It prints one line per measurement.

use std::time::Instant;

use freshdesk_emulator::api::query::Query;
use freshdesk_emulator::api::{Req, Route, dispatch_read, viewer};
use freshdesk_emulator::model::Plan;
use freshdesk_emulator::seed::{self, SeedConfig};

/// CPU time of the calling thread, in nanoseconds (Linux), falling back to wall time elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// The tickets list with this query, as the server would parse it.
fn tickets_request(raw: &str) -> Req<'_> {
    Req {
        method: "GET",
        path: "/api/v2/tickets",
        query: Query::parse(Some(raw)),
        origin: "https://acme.freshdesk.com".into(),
        authorization: None,
        accept: None,
        content_type: None,
        body: &[],
        now: 1_790_000_000,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let tickets = args
        .iter()
        .position(|a| a == "--tickets")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000usize);
    let cfg = SeedConfig {
        seed: 42,
        tickets,
        anchor: 1_790_000_000,
        plan: Plan::Unlimited,
        domain: "acme".into(),
        index: 0,
        corpus: freshdesk_emulator::Corpus::Templates,
    };

    let mut seed_times = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let d = seed::generate(&cfg);
        seed_times.push(started.elapsed().as_secs_f64());
        drop(d);
    }
    seed_times.sort_by(f64::total_cmp);
    let desk = seed::generate(&cfg);
    println!(
        "seed: {tickets} tickets, {} conversations, {} contacts in {:.3} s (median of 3; min {:.3} s)",
        desk.conversations.len(),
        desk.contacts.len(),
        seed_times[1],
        seed_times[0]
    );

    let admin = desk
        .agents
        .keys()
        .nth(seed::agents::INTEGRATION_ADMIN)
        .copied()
        .expect("admin");
    let v = viewer(&desk, admin).expect("viewer");
    let pages_total = tickets.div_ceil(100).min(300) as u32;
    // Touch every ticket once so that page faults from seeding are not billed to the first sample.
    std::hint::black_box(
        desk.tickets
            .values()
            .map(|t| t.subject.len())
            .sum::<usize>(),
    );
    for (label, include) in [
        ("plain", ""),
        (
            "include=requester,stats,description",
            "&include=requester,stats,description",
        ),
    ] {
        let mut cpu = Vec::new();
        let mut bytes = 0usize;
        // Random access: each page requested on its own, so earlier pages must be skipped.
        let samples = [1, pages_total / 2, pages_total].map(|p| p.max(1));
        for page in samples {
            let raw = format!(
                "order_by=updated_at&order_type=asc&updated_since=2000-01-01T00:00:00Z&per_page=100&page={page}{include}"
            );
            let iterations = 200;
            for _ in 0..20 {
                let req = tickets_request(&raw);
                std::hint::black_box(
                    dispatch_read(&desk, Route::Tickets, &req, &v).expect("warm-up"),
                );
            }
            let cpu_start = thread_cpu_ns();
            let wall_start = Instant::now();
            for _ in 0..iterations {
                let req = tickets_request(&raw);
                desk.page_cursors.lock().clear();
                let reply = dispatch_read(&desk, Route::Tickets, &req, &v).expect("page");
                bytes = reply.body.len();
                std::hint::black_box(reply);
            }
            let ns = match (cpu_start, thread_cpu_ns()) {
                (Some(a), Some(b)) => (b - a) as f64,
                _ => wall_start.elapsed().as_nanos() as f64,
            };
            cpu.push((page, ns / iterations as f64 / 1e6));
        }
        let shown: Vec<String> = cpu
            .iter()
            .map(|(p, ms)| format!("page {p}: {ms:.3} ms"))
            .collect();
        println!(
            "serve 100-ticket page ({label}, {bytes} bytes), random access: CPU per page {}",
            shown.join(", ")
        );

        // Sequential: pages 1..=300 in order, as every real client pages.
        let cpu_start = thread_cpu_ns();
        let wall_start = Instant::now();
        for page in 1..=pages_total {
            let raw = format!(
                "order_by=updated_at&order_type=asc&updated_since=2000-01-01T00:00:00Z&per_page=100&page={page}{include}"
            );
            let req = tickets_request(&raw);
            std::hint::black_box(dispatch_read(&desk, Route::Tickets, &req, &v).expect("page"));
        }
        let ns = match (cpu_start, thread_cpu_ns()) {
            (Some(a), Some(b)) => (b - a) as f64,
            _ => wall_start.elapsed().as_nanos() as f64,
        };
        println!(
            "serve 100-ticket page ({label}), sequential pages 1..={pages_total}: CPU per page {:.3} ms",
            ns / pages_total as f64 / 1e6
        );
    }
}
