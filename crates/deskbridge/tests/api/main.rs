//! Black-box tests of the deskbridge server through `spawn_app()`: a real server on port 0, a fresh
//! database (SQLite, or PostgreSQL when TEST_DATABASE_URL is set) and a fresh Freshdesk emulator.
//! One binary, one module per capability; the browser tests skip themselves (and say so) where
//! Chromium is not installed, except in CI.

mod helpers;

mod auth;
mod browse;
mod browser;
mod cli;
mod connect;
mod dashboard;
mod health;
mod help;
mod jobs;
mod logs;
mod migrations;
mod notify;
mod openapi;
mod records;
mod review;
mod scale;
mod security;
mod sync;
mod triage;
mod vault;
