//! deskbridge: the self-hostable help-desk integration layer.

#![forbid(unsafe_code)]

/// Organisations, users, passwords and sessions.
pub mod accounts;
/// Startup and shared application state.
pub mod app;
/// The audit log.
pub mod audit;
/// Operator commands: foreground sync and verify.
pub mod cli;
/// Layered, typed configuration.
pub mod config;
/// Freshdesk integrations: connect, show, re-authorize, disconnect.
pub mod connections;
/// `deskbridge demo`: everything embedded.
pub mod demo;
/// Error helpers shared by every boundary.
pub mod errors;
/// Connection health: checks, causes, status timeline, incidents and alerts.
pub mod health;
/// Support hours, support requests and guide feedback.
pub mod help;
/// Escaping for HTML written outside the templates.
pub mod html;
/// The one durable job queue.
pub mod jobs;
/// Products on the synced copy: Triage.
pub mod products;
/// The synced copy for products: records of every stream in change order, from a cursor.
pub mod records;
/// Background work composed: job kinds and handlers, the scheduler, sync runs.
pub mod runtime;
/// Database engine plumbing and migrations.
pub mod store;
/// Keeping a copy of the help desk: every stream, incremental, crash-safe.
pub mod sync;
/// Encryption of Freshdesk keys at rest.
pub mod vault;
/// Pages, the JSON API and the middleware around them.
pub mod web;
/// Signed webhooks to organisations' URLs: alerts and change notifications.
pub mod webhook;

pub use errors::error_chain;
