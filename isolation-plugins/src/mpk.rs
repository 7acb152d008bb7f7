//! `mpk`: memory protection keys (Intel MPK / AMD PKU) inside one address space.
//!
//! Detection never assumes: CPUID leaf 7 must report PKU (ECX bit 3) and OSPKE (ECX bit 4),
//! and then `pkey_alloc` (a raw syscall; glibc's wrapper is not in `libc`) must hand out a key,
//! which is freed again. Only the success or failure of the allocation is used, never its errno
//! (on kernels without PKU support it returns EINVAL first and ENOSPC afterwards).
//!
//! Where supported, the probe times a WRPKRU pair around a call (open the tenant's key, call,
//! close it), `pkey_alloc` + `pkey_mprotect` over [`COLD_PAGES`] pages as the cold start, and a
//! record read from a key-protected page with the key open.
//!
//! Literature defaults (`fixtures/hosts/reference.ron`): WRPKRU tens of cycles (Intel SDM) \[M\],
//! Hodor ATC'19 up to 2.3 M library entrances/s/core \[A\]; `pkey_alloc` + `pkey_mprotect` are
//! syscalls whose cost grows with pages \[M\]; ERIM USENIX Sec'19 < 1% overhead at 100,000
//! switches/s \[A\]; no memory beyond page-table bits (Linux protection-keys doc) \[V\].

use std::sync::OnceLock;

use costmodel::{
    IsolationCosts, IsolationProbe, IsolationScheme, ProbeError, Requirement, SchemeId, SchemeKind,
    Support,
};

use crate::common::Cited;

/// Scheme id of [`Mpk`].
pub const ID: &str = "mpk";

/// Pages protected by one cold start.
pub const COLD_PAGES: usize = 16;

/// The `mpk` scheme.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mpk;

impl Mpk {
    /// The scheme.
    pub fn new() -> Self {
        Mpk
    }
}

/// What the host offers for protection keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkuDetection {
    /// CPUID.(EAX=7,ECX=0):ECX bit 3.
    pub pku: bool,
    /// CPUID.(EAX=7,ECX=0):ECX bit 4 (the OS enabled CR4.PKE).
    pub ospke: bool,
    /// `pkey_alloc` handed out a key (which was then freed); `None` when not tried.
    pub alloc_ok: Option<bool>,
}

impl PkuDetection {
    /// Supported, or the reason it is not.
    pub fn support(&self) -> Support {
        match (self.pku, self.ospke, self.alloc_ok) {
            (false, _, _) => Support::Unsupported {
                reason: "CPUID.(EAX=7,ECX=0):ECX.PKU[bit 3] = 0: the CPU (or hypervisor) does not expose protection keys".into(),
            },
            (true, false, _) => Support::Unsupported {
                reason: "CPUID.(EAX=7,ECX=0):ECX.OSPKE[bit 4] = 0: the kernel has not enabled CR4.PKE".into(),
            },
            (true, true, Some(true)) => Support::Supported,
            (true, true, _) => Support::Unsupported {
                reason: "PKU and OSPKE are set but pkey_alloc(0, 0) failed: no free protection key".into(),
            },
        }
    }
}

/// Detects protection keys (cached for the process: the answer cannot change while it runs).
pub fn detect() -> &'static PkuDetection {
    static DETECTED: OnceLock<PkuDetection> = OnceLock::new();
    DETECTED.get_or_init(|| {
        let (pku, ospke) = cpuid_pku();
        let alloc_ok = (pku && ospke).then(|| match sys::pkey_alloc() {
            Ok(key) => {
                sys::pkey_free(key);
                true
            }
            Err(_) => false,
        });
        PkuDetection {
            pku,
            ospke,
            alloc_ok,
        }
    })
}

#[cfg(target_arch = "x86_64")]
fn cpuid_pku() -> (bool, bool) {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // CPUID exists on every x86_64 CPU and has no memory effects (a safe intrinsic).
    let max_leaf = __cpuid(0).eax;
    if max_leaf < 7 {
        return (false, false);
    }
    let ecx = __cpuid_count(7, 0).ecx;
    (ecx & (1 << 3) != 0, ecx & (1 << 4) != 0)
}

#[cfg(not(target_arch = "x86_64"))]
fn cpuid_pku() -> (bool, bool) {
    (false, false)
}

impl IsolationScheme for Mpk {
    fn id(&self) -> SchemeId {
        crate::scheme_id(ID)
    }

    /// Cited: WRPKRU tens of cycles \[M\]; Hodor ATC'19 <= 435 ns per entrance incl. work \[A\];
    /// `pkey_alloc` + `pkey_mprotect` syscalls \[M\]; ERIM < 1% overhead \[A\]; Linux
    /// protection-keys doc: no memory beyond PTE bits \[V\].
    fn defaults(&self) -> IsolationCosts {
        Cited {
            description: "memory protection keys: WRPKRU pair around a call in one address space",
            warm_invoke: (60.0, 20.0, 435.0, "WRPKRU tens of cycles (Intel SDM) [M]; Hodor ATC19: up to 2.3 M library entrances/s/core, <= 435 ns each incl. work [A]"),
            cold_start: (2000.0, 500.0, 20000.0, "pkey_alloc + pkey_mprotect are syscalls (50-300 ns each) plus page-table updates that grow with pages [M]"),
            local_access: (50.0, 10.0, 100.0, "direct access with the key open, as native [M]"),
            slowdown: (1.0, 1.0, 1.01, "same machine code as native; ERIM USENIX Sec19: < 1% overhead at 100,000 switches/s [A]"),
            memory_per_context: (0.0, 0.0, 0.0, "none beyond page-table bits (Linux Documentation/x86/protection-keys) [V]"),
            requirements: vec![Requirement::Pku],
        }
        .costs(Support::Supported)
    }

    fn kind(&self) -> SchemeKind {
        SchemeKind::Mpk
    }

    fn support(&self) -> Support {
        detect().support()
    }

    /// `None` where protection keys are unsupported (see [`Mpk::support`]).
    fn probe(&self) -> Option<Result<Box<dyn IsolationProbe>, ProbeError>> {
        if !self.support().is_supported() {
            return None;
        }
        Some(
            MpkProbe::new()
                .map(|p| Box::new(p) as Box<dyn IsolationProbe>)
                .map_err(ProbeError::from),
        )
    }
}

/// Probe for [`Mpk`], available only where [`detect`] reports support.
pub struct MpkProbe {
    key: i32,
    region: sys::Region,
    cold: Option<(i32, sys::Region)>,
    chase: Vec<u32>,
    checked: crate::kernels::Checked,
}

impl MpkProbe {
    /// Allocates a key and a page tagged with it.
    ///
    /// # Errors
    /// [`crate::PluginError::Unsupported`] without PKU, or the failing syscall.
    pub fn new() -> crate::Result<Self> {
        if let Support::Unsupported { reason } = detect().support() {
            return Err(crate::PluginError::Unsupported { scheme: ID, reason });
        }
        let key = sys::pkey_alloc()?;
        let region = sys::Region::new(1)?;
        region.protect(key)?;
        region.fill(0x5a);
        Ok(MpkProbe {
            key,
            region,
            cold: None,
            chase: crate::kernels::chase_buffer(),
            checked: crate::kernels::Checked::new(),
        })
    }

    /// Runs `class`'s kernel natively with the tenant's key open (MPK does not change the
    /// instructions that run) and returns its checksum (unverified).
    pub fn compute_class(&mut self, class: costmodel::ComputeClass, rounds: u32) -> u64 {
        use costmodel::{ComputeClass, kernel};
        use std::hint::black_box;
        sys::wrpkru(sys::pkru_open(self.key));
        let sum = match class {
            ComputeClass::IntMul => kernel::fnv1a_rounds(black_box(&kernel::input()), rounds),
            ComputeClass::Arith => black_box(crate::kernels::arith_rounds)(black_box(rounds)),
            ComputeClass::Memory => {
                black_box(crate::kernels::memory_rounds)(black_box(&self.chase), rounds)
            }
        };
        sys::wrpkru(sys::pkru_closed(self.key));
        sum
    }
}

impl Drop for MpkProbe {
    fn drop(&mut self) {
        self.cold = None;
        sys::pkey_free(self.key);
    }
}

#[inline(never)]
fn tenant_call(x: u64) -> u64 {
    std::hint::black_box(x)
}

impl IsolationProbe for MpkProbe {
    /// WRPKRU (open the key), an indirect call, WRPKRU (close it).
    fn warm_invoke(&mut self, iterations: u64) -> Result<(), ProbeError> {
        let (open, closed) = (sys::pkru_open(self.key), sys::pkru_closed(self.key));
        let f: fn(u64) -> u64 = std::hint::black_box(tenant_call);
        let mut acc = 0u64;
        for i in 0..iterations {
            sys::wrpkru(open);
            acc = acc.wrapping_add(f(i));
            sys::wrpkru(closed);
        }
        std::hint::black_box(acc);
        Ok(())
    }

    /// `pkey_alloc` + `pkey_mprotect` over [`COLD_PAGES`] fresh pages.
    fn cold_start(&mut self) -> Result<(), ProbeError> {
        let key = sys::pkey_alloc()?;
        let region = sys::Region::new(COLD_PAGES)?;
        region.protect(key)?;
        self.cold = Some((key, region));
        Ok(())
    }

    fn after_cold_start(&mut self) -> Result<(), ProbeError> {
        if let Some((key, region)) = self.cold.take() {
            drop(region);
            sys::pkey_free(key);
        }
        Ok(())
    }

    /// Reads of a key-protected page with the key open.
    fn local_access(&mut self, iterations: u64) -> Result<(), ProbeError> {
        sys::wrpkru(sys::pkru_open(self.key));
        let mut acc = 0u64;
        for i in 0..iterations {
            acc = acc.wrapping_add(self.region.read_word(i));
        }
        sys::wrpkru(sys::pkru_closed(self.key));
        std::hint::black_box(acc);
        Ok(())
    }

    /// Native code: MPK does not change the instructions that run.
    fn compute(&mut self, rounds: u32) -> Result<u64, ProbeError> {
        use costmodel::kernel;
        Ok(kernel::fnv1a_rounds(
            std::hint::black_box(&kernel::input()),
            rounds,
        ))
    }

    fn memory_per_context(&mut self) -> Option<costmodel::Bytes> {
        Some(costmodel::Bytes::ZERO)
    }

    fn extra_operations(&self) -> Vec<&'static str> {
        crate::kernels::class_ops().collect()
    }

    /// `compute.<class>`: the class kernel with the key open, checksum verified.
    fn extra(&mut self, name: &str, iterations: u64) -> Result<(), ProbeError> {
        let Some(class) = crate::kernels::parse_class_op(name) else {
            return Err(ProbeError::new(name, "no such extra operation"));
        };
        let rounds = crate::kernels::rounds_of(name, iterations)?;
        let got = self.compute_class(class, rounds);
        self.checked.verify(class, rounds, got)
    }
}

/// Thin, checked wrappers over the pkey syscalls and PKRU instructions.
mod sys {
    use crate::error::{PluginError, Result};

    pub(super) fn pkey_alloc() -> Result<i32> {
        // SAFETY: pkey_alloc takes two integer flags and touches no memory of ours.
        let r = unsafe { libc::syscall(libc::SYS_pkey_alloc, 0u32, 0u32) };
        i32::try_from(r)
            .ok()
            .filter(|&k| k >= 0)
            .ok_or_else(|| PluginError::last_os("pkey_alloc"))
    }

    pub(super) fn pkey_free(key: i32) {
        // SAFETY: freeing a key we allocated; no memory is touched.
        unsafe { libc::syscall(libc::SYS_pkey_free, key) };
    }

    /// PKRU with every key accessible (the tenant's key open).
    pub(super) fn pkru_open(key: i32) -> u32 {
        let _ = key;
        0
    }

    /// PKRU with the access-disable bit (bit `2 * key`) set for `key`.
    pub(super) fn pkru_closed(key: i32) -> u32 {
        let shift = u32::try_from(key.clamp(0, 15)).unwrap_or(0) * 2;
        1 << shift
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(super) fn wrpkru(value: u32) {
        // SAFETY: only called where CPUID reports PKU and OSPKE (detect() gates every probe),
        // with ECX = EDX = 0 as the instruction requires. No `nomem`: memory accesses must not
        // be reordered across the permission change.
        unsafe {
            core::arch::asm!("wrpkru", in("eax") value, in("ecx") 0u32, in("edx") 0u32,
                options(nostack, preserves_flags));
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    pub(super) fn wrpkru(_value: u32) {}

    /// Anonymous pages that can be tagged with a key.
    pub(super) struct Region {
        ptr: *mut u8,
        len: usize,
    }

    // SAFETY: the mapping is owned by the Region and only accessed through &self/&mut self.
    unsafe impl Send for Region {}

    impl Region {
        pub(super) fn new(pages: usize) -> Result<Self> {
            let len = pages.max(1) * usize::try_from(crate::common::page_size()).unwrap_or(4096);
            // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            if ptr == libc::MAP_FAILED {
                return Err(PluginError::last_os("mmap pkey region"));
            }
            Ok(Region {
                ptr: ptr.cast(),
                len,
            })
        }

        pub(super) fn protect(&self, key: i32) -> Result<()> {
            // SAFETY: the range is our own mapping; pkey_mprotect only changes its protection.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_pkey_mprotect,
                    self.ptr,
                    self.len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    key,
                )
            };
            if r == 0 {
                Ok(())
            } else {
                Err(PluginError::last_os("pkey_mprotect"))
            }
        }

        pub(super) fn fill(&self, byte: u8) {
            // SAFETY: the mapping is `len` bytes, writable, and owned by us.
            unsafe { std::ptr::write_bytes(self.ptr, byte, self.len) };
        }

        pub(super) fn read_word(&self, i: u64) -> u64 {
            let words = self.len / 8;
            let idx = usize::try_from(i).unwrap_or(0) % words.max(1);
            // SAFETY: idx < len / 8, so the aligned 8-byte read is inside the mapping.
            unsafe { self.ptr.cast::<u64>().add(idx).read_volatile() }
        }
    }

    impl Drop for Region {
        fn drop(&mut self) {
            // SAFETY: unmapping the mapping we created, exactly once.
            unsafe { libc::munmap(self.ptr.cast(), self.len) };
        }
    }
}
