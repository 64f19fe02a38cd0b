//! Signing in and out: the sign-in page and form (throttled per account and per client, the
//! failure audited without the password), the session cookie, and sign-out.

use askama::Template;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::render::{S, render};
use super::routes::Routes;
use super::session::Signed;
use super::{Error, cookie_name};
use crate::accounts::{self, AccountError, User};
use crate::audit;

pub fn routes() -> Routes {
    Routes::default()
        .get("/login", login_page)
        .add(
            "POST",
            "/login",
            axum::routing::post(login)
                // A sign-in form is a few hundred bytes; anything far larger is refused unread.
                .layer(axum::extract::DefaultBodyLimit::max(16 * 1024)),
        )
        .post("/logout", logout)
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    user: Option<User>,
    csrf: String,
    error: Option<String>,
    email: String,
}

async fn login_page() -> Result<Html<String>, Error> {
    render(&LoginPage {
        user: None,
        csrf: String::new(),
        error: None,
        email: String::new(),
    })
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
}

async fn login(
    State(state): S,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, Error> {
    let cfg = &state.config.server;
    // Oversized or malformed bodies are refused before anything else happens.
    let Form(f) = form.map_err(|e| {
        Error::BadRequest(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            "that sign-in form is too large".into()
        } else {
            "send an email and a password".into()
        })
    })?;
    let client = super::client_address(peer.ip(), &headers, &cfg.trusted_proxies);
    let refused = |status: StatusCode, e: &AccountError, email: &str| -> Result<Response, Error> {
        let page = render(&LoginPage {
            user: None,
            csrf: String::new(),
            error: Some(e.to_string()),
            email: email.to_string(),
        })?;
        let mut res = (status, page).into_response();
        if let AccountError::Throttled { retry_after_secs } = e {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        Ok(res)
    };
    match accounts::authenticate(
        &state.store,
        &f.email,
        &f.password,
        &client,
        &state.config.login_limits(),
    )
    .await
    {
        Ok(user) => {
            let s = accounts::start_session(&state.store, user.id).await?;
            audit::record(&state.store, Some(user.org_id), &user.email, "sign_in", "").await;
            let secure = if cfg.secure_cookies { "; Secure" } else { "" };
            let cookie = format!(
                "{}={}; Path=/; HttpOnly; SameSite=Lax{secure}",
                cookie_name(cfg.secure_cookies),
                accounts::expose(&s.token)
            );
            let mut res = Redirect::to("/dashboard").into_response();
            res.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_str(&cookie).map_err(Error::internal)?,
            );
            Ok(res)
        }
        Err(e @ AccountError::InputTooLong(_)) => {
            tracing::info!(client = %client, reason = %e, "sign-in refused");
            // The oversized value is neither stored nor echoed back.
            refused(StatusCode::UNPROCESSABLE_ENTITY, &e, "")
        }
        Err(e @ (AccountError::Throttled { .. } | AccountError::Busy)) => {
            // Throttled attempts are not stored: a flood must not fill the audit log.
            tracing::info!(client = %client, reason = %e, "sign-in refused");
            refused(StatusCode::TOO_MANY_REQUESTS, &e, &f.email)
        }
        Err(e @ AccountError::InvalidLogin) => {
            tracing::info!(client = %client, "sign-in failed");
            audit::record(
                &state.store,
                None,
                &f.email,
                "sign_in_failed",
                &format!("client={client}"),
            )
            .await;
            refused(StatusCode::UNAUTHORIZED, &e, &f.email)
        }
        Err(e) => Err(e.into()),
    }
}

async fn logout(Signed(state, s): Signed) -> Result<Response, Error> {
    accounts::end_session(&state.store, &s.id_hash)
        .await
        .map_err(Error::internal)?;
    let cfg = &state.config.server;
    let secure = if cfg.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
        cookie_name(cfg.secure_cookies)
    );
    let mut res = Redirect::to("/login").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(Error::internal)?,
    );
    Ok(res)
}
