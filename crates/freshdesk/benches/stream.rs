//! Client benchmark: stream every ticket of an unthrottled emulator with
//! `include=requester,stats,description`, and separately decode captured pages on one core.
//! Reports tickets per second and peak memory (VmHWM). Memory must stay flat as the ticket count
//! grows, because pages are streamed, not collected.
//!
//! Run: `cargo bench -p freshdesk --bench stream -- --tickets 100000`

use std::time::Instant;

use freshdesk::client::EmulatorRouting;
use freshdesk::models::{Record, Ticket};
use freshdesk::paging::{self, TicketQuery};
use freshdesk::{ApiKey, Client, ClientConfig, FreshdeskDomain, Priority};
use freshdesk_emulator::{EmulatorConfig, Plan, TlsConfig, well_known};
use futures_util::StreamExt;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tickets: usize = std::env::args()
        .skip_while(|a| a != "--tickets")
        .nth(1)
        .map_or(100_000, |v| v.parse().expect("--tickets takes a number"));
    let emu = freshdesk_emulator::spawn(EmulatorConfig {
        tls: Some(TlsConfig { cert_dir: None }),
        tickets,
        plan: Plan::Unlimited,
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator");
    let rss_after_seed = peak_rss_mb();
    let cfg = ClientConfig {
        emulator: Some(EmulatorRouting {
            base_url: emu.base_url.parse().unwrap(),
            ca_pem: emu.ca_pem.clone(),
        }),
        ..ClientConfig::default()
    };
    let client = Client::new(
        FreshdeskDomain::parse("acme").unwrap(),
        ApiKey::parse(&emu.agent(well_known::INTEGRATION_ADMIN).api_key).unwrap(),
        &cfg,
    )
    .unwrap();
    let q = TicketQuery {
        include: vec!["requester".into(), "stats".into(), "description".into()],
        ..TicketQuery::since("2000-01-01T00:00:00Z".parse().unwrap())
    };

    // End to end over HTTPS: emulator and client share this process and its two cores.
    let started = Instant::now();
    let mut n = 0usize;
    let mut pages = 0usize;
    let mut sample: Vec<Vec<u8>> = Vec::new();
    let mut stream = Box::pin(paging::tickets(client.clone(), q, Priority::Background));
    let mut first_page_at = None;
    while let Some(page) = stream.next().await {
        let page = page.expect("page");
        first_page_at.get_or_insert_with(|| started.elapsed());
        if sample.len() < 20 && page.len() == 100 {
            let raws: Vec<String> = page.iter().map(|r| r.raw.get().to_string()).collect();
            sample.push(format!("[{}]", raws.join(",")).into_bytes());
        }
        n += page.len();
        pages += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("first page after {:?}", first_page_at.unwrap_or_default());
    println!(
        "stream: {n} tickets in {pages} pages, {secs:.2} s, {:.0} tickets/s end to end (emulator in the same process)",
        n as f64 / secs
    );
    println!(
        "memory: peak RSS {:.1} MB (after seeding the emulator: {:.1} MB; the difference is the client's and the served pages')",
        peak_rss_mb(),
        rss_after_seed
    );

    // Decoding alone on one core: what the client costs per ticket.
    let rounds = 50;
    let cpu0 = thread_cpu_ns();
    let t0 = Instant::now();
    let mut decoded = 0usize;
    for _ in 0..rounds {
        for body in &sample {
            let raws: Vec<&serde_json::value::RawValue> = serde_json::from_slice(body).unwrap();
            for raw in raws {
                let r = Record::<Ticket>::parse(raw).unwrap();
                decoded += 1;
                std::hint::black_box(r);
            }
        }
    }
    let ns = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) => (b - a) as f64,
        _ => t0.elapsed().as_nanos() as f64,
    };
    println!(
        "decode: {decoded} tickets with requester, stats and description, {:.0} tickets/s on one core",
        decoded as f64 / (ns / 1e9)
    );
    emu.shutdown().await;
}
