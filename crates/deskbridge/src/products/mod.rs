//! Products built on the synced copy. Each reads the help desk through `sync` and keeps its own
//! tables; the first is [`triage`].

pub mod triage;
