//! The `deskbridge` command line: its arguments, the command bodies, and the foreground sync.

pub mod args;
mod commands;
mod sync;

pub use args::Cli;
pub use commands::run;
