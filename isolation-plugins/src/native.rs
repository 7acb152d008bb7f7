//! `native`: trusted code in the storage server's address space (Splinter-style type safety).
//!
//! The baseline every other scheme is compared against. A warm invocation is an indirect call
//! through a trait object (what a server does to run a tenant's registered function); a local
//! record access is a lookup in the server's shared map, copied into the function's scratch
//! buffer; the compute kernel is the native FNV-1a loop.
//!
//! Literature defaults (`fixtures/hosts/reference.ron`): direct call 1-2 ns, indirect more under
//! retpolines \[M\]; code load via `dlopen` 10s-100s of us \[M\]; hash-map lookup tens of ns \[M\];
//! slowdown 1.0 by definition; no per-context memory beyond per-tenant state \[M\].

use std::hint::black_box;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use costmodel::{
    Bytes, ComputeClass, IsolationCosts, IsolationProbe, IsolationScheme, ProbeError, SchemeId,
    SchemeKind, Support, kernel,
};

use crate::common::Cited;
use crate::kernels::{self, ACCESS_SIZES, Checked};
use crate::store::{
    MAX_RECORD_BYTES, ProbeEnv, ProbeTable, RecordSource, StorageCall, StorageFunction,
    StorageOutput, head_word, host_read,
};

/// The `native` scheme.
#[derive(Clone, Debug, Default)]
pub struct Native {
    env: Option<Arc<ProbeEnv>>,
}

impl Native {
    /// The scheme; its probe reads [`ProbeEnv::process_default`].
    pub fn new() -> Self {
        Native::default()
    }

    /// The scheme whose probe reads the tables of `env`.
    pub fn with_env(env: Arc<ProbeEnv>) -> Self {
        Native { env: Some(env) }
    }
}

/// Scheme id of [`Native`].
pub const ID: &str = "native";

impl IsolationScheme for Native {
    fn id(&self) -> SchemeId {
        crate::scheme_id(ID)
    }

    /// Cited: direct call 1-2 ns, indirect more under retpolines \[M\]; `dlopen` 10s-100s us \[M\];
    /// hash-map lookup tens of ns \[M\]; the baseline (slowdown 1); no context memory \[M\].
    fn defaults(&self) -> IsolationCosts {
        Cited {
            description: "trusted native code in the server (Splinter-style type safety)",
            warm_invoke: (
                2.0,
                1.0,
                10.0,
                "direct call 1-2 ns; indirect call costs more under retpolines [M]",
            ),
            cold_start: (
                50_000.0,
                10_000.0,
                500_000.0,
                "load of the code: dlopen of a library, 10s-100s of us [M]",
            ),
            local_access: (
                50.0,
                20.0,
                100.0,
                "hash-map lookup of a record in the server's memory, tens of ns [M]",
            ),
            slowdown: (1.0, 1.0, 1.0, "the baseline by definition"),
            memory_per_context: (0.0, 0.0, 0.0, "no context beyond per-tenant state [M]"),
            requirements: Vec::new(),
        }
        .costs(Support::Supported)
    }

    fn kind(&self) -> SchemeKind {
        SchemeKind::Native
    }

    fn probe(&self) -> Option<Result<Box<dyn IsolationProbe>, ProbeError>> {
        let env = self.env.clone().unwrap_or_else(ProbeEnv::process_default);
        Some(Ok(Box::new(NativeProbe::with_env(env))))
    }
}

/// A tenant function as the server holds it: a trait object it calls indirectly.
trait TenantFn: Send + Sync {
    fn call(&self, arg: u64) -> u64;
}

/// The empty function a warm invocation enters.
struct Empty;

impl TenantFn for Empty {
    #[inline(never)]
    fn call(&self, arg: u64) -> u64 {
        arg
    }
}

/// The extra operation of [`NativeProbe`] that reads one record per scattered key.
pub const SCATTERED_ACCESS: &str = "local_access.scattered";

/// The extra operations of [`NativeProbe`] that read the main table again (`probe`) and each
/// table of [`crate::store::CURVE_TABLES`] as `local_access` reads the main one: runs of
/// consecutive keys from scattered first keys. The table-size curve's in-run points.
pub const TABLE_ACCESS: [&str; 5] = [
    "local_access.table=probe",
    "local_access.table=1MiB",
    "local_access.table=4MiB",
    "local_access.table=16MiB",
    "local_access.table=128MiB",
];

/// The extra operations of [`NativeProbe`] that read each table of
/// [`crate::store::CURVE_TABLES`] one record per scattered key, as [`SCATTERED_ACCESS`] reads
/// the main one. The table-size curve's scattered points.
pub const TABLE_SCATTERED: [&str; 4] = [
    "local_access.scattered.table=1MiB",
    "local_access.scattered.table=4MiB",
    "local_access.scattered.table=16MiB",
    "local_access.scattered.table=128MiB",
];

/// The extra operation of [`NativeProbe`] that reads the probe table as a storage server does:
/// runs of [`crate::store::PROBE_RUN_RECORDS`] consecutive keys from scattered first keys,
/// [`SERVER_BATCH`] runs between two network rounds with a client thread on another CPU
/// ([`ServerLink`]), the reads alone timed, one clock pair a batch ([`read_in_server`]). Listed
/// only where a second CPU is online.
pub const IN_SERVER_ACCESS: &str = "local_access.in_server";

/// Requests a [`ServerLink`] client keeps in flight, answered by one run each: the storage
/// sweep's window.
pub const SERVER_BATCH: u64 = BATCH_REQUESTS as u64;

const BATCH_REQUESTS: usize = 32;

/// Bytes of a [`ServerLink`] request and of its reply.
const LINK_MESSAGE: usize = 16;

/// Bytes of a [`ServerLink`] batch of requests (and of its replies).
const LINK_BATCH_BYTES: usize = LINK_MESSAGE * BATCH_REQUESTS;

/// Probe for [`Native`].
pub struct NativeProbe {
    func: Arc<dyn TenantFn>,
    env: Arc<ProbeEnv>,
    table: Arc<ProbeTable>,
    scratch: Vec<u8>,
    fresh: Option<NativeInstance>,
    /// Position of the scattered walk of first keys.
    walk: u64,
    checked: Checked,
    chase: Vec<u32>,
    /// The loopback connection scattered reads run after, opened on first use.
    link: Option<Loopback>,
    /// The client [`IN_SERVER_ACCESS`] serves, opened on first use.
    server: Option<ServerLink>,
    /// CPUs online (the client of [`IN_SERVER_ACCESS`] needs a second one).
    cpus: usize,
}

impl NativeProbe {
    /// A probe over [`ProbeEnv::process_default`].
    pub fn new() -> Self {
        NativeProbe::with_env(ProbeEnv::process_default())
    }

    /// A probe over the tables of `env`.
    pub fn with_env(env: Arc<ProbeEnv>) -> Self {
        NativeProbe {
            func: Arc::new(Empty),
            table: env.table(),
            env,
            scratch: vec![0; MAX_RECORD_BYTES],
            fresh: None,
            walk: 0,
            checked: Checked::new(),
            chase: kernels::chase_buffer(),
            link: None,
            server: None,
            cpus: crate::common::online_cpus(),
        }
    }

    /// The table a scattered-read operation ([`SCATTERED_ACCESS`], [`TABLE_SCATTERED`]) reads.
    fn scattered_table(&self, name: &str) -> Option<Arc<ProbeTable>> {
        match name.strip_prefix("local_access.scattered.table=") {
            Some(label) => self.env.curve(label),
            None => (name == SCATTERED_ACCESS).then(|| Arc::clone(&self.table)),
        }
    }

    /// The scattered-read operation `name` over `table` ([`read_scattered`] after loopback
    /// rounds on the probe's connection, opened on first use): the reads' own time.
    fn scattered(
        &mut self,
        table: &ProbeTable,
        name: &str,
        iterations: u64,
    ) -> Result<Duration, ProbeError> {
        let fail = |e: io::Error| ProbeError::new(name, format!("loopback round: {e}"));
        let link = match &mut self.link {
            Some(l) => l,
            None => self.link.insert(Loopback::open().map_err(fail)?),
        };
        read_scattered(table, &mut self.walk, &mut self.scratch, iterations, link).map_err(fail)
    }

    /// [`IN_SERVER_ACCESS`]: [`read_in_server`] over the probe table, serving a client on the
    /// next CPU after this thread's (opened on first use): the reads' own time.
    fn in_server(&mut self, iterations: u64) -> Result<Duration, ProbeError> {
        let fail =
            |e: io::Error| ProbeError::new(IN_SERVER_ACCESS, format!("in-server client: {e}"));
        if self.cpus < 2 {
            return Err(ProbeError::new(
                IN_SERVER_ACCESS,
                "needs a second CPU for the client",
            ));
        }
        let link = match &mut self.server {
            Some(l) => l,
            None => {
                let other = (crate::common::current_cpu() + 1) % self.cpus;
                self.server.insert(ServerLink::open(other).map_err(fail)?)
            }
        };
        read_in_server(
            &self.table,
            &mut self.walk,
            &mut self.scratch,
            iterations,
            link,
        )
        .map(|(own, _)| own)
        .map_err(fail)
    }

    /// Runs the kernel of `class` for `rounds` rounds and returns its checksum (unverified).
    pub fn compute_class(&mut self, class: ComputeClass, rounds: u32) -> u64 {
        match class {
            ComputeClass::IntMul => {
                kernel::fnv1a_rounds(black_box(&kernel::input()), black_box(rounds))
            }
            ComputeClass::Arith => black_box(kernels::arith_rounds)(black_box(rounds)),
            ComputeClass::Memory => {
                black_box(kernels::memory_rounds)(black_box(&self.chase), black_box(rounds))
            }
        }
    }
}

/// Reads `iterations` records of `table` in runs of [`crate::store::PROBE_RUN_RECORDS`]
/// consecutive keys from scattered first keys, copying each into `scratch`.
fn read_runs(table: &ProbeTable, walk: &mut u64, scratch: &mut [u8], iterations: u64) {
    let store: &dyn RecordSource = black_box(&**table.store());
    let mut acc = 0u64;
    let mut left = iterations;
    while left > 0 {
        let batch = left.min(crate::store::PROBE_RUN_RECORDS);
        *walk = walk.wrapping_add(1);
        let first = table.key(*walk, batch);
        for key in first..first + batch {
            if let Some(n) = host_read(store, key, scratch) {
                acc = acc.wrapping_add(n as u64 ^ head_word(scratch));
            }
        }
        left -= batch;
    }
    black_box(acc);
}

/// A loopback TCP connection to itself, driven from one thread: a round (a 64 B write and its
/// read) runs the network stack's code and touches its data, as a storage server does between
/// two requests.
pub struct Loopback {
    tx: TcpStream,
    rx: TcpStream,
    buf: [u8; 64],
}

impl Loopback {
    /// Connects a loopback socket pair on a free port.
    ///
    /// # Errors
    /// When the loopback interface refuses.
    pub fn open() -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let tx = TcpStream::connect(listener.local_addr()?)?;
        let (rx, _) = listener.accept()?;
        tx.set_nodelay(true)?;
        Ok(Loopback {
            tx,
            rx,
            buf: [0; 64],
        })
    }

    /// One round: `byte` out and back.
    ///
    /// # Errors
    /// When the socket fails.
    pub fn round(&mut self, byte: u8) -> io::Result<u8> {
        self.buf[0] = byte;
        self.tx.write_all(&self.buf)?;
        self.rx.read_exact(&mut self.buf)?;
        Ok(self.buf[0])
    }
}

/// Reads `iterations` records of `table`, one per scattered key, copying each into `scratch`,
/// each after a round on `link` (untimed), and returns the time of the reads alone (one pair of
/// clock readings each, not subtracted here). Each key is computed from the record read before
/// it, so no two reads overlap.
///
/// This is the read a storage server makes first for a request: after the network stack ran,
/// and with nothing to overlap its misses. On the 2-vCPU Xeon VM a record of a 10 MB table cost
/// 109 ns read in a loop of independent keys, 199 ns in a dependent chain and 480-680 ns between
/// loopback rounds (128 kB table: 60-133 ns), and the storage server's GET of one record cost
/// 0.3-0.45 us more from a 10 MB table than from a 128 kB one; the `table_sizes` example
/// prints all three.
///
/// # Errors
/// When the loopback socket fails.
pub fn read_scattered(
    table: &ProbeTable,
    walk: &mut u64,
    scratch: &mut [u8],
    iterations: u64,
    link: &mut Loopback,
) -> io::Result<Duration> {
    let store: &dyn RecordSource = black_box(&**table.store());
    let mut acc = 0u64;
    let mut own = Duration::ZERO;
    for _ in 0..iterations {
        acc = acc.wrapping_add(u64::from(link.round(walk.to_le_bytes()[0])?));
        let t0 = Instant::now();
        let key = table.key(*walk, 1);
        let read = host_read(store, key, scratch).map_or(0, |n| n as u64 ^ head_word(scratch));
        // The next key waits for this record's data: one bit of it moves the walk.
        *walk = walk.wrapping_add(1 + (read & 1));
        own += t0.elapsed();
        acc = acc.wrapping_add(read);
    }
    black_box(acc);
    Ok(own)
}

/// A loopback TCP connection to a client thread pinned to another CPU that keeps
/// [`SERVER_BATCH`] requests in flight: it sends a batch, waits for every reply, sends the next.
/// The calling thread plays the server ([`ServerLink::serve`]): one read wakes it for a batch,
/// one write answers it. Dropping the link closes the connection and joins the client.
#[derive(Debug)]
pub struct ServerLink {
    stream: TcpStream,
    buf: Vec<u8>,
    client: Option<std::thread::JoinHandle<()>>,
}

impl ServerLink {
    /// Connects to a client thread pinned to `cpu`.
    ///
    /// # Errors
    /// When the loopback interface refuses, or the client thread cannot be pinned to `cpu`.
    pub fn open(cpu: usize) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let mut client = TcpStream::connect(listener.local_addr()?)?;
        let (stream, _) = listener.accept()?;
        stream.set_nodelay(true)?;
        client.set_nodelay(true)?;
        let (ready, pinned) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("in-server-client".into())
            .spawn(move || {
                let pin = crate::common::set_affinity(0, cpu).map_err(|e| e.to_string());
                let ok = pin.is_ok();
                if ready.send(pin).is_err() || !ok {
                    return;
                }
                let mut batch = vec![0u8; LINK_BATCH_BYTES];
                while client.write_all(&batch).is_ok() && client.read_exact(&mut batch).is_ok() {}
            })?;
        let link = ServerLink {
            stream,
            buf: vec![0; LINK_BATCH_BYTES],
            client: Some(thread),
        };
        match pinned.recv() {
            Ok(Ok(())) => Ok(link),
            Ok(Err(e)) => Err(io::Error::other(format!("client thread on cpu {cpu}: {e}"))),
            Err(_) => Err(io::Error::other(
                "the client thread ended before it was pinned",
            )),
        }
    }

    /// Waits for the client's next batch, runs `work` (the server's part), answers the batch.
    ///
    /// # Errors
    /// When the connection fails.
    pub fn serve<T>(&mut self, work: impl FnOnce() -> T) -> io::Result<T> {
        self.stream.read_exact(&mut self.buf)?;
        let out = work();
        self.stream.write_all(&self.buf)?;
        Ok(out)
    }
}

impl Drop for ServerLink {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        if let Some(t) = self.client.take() {
            let _ = t.join();
        }
    }
}

/// Reads `iterations` records of `table` as a storage server does between network rounds: per
/// batch of the client's [`SERVER_BATCH`] requests, one run of
/// [`crate::store::PROBE_RUN_RECORDS`] consecutive keys from a scattered first key for each
/// request, copied into `scratch`. Returns the time of the reads alone (one pair of clock
/// readings a batch, not subtracted here) and the number of batches.
///
/// Why: a record read inside a server costs it more than the same read in a tight loop. On the
/// 2-vCPU Xeon VM at 10 MB, records 5-32 of an invocation cost the storage server 118-156 ns and
/// a minimal blocking server 74-173 ns, alternated, against 40-80 ns in the probes' tight loops
/// of runs of 32 in the same hour.
///
/// # Errors
/// When the connection fails.
pub fn read_in_server(
    table: &ProbeTable,
    walk: &mut u64,
    scratch: &mut [u8],
    iterations: u64,
    link: &mut ServerLink,
) -> io::Result<(Duration, u64)> {
    let per_batch = SERVER_BATCH * crate::store::PROBE_RUN_RECORDS;
    let (mut own, mut batches, mut left) = (Duration::ZERO, 0u64, iterations);
    while left > 0 {
        let n = left.min(per_batch);
        own += link.serve(|| {
            let t0 = Instant::now();
            read_runs(table, walk, scratch, n);
            t0.elapsed()
        })?;
        batches += 1;
        left -= n;
    }
    Ok((own, batches))
}

/// The batches [`read_in_server`] takes for `iterations` records.
pub fn in_server_batches(iterations: u64) -> u64 {
    let per_batch = SERVER_BATCH * crate::store::PROBE_RUN_RECORDS;
    iterations.div_ceil(per_batch)
}

impl Default for NativeProbe {
    fn default() -> Self {
        NativeProbe::new()
    }
}

impl IsolationProbe for NativeProbe {
    /// Indirect calls through a `dyn` trait object hidden behind `black_box`.
    fn warm_invoke(&mut self, iterations: u64) -> Result<(), ProbeError> {
        let f = black_box(&self.func);
        let mut acc = 0u64;
        for i in 0..iterations {
            acc = acc.wrapping_add(black_box(f).call(i));
        }
        black_box(acc);
        Ok(())
    }

    /// Creating a fresh instance: the function object and its scratch buffer. The code is linked
    /// into the server, so there is no `dlopen` to time (the literature default cites one).
    fn cold_start(&mut self) -> Result<(), ProbeError> {
        let source: Arc<dyn RecordSource> = self.table.store().clone();
        self.fresh = Some(black_box(NativeInstance::new(source)));
        Ok(())
    }

    fn after_cold_start(&mut self) -> Result<(), ProbeError> {
        self.fresh = None;
        Ok(())
    }

    /// Map lookups copied into the scratch buffer, in runs of
    /// [`crate::store::PROBE_RUN_RECORDS`] consecutive keys from scattered first keys: the
    /// standard storage function's pattern, which the `wasm` and `ebpf` probes read through
    /// their instances. (A first version read one scattered key per access: on a Xeon instance
    /// whose DRAM misses cost about 100 ns it measured 204 ns per record, against 55 ns for the
    /// storage server's consecutive reads and 131-144 ns for the `ebpf` probe's.)
    fn local_access(&mut self, iterations: u64) -> Result<(), ProbeError> {
        read_runs(&self.table, &mut self.walk, &mut self.scratch, iterations);
        Ok(())
    }

    /// `local_access.scattered`: one record per scattered key (a run of one), each key from the
    /// record read before it, so its data misses as the first record of an invocation's run
    /// does, with no other read to overlap the miss; calibrate stores the difference
    /// from `local_access` as the host's scattered-read premium. `local_access.in_server`
    /// ([`IN_SERVER_ACCESS`], where a second CPU is available): the `local_access` pattern read
    /// between network rounds with a client on another CPU, as a storage server reads (recorded,
    /// not yet used by the model). `local_access.bytes=N`: the
    /// `local_access` pattern over a table of `N`-byte records. `compute.<class>`: the class
    /// kernels of [`crate::kernels`], `iterations` rounds, checksum verified.
    fn extra_operations(&self) -> Vec<&'static str> {
        let mut ops = vec![SCATTERED_ACCESS];
        if self.cpus >= 2 {
            ops.push(IN_SERVER_ACCESS);
        }
        ops.extend(TABLE_ACCESS);
        ops.extend(TABLE_SCATTERED);
        ops.extend(kernels::access_ops(&ACCESS_SIZES));
        ops.extend(kernels::class_ops());
        ops
    }

    fn extra(&mut self, name: &str, iterations: u64) -> Result<(), ProbeError> {
        if name == IN_SERVER_ACCESS {
            return self.in_server(iterations).map(|_| ());
        }
        if let Some(table) = self.scattered_table(name) {
            return self.scattered(&table, name, iterations).map(|_| ());
        }
        if let Some(class) = kernels::parse_class_op(name) {
            let rounds = kernels::rounds_of(name, iterations)?;
            let got = self.compute_class(class, rounds);
            return self.checked.verify(class, rounds, got);
        }
        if let Some(table) = kernels::parse_access_op(name).and_then(|b| self.env.sized(b)) {
            read_runs(&table, &mut self.walk, &mut self.scratch, iterations);
            return Ok(());
        }
        if let Some(label) = name.strip_prefix("local_access.table=") {
            let table = match label {
                "probe" => Some(Arc::clone(&self.table)),
                _ => self.env.curve(label),
            };
            if let Some(table) = table {
                read_runs(&table, &mut self.walk, &mut self.scratch, iterations);
                return Ok(());
            }
        }
        Err(ProbeError::new(name, "no such extra operation"))
    }

    /// The scattered reads ([`SCATTERED_ACCESS`], [`TABLE_SCATTERED`]) time themselves: each
    /// read after a loopback round ([`read_scattered`]), the round untimed; so do the reads of
    /// [`IN_SERVER_ACCESS`], a batch of runs between two network rounds per clock pair. Every
    /// other operation is timed whole by the harness.
    fn extra_timed(&mut self, name: &str, iterations: u64) -> Result<Option<Duration>, ProbeError> {
        if name == IN_SERVER_ACCESS {
            return self.in_server(iterations).map(Some);
        }
        match self.scattered_table(name) {
            Some(table) => self.scattered(&table, name, iterations).map(Some),
            None => self.extra(name, iterations).map(|()| None),
        }
    }

    /// One clock pair a batch for [`IN_SERVER_ACCESS`] ([`in_server_batches`]), one an
    /// iteration otherwise.
    fn timed_pairs(&self, name: &str, iterations: u64) -> u64 {
        if name == IN_SERVER_ACCESS {
            in_server_batches(iterations)
        } else {
            iterations
        }
    }

    fn compute(&mut self, rounds: u32) -> Result<u64, ProbeError> {
        Ok(kernel::fnv1a_rounds(
            black_box(&kernel::input()),
            black_box(rounds),
        ))
    }

    /// The instance's scratch buffer and bookkeeping (derived from sizes, not an RSS delta).
    fn memory_per_context(&mut self) -> Option<Bytes> {
        let size = MAX_RECORD_BYTES + std::mem::size_of::<NativeInstance>();
        Some(Bytes::new(size as f64))
    }

    fn notes(&self) -> Vec<String> {
        vec![
            "warm_invoke: indirect call through a dyn trait object (no domain switch)".into(),
            "cold_start: allocate an instance; code is linked in, no dlopen measured".into(),
            "memory_per_context: scratch buffer + instance size, from sizes (not RSS)".into(),
        ]
    }
}

/// A native instance of the standard storage function (see [`crate::store`]).
///
/// ```
/// use std::sync::Arc;
/// use isolation_plugins::native::NativeInstance;
/// use isolation_plugins::store::{MapStore, StorageCall, StorageFunction, reference_output};
///
/// let store = Arc::new(MapStore::synthetic(16, 64));
/// let mut f = NativeInstance::new(store.clone());
/// let call = StorageCall { first_key: 0, records: 4, rounds: 2 };
/// assert_eq!(f.run(call).unwrap(), reference_output(&*store, call).unwrap());
/// ```
pub struct NativeInstance {
    source: Arc<dyn RecordSource>,
    scratch: Vec<u8>,
}

impl NativeInstance {
    /// An instance reading records from `source`.
    pub fn new(source: Arc<dyn RecordSource>) -> Self {
        NativeInstance {
            source,
            scratch: vec![0; MAX_RECORD_BYTES],
        }
    }
}

impl StorageFunction for NativeInstance {
    fn scheme(&self) -> &'static str {
        ID
    }

    fn run(&mut self, call: StorageCall) -> crate::Result<StorageOutput> {
        call.validate()?;
        let mut out = StorageOutput::default();
        for i in 0..u64::from(call.records) {
            let key = call.first_key.wrapping_add(i);
            if let Some(n) = host_read(&*self.source, key, &mut self.scratch) {
                out.found += 1;
                out.bytes += n as u64;
                out.digest = out.digest.wrapping_add(head_word(&self.scratch));
            }
        }
        out.checksum = kernel::fnv1a_rounds(&kernel::input(), call.rounds);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TableShape;

    #[test]
    fn in_server_reads_serve_the_client_a_batch_of_runs_at_a_time() {
        let cpus = crate::common::online_cpus();
        if cpus < 2 {
            println!("skipped: one CPU, the in-server client needs a second");
            return;
        }
        let table = ProbeTable::build(TableShape {
            records: 4096,
            record_bytes: 64,
        })
        .unwrap();
        let mut scratch = vec![0u8; 64];
        let mut link = ServerLink::open((crate::common::current_cpu() + 1) % cpus).unwrap();
        let run = crate::store::PROBE_RUN_RECORDS;
        // Two full batches of 32 runs and a third with one run of 5 records.
        let iterations = 2 * SERVER_BATCH * run + 5;
        let mut walk = 0;
        let (own, batches) =
            read_in_server(&table, &mut walk, &mut scratch, iterations, &mut link).unwrap();
        assert_eq!(batches, 3);
        assert_eq!(in_server_batches(iterations), batches);
        assert_eq!(walk, 2 * SERVER_BATCH + 1, "one walk step a run");
        assert!(own > Duration::ZERO);
        // The link stays usable, and dropping it ends the client.
        let (_, again) = read_in_server(&table, &mut walk, &mut scratch, 1, &mut link).unwrap();
        assert_eq!(again, 1);
        drop(link);
    }

    #[test]
    fn scattered_reads_form_a_dependent_chain() {
        // The walk moves by 1 or 2 per read, by one bit of the record read: an independent walk
        // would end exactly `iterations` on, and then the core could overlap the reads' misses.
        let table = ProbeTable::build(TableShape {
            records: 4096,
            record_bytes: 64,
        })
        .unwrap();
        let mut scratch = vec![0u8; 64];
        let iterations = 256;
        let mut walk = 0;
        let mut link = Loopback::open().unwrap();
        let own = read_scattered(&table, &mut walk, &mut scratch, iterations, &mut link).unwrap();
        assert!(own > Duration::ZERO);
        assert!(
            walk > iterations && walk < 2 * iterations,
            "walk {walk} after {iterations} reads"
        );
    }
}
