//! The service end to end: the real binary on a loopback port, spoken to over HTTP/1.1.

mod common;

use common::{Server, fixtures};
use serde_json::{Value, json};

fn json_of(r: &placementd::client::Reply) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

fn recorded(name: &str) -> Value {
    let (_, here) = fixtures();
    serde_json::from_str(&std::fs::read_to_string(here.join(name)).unwrap()).unwrap()
}

#[test]
fn health_metrics_and_profile_answer() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let r = c.get("/healthz").unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
    let p = json_of(&c.get("/v1/profile").unwrap());
    assert_eq!(p["host"], "reference-literature");
    assert_eq!(p["generation"], 0);
    assert!(
        p["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w == "graph-4hop")
    );
    assert!(p["ron"].as_str().unwrap().contains("format_version"));
    let m = c.get("/metrics").unwrap();
    assert!(
        m.content_type
            .as_deref()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = m.text();
    assert!(
        text.contains("placementd_requests_total{route=\"/healthz\",status=\"2xx\"} 1"),
        "{text}"
    );
    assert!(text.contains("placementd_profile_generation{host=\"reference-literature\"} 0"));
}

#[test]
fn rank_by_id_equals_rank_of_the_same_profile_inline() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let by_id = json_of(
        &c.post("/v1/rank", br#"{"workload_id": "graph-4hop"}"#)
            .unwrap(),
    );
    let (root, _) = fixtures();
    let set = costmodel::WorkloadSet::load(root.join("workloads/graph-lookup.ron")).unwrap();
    let inline = json!({"workload": serde_json::to_value(&set.workloads[0]).unwrap()});
    let r = c.post("/v1/rank", inline.to_string().as_bytes()).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let inline = json_of(&r);
    assert_eq!(by_id["ranking"], inline["ranking"]);
    let ranking = by_id["ranking"].as_array().unwrap();
    assert!(by_id["feasible"].as_u64().unwrap() > 0);
    let scores: Vec<f64> = ranking.iter().filter_map(|e| e["score"].as_f64()).collect();
    assert!(scores.windows(2).all(|w| w[0] <= w[1]), "{scores:?}");
}

#[test]
fn explain_says_what_puts_each_candidate_behind_the_winner() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let body = json!({"workload_id": "graph-4hop", "limit": 3, "storage_utilisation": 0.5,
                      "objective": "pushback"});
    let r = json_of(&c.post("/v1/explain", body.to_string().as_bytes()).unwrap());
    let list = r["ranking"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert!(list[0]["explanation"].as_str().unwrap().starts_with("#1 "));
    assert!(list[0]["vs_winner"].as_array().unwrap().is_empty());
    let second = list[1]["explanation"].as_str().unwrap();
    assert!(second.contains("vs winner: "), "{second}");
    assert!(!list[1]["vs_winner"].as_array().unwrap().is_empty());
}

#[test]
fn prioritize_scores_the_recorded_nodes_from_zero_to_ten() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let args = recorded("extender-args-16-nodes.json");
    let r = c.post("/prioritize", args.to_string().as_bytes()).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let list: Vec<placementd::extender::HostPriority> = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(list.len(), 16);
    assert!(list.iter().all(|h| (0..=10).contains(&h.score)));
    let score = |n: &str| list.iter().find(|h| h.host == n).unwrap().score;
    // A storage node without the data and a compute node with no free CPU run nothing.
    assert_eq!(score("storage-1"), 0);
    assert_eq!(score("compute-7"), 0);
    assert_eq!(list.iter().map(|h| h.score).max(), Some(10));
    // The node scored 10 is the node of /v1/rank's winner for the same inputs.
    let ann = &args["pod"]["metadata"]["annotations"];
    let nodes: Vec<Value> = list
        .iter()
        .filter(|h| h.host != "storage-1")
        .map(|h| {
            let item = args["nodes"]["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["metadata"]["name"] == h.host.as_str())
                .unwrap();
            let free = item["metadata"]["annotations"]["placement.neardata.io/free-cores"]
                .as_str()
                .map_or(3.5, |f| f.parse().unwrap());
            json!({"name": h.host, "free_cores": free})
        })
        .collect();
    let workload: Value =
        serde_json::from_str(ann["placement.neardata.io/workload"].as_str().unwrap()).unwrap();
    let req = json!({"workload": workload, "nodes": nodes, "data_node": "storage-0",
                     "storage_utilisation": 0.4});
    let ranked = json_of(&c.post("/v1/rank", req.to_string().as_bytes()).unwrap());
    let winner = ranked["ranking"][0]["node"].as_str().unwrap().to_owned();
    assert_eq!(score(&winner), 10, "{list:?}");
}

#[test]
fn filter_keeps_feasible_nodes_and_says_why_the_others_fail() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let args = recorded("extender-args-16-nodes.json");
    let r = c.post("/filter", args.to_string().as_bytes()).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let v = json_of(&r);
    let kept = v["nodes"]["items"].as_array().unwrap();
    assert_eq!(kept.len(), 14, "{v}");
    // Kept nodes are echoed whole.
    assert!(
        kept.iter()
            .all(|n| n["status"]["nodeInfo"]["kubeletVersion"] == "v1.31.0")
    );
    let full = v["failedNodes"]["compute-7"].as_str().unwrap();
    assert!(full.contains("is full"), "{full}");
    let other = v["failedAndUnresolvableNodes"]["storage-1"]
        .as_str()
        .unwrap();
    assert!(other.contains("does not hold"), "{other}");
}

#[test]
fn nodenames_are_resolved_from_the_nodes_file() {
    let (_, here) = fixtures();
    let nodes = here.join("nodes.json");
    let s = Server::start(&["--nodes", nodes.to_str().unwrap()]);
    let mut c = s.client();
    let mut args = recorded("extender-args-nodenames.json");
    let r = c.post("/filter", args.to_string().as_bytes()).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let v = json_of(&r);
    assert_eq!(v["nodenames"], json!(["storage-0", "compute-1"]), "{v}");
    let p = c.post("/prioritize", args.to_string().as_bytes()).unwrap();
    assert_eq!(p.status, 200, "{}", p.text());
    args["nodenames"][1] = json!("compute-99");
    let bad = c.post("/prioritize", args.to_string().as_bytes()).unwrap();
    assert_eq!(bad.status, 400);
    let e = json_of(&bad);
    assert_eq!(e["field"], "nodenames[1]");
    assert!(e["message"].as_str().unwrap().contains("compute-99"));
}

#[test]
fn a_new_profile_is_swapped_in_atomically() {
    let s = Server::start(&[]);
    let mut c = s.client();
    let (root, _) = fixtures();
    let text = std::fs::read(root.join("hosts/vm-2cpu-amd-epyc.ron")).unwrap();
    let r = c.post("/v1/profile", &text).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let v = json_of(&r);
    assert_eq!(v["generation"], 1);
    let p = json_of(&c.get("/v1/profile").unwrap());
    assert_eq!(p["generation"], 1);
    assert_ne!(p["host"], "reference-literature");
    let ranked = json_of(
        &c.post("/v1/rank", br#"{"workload_id": "graph-4hop"}"#)
            .unwrap(),
    );
    assert_eq!(ranked["generation"], 1);
    assert_eq!(ranked["host"], p["host"]);
}
