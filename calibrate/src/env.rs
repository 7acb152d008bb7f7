//! The environment a profile was measured in (calibration-anchors §3.1).
//!
//! CPU model, logical cores, kernel release, hypervisor flag, speculative-execution mitigations
//! (`/sys/devices/system/cpu/vulnerabilities/*`, which change system-call and switch costs 2-4x),
//! hardware counters, `/dev/kvm` (can it create a VM?), protection keys (CPUID.(7,0):ECX PKU
//! and OSPKE) and the clock source. What does not fit [`HostIdentity`] (perf_event_paranoid,
//! frequency governor, SMT) is kept in [`Environment::extra`] and printed with the summary.

use std::fs;

use costmodel::HostIdentity;

use crate::cpu;

/// The captured environment.
#[derive(Clone, Debug, PartialEq)]
pub struct Environment {
    /// The identity stored in the profile.
    pub identity: HostIdentity,
    /// The CPUs this process may use.
    pub cpus: Vec<usize>,
    /// Other facts, `(name, value)`, shown in the summary.
    pub extra: Vec<(String, String)>,
}

fn read_trim(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

fn cpuinfo_field(cpuinfo: &str, key: &str) -> Option<String> {
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_owned())
    })
}

/// `(PKU, OSPKE)` from CPUID leaf 7, subleaf 0, ECX bits 3 and 4.
#[cfg(target_arch = "x86_64")]
pub fn cpuid_pku() -> (bool, bool) {
    #[allow(unused_unsafe)]
    // SAFETY: CPUID is available on every x86_64 CPU; leaf 0 reports the highest leaf, and
    // leaf 7 is only queried when it exists.
    let (max_leaf, ecx) = unsafe {
        let max = std::arch::x86_64::__cpuid(0).eax;
        let ecx = if max >= 7 {
            std::arch::x86_64::__cpuid_count(7, 0).ecx
        } else {
            0
        };
        (max, ecx)
    };
    let _ = max_leaf;
    (ecx & (1 << 3) != 0, ecx & (1 << 4) != 0)
}

/// `(PKU, OSPKE)`: never on other architectures.
#[cfg(not(target_arch = "x86_64"))]
pub fn cpuid_pku() -> (bool, bool) {
    (false, false)
}

/// True when `/dev/kvm` opens, reports API version 12 and creates a VM.
pub fn kvm_usable() -> bool {
    const KVM_GET_API_VERSION: libc::c_ulong = 0xAE00;
    const KVM_CREATE_VM: libc::c_ulong = 0xAE01;
    let path = c"/dev/kvm";
    // SAFETY: `path` is a valid NUL-terminated string; flags are valid for open(2).
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return false;
    }
    // SAFETY: `fd` is an open /dev/kvm descriptor; these ioctls take no pointer argument.
    let version = unsafe { libc::ioctl(fd, KVM_GET_API_VERSION, 0) };
    let ok = if version == 12 {
        // SAFETY: as above; machine type 0 is the default.
        let vm = unsafe { libc::ioctl(fd, KVM_CREATE_VM, 0) };
        if vm >= 0 {
            // SAFETY: `vm` is a descriptor we own and close once.
            unsafe { libc::close(vm) };
            true
        } else {
            false
        }
    } else {
        false
    };
    // SAFETY: `fd` is a descriptor we own and close once.
    unsafe { libc::close(fd) };
    ok
}

/// Mitigations in force: `name: status` per file in the vulnerabilities directory, skipping
/// "Not affected".
pub fn mitigations() -> Vec<String> {
    let dir = "/sys/devices/system/cpu/vulnerabilities";
    let mut out: Vec<String> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().to_string_lossy().into_owned();
            let status = fs::read_to_string(e.path()).ok()?.trim().to_owned();
            (status != "Not affected").then(|| format!("{name}: {status}"))
        })
        .collect();
    out.sort();
    out
}

/// A short machine-kind name: `vm-2cpu-amd-epyc`.
fn kind_name(cpu_model: &str, cores: usize, virtualised: bool) -> String {
    let model: String = cpu_model
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty() && !["cpu", "processor", "r", "tm", "core"].contains(w))
        .take(3)
        .collect::<Vec<_>>()
        .join("-");
    let prefix = if virtualised { "vm" } else { "metal" };
    let mut name = format!("{prefix}-{cores}cpu-{model}");
    name.truncate(60);
    name.trim_end_matches('-').to_owned()
}

/// Captures the environment now. `tool` says what made the profile.
pub fn capture(tool: &str) -> Environment {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo_field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".to_owned());
    let flags = cpuinfo_field(&cpuinfo, "flags").unwrap_or_default();
    let has_flag = |f: &str| flags.split_whitespace().any(|x| x == f);
    let virtualised = has_flag("hypervisor");
    let cpus = cpu::allowed_cpus();
    let (pku, ospke) = cpuid_pku();
    let kernel = read_trim("/proc/sys/kernel/osrelease").unwrap_or_default();
    let clock_source =
        read_trim("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .unwrap_or_default();
    let identity = HostIdentity {
        name: kind_name(&cpu_model, cpus.len(), virtualised),
        cpu_model,
        cores: u32::try_from(cpus.len()).unwrap_or(u32::MAX),
        kernel,
        virtualised,
        mitigations: mitigations(),
        hardware_counters: cpu::hardware_counters_available(),
        kvm: kvm_usable(),
        pku: pku && ospke,
        clock_source,
        calibrated_at: rfc3339_now(),
        tool: tool.to_owned(),
    };
    let mut extra = vec![
        ("cpus allowed".to_owned(), format!("{cpus:?}")),
        (
            "cpuid pku / ospke".to_owned(),
            format!("{} / {}", u8::from(pku), u8::from(ospke)),
        ),
        (
            "tsc flags".to_owned(),
            ["constant_tsc", "nonstop_tsc"]
                .iter()
                .filter(|f| has_flag(f))
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
        ),
    ];
    for (name, path) in [
        (
            "perf_event_paranoid",
            "/proc/sys/kernel/perf_event_paranoid",
        ),
        (
            "scaling governor",
            "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
        ),
        ("smt", "/sys/devices/system/cpu/smt/control"),
    ] {
        extra.push((
            name.to_owned(),
            read_trim(path).unwrap_or_else(|| "n/a".to_owned()),
        ));
    }
    Environment {
        identity,
        cpus,
        extra,
    }
}

/// The current UTC time as RFC 3339 (`2026-11-27T07:01:02Z`).
pub fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

/// Seconds since the Unix epoch as RFC 3339 UTC (Howard Hinnant's civil-from-days).
pub fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_770_000), "2026-11-27T09:00:00Z");
    }

    #[test]
    fn kind_names_are_short_and_tagged() {
        assert_eq!(kind_name("AMD EPYC", 2, true), "vm-2cpu-amd-epyc");
        let n = kind_name("Intel(R) Xeon(R) CPU E5-2650 v2 @ 2.60GHz", 32, false);
        assert!(n.starts_with("metal-32cpu-intel"), "{n}");
    }

    #[test]
    fn capture_fills_the_identity() {
        let e = capture("test");
        assert!(e.identity.cores >= 1);
        assert!(!e.identity.calibrated_at.is_empty());
        assert_eq!(e.identity.tool, "test");
        if e.identity.pku {
            assert!(cpuid_pku().1);
        }
    }
}
