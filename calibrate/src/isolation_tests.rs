//! Tests of the isolation harness, with a toy scheme instead of the plugins.
use super::*;
use costmodel::{ComputeClass, ProbeError, SchemeId};

/// A scheme with a native-code probe, for testing the harness without the plugins.
struct Toy {
    fail_cold: bool,
    wrong_checksum: bool,
    supported: bool,
}

struct ToyProbe {
    fail_cold: bool,
    wrong_checksum: bool,
}

impl IsolationProbe for ToyProbe {
    fn warm_invoke(&mut self, n: u64) -> Result<(), ProbeError> {
        for i in 0..n {
            black_box(i);
        }
        Ok(())
    }
    fn cold_start(&mut self) -> Result<(), ProbeError> {
        if self.fail_cold {
            return Err(ProbeError::new("cold_start", "no contexts left"));
        }
        black_box(vec![0u8; 4096]);
        Ok(())
    }
    fn local_access(&mut self, n: u64) -> Result<(), ProbeError> {
        let v = [1u64; 64];
        for i in 0..n {
            black_box(v[usize::try_from(i % 64).unwrap_or(0)]);
        }
        Ok(())
    }
    fn compute(&mut self, rounds: u32) -> Result<u64, ProbeError> {
        let h = kernel::fnv1a_rounds(black_box(&kernel::input()), rounds);
        Ok(if self.wrong_checksum { h ^ 1 } else { h })
    }
    fn extra_operations(&self) -> Vec<&'static str> {
        vec!["warm_invoke.toy", "read.after_work", "read.batched"]
    }
    fn extra(&mut self, _: &str, n: u64) -> Result<(), ProbeError> {
        self.warm_invoke(n)
    }
    /// `read.after_work` spins 2 us an iteration outside its timed part and reports 300 ns an
    /// iteration as its own; `read.batched` reports 300 ns an iteration timed with one clock
    /// pair for the whole call ([`IsolationProbe::timed_pairs`]).
    fn extra_timed(
        &mut self,
        name: &str,
        n: u64,
    ) -> Result<Option<std::time::Duration>, ProbeError> {
        let own = Duration::from_nanos(300).saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
        if name == "read.batched" {
            return Ok(Some(own));
        }
        if name != "read.after_work" {
            return self.extra(name, n).map(|()| None);
        }
        for _ in 0..n {
            let t = Instant::now();
            while t.elapsed() < Duration::from_micros(2) {
                std::hint::spin_loop();
            }
        }
        Ok(Some(own))
    }
    fn timed_pairs(&self, name: &str, n: u64) -> u64 {
        if name == "read.batched" { 1 } else { n }
    }
}

impl IsolationScheme for Toy {
    fn id(&self) -> SchemeId {
        SchemeId::new("toy").unwrap()
    }
    fn defaults(&self) -> IsolationCosts {
        crate::profile::reference()
            .unwrap()
            .isolation
            .get(&SchemeId::new("native").unwrap())
            .unwrap()
            .clone()
    }
    fn support(&self) -> Support {
        if self.supported {
            Support::Supported
        } else {
            Support::Unsupported {
                reason: "CPUID.7.0:ECX.OSPKE = 0".to_owned(),
            }
        }
    }
    fn probe(&self) -> Option<Result<Box<dyn IsolationProbe>, ProbeError>> {
        Some(Ok(Box::new(ToyProbe {
            fail_cold: self.fail_cold,
            wrong_checksum: self.wrong_checksum,
        })))
    }
}

fn plan() -> IsolationPlan {
    let rule = StopRule {
        min_samples: 3,
        max_samples: 5,
        target_rel_half_width: 1.0,
        budget: Duration::from_millis(50),
        confidence: 0.95,
        resamples: 50,
    };
    IsolationPlan {
        rule,
        cold_rule: rule,
        warmup: Duration::from_millis(1),
        sample_time: Duration::from_micros(200),
        probe_table: isolation_plugins::store::TableShape::DEFAULT,
    }
}

fn run(toy: &Toy) -> SchemeResult {
    let mut rng = Rng::new(5);
    let native = native_kernel(&plan(), &mut rng).unwrap();
    measure_scheme(
        toy,
        toy.defaults(),
        Some(&native),
        &plan(),
        0,
        &mut rng,
        &mut |_| {},
    )
}

#[test]
fn a_working_probe_is_measured_in_full() {
    let r = run(&Toy {
        fail_cold: false,
        wrong_checksum: false,
        supported: true,
    });
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    for op in ["warm_invoke", "cold_start", "local_access", "slowdown"] {
        assert!(r.measured.contains(&op), "{op} not measured");
    }
    assert!(r.costs.slowdown.value() > 0.0);
    assert!(r.costs.details.contains_key("warm_invoke.toy"));
    assert!(r.costs.details.contains_key("cold_start.first"));
    // An operation that times its own part is sampled from that part (less a clock pair an
    // iteration), not from the call's wall time (over 2 us an iteration here).
    let own = &r.costs.details["read.after_work"];
    assert!(
        own.point.get() > 100.0 && own.point.get() <= 300.0,
        "{}",
        own.point.get()
    );
    match &own.source {
        Source::Measured { method } => assert!(method.contains("their own part"), "{method}"),
        other => panic!("not measured: {other:?}"),
    }
    // One that times a whole call with one clock pair has one pair subtracted, not one an
    // iteration (which would take tens of ns off its 300).
    let batched = r.costs.details["read.batched"].point.get();
    assert!(batched > 299.0 && batched <= 300.0, "{batched}");
    let whole = &r.costs.details["warm_invoke.toy"];
    match &whole.source {
        Source::Measured { method } => assert!(method.contains("wall time"), "{method}"),
        other => panic!("not measured: {other:?}"),
    }
    assert!(matches!(
        r.costs.warm_invoke.source,
        Source::Measured { .. }
    ));
}

#[test]
fn a_failing_operation_keeps_its_default_and_the_rest() {
    let r = run(&Toy {
        fail_cold: true,
        wrong_checksum: true,
        supported: true,
    });
    assert_eq!(r.errors.len(), 2, "{:?}", r.errors);
    assert!(r.errors.iter().any(|e| e.contains("checksum")));
    assert!(matches!(
        r.costs.cold_start.source,
        Source::Literature { .. }
    ));
    assert!(
        r.costs
            .cold_start
            .source
            .detail()
            .contains("no contexts left")
    );
    assert!(r.measured.contains(&"warm_invoke"));
    assert!(r.measured.contains(&"local_access"));
}

#[test]
fn an_unsupported_scheme_keeps_marked_defaults() {
    let r = run(&Toy {
        fail_cold: false,
        wrong_checksum: false,
        supported: false,
    });
    assert!(r.measured.is_empty());
    assert!(!r.costs.support.is_supported());
    assert!(
        r.costs
            .warm_invoke
            .source
            .detail()
            .starts_with("not measured")
    );
}

/// A probe offering class kernels and sized reads, as the plugins' probes do.
struct ClassProbe {
    inner: ToyProbe,
    big: Vec<u8>,
    wrong: bool,
}

impl IsolationProbe for ClassProbe {
    fn warm_invoke(&mut self, n: u64) -> Result<(), ProbeError> {
        self.inner.warm_invoke(n)
    }
    fn cold_start(&mut self) -> Result<(), ProbeError> {
        self.inner.cold_start()
    }
    fn local_access(&mut self, n: u64) -> Result<(), ProbeError> {
        self.inner.local_access(n)
    }
    fn compute(&mut self, rounds: u32) -> Result<u64, ProbeError> {
        self.inner.compute(rounds)
    }
    fn extra_operations(&self) -> Vec<&'static str> {
        vec![
            "compute.arith",
            "local_access.bytes=64",
            "local_access.bytes=4096",
        ]
    }
    fn extra(&mut self, name: &str, n: u64) -> Result<(), ProbeError> {
        if let Some(bytes) = kernels::parse_access_op(name) {
            let mut dst = vec![0u8; bytes];
            for i in 0..n {
                let off = usize::try_from(i % 64).unwrap_or(0) * 4096;
                dst.copy_from_slice(&self.big[off..off + bytes]);
                black_box(&dst);
            }
            return Ok(());
        }
        let rounds = u32::try_from(n).unwrap_or(u32::MAX);
        let got = kernels::arith_rounds(black_box(rounds)) ^ u64::from(self.wrong);
        let want = kernels::arith_rounds(rounds);
        if got == want {
            Ok(())
        } else {
            Err(ProbeError::new(
                name,
                "checksum differs from the native kernel's",
            ))
        }
    }
}

struct ClassToy(bool);

impl IsolationScheme for ClassToy {
    fn id(&self) -> SchemeId {
        SchemeId::new("classtoy").unwrap()
    }
    fn defaults(&self) -> IsolationCosts {
        Toy {
            fail_cold: false,
            wrong_checksum: false,
            supported: true,
        }
        .defaults()
    }
    fn probe(&self) -> Option<Result<Box<dyn IsolationProbe>, ProbeError>> {
        Some(Ok(Box::new(ClassProbe {
            inner: ToyProbe {
                fail_cold: false,
                wrong_checksum: false,
            },
            big: vec![7u8; 64 * 4096 + 4096],
            wrong: self.0,
        })))
    }
}

fn run_class(wrong: bool) -> SchemeResult {
    let mut rng = Rng::new(9);
    let native = native_kernel(&plan(), &mut rng).unwrap();
    let s = ClassToy(wrong);
    measure_scheme(
        &s,
        s.defaults(),
        Some(&native),
        &plan(),
        0,
        &mut rng,
        &mut |_| {},
    )
}

#[test]
fn class_kernels_and_record_sizes_fill_the_version_2_fields() {
    let r = run_class(false);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let by = &r.costs.slowdown_by_class;
    assert_eq!(by.get(&ComputeClass::IntMul), Some(&r.costs.slowdown));
    let arith = by.get(&ComputeClass::Arith).expect("arith slowdown");
    // The same native code on both sides: a factor near 1 (generous: an unoptimised, loaded run).
    assert!(
        arith.point.get() > 0.2 && arith.point.get() < 5.0,
        "{arith:?}"
    );
    assert!(!r.costs.details.contains_key("compute.arith"));
    let g_b = r
        .costs
        .local_access_per_byte
        .as_ref()
        .expect("per-byte part");
    assert!(g_b.point.get() >= 0.0 && g_b.lower.get() <= g_b.point.get());
    assert!(g_b.upper.get() >= g_b.point.get());
    assert!(r.costs.details.contains_key("local_access.bytes=4096"));
}

#[test]
fn a_class_kernel_with_a_wrong_checksum_is_an_error_not_a_figure() {
    let r = run_class(true);
    assert!(
        r.errors.iter().any(|e| e.contains("compute.arith")),
        "{:?}",
        r.errors
    );
    assert!(!r.costs.slowdown_by_class.contains_key(&ComputeClass::Arith));
}
