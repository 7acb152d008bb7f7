//! A third-party isolation scheme, written against `costmodel` alone, checked by the
//! conformance kit and ranked beside the built-in schemes of `isolation-plugins`.
//!
//! The scheme is a gVisor-like user-space kernel ("runsc"): the tenant's function runs as a
//! process inside a sandbox whose Sentry intercepts every system call. Its costs are built from
//! cited numbers (calibration-anchors §1.1), each with its provenance tag:
//!
//! - getpid: native 62 ns, runsc-KVM 830 ns, runsc-ptrace 6,249 ns (gVisor blog 2021-12-02,
//!   "Running gVisor in Production at Scale in Ant") [V]; Systrap (2023) is faster, graphs only.
//! - a pipe round trip costs 5.86 us (perf bench sched pipe) [V] and four system calls
//!   (write + read on each side), each paying the Sentry's interception overhead.
//! - start-up is container-like plus the Go runtime and the Sentry [M]; the Sentry holds MBs [M].
//!
//! ```text
//! cargo run -p examples --example third_party_scheme
//! ```

use std::process::ExitCode;

use costmodel::conformance::check_scheme;
use costmodel::{
    Bytes, Estimate, Factor, HostProfile, IsolationCosts, IsolationScheme, MaxStorageThroughput,
    Model, Nanos, NodeId, Objective, Registry, Requirement, SchemeId, SchemeKind, Support,
    WorkloadSet,
};
use solver::{ClusterState, Job, Ranker};

/// Free cores of node 0, the only node the default candidates name: as many as a finite number
/// can say, so nothing is refused for room (capacity is not this example's subject).
const FREE_CORES: [f64; 1] = [f64::MAX];

/// Native getpid (gVisor blog 2021 [V]).
const NATIVE_SYSCALL_NS: f64 = 62.0;
/// getpid under runsc with the KVM platform [V].
const RUNSC_KVM_SYSCALL_NS: f64 = 830.0;
/// getpid under runsc with the ptrace platform [V].
const RUNSC_PTRACE_SYSCALL_NS: f64 = 6_249.0;
/// perf bench sched pipe, one round trip [V].
const PIPE_ROUND_TRIP_NS: f64 = 5_860.0;
/// System calls in one pipe round trip (write + read on each side).
const SYSCALLS_PER_ROUND_TRIP: f64 = 4.0;

const GVISOR_BLOG: &str = "gVisor blog 2021-12-02 (Ant): getpid native 62 ns, runsc-KVM 830 ns, runsc-ptrace 6,249 ns [V]";

/// A gVisor-like user-space-kernel sandbox, priced from the literature.
#[derive(Clone, Copy, Debug)]
struct Gvisor {
    id: SchemeId,
}

impl Gvisor {
    /// The scheme, under id `gvisor`.
    fn new() -> costmodel::Result<Self> {
        Ok(Gvisor {
            id: SchemeId::new("gvisor")?,
        })
    }

    /// Extra CPU per intercepted system call on a platform with `per_syscall_ns` getpid.
    fn interception(per_syscall_ns: f64) -> f64 {
        per_syscall_ns - NATIVE_SYSCALL_NS
    }
}

impl IsolationScheme for Gvisor {
    fn id(&self) -> SchemeId {
        self.id
    }

    fn defaults(&self) -> IsolationCosts {
        let rt = |per_syscall: f64| {
            PIPE_ROUND_TRIP_NS + SYSCALLS_PER_ROUND_TRIP * Self::interception(per_syscall)
        };
        let warm = |p| Nanos::new(rt(p));
        IsolationCosts {
            description:
                "gVisor-like user-space kernel (runsc): a sandboxed process behind the Sentry"
                    .into(),
            warm_invoke: Estimate::literature(
                warm(RUNSC_KVM_SYSCALL_NS),
                Nanos::new(PIPE_ROUND_TRIP_NS),
                warm(RUNSC_PTRACE_SYSCALL_NS),
                format!(
                    "pipe round trip 5.86 us (perf bench sched pipe) [V] + 4 intercepted syscalls x (830 - 62) ns on runsc-KVM; up to ptrace's 6,249 ns; {GVISOR_BLOG}"
                ),
            ),
            cold_start: Estimate::literature(
                Nanos::new(150e6),
                Nanos::new(50e6),
                Nanos::new(1e9),
                "container-like start plus the Go runtime and the Sentry: 100s of ms [M] (calibration-anchors s1.1)",
            ),
            local_access: Estimate::literature(
                Nanos::new(RUNSC_KVM_SYSCALL_NS + 100.0),
                Nanos::new(RUNSC_KVM_SYSCALL_NS),
                Nanos::new(RUNSC_PTRACE_SYSCALL_NS + 100.0),
                format!(
                    "one intercepted syscall per record plus a ~100 ns copy [M]; {GVISOR_BLOG}"
                ),
            ),
            slowdown: Estimate::literature(
                Factor::new(1.0),
                Factor::new(1.0),
                Factor::new(1.05),
                "native instructions; only system calls are intercepted and the kernel makes none [M]",
            ),
            memory_per_context: Estimate::literature(
                Bytes::new(16.0 * 1024.0 * 1024.0),
                Bytes::new(4.0 * 1024.0 * 1024.0),
                Bytes::new(64.0 * 1024.0 * 1024.0),
                "Sentry process: MBs [M] (calibration-anchors s1.1)",
            ),
            requirements: vec![Requirement::Other("runsc (gVisor) on the PATH".into())],
            support: Support::Supported,
            details: Default::default(),
            local_access_per_byte: None,
            slowdown_by_class: Default::default(),
        }
    }

    fn kind(&self) -> SchemeKind {
        SchemeKind::Other
    }

    /// Detected, never assumed: is `runsc` installed?
    fn support(&self) -> Support {
        let found = std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| dir.join("runsc").is_file())
        });
        if found {
            Support::Supported
        } else {
            Support::Unsupported {
                reason: "runsc (gVisor) not found on the PATH; costs are literature values".into(),
            }
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The conformance kit, as a plugin author's test would run it.
    let gvisor = Gvisor::new()?;
    check_scheme(&gvisor)?;
    println!("gvisor passes the costmodel conformance kit");
    println!("gvisor support here: {:?}", gvisor.support());

    // 2. Register it beside the built-in schemes. The reference host profile supplies the
    //    transports (and profile costs for the built-ins); the plugins replace the profile's
    //    entries, and the third-party scheme is added by an explicit registry call.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures");
    let host = HostProfile::load(format!("{root}/hosts/reference.ron"))?;
    let mut registry = Registry::from_profile(&host);
    for scheme in isolation_plugins::schemes() {
        registry.replace_scheme(scheme);
    }
    registry.register_scheme(gvisor)?;
    let model = Model::new(host, &registry)?;
    let schemes: Vec<String> = registry.scheme_ids().map(|s| s.to_string()).collect();
    println!("schemes: {}", schemes.join(", "));

    // 3. Rank every placement for two workloads by storage throughput (storage CPU first),
    //    through the solver, as a scheduler embedding it would.
    let set = WorkloadSet::load(format!("{root}/workloads/fig2-records-sweep.ron"))?;
    let objective = MaxStorageThroughput;
    let mut ranker = Ranker::new(&model, &model.default_candidates())?;
    let state = ClusterState::new(&FREE_CORES, NodeId(0))?;
    for id in ["sweep-k1", "sweep-k32"] {
        let w = set.get(id)?;
        let ranking = ranker.rank(&Job::from_profile(w)?, &state, &objective)?;
        // Feasible placements by score (ties by the placement's stable order), refused last.
        let ranked = ranking.iter().filter(|r| r.infeasible.is_none()).count();
        let refused = ranking.iter().count() - ranked;
        println!(
            "\n== {id}: {} ({}; {ranked} ranked, {refused} refused)",
            w.description,
            objective.name(),
        );
        for (rank, r) in ranking.iter().enumerate() {
            let p = r.placement;
            if rank < 8 || p.scheme.as_str() == "gvisor" && p.transport.as_str() == "tcp" {
                // Support as the plugin detects it on this host (the profile may predate it).
                let support = model.scheme(p.scheme)?.scheme.support();
                let mark = if support.is_supported() {
                    ""
                } else {
                    "  [unsupported here]"
                };
                match (&r.infeasible, r.cost()) {
                    (None, Some(c)) => println!(
                        "  #{:<3} {:<34} score {:>10.1}  storage {:>9}  total {:>9}{mark}",
                        rank + 1,
                        p.to_string(),
                        r.score,
                        c.storage_cpu.to_string(),
                        c.total_cpu().to_string()
                    ),
                    (Some(why), _) => println!("  refused {:<32} {why}{mark}", p.to_string()),
                    (None, None) => println!("  #{:<3} {:<34} (not priced)", rank + 1, p),
                }
            }
        }
    }
    Ok(())
}
