//! Measuring a model on labelled examples it did not learn from: accuracy, macro-F1, each value's
//! precision, recall and support, the pairs most often confused, and the precision-versus-coverage
//! curve with the threshold that reaches a target precision.

use serde::Serialize;

use crate::model::Model;

#[derive(Debug, Clone, Serialize)]
pub struct LabelScore {
    pub label: String,
    pub precision: f32,
    pub recall: f32,
    pub support: usize,
}

/// One point of the curve: answering only when at least `threshold` sure covers `coverage` of
/// the tickets, and is right on `precision` of those.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Point {
    pub threshold: f32,
    pub coverage: f32,
    pub precision: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub accuracy: f32,
    pub macro_f1: f32,
    pub labels: Vec<LabelScore>,
    /// (true value, predicted value, how many), most first.
    pub confused: Vec<(String, String, usize)>,
    pub curve: Vec<Point>,
    pub n: usize,
}

/// Scores `model` on `examples` (text, true value), answering every one.
pub fn evaluate(model: &Model, examples: &[(String, String)]) -> Report {
    let guesses: Vec<(usize, f32)> = examples
        .iter()
        .map(|(t, _)| {
            let p = model.probabilities(t);
            let (best, conf) =
                p.iter().enumerate().fold(
                    (0, f32::MIN),
                    |b, (i, v)| if *v > b.1 { (i, *v) } else { b },
                );
            (best, conf)
        })
        .collect();
    let truth: Vec<Option<usize>> = examples
        .iter()
        .map(|(_, l)| model.labels.iter().position(|x| x == l))
        .collect();
    score(&model.labels, &truth, &guesses)
}

/// The scores of `guesses` (label index, confidence) against `truth` (a value the model does not
/// know is `None`, and always wrong).
pub fn score(labels: &[String], truth: &[Option<usize>], guesses: &[(usize, f32)]) -> Report {
    let k = labels.len();
    let mut tp = vec![0usize; k];
    let mut predicted = vec![0usize; k];
    let mut support = vec![0usize; k];
    let mut pairs = std::collections::BTreeMap::new();
    let mut right = 0;
    for (t, (g, _)) in truth.iter().zip(guesses) {
        predicted[*g] += 1;
        if let Some(t) = t {
            support[*t] += 1;
            if t == g {
                tp[*t] += 1;
                right += 1;
            } else {
                *pairs.entry((*t, *g)).or_insert(0usize) += 1;
            }
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f32 / b as f32 };
    let scores: Vec<LabelScore> = (0..k)
        .map(|i| LabelScore {
            label: labels[i].clone(),
            precision: ratio(tp[i], predicted[i]),
            recall: ratio(tp[i], support[i]),
            support: support[i],
        })
        .collect();
    let present: Vec<&LabelScore> = scores.iter().filter(|s| s.support > 0).collect();
    let macro_f1 = present
        .iter()
        .map(|s| {
            if s.precision + s.recall == 0.0 {
                0.0
            } else {
                2.0 * s.precision * s.recall / (s.precision + s.recall)
            }
        })
        .sum::<f32>()
        / present.len().max(1) as f32;
    let mut confused: Vec<(String, String, usize)> = pairs
        .into_iter()
        .map(|((t, g), n)| (labels[t].clone(), labels[g].clone(), n))
        .collect();
    confused.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    confused.truncate(10);
    let correct: Vec<(f32, bool)> = truth
        .iter()
        .zip(guesses)
        .map(|(t, (g, c))| (*c, *t == Some(*g)))
        .collect();
    Report {
        accuracy: ratio(right, truth.len()),
        macro_f1,
        labels: scores,
        confused,
        curve: curve(&correct),
        n: truth.len(),
    }
}

/// Precision against coverage as the threshold rises: one point per distinct confidence, from
/// answering everything to answering only the surest.
pub fn curve(answers: &[(f32, bool)]) -> Vec<Point> {
    let mut sorted: Vec<(f32, bool)> = answers.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let n = sorted.len().max(1) as f32;
    let mut out = Vec::new();
    let mut right = 0usize;
    for (i, (c, ok)) in sorted.iter().enumerate() {
        right += *ok as usize;
        let last_of_its_value = sorted.get(i + 1).is_none_or(|next| next.0 < *c);
        if last_of_its_value {
            out.push(Point {
                threshold: *c,
                coverage: (i + 1) as f32 / n,
                precision: right as f32 / (i + 1) as f32,
            });
        }
    }
    out.reverse();
    out
}

/// The lowest threshold whose answers reach `target` precision, and the coverage it gives; `None`
/// when no threshold does.
pub fn threshold_for(curve: &[Point], target: f32) -> Option<Point> {
    curve.iter().find(|p| p.precision >= target).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_curve_trades_coverage_for_precision_and_finds_the_threshold() {
        let answers = [
            (0.9, true),
            (0.8, true),
            (0.7, false),
            (0.6, true),
            (0.5, false),
        ];
        let c = curve(&answers);
        assert_eq!(c.first().unwrap().coverage, 1.0);
        assert!((c.first().unwrap().precision - 0.6).abs() < 1e-6);
        assert_eq!(c.last().unwrap().threshold, 0.9);
        let p = threshold_for(&c, 0.99).unwrap();
        assert_eq!((p.threshold, p.coverage), (0.8, 0.4));
        assert!(threshold_for(&[], 0.9).is_none());
    }
}
