//! The request-latency histogram of one server, by method, route pattern and status: filled by
//! the layer in `metrics` that every request passes, read at each `/metrics` scrape.

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

pub type Labels = Vec<(&'static str, String)>;

/// Seconds per request, by method, route (the pattern, never the path: ids stay out) and status;
/// one per server (cheap to clone: the clones share their counts).
#[derive(Clone)]
pub struct Latency(pub Family<Labels, Histogram, fn() -> Histogram>);

fn buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Latency {
    fn default() -> Self {
        Latency(Family::new_with_constructor(buckets))
    }
}
