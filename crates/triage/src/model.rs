//! Multinomial logistic regression with L2 regularisation, trained by stochastic gradient descent
//! over a seeded shuffle (so the same examples and seed give the same model, bit for bit), then
//! calibrated by temperature scaling on a held-out slice of the examples, so that "90 % sure"
//! is right about nine times in ten. The model is versioned and serialisable; weights are kept as
//! 8-bit integers with a scale per column when stored.

use serde::{Deserialize, Serialize};

use crate::features::{Sparse, Vectorizer};
use crate::text;

/// The format of a stored model; a reader refuses any other.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub epochs: usize,
    /// L2 strength per example (λ in the per-example objective).
    pub l2: f32,
    pub learning_rate: f32,
    /// A term must be in this many training texts to become a feature.
    pub min_df: u32,
    /// The share of each value's examples held out to fit the temperature (and then trained on
    /// too, when `refit`).
    pub calibration_share: f32,
    pub refit: bool,
    /// Weigh each value by the inverse of its frequency (for skewed fields).
    pub balanced: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 7,
            epochs: 12,
            l2: 1e-5,
            learning_rate: 0.5,
            min_df: 2,
            calibration_share: 0.1,
            refit: true,
            balanced: false,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TrainError {
    #[error("there are no labelled examples to learn from")]
    NoExamples,
    #[error("every example has the same value ({0}); there is nothing to choose between")]
    OneValue(String),
    #[error("the examples have no words that occur twice; there is nothing to learn from")]
    NoFeatures,
}

/// Why a prediction was not made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Abstain {
    /// The ticket has no words at all.
    Empty,
    /// One word is too little to go on.
    TooShort,
    /// The best value's confidence is under the threshold.
    Unsure { best: String, confidence: f32 },
    /// Every value the model knows was retired.
    NothingLeft,
}

impl Abstain {
    pub fn reason(&self) -> String {
        match self {
            Abstain::Empty => "the ticket has no words to go on".into(),
            Abstain::TooShort => "one word is too little to go on".into(),
            Abstain::Unsure { best, confidence } => format!(
                "not sure enough: the likeliest value, {best}, is only {:.0}% likely",
                confidence * 100.0
            ),
            Abstain::NothingLeft => "every value this model knows was retired; retrain it".into(),
        }
    }
}

/// A prediction: the top values with their calibrated probabilities, best first, and whether
/// the model abstained (then `top` still says what it would have chosen, if anything).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub top: Vec<(String, f32)>,
    pub abstain: Option<Abstain>,
}

impl Prediction {
    pub fn label(&self) -> Option<&str> {
        match self.abstain {
            None => self.top.first().map(|(l, _)| l.as_str()),
            Some(_) => None,
        }
    }

    pub fn confidence(&self) -> f32 {
        self.top.first().map_or(0.0, |(_, p)| *p)
    }
}

/// A trained model for one field.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Model {
    pub format: u32,
    pub labels: Vec<String>,
    vectorizer: Vectorizer,
    /// Column-major: the weights of feature `j` for every label are at `j * labels.len()..`.
    weights: Vec<f32>,
    bias: Vec<f32>,
    /// Scores are divided by this before the softmax (fitted on held-out examples).
    pub temperature: f32,
    /// How many examples it learnt from.
    pub examples: usize,
}

/// A small, fast, seeded generator (SplitMix64): the shuffle order is all that needs chance.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

fn softmax(scores: &mut [f32]) {
    let max = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    scores.iter_mut().for_each(|s| *s /= sum);
}

/// Weights being learnt: `w = scale * v`, so the L2 shrink of every weight is one multiply.
struct Learner {
    k: usize,
    v: Vec<f32>,
    scale: f64,
    bias: Vec<f32>,
}

impl Learner {
    fn scores(&self, x: &Sparse, out: &mut [f32]) {
        out.copy_from_slice(&self.bias);
        let s = self.scale as f32;
        for (j, xv) in x.idx.iter().zip(&x.val) {
            let row = &self.v[*j as usize * self.k..][..self.k];
            let f = xv * s;
            for (o, w) in out.iter_mut().zip(row) {
                *o += f * w;
            }
        }
    }

    fn fit(&mut self, xs: &[Sparse], ys: &[usize], weights: &[f32], cfg: &Config) {
        let mut rng = Rng(cfg.seed);
        let mut order: Vec<usize> = (0..xs.len()).collect();
        let mut p = vec![0.0f32; self.k];
        let lambda = cfg.l2 as f64;
        let mut t = 0f64;
        for _ in 0..cfg.epochs {
            rng.shuffle(&mut order);
            for &i in &order {
                let lr = cfg.learning_rate as f64 / (1.0 + cfg.learning_rate as f64 * lambda * t);
                t += 1.0;
                self.scores(&xs[i], &mut p);
                softmax(&mut p);
                p[ys[i]] -= 1.0;
                let w = weights[ys[i]];
                self.scale *= 1.0 - lr * lambda;
                if self.scale < 1e-6 {
                    let s = self.scale as f32;
                    self.v.iter_mut().for_each(|x| *x *= s);
                    self.scale = 1.0;
                }
                let step = (lr / self.scale) as f32 * w;
                for (j, xv) in xs[i].idx.iter().zip(&xs[i].val) {
                    let row = &mut self.v[*j as usize * self.k..][..self.k];
                    let f = step * xv;
                    for (r, g) in row.iter_mut().zip(&p) {
                        *r -= f * g;
                    }
                }
                for (b, g) in self.bias.iter_mut().zip(&p) {
                    *b -= lr as f32 * w * g;
                }
            }
        }
    }

    fn weights(self) -> (Vec<f32>, Vec<f32>) {
        let s = self.scale as f32;
        (self.v.into_iter().map(|x| x * s).collect(), self.bias)
    }
}

/// Trains on `texts` (raw ticket text; normalised here) and their `labels`.
pub fn train(examples: &[(String, String)], cfg: &Config) -> Result<Model, TrainError> {
    if examples.is_empty() {
        return Err(TrainError::NoExamples);
    }
    let mut labels: Vec<String> = examples.iter().map(|(_, l)| l.clone()).collect();
    labels.sort();
    labels.dedup();
    if labels.len() < 2 {
        return Err(TrainError::OneValue(labels[0].clone()));
    }
    let texts: Vec<String> = examples.iter().map(|(t, _)| text::normalise(t)).collect();
    let ys: Vec<usize> = examples
        .iter()
        .map(|(_, l)| labels.binary_search(l).expect("every label is listed"))
        .collect();
    // Each value gives the same share of its examples to calibration (at least one when it has
    // four or more), chosen by the seed.
    let mut rng = Rng(cfg.seed ^ 0x5eed);
    let mut by_label: Vec<Vec<usize>> = vec![Vec::new(); labels.len()];
    for (i, y) in ys.iter().enumerate() {
        by_label[*y].push(i);
    }
    let mut held = vec![false; examples.len()];
    for idx in &mut by_label {
        rng.shuffle(idx);
        let n = if idx.len() >= 4 {
            ((idx.len() as f32 * cfg.calibration_share).round() as usize).max(1)
        } else {
            0
        };
        idx.iter().take(n).for_each(|i| held[*i] = true);
    }
    let fit_on: Vec<usize> = (0..examples.len()).filter(|i| !held[*i]).collect();
    let held_out: Vec<usize> = (0..examples.len()).filter(|i| held[*i]).collect();
    let first = fit(&texts, &ys, &fit_on, labels.len(), cfg)?;
    let temperature = if held_out.is_empty() {
        1.0
    } else {
        first.fit_temperature(
            &held_out
                .iter()
                .map(|i| (&texts[*i], ys[*i]))
                .collect::<Vec<_>>(),
        )
    };
    let all: Vec<usize> = (0..examples.len()).collect();
    let (vectorizer, weights, bias) = if cfg.refit && !held_out.is_empty() {
        fit(&texts, &ys, &all, labels.len(), cfg)?.into_parts()
    } else {
        first.into_parts()
    };
    Ok(Model {
        format: FORMAT,
        labels,
        vectorizer,
        weights,
        bias,
        temperature,
        examples: examples.len(),
    })
}

/// A model fitted on some examples, before calibration.
struct Fitted {
    vectorizer: Vectorizer,
    weights: Vec<f32>,
    bias: Vec<f32>,
    k: usize,
}

impl Fitted {
    fn into_parts(self) -> (Vectorizer, Vec<f32>, Vec<f32>) {
        (self.vectorizer, self.weights, self.bias)
    }

    fn scores(&self, text: &str) -> Vec<f32> {
        raw_scores(&self.vectorizer, &self.weights, &self.bias, self.k, text)
    }

    /// The temperature that minimises the negative log-likelihood of the held-out examples
    /// (golden-section search over log T in [1/20, 20]).
    fn fit_temperature(&self, held: &[(&String, usize)]) -> f32 {
        let scores: Vec<(Vec<f32>, usize)> =
            held.iter().map(|(t, y)| (self.scores(t), *y)).collect();
        let nll = |log_t: f64| -> f64 {
            let t = log_t.exp() as f32;
            scores
                .iter()
                .map(|(s, y)| {
                    let mut p: Vec<f32> = s.iter().map(|v| v / t).collect();
                    softmax(&mut p);
                    -(p[*y].max(1e-12) as f64).ln()
                })
                .sum()
        };
        let (mut a, mut b) = ((1.0f64 / 20.0).ln(), 20f64.ln());
        let g = (5f64.sqrt() - 1.0) / 2.0;
        for _ in 0..60 {
            let c = b - g * (b - a);
            let d = a + g * (b - a);
            if nll(c) < nll(d) {
                b = d;
            } else {
                a = c;
            }
        }
        ((a + b) / 2.0).exp() as f32
    }
}

fn fit(
    texts: &[String],
    ys: &[usize],
    on: &[usize],
    k: usize,
    cfg: &Config,
) -> Result<Fitted, TrainError> {
    let chosen: Vec<String> = on.iter().map(|i| texts[*i].clone()).collect();
    let vectorizer = Vectorizer::fit(&chosen, cfg.min_df);
    if vectorizer.dimensions() == 0 {
        return Err(TrainError::NoFeatures);
    }
    let xs: Vec<Sparse> = chosen.iter().map(|t| vectorizer.transform(t)).collect();
    let y: Vec<usize> = on.iter().map(|i| ys[*i]).collect();
    let mut counts = vec![0usize; k];
    y.iter().for_each(|c| counts[*c] += 1);
    let weights: Vec<f32> = counts
        .iter()
        .map(|c| {
            if cfg.balanced && *c > 0 {
                y.len() as f32 / (k as f32 * *c as f32)
            } else {
                1.0
            }
        })
        .collect();
    let mut learner = Learner {
        k,
        v: vec![0.0; vectorizer.dimensions() * k],
        scale: 1.0,
        bias: vec![0.0; k],
    };
    learner.fit(&xs, &y, &weights, cfg);
    let (weights, bias) = learner.weights();
    Ok(Fitted {
        vectorizer,
        weights,
        bias,
        k,
    })
}

fn raw_scores(v: &Vectorizer, weights: &[f32], bias: &[f32], k: usize, text: &str) -> Vec<f32> {
    let x = v.transform(text);
    let mut out = bias.to_vec();
    for (j, xv) in x.idx.iter().zip(&x.val) {
        let row = &weights[*j as usize * k..][..k];
        for (o, w) in out.iter_mut().zip(row) {
            *o += xv * w;
        }
    }
    out
}

/// A stored model: weights as 8-bit integers with one scale per feature column.
#[derive(Serialize, Deserialize)]
struct Stored {
    format: u32,
    labels: Vec<String>,
    vectorizer: Vectorizer,
    scales: Vec<f32>,
    weights: Vec<i8>,
    bias: Vec<f32>,
    temperature: f32,
    examples: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the stored model is damaged")]
    Damaged(#[from] postcard::Error),
    #[error("the stored model has format {0}; this build reads format {FORMAT}")]
    Format(u32),
}

impl Model {
    /// The probabilities of every label for a ticket's text, calibrated.
    pub fn probabilities(&self, raw: &str) -> Vec<f32> {
        let text = text::normalise(raw);
        let k = self.labels.len();
        let mut p = raw_scores(&self.vectorizer, &self.weights, &self.bias, k, &text);
        p.iter_mut().for_each(|s| *s /= self.temperature);
        softmax(&mut p);
        p
    }

    /// The prediction for a ticket's text, abstaining under `threshold` (0 never abstains for
    /// want of confidence).
    pub fn predict(&self, raw: &str, threshold: f32) -> Prediction {
        self.predict_among(raw, threshold, &[])
    }

    /// As [`Model::predict`], but never answering one of the `retired` labels (values the field
    /// no longer offers): they are left out of the ranking, and the others keep their
    /// probabilities, so the threshold still means what it says.
    pub fn predict_among(&self, raw: &str, threshold: f32, retired: &[String]) -> Prediction {
        let text = text::normalise(raw);
        let words = text
            .split_whitespace()
            .filter(|w| w.chars().any(char::is_alphanumeric))
            .count();
        if words == 0 {
            return Prediction {
                top: Vec::new(),
                abstain: Some(Abstain::Empty),
            };
        }
        let p = self.probabilities(raw);
        let mut ranked: Vec<(usize, f32)> = p
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !retired.contains(&self.labels[*i]))
            .collect();
        if ranked.is_empty() {
            return Prediction {
                top: Vec::new(),
                abstain: Some(Abstain::NothingLeft),
            };
        }
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let top: Vec<(String, f32)> = ranked
            .iter()
            .take(3)
            .map(|(i, p)| (self.labels[*i].clone(), *p))
            .collect();
        let abstain = if words == 1 {
            Some(Abstain::TooShort)
        } else if top[0].1 < threshold {
            Some(Abstain::Unsure {
                best: top[0].0.clone(),
                confidence: top[0].1,
            })
        } else {
            None
        };
        Prediction { top, abstain }
    }

    pub fn dimensions(&self) -> usize {
        self.vectorizer.dimensions()
    }

    /// The model as bytes to store: versioned, weights quantised to 8 bits per column.
    pub fn to_bytes(&self) -> Vec<u8> {
        let k = self.labels.len();
        let mut scales = Vec::with_capacity(self.dimensions());
        let mut weights = Vec::with_capacity(self.weights.len());
        for row in self.weights.chunks(k) {
            let max = row.iter().fold(0.0f32, |m, w| m.max(w.abs()));
            let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            scales.push(scale);
            weights.extend(row.iter().map(|w| (w / scale).round() as i8));
        }
        let stored = Stored {
            format: self.format,
            labels: self.labels.clone(),
            vectorizer: self.vectorizer.clone(),
            scales,
            weights,
            bias: self.bias.clone(),
            temperature: self.temperature,
            examples: self.examples,
        };
        postcard::to_stdvec(&stored).expect("a model serialises")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model, LoadError> {
        let s: Stored = postcard::from_bytes(bytes)?;
        if s.format != FORMAT {
            return Err(LoadError::Format(s.format));
        }
        let k = s.labels.len().max(1);
        let weights = s
            .weights
            .chunks(k)
            .zip(&s.scales)
            .flat_map(|(row, scale)| row.iter().map(move |w| *w as f32 * scale))
            .collect();
        Ok(Model {
            format: s.format,
            labels: s.labels,
            vectorizer: s.vectorizer,
            weights,
            bias: s.bias,
            temperature: s.temperature,
            examples: s.examples,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three values told apart by their words, twelve tickets each, with some noise words.
    fn separable() -> Vec<(String, String)> {
        let mut out = Vec::new();
        let noise = ["please", "thanks", "today", "again", "hello", "urgent"];
        for i in 0..12 {
            let n = noise[i % noise.len()];
            out.push((
                format!("my card was declined at the shop {n}"),
                "card".into(),
            ));
            out.push((
                format!("refund for the cancelled order {n}"),
                "refund".into(),
            ));
            out.push((
                format!("cannot log in, password reset link {n}"),
                "login".into(),
            ));
        }
        out
    }

    #[test]
    fn it_learns_a_small_separable_set_and_tells_new_tickets_apart() {
        let m = train(&separable(), &Config::default()).unwrap();
        assert_eq!(m.labels, ["card", "login", "refund"]);
        let p = m.predict("<p>The card got <b>declined</b> twice</p>", 0.0);
        assert_eq!(p.label(), Some("card"), "{p:?}");
        assert_eq!(m.predict("where is my refund", 0.0).label(), Some("refund"));
        assert_eq!(
            m.predict("password reset please", 0.0).label(),
            Some("login")
        );
        let sum: f32 = m.probabilities("card declined").iter().sum();
        assert!((sum - 1.0).abs() < 1e-4);
    }

    #[test]
    fn the_same_examples_and_seed_give_the_same_model_and_another_seed_may_not() {
        let a = train(&separable(), &Config::default()).unwrap();
        let b = train(&separable(), &Config::default()).unwrap();
        assert!(a.to_bytes() == b.to_bytes(), "the stored models differ");
        let c = train(
            &separable(),
            &Config {
                seed: 99,
                ..Config::default()
            },
        )
        .unwrap();
        assert_ne!(
            a.weights, c.weights,
            "the seed decides the order of learning"
        );
    }

    #[test]
    fn confidence_rises_with_the_evidence_and_calibration_keeps_the_order() {
        let m = train(&separable(), &Config::default()).unwrap();
        let card = |t: &str| m.probabilities(t)[0];
        let weak = card("the shop");
        let strong = card("my card was declined at the shop");
        assert!(strong > weak, "{strong} > {weak}");
        // Temperature scaling divides every score by one positive number: the ranking of values
        // never changes, only how sure the model says it is.
        assert!(m.temperature > 0.0);
        let p = m.probabilities("refund for the order");
        let mut order: Vec<usize> = (0..3).collect();
        order.sort_by(|a, b| p[*b].total_cmp(&p[*a]));
        assert_eq!(m.labels[order[0]], "refund");
    }

    #[test]
    fn empty_one_word_and_unsure_tickets_abstain_with_their_reason() {
        let m = train(&separable(), &Config::default()).unwrap();
        assert_eq!(m.predict("  <p></p> ", 0.5).abstain, Some(Abstain::Empty));
        assert_eq!(m.predict("card", 0.5).abstain, Some(Abstain::TooShort));
        let unsure = m.predict("the weather is nice", 0.99);
        assert!(
            matches!(unsure.abstain, Some(Abstain::Unsure { .. })),
            "{unsure:?}"
        );
        assert!(unsure.abstain.unwrap().reason().contains("not sure enough"));
        assert!(m.predict("my card was declined", 0.5).abstain.is_none());
    }

    #[test]
    fn a_retired_value_is_never_answered_and_the_others_keep_their_probabilities() {
        let m = train(&separable(), &Config::default()).unwrap();
        let text = "my card was declined at the shop";
        let all = m.predict(text, 0.0);
        let retired = vec!["card".to_string()];
        let rest = m.predict_among(text, 0.0, &retired);
        assert_eq!(all.label(), Some("card"));
        assert_ne!(rest.label(), Some("card"));
        assert!(rest.top.iter().all(|(l, _)| l != "card"), "{rest:?}");
        let second = &all.top[1];
        assert_eq!(&rest.top[0], second, "the runner-up, as sure as before");
        // Unsure of what is left, it abstains rather than answer with the runner-up.
        let unsure = m.predict_among(text, 0.5, &retired);
        assert!(matches!(unsure.abstain, Some(Abstain::Unsure { .. })));
        let every: Vec<String> = m.labels.clone();
        let none = m.predict_among(text, 0.0, &every);
        assert_eq!(none.abstain, Some(Abstain::NothingLeft));
    }

    #[test]
    fn a_model_round_trips_through_its_stored_form_with_the_same_answers() {
        let m = train(&separable(), &Config::default()).unwrap();
        let back = Model::from_bytes(&m.to_bytes()).unwrap();
        for t in ["card declined", "refund please", "password reset"] {
            let (a, b) = (m.predict(t, 0.0), back.predict(t, 0.0));
            assert_eq!(a.label(), b.label());
            assert!((a.confidence() - b.confidence()).abs() < 0.02);
        }
        let mut bytes = m.to_bytes();
        bytes.truncate(bytes.len() / 2);
        assert!(
            Model::from_bytes(&bytes).is_err(),
            "a damaged model is refused"
        );
    }

    #[test]
    fn nothing_to_learn_is_refused_with_the_reason() {
        assert_eq!(
            train(&[], &Config::default()).unwrap_err(),
            TrainError::NoExamples
        );
        let one = vec![("a b".to_string(), "x".to_string()); 3];
        assert_eq!(
            train(&one, &Config::default()).unwrap_err(),
            TrainError::OneValue("x".into())
        );
    }
}
