//! Text to numbers: word 1–2 grams and character 2–5 grams within word boundaries, each weighted
//! by TF-IDF with sublinear term frequency and L2-normalised per kind, in one sparse vector. Terms
//! are kept as 64-bit FNV-1a hashes of their text (stable across runs and machines), so the
//! vocabulary costs 8 bytes a term and no strings.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// A sparse vector: indices ascending, with their values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sparse {
    pub idx: Vec<u32>,
    pub val: Vec<f32>,
}

impl Sparse {
    pub fn nnz(&self) -> usize {
        self.idx.len()
    }
}

/// The vocabulary learnt from training texts, with each term's inverse document frequency.
/// Stored as its terms in column order (a map's order would differ from run to run).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "Stored", into = "Stored")]
pub struct Vectorizer {
    /// Term hash → column; word terms first, then character terms.
    columns: HashMap<u64, u32>,
    idf: Vec<f32>,
    /// Columns below this are word terms.
    words: u32,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    terms: Vec<u64>,
    idf: Vec<f32>,
    words: u32,
}

impl From<Stored> for Vectorizer {
    fn from(s: Stored) -> Vectorizer {
        let columns = s
            .terms
            .iter()
            .enumerate()
            .map(|(i, h)| (*h, i as u32))
            .collect();
        Vectorizer {
            columns,
            idf: s.idf,
            words: s.words,
        }
    }
}

impl From<Vectorizer> for Stored {
    fn from(v: Vectorizer) -> Stored {
        let mut terms = vec![0u64; v.idf.len()];
        for (h, i) in v.columns {
            terms[i as usize] = h;
        }
        Stored {
            terms,
            idf: v.idf,
            words: v.words,
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(kind: u8, parts: &[&str]) -> u64 {
    let mut h = FNV_OFFSET ^ kind as u64;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h = (h ^ 0x1f).wrapping_mul(FNV_PRIME);
        }
        for b in p.bytes() {
            h = (h ^ b as u64).wrapping_mul(FNV_PRIME);
        }
    }
    h
}

const WORD: u8 = 1;
const CHAR: u8 = 2;

/// The word terms of a text: tokens of two or more letters or digits, and adjacent pairs.
fn word_terms(text: &str, out: &mut Vec<u64>) {
    let tokens: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|t| t.chars().nth(1).is_some())
        .collect();
    for (i, t) in tokens.iter().enumerate() {
        out.push(fnv(WORD, &[t]));
        if let Some(next) = tokens.get(i + 1) {
            out.push(fnv(WORD, &[t, next]));
        }
    }
}

/// The character terms of a text: 2- to 5-grams of each white-space word padded with a space on
/// either side, so that a gram never spans two words.
fn char_terms(text: &str, out: &mut Vec<u64>) {
    let mut padded: Vec<char> = Vec::with_capacity(64);
    let mut buf = String::with_capacity(32);
    for word in text.split_whitespace() {
        padded.clear();
        padded.push(' ');
        padded.extend(word.chars());
        padded.push(' ');
        for n in 2..=5 {
            if padded.len() < n {
                break;
            }
            for w in padded.windows(n) {
                buf.clear();
                buf.extend(w);
                out.push(fnv(CHAR, &[&buf]));
            }
        }
    }
}

/// Every term of a text: (is a word term, hash).
fn terms(text: &str) -> (Vec<u64>, Vec<u64>) {
    let (mut w, mut c) = (Vec::new(), Vec::new());
    word_terms(text, &mut w);
    char_terms(text, &mut c);
    (w, c)
}

impl Vectorizer {
    /// Learns the vocabulary of `texts` (already normalised): terms in at least `min_df` texts.
    /// The order of columns follows first appearance, so it is the same for the same texts.
    pub fn fit(texts: &[String], min_df: u32) -> Vectorizer {
        let mut df: [HashMap<u64, u32>; 2] = [HashMap::new(), HashMap::new()];
        let mut order: [Vec<u64>; 2] = [Vec::new(), Vec::new()];
        for text in texts {
            let (w, c) = terms(text);
            for (kind, mut hashes) in [(0, w), (1, c)] {
                hashes.sort_unstable();
                hashes.dedup();
                for h in hashes {
                    let e = df[kind].entry(h).or_insert(0);
                    if *e == 0 {
                        order[kind].push(h);
                    }
                    *e += 1;
                }
            }
        }
        let n = texts.len() as f32;
        let mut columns = HashMap::new();
        let mut idf = Vec::new();
        let mut words = 0;
        for kind in 0..2 {
            for h in &order[kind] {
                let d = df[kind][h];
                if d >= min_df.max(1) {
                    columns.insert(*h, idf.len() as u32);
                    idf.push(((1.0 + n) / (1.0 + d as f32)).ln() + 1.0);
                }
            }
            if kind == 0 {
                words = idf.len() as u32;
            }
        }
        Vectorizer {
            columns,
            idf,
            words,
        }
    }

    pub fn dimensions(&self) -> usize {
        self.idf.len()
    }

    /// The TF-IDF vector of a normalised text (word and character parts each of unit length).
    pub fn transform(&self, text: &str) -> Sparse {
        let (w, c) = terms(text);
        let mut cols: Vec<u32> = w
            .iter()
            .chain(c.iter())
            .filter_map(|h| self.columns.get(h).copied())
            .collect();
        cols.sort_unstable();
        let mut out = Sparse::default();
        let mut i = 0;
        while i < cols.len() {
            let col = cols[i];
            let mut tf = 0;
            while i < cols.len() && cols[i] == col {
                tf += 1;
                i += 1;
            }
            out.idx.push(col);
            out.val
                .push((1.0 + (tf as f32).ln()) * self.idf[col as usize]);
        }
        // Each kind to unit length, so short and long tickets weigh alike.
        let split = out.idx.partition_point(|c| *c < self.words);
        for range in [0..split, split..out.idx.len()] {
            let norm = out.val[range.clone()]
                .iter()
                .map(|v| v * v)
                .sum::<f32>()
                .sqrt();
            if norm > 0.0 {
                out.val[range].iter_mut().for_each(|v| *v /= norm);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_becomes_word_and_character_parts_of_unit_length() {
        let texts: Vec<String> = ["card declined", "card arrived", "declined again"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let v = Vectorizer::fit(&texts, 1);
        let x = v.transform("card declined today");
        assert!(x.idx.windows(2).all(|w| w[0] < w[1]), "indices ascend");
        let split = x.idx.partition_point(|c| *c < v.words);
        let norm = |r: &[f32]| r.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm(&x.val[..split]) - 1.0).abs() < 1e-5);
        assert!((norm(&x.val[split..]) - 1.0).abs() < 1e-5);
        assert!(v.transform("zzz").nnz() == 0, "unknown terms are dropped");
        let again = Vectorizer::fit(&texts, 1);
        assert_eq!(
            again.transform("card declined"),
            v.transform("card declined")
        );
    }
}
