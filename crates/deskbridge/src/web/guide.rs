//! The Freshdesk setup guide, and its "was this helpful" votes.

use askama::Template;
use axum::extract::Form;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::Error;
use super::render::render;
use super::routes::Routes;
use super::session::Signed;
use crate::accounts::User;

pub fn routes() -> Routes {
    Routes::default()
        .get("/guide/freshdesk", guide)
        .post("/guide/freshdesk/feedback", guide_feedback)
}

#[derive(Template)]
#[template(path = "guide.html")]
struct GuidePage {
    user: Option<User>,
    csrf: String,
    helpful: i64,
    votes: i64,
}

const GUIDE: &str = "freshdesk-setup";

async fn guide(Signed(state, s): Signed) -> Result<Html<String>, Error> {
    let (helpful, votes) = crate::help::tally(&state.store, GUIDE)
        .await
        .map_err(Error::internal)?;
    render(&GuidePage {
        user: Some(s.user),
        csrf: s.csrf,
        helpful,
        votes,
    })
}

#[derive(Deserialize)]
struct Vote {
    helpful: String,
}

async fn guide_feedback(Signed(state, s): Signed, Form(v): Form<Vote>) -> Result<Response, Error> {
    let helpful = match v.helpful.as_str() {
        "yes" => true,
        "no" => false,
        _ => return Err(Error::BadRequest("answer yes or no".into())),
    };
    crate::help::vote(&state.store, s.user.id, GUIDE, helpful)
        .await
        .map_err(Error::internal)?;
    Ok(Redirect::to("/guide/freshdesk").into_response())
}
