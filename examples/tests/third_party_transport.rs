//! The third-party pipe transport passes the conformance kit and is calibrated by the harness
//! (quick mode), and the model refuses it across nodes.

#[path = "../examples/third_party_transport.rs"]
#[allow(dead_code, unreachable_pub)]
mod example;

#[test]
fn a_third_party_transport_conforms_and_is_calibrated_by_the_harness() {
    let o = example::run(true).unwrap_or_else(|e| panic!("{e}"));
    // Measured, not the unix defaults it started from.
    let s = &o.costs.unloaded.server;
    assert!(
        s.per_request.source.detail().contains("least squares"),
        "{:?}",
        s.per_request.source
    );
    assert!(
        s.per_request.value() > 0.0 && s.per_request.value() < 1e7,
        "{s:?}"
    );
    // Two system calls per message at least: a round trip is microseconds of CPU, not nothing.
    assert!(
        o.server_ns.0 > 100.0 && o.server_ns.0 < 1e7,
        "{:?}",
        o.server_ns
    );
    assert!(o.server_ns.1 > 0.0, "{:?}", o.server_ns);
    assert!(
        o.refusal.contains("same-host") && o.refusal.contains("pipe"),
        "{}",
        o.refusal
    );
}
