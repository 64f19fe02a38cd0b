//! The help page: support hours now, and the contact form.

use askama::Template;
use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::render::{render, when};
use super::routes::Routes;
use super::session::Signed;
use super::{AppState, Error};
use crate::accounts::{self, User};

pub fn routes() -> Routes {
    Routes::default()
        .get("/help", help_page)
        .post("/help", help_submit)
}

#[derive(Template)]
#[template(path = "help.html")]
struct HelpPage {
    user: Option<User>,
    csrf: String,
    hours: String,
    notice: Option<String>,
    error: Option<String>,
    is_admin: bool,
    requests: Vec<(String, String, String, String)>,
}

async fn help_view(
    state: &AppState,
    s: &accounts::Session,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Html<String>, Error> {
    let is_admin = s.user.role == accounts::Role::Admin;
    let requests = if is_admin {
        crate::help::requests(&state.store, s.user.org_id)
            .await
            .map_err(Error::internal)?
            .into_iter()
            .map(|r| (r.email, r.subject, r.message, when(r.at)))
            .collect()
    } else {
        Vec::new()
    };
    let hours = crate::help::describe(&crate::help::support_status(chrono::Utc::now()));
    render(&HelpPage {
        user: Some(s.user.clone()),
        csrf: s.csrf.clone(),
        hours,
        notice,
        error,
        is_admin,
        requests,
    })
}

async fn help_page(Signed(state, s): Signed) -> Result<Html<String>, Error> {
    help_view(&state, &s, None, None).await
}

#[derive(Deserialize)]
struct HelpForm {
    subject: String,
    message: String,
}

async fn help_submit(Signed(state, s): Signed, Form(f): Form<HelpForm>) -> Result<Response, Error> {
    let (subject, message) = (f.subject.trim(), f.message.trim());
    if subject.is_empty()
        || message.is_empty()
        || subject.chars().count() > 200
        || message.chars().count() > 5000
    {
        let page = help_view(
            &state,
            &s,
            None,
            Some(
                "Give your request a subject (up to 200 characters) and a message (up to 5,000)."
                    .into(),
            ),
        )
        .await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    crate::help::submit(&state.store, s.user.org_id, &s.user.email, subject, message)
        .await
        .map_err(Error::internal)?;
    Ok(help_view(
        &state,
        &s,
        Some("Thanks, we have your request and will answer by email.".into()),
        None,
    )
    .await?
    .into_response())
}
