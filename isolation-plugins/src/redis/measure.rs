//! The `redis` scheme's costs measured by the server's CPU: every figure is the CPU the server's
//! threads spent (`/proc/<pid>/task/*/schedstat`) over a block of calls, minus the CPU of an
//! equivalent plain request over an equal block, never the client's clock.

use std::time::{Duration, Instant};

use costmodel::{Bytes, ComputeClass, Estimate, Factor, IsolationCosts, Nanos, NanosPerByte};

use super::resp::{Conn, Reply};
use super::server::Server;
use super::{COLD_LIBRARY, RECORD_SIZES, RedisProbe, key_name};
use crate::error::{PluginError, Result};
use crate::kernels;

/// How much to measure.
#[derive(Clone, Debug)]
pub struct MeasurePlan {
    /// Blocks per figure (each block is timed once for the operation and once for its base).
    pub blocks: usize,
    /// Target server CPU of one block, ns.
    pub block_ns: f64,
    /// Requests per pipelined write (the same for an operation and its base, so the system
    /// calls cancel).
    pub depth: usize,
    /// Keys read per FCALL of the record-access figure.
    pub keys_per_call: usize,
    /// FUNCTION LOAD samples of the cold start.
    pub cold_samples: usize,
}

impl MeasurePlan {
    /// 15 blocks of about 20 ms of server CPU, 16 requests per write, 16 keys per call, 30 cold
    /// starts: about 5 s of server CPU in all.
    pub fn standard() -> Self {
        MeasurePlan {
            blocks: 15,
            block_ns: 20e6,
            depth: 16,
            keys_per_call: 16,
            cold_samples: 30,
        }
    }

    /// A short plan for tests: 5 blocks of 2 ms.
    pub fn quick() -> Self {
        MeasurePlan {
            blocks: 5,
            block_ns: 2e6,
            depth: 16,
            keys_per_call: 16,
            cold_samples: 7,
        }
    }
}

/// A figure: median of the per-block differences and a 95% bootstrap interval of that median.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Figure {
    /// The median, ns.
    pub median: f64,
    /// Lower end of the interval.
    pub lower: f64,
    /// Upper end of the interval.
    pub upper: f64,
    /// Blocks.
    pub n: usize,
}

impl Figure {
    fn of(mut v: Vec<f64>) -> Figure {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = median_sorted(&v);
        // Percentile bootstrap of the median (fixed-seed xorshift: reproducible).
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut meds = Vec::with_capacity(1000);
        let mut r = vec![0.0; n];
        for _ in 0..1000 {
            for x in r.iter_mut() {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                *x = v[usize::try_from(s % n as u64).unwrap_or(0)];
            }
            r.sort_by(f64::total_cmp);
            meds.push(median_sorted(&r));
        }
        meds.sort_by(f64::total_cmp);
        let q = |p: f64| meds[count((meds.len() - 1) as f64 * p).min(meds.len() - 1)];
        Figure {
            median,
            lower: q(0.025).min(median),
            upper: q(0.975).max(median),
            n,
        }
    }

    fn nanos(&self, method: String) -> Estimate<Nanos> {
        let c = |x: f64| Nanos::new(x.max(0.0));
        Estimate::measured(
            c(self.median),
            c(self.lower),
            c(self.upper),
            0.95,
            u32::try_from(self.n).unwrap_or(u32::MAX),
            method,
        )
    }
}

/// `x` rounded to the nearest count, 0 for negative or NaN, saturating at `usize::MAX`.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped to [0, MAX] first
fn count(x: f64) -> usize {
    if x.is_nan() || x <= 0.0 {
        0
    } else {
        x.round().min(usize::MAX as f64) as usize
    }
}

/// How long a cold-start reading waits for the server to finish its loop and sleep, so that its
/// schedstat holds the command just answered (a few loop iterations, well under a cron tick).
const SETTLE: Duration = Duration::from_millis(2);

/// Times a compute kernel's paired blocks are measured while the difference comes out
/// non-positive, before the measurement fails.
const KERNEL_TRIES: u32 = 3;

fn median_sorted(v: &[f64]) -> f64 {
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// What [`measure`] found, with the costs for a host profile.
#[derive(Clone, Debug)]
pub struct RedisMeasurement {
    /// `redis_version` of the server.
    pub version: String,
    /// Server CPU of a PING in a pipelined block (the plain request), ns.
    pub ping: Figure,
    /// Warm invoke: FCALL of the empty function minus PING, ns.
    pub warm_invoke: Figure,
    /// Cold start: FUNCTION LOAD of a one-function library minus a single PING, ns.
    pub cold_start: Figure,
    /// FUNCTION DELETE of that library minus a single PING, ns.
    pub delete: Figure,
    /// Per record read with `redis.call('GET')`, by record size: (bytes, ns per record).
    pub access: Vec<(usize, Figure)>,
    /// Server CPU per kernel round, by class.
    pub lua_round: Vec<(ComputeClass, Figure)>,
    /// Native CPU per kernel round (this process's thread CPU), by class.
    pub native_round: Vec<(ComputeClass, Figure)>,
    /// Growth of `used_memory_vm_functions` when the one-function library is loaded, bytes.
    pub memory: Option<f64>,
    /// The costs: measured figures over the cited defaults.
    pub costs: IsolationCosts,
}

/// Server CPU per request of `args`, pipelined `depth` deep over `calls` requests.
fn block(
    server: &Server,
    conn: &mut Conn,
    args: &[&[u8]],
    calls: usize,
    depth: usize,
) -> Result<f64> {
    let before = server.cpu_ns()?;
    let mut left = calls;
    while left > 0 {
        let d = left.min(depth);
        conn.pipeline(args, d)?;
        left -= d;
    }
    let after = server.cpu_ns()?;
    Ok(after.saturating_sub(before) as f64 / calls as f64)
}

/// Per-block differences `op - base` (each per request), `op` and `base` alternating.
fn paired(
    server: &Server,
    conn: &mut Conn,
    plan: &MeasurePlan,
    op: &[&[u8]],
    base: &[&[u8]],
) -> Result<Vec<f64>> {
    // Size the block from one short run of the operation.
    let probe = block(server, conn, op, plan.depth * 4, plan.depth)?.max(100.0);
    let calls = count((plan.block_ns / probe).ceil()).clamp(plan.depth, 200_000);
    let mut d = Vec::with_capacity(plan.blocks);
    for _ in 0..plan.blocks {
        let a = block(server, conn, op, calls, plan.depth)?;
        let b = block(server, conn, base, calls, plan.depth)?;
        d.push(a - b);
    }
    Ok(d)
}

fn thread_cpu_ns() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
}

/// Native ns per round of `class` (this thread's CPU), differential over `blocks` blocks.
fn native_round(class: ComputeClass, plan: &MeasurePlan) -> Figure {
    let chase = kernels::chase_buffer();
    let run = |r: u32| match class {
        ComputeClass::IntMul => costmodel::kernel::fnv1a_rounds(
            std::hint::black_box(&costmodel::kernel::input()),
            std::hint::black_box(r),
        ),
        ComputeClass::Arith => std::hint::black_box(kernels::arith_rounds)(r),
        ComputeClass::Memory => std::hint::black_box(kernels::memory_rounds)(&chase, r),
    };
    let t = Instant::now();
    std::hint::black_box(run(1000));
    let per = (t.elapsed().as_secs_f64() * 1e9 / 1000.0).max(1.0);
    let r2 = u32::try_from(count(plan.block_ns / per).clamp(64, 1 << 22)).unwrap_or(1 << 22);
    let v = (0..plan.blocks)
        .map(|_| {
            let t0 = thread_cpu_ns();
            std::hint::black_box(run(4));
            let t1 = thread_cpu_ns();
            std::hint::black_box(run(4 + r2));
            let t2 = thread_cpu_ns();
            ((t2 - t1) - (t1 - t0)) / f64::from(r2)
        })
        .collect();
    Figure::of(v)
}

fn used_memory_vm_functions(conn: &mut Conn) -> Option<f64> {
    let Ok(Reply::Bulk(Some(info))) = conn.call(&[b"INFO", b"memory"]) else {
        return None;
    };
    String::from_utf8_lossy(&info)
        .lines()
        .find_map(|l| l.strip_prefix("used_memory_vm_functions:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Measures the scheme on `probe`'s server with `plan`.
///
/// # Errors
/// [`PluginError::Redis`] when the server fails, dies or answers an error.
pub fn measure(probe: &mut RedisProbe, plan: &MeasurePlan) -> Result<RedisMeasurement> {
    let server = probe.server();
    let mut conn = server.connect()?;
    let srv = &*server;
    let how = |what: &str| {
        format!(
            "server CPU from /proc/{}/task/*/schedstat, {what}, {} requests per pipelined write; \
             median of {} blocks, 95% bootstrap interval",
            srv.pid(),
            plan.depth,
            plan.blocks
        )
    };
    let zero: &[u8] = b"0";
    let ping = Figure::of(
        (0..plan.blocks)
            .map(|_| block(srv, &mut conn, &[b"PING"], 2000, plan.depth))
            .collect::<Result<Vec<_>>>()?,
    );
    let warm = Figure::of(paired(
        srv,
        &mut conn,
        plan,
        &[b"FCALL", b"iso_nop", zero],
        &[b"PING"],
    )?);

    let k = plan.keys_per_call.max(1);
    let mut access = Vec::new();
    for &size in &RECORD_SIZES {
        let keys: Vec<Vec<u8>> = (0..k).map(|i| key_name(size, i as u64 * 97)).collect();
        let kn = k.to_string();
        let mut op: Vec<&[u8]> = vec![b"FCALL", b"iso_read", kn.as_bytes()];
        op.extend(keys.iter().map(Vec::as_slice));
        // The baseline carries no keys: passing each key into the function is part of what a
        // record read costs an FCALL (warm invoke is measured with 0 keys, so against a baseline
        // with the same keys that cost appeared in neither figure).
        let base: [&[u8]; 3] = [b"FCALL", b"iso_nop", zero];
        let d = paired(srv, &mut conn, plan, &op, &base)?;
        access.push((size, Figure::of(d.iter().map(|x| x / k as f64).collect())));
    }

    let mut lua_round = Vec::new();
    let mut lua_tries = Vec::new();
    let mut native = Vec::new();
    for class in ComputeClass::ALL {
        let name = super::class_function(class);
        let (r1, r2) = (1u32, 9u32);
        let (s1, s2) = (r1.to_string(), r2.to_string());
        let span = f64::from(r2 - r1);
        // A burst on a shared host can swamp the 8 rounds' difference (a median of -16 us a
        // round was seen on a Xeon VM with steal bursts): measure again before giving up.
        let mut tries = 0;
        let fig = loop {
            tries += 1;
            let d = paired(
                srv,
                &mut conn,
                plan,
                &[b"FCALL", name.as_bytes(), zero, s2.as_bytes()],
                &[b"FCALL", name.as_bytes(), zero, s1.as_bytes()],
            )?;
            let fig = Figure::of(d.iter().map(|x| x / span).collect());
            if fig.median > 0.0 || tries >= KERNEL_TRIES {
                break fig;
            }
        };
        lua_round.push((class, fig));
        lua_tries.push(tries);
        native.push((class, native_round(class, plan)));
    }

    let mem_before = used_memory_vm_functions(&mut conn);
    let (mut load, mut del, mut pings) = (Vec::new(), Vec::new(), Vec::new());
    let mut mem_after = None;
    // A thread's schedstat holds its CPU up to its last switch: read right after a reply, while
    // the server still finishes its loop, it can miss the whole command (a FUNCTION LOAD read
    // as 0 ns, its cost landing in the next reading). Each reading waits for the server to
    // have gone back to sleep.
    let settled = || {
        std::thread::sleep(SETTLE);
        srv.cpu_ns()
    };
    for i in 0..plan.cold_samples.max(3) {
        let c0 = settled()?;
        conn.call(&[b"FUNCTION", b"LOAD", COLD_LIBRARY.as_bytes()])?
            .ok("FUNCTION LOAD")?;
        let c1 = settled()?;
        if i == 0 {
            mem_after = used_memory_vm_functions(&mut conn);
        }
        let c2 = settled()?;
        conn.call(&[b"FUNCTION", b"DELETE", b"isocold"])?
            .ok("FUNCTION DELETE")?;
        let c3 = settled()?;
        conn.call(&[b"PING"])?.ok("PING")?;
        let c4 = settled()?;
        load.push(c1.saturating_sub(c0) as f64);
        del.push(c3.saturating_sub(c2) as f64);
        pings.push(c4.saturating_sub(c3) as f64);
    }
    // Each command above paid a wake-up of the idle server, which one PING also pays. One
    // PING's wake-up swings widely on a VM, so each sample is taken less the median PING of all
    // of them rather than less its own.
    pings.sort_by(f64::total_cmp);
    let single_ping = median_sorted(&pings);
    let cold = Figure::of(load.iter().map(|v| v - single_ping).collect());
    let delete = Figure::of(del.iter().map(|v| v - single_ping).collect());
    let memory = match (mem_before, mem_after) {
        (Some(a), Some(b)) if b >= a => Some(b - a),
        _ => None,
    };

    let mut costs = probe.scheme_defaults();
    let v = srv.version();
    costs.description = format!("Redis {v} Functions (Lua 5.1), invoked with FCALL over RESP");
    costs.warm_invoke = warm.nanos(how("FCALL iso_nop 0 minus PING"));
    costs.cold_start = cold.nanos(format!(
        "server CPU from /proc/{}/task/*/schedstat of one FUNCTION LOAD of a one-function \
         library minus one PING, median of {} samples, 95% bootstrap interval",
        srv.pid(),
        cold.n
    ));
    costs.details.insert(
        "cold_start.delete".into(),
        delete.nanos("server CPU of FUNCTION DELETE minus one PING".into()),
    );
    costs
        .details
        .insert("warm_invoke.ping".into(), ping.nanos(how("PING alone")));
    for (size, f) in &access {
        costs.details.insert(
            format!("local_access.bytes={size}"),
            f.nanos(how(&format!(
                "(FCALL iso_read over {k} keys of {size} B minus FCALL iso_nop 0) / {k}"
            ))),
        );
    }
    if let [(s0, a), (s1, b)] = access.as_slice() {
        let span = (*s1 - *s0) as f64;
        let slope = (b.median - a.median) / span;
        let (slo, shi) = ((b.lower - a.upper) / span, (b.upper - a.lower) / span);
        let g0 = a.median - *s0 as f64 * slope;
        let (glo, ghi) = (
            a.lower - *s0 as f64 * shi.max(0.0),
            a.upper - *s0 as f64 * slo.max(0.0),
        );
        let method = format!(
            "two-point fit g(s) = g0 + s g_b through {s0} B ({:.0} ns) and {s1} B ({:.0} ns); \
             interval from the ends of the two points' intervals",
            a.median, b.median
        );
        costs.local_access = Estimate::measured(
            Nanos::new(g0.max(0.0)),
            Nanos::new(glo.clamp(0.0, g0.max(0.0))),
            Nanos::new(ghi.max(g0.max(0.0))),
            0.95,
            u32::try_from(a.n).unwrap_or(u32::MAX),
            method.clone(),
        );
        let sp = slope.max(0.0);
        costs.local_access_per_byte = Some(Estimate::measured(
            NanosPerByte::new(sp),
            NanosPerByte::new(slo.clamp(0.0, sp)),
            NanosPerByte::new(shi.max(sp)),
            0.95,
            u32::try_from(a.n).unwrap_or(u32::MAX),
            if slope < 0.0 {
                format!("{method}; the fitted slope {slope:.4} ns/B was negative, clamped to 0")
            } else {
                method
            },
        ));
    }
    for (((class, lua), (_, nat)), tries) in lua_round.iter().zip(&native).zip(&lua_tries) {
        if !(nat.median > 0.0 && lua.median > 0.0) {
            return Err(PluginError::Redis {
                step: "compute slowdown",
                message: format!(
                    "{class}: non-positive kernel time (lua {:.1} ns/round after {tries} \
                     measurement(s), native {:.1})",
                    lua.median, nat.median
                ),
            });
        }
        let redone = if *tries > 1 {
            format!("; the Lua blocks measured {tries} times (a non-positive difference before)")
        } else {
            String::new()
        };
        let point = lua.median / nat.median;
        let f = Estimate::measured(
            Factor::new(point),
            Factor::new((lua.lower / nat.upper.max(1e-9)).min(point).max(0.0)),
            Factor::new((lua.upper / nat.lower.max(1e-9)).max(point)),
            0.95,
            u32::try_from(lua.n).unwrap_or(u32::MAX),
            format!(
                "server CPU per round of the {class} kernel in Lua (FCALL 9 rounds minus 1 \
                 round) / this process's thread CPU per round of the native kernel: {:.1} ns / \
                 {:.2} ns; interval from the ends of both intervals{redone}",
                lua.median, nat.median
            ),
        );
        if *class == ComputeClass::IntMul {
            costs.slowdown = f.clone();
        }
        costs.slowdown_by_class.insert(*class, f);
    }
    if let Some(m) = memory {
        costs.memory_per_context = Estimate::measured(
            Bytes::new(m),
            Bytes::new(m),
            Bytes::new(m),
            1.0,
            1,
            "growth of used_memory_vm_functions (INFO memory) when a one-function library is loaded",
        );
    }
    Ok(RedisMeasurement {
        version: v.to_owned(),
        ping,
        warm_invoke: warm,
        cold_start: cold,
        delete,
        access,
        lua_round,
        native_round: native,
        memory,
        costs,
    })
}
