//! The redo and grade rules on a fake clock and a fake `/proc`.

use std::time::Duration;

use costmodel::NoiseGrade;

use super::*;
use crate::noise::Clock;
use crate::noise::fake::{FakeClock, FakeProc};

const ME: u32 = 100;
const SECOND: Duration = Duration::from_secs(1);

fn monitor<'a>(proc: &'a FakeProc, clock: &'a FakeClock) -> Monitor<'a, &'a FakeProc> {
    proc.burn(ME, "calibrate", 0);
    Monitor::new(proc, clock, Thresholds::default()).measuring(vec![ME])
}

/// One block's work: a second of the measurement's own CPU.
fn work(proc: &FakeProc, clock: &FakeClock) {
    proc.burn(ME, "calibrate", 100);
    clock.advance(SECOND);
}

// A steal burst in one block of four makes that block (and only it) run again; the run is
// still quiet, and the value kept is the clean second try's.
#[test]
fn a_burst_in_one_block_causes_a_redo() {
    let (proc, clock) = (FakeProc::default(), FakeClock::default());
    let m = monitor(&proc, &clock);
    let mut log = NoiseLog::new(m.thresholds());
    let policy = RedoPolicy::within(Duration::from_secs(60));
    let mut tries = 0;
    for block in 0..4 {
        let kept = measure_block(&m, &mut log, &format!("block {block}"), &policy, || {
            tries += 1;
            work(&proc, &clock);
            if tries == 2 {
                proc.steal.set(proc.steal.get() + 50); // 0.5 cores of steal
            }
            Ok::<_, ()>(tries)
        })
        .unwrap();
        assert!(kept.clean);
        if block == 1 {
            assert_eq!(kept.value, 3, "the redone try's value is kept");
        }
    }
    assert_eq!(tries, 5);
    assert_eq!(log.redos().len(), 1);
    assert_eq!(log.redos()[0].block, "block 1");
    assert!(
        log.redos()[0].reason.contains("steal 0.50 cores > 0.10"),
        "{:?}",
        log.redos()
    );
    let r = log.record(1);
    assert_eq!((r.blocks, r.redone, r.contaminated), (4, 1, 0));
    assert_eq!(r.grade, NoiseGrade::Quiet);
    assert!((r.steal_cores.max - 0.5).abs() < 1e-9);
    assert!(r.steal_cores.median.abs() < 1e-9);
}

// Another process busy through every try of every block: each block is tried three times,
// kept contaminated, and the run is graded unusable, which refuses to give a number.
#[test]
fn a_burst_in_every_block_ends_unusable() {
    let (proc, clock) = (FakeProc::default(), FakeClock::default());
    let m = monitor(&proc, &clock);
    let mut log = NoiseLog::new(m.thresholds());
    let policy = RedoPolicy::within(Duration::from_secs(600));
    for block in 0..3 {
        let kept = measure_block(&m, &mut log, &format!("block {block}"), &policy, || {
            proc.burn(7, "rustc", 80);
            work(&proc, &clock);
            Ok::<_, ()>(42.0)
        })
        .unwrap();
        assert!(!kept.clean);
    }
    let r = log.record(1);
    assert_eq!((r.blocks, r.redone, r.contaminated), (3, 6, 3));
    assert_eq!(r.grade, NoiseGrade::Unusable);
    assert!((r.other_cpu_cores.median - 0.8).abs() < 1e-9);
    assert!(
        log.entries()[0]
            .contaminated
            .as_ref()
            .unwrap()
            .contains("most by rustc (0.80)")
    );
    let refused = crate::noise::rounds::usable(&r).unwrap_err();
    assert!(refused.contains("unusable"), "{refused}");
}

// The host moves the vCPUs apart during one block of four (the round trip goes from 85 to
// 375 ns for two readings, steal shows nothing): that block is redone once the state is back,
// the run stays quiet, and the profile records the state it was held to.
#[test]
fn a_machine_state_change_in_one_block_causes_a_redo_in_the_run_s_state() {
    let (proc, clock) = (FakeProc::default(), FakeClock::default());
    let far_readings = std::cell::Cell::new(0u32);
    let probe = || {
        let far = far_readings.get();
        far_readings.set(far.saturating_sub(1));
        Some(if far > 0 { 375.0 } else { 85.0 })
    };
    let m = monitor(&proc, &clock).watch_core_state(
        [0, 1],
        Box::new(probe),
        None,
        Duration::from_secs(1),
    );
    let mut log = NoiseLog::new(m.thresholds());
    let policy = RedoPolicy::within(Duration::from_secs(60));
    let mut tries = 0;
    for block in 0..4 {
        let kept = measure_block(&m, &mut log, &format!("block {block}"), &policy, || {
            tries += 1;
            work(&proc, &clock);
            if tries == 2 {
                // Read far at the end of this try and by the first wait; near after.
                far_readings.set(2);
            }
            Ok::<_, ()>(tries)
        })
        .unwrap();
        assert!(kept.clean, "block {block}");
        if block == 1 {
            assert_eq!(kept.value, 3);
        }
    }
    assert_eq!(tries, 5);
    assert_eq!(log.redos().len(), 1);
    assert!(
        log.redos()[0]
            .reason
            .contains("machine state: cache-line round trip 85 ns before, 375 ns after"),
        "{:?}",
        log.redos()
    );
    let r = log.record(1);
    assert_eq!((r.blocks, r.redone, r.contaminated), (4, 1, 0));
    assert_eq!(r.grade, NoiseGrade::Quiet);
    let held = r.core_state.unwrap();
    assert_eq!((held.cpus, held.round_trip_ns), ([0, 1], 85.0));
}

// A run held to a profile's state (85 ns) while the host stays in the other one: every try of
// every block is out of state, nothing steal could show, and the run is unusable rather than a
// number measured in the wrong state.
#[test]
fn a_run_that_never_sees_its_machine_state_ends_unusable() {
    let (proc, clock) = (FakeProc::default(), FakeClock::default());
    let state = std::cell::Cell::new(375.0);
    let m = monitor(&proc, &clock).watch_core_state(
        [0, 1],
        Box::new(|| Some(state.get())),
        Some(85.0),
        Duration::ZERO,
    );
    let mut log = NoiseLog::new(m.thresholds());
    let policy = RedoPolicy::within(Duration::from_secs(600));
    for block in 0..3 {
        let kept = measure_block(&m, &mut log, &format!("block {block}"), &policy, || {
            work(&proc, &clock);
            Ok::<_, ()>(1.0)
        })
        .unwrap();
        assert!(!kept.clean);
    }
    let r = log.record(1);
    assert_eq!((r.blocks, r.redone, r.contaminated), (3, 6, 3));
    assert_eq!(r.grade, NoiseGrade::Unusable);
    assert_eq!(r.core_state.unwrap().round_trip_ns, 85.0);
    assert!(
        log.entries()[0]
            .contaminated
            .as_ref()
            .unwrap()
            .contains("the run's 85 ns (cpus 0-1)")
    );
}

// Other processes' CPU counts children reaped during the block only for what they used in it,
// counts processes started in it, and leaves out the measurement's own descendants.
#[test]
fn other_cpu_follows_process_churn() {
    let (proc, clock) = (FakeProc::default(), FakeClock::default());
    let m = monitor(&proc, &clock);
    proc.burn(200, "cargo", 10);
    proc.burn(201, "rustc", 500);
    proc.procs.borrow_mut()[2].ppid = 200;
    let s = m.begin().unwrap();
    proc.burn(201, "rustc", 30);
    proc.reap(201);
    proc.burn(202, "cc", 20);
    proc.burn(300, "probe-child", 90);
    proc.procs.borrow_mut().last_mut().unwrap().ppid = ME;
    proc.switches.set(17);
    clock.advance(SECOND);
    let n = m.end(&s).unwrap();
    assert!((n.other_cpu_cores - 0.5).abs() < 1e-9, "{n:?}");
    assert_eq!(n.involuntary_switches, 17);
    assert_eq!(n.top_other.as_ref().unwrap().0, "cargo");
}

// With no time left in the budget a contaminated block is kept, not redone, and says why.
#[test]
fn no_redo_past_the_deadline() {
    let (proc, clock) = (FakeProc::default(), FakeClock::default());
    let m = monitor(&proc, &clock);
    let mut log = NoiseLog::new(m.thresholds());
    let policy = RedoPolicy::within(Duration::from_millis(1500));
    let kept = measure_block(&m, &mut log, "late", &policy, || {
        proc.steal.set(proc.steal.get() + 30);
        work(&proc, &clock);
        Ok::<_, ()>(())
    })
    .unwrap();
    assert!(!kept.clean);
    assert!(log.redos().is_empty());
    let why = log.entries()[0].contaminated.clone().unwrap();
    assert!(why.contains("no time left"), "{why}");
    assert_eq!(log.record(1).grade, NoiseGrade::Unusable);
}

#[test]
fn grades_follow_the_fractions() {
    assert_eq!(grade(0, 0, 0, false), NoiseGrade::Quiet);
    assert_eq!(grade(40, 0, 10, false), NoiseGrade::Quiet);
    assert_eq!(grade(40, 0, 11, false), NoiseGrade::Noisy);
    assert_eq!(grade(40, 1, 0, false), NoiseGrade::Noisy);
    assert_eq!(grade(40, 10, 0, false), NoiseGrade::Noisy);
    assert_eq!(grade(40, 11, 0, false), NoiseGrade::Unusable);
}

// --require-quiet: a host busy for two windows and quiet in the third is waited for; one
// busy throughout is refused with a line that says what was seen.
#[test]
fn wait_for_quiet_is_bounded() {
    let (proc, clock) = (FakeProc::default(), FakeClock::default());
    let m = monitor(&proc, &clock);
    let mut busy = 2;
    let n = wait_for_quiet(&m, SECOND, Duration::from_secs(60), |d| {
        if busy > 0 {
            proc.burn(9, "backup", 90);
            busy -= 1;
        }
        clock.advance(d);
    })
    .unwrap();
    assert!(n.other_cpu_cores.abs() < 1e-9);
    assert_eq!(clock.elapsed(), Duration::from_secs(3));
    let e = wait_for_quiet(&m, SECOND, Duration::from_secs(10), |d| {
        proc.burn(9, "backup", 90);
        clock.advance(d);
    })
    .unwrap_err();
    assert!(e.starts_with("host not quiet within 10 s"), "{e}");
    assert!(e.contains("backup"), "{e}");
    assert!(clock.elapsed() <= Duration::from_secs(14));
}

// Counters move in ticks: one tick of a daemon in a 5 ms block is judged over the minimum
// window (0.04 cores, clean), not read as two cores.
#[test]
fn a_short_block_is_judged_over_the_minimum_window() {
    let (proc, clock) = (FakeProc::default(), FakeClock::default());
    let m = monitor(&proc, &clock);
    let s = m.begin().unwrap();
    proc.burn(5, "kworker", 1);
    clock.advance(Duration::from_millis(5));
    let n = m.end(&s).unwrap();
    assert!((n.other_cpu_cores - 0.04).abs() < 1e-9, "{n:?}");
    assert!(n.contamination(&m.thresholds()).is_none());
    assert!((n.seconds - 0.005).abs() < 1e-9);
}

// A helper of the measurement whose parent exited first is reaped by init: its CPU from before
// the block, now in init's child time, is not counted as another process's.
#[test]
fn a_measured_orphan_reaped_by_init_is_not_other_cpu() {
    let (proc, clock) = (FakeProc::default(), FakeClock::default());
    let m = monitor(&proc, &clock);
    proc.burn(1, "init", 0);
    proc.burn(400, "helper", 0);
    proc.burn(401, "worker", 130);
    proc.procs.borrow_mut()[2].ppid = ME;
    proc.procs.borrow_mut()[3].ppid = 400;
    let s = m.begin().unwrap();
    proc.procs.borrow_mut().retain(|p| p.pid != 400);
    proc.procs.borrow_mut()[2].ppid = 1;
    proc.reap(401);
    clock.advance(SECOND);
    let n = m.end(&s).unwrap();
    assert!(n.other_cpu_cores.abs() < 1e-9, "{n:?}");
}

// A watched speed is timed once per block kept or tried, at its start, on each CPU in turn;
// the record keeps the mean and range per CPU.
#[test]
fn the_speed_is_timed_at_each_block_s_start_on_each_cpu_in_turn() {
    let (proc, clock) = (FakeProc::default(), FakeClock::default());
    let timed = std::cell::RefCell::new(Vec::new());
    let m = monitor(&proc, &clock).watch_speed(
        vec![0, 1],
        Box::new(|cpu| {
            timed.borrow_mut().push(cpu);
            // cpu 0 runs at 350 ns a round, cpu 1 alternates 350 and 414.
            let n = timed.borrow().len();
            Some(crate::noise::speed::SpeedReading {
                kernel_ns: if cpu == 1 && n % 4 == 0 { 414.0 } else { 350.0 },
                memory_ns: Some(140.0),
            })
        }),
    );
    let mut log = NoiseLog::new(m.thresholds());
    let policy = RedoPolicy::within(Duration::from_secs(60));
    for block in 0..4 {
        measure_block(&m, &mut log, &format!("block {block}"), &policy, || {
            work(&proc, &clock);
            Ok::<_, ()>(())
        })
        .unwrap();
    }
    assert_eq!(
        *timed.borrow(),
        vec![0, 1, 0, 1],
        "one timing per block, not per snapshot"
    );
    let r = log.record(1);
    assert_eq!(r.speed.len(), 2);
    assert_eq!((r.speed[0].cpu, r.speed[0].timings), (0, 2));
    assert_eq!(r.speed[0].ns_per_round, 350.0);
    assert_eq!((r.speed[1].cpu, r.speed[1].timings), (1, 2));
    assert!(
        (r.speed[1].ns_per_round - 382.0).abs() < 1e-9,
        "{:?}",
        r.speed[1]
    );
    assert_eq!((r.speed[1].min, r.speed[1].max), (350.0, 414.0));
    assert_eq!(r.speed[1].memory.map(|m| m.ns_per_load), Some(140.0));
    // A monitor that does not watch it records none.
    let plain = monitor(&proc, &clock);
    let mut log = NoiseLog::new(plain.thresholds());
    measure_block(&plain, &mut log, "b", &policy, || {
        work(&proc, &clock);
        Ok::<_, ()>(())
    })
    .unwrap();
    assert!(log.record(1).speed.is_empty());
}

#[test]
fn time_spent_outside_the_budget_moves_the_deadline_on() {
    let clock = FakeClock::default();
    let mut policy = RedoPolicy::within(10 * SECOND);
    let seen = policy.outside_budget(&clock, || {
        clock.advance(3 * SECOND);
        7
    });
    assert_eq!(seen, 7);
    assert_eq!(policy.deadline, 13 * SECOND);
    policy.outside_budget(&clock, || {});
    assert_eq!(policy.deadline, 13 * SECOND);
}

// A burst that outlasts a block's tries leaves it kept over a threshold; measured again after
// the rounds, once the burst is over, the clean try takes its place: the log keeps one block
// per block measured, counts the later try as a redo, and grades what it keeps.
#[test]
fn a_block_measured_again_after_the_burst_takes_the_contaminated_one_s_place() {
    let (proc, clock) = (FakeProc::default(), FakeClock::default());
    let m = monitor(&proc, &clock);
    let mut log = NoiseLog::new(m.thresholds());
    let policy = RedoPolicy::within(Duration::from_secs(600));
    for block in 0..4 {
        let kept = measure_block(&m, &mut log, &format!("block {block}"), &policy, || {
            work(&proc, &clock);
            if block == 1 || block == 2 {
                proc.steal.set(proc.steal.get() + 50);
            }
            Ok::<_, ()>(1.0)
        })
        .unwrap();
        assert_eq!(kept.clean, block != 1 && block != 2);
    }
    assert_eq!(log.record(1).grade, NoiseGrade::Unusable);
    let again = remeasure_block(&m, &mut log, 1, &policy, || {
        work(&proc, &clock);
        Ok::<_, ()>(2.0)
    })
    .unwrap()
    .expect("a try fits");
    assert!(again.clean);
    assert_eq!(again.value, 2.0);
    assert_eq!(
        log.entries().len(),
        4,
        "the later try replaces, it does not add"
    );
    assert_eq!(log.entries()[1].contaminated, None);
    assert_eq!(log.entries()[1].attempts, 4);
    let last = log.redos().last().unwrap();
    assert_eq!(last.block, "block 1");
    assert!(
        last.reason
            .starts_with("after the rounds: steal 0.50 cores"),
        "{last:?}"
    );
    let r = log.record(1);
    assert_eq!((r.blocks, r.contaminated, r.redone), (4, 1, 5));
    assert_eq!(r.grade, NoiseGrade::Noisy);
}

// Still in the burst, the later try is no better: the logged block stays, the try is counted
// as a redo that is "still over"; a clean block, an index past the log, or no time left to
// run a try measures nothing.
#[test]
fn a_later_try_still_in_the_burst_keeps_the_block_and_says_so() {
    let (proc, clock) = (FakeProc::default(), FakeClock::default());
    let m = monitor(&proc, &clock);
    let mut log = NoiseLog::new(m.thresholds());
    let policy = RedoPolicy::within(Duration::from_secs(600));
    let steal = |units| {
        work(&proc, &clock);
        proc.steal.set(proc.steal.get() + units);
        Ok::<_, ()>(units)
    };
    assert!(
        !measure_block(&m, &mut log, "dirty", &policy, || steal(30))
            .unwrap()
            .clean
    );
    assert!(
        measure_block(&m, &mut log, "clean", &policy, || steal(0))
            .unwrap()
            .clean
    );
    let before = log.entries()[0].clone();
    let again = remeasure_block(&m, &mut log, 0, &policy, || steal(60))
        .unwrap()
        .unwrap();
    assert!(!again.clean);
    assert_eq!(
        log.entries()[0].noise,
        before.noise,
        "the less contaminated block stays"
    );
    assert_eq!(log.entries()[0].attempts, before.attempts + 1);
    assert!(log.redos().last().unwrap().reason.ends_with("; still over"));
    let mut ran = false;
    let mut never = || {
        ran = true;
        steal(0)
    };
    assert!(
        remeasure_block(&m, &mut log, 1, &policy, &mut never)
            .unwrap()
            .is_none()
    );
    assert!(
        remeasure_block(&m, &mut log, 9, &policy, &mut never)
            .unwrap()
            .is_none()
    );
    let spent = RedoPolicy::within(clock.elapsed());
    assert!(
        remeasure_block(&m, &mut log, 0, &spent, &mut never)
            .unwrap()
            .is_none()
    );
    assert!(!ran);
}

// A core shared with another guest shows in neither steal nor other processes: the wide kernel,
// timed on each CPU before and after every block, reads slower than the run's fastest there.
// The block where it did is redone once the cores read free, and the run stays quiet.
#[test]
fn a_shared_core_in_one_block_causes_a_redo() {
    let (proc, clock) = (FakeProc::default(), FakeClock::default());
    let contended = std::cell::Cell::new(0u32);
    let m = monitor(&proc, &clock).watch_siblings(
        vec![0, 1],
        Box::new(|_| {
            let left = contended.get();
            contended.set(left.saturating_sub(1));
            Some(if left > 0 { 3.0 } else { 2.67 })
        }),
        Some(Duration::from_secs(1)),
    );
    let mut log = NoiseLog::new(m.thresholds());
    let policy = RedoPolicy::within(Duration::from_secs(60));
    let mut tries = 0;
    for block in 0..4 {
        let kept = measure_block(&m, &mut log, &format!("block {block}"), &policy, || {
            tries += 1;
            work(&proc, &clock);
            if tries == 2 {
                contended.set(2); // both CPUs read slow after this try
            }
            Ok::<_, ()>(tries)
        })
        .unwrap();
        assert!(kept.clean);
    }
    assert_eq!(tries, 5);
    assert_eq!(log.redos().len(), 1);
    assert_eq!(
        log.redos()[0].reason,
        "try 1: core shared: wide kernel 1.12x the run's fastest on cpu 0 > 1.05"
    );
    let r = log.record(1);
    assert_eq!((r.blocks, r.redone, r.contaminated), (4, 1, 0));
    assert_eq!(r.grade, NoiseGrade::Quiet);
    let sc = r.shared_cores.unwrap();
    assert!(
        sc.held && sc.shared == 0,
        "the block kept is the free one: {sc:?}"
    );
}

// The wait for free cores reads them every poll until they are, or gives up at its bound
// (the watch's own or the caller's, whichever is shorter); an unwatched monitor does not wait.
#[test]
fn the_wait_for_free_cores_is_bounded() {
    let (proc, clock) = (FakeProc::default(), FakeClock::default());
    let wide = std::cell::Cell::new(2.67);
    let reads = std::cell::Cell::new(0u32);
    let m = monitor(&proc, &clock).watch_siblings(
        vec![0],
        Box::new(|_| {
            reads.set(reads.get() + 1);
            clock.advance(Duration::from_millis(20));
            Some(wide.get())
        }),
        Some(Duration::from_millis(200)),
    );
    let start = m.begin().unwrap();
    let _ = m.end(&start).unwrap();
    wide.set(3.2);
    reads.set(0);
    assert!(!m.wait_for_free_cores(Duration::from_secs(10)));
    assert!((4..=12).contains(&reads.get()), "{}", reads.get());
    reads.set(0);
    assert!(!m.wait_for_free_cores(Duration::from_millis(60)));
    assert!(reads.get() <= 3, "{}", reads.get());
    wide.set(2.7);
    assert!(m.wait_for_free_cores(Duration::from_secs(10)));
    let plain = monitor(&proc, &clock);
    assert!(plain.wait_for_free_cores(Duration::from_secs(10)));
}

/// Four blocks of work on cpu 0 watched without holding (as the built-in runs watch it), the
/// wide kernel reading `readings` in turn (one before and one after each block): the log, and
/// what each block kept.
fn four_blocks_watched(readings: &[f64]) -> (NoiseLog, Vec<Kept<()>>) {
    let (proc, clock) = (FakeProc::default(), FakeClock::default());
    let next = std::cell::Cell::new(0usize);
    let m = monitor(&proc, &clock).watch_siblings(
        vec![0],
        Box::new(|_| {
            let i = next.get();
            next.set(i + 1);
            readings.get(i).copied()
        }),
        None,
    );
    let mut log = NoiseLog::new(m.thresholds());
    let policy = RedoPolicy::within(Duration::from_secs(60));
    let kept = (0..4)
        .map(|block| {
            measure_block(&m, &mut log, &format!("block {block}"), &policy, || {
                work(&proc, &clock);
                Ok::<_, ()>(())
            })
            .unwrap()
        })
        .collect();
    (log, kept)
}

// Watched without holding (how the built-in runs watch it), a shared core is recorded, not
// redone: the record counts the blocks that read over the factor, with the median and the
// slowest against the fastest.
#[test]
fn a_shared_core_watched_without_holding_is_recorded_not_redone() {
    let (log, kept) = four_blocks_watched(&[2.67, 2.67, 3.0, 2.7, 2.67, 2.67, 2.9, 3.2]);
    assert!(kept.iter().all(|k| k.clean));
    // Each block says whether its cores read shared, for the rounds to prefer free ones.
    let shared: Vec<bool> = kept.iter().map(|k| k.shared).collect();
    assert_eq!(shared, [false, true, false, true]);
    let r = log.record(1);
    assert_eq!(
        (r.redone, r.contaminated, r.grade),
        (0, 0, NoiseGrade::Quiet)
    );
    let sc = r.shared_cores.unwrap();
    // Blocks: (2.67, 2.67) 1.00x, (3.0, 2.7) 1.12x, (2.67, 2.67) 1.00x, (2.9, 3.2) 1.20x.
    assert_eq!((sc.blocks, sc.shared), (4, 2));
    assert!((sc.max - 3.2 / 2.67).abs() < 1e-9, "{sc:?}");
    assert!(
        (sc.median - (1.0 + 3.0 / 2.67) / 2.0).abs() < 1e-9,
        "{sc:?}"
    );
    assert_eq!(sc.factor, crate::noise::sibling::FACTOR);
    assert!(!sc.held);
    // The same readings in ns per round, for comparing runs: the blocks' slowest timings
    // 2.67, 3.0, 2.67, 3.2.
    assert!(
        (sc.median_ns.unwrap() - (2.67 + 3.0) / 2.0).abs() < 1e-9,
        "{sc:?}"
    );
    assert_eq!(sc.fastest_ns, Some(2.67));
    assert!(
        NoiseLog::new(Thresholds::default())
            .record(1)
            .shared_cores
            .is_none()
    );
}

// Watched without holding, cores shared around most blocks (three of four) grade the run noisy:
// nothing crossed a threshold and nothing was redone, but the run measured another guest's load
// as much as this host's, and its summary says so.
#[test]
fn cores_shared_around_most_blocks_grade_the_run_noisy() {
    let (log, _) = four_blocks_watched(&[2.67, 3.0, 2.67, 2.67, 2.9, 3.2, 3.1, 2.7]);
    let r = log.record(1);
    let sc = r.shared_cores.unwrap();
    // Blocks: (2.67, 3.0) 1.12x, (2.67, 2.67) 1.00x, (2.9, 3.2) 1.20x, (3.1, 2.7) 1.16x.
    assert_eq!((sc.blocks, sc.shared), (4, 3));
    assert_eq!(
        (r.redone, r.contaminated, r.grade),
        (0, 0, NoiseGrade::Noisy)
    );
    assert!(
        r.summary()
            .ends_with("; cores shared with another guest in most blocks (3 of 4 over 1.05x)"),
        "{}",
        r.summary()
    );
}
