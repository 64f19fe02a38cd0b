//! `triage-eval`: trains on a CSV of labelled texts and scores on another, the way the Triage
//! product trains on a help desk's history. Few-shot runs (`--shots K --seeds N`) sample K
//! examples of every value per seed. With `--val` and `--abstain-label`, texts of that label are
//! "none of the above": left out of training, and the abstention threshold is chosen on the
//! validation file. The last line is the one to compare:
//! `accuracy=… macro_f1=… train_s=… predict_p99_ms=… classes=… train_n=… test_n=…`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use triage::eval::{self, Point};
use triage::{Config, Model, train};

#[derive(Parser)]
#[command(
    about = "Train and evaluate a Triage classifier on CSV files with a header text,category"
)]
struct Args {
    #[arg(long)]
    train: PathBuf,
    #[arg(long)]
    test: PathBuf,
    /// Labelled texts to choose the abstention threshold on.
    #[arg(long)]
    val: Option<PathBuf>,
    /// The label meaning "none of the above" (CLINC150's `oos`).
    #[arg(long)]
    abstain_label: Option<String>,
    /// Examples per value to train on (all when absent).
    #[arg(long)]
    shots: Option<usize>,
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    l2: Option<f32>,
    #[arg(long)]
    learning_rate: Option<f32>,
    #[arg(long)]
    min_df: Option<u32>,
    #[arg(long)]
    balanced: bool,
    /// Where to write the (last) model.
    #[arg(long)]
    save: Option<PathBuf>,
}

fn read(path: &PathBuf) -> anyhow::Result<Vec<(String, String)>> {
    let mut r = csv::Reader::from_path(path).with_context(|| format!("{}", path.display()))?;
    let headers = r.headers()?.clone();
    if headers.iter().collect::<Vec<_>>() != ["text", "category"] {
        bail!("{}: the header must be text,category", path.display());
    }
    let mut out = Vec::new();
    for row in r.records() {
        let row = row?;
        out.push((row[0].to_string(), row[1].to_string()));
    }
    Ok(out)
}

/// K examples of every value, chosen by the seed (every example of a value with fewer).
fn sample(rows: &[(String, String)], k: usize, seed: u64) -> Vec<(String, String)> {
    let mut by: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (i, (_, l)) in rows.iter().enumerate() {
        by.entry(l).or_default().push(i);
    }
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::new();
    for idx in by.values_mut() {
        for i in (1..idx.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            idx.swap(i, (state % (i as u64 + 1)) as usize);
        }
        out.extend(idx.iter().take(k).map(|i| rows[*i].clone()));
    }
    out
}

/// The threshold that maximises accuracy on the validation file with "none of the above" as one
/// more value: an in-scope text is right when answered with its value, an out-of-scope one when
/// the model abstains (Larson et al.'s way of choosing it).
fn choose_threshold(model: &Model, val: &[(String, String)], none: &str) -> f32 {
    let scored: Vec<(f32, bool, bool)> = val
        .iter()
        .map(|(t, l)| {
            let p = model.predict(t, 0.0);
            (
                p.confidence(),
                l == none,
                p.top.first().is_some_and(|(b, _)| b == l),
            )
        })
        .collect();
    let mut candidates: Vec<f32> = scored.iter().map(|s| s.0).collect();
    candidates.sort_by(f32::total_cmp);
    candidates.dedup();
    let mut best = (0.0f32, f32::MIN);
    for th in candidates {
        let right = scored
            .iter()
            .filter(|s| if s.1 { s.0 < th } else { s.2 && s.0 >= th })
            .count();
        let objective = right as f32 / scored.len().max(1) as f32;
        if objective > best.1 {
            best = (th, objective);
        }
    }
    best.0
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let mut cfg = Config::default();
    cfg.epochs = a.epochs.unwrap_or(cfg.epochs);
    cfg.l2 = a.l2.unwrap_or(cfg.l2);
    cfg.learning_rate = a.learning_rate.unwrap_or(cfg.learning_rate);
    cfg.min_df = a
        .min_df
        .unwrap_or(if a.shots.is_some() { 1 } else { cfg.min_df });
    cfg.balanced = a.balanced;
    let none = a.abstain_label.clone();
    let keep = |rows: Vec<(String, String)>| -> Vec<(String, String)> {
        rows.into_iter()
            .filter(|(_, l)| Some(l) != none.as_ref())
            .collect()
    };
    let all_train = keep(read(&a.train)?);
    let test = read(&a.test)?;
    let val = a.val.as_ref().map(read).transpose()?;
    let (mut accs, mut f1s, mut recalls, mut train_s, mut p99s) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for seed in 0..a.seeds {
        cfg.seed = 7 + seed;
        let rows = match a.shots {
            Some(k) => sample(&all_train, k, seed),
            None => all_train.clone(),
        };
        let started = Instant::now();
        let model = train(&rows, &cfg)?;
        train_s.push(started.elapsed().as_secs_f64());
        let threshold = match (&val, &none) {
            (Some(v), Some(n)) => choose_threshold(&model, v, n),
            _ => 0.0,
        };
        let mut times = Vec::with_capacity(test.len());
        let mut guesses = Vec::with_capacity(test.len());
        for (t, _) in &test {
            let started = Instant::now();
            let p = model.predict(t, threshold);
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            guesses.push(p);
        }
        times.sort_by(f64::total_cmp);
        p99s.push(times[(times.len() as f64 * 0.99) as usize].min(times[times.len() - 1]));
        // In-scope rows: right only when answered with the true value.
        let inside: Vec<(Option<usize>, (usize, f32))> = test
            .iter()
            .zip(&guesses)
            .filter(|((_, l), _)| Some(l) != none.as_ref())
            .map(|((_, l), p)| {
                let truth = model.labels.iter().position(|x| x == l);
                let guess = match p.label() {
                    Some(g) => model.labels.iter().position(|x| x == g).unwrap_or(0),
                    // An abstention is never right: point it at a value it is not.
                    None => truth.map_or(0, |t| (t + 1) % model.labels.len()),
                };
                (truth, (guess, p.confidence()))
            })
            .collect();
        let (truth, g): (Vec<_>, Vec<_>) = inside.into_iter().unzip();
        let report = eval::score(&model.labels, &truth, &g);
        accs.push(report.accuracy as f64);
        f1s.push(report.macro_f1 as f64);
        if let Some(n) = &none {
            let out: Vec<bool> = test
                .iter()
                .zip(&guesses)
                .filter(|((_, l), _)| l == n)
                .map(|(_, p)| p.abstain.is_some())
                .collect();
            recalls.push(out.iter().filter(|x| **x).count() as f64 / out.len().max(1) as f64);
        }
        println!(
            "seed={} accuracy={:.4} macro_f1={:.4} train_s={:.2} threshold={threshold:.3} dims={} train_n={}",
            cfg.seed,
            report.accuracy,
            report.macro_f1,
            train_s.last().unwrap(),
            model.dimensions(),
            rows.len()
        );
        if a.seeds == 1 {
            if let Some(p) = eval::threshold_for(&report.curve, 0.9) {
                let Point {
                    threshold,
                    coverage,
                    ..
                } = p;
                println!("precision 90% at threshold {threshold:.3}: coverage {coverage:.3}");
            }
            for (t, g, n) in report.confused.iter().take(5) {
                println!("confused: {t} -> {g} ({n})");
            }
        }
        last = Some((model, rows.len()));
    }
    let (model, train_n) = last.expect("at least one seed");
    let bytes = model.to_bytes();
    if let Some(path) = &a.save {
        std::fs::write(path, &bytes)?;
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let sd = |v: &[f64]| {
        let m = mean(v);
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len().max(1) as f64).sqrt()
    };
    let mut line = format!(
        "accuracy={:.4} macro_f1={:.4} train_s={:.2} predict_p99_ms={:.3} classes={} train_n={} test_n={} model_mb={:.2}",
        mean(&accs),
        mean(&f1s),
        mean(&train_s),
        mean(&p99s),
        model.labels.len(),
        train_n,
        test.len(),
        bytes.len() as f64 / 1e6
    );
    if a.seeds > 1 {
        line.push_str(&format!(" accuracy_sd={:.4} seeds={}", sd(&accs), a.seeds));
    }
    if !recalls.is_empty() {
        line.push_str(&format!(" abstain_recall={:.4}", mean(&recalls)));
    }
    println!("{line}");
    Ok(())
}
