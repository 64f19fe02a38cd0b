//! The synced copy as a product surface: [`read`] serves each stream's records in the order
//! deskbridge changed them, from signed cursors; [`notify`] tells an organisation's webhook what
//! changed after each sync or webhook refresh, with the cursors to read it from.

pub mod notify;
mod read;

pub use read::{
    DEFAULT_LIMIT, MAX_LIMIT, Page, Query, Record, RecordsError, StreamChanges, changed_since,
    list, stream_names,
};
