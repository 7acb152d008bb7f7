//! The HTTP layer: routes, body limits, JSON errors, metrics, and the profile swap.
//!
//! Every handler runs its work synchronously on the request's worker thread, inside
//! `catch_unwind`, and turns every failure into a JSON error; nothing in it waits on I/O but the
//! request body itself. A profile upload is parsed and validated on the blocking pool, then
//! swapped in with one atomic store.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::api::{self, RankRequest};
use crate::engine::Engine;
use crate::error::{self, ApiError};
use crate::extender::{
    self, ExtenderArgs, ExtenderFilterResult, KnownNode, Node, NodeList, NodeView, Verdict,
};
use crate::metrics::Metrics;

/// Everything the handlers share.
#[derive(Debug)]
pub struct App {
    /// The engine in force; swapped whole by a profile upload.
    pub engine: ArcSwap<Engine>,
    /// Counters.
    pub metrics: Metrics,
    /// Nodes known from `--nodes`, for `nodenames` requests.
    pub known_nodes: Vec<KnownNode>,
    /// Largest request body accepted, bytes.
    pub max_body: usize,
    /// Serialises profile uploads (never taken on the ranking path).
    upload: Mutex<()>,
}

impl App {
    /// Shared state for a service starting with `engine`.
    pub fn new(engine: Engine, known_nodes: Vec<KnownNode>, max_body: usize) -> Arc<Self> {
        Arc::new(App {
            engine: ArcSwap::from_pointee(engine),
            metrics: Metrics::default(),
            known_nodes,
            max_body,
            upload: Mutex::new(()),
        })
    }
}

/// The service's routes.
pub fn router(app: Arc<App>) -> Router {
    let limit = app.max_body;
    Router::new()
        .route("/v1/rank", post(rank))
        .route("/v1/explain", post(explain))
        .route("/v1/profile", get(profile_get).post(profile_post))
        .route("/filter", post(filter))
        .route("/prioritize", post(prioritize))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(app)
}

fn respond(status: u16, content_type: &'static str, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json_response<T: Serialize>(v: &T) -> Result<(u16, String), ApiError> {
    serde_json::to_string(v)
        .map(|s| (200, s))
        .map_err(ApiError::internal)
}

/// Runs `work` on the body, timing it, catching panics, and answering JSON.
fn handle(
    app: &App,
    route: usize,
    body: Result<Bytes, BytesRejection>,
    work: impl FnOnce(&App, &[u8]) -> Result<(u16, String), ApiError>,
) -> Response {
    let start = Instant::now();
    let result = match body {
        Err(rej) if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ApiError::too_large(app.max_body))
        }
        Err(rej) => Err(ApiError::bad("body", rej.body_text())),
        Ok(bytes) => catch_unwind(AssertUnwindSafe(|| work(app, &bytes))).unwrap_or_else(|_| {
            Err(ApiError::internal(
                "the handler panicked; the request was dropped",
            ))
        }),
    };
    let (status, text) = match result {
        Ok(ok) => ok,
        Err(e) => (e.status, e.body()),
    };
    let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    app.metrics.observe(route, status, ns);
    respond(status, "application/json", text)
}

/// Parses a JSON body, naming the field at fault.
///
/// The fast path parses plainly; only a body that fails is parsed again to find the path.
fn parse<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, ApiError> {
    if let Ok(v) = serde_json::from_slice(bytes) {
        return Ok(v);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = serde_path_to_error::deserialize(&mut de).map_err(error::from_json)?;
    de.end().map_err(|e| ApiError::bad("body", e))?;
    Ok(v)
}

async fn rank(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Response {
    handle(&app, 0, body, |app, b| {
        let req: RankRequest = parse(b)?;
        json_response(&api::rank(&app.engine.load(), &req, false)?)
    })
}

async fn explain(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Response {
    handle(&app, 1, body, |app, b| {
        let req: RankRequest = parse(b)?;
        json_response(&api::rank(&app.engine.load(), &req, true)?)
    })
}

/// `GET /v1/profile`: the profile in force.
#[derive(Serialize)]
struct ProfileInfo<'a> {
    host: &'a str,
    generation: u64,
    schemes: Vec<String>,
    transports: Vec<String>,
    workloads: Vec<&'a str>,
    ron: &'a str,
}

async fn profile_get(State(app): State<Arc<App>>) -> Response {
    handle(&app, 2, Ok(Bytes::new()), |app, _| {
        let e = app.engine.load();
        json_response(&ProfileInfo {
            host: &e.model().host().host.name,
            generation: e.generation(),
            schemes: e.model().scheme_ids().map(|s| s.to_string()).collect(),
            transports: e.model().transport_ids().map(|t| t.to_string()).collect(),
            workloads: e.workloads().keys().map(String::as_str).collect(),
            ron: e.profile_ron(),
        })
    })
}

/// Parses, validates and swaps in a new profile; the old one stays on any error.
fn load_profile(app: &App, body: &[u8]) -> Result<(u16, String), ApiError> {
    let text = std::str::from_utf8(body).map_err(|e| ApiError::bad("body", e))?;
    let host = costmodel::HostProfile::from_ron(text, "uploaded profile")
        .map_err(|e| ApiError::bad("profile", e))?;
    let _guard = app.upload.lock().unwrap_or_else(|p| p.into_inner());
    let old = app.engine.load();
    let engine = Engine::new(
        host,
        text.to_owned(),
        old.generation() + 1,
        Arc::clone(old.workloads()),
    )?;
    let answer = serde_json::json!({
        "host": engine.model().host().host.name,
        "generation": engine.generation(),
        "previous": old.model().host().host.name,
    });
    app.engine.store(Arc::new(engine));
    Ok((200, answer.to_string()))
}

async fn profile_post(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // Parsing and validating a profile takes milliseconds: off the request workers.
    let worker = Arc::clone(&app);
    let done = tokio::task::spawn_blocking(move || {
        handle(&worker, 3, body, |app, b| {
            let r = load_profile(app, b);
            app.metrics.profile_load(r.is_ok());
            r
        })
    })
    .await;
    done.unwrap_or_else(|_| {
        let e = ApiError::internal("the profile loader stopped");
        respond(e.status, "application/json", e.body())
    })
}

/// The request's nodes as views: full nodes, or names looked up in `--nodes`.
fn views<N>(
    app: &App,
    args: &ExtenderArgs<'_, N>,
    node: impl Fn(&N, &str) -> Result<NodeView, ApiError>,
) -> Result<Vec<NodeView>, ApiError> {
    match (&args.nodes, &args.nodenames) {
        (Some(list), _) => list
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| node(item, &format!("nodes.items[{i}]")))
            .collect(),
        (None, Some(names)) => extender::views_from_names(names, &app.known_nodes),
        (None, None) => Err(ApiError::bad("nodes", "missing: give nodes or nodenames")),
    }
}

async fn prioritize(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Response {
    handle(&app, 5, body, |app, b| {
        let args: ExtenderArgs<'_, Node<'_>> = parse(b)?;
        let nodes = views(app, &args, NodeView::from_node)?;
        let verdicts = extender::verdicts(&app.engine.load(), args.pod.as_ref(), &nodes)?;
        json_response(&extender::priorities(&nodes, &verdicts))
    })
}

async fn filter(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> Response {
    handle(&app, 4, body, |app, b| {
        let args: ExtenderArgs<'_, &RawValue> = parse(b)?;
        let nodes = views(app, &args, |raw, at| {
            let mut de = serde_json::Deserializer::from_str(raw.get());
            let node: Node<'_> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let path = e.path().to_string();
                ApiError::bad(format!("{at}.{path}"), e.into_inner())
            })?;
            NodeView::from_node(&node, at)
        })?;
        let verdicts = extender::verdicts(&app.engine.load(), args.pod.as_ref(), &nodes)?;
        let mut result = ExtenderFilterResult::default();
        let mut passed = Vec::new();
        for (i, (n, v)) in nodes.iter().zip(&verdicts).enumerate() {
            match v {
                Verdict::Score(_) => passed.push(i),
                Verdict::Fails(why, true) => {
                    result.failed_nodes.insert(n.name.clone(), why.clone());
                }
                Verdict::Fails(why, false) => {
                    result
                        .failed_and_unresolvable_nodes
                        .insert(n.name.clone(), why.clone());
                }
            }
        }
        match (args.nodes, args.nodenames) {
            (Some(list), _) => {
                result.nodes = Some(NodeList {
                    items: passed.iter().map(|&i| list.items[i]).collect(),
                });
            }
            (None, Some(names)) => {
                result.nodenames = Some(passed.iter().map(|&i| names[i].to_string()).collect());
            }
            (None, None) => {}
        }
        json_response(&result)
    })
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let start = Instant::now();
    let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    app.metrics.observe(6, 200, ns);
    respond(200, "text/plain; charset=utf-8", "ok\n".to_owned())
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let start = Instant::now();
    let e = app.engine.load();
    let text = app
        .metrics
        .render(e.generation(), &e.model().host().host.name);
    let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    app.metrics.observe(7, 200, ns);
    respond(200, "text/plain; version=0.0.4; charset=utf-8", text)
}
