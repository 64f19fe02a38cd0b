//! Where the customers' words come from. `templates` (the default) writes tickets from the
//! emulator's own shop-support templates, whose category shows in every sentence; `banking77`
//! takes each ticket's message from BANKING77 (real customer messages to a bank, 77 intents; CC BY
//! 4.0, see `data/banking77/README.md`): the seeded history from the train split, the living help
//! desk's new tickets from the test split. With `banking77` nothing but the customer's words
//! carries the intent: subjects are neutral or the message's own first words, greetings and
//! signatures are drawn without regard to it, and agents' replies are the same for every intent.
//! The metadata people set (category, group, priority, type) follows the intent by fixed,
//! imperfect rules.

use std::sync::OnceLock;

use crate::util::Rng;

/// Which words tickets are written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Corpus {
    #[default]
    Templates,
    Banking77,
}

impl Corpus {
    pub fn parse(s: &str) -> Option<Corpus> {
        match s {
            "templates" => Some(Corpus::Templates),
            "banking77" => Some(Corpus::Banking77),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Corpus::Templates => "templates",
            Corpus::Banking77 => "banking77",
        }
    }
}

/// One labelled customer message.
#[derive(Clone, Copy, Debug)]
pub struct Message {
    pub text: &'static str,
    /// Index into [`Bank::intents`].
    pub intent: usize,
}

/// BANKING77, parsed once from the copy compiled into the emulator.
pub struct Bank {
    /// The 77 intent names as the data spells them (`card_arrival`).
    pub intents: Vec<String>,
    /// Each intent as the `cf_category` dropdown shows it (`Card arrival`).
    pub labels: Vec<String>,
    pub train: Vec<Message>,
    pub test: Vec<Message>,
}

const TRAIN: &str = include_str!("../data/banking77/train.csv");
const TEST: &str = include_str!("../data/banking77/test.csv");
const CATEGORIES: &str = include_str!("../data/banking77/categories.json");

/// The parsed corpus. The data is compiled in and checked by a test, so a parse failure here is
/// a build defect, not an input error.
pub fn bank() -> &'static Bank {
    static BANK: OnceLock<Bank> = OnceLock::new();
    BANK.get_or_init(|| {
        let intents: Vec<String> =
            serde_json::from_str(CATEGORIES).expect("categories.json is a list of names");
        let labels = intents.iter().map(|i| label_of(i)).collect();
        let index = |name: &str| {
            intents
                .iter()
                .position(|i| i == name)
                .unwrap_or_else(|| panic!("{name} is not among the 77 intents"))
        };
        let read = |csv_text: &'static str| -> Vec<Message> {
            let mut rows = csv::ReaderBuilder::new()
                .has_headers(true)
                .from_reader(csv_text.as_bytes());
            let mut out = Vec::new();
            let mut record = csv::StringRecord::new();
            while rows.read_record(&mut record).expect("BANKING77 CSV parses") {
                let intent = index(record.get(1).expect("category column"));
                // Parsed once per process and kept for its life (about 1 MB).
                let text: &'static str = Box::leak(
                    record
                        .get(0)
                        .expect("text column")
                        .to_string()
                        .into_boxed_str(),
                );
                out.push(Message { text, intent });
            }
            out
        };
        Bank {
            train: read(TRAIN),
            test: read(TEST),
            intents,
            labels,
        }
    })
}

/// `card_arrival` → `Card arrival`; `Refund_not_showing_up` → `Refund not showing up`;
/// `reverted_card_payment?` → `Reverted card payment`.
fn label_of(intent: &str) -> String {
    let words = intent
        .trim_end_matches('?')
        .replace('_', " ")
        .to_lowercase();
    let mut c = words.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The seeded groups under `banking77`, in the order of the template groups they stand in for
/// (agents' group memberships are by position).
pub const BANK_GROUPS: &[(&str, &str)] = &[
    (
        "Payments & Fees",
        "Charges, refunds, exchange rates and statements",
    ),
    ("Cards", "Card delivery, activation, PINs and card payments"),
    ("Transfers", "Sending and receiving money"),
    (
        "Account & Security",
        "Identity checks, access and lost devices",
    ),
    (
        "Escalations EU",
        "Escalated and complaint tickets for Europe",
    ),
    ("Top-ups & Cash", "Top-ups, cash withdrawals and deposits"),
];

/// The group (an index into [`BANK_GROUPS`]) that handles an intent: a fixed mapping by the
/// words of its name, first match wins.
pub fn group_of(intent: &str) -> usize {
    let has = |words: &[&str]| words.iter().any(|w| intent.contains(w));
    if has(&["top_up", "cash", "atm", "cheque"]) {
        5
    } else if has(&["transfer", "beneficiary", "receiving_money"]) {
        2
    } else if has(&[
        "verify",
        "identity",
        "passcode",
        "personal",
        "terminate",
        "phone",
        "age_limit",
        "compromised",
    ]) {
        3
    } else if has(&[
        "fee",
        "charge",
        "refund",
        "exchange",
        "debit",
        "statement",
        "twice",
    ]) {
        0
    } else if has(&["card", "pin", "contactless", "pay", "visa"]) {
        1
    } else {
        0
    }
}

/// Intents a person would treat as urgent: money or a card possibly in the wrong hands.
fn urgent(intent: &str) -> bool {
    [
        "lost_or_stolen_card",
        "compromised_card",
        "lost_or_stolen_phone",
        "card_swallowed",
        "transaction_charged_twice",
        "cash_withdrawal_not_recognised",
        "card_payment_not_recognised",
        "direct_debit_payment_not_recognised",
    ]
    .contains(&intent)
}

/// Intents about something that went wrong, rather than a question.
fn problem(intent: &str) -> bool {
    [
        "declined",
        "failed",
        "pending",
        "not_working",
        "not_received",
        "wrong",
        "reverted",
        "not_showing",
        "not_updated",
        "blocked",
        "unable",
    ]
    .iter()
    .any(|w| intent.contains(w))
}

/// Priority (1–4) as people set it: mostly by how urgent the intent is, with noise.
pub fn priority_for(intent: &str, rng: &mut Rng) -> i64 {
    let weights: &[u32] = if urgent(intent) {
        &[5, 20, 55, 20]
    } else if problem(intent) {
        &[25, 50, 22, 3]
    } else {
        &[55, 35, 9, 1]
    };
    [1, 2, 3, 4][rng.weighted(weights)]
}

/// Ticket type as people set it: by the intent's kind, one time in seven something else.
pub fn type_for(intent: &str, rng: &mut Rng) -> &'static str {
    const TYPES: [&str; 3] = ["Question", "Problem", "Incident"];
    if rng.chance(1.0 / 7.0) {
        return rng.pick(&TYPES);
    }
    if urgent(intent) {
        "Incident"
    } else if problem(intent) {
        "Problem"
    } else {
        "Question"
    }
}

/// Subjects that say nothing about the intent.
const NEUTRAL_SUBJECTS: &[&str] = &[
    "Question",
    "Help please",
    "Need some help",
    "Quick question",
    "Support request",
    "Hello",
    "Please help",
    "My account",
    "Can you help?",
    "Query",
];

const GREETINGS: &[&str] = &[
    "Hi,",
    "Hello,",
    "Hi there,",
    "Good morning,",
    "Hey,",
    "Dear support,",
];

/// A ticket's subject: half the time neutral, otherwise the message's own first words.
pub fn subject_for(text: &str, rng: &mut Rng) -> String {
    if rng.chance(0.5) {
        return rng.pick(NEUTRAL_SUBJECTS).to_string();
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() <= 8 {
        words.join(" ")
    } else {
        format!("{}…", words[..7].join(" "))
    }
}

/// The customer's message as it arrives: sometimes a greeting before it, sometimes a signature
/// after it; neither depends on the intent.
pub fn description_for(text: &str, name: &str, rng: &mut Rng) -> String {
    let mut out = String::new();
    if rng.chance(0.4) {
        out.push_str(rng.pick(GREETINGS));
        out.push_str("\n\n");
    }
    out.push_str(text.trim());
    match rng.below(4) {
        0 => out.push_str(&format!("\n\nThanks,\n{name}")),
        1 => out.push_str(&format!("\n\nRegards,\n{name}")),
        2 => out.push_str("\n\nSent from my iPhone"),
        _ => {}
    }
    out
}

/// Agents' replies, the same for every intent.
pub const AGENT_REPLIES: &[&str] = &[
    "Thanks for getting in touch. I'm looking into this for you now and will update you shortly.",
    "Thank you for your patience. I've checked your account and passed this to the right team.",
    "Sorry for the trouble. Could you confirm the last four digits of the card on your account?",
    "I've made a note on your account. Is there anything else I can help you with today?",
];

/// Customers' follow-ups, the same for every intent.
pub const CUSTOMER_FOLLOWUPS: &[&str] = &[
    "Any update on this?",
    "Thanks, I'm still waiting to hear back.",
    "Is there any news? It's been a few days.",
    "Thank you, that helps.",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_corpus_has_every_row_and_intent_of_banking77() {
        let b = bank();
        assert_eq!(b.intents.len(), 77);
        assert_eq!(b.train.len(), 10_003);
        assert_eq!(b.test.len(), 3_080);
        let mut per_intent = vec![0usize; 77];
        for m in &b.test {
            per_intent[m.intent] += 1;
        }
        assert!(
            per_intent.iter().all(|n| *n == 40),
            "40 test rows per intent"
        );
        let labels: std::collections::BTreeSet<&String> = b.labels.iter().collect();
        assert_eq!(labels.len(), 77, "labels are distinct");
        assert!(
            b.train.iter().any(|m| m.text.contains('\n')),
            "quoted line breaks are kept"
        );
    }

    #[test]
    fn every_group_but_escalations_handles_some_intent() {
        let b = bank();
        let mut used = [0usize; 6];
        for i in &b.intents {
            used[group_of(i)] += 1;
        }
        assert_eq!(used[4], 0);
        assert!(
            used.iter().enumerate().all(|(g, n)| g == 4 || *n > 0),
            "{used:?}"
        );
    }
}
