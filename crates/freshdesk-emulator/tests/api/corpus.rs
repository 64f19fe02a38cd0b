//! `--corpus banking77`: tickets in real customers' words, the intent in the `cf_category`
//! dropdown on most resolved tickets, and nothing but the words carrying it.

use std::collections::{BTreeMap, BTreeSet};

use freshdesk_emulator::Corpus;
use freshdesk_emulator::corpus::{self, bank};
use serde_json::Value;

use crate::helpers::*;

async fn banking(tickets: usize) -> TestEmulator {
    spawn_with(Options {
        tickets,
        corpus: Corpus::Banking77,
        ..Options::default()
    })
    .await
}

/// The BANKING77 train message a ticket's description holds, with its intent's label.
fn train_message_of(ticket: &Value) -> Option<(&'static str, &'static str)> {
    let b = bank();
    let description = ticket["description_text"].as_str()?;
    b.train
        .iter()
        .filter(|m| description.contains(m.text.trim()))
        .max_by_key(|m| m.text.len())
        .map(|m| (m.text, b.labels[m.intent].as_str()))
}

#[tokio::test]
async fn tickets_are_written_in_banking77_train_messages_with_the_77_intents_as_categories() {
    let t = banking(600).await;
    let category = t.field("/api/v2/ticket_fields", "cf_category").await;
    let choices: BTreeSet<&str> = category["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let labels: BTreeSet<&str> = bank().labels.iter().map(String::as_str).collect();
    assert_eq!(choices, labels);
    let tickets = t.tickets().await;
    let mut seen = BTreeSet::new();
    let (mut resolved, mut right, mut unset) = (0, 0, 0);
    for tk in &tickets {
        let (text, label) = train_message_of(tk).expect("every description holds a train message");
        seen.insert(text);
        if matches!(tk["status"].as_i64(), Some(4 | 5)) {
            resolved += 1;
            match tk["custom_fields"]["cf_category"].as_str() {
                Some(c) if c == label => right += 1,
                None => unset += 1,
                Some(_) => {}
            }
        }
    }
    assert!(
        seen.len() > 590,
        "messages are not reused in a small desk: {}",
        seen.len()
    );
    assert!(resolved > 200, "{resolved}");
    let (right, unset) = (
        right as f64 / resolved as f64,
        unset as f64 / resolved as f64,
    );
    assert!(
        (0.8..0.95).contains(&right),
        "most resolved tickets hold the intent: {right}"
    );
    assert!(
        (0.02..0.15).contains(&unset),
        "some are left unset: {unset}"
    );
    let groups: BTreeSet<String> = t
        .list("/api/v2/groups")
        .await
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        groups.contains("Cards") && groups.contains("Transfers"),
        "{groups:?}"
    );
}

#[tokio::test]
async fn nothing_but_the_customers_words_carries_the_intent() {
    let t = banking(600).await;
    let export = t.export("tickets,conversations").await;
    let tickets = export["tickets"].as_array().unwrap();
    let neutral: BTreeSet<&str> = corpus::AGENT_REPLIES
        .iter()
        .chain(corpus::CUSTOMER_FOLLOWUPS)
        .copied()
        .collect();
    for c in export["conversations"].as_array().unwrap() {
        let body = c["body_text"].as_str().unwrap();
        assert!(neutral.contains(body) || c["private"] == true, "{body}");
    }
    let mut subjects_per_intent: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for tk in tickets {
        let (text, label) = train_message_of(tk).unwrap();
        let subject = tk["subject"].as_str().unwrap();
        let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let own_words = words.starts_with(subject.trim_end_matches('…'));
        subjects_per_intent
            .entry(label)
            .or_default()
            .insert(subject.to_string());
        assert!(
            own_words || subject.split_whitespace().count() <= 4,
            "{subject}"
        );
        let tags = tk["tags"].as_array().unwrap();
        assert!(tags.iter().all(|x| x == "vip"), "{tags:?}");
        assert!(tk["custom_fields"]["cf_order_number"].is_null());
    }
    // A neutral subject is shared across intents, so it says nothing about any one of them.
    let question = subjects_per_intent
        .values()
        .filter(|s| s.contains("Question"))
        .count();
    assert!(
        question > 20,
        "the neutral subject 'Question' spans {question} intents"
    );
}

#[tokio::test]
async fn the_template_corpus_is_still_the_default() {
    let t = spawn_tickets(50).await;
    let tickets = t.tickets().await;
    assert!(tickets.iter().all(|tk| train_message_of(tk).is_none()));
}

/// A plain bag-of-words model: multinomial naive Bayes over lower-cased words, add-one smoothing.
#[derive(Default)]
struct BagOfWords {
    words: BTreeMap<(String, String), f64>,
    per_label: BTreeMap<String, (f64, f64)>,
    vocabulary: BTreeSet<String>,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl BagOfWords {
    fn learn(&mut self, text: &str, label: &str) {
        let entry = self.per_label.entry(label.to_string()).or_default();
        entry.0 += 1.0;
        for w in words(text) {
            entry.1 += 1.0;
            *self
                .words
                .entry((label.to_string(), w.clone()))
                .or_default() += 1.0;
            self.vocabulary.insert(w);
        }
    }

    fn predict(&self, text: &str) -> &str {
        let docs: f64 = self.per_label.values().map(|(d, _)| d).sum();
        let v = self.vocabulary.len() as f64;
        let ws = words(text);
        let score = |label: &String, (d, n): &(f64, f64)| {
            (d / docs).ln()
                + ws.iter()
                    .map(|w| {
                        let c = self
                            .words
                            .get(&(label.clone(), w.clone()))
                            .copied()
                            .unwrap_or(0.0);
                        ((c + 1.0) / (n + v)).ln()
                    })
                    .sum::<f64>()
        };
        self.per_label
            .iter()
            .map(|(l, s)| (l, score(l, s)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(l, _)| l.as_str())
            .unwrap_or("")
    }
}

fn accuracy(model: &BagOfWords, cases: &[(String, String)]) -> f64 {
    let right = cases
        .iter()
        .filter(|(text, label)| model.predict(text) == label)
        .count();
    right as f64 / cases.len() as f64
}

/// The proof that the label is in the words only: a bag of words trained on the seeded history
/// (the categories people set) and tested on tickets the living help desk opened scores well
/// below 100%, and about what the same model scores on BANKING77's own split.
#[tokio::test]
async fn a_bag_of_words_scores_on_the_living_desk_about_what_it_scores_on_banking77_itself() {
    let b = bank();
    let mut reference = BagOfWords::default();
    for m in &b.train {
        reference.learn(m.text, &b.labels[m.intent]);
    }
    let test: Vec<(String, String)> = b
        .test
        .iter()
        .map(|m| (m.text.to_string(), b.labels[m.intent].clone()))
        .collect();
    let on_banking77 = accuracy(&reference, &test);

    let t = spawn_with(Options {
        tickets: b.train.len(),
        corpus: Corpus::Banking77,
        minute: std::time::Duration::from_secs(1),
        ..Options::default()
    })
    .await;
    let seeded = t.tickets().await;
    let mut from_history = BagOfWords::default();
    for tk in &seeded {
        if let Some(label) = tk["custom_fields"]["cf_category"].as_str() {
            from_history.learn(tk["description_text"].as_str().unwrap(), label);
        }
    }
    let config = serde_json::json!({"rate": 30000, "resolve_after_minutes": 60});
    t.control_json(reqwest::Method::POST, "/_emulator/live", config)
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let opened = loop {
        let all = t.tickets().await;
        let fresh: Vec<(String, String)> = all[seeded.len()..]
            .iter()
            .map(|tk| {
                let text = tk["description_text"].as_str().unwrap().to_string();
                (text, tk["_emulator"]["truth"].as_str().unwrap().to_string())
            })
            .collect();
        if fresh.len() >= 600 {
            break fresh;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "600 tickets opened: {}",
            fresh.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let on_the_desk = accuracy(&from_history, &opened);
    eprintln!(
        "bag of words: {on_banking77:.3} on BANKING77's test split, {on_the_desk:.3} on the living desk"
    );
    assert!(on_the_desk < 0.95, "well below 100%: {on_the_desk}");
    assert!(
        (on_the_desk - on_banking77).abs() < 0.10,
        "{on_the_desk} vs {on_banking77}"
    );
}
