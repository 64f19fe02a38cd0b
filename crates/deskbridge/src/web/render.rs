//! Small helpers every page handler shares: the state extractor's type, rendering a template
//! (a template error is an internal error), and how times are shown.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Html;

use super::error::Error;
use super::state::AppState;

pub type S = State<Arc<AppState>>;

pub fn render<T: Template>(t: &T) -> Result<Html<String>, Error> {
    t.render().map(Html).map_err(Error::internal)
}

pub fn when(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}
