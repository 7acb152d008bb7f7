//! Bad requests get a 400 (413 for an oversized body) with a JSON error naming the field, and
//! the service keeps serving: after each one, the same connection's next good request works.

mod common;

use common::{Server, fixtures};
use placementd::client::Client;
use serde_json::{Value, json};

fn recorded() -> Value {
    let (_, here) = fixtures();
    let text = std::fs::read_to_string(here.join("extender-args-16-nodes.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Sends `body` to `path`, checks the status and the field the error names, then checks that a
/// good `/prioritize` still answers on a fresh connection and on this one.
fn refused(
    s: &Server,
    c: &mut Client,
    path: &str,
    body: &[u8],
    status: u16,
    field: &str,
) -> String {
    let r = c.post(path, body).unwrap();
    let text = r.text();
    assert_eq!(r.status, status, "{path}: {text}");
    let e: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    assert_eq!(e["field"], field, "{text}");
    let line = e["error"].as_str().unwrap().to_owned();
    assert!(!line.contains('\n'), "one line: {line}");
    let good = recorded().to_string();
    for conn in [&mut s.client(), c] {
        let ok = conn.post("/prioritize", good.as_bytes()).unwrap();
        assert_eq!(ok.status, 200, "still serving: {}", ok.text());
    }
    line
}

#[test]
fn malformed_json_is_refused() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let e = refused(&s, &mut c, "/prioritize", b"{\"pod\": {", 400, "body");
    assert!(e.contains("EOF"), "{e}");
    refused(
        &s,
        &mut c,
        "/v1/rank",
        br#"{"workload_id": "graph-4hop""#,
        400,
        "body",
    );
    refused(&s, &mut c, "/v1/rank", br#""a string""#, 400, "body");
    refused(&s, &mut c, "/filter", b"not json at all", 400, "body");
    let e = refused(
        &s,
        &mut c,
        "/v1/rank",
        br#"{"workload_id": "graph-4hop"} trailing"#,
        400,
        "body",
    );
    assert!(e.contains("trailing"), "{e}");
}

#[test]
fn missing_fields_are_named() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let mut args = recorded();
    args.as_object_mut().unwrap().remove("pod");
    refused(
        &s,
        &mut c,
        "/prioritize",
        args.to_string().as_bytes(),
        400,
        "pod",
    );
    let mut args = recorded();
    args.as_object_mut().unwrap().remove("nodes");
    refused(
        &s,
        &mut c,
        "/filter",
        args.to_string().as_bytes(),
        400,
        "nodes",
    );
    let mut args = recorded();
    let ann = args["pod"]["metadata"]["annotations"]
        .as_object_mut()
        .unwrap();
    ann.remove("placement.neardata.io/data-node");
    refused(
        &s,
        &mut c,
        "/prioritize",
        args.to_string().as_bytes(),
        400,
        "pod.metadata.annotations[placement.neardata.io/data-node]",
    );
    let mut args = recorded();
    args["nodes"]["items"][3]["metadata"]["annotations"]
        .as_object_mut()
        .unwrap()
        .remove("placement.neardata.io/free-cores");
    args["nodes"]["items"][3]["status"]["allocatable"]
        .as_object_mut()
        .unwrap()
        .remove("cpu");
    refused(
        &s,
        &mut c,
        "/prioritize",
        args.to_string().as_bytes(),
        400,
        "nodes.items[3].status.allocatable.cpu",
    );
    // A workload profile without record_bytes.
    let w = json!({"workload": {"id": "f", "records_per_invocation": 1.0, "request_bytes": 1.0,
        "response_bytes": 1.0, "compute": {"base": 1.0}, "arrival": {"rate": 1.0}}});
    let e = refused(
        &s,
        &mut c,
        "/v1/rank",
        w.to_string().as_bytes(),
        400,
        "workload",
    );
    assert!(e.contains("record_bytes"), "{e}");
    refused(&s, &mut c, "/v1/rank", b"{}", 400, "workload");
}

#[test]
fn wrong_types_and_unknown_fields_are_named() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let body = br#"{"workload_id": "graph-4hop", "nodes": [{"name": "a", "free_cores": "many"}], "data_node": "a"}"#;
    refused(&s, &mut c, "/v1/rank", body, 400, "nodes[0].free_cores");
    let body = br#"{"workload_id": "graph-4hop", "colour": "blue"}"#;
    refused(&s, &mut c, "/v1/rank", body, 400, "colour");
    // A pod annotation with a bad value: the error names the condition it feeds (out of range)
    // or the annotation itself (not a number), and quotes the value.
    let annotated = |key: &str, value: &str| {
        let mut args = recorded();
        args["pod"]["metadata"]["annotations"][format!("placement.neardata.io/{key}")] =
            json!(value);
        args.to_string()
    };
    for (key, value, field) in [
        ("storage-utilisation", "1.5", "state.storage_utilisation"),
        ("requests-per-syscall", "0.25", "state.requests_per_syscall"),
        (
            "peer-wakeups-per-request",
            "lots",
            "pod.metadata.annotations[placement.neardata.io/peer-wakeups-per-request]",
        ),
    ] {
        let body = annotated(key, value);
        let e = refused(&s, &mut c, "/prioritize", body.as_bytes(), 400, field);
        assert!(e.contains(value), "{e}");
    }
    let body = br#"{"workload_id": "graph-4hop", "warm_hit": -0.5}"#;
    refused(&s, &mut c, "/v1/rank", body, 400, "warm_hit");
    let body = br#"{"workload_id": "graph-4hop", "requests_per_syscall": 0.5}"#;
    let e = refused(&s, &mut c, "/v1/rank", body, 400, "requests_per_syscall");
    assert!(e.contains("0.5"), "{e}");
    let body = br#"{"workload_id": "graph-4hop", "peer_wakeups_per_request": -1}"#;
    refused(
        &s,
        &mut c,
        "/v1/rank",
        body,
        400,
        "peer_wakeups_per_request",
    );
}

#[test]
fn unknown_nodes_and_workloads_are_named() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let body = br#"{"workload_id": "graph-4hop", "nodes": [{"name": "a", "free_cores": 1}], "data_node": "b"}"#;
    let e = refused(&s, &mut c, "/v1/rank", body, 400, "data_node");
    assert!(e.contains("\"b\""), "{e}");
    // nodenames without a --nodes file: every name is unknown.
    let mut args = recorded();
    args.as_object_mut().unwrap().remove("nodes");
    args["nodenames"] = json!(["storage-0", "compute-1"]);
    refused(
        &s,
        &mut c,
        "/filter",
        args.to_string().as_bytes(),
        400,
        "nodenames[0]",
    );
    let e = refused(
        &s,
        &mut c,
        "/v1/rank",
        br#"{"workload_id": "nope"}"#,
        400,
        "workload_id",
    );
    assert!(e.contains("graph-4hop"), "lists the loaded ids: {e}");
}

#[test]
fn nan_in_a_profile_is_refused_and_the_old_profile_stays() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let (root, _) = fixtures();
    let text = std::fs::read_to_string(root.join("hosts/reference.ron")).unwrap();
    let bad = text.replacen("dispatch: (point: 200.0", "dispatch: (point: NaN", 1);
    assert_ne!(bad, text, "the fixture still has the dispatch line");
    let e = refused(&s, &mut c, "/v1/profile", bad.as_bytes(), 400, "profile");
    assert!(e.contains("dispatch") && e.contains("NaN"), "{e}");
    let p: Value = serde_json::from_slice(&c.get("/v1/profile").unwrap().body).unwrap();
    assert_eq!(p["generation"], 0);
    assert_eq!(p["host"], "reference-literature");
    // Not RON at all.
    refused(
        &s,
        &mut c,
        "/v1/profile",
        b"(format_version: 1, host: ",
        400,
        "profile",
    );
    // NaN in a workload given in RON in the pod's annotation.
    let mut args = recorded();
    args["pod"]["metadata"]["annotations"]["placement.neardata.io/workload"] = json!(
        "(id: \"f\", records_per_invocation: NaN, record_bytes: 8.0, request_bytes: 8.0, \
         response_bytes: 8.0, compute: (base: 10.0), arrival: (rate: 10.0))"
    );
    let e = refused(
        &s,
        &mut c,
        "/prioritize",
        args.to_string().as_bytes(),
        400,
        "pod.metadata.annotations[placement.neardata.io/workload]",
    );
    assert!(
        e.contains("records_per_invocation") && e.contains("NaN"),
        "{e}"
    );
    let m = c.get("/metrics").unwrap().text();
    assert!(
        m.contains("placementd_profile_loads_total{outcome=\"rejected\"} 2"),
        "{m}"
    );
}

#[test]
fn an_oversized_body_gets_413() {
    let s = Server::start(&["--max-body", "65536"]);
    let mut c = s.client();
    let mut args = recorded();
    args["pod"]["metadata"]["labels"]["padding"] = json!("x".repeat(70_000));
    let e = refused(
        &s,
        &mut c,
        "/prioritize",
        args.to_string().as_bytes(),
        413,
        "body",
    );
    assert!(e.contains("65536"), "{e}");
}

#[test]
fn a_table_size_for_a_profile_without_a_curve_stops_the_service_in_one_line() {
    let (root, _) = fixtures();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_placementd"))
        .arg("--host")
        .arg(root.join("hosts/reference.ron"))
        .args(["--table-bytes", "10000000", "--listen", "127.0.0.1:0"])
        .output()
        .expect("placementd runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("--table-bytes") && err.contains("table_access"),
        "{err}"
    );
}
