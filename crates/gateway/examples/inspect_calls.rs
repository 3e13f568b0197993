//! Runs `InspectPolicy::inspect` on the `scripts/bench` 1 KB JSON body N times (argument 1,
//! default 1000) at paranoia 2, for instruction counts under callgrind:
//!
//!   valgrind --tool=callgrind target/release/examples/inspect_calls 2000
//!
//! Two runs with different N, subtracted and divided, give instructions per inspected request
//! without the start-up (the policy is built once, before the loop).

use palisade_gateway::config::inspect::{InspectConfig, RouteInspect};
use palisade_gateway::protect::inspect::InspectPolicy;
use std::hint::black_box;

#[path = "../benches/support/inspect_request.rs"]
mod request;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1000, |a| a.parse().expect("N: a count"));
    let policy = InspectPolicy::new(&InspectConfig::default(), &RouteInspect::default()).unwrap();
    assert_eq!(policy.paranoia, 2);
    let parts = request::parts();
    let body = request::small_body();
    for _ in 0..n {
        let verdict = policy.inspect(&parts, black_box(&body)).unwrap();
        assert_eq!(black_box(verdict).score, 0);
    }
}
