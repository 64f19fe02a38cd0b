//! Black-box tests of the deskbridge server through `spawn_app()`: a real server on port 0, a fresh
//! database (SQLite, or PostgreSQL when TEST_DATABASE_URL is set) and a fresh Freshdesk emulator.

mod helpers;

mod auth;
mod connect;
mod help;
mod review;
mod security;
mod vault;
