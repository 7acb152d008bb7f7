//! `placementd`: the placement service. See the crate README for the API.
//!
//! ```text
//! placementd --host host.ron [--table-bytes N] [--workloads fixtures/workloads] [--listen 127.0.0.1:8080]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use costmodel::{HostProfile, WorkloadSet};
use placementd::engine::{Engine, workload_map};
use placementd::extender::KnownNode;
use placementd::http::{App, router};

/// Ranks placements of serverless functions over HTTP, with the Kubernetes scheduler-extender
/// verbs `/filter` and `/prioritize`.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Host profile (RON, as `calibrate` writes it).
    #[arg(long)]
    host: PathBuf,
    /// A workload file or a directory of them (RON), for `workload_id` and the
    /// `placement.neardata.io/workload-id` annotation.
    #[arg(long)]
    workloads: Option<PathBuf>,
    /// Nodes for extender requests that send only names (`nodeCacheCapable: true`): a JSON
    /// list of `{"name", "role": "storage"|"compute", "free_cores"}`.
    #[arg(long)]
    nodes: Option<PathBuf>,
    /// Bytes of records in the storage server's table: the profile is moved from its probe
    /// table to a table of this size by its table-size curve (`HostProfile::at_table`) before
    /// it prices anything, and the moved profile is the one served.
    #[arg(long)]
    table_bytes: Option<f64>,
    /// Address to listen on; port 0 picks a free port (the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Largest request body accepted, bytes (larger ones get 413).
    #[arg(long, default_value_t = 1 << 20)]
    max_body: usize,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("placementd: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(args: &Args) -> Result<(Engine, Vec<KnownNode>), String> {
    let host_text =
        std::fs::read_to_string(&args.host).map_err(|e| format!("{}: {e}", args.host.display()))?;
    let host = HostProfile::from_ron(&host_text, &args.host.display().to_string())
        .map_err(|e| e.to_string())?;
    let (host, host_text) = match args.table_bytes {
        None => (host, host_text),
        Some(b) => {
            let moved = host
                .at_table(costmodel::Bytes::new(b))
                .map_err(|e| format!("--table-bytes {b}: {}: {e}", args.host.display()))?;
            let text = moved.to_ron();
            (moved, text)
        }
    };
    let sets = match &args.workloads {
        None => Vec::new(),
        Some(p) if p.is_dir() => WorkloadSet::load_dir(p).map_err(|e| e.to_string())?,
        Some(p) => vec![(
            p.display().to_string(),
            WorkloadSet::load(p).map_err(|e| e.to_string())?,
        )],
    };
    let workloads = workload_map(&sets).map_err(|e| e.to_string())?;
    let engine = Engine::new(host, host_text, 0, Arc::new(workloads)).map_err(|e| e.to_string())?;
    let known = match &args.nodes {
        None => Vec::new(),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let mut de = serde_json::Deserializer::from_str(&text);
            let known: Vec<KnownNode> = serde_path_to_error::deserialize(&mut de)
                .map_err(|e| format!("{}: {}: {}", p.display(), e.path(), e.inner()))?;
            for (i, k) in known.iter().enumerate() {
                if !(k.free_cores >= 0.0) || !k.free_cores.is_finite() {
                    return Err(format!(
                        "{}: [{i}].free_cores must be finite and >= 0, got {}",
                        p.display(),
                        k.free_cores
                    ));
                }
            }
            known
        }
    };
    Ok((engine, known))
}

fn run(args: Args) -> Result<(), String> {
    let (engine, known) = load(&args)?;
    let threads = args
        .threads
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(2)
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let app = App::new(engine, known, args.max_body);
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("cannot read the bound address: {e}"))?;
        // The first line of stdout is the address: tests and scripts read it.
        println!("placementd listening on http://{addr}");
        axum::serve(listener, router(app))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| format!("server stopped: {e}"))
    })
}
