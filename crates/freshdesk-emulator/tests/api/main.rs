//! Contract tests for the Freshdesk emulator, driven over real HTTPS by a plain HTTP client that
//! knows nothing of the emulator's types: every assertion is on status, headers and JSON text as
//! Freshdesk documents them (see `shared/freshdesk-api.md`).

mod helpers;

mod accounts;
mod auth;
mod automations;
mod control;
mod corpus;
mod errors;
mod links;
mod live;
mod paging;
mod rate_limits;
mod resources;
mod routing;
mod seed;
mod tickets;
mod tls;
mod writes;
