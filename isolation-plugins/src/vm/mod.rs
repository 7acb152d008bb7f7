//! `vm`: a real hardware virtual machine (KVM via rust-vmm's kvm-ioctls) whose guest exits to
//! the host.
//!
//! The guest is a few hundred bytes of 64-bit machine code (`src/vm/guest.rs`, assembled from
//! `guest/vm_guest.S`), run in long mode with identity-mapped 4 KiB pages and no guest OS. It
//! loops: `out 0x10` (exit to the host), read a command from a mailbox in guest memory, execute
//! it, exit again. So:
//!
//! - Warm invocation: one exit round trip (`KVM_RUN` -> guest `out` -> `VcpuExit::IoOut` ->
//!   host), i.e. enter the guest and come back.
//! - Cold start: create VM + guest memory + memslot + vCPU + CPUID + registers (long mode) +
//!   first run to the first exit. The `/dev/kvm` handle and the supported-CPUID table are
//!   opened/queried once per probe, as a VMM process does once.
//! - Local access: the guest reads records from guest memory shared with the host (the store
//!   mapped into the guest; one exit per batch). Extra `local_access.hypercall`: one exit per
//!   record, the host copying the record into guest memory (hypercall style).
//! - Compute: the FNV-1a loop as guest machine code over the same 256-byte input: a real
//!   measurement of guest execution speed (one exit per call).
//! - Memory: host RSS delta of one more VM with its touched guest pages (kernel-side KVM
//!   structures are not in RSS); the guest memslot is [`GUEST_MEM_BYTES`].
//!
//! Literature defaults (`fixtures/hosts/reference.ron`): userspace `out` exit 7.6-8.9 us on the
//! nested dev VM \[L\], nested 5-15 us; minimal VM 0.52-0.75 ms \[L\], Firecracker VMM <= 8 CPU-ms
//! \[V\]; shared guest memory access, no exit \[M\]; nested paging TLB cost \[M\]; Firecracker VMM
//! <= 5 MiB \[V\].

mod guest;

use std::sync::{Arc, OnceLock};

use costmodel::{
    Bytes, ComputeClass, IsolationCosts, IsolationProbe, IsolationScheme, ProbeError, Requirement,
    SchemeId, SchemeKind, Support, kernel,
};
use kvm_bindings::{CpuId, KVM_MAX_CPUID_ENTRIES, kvm_segment, kvm_userspace_memory_region};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};

use crate::common::{Cited, rss_bytes, saturating_u32};
use crate::error::{PluginError, Result};
use crate::store::{MAX_RECORD_BYTES, MapStore, RecordSource, head_word, host_read};

/// Scheme id of [`Vm`].
pub const ID: &str = "vm";

/// Guest memory size (one memslot at guest-physical 0).
pub const GUEST_MEM_BYTES: usize = 0x8_0000;

const PML4_ADDR: u64 = 0x1000;
const PDPT_ADDR: u64 = 0x2000;
const PD_ADDR: u64 = 0x3000;
const PT_ADDR: u64 = 0x4000;
const GDT_ADDR: u64 = 0x500;
/// Where the guest code is loaded.
const CODE_ADDR: u64 = 0x8000;
const MAILBOX_OP: u64 = 0x1_0000;
const MAILBOX_ARG: u64 = 0x1_0008;
const MAILBOX_RESULT: u64 = 0x1_0010;
const MAILBOX_KEY: u64 = 0x1_0018;
const INPUT_ADDR: u64 = 0x1_0100;
const RECORDS_ADDR: u64 = 0x1_1000;
const SCRATCH_ADDR: u64 = 0x1_2000;
/// The memory kernel's buffer ([`crate::kernels::CHASE_LEN`] u32 slots, 256 KiB), written by
/// the host the first time the kernel runs (so cold starts and the memory figure do not pay
/// for it).
const CHASE_ADDR: u64 = 0x2_0000;
/// Records (64 bytes each) mapped into guest memory for shared-memory reads.
const SHARED_RECORDS: u64 = 64;
const SHARED_RECORD_BYTES: usize = 64;

const PORT_DONE: u16 = 0x10;
const PORT_READ_RECORD: u16 = 0x11;

const OP_NOP: u64 = 0;
const OP_FNV: u64 = 1;
const OP_ARITH: u64 = 4;
const OP_MEMORY: u64 = 5;
const OP_SHARED: u64 = 2;
const OP_HYPERCALL: u64 = 3;

/// The `vm` scheme.
#[derive(Clone, Copy, Debug, Default)]
pub struct Vm;

impl Vm {
    /// The scheme.
    pub fn new() -> Self {
        Vm
    }
}

/// Whether `/dev/kvm` can create a VM here (cached per process), or why not.
pub fn detect() -> &'static Support {
    static DETECTED: OnceLock<Support> = OnceLock::new();
    DETECTED.get_or_init(|| match Kvm::new() {
        Err(e) => Support::Unsupported {
            reason: format!("cannot open /dev/kvm: {e}"),
        },
        Ok(kvm) => match kvm.create_vm() {
            Ok(_) => Support::Supported,
            Err(e) => Support::Unsupported {
                reason: format!("/dev/kvm opened but KVM_CREATE_VM failed: {e}"),
            },
        },
    })
}

impl IsolationScheme for Vm {
    fn id(&self) -> SchemeId {
        crate::scheme_id(ID)
    }

    /// Cited: `out` exit 7.6-8.9 us nested on the dev VM \[L\]; minimal VM 0.52-0.75 ms \[L\],
    /// Firecracker <= 8 CPU-ms \[V\]; shared memory access \[M\]; TLB cost \[M\]; Firecracker VMM
    /// overhead <= 5 MiB \[V\].
    fn defaults(&self) -> IsolationCosts {
        Cited {
            description: "hardware virtual machine (KVM) with a guest that exits to the host",
            warm_invoke: (8200.0, 2000.0, 15000.0, "userspace out-exit round trip 7.6-8.9 us on the nested dev VM [L]; bare-metal userspace exits a few us [M]; nested 5-15 us"),
            cold_start: (750_000.0, 520_000.0, 8_000_000.0, "minimal VM (create_vm + memslot + vCPU + first run) 0.52-0.75 ms on the dev VM [L]; Firecracker VMM up to the API socket <= 8 CPU-ms [V]"),
            local_access: (100.0, 50.0, 500.0, "record read through shared guest memory, no exit [M]; a hypercall-style access costs one exit (see warm_invoke)"),
            slowdown: (1.05, 1.0, 1.2, "hardware virtualisation runs guest code natively; nested paging adds TLB-miss cost [M]"),
            memory_per_context: (5_242_880.0, 5_242_880.0, 5_242_880.0, "Firecracker SPECIFICATION.md: VMM overhead <= 5 MiB (1 vCPU, 128 MiB guest), guest RAM on top [V]"),
            requirements: vec![Requirement::Kvm],
        }
        .costs(Support::Supported)
    }

    fn kind(&self) -> SchemeKind {
        SchemeKind::Vm
    }

    fn support(&self) -> Support {
        detect().clone()
    }

    /// `None` where `/dev/kvm` is unusable (see [`Vm::support`]).
    fn probe(&self) -> Option<std::result::Result<Box<dyn IsolationProbe>, ProbeError>> {
        if !detect().is_supported() {
            return None;
        }
        Some(
            VmProbe::new()
                .map(|p| Box::new(p) as Box<dyn IsolationProbe>)
                .map_err(ProbeError::from),
        )
    }
}

fn kvm_err(step: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> PluginError {
    move |e| PluginError::Kvm {
        step,
        message: e.to_string(),
    }
}

/// Anonymous host memory backing the guest's physical memory.
struct GuestMem {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is owned by the GuestMem; the host touches it only between KVM_RUN calls
// of the single vCPU, through &self/&mut self.
unsafe impl Send for GuestMem {}

impl GuestMem {
    fn new(len: usize) -> Result<Self> {
        // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(PluginError::last_os("mmap guest memory"));
        }
        Ok(GuestMem {
            ptr: ptr.cast(),
            len,
        })
    }

    /// The bytes at guest-physical `[addr, addr + len)`, clamped to the mapping.
    fn slice_mut(&mut self, addr: u64, len: usize) -> &mut [u8] {
        let start = usize::try_from(addr).unwrap_or(self.len).min(self.len);
        let len = len.min(self.len - start);
        // SAFETY: [start, start + len) lies inside the mapping; the vCPU is not running while
        // the host holds this borrow (single-threaded: only between `run()` calls).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), len) }
    }

    fn write_u64(&mut self, addr: u64, v: u64) {
        self.slice_mut(addr, 8).copy_from_slice(&v.to_le_bytes());
    }

    fn read_u64(&mut self, addr: u64) -> u64 {
        head_word(self.slice_mut(addr, 8))
    }
}

impl Drop for GuestMem {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping once, after the VM using it was dropped (field order
        // in `Guest`).
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// One running VM: vCPU, VM fd and guest memory. Field order is drop order: the vCPU and VM are
/// closed before the memory is unmapped.
struct Guest {
    vcpu: VcpuFd,
    _vm: VmFd,
    mem: GuestMem,
    exits: u64,
}

/// Segment descriptors for flat 64-bit code and data.
fn segments() -> (kvm_segment, kvm_segment) {
    let code = kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector: 0x8,
        type_: 0xb, // execute/read, accessed
        present: 1,
        dpl: 0,
        db: 0,
        s: 1,
        l: 1, // 64-bit code
        g: 1,
        ..Default::default()
    };
    let data = kvm_segment {
        selector: 0x10,
        type_: 0x3, // read/write, accessed
        db: 1,
        l: 0,
        ..code
    };
    (code, data)
}

impl Guest {
    /// Creates a VM with guest memory, page tables, the guest program and one vCPU in long
    /// mode, and runs it to its first exit.
    fn boot(kvm: &Kvm, cpuid: &CpuId, store: &dyn RecordSource) -> Result<Self> {
        let vm = kvm.create_vm().map_err(kvm_err("create_vm"))?;
        let mut mem = GuestMem::new(GUEST_MEM_BYTES)?;
        let region = kvm_userspace_memory_region {
            slot: 0,
            guest_phys_addr: 0,
            memory_size: GUEST_MEM_BYTES as u64,
            userspace_addr: mem.ptr as u64,
            flags: 0,
        };
        // SAFETY: the region maps our own GUEST_MEM_BYTES mapping, which outlives the VM (it is
        // dropped after `_vm` in `Guest`).
        unsafe { vm.set_user_memory_region(region) }.map_err(kvm_err("set_user_memory_region"))?;

        // Identity-map guest memory with 4 KiB pages: PML4[0] -> PDPT[0] -> PD[0] -> PT.
        mem.write_u64(PML4_ADDR, PDPT_ADDR | 0x3);
        mem.write_u64(PDPT_ADDR, PD_ADDR | 0x3);
        mem.write_u64(PD_ADDR, PT_ADDR | 0x3);
        for page in 0..(GUEST_MEM_BYTES as u64 / 0x1000) {
            mem.write_u64(PT_ADDR + page * 8, (page * 0x1000) | 0x3);
        }
        // GDT: null, 64-bit code (0x08), data (0x10).
        mem.write_u64(GDT_ADDR, 0);
        mem.write_u64(GDT_ADDR + 8, 0x00af_9b00_0000_ffff);
        mem.write_u64(GDT_ADDR + 16, 0x00cf_9300_0000_ffff);
        mem.slice_mut(CODE_ADDR, guest::GUEST_CODE.len())
            .copy_from_slice(guest::GUEST_CODE);
        mem.slice_mut(INPUT_ADDR, kernel::INPUT_LEN)
            .copy_from_slice(&kernel::input());
        for k in 0..SHARED_RECORDS {
            let addr = RECORDS_ADDR + k * SHARED_RECORD_BYTES as u64;
            host_read(store, k, mem.slice_mut(addr, SHARED_RECORD_BYTES));
        }
        mem.write_u64(MAILBOX_OP, OP_NOP);

        let vcpu = vm.create_vcpu(0).map_err(kvm_err("create_vcpu"))?;
        vcpu.set_cpuid2(cpuid).map_err(kvm_err("set_cpuid2"))?;
        let mut sregs = vcpu.get_sregs().map_err(kvm_err("get_sregs"))?;
        let (code, data) = segments();
        sregs.cs = code;
        sregs.ds = data;
        sregs.es = data;
        sregs.fs = data;
        sregs.gs = data;
        sregs.ss = data;
        sregs.gdt.base = GDT_ADDR;
        sregs.gdt.limit = 23;
        sregs.cr3 = PML4_ADDR;
        sregs.cr4 |= 1 << 5; // PAE
        // PE | PG, and clear the reset value's CD (bit 30) and NW (bit 29): with caching disabled
        // every guest memory access, instruction fetches included, bypasses the caches (about
        // 1 us per instruction under nested KVM here).
        sregs.cr0 = (sregs.cr0 | 1 | (1 << 31)) & !((1 << 30) | (1 << 29));
        sregs.efer |= (1 << 8) | (1 << 10); // LME | LMA
        vcpu.set_sregs(&sregs).map_err(kvm_err("set_sregs"))?;
        let mut regs = vcpu.get_regs().map_err(kvm_err("get_regs"))?;
        regs.rip = CODE_ADDR;
        regs.rflags = 2;
        regs.rsp = GUEST_MEM_BYTES as u64 - 16;
        vcpu.set_regs(&regs).map_err(kvm_err("set_regs"))?;

        let mut g = Guest {
            vcpu,
            _vm: vm,
            mem,
            exits: 0,
        };
        g.run_to_done(store)?;
        Ok(g)
    }

    /// Resumes the guest until it reports done (`out 0x10`), serving record hypercalls.
    fn run_to_done(&mut self, store: &dyn RecordSource) -> Result<()> {
        loop {
            let exit = self.vcpu.run().map_err(kvm_err("run"))?;
            self.exits += 1;
            match exit {
                VcpuExit::IoOut(PORT_DONE, _) => return Ok(()),
                VcpuExit::IoOut(PORT_READ_RECORD, _) => {
                    let key = self.mem.read_u64(MAILBOX_KEY);
                    host_read(
                        store,
                        key % SHARED_RECORDS,
                        self.mem.slice_mut(SCRATCH_ADDR, MAX_RECORD_BYTES),
                    );
                }
                other => {
                    return Err(PluginError::UnexpectedExit {
                        step: "running the guest",
                        expected: "IoOut on port 0x10 or 0x11",
                        found: format!("{other:?}"),
                    });
                }
            }
        }
    }

    /// Runs one guest command and returns its result word.
    fn command(&mut self, op: u64, arg: u64, store: &dyn RecordSource) -> Result<u64> {
        self.mem.write_u64(MAILBOX_OP, op);
        self.mem.write_u64(MAILBOX_ARG, arg);
        self.run_to_done(store)?;
        Ok(self.mem.read_u64(MAILBOX_RESULT))
    }
}

/// What kind of KVM this is, when it is not hardware-assisted: with no `svm`/`vmx` CPU flag and
/// the `kvm_pvm` module (pagetable-based software virtualisation), guest code that is not
/// PVM-enlightened runs far slower than native, which the compute probe then measures.
pub fn virtualisation_note() -> Option<String> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .unwrap_or_default();
    let hw = flags.split_whitespace().any(|f| f == "svm" || f == "vmx");
    let pvm = std::path::Path::new("/sys/module/kvm_pvm").exists();
    match (hw, pvm) {
        (false, true) => Some("kvm: no svm/vmx CPU flag and kvm_pvm loaded: software (PVM) virtualisation; guest code runs slowly, so compute slowdown is large and real".into()),
        (false, false) => Some("kvm: no svm/vmx CPU flag visible: virtualisation is not hardware-assisted here".into()),
        (true, _) => None,
    }
}

/// Probe for [`Vm`].
pub struct VmProbe {
    kvm: Kvm,
    cpuid: CpuId,
    store: Arc<MapStore>,
    guest: Guest,
    fresh: Option<Guest>,
    chase_loaded: bool,
    checked: crate::kernels::Checked,
}

impl VmProbe {
    /// Opens `/dev/kvm`, queries the supported CPUID and boots the warm guest.
    ///
    /// # Errors
    /// [`PluginError::Kvm`] when a KVM step fails.
    pub fn new() -> Result<Self> {
        let kvm = Kvm::new().map_err(kvm_err("open /dev/kvm"))?;
        let cpuid = kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(kvm_err("get_supported_cpuid"))?;
        let store = Arc::new(MapStore::synthetic(SHARED_RECORDS, SHARED_RECORD_BYTES));
        let guest = Guest::boot(&kvm, &cpuid, &*store)?;
        Ok(VmProbe {
            kvm,
            cpuid,
            store,
            guest,
            fresh: None,
            chase_loaded: false,
            checked: crate::kernels::Checked::new(),
        })
    }

    /// Runs `class`'s kernel as guest machine code and returns its checksum (unverified).
    ///
    /// # Errors
    /// [`PluginError::Kvm`] or [`PluginError::UnexpectedExit`].
    pub fn compute_class(&mut self, class: ComputeClass, rounds: u32) -> Result<u64> {
        let op = match class {
            ComputeClass::IntMul => OP_FNV,
            ComputeClass::Arith => OP_ARITH,
            ComputeClass::Memory => OP_MEMORY,
        };
        if class == ComputeClass::Memory && !self.chase_loaded {
            let next = crate::kernels::chase_buffer();
            let buf = self.guest.mem.slice_mut(CHASE_ADDR, next.len() * 4);
            for (slot, n) in buf.chunks_exact_mut(4).zip(next) {
                slot.copy_from_slice(&n.to_le_bytes());
            }
            self.chase_loaded = true;
        }
        self.guest.command(op, u64::from(rounds), &*self.store)
    }

    /// Guest exits served by the warm guest so far (each a real `KVM_RUN` round trip).
    pub fn exits(&self) -> u64 {
        self.guest.exits
    }

    /// Runs the FNV-1a kernel for `rounds` inside the guest.
    ///
    /// # Errors
    /// [`PluginError::Kvm`] or [`PluginError::UnexpectedExit`].
    pub fn guest_fnv(&mut self, rounds: u32) -> Result<u64> {
        self.guest.command(OP_FNV, u64::from(rounds), &*self.store)
    }

    /// Host RSS growth from booting one more guest (and keeping it), in bytes.
    fn rss_delta(&mut self) -> Option<u64> {
        let before = rss_bytes()?;
        let g = Guest::boot(&self.kvm, &self.cpuid, &*self.store).ok()?;
        let after = rss_bytes()?;
        drop(g);
        Some(after.saturating_sub(before))
    }
}

impl IsolationProbe for VmProbe {
    /// `iterations` exit round trips (`KVM_RUN` -> `out 0x10` -> host).
    fn warm_invoke(&mut self, iterations: u64) -> std::result::Result<(), ProbeError> {
        for _ in 0..iterations {
            self.guest.command(OP_NOP, 0, &*self.store)?;
        }
        Ok(())
    }

    /// Create VM + memory + memslot + vCPU + CPUID + long-mode registers + first run.
    fn cold_start(&mut self) -> std::result::Result<(), ProbeError> {
        self.fresh = Some(Guest::boot(&self.kvm, &self.cpuid, &*self.store)?);
        Ok(())
    }

    /// Tear down (closing the vCPU and VM fds, unmapping memory): not timed.
    fn after_cold_start(&mut self) -> std::result::Result<(), ProbeError> {
        self.fresh = None;
        Ok(())
    }

    /// The guest reads `iterations` records from shared guest memory (one exit per call).
    fn local_access(&mut self, iterations: u64) -> std::result::Result<(), ProbeError> {
        let mut left = iterations;
        while left > 0 {
            let batch = left.min(u64::from(u32::MAX));
            std::hint::black_box(self.guest.command(OP_SHARED, batch, &*self.store)?);
            left -= batch;
        }
        Ok(())
    }

    /// The FNV-1a kernel as guest machine code.
    fn compute(&mut self, rounds: u32) -> std::result::Result<u64, ProbeError> {
        Ok(self.guest_fnv(rounds)?)
    }

    /// Host RSS delta of one more guest (touched guest pages + `kvm_run` page + host state).
    fn memory_per_context(&mut self) -> Option<Bytes> {
        self.rss_delta().map(|b| Bytes::new(b as f64))
    }

    fn extra_operations(&self) -> Vec<&'static str> {
        let mut ops = vec!["local_access.hypercall"];
        ops.extend(crate::kernels::class_ops());
        ops
    }

    /// `local_access.hypercall`: `iterations` records, each an exit to the host, which copies
    /// the record into guest memory.
    /// `compute.<class>`: the class kernel as guest code, `iterations` rounds, checksum verified.
    fn extra(&mut self, name: &str, iterations: u64) -> std::result::Result<(), ProbeError> {
        if let Some(class) = crate::kernels::parse_class_op(name) {
            let rounds = crate::kernels::rounds_of(name, iterations)?;
            let got = self.compute_class(class, rounds)?;
            return self.checked.verify(class, rounds, got);
        }
        match name {
            "local_access.hypercall" => {
                let n = u64::from(saturating_u32(iterations));
                std::hint::black_box(self.guest.command(OP_HYPERCALL, n, &*self.store)?);
                Ok(())
            }
            _ => Err(ProbeError::new(name, "no such extra operation")),
        }
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = vec![
            "guest: 64-bit long mode, no OS; machine code assembled from guest/vm_guest.S".into(),
            "warm_invoke: KVM_RUN -> out 0x10 -> VcpuExit::IoOut round trip".into(),
            "cold_start: /dev/kvm fd and supported CPUID reused across starts (opened once per VMM)".into(),
            "compute: FNV-1a executed as guest code (measured, not derived)".into(),
            format!(
                "memory_per_context: host RSS delta; guest memslot {GUEST_MEM_BYTES} bytes; kernel KVM state not counted"
            ),
        ];
        notes.extend(virtualisation_note());
        notes
    }
}
