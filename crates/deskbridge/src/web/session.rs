//! Who is asking: the session cookie (its name depends on whether the deployment is served over
//! TLS), a bearer API token on `/api/` routes, and the [`Authenticated`] extractor that turns
//! either into a session (pages redirect to sign-in without one, the API answers 401).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::{HeaderMap, header, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};

use super::error::Error;
use super::state::AppState;
use crate::accounts::{self, Role, Session};

pub const COOKIE_SECURE: &str = "__Host-deskbridge";
pub const COOKIE_PLAIN: &str = "deskbridge";

pub fn cookie_name(secure: bool) -> &'static str {
    if secure { COOKIE_SECURE } else { COOKIE_PLAIN }
}

pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

pub(super) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

pub(super) async fn session_from_headers(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, Error> {
    let Some(token) = cookie_value(headers, cookie_name(state.config.server.secure_cookies)) else {
        return Ok(None);
    };
    let s = accounts::session(
        &state.store,
        token,
        state.config.server.session_idle_secs,
        state.config.server.session_absolute_secs,
    )
    .await?;
    let Some(mut s) = s else {
        return Ok(None);
    };
    // The banner on every page while an integration needs attention.
    s.user.attention = crate::health::banner(&state.store, s.user.org_id)
        .await
        .map_err(Error::internal)?;
    Ok(Some(s))
}

/// The signed-in user's session; pages redirect to sign-in without one, the API answers 401.
pub struct Authenticated(pub Session);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated
where
    Arc<AppState>: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = Arc::<AppState>::from_ref(state);
        if parts.uri.path().starts_with("/api/")
            && let Some(token) = bearer(&parts.headers)
        {
            return match accounts::tokens::resolve(&state.store, token).await {
                Ok(Some((_, scopes))) if !scopes.allow(super::routes::needed_scope(parts)) => {
                    let needed = super::routes::needed_scope(parts);
                    Err(Error::ForbiddenFor(format!(
                        "this token lacks the {} scope this call needs",
                        needed.code()
                    ))
                    .into_response())
                }
                Ok(Some((user, scopes))) => Ok(Authenticated(Session {
                    id_hash: String::new(),
                    user,
                    csrf: String::new(),
                    scopes,
                })),
                Ok(None) => Err(Error::Unauthorized.into_response()),
                Err(e) => Err(Error::from(e).into_response()),
            };
        }
        match session_from_headers(&state, &parts.headers).await {
            Ok(Some(s)) => Ok(Authenticated(s)),
            Ok(None) if parts.uri.path().starts_with("/api/") => {
                Err(Error::Unauthorized.into_response())
            }
            Ok(None) => Err(Redirect::to("/login").into_response()),
            Err(e) => Err(e.into_response()),
        }
    }
}

/// Refuses a signed-in user who is not an admin, saying what only admins may do.
pub fn admin_only(s: &Session, only_admins: &'static str) -> Result<(), Error> {
    if s.user.role == Role::Admin {
        Ok(())
    } else {
        Err(Error::Forbidden(only_admins))
    }
}

/// The state and the signed-in session together: what most handlers take.
pub struct Signed(pub Arc<AppState>, pub Session);

impl FromRequestParts<Arc<AppState>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(s) = Authenticated::from_request_parts(parts, state).await?;
        Ok(Signed(state.clone(), s))
    }
}

/// The integration a page's path names (its `{id}`), if it is the signed-in organisation's;
/// another organisation's, or none, is not found.
pub async fn integration_named(
    state: &AppState,
    s: &Session,
    params: &[(String, String)],
) -> Result<crate::connections::Integration, Error> {
    let id = params
        .iter()
        .find(|(k, _)| k == "id")
        .and_then(|(_, v)| v.parse::<i64>().ok())
        .ok_or(Error::NotFound)?;
    Ok(crate::connections::get(&state.store, s.user.org_id, id).await?)
}
