//! deskbridge: the self-hostable help-desk integration layer. Today it holds the `demo` command,
//! which runs the seeded Freshdesk emulator in-process; the server, the client library and sync
//! land with the issues that build them (see the README).

#![forbid(unsafe_code)]

pub mod demo;
