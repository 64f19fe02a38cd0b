//! Triage's classifier: learns one ticket field (a category, a group, a priority) from a help
//! desk's own history and predicts it for new tickets with a calibrated confidence, or abstains.
//! Pure functions over text: no database, no network, no model download.
//!
//! [`text`] turns a ticket into the text that is learnt from, [`features`] into sparse TF-IDF
//! vectors, [`model`] trains a multinomial logistic regression on them and calibrates it, and
//! [`eval`] measures it the way the evaluation page and `triage-eval` report it.

#![forbid(unsafe_code)]

pub mod eval;
pub mod features;
pub mod model;
pub mod text;

pub use model::{Config, Model, Prediction, TrainError, train};
