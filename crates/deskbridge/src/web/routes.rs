//! A router that remembers what it serves. Every page group adds its routes through [`Routes`],
//! which registers each method and path with axum and keeps the pair, so the list that the CSRF
//! and OpenAPI tests walk is the router's own, not a hand-kept copy. API routes also say which
//! token scope they need ([`Routes::scope`]); a route that says nothing needs `admin`.

use std::sync::Arc;

use axum::Router;
use axum::handler::Handler;
use axum::routing::{self, MethodRouter};

use super::state::AppState;
use crate::accounts::tokens::Scope;

pub struct Routes {
    router: Router<Arc<AppState>>,
    served: Vec<(&'static str, &'static str)>,
    scope: Option<Scope>,
}

impl Default for Routes {
    fn default() -> Self {
        Routes {
            router: Router::new(),
            served: Vec::new(),
            scope: None,
        }
    }
}

/// The token scope a request's route needs, as the route declared it (`admin` when it did not).
pub fn needed_scope(parts: &axum::http::request::Parts) -> Scope {
    parts
        .extensions
        .get::<Scope>()
        .copied()
        .unwrap_or(Scope::Admin)
}

impl Routes {
    /// One method on one path, with its method router as given (it may carry layers of its own).
    pub fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        route: MethodRouter<Arc<AppState>>,
    ) -> Self {
        let route = match self.scope {
            Some(scope) => route.layer(axum::Extension(scope)),
            None => route,
        };
        self.router = self.router.route(path, route);
        self.served.push((method, path));
        self
    }

    /// The token scope the routes added after this call need.
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    pub fn get<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        self.add("GET", path, routing::get(handler))
    }

    pub fn post<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        self.add("POST", path, routing::post(handler))
    }

    pub fn delete<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, Arc<AppState>>,
        T: 'static,
    {
        self.add("DELETE", path, routing::delete(handler))
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.served.extend(other.served);
        self
    }

    pub fn served(&self) -> &[(&'static str, &'static str)] {
        &self.served
    }

    pub fn into_router(self) -> Router<Arc<AppState>> {
        self.router
    }
}
