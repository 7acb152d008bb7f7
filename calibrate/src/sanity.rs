//! Sanity bounds from the literature (calibration-anchors §5), applied to measured values.
//!
//! Each bound names a quantity, its plausible range, and when to flag it: the specific condition
//! §5 gives where it gives one ("< 60 ns", "slope < memcpy cost", "CPU << wall"), otherwise a
//! value ten times outside the plausible range (the anchors' own rule of thumb: literature values
//! are plausibility bounds, not expected values). A flag is a warning in the output and an entry
//! in the profile's `flags`; it never changes a number. Only measured values are checked. The
//! per-byte check compares intervals, not points, so two noisy numbers a few percent apart do
//! not raise a flag.

use costmodel::{
    CoreRegime, Estimate, HostProfile, LinkCosts, NanosPerByte, SanityFlag, SchemeKind,
};

/// Extra facts the profile alone does not hold.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Null system call cost, ns.
    pub null_syscall_ns: Option<f64>,
    /// Per transport id: (regime, window, median (client + server CPU) / wall at the smallest
    /// size) of each measured ping-pong.
    pub cpu_over_wall: Vec<(String, CoreRegime, u32, f64)>,
    /// Per scheme id: its family.
    pub scheme_kinds: Vec<(String, SchemeKind)>,
}

fn flag(field: String, value: f64, low: f64, high: f64, note: &str) -> SanityFlag {
    SanityFlag {
        field,
        value,
        low,
        high,
        note: note.to_owned(),
    }
}

/// `Some(flag)` when `value` lies outside `[low, high]`.
fn outside(field: String, value: f64, low: f64, high: f64, note: &str) -> Option<SanityFlag> {
    (value < low || value > high).then(|| flag(field, value, low, high, note))
}

fn link_flags(
    out: &mut Vec<SanityFlag>,
    id: &str,
    name: &str,
    l: &LinkCosts,
    copy: Option<&Estimate<NanosPerByte>>,
) {
    let Some(copy) = copy else {
        return;
    };
    let (c, clo, chi) = (copy.value(), copy.lower.get(), copy.upper.get());
    for (side, s) in [("client", &l.client), ("server", &l.server)] {
        let b = &s.per_byte;
        if !b.source.is_measured() {
            continue;
        }
        // Flag only when the intervals leave no doubt: the slope's interval entirely below one
        // copy, or entirely above ten.
        if b.upper.get() < clo || b.lower.get() > 10.0 * chi {
            out.push(flag(
                format!("transports.{id}.{name}.{side}.per_byte"),
                b.value(),
                c,
                10.0 * c,
                "each side copies each payload byte once, so its slope should be at least one \
                 memcpy per byte and within a few times it (s5: 1/b within 2-4x of memcpy \
                 bandwidth; flagged when the intervals are disjoint); below: zero-copy or a \
                 noise-dominated fit (see fit_r2), above: per-byte work beyond copies (cross-core \
                 wake-ups that grow with size) or a mis-fit",
            ));
        }
    }
}

/// Checks `profile` (and `ctx`) against the §5 bounds.
pub fn check(profile: &HostProfile, ctx: &Context) -> Vec<SanityFlag> {
    let mut out = Vec::new();
    if let Some(ns) = ctx.null_syscall_ns {
        out.extend(outside(
            "calibration.null_syscall".to_owned(),
            ns,
            30.0,
            2_000.0,
            "s5: syscall round trip 50-300 ns (62 native, 236 KPTI, 223 on the dev VM); \
             < 30 ns suggests vDSO or a cached result, > 2 us heavy mitigations or emulation",
        ));
    }
    let copy = profile
        .memory_copy
        .as_ref()
        .filter(|m| m.source.is_measured());
    for (id, t) in &profile.transports {
        let id = id.as_str();
        link_flags(&mut out, id, "unloaded", &t.unloaded, copy);
        link_flags(&mut out, id, "saturated", &t.saturated, copy);
        if let Some(o) = &t.other_cores {
            link_flags(&mut out, id, "other_cores", o, copy);
        }
        let kernel_socket = id != "shm";
        if id == "shm" {
            let rtts = [(t.headline, &t.unloaded)]
                .into_iter()
                .chain(t.other_cores.as_ref().map(|o| (other(t.headline), o)));
            for (regime, l) in rtts {
                if regime == CoreRegime::CrossCore && l.round_trip.source.is_measured() {
                    let name = if regime == t.headline {
                        "unloaded"
                    } else {
                        "other_cores"
                    };
                    out.extend(outside(
                        format!("transports.shm.{name}.round_trip"),
                        l.round_trip.value(),
                        60.0,
                        9_000.0,
                        "s5: cache-line ping-pong round trip ~0.1-0.9 us; < 60 ns means both \
                         ends shared a core or SMT siblings, > 9 us a preempted poller",
                    ));
                }
            }
        } else if t.headline == CoreRegime::SameCore
            && t.unloaded.client.per_request.source.is_measured()
        {
            let cpu = t.unloaded.client.per_request.value() + t.unloaded.server.per_request.value();
            out.extend(outside(
                format!("transports.{id}.unloaded.per_request (client + server)"),
                cpu,
                500.0,
                200_000.0,
                "s5: same-core socket round trip 5-20 us CPU including two switches (flagged \
                 10x outside)",
            ));
        }
        if kernel_socket {
            for (tid, regime, window, ratio) in &ctx.cpu_over_wall {
                if tid == id && *regime == CoreRegime::SameCore && *window <= 1 {
                    out.extend(outside(
                        format!("transports.{id}.same-core cpu/wall"),
                        *ratio,
                        0.5,
                        1.5,
                        "s3.2/s5: with both ends on one core, client + server CPU should equal \
                         the wall round trip; CPU << wall means idle or wake-up time was \
                         measured instead of cost",
                    ));
                }
            }
        }
    }
    for (id, s) in &profile.isolation {
        let Some(kind) = ctx
            .scheme_kinds
            .iter()
            .find(|(i, _)| i == id.as_str())
            .map(|x| x.1)
        else {
            continue;
        };
        let w = s
            .warm_invoke
            .source
            .is_measured()
            .then(|| s.warm_invoke.value());
        let z = s
            .cold_start
            .source
            .is_measured()
            .then(|| s.cold_start.value());
        let f = |name: &str| format!("isolation.{id}.{name}");
        match kind {
            SchemeKind::Vm => {
                if let Some(w) = w {
                    out.extend(outside(
                        f("warm_invoke"),
                        w,
                        50.0,
                        150_000.0,
                        "s5: KVM exit round trip ~0.5-1 us kernel-handled, a few us to \
                         userspace, 5-15 us nested (flagged 10x outside)",
                    ));
                }
                if let Some(z) = z {
                    out.extend(outside(
                        f("cold_start"),
                        z,
                        0.0,
                        125e6,
                        "s5: a microVM reaches /sbin/init within 125 ms",
                    ));
                }
            }
            SchemeKind::Wasm => {
                if let Some(w) = w {
                    out.extend(outside(
                        f("warm_invoke"),
                        w,
                        0.3,
                        300.0,
                        "s5: Wasm call 3-30 ns (flagged 10x outside)",
                    ));
                }
                if let Some(z) = z {
                    out.extend(outside(
                        f("cold_start"),
                        z,
                        100.0,
                        300_000.0,
                        "s5: Wasm instantiate 1-30 us with pooling and InstancePre (flagged 10x \
                         outside)",
                    ));
                }
            }
            SchemeKind::Mpk => {
                if let Some(w) = w {
                    out.extend(outside(
                        f("warm_invoke"),
                        w,
                        0.0,
                        500.0,
                        "s5: WRPKRU costs tens of cycles; > 1,000 cycles (~500 ns) means \
                         emulation or a VM trap",
                    ));
                }
            }
            SchemeKind::Process => {
                if let Some(w) = w {
                    out.extend(outside(
                        f("warm_invoke"),
                        w,
                        500.0,
                        200_000.0,
                        "s5: same-core pipe round trip 5-20 us including two switches (flagged \
                         10x outside)",
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

fn other(r: CoreRegime) -> CoreRegime {
    match r {
        CoreRegime::SameCore => CoreRegime::CrossCore,
        CoreRegime::CrossCore => CoreRegime::SameCore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use costmodel::{Nanos, TransportId};

    fn measured<U: costmodel::Quantity>(v: U) -> Estimate<U> {
        Estimate::measured(v, v, v, 0.95, 10, "test")
    }

    #[test]
    fn literature_values_are_never_flagged() {
        let p = crate::profile::reference().unwrap();
        assert!(check(&p, &Context::default()).is_empty());
    }

    #[test]
    fn out_of_range_measurements_are_flagged_with_their_field() {
        let mut p = crate::profile::reference().unwrap();
        p.memory_copy = Some(measured(NanosPerByte::new(0.025)));
        let tcp = p
            .transports
            .get_mut(&TransportId::new("tcp").unwrap())
            .unwrap();
        tcp.unloaded.server.per_byte = measured(NanosPerByte::new(0.001));
        tcp.unloaded.client.per_request = measured(Nanos::new(100.0));
        tcp.unloaded.server.per_request = measured(Nanos::new(100.0));
        let ctx = Context {
            null_syscall_ns: Some(5.0),
            cpu_over_wall: vec![("tcp".to_owned(), CoreRegime::SameCore, 1, 0.2)],
            scheme_kinds: Vec::new(),
        };
        let flags = check(&p, &ctx);
        let fields: Vec<&str> = flags.iter().map(|f| f.field.as_str()).collect();
        assert!(fields.contains(&"calibration.null_syscall"), "{fields:?}");
        assert!(
            fields.contains(&"transports.tcp.unloaded.server.per_byte"),
            "{fields:?}"
        );
        assert!(fields.iter().any(|f| f.contains("cpu/wall")), "{fields:?}");
        assert!(
            fields.iter().any(|f| f.contains("per_request")),
            "{fields:?}"
        );
    }
}
