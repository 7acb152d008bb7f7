//! Counters and latency histograms, rendered in the Prometheus text format (version 0.0.4).
//!
//! Lock-free: each request adds to a few atomics.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The routes counted, in the order they are rendered.
pub const ROUTES: [&str; 8] = [
    "/v1/rank",
    "/v1/explain",
    "/v1/profile:get",
    "/v1/profile:post",
    "/filter",
    "/prioritize",
    "/healthz",
    "/metrics",
];

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: [f64; 10] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.05, 0.25,
];

/// Status classes counted per route.
const CLASSES: [&str; 4] = ["2xx", "4xx", "5xx", "other"];

#[derive(Debug, Default)]
struct Route {
    status: [AtomicU64; 4],
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_ns: AtomicU64,
}

/// The service's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    routes: [Route; ROUTES.len()],
    profile_loads: AtomicU64,
    profile_rejects: AtomicU64,
}

impl Metrics {
    /// Records one request of `route` (an index into [`ROUTES`]) answered with `status` in
    /// `ns` nanoseconds of handler time.
    pub fn observe(&self, route: usize, status: u16, ns: u64) {
        let Some(r) = self.routes.get(route) else {
            return;
        };
        let class = match status {
            200..=299 => 0,
            400..=499 => 1,
            500..=599 => 2,
            _ => 3,
        };
        r.status[class].fetch_add(1, Ordering::Relaxed);
        r.count.fetch_add(1, Ordering::Relaxed);
        r.sum_ns.fetch_add(ns, Ordering::Relaxed);
        // ns to seconds for the bucket bounds; exact below 2^53 ns (104 days).
        #[allow(clippy::cast_precision_loss)]
        let s = ns as f64 / 1e9;
        if let Some(b) = BUCKETS.iter().position(|&le| s <= le) {
            r.buckets[b].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a host profile upload, accepted or not.
    pub fn profile_load(&self, accepted: bool) {
        if accepted {
            self.profile_loads.fetch_add(1, Ordering::Relaxed);
        } else {
            self.profile_rejects.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The Prometheus text exposition, with the current profile's `generation`.
    pub fn render(&self, generation: u64, host: &str) -> String {
        let mut s = String::with_capacity(4096);
        s.push_str(
            "# HELP placementd_requests_total Requests answered, by route and status class.\n",
        );
        s.push_str("# TYPE placementd_requests_total counter\n");
        for (name, r) in ROUTES.iter().zip(&self.routes) {
            for (class, c) in CLASSES.iter().zip(&r.status) {
                let _ = writeln!(
                    s,
                    "placementd_requests_total{{route=\"{name}\",status=\"{class}\"}} {}",
                    c.load(Ordering::Relaxed)
                );
            }
        }
        s.push_str("# HELP placementd_request_seconds Handler time per request.\n");
        s.push_str("# TYPE placementd_request_seconds histogram\n");
        for (name, r) in ROUTES.iter().zip(&self.routes) {
            let mut cum = 0;
            for (le, b) in BUCKETS.iter().zip(&r.buckets) {
                cum += b.load(Ordering::Relaxed);
                let _ = writeln!(
                    s,
                    "placementd_request_seconds_bucket{{route=\"{name}\",le=\"{le}\"}} {cum}"
                );
            }
            let count = r.count.load(Ordering::Relaxed);
            let _ = writeln!(
                s,
                "placementd_request_seconds_bucket{{route=\"{name}\",le=\"+Inf\"}} {count}"
            );
            #[allow(clippy::cast_precision_loss)]
            let sum = r.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                s,
                "placementd_request_seconds_sum{{route=\"{name}\"}} {sum}"
            );
            let _ = writeln!(
                s,
                "placementd_request_seconds_count{{route=\"{name}\"}} {count}"
            );
        }
        s.push_str("# HELP placementd_profile_loads_total Host profile uploads, by outcome.\n");
        s.push_str("# TYPE placementd_profile_loads_total counter\n");
        let _ = writeln!(
            s,
            "placementd_profile_loads_total{{outcome=\"accepted\"}} {}",
            self.profile_loads.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "placementd_profile_loads_total{{outcome=\"rejected\"}} {}",
            self.profile_rejects.load(Ordering::Relaxed)
        );
        s.push_str("# HELP placementd_profile_generation Uploads behind the profile in force.\n");
        s.push_str("# TYPE placementd_profile_generation gauge\n");
        let host = host.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = writeln!(
            s,
            "placementd_profile_generation{{host=\"{host}\"}} {generation}"
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_lands_in_its_bucket_and_in_the_cumulative_ones_above() {
        let m = Metrics::default();
        m.observe(5, 200, 300_000); // 0.3 ms
        let text = m.render(0, "h");
        assert!(
            text.contains(
                "placementd_request_seconds_bucket{route=\"/prioritize\",le=\"0.00025\"} 0"
            )
        );
        assert!(
            text.contains(
                "placementd_request_seconds_bucket{route=\"/prioritize\",le=\"0.0005\"} 1"
            )
        );
        assert!(
            text.contains("placementd_request_seconds_bucket{route=\"/prioritize\",le=\"+Inf\"} 1")
        );
        assert!(text.contains("placementd_requests_total{route=\"/prioritize\",status=\"2xx\"} 1"));
    }
}
