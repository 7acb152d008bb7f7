//! `wasm`: WebAssembly instances (wasmtime 48, Cranelift) inside the storage server.
//!
//! The guest is `guest/storage.wat` (WebAssembly text in the repo, compiled at run time):
//! an empty export, the FNV-1a kernel over a 256-byte data segment, and the standard storage
//! function reading records through a host import that copies each record into linear memory.
//!
//! - Warm invocation: a host-to-guest `TypedFunc` call of the empty export.
//! - Cold start: `InstancePre::instantiate` into a fresh `Store` with the on-demand allocator
//!   (64 KiB memory + data segment). Extras: `cold_start.pooling` (the pooling allocator) and
//!   `cold_start.compile` (Cranelift compilation of the module, separate from instantiation).
//! - Local access: the guest calls the `read_record` host import, which copies a 128-byte record
//!   into linear memory (batches of [`PROBE_RECORDS`] per guest call).
//! - Compute: the FNV-1a loop compiled by Cranelift.
//! - Memory: RSS growth per instance over a batch of live on-demand instances.
//!
//! Literature defaults (`fixtures/hosts/reference.ron`): wasmtime PR #10643 typed call 27.5 ns,
//! untyped 44 ns \[V\]; PR #3883 instantiate 5.5 us on-demand / 3.0 us pooling, PR #2900 data
//! segments 14-21 us \[V\]; wasm->host call ~3 ns \[V\] plus the copy \[M\]; 1.1-2.5x slowdown \[M\];
//! one 64 KiB page plus instance state, wasmtime#7622 \[V, M\].

use std::sync::Arc;

use costmodel::{
    Bytes, ComputeClass, IsolationCosts, IsolationProbe, IsolationScheme, ProbeError, SchemeId,
    SchemeKind, Support,
};
use wasmtime::{
    Caller, Config, Engine, Extern, InstanceAllocationStrategy, InstancePre, Linker, Module,
    PoolingAllocationConfig, Store, TypedFunc,
};

use crate::common::{Cited, rss_bytes, saturating_u32};
use crate::error::{PluginError, Result};
use crate::kernels::{self, ACCESS_SIZES, Checked};
use crate::store::{
    MAX_RECORD_BYTES, ProbeEnv, ProbeTable, RecordSource, StorageCall, StorageFunction,
    StorageOutput, head_word, host_read,
};

/// Scheme id of [`Wasm`].
pub const ID: &str = "wasm";

/// The guest module's WebAssembly text.
pub const STORAGE_WAT: &str = include_str!("../guest/storage.wat");

/// The class kernels' module ([`crate::kernels`]: exports `arith` and `chase`, the memory kernel).
pub const KERNELS_WAT: &str = include_str!("../guest/kernels.wat");

/// Records in the probe's store (and per local-access batch).
pub const PROBE_RECORDS: u64 = crate::store::PROBE_RUN_RECORDS;
/// Bytes per record in the probe's store.
pub const PROBE_RECORD_BYTES: usize = 128;

const OUT_FOUND: usize = 512;
const OUT_BYTES: usize = 520;
const OUT_DIGEST: usize = 528;

/// Instances the pooling allocator is sized for.
pub const POOL_INSTANCES: u32 = 128;

/// The `wasm` scheme.
#[derive(Clone, Debug, Default)]
pub struct Wasm {
    env: Option<Arc<ProbeEnv>>,
}

impl Wasm {
    /// The scheme; its probe reads [`ProbeEnv::process_default`].
    pub fn new() -> Self {
        Wasm::default()
    }

    /// The scheme whose probe reads the tables of `env`.
    pub fn with_env(env: Arc<ProbeEnv>) -> Self {
        Wasm { env: Some(env) }
    }
}

impl IsolationScheme for Wasm {
    fn id(&self) -> SchemeId {
        crate::scheme_id(ID)
    }

    /// Cited: wasmtime PR #10643 typed call 27.5 ns \[V\]; PR #3883 instantiate 5.5 us on-demand /
    /// 3.0 us pooling \[V\]; wasm->host ~3 ns \[V\]; slowdown 1.1-2.5x \[M\]; wasmtime#7622 \[V\].
    fn defaults(&self) -> IsolationCosts {
        Cited {
            description: "WebAssembly instance (wasmtime), host-to-guest typed call",
            warm_invoke: (27.5, 22.0, 44.0, "wasmtime PR #10643 (2025): host->wasm typed call 27.5 ns, untyped 44 ns [V]; 22 ns on the dev VM [L]"),
            cold_start: (5500.0, 1200.0, 30000.0, "wasmtime PR #3883: InstancePre instantiate with 1-page memory 5.5 us on-demand / 3.0 us pooling; empty module 1.2 us; data segments 14-21 us (PR #2900) [V]"),
            local_access: (30.0, 3.0, 100.0, "host import that copies a record into linear memory: wasm->host call ~3 ns [V] plus the copy [M]"),
            slowdown: (1.5, 1.1, 2.5, "Wasm vs native is commonly 1.1-2.5x (Jangda et al. ATC19 report ~1.5x for browsers; Cranelift similar) [M]"),
            memory_per_context: (131_072.0, 65536.0, 1_048_576.0, "one 64 KiB page of linear memory plus instance state; pooling reserves virtual slots, resident = touched pages [V wasmtime#7622, M]"),
            requirements: Vec::new(),
        }
        .costs(Support::Supported)
    }

    fn kind(&self) -> SchemeKind {
        SchemeKind::Wasm
    }

    fn probe(&self) -> Option<std::result::Result<Box<dyn IsolationProbe>, ProbeError>> {
        let env = self.env.clone().unwrap_or_else(ProbeEnv::process_default);
        Some(
            WasmProbe::with_env(env)
                .map(|p| Box::new(p) as Box<dyn IsolationProbe>)
                .map_err(ProbeError::from),
        )
    }
}

/// How instances get their memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocator {
    /// Allocate (mmap) each instance's memory when it is created.
    OnDemand,
    /// Pre-reserved slots for [`POOL_INSTANCES`] instances, reused (copy-on-write init).
    Pooling,
}

fn wasm_err(step: &'static str) -> impl FnOnce(wasmtime::Error) -> PluginError {
    move |e| PluginError::Wasm {
        step,
        message: format!("{e:#}"),
    }
}

/// What a guest's `Store` carries: the record source behind the `read_record` import.
struct HostState {
    source: Arc<dyn RecordSource>,
    /// The instance's linear memory, set right after instantiation (saves a by-name export
    /// lookup on every import call).
    memory: Option<wasmtime::Memory>,
}

/// `read_record(key, dst, cap)`: copies record `key` into linear memory `[dst, dst + cap)`.
fn read_record(mut caller: Caller<'_, HostState>, key: i64, dst: i32, cap: i32) -> i64 {
    let memory = match caller.data().memory {
        Some(m) => m,
        None => match caller.get_export("memory") {
            Some(Extern::Memory(m)) => m,
            _ => return -1,
        },
    };
    let (mem, state) = memory.data_and_store_mut(&mut caller);
    let (Ok(dst), Ok(cap)) = (usize::try_from(dst), usize::try_from(cap)) else {
        return -1;
    };
    let Some(buf) = dst
        .checked_add(cap.min(MAX_RECORD_BYTES))
        .and_then(|end| mem.get_mut(dst..end))
    else {
        return -1;
    };
    match host_read(&*state.source, key.cast_unsigned(), buf) {
        Some(n) => i64::try_from(n).unwrap_or(i64::MAX),
        None => -1,
    }
}

/// An engine with the storage module compiled and its import resolved: the per-server part.
/// Instantiate it once per tenant context with [`WasmRuntime::instantiate`].
pub struct WasmRuntime {
    engine: Engine,
    pre: InstancePre<HostState>,
    allocator: Allocator,
}

impl WasmRuntime {
    /// Compiles the storage module for an engine using `allocator`.
    ///
    /// # Errors
    /// [`PluginError::Wasm`] when the engine or the compilation fails.
    pub fn new(allocator: Allocator) -> Result<Self> {
        let mut config = Config::new();
        if allocator == Allocator::Pooling {
            let mut pool = PoolingAllocationConfig::default();
            pool.total_core_instances(POOL_INSTANCES)
                .total_memories(POOL_INSTANCES)
                .total_tables(POOL_INSTANCES)
                .max_memory_size(1 << 20);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config).map_err(wasm_err("create engine"))?;
        // wasmtime's `wat` feature parses the text; compilation is Cranelift.
        let module = Module::new(&engine, STORAGE_WAT).map_err(wasm_err("compile"))?;
        let mut linker: Linker<HostState> = Linker::new(&engine);
        linker
            .func_wrap("host", "read_record", read_record)
            .map_err(wasm_err("define read_record"))?;
        let pre = linker
            .instantiate_pre(&module)
            .map_err(wasm_err("instantiate_pre"))?;
        Ok(WasmRuntime {
            engine,
            pre,
            allocator,
        })
    }

    /// The allocator of this runtime's engine.
    pub fn allocator(&self) -> Allocator {
        self.allocator
    }

    /// Parses and compiles the module again (timing text parsing + Cranelift; the result is
    /// dropped).
    ///
    /// # Errors
    /// [`PluginError::Wasm`] when compilation fails.
    pub fn compile_again(&self) -> Result<()> {
        Module::new(&self.engine, STORAGE_WAT)
            .map(drop)
            .map_err(wasm_err("compile"))
    }

    /// A fresh instance (a new `Store`) reading records from `source`: the cold start.
    ///
    /// # Errors
    /// [`PluginError::Wasm`] when instantiation fails (e.g. the pool is exhausted).
    pub fn instantiate(&self, source: Arc<dyn RecordSource>) -> Result<WasmInstance> {
        let mut store = Store::new(
            &self.engine,
            HostState {
                source,
                memory: None,
            },
        );
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(wasm_err("instantiate"))?;
        let memory =
            instance
                .get_memory(&mut store, "memory")
                .ok_or_else(|| PluginError::Wasm {
                    step: "find export",
                    message: "the module exports no memory named `memory`".into(),
                })?;
        store.data_mut().memory = Some(memory);
        let nop = instance
            .get_typed_func::<(), ()>(&mut store, "nop")
            .map_err(wasm_err("find export nop"))?;
        let fnv = instance
            .get_typed_func::<i32, i64>(&mut store, "fnv")
            .map_err(wasm_err("find export fnv"))?;
        let run = instance
            .get_typed_func::<(i64, i32, i32), i64>(&mut store, "run")
            .map_err(wasm_err("find export run"))?;
        Ok(WasmInstance {
            store,
            memory,
            nop,
            fnv,
            run,
        })
    }
}

/// A WebAssembly instance of the standard storage function (see [`crate::store`]).
///
/// ```
/// use std::sync::Arc;
/// use isolation_plugins::wasm::{Allocator, WasmRuntime};
/// use isolation_plugins::store::{MapStore, StorageCall, StorageFunction, reference_output};
///
/// let store = Arc::new(MapStore::synthetic(16, 64));
/// let runtime = WasmRuntime::new(Allocator::Pooling).unwrap();
/// let mut f = runtime.instantiate(store.clone()).unwrap();
/// let call = StorageCall { first_key: 0, records: 4, rounds: 2 };
/// assert_eq!(f.run(call).unwrap(), reference_output(&*store, call).unwrap());
/// ```
pub struct WasmInstance {
    store: Store<HostState>,
    memory: wasmtime::Memory,
    nop: TypedFunc<(), ()>,
    fnv: TypedFunc<i32, i64>,
    run: TypedFunc<(i64, i32, i32), i64>,
}

/// Reinterprets a `u32` as the `i32` WebAssembly passes (two's complement, no loss).
fn to_i32(v: u32) -> i32 {
    v.cast_signed()
}

impl WasmInstance {
    /// One host-to-guest call of the empty export.
    ///
    /// # Errors
    /// [`PluginError::Wasm`] on a trap.
    pub fn call_nop(&mut self) -> Result<()> {
        self.nop
            .call(&mut self.store, ())
            .map_err(wasm_err("call nop"))
    }

    /// The FNV-1a kernel for `rounds` in the guest.
    ///
    /// # Errors
    /// [`PluginError::Wasm`] on a trap.
    pub fn fnv(&mut self, rounds: u32) -> Result<u64> {
        self.fnv
            .call(&mut self.store, to_i32(rounds))
            .map(i64::cast_unsigned)
            .map_err(wasm_err("call fnv"))
    }

    fn exec(&mut self, first_key: u64, records: u32, rounds: u32) -> Result<StorageOutput> {
        let checksum = self
            .run
            .call(
                &mut self.store,
                (first_key.cast_signed(), to_i32(records), to_i32(rounds)),
            )
            .map_err(wasm_err("call run"))?;
        let mem = self.memory.data(&self.store);
        let word = |off: usize| mem.get(off..off + 8).map_or(0, head_word);
        Ok(StorageOutput {
            found: saturating_u32(word(OUT_FOUND)),
            bytes: word(OUT_BYTES),
            digest: word(OUT_DIGEST),
            checksum: checksum.cast_unsigned(),
        })
    }
}

impl StorageFunction for WasmInstance {
    fn scheme(&self) -> &'static str {
        ID
    }

    fn run(&mut self, call: StorageCall) -> Result<StorageOutput> {
        call.validate()?;
        self.exec(call.first_key, call.records, call.rounds)
    }
}

/// The class kernels of [`crate::kernels`] compiled from [`KERNELS_WAT`], with the chase buffer
/// in the instance's memory.
pub struct ClassKernels {
    store: Store<()>,
    arith: TypedFunc<i32, i64>,
    memory: TypedFunc<i32, i64>,
}

impl ClassKernels {
    /// Compiles and instantiates the kernels' module in `engine` and writes the chase buffer.
    ///
    /// # Errors
    /// [`PluginError::Wasm`] when compilation or instantiation fails.
    pub fn new(engine: &Engine) -> Result<Self> {
        let module = Module::new(engine, KERNELS_WAT).map_err(wasm_err("compile kernels"))?;
        let mut store = Store::new(engine, ());
        let instance = wasmtime::Instance::new(&mut store, &module, &[])
            .map_err(wasm_err("instantiate kernels"))?;
        let memory =
            instance
                .get_memory(&mut store, "memory")
                .ok_or_else(|| PluginError::Wasm {
                    step: "find export",
                    message: "the kernels module exports no memory".into(),
                })?;
        let bytes = memory.data_mut(&mut store);
        for (slot, next) in bytes.chunks_exact_mut(4).zip(kernels::chase_buffer()) {
            slot.copy_from_slice(&next.to_le_bytes());
        }
        let arith = instance
            .get_typed_func::<i32, i64>(&mut store, "arith")
            .map_err(wasm_err("find export arith"))?;
        let memory = instance
            .get_typed_func::<i32, i64>(&mut store, "chase")
            .map_err(wasm_err("find export chase"))?;
        Ok(ClassKernels {
            store,
            arith,
            memory,
        })
    }

    /// Runs `class`'s kernel for `rounds` rounds; `None` for `int_mul` (the storage module's
    /// `fnv`).
    ///
    /// # Errors
    /// [`PluginError::Wasm`] on a trap.
    pub fn run(&mut self, class: ComputeClass, rounds: u32) -> Result<Option<u64>> {
        let f = match class {
            ComputeClass::IntMul => return Ok(None),
            ComputeClass::Arith => &self.arith,
            ComputeClass::Memory => &self.memory,
        };
        f.call(&mut self.store, to_i32(rounds))
            .map(|v| Some(v.cast_unsigned()))
            .map_err(wasm_err("call kernel"))
    }
}

/// Probe for [`Wasm`].
pub struct WasmProbe {
    on_demand: WasmRuntime,
    pooling: WasmRuntime,
    source: Arc<dyn RecordSource>,
    warm: WasmInstance,
    fresh: Option<WasmInstance>,
    /// Position of the scattered walk over the probe table.
    walk: u64,
    env: Arc<ProbeEnv>,
    table: Arc<ProbeTable>,
    sized: Vec<(usize, Arc<ProbeTable>, WasmInstance)>,
    classes: ClassKernels,
    checked: Checked,
}

impl WasmProbe {
    /// A probe over [`ProbeEnv::process_default`].
    ///
    /// # Errors
    /// [`PluginError::Wasm`] when compilation or instantiation fails.
    pub fn new() -> Result<Self> {
        WasmProbe::with_env(ProbeEnv::process_default())
    }

    /// Compiles the module for an on-demand and a pooling engine and instantiates a warm
    /// instance over the main table of `env`.
    ///
    /// # Errors
    /// [`PluginError::Wasm`] when compilation or instantiation fails.
    pub fn with_env(env: Arc<ProbeEnv>) -> Result<Self> {
        let table = env.table();
        let source: Arc<dyn RecordSource> = table.store().clone();
        let on_demand = WasmRuntime::new(Allocator::OnDemand)?;
        let pooling = WasmRuntime::new(Allocator::Pooling)?;
        let warm = on_demand.instantiate(source.clone())?;
        let classes = ClassKernels::new(&on_demand.engine)?;
        Ok(WasmProbe {
            on_demand,
            pooling,
            source,
            warm,
            fresh: None,
            walk: 0,
            env,
            table,
            sized: Vec::new(),
            classes,
            checked: Checked::new(),
        })
    }

    /// Runs `class`'s kernel compiled by Cranelift and returns its checksum (unverified).
    ///
    /// # Errors
    /// [`PluginError::Wasm`] on a trap.
    pub fn compute_class(&mut self, class: ComputeClass, rounds: u32) -> Result<u64> {
        match self.classes.run(class, rounds)? {
            Some(sum) => Ok(sum),
            None => self.warm.fnv(rounds),
        }
    }

    /// Reads `iterations` records of `table` through `inst`, in runs from scattered first keys.
    fn access(
        inst: &mut WasmInstance,
        table: &ProbeTable,
        walk: &mut u64,
        iterations: u64,
    ) -> Result<()> {
        let mut left = iterations;
        while left > 0 {
            let batch = left.min(PROBE_RECORDS);
            *walk = walk.wrapping_add(1);
            let first = table.key(*walk, batch);
            std::hint::black_box(inst.exec(first, saturating_u32(batch), 0)?);
            left -= batch;
        }
        Ok(())
    }

    /// `local_access.bytes=N`: an instance over the `N`-byte table (made on first use).
    fn sized_access(&mut self, bytes: usize, iterations: u64) -> Result<bool> {
        if !self.sized.iter().any(|(b, _, _)| *b == bytes) {
            let Some(table) = self.env.sized(bytes) else {
                return Ok(false);
            };
            let inst = self.on_demand.instantiate(table.store().clone())?;
            self.sized.push((bytes, table, inst));
        }
        let Some((_, table, inst)) = self.sized.iter_mut().find(|(b, _, _)| *b == bytes) else {
            return Ok(false);
        };
        Self::access(inst, table, &mut self.walk, iterations)?;
        Ok(true)
    }
}

impl IsolationProbe for WasmProbe {
    /// Host-to-guest `TypedFunc` calls of the empty export.
    fn warm_invoke(&mut self, iterations: u64) -> std::result::Result<(), ProbeError> {
        for _ in 0..iterations {
            self.warm.call_nop()?;
        }
        Ok(())
    }

    /// `InstancePre::instantiate` into a fresh store, on-demand allocator.
    fn cold_start(&mut self) -> std::result::Result<(), ProbeError> {
        self.fresh = Some(self.on_demand.instantiate(self.source.clone())?);
        Ok(())
    }

    fn after_cold_start(&mut self) -> std::result::Result<(), ProbeError> {
        self.fresh = None;
        Ok(())
    }

    /// Host-import record reads (128-byte copies into linear memory), batched per guest call.
    fn local_access(&mut self, iterations: u64) -> std::result::Result<(), ProbeError> {
        Ok(Self::access(
            &mut self.warm,
            &self.table,
            &mut self.walk,
            iterations,
        )?)
    }

    /// The FNV-1a kernel compiled by Cranelift.
    fn compute(&mut self, rounds: u32) -> std::result::Result<u64, ProbeError> {
        Ok(self.warm.fnv(rounds)?)
    }

    /// RSS growth per live on-demand instance, over 32 instances.
    fn memory_per_context(&mut self) -> Option<Bytes> {
        const N: usize = 32;
        let before = rss_bytes()?;
        let mut live = Vec::with_capacity(N);
        for _ in 0..N {
            let mut inst = self.on_demand.instantiate(self.source.clone()).ok()?;
            inst.fnv(1).ok()?; // touch the memory as a first call would
            live.push(inst);
        }
        let after = rss_bytes()?;
        drop(live);
        Some(Bytes::new(after.saturating_sub(before) as f64 / N as f64))
    }

    fn extra_operations(&self) -> Vec<&'static str> {
        let mut ops = vec!["cold_start.pooling", "cold_start.compile"];
        ops.extend(kernels::access_ops(&ACCESS_SIZES));
        ops.extend(kernels::class_ops());
        ops
    }

    /// `cold_start.pooling`: instantiate and drop with the pooling allocator; `cold_start.compile`:
    /// compile the module with Cranelift. Each `iterations` times.
    /// `local_access.bytes=N` and `compute.<class>` (checksum verified) as the other schemes.
    fn extra(&mut self, name: &str, iterations: u64) -> std::result::Result<(), ProbeError> {
        if let Some(class) = kernels::parse_class_op(name) {
            let rounds = kernels::rounds_of(name, iterations)?;
            let got = self.compute_class(class, rounds)?;
            return self.checked.verify(class, rounds, got);
        }
        if let Some(bytes) = kernels::parse_access_op(name)
            && self.sized_access(bytes, iterations)?
        {
            return Ok(());
        }
        match name {
            "cold_start.pooling" => {
                for _ in 0..iterations {
                    drop(self.pooling.instantiate(self.source.clone())?);
                }
                Ok(())
            }
            "cold_start.compile" => {
                for _ in 0..iterations {
                    self.on_demand.compile_again()?;
                }
                Ok(())
            }
            _ => Err(ProbeError::new(name, "no such extra operation")),
        }
    }

    fn notes(&self) -> Vec<String> {
        vec![
            "guest: guest/storage.wat compiled by Cranelift (wasmtime 48)".into(),
            "cold_start: InstancePre::instantiate, on-demand allocator (pooling is an extra; drop is included there)".into(),
            "local_access: host import copying a 128-byte record into linear memory".into(),
            "memory_per_context: RSS delta per live instance (on-demand), not the pooling reservation".into(),
        ]
    }
}
