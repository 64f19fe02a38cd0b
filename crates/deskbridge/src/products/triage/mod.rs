//! Triage, per integration and ticket field: which fields can be learnt from the synced history
//! and how much labelled history each has, training (a job: a time-ordered evaluation on the
//! newest fifth, then a final model on everything), the settings (mode off or shadow, the target
//! precision and the threshold that reaches it), predictions for a ticket's text, the
//! predictions made for new tickets and their writes back to Freshdesk, and the values Freshdesk
//! refused. Owns `triage_fields`, `triage_models`, `triage_predictions`, `triage_retired` and
//! `triage_cursors`; reads the copy through `sync`.

mod fields;
pub mod live;
mod models;
mod train;

pub use fields::{
    Counted, Field, MAX_HISTORY, MIN_EXAMPLES, TRAIN_JOB, TriageError, candidates, text_of,
};
pub use models::{
    FieldPrediction, FieldSummary, ModelRow, Settings, fields, forget, models, predict,
    retrain_due, set_annotate, set_mode, settings, start_training,
};
pub use train::run as run_training;

/// How old a switched-on field's newest model may get before it is retrained on its own.
pub const RETRAIN_EVERY_SECS: i64 = 7 * 86_400;
