//! `ebpf`: tenant code as an eBPF program in a user-space VM (rbpf), interpreted or JIT-compiled.
//!
//! The programs are eBPF assembly in this file (commented, one instruction per line), assembled
//! once per process with rbpf's assembler. The FNV-1a kernel is eBPF code over the same 256-byte
//! input as every other scheme. Records reach the program through a *helper call*
//! ([`HELPER_READ_RECORD`]): the host copies the record into the program's memory region, as a
//! kernel helper such as `bpf_map_lookup_elem` + copy would.
//!
//! - Warm invocation: a call of the empty program (`mov r0, 0; exit`) through the JIT; extra
//!   `warm_invoke.interpreter`.
//! - Cold start: load + verify (`EbpfVmRaw::new`), helper registration and `jit_compile` of the
//!   storage program.
//! - Local access: one helper call per record inside the storage program (batches of
//!   [`PROBE_RECORDS`] records per program run, so one call's overhead is amortised); extra
//!   `local_access.interpreter`.
//! - Compute: the eBPF FNV-1a loop, JIT-compiled; extra `compute.interpreter` runs `iterations`
//!   rounds interpreted (time per round = time / iterations).
//! - Memory: derived from sizes: JIT page + memory region + program (not an RSS delta).
//!
//! Literature defaults (`fixtures/hosts/reference.ron`): solana-labs/rbpf#304 JIT init+run 90
//! ns, interpreter 324 ns \[V\]; verifier + JIT us to ms \[M\]; helper or memory region tens of ns
//! \[M\]; JIT 12-27x faster than the interpreter on loops (anza-xyz/sbpf#100) \[V\]; program + JIT
//! pages \[M\].

use std::sync::{Arc, OnceLock};

use costmodel::{
    Bytes, ComputeClass, IsolationCosts, IsolationProbe, IsolationScheme, ProbeError, Requirement,
    SchemeId, SchemeKind, Support, kernel,
};

use crate::common::{Cited, saturating_u32};
use crate::error::{PluginError, Result};
use crate::kernels::{self, ACCESS_SIZES, Checked};
mod asm;
mod class_kernels;
mod helper;
use asm::{NOP_ASM, STORAGE_ASM};
pub use class_kernels::ClassKernels;
use class_kernels::{ARITH_ASM, MEMORY_ASM};
use helper::{CURRENT, CtxGuard, HelperCtx, helper_read_record, jit_helper};

use crate::store::{
    MAX_RECORD_BYTES, ProbeEnv, ProbeTable, RecordSource, StorageCall, StorageFunction,
    StorageOutput,
};

/// Scheme id of [`Ebpf`].
pub const ID: &str = "ebpf";

/// Helper key of `read_record(key, dst, cap) -> len or u64::MAX`.
pub const HELPER_READ_RECORD: u32 = 1;

/// Records in the probe's store (and per local-access batch).
pub const PROBE_RECORDS: u64 = crate::store::PROBE_RUN_RECORDS;
/// Bytes per record in the probe's store.
pub const PROBE_RECORD_BYTES: usize = 128;

// Memory region layout (offsets into the program's `mem`, r1 on entry).
const OFF_ROUNDS: usize = 0;
const OFF_RECORDS: usize = 8;
const OFF_FIRST_KEY: usize = 16;
const OFF_FOUND: usize = 24;
const OFF_BYTES: usize = 32;
const OFF_DIGEST: usize = 40;
const OFF_INPUT: usize = 64;
const OFF_SCRATCH: usize = OFF_INPUT + kernel::INPUT_LEN; // 320
/// Size of the program's memory region.
pub const MEM_BYTES: usize = OFF_SCRATCH + MAX_RECORD_BYTES;

fn assemble(step: &'static str, src: &str) -> Result<Vec<u8>> {
    let text: String = src
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    rbpf::assembler::assemble(&text).map_err(|message| PluginError::Ebpf { step, message })
}

/// The assembled programs, built once per process (the VMs borrow them for `'static`).
struct Programs {
    nop: Vec<u8>,
    storage: Vec<u8>,
    arith: Vec<u8>,
    memory: Vec<u8>,
}

fn programs() -> Result<&'static Programs> {
    static PROGRAMS: OnceLock<std::result::Result<Programs, String>> = OnceLock::new();
    let p = PROGRAMS.get_or_init(|| {
        Ok(Programs {
            nop: assemble("assemble nop", NOP_ASM).map_err(|e| e.to_string())?,
            storage: assemble("assemble storage", STORAGE_ASM).map_err(|e| e.to_string())?,
            arith: assemble("assemble arith", ARITH_ASM).map_err(|e| e.to_string())?,
            memory: assemble("assemble memory", MEMORY_ASM).map_err(|e| e.to_string())?,
        })
    });
    p.as_ref().map_err(|message| PluginError::Ebpf {
        step: "assemble",
        message: message.clone(),
    })
}

/// The bytecode of the storage program (for inspection and tests).
///
/// # Errors
/// [`PluginError::Ebpf`] if the embedded assembly does not assemble.
pub fn storage_program() -> Result<&'static [u8]> {
    Ok(&programs()?.storage)
}

/// How an eBPF program is executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// rbpf's interpreter (memory accesses checked at run time).
    Interpreter,
    /// rbpf's x86-64 JIT (checked by the verifier only).
    Jit,
}

/// The `ebpf` scheme.
#[derive(Clone, Debug, Default)]
pub struct Ebpf {
    env: Option<Arc<ProbeEnv>>,
}

impl Ebpf {
    /// The scheme; its probe reads [`ProbeEnv::process_default`].
    pub fn new() -> Self {
        Ebpf::default()
    }

    /// The scheme whose probe reads the tables of `env`.
    pub fn with_env(env: Arc<ProbeEnv>) -> Self {
        Ebpf { env: Some(env) }
    }
}

fn jit_available() -> bool {
    cfg!(all(target_arch = "x86_64", not(windows)))
}

impl IsolationScheme for Ebpf {
    fn id(&self) -> SchemeId {
        crate::scheme_id(ID)
    }

    /// Cited: solana-labs/rbpf#304 JIT 90 ns, interpreter 324 ns \[V\]; verifier + JIT us-ms \[M\];
    /// helper tens of ns \[M\]; anza-xyz/sbpf#100 JIT vs interpreter \[V\]; JIT pages \[M\].
    fn defaults(&self) -> IsolationCosts {
        Cited {
            description: "eBPF program in a user-space VM (rbpf, JIT)",
            warm_invoke: (90.0, 6.0, 324.0, "solana-labs/rbpf#304: JIT init+run 90 ns, interpreter 324 ns (tiny program) [V]; 6 ns JIT call on the dev VM [L]"),
            cold_start: (10_000.0, 800.0, 1_000_000.0, "verifier + JIT: us to ms by program size [M]; rbpf JIT compile 0.8 us for a tiny program on the dev VM [L]"),
            local_access: (20.0, 5.0, 100.0, "helper call or bounds-checked memory region, tens of ns [M]"),
            slowdown: (2.0, 1.2, 5.0, "JIT code vs native: no published rbpf number; JIT is 12-27x faster than the interpreter on loops (anza-xyz/sbpf#100) [V]; factor vs native [M]"),
            memory_per_context: (8192.0, 4096.0, 65536.0, "program + JIT page(s), 512-byte stack [M]"),
            requirements: vec![Requirement::Jit],
        }
        .costs(Support::Supported)
    }

    fn kind(&self) -> SchemeKind {
        SchemeKind::Ebpf
    }

    fn support(&self) -> Support {
        if jit_available() {
            Support::Supported
        } else {
            Support::Unsupported {
                reason: "rbpf's JIT needs x86-64 on a non-Windows OS".into(),
            }
        }
    }

    fn probe(&self) -> Option<std::result::Result<Box<dyn IsolationProbe>, ProbeError>> {
        if !jit_available() {
            return None;
        }
        let env = self.env.clone().unwrap_or_else(ProbeEnv::process_default);
        Some(
            EbpfProbe::with_env(env)
                .map(|p| Box::new(p) as Box<dyn IsolationProbe>)
                .map_err(ProbeError::from),
        )
    }
}

/// A verified (and, in [`Mode::Jit`], compiled) program with its memory region.
struct Loaded {
    vm: rbpf::EbpfVmRaw<'static>,
    mode: Mode,
}

// SAFETY: rbpf's VM is !Send only because its optional stack-usage calculator may hold a
// `Box<dyn Any>`; this crate never installs one (the field stays `None`), and everything else in
// the VM (program slice, helper fn pointers, JIT buffer it owns) may move between threads.
unsafe impl Send for Loaded {}

impl Loaded {
    fn load(prog: &'static [u8], mode: Mode) -> Result<Self> {
        let mut vm = rbpf::EbpfVmRaw::new(Some(prog)).map_err(|e| PluginError::Ebpf {
            step: "load + verify",
            message: e.to_string(),
        })?;
        let helper: rbpf::Helper = match mode {
            Mode::Interpreter => helper_read_record,
            Mode::Jit => jit_helper(),
        };
        vm.register_helper(HELPER_READ_RECORD, helper)
            .map_err(|e| PluginError::Ebpf {
                step: "register helper",
                message: e.to_string(),
            })?;
        if mode == Mode::Jit {
            vm.jit_compile().map_err(|e| PluginError::Ebpf {
                step: "jit_compile",
                message: e.to_string(),
            })?;
        }
        Ok(Loaded { vm, mode })
    }

    /// Runs the program over `mem` with `source` behind the helper.
    fn run(&self, mem: &mut [u8], source: &Arc<dyn RecordSource>) -> Result<u64> {
        let lo = mem.as_ptr() as u64;
        let ctx = HelperCtx {
            source: Arc::as_ptr(source),
            mem_lo: lo,
            mem_hi: lo + mem.len() as u64,
        };
        let _ = CURRENT.try_with(|c| c.set(Some(ctx)));
        let _guard = CtxGuard;
        // rbpf ties the memory's lifetime to the VM's; the borrow ends with this call.
        // SAFETY: `mem` outlives the call; extending its lifetime only satisfies rbpf's
        // signature (EbpfVmRaw<'a>::execute_program takes &'a mut [u8]) and no reference is
        // kept after the call returns.
        let mem: &'static mut [u8] = unsafe { std::mem::transmute::<&mut [u8], _>(mem) };
        let r = match self.mode {
            Mode::Interpreter => self.vm.execute_program(mem),
            // SAFETY: the program passed rbpf's verifier, and its memory accesses were checked by
            // the interpreter in this crate's tests: it only touches its region (bounded
            // offsets from r1 within MEM_BYTES), its stack, and calls the helper, which
            // validates its destination range.
            Mode::Jit => unsafe { self.vm.execute_program_jit(mem) },
        };
        r.map_err(|e| PluginError::Ebpf {
            step: "execute",
            message: e.to_string(),
        })
    }
}

/// A memory region of [`MEM_BYTES`], 8-byte aligned, with the kernel input in place.
fn new_mem() -> Vec<u64> {
    let mut words = vec![0u64; MEM_BYTES.div_ceil(8)];
    let bytes = as_bytes_mut(&mut words);
    bytes[OFF_INPUT..OFF_INPUT + kernel::INPUT_LEN].copy_from_slice(&kernel::input());
    words
}

fn as_bytes_mut(words: &mut [u64]) -> &mut [u8] {
    let len = words.len() * 8;
    // SAFETY: u8 has no alignment or validity requirements; the slice covers exactly the words'
    // memory and borrows it mutably for its lifetime.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
}

fn put(mem: &mut [u8], off: usize, v: u64) {
    mem[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

fn get(mem: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&mem[off..off + 8]);
    u64::from_le_bytes(w)
}

/// An eBPF instance of the standard storage function (see [`crate::store`]): records through
/// the `read_record` helper, the FNV kernel in eBPF.
///
/// ```
/// use std::sync::Arc;
/// use isolation_plugins::ebpf::{EbpfInstance, Mode};
/// use isolation_plugins::store::{MapStore, StorageCall, StorageFunction, reference_output};
///
/// let store = Arc::new(MapStore::synthetic(16, 64));
/// let mut f = EbpfInstance::new(store.clone(), Mode::Jit).unwrap();
/// let call = StorageCall { first_key: 0, records: 4, rounds: 2 };
/// assert_eq!(f.run(call).unwrap(), reference_output(&*store, call).unwrap());
/// ```
pub struct EbpfInstance {
    program: Loaded,
    mem: Vec<u64>,
    source: Arc<dyn RecordSource>,
}

impl EbpfInstance {
    /// Loads, verifies and (for [`Mode::Jit`]) compiles the storage program over `source`.
    ///
    /// # Errors
    /// [`PluginError::Ebpf`] when verification or compilation fails.
    pub fn new(source: Arc<dyn RecordSource>, mode: Mode) -> Result<Self> {
        if mode == Mode::Jit && !jit_available() {
            return Err(PluginError::Unsupported {
                scheme: ID,
                reason: "rbpf's JIT needs x86-64 on a non-Windows OS".into(),
            });
        }
        Ok(EbpfInstance {
            program: Loaded::load(storage_program()?, mode)?,
            mem: new_mem(),
            source,
        })
    }

    /// The execution mode.
    pub fn mode(&self) -> Mode {
        self.program.mode
    }

    fn exec(&mut self, first_key: u64, records: u32, rounds: u32) -> Result<StorageOutput> {
        let mem = as_bytes_mut(&mut self.mem);
        put(mem, OFF_ROUNDS, u64::from(rounds));
        put(mem, OFF_RECORDS, u64::from(records));
        put(mem, OFF_FIRST_KEY, first_key);
        let checksum = self.program.run(mem, &self.source)?;
        let mem = as_bytes_mut(&mut self.mem);
        Ok(StorageOutput {
            found: saturating_u32(get(mem, OFF_FOUND)),
            bytes: get(mem, OFF_BYTES),
            digest: get(mem, OFF_DIGEST),
            checksum,
        })
    }
}

impl StorageFunction for EbpfInstance {
    fn scheme(&self) -> &'static str {
        ID
    }

    fn run(&mut self, call: StorageCall) -> Result<StorageOutput> {
        call.validate()?;
        self.exec(call.first_key, call.records, call.rounds)
    }
}

/// Probe for [`Ebpf`].
pub struct EbpfProbe {
    nop_jit: Loaded,
    nop_interp: Loaded,
    jit: EbpfInstance,
    interp: EbpfInstance,
    fresh: Option<Loaded>,
    empty: Vec<u8>,
    /// Position of the scattered walk of first keys, kept across calls so that repeated
    /// batches of the same size read different records.
    walk: u64,
    env: Arc<ProbeEnv>,
    table: Arc<ProbeTable>,
    sized: Vec<(usize, Arc<ProbeTable>, EbpfInstance)>,
    classes: ClassKernels,
    checked: Checked,
}

impl EbpfProbe {
    /// Loads the programs in both modes over [`ProbeEnv::process_default`].
    ///
    /// # Errors
    /// [`PluginError::Ebpf`] when loading fails.
    pub fn new() -> Result<Self> {
        EbpfProbe::with_env(ProbeEnv::process_default())
    }

    /// Loads the programs in both modes over the tables of `env`.
    ///
    /// # Errors
    /// [`PluginError::Ebpf`] when loading fails.
    pub fn with_env(env: Arc<ProbeEnv>) -> Result<Self> {
        let table = env.table();
        let store: Arc<dyn RecordSource> = table.store().clone();
        let p = programs()?;
        Ok(EbpfProbe {
            nop_jit: Loaded::load(&p.nop, Mode::Jit)?,
            nop_interp: Loaded::load(&p.nop, Mode::Interpreter)?,
            jit: EbpfInstance::new(store.clone(), Mode::Jit)?,
            interp: EbpfInstance::new(store, Mode::Interpreter)?,
            fresh: None,
            empty: Vec::new(),
            walk: 0,
            env,
            table,
            sized: Vec::new(),
            classes: ClassKernels::new(Mode::Jit)?,
            checked: Checked::new(),
        })
    }

    /// Runs `class`'s kernel, JIT-compiled, and returns its checksum (unverified).
    ///
    /// # Errors
    /// [`PluginError::Ebpf`] when the run fails.
    pub fn compute_class(&mut self, class: ComputeClass, rounds: u32) -> Result<u64> {
        match self.classes.run(class, rounds)? {
            Some(sum) => Ok(sum),
            None => Ok(self.jit.exec(0, 0, rounds)?.checksum),
        }
    }

    /// Reads `iterations` records of `bytes` bytes through the JIT-compiled storage program.
    fn sized_access(&mut self, bytes: usize, iterations: u64) -> Result<bool> {
        if !self.sized.iter().any(|(b, _, _)| *b == bytes) {
            let Some(table) = self.env.sized(bytes) else {
                return Ok(false);
            };
            let inst = EbpfInstance::new(table.store().clone(), Mode::Jit)?;
            self.sized.push((bytes, table, inst));
        }
        let Some((_, table, inst)) = self.sized.iter_mut().find(|(b, _, _)| *b == bytes) else {
            return Ok(false);
        };
        Self::access(inst, table, &mut self.walk, iterations)?;
        Ok(true)
    }

    fn nop(&mut self, mode: Mode, iterations: u64) -> Result<()> {
        let dummy: Arc<dyn RecordSource> = self.jit.source.clone();
        let prog = match mode {
            Mode::Jit => &self.nop_jit,
            Mode::Interpreter => &self.nop_interp,
        };
        for _ in 0..iterations {
            std::hint::black_box(prog.run(&mut self.empty, &dummy)?);
        }
        Ok(())
    }

    /// Reads `iterations` records in runs from scattered first keys. (A first version started
    /// the walk from `iterations` on every call, so the harness's repeated batches of one size
    /// re-read the same, cached, records: it measured 131-144 ns per record where the native
    /// probe measured 204 ns on the same Xeon.)
    fn access(
        inst: &mut EbpfInstance,
        table: &ProbeTable,
        walk: &mut u64,
        iterations: u64,
    ) -> Result<()> {
        let mut left = iterations;
        while left > 0 {
            let batch = left.min(PROBE_RECORDS);
            *walk = walk.wrapping_add(1);
            let out = inst.exec(table.key(*walk, batch), saturating_u32(batch), 0)?;
            std::hint::black_box(out);
            left -= batch;
        }
        Ok(())
    }
}

impl IsolationProbe for EbpfProbe {
    /// Calls of the empty program through the JIT.
    fn warm_invoke(&mut self, iterations: u64) -> std::result::Result<(), ProbeError> {
        Ok(self.nop(Mode::Jit, iterations)?)
    }

    /// Load + verify + register the helper + `jit_compile` of the storage program.
    fn cold_start(&mut self) -> std::result::Result<(), ProbeError> {
        self.fresh = Some(Loaded::load(storage_program()?, Mode::Jit)?);
        Ok(())
    }

    fn after_cold_start(&mut self) -> std::result::Result<(), ProbeError> {
        self.fresh = None;
        Ok(())
    }

    /// Helper calls from the JIT-compiled storage program (no compute rounds).
    fn local_access(&mut self, iterations: u64) -> std::result::Result<(), ProbeError> {
        Ok(Self::access(
            &mut self.jit,
            &self.table,
            &mut self.walk,
            iterations,
        )?)
    }

    /// The eBPF FNV-1a kernel, JIT-compiled (no records read).
    fn compute(&mut self, rounds: u32) -> std::result::Result<u64, ProbeError> {
        Ok(self.jit.exec(0, 0, rounds)?.checksum)
    }

    /// JIT page + memory region + storage program, from their sizes.
    fn memory_per_context(&mut self) -> Option<Bytes> {
        let prog = storage_program().map(<[u8]>::len).unwrap_or(0);
        Some(Bytes::new((4096 + MEM_BYTES + prog) as f64))
    }

    fn extra_operations(&self) -> Vec<&'static str> {
        let mut ops = vec![
            "warm_invoke.interpreter",
            "local_access.interpreter",
            "compute.interpreter",
        ];
        ops.extend(kernels::access_ops(&ACCESS_SIZES));
        ops.extend(kernels::class_ops());
        ops
    }

    /// `compute.interpreter` runs one program of `iterations` rounds; the others repeat their
    /// operation `iterations` times.
    /// `local_access.bytes=N` reads `N`-byte records through the JIT; `compute.<class>` runs the
    /// class kernel JIT-compiled for `iterations` rounds, checksum verified.
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
            "warm_invoke.interpreter" => Ok(self.nop(Mode::Interpreter, iterations)?),
            "local_access.interpreter" => Ok(Self::access(
                &mut self.interp,
                &self.table,
                &mut self.walk,
                iterations,
            )?),
            "compute.interpreter" => {
                let out = self.interp.exec(0, 0, saturating_u32(iterations))?;
                std::hint::black_box(out);
                Ok(())
            }
            _ => Err(ProbeError::new(name, "no such extra operation")),
        }
    }

    fn notes(&self) -> Vec<String> {
        vec![
            "primary numbers use rbpf's x86-64 JIT; interpreter numbers are extras".into(),
            "local_access: read_record helper call copying a 128-byte record into the program's memory region".into(),
            "memory_per_context: derived from sizes (JIT page + region + program), not RSS".into(),
        ]
    }
}
