//! The foreground sync commands: `deskbridge sync` (a foreground run
//! under the same lease as the server's, with a progress display; Ctrl-C stops it cleanly) and
//! `deskbridge sync verify`.

use anyhow::Context;

use crate::app;
use crate::config::Config;
use crate::connections;
use crate::runtime;
use crate::sync::{self, SyncError, Target};

/// `verify`: None runs a sync; Some(None) verifies against the API; Some(Some(file)) against an
/// emulator export.
pub async fn sync(
    config: &Config,
    org: i64,
    integration: i64,
    verify: Option<Option<std::path::PathBuf>>,
) -> anyhow::Result<()> {
    let (store, vault) = app::open(config).await?;
    let fd = app::freshdesk_config(config)?;
    let i = connections::get(&store, org, integration)
        .await
        .context("no such integration in that organisation")?;
    // Through the same factory as the server's, so that a disconnect or re-authorize in the
    // server stops this process's calls with the old key too (the row's key generation).
    let t = Target {
        org_id: org,
        integration_id: integration,
    };
    let client = connections::Clients::new(store.clone(), vault, fd)
        .client_for(t)
        .await?;
    if let Some(export) = verify {
        let report = match export {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let export: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not JSON", path.display()))?;
                sync::verify::against_export(&store, t, &export).await?
            }
            None => sync::verify::against_api(&store, &client, t).await?,
        };
        for (stream, n) in &report.checked {
            println!("{stream}: {n} checked");
        }
        for m in report.mismatches.iter().take(50) {
            println!("MISMATCH {} {}: {}", m.stream, m.id, m.problem);
        }
        if report.ok() {
            println!("the local copy matches the source");
            return Ok(());
        }
        anyhow::bail!("{} records differ", report.mismatches.len());
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let cancel = tokio_util::sync::CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.cancel();
        }
    });
    let result = runtime::runs::execute(
        &store,
        &client,
        t,
        "cli",
        &runtime::runs::options(&config.sync),
        config.sync.lease_stale_secs as i64,
        cancel,
        |p| {
            let eta = p
                .eta_secs
                .map(|s| format!(", about {s} s left"))
                .unwrap_or_default();
            bar.set_message(format!(
                "{}: {} · {} tickets in {} pages, {} conversations ({} calls) · {} credits, {} in the last minute{}",
                p.phase,
                p.stream,
                p.tickets,
                p.pages,
                p.conversations,
                p.conversation_calls,
                p.credits,
                p.credits_last_minute,
                eta
            ))
        },
    )
    .await;
    match result {
        Ok((run, p)) => {
            bar.finish_with_message(format!(
                "run {run} done: {} tickets, {} conversations, {} credits",
                p.tickets, p.conversations, p.credits
            ));
            for (stream, reason) in &p.skipped {
                println!("skipped {stream}: {reason}");
            }
            Ok(())
        }
        Err(SyncError::AlreadyRunning) => {
            bar.abandon();
            anyhow::bail!(
                "a sync of this integration is already running (in the server or another command)"
            )
        }
        Err(e) => {
            bar.abandon();
            anyhow::bail!("{}", runtime::runs::describe(&e, &i.domain))
        }
    }
}
