//! Settings › API tokens: create (the token shown once), list and revoke.

use askama::Template;
use axum::extract::{Form, Path};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::render::{render, when};
use super::routes::Routes;
use super::session::{Signed, admin_only};
use super::{AppState, Error};
use crate::accounts::{self, User};
use crate::audit;

pub fn routes() -> Routes {
    Routes::default()
        .get("/settings/api-tokens", tokens_page)
        .post("/settings/api-tokens", token_create)
        .post("/settings/api-tokens/{id}/revoke", token_revoke)
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    user: Option<User>,
    csrf: String,
    tokens: Vec<(i64, String, String, String, String)>,
    new_token: Option<String>,
}

async fn tokens_view(
    state: &AppState,
    s: &accounts::Session,
    new_token: Option<String>,
) -> Result<Html<String>, Error> {
    admin_only(s, "only admins can manage API tokens")?;
    let tokens = accounts::tokens::list(&state.store, s.user.org_id)
        .await
        .map_err(Error::internal)?
        .into_iter()
        .map(|t| {
            (
                t.id,
                t.name,
                t.scopes,
                when(t.created_at),
                t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
            )
        })
        .collect();
    render(&TokensPage {
        user: Some(s.user.clone()),
        csrf: s.csrf.clone(),
        tokens,
        new_token,
    })
}

async fn tokens_page(Signed(state, s): Signed) -> Result<Html<String>, Error> {
    tokens_view(&state, &s, None).await
}

#[derive(Deserialize)]
struct TokenForm {
    name: String,
    /// Space-separated scopes; a form without the field (older scripts) makes an admin token.
    #[serde(default = "admin_scope")]
    scopes: String,
}

fn admin_scope() -> String {
    "admin".into()
}

async fn token_create(
    Signed(state, s): Signed,
    Form(f): Form<TokenForm>,
) -> Result<Response, Error> {
    admin_only(&s, "only admins can manage API tokens")?;
    let name = f.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::BadRequest(
            "give the token a name of up to 100 characters".into(),
        ));
    }
    let scopes =
        accounts::tokens::Scopes::parse(&f.scopes).map_err(|e| Error::BadRequest(e.to_string()))?;
    let token = accounts::tokens::create(&state.store, &s.user, name, &scopes)
        .await
        .map_err(Error::internal)?;
    audit::record(
        &state.store,
        Some(s.user.org_id),
        &s.user.email,
        "api_token_created",
        name,
    )
    .await;
    Ok(
        tokens_view(&state, &s, Some(accounts::expose(&token).to_string()))
            .await?
            .into_response(),
    )
}

async fn token_revoke(Signed(state, s): Signed, Path(id): Path<i64>) -> Result<Response, Error> {
    admin_only(&s, "only admins can manage API tokens")?;
    if !accounts::tokens::revoke(&state.store, s.user.org_id, id)
        .await
        .map_err(Error::internal)?
    {
        return Err(Error::NotFound);
    }
    audit::record(
        &state.store,
        Some(s.user.org_id),
        &s.user.email,
        "api_token_revoked",
        &id.to_string(),
    )
    .await;
    Ok(Redirect::to("/settings/api-tokens").into_response())
}
