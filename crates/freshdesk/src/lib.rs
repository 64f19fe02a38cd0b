//! A Freshdesk API v2 client that is safe to point at a domain a stranger typed. A
//! [`FreshdeskDomain`] can only become `https://<label>.freshdesk.com/api/v2/`; every resolved
//! address is checked before it is dialled; the [`ApiKey`] only ever leaves in `Authorization`;
//! calls share one rate [`governor`] per account; page streams cross the 300-page wall; and every
//! failure is an [`Error`] variant the caller can act on. No database code lives here.

#![forbid(unsafe_code)]

pub mod check;
pub mod client;
pub mod domain;
pub mod endpoints;
pub mod error;
pub mod governor;
pub mod models;
pub mod net;
pub mod paging;

pub use check::{ConnectionReport, check_connection};
pub use client::{Client, ClientConfig, EmulatorRouting, KeyCheck};
pub use domain::{ApiKey, ApiKeyError, DomainError, FreshdeskDomain};
pub use error::Error;
pub use governor::Priority;
