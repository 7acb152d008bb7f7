//! How a record's local access depends on the size of the table it is read from.
//!
//! A storage server's per-record cost depends on whether its table fits in the caches: on the
//! 2-vCPU EPYC development VM (8 MiB of L3) a native read in runs of 32 keys cost 27-30 ns per
//! record in a 2 MB table, 50-59 ns in 10 MB, 107-143 ns in 34 MB and 197-209 ns in 134 MB
//! (three runs of the `table_sizes` example of `isolation-plugins`). Every scheme's
//! `local_access` and the host's `scattered_access` are measured on one table, the probe table.
//! Calibrate also measures the native probe's in-run and scattered reads over tables of several
//! sizes ([`TableAccess`]), and [`HostProfile::at_table`] moves a profile from the probe table
//! to the table of the server it will predict: each listed scheme's local access moves by the
//! curve's difference between the two tables (the memory hierarchy's part; what the scheme adds
//! around a read stays), and the scattered-read premium becomes the curve's at the server's
//! table.
//!
//! Between measured sizes the curve is linear in the logarithm of the table's bytes; beyond the
//! smallest and the largest it stays at their values.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::estimate::{Estimate, Source};
use crate::id::SchemeId;
use crate::profile::HostProfile;
use crate::units::{Bytes, Nanos};
use crate::validate::Check;

/// The native probe's record reads over tables of several sizes (version 2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableAccess {
    /// Bytes of record data in the probe table, the table every scheme of `schemes` read for
    /// its `local_access` and the host's `scattered_access` was measured on.
    pub probe_table_bytes: Bytes,
    /// The schemes whose `local_access` read the probe table (`vm` and `mpk` read their own
    /// memory and are not moved).
    pub schemes: Vec<SchemeId>,
    /// The curve, ascending by `table_bytes`, one point at `probe_table_bytes`.
    pub points: Vec<TablePoint>,
}

/// One table of the curve.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TablePoint {
    /// Bytes of record data in the table.
    pub table_bytes: Bytes,
    /// CPU per record read in runs of consecutive keys (the `local_access` pattern).
    pub in_run: Estimate<Nanos>,
    /// CPU per record read one per scattered key, each key from the record before (the
    /// `local_access.scattered` pattern: one read's latency, no two overlapping).
    pub scattered: Estimate<Nanos>,
}

impl TableAccess {
    /// Validates the curve: a positive probe table, at least two points, table sizes positive
    /// and strictly ascending, one of them the probe table's, every estimate valid.
    ///
    /// # Errors
    /// [`crate::CostError::Invalid`] naming the field and the value.
    pub fn check(&self, c: &mut Check<'_>) -> Result<()> {
        c.positive("probe_table_bytes", self.probe_table_bytes.get())?;
        c.quantity("probe_table_bytes", self.probe_table_bytes)?;
        if self.points.len() < 2 {
            return Err(c.fail(
                "points",
                format!("needs at least 2 tables, got {}", self.points.len()),
            ));
        }
        let mut last = 0.0;
        for (i, p) in self.points.iter().enumerate() {
            c.with(&format!("points[{i}]"), |c| {
                let b = p.table_bytes.get();
                c.positive("table_bytes", b)?;
                c.quantity("table_bytes", p.table_bytes)?;
                if b <= last {
                    return Err(c.fail(
                        "table_bytes",
                        format!("must be above the previous point's {last}, got {b}"),
                    ));
                }
                last = b;
                p.in_run.check(c, "in_run")?;
                p.scattered.check(c, "scattered")
            })?;
        }
        if !self.has_point(self.probe_table_bytes) {
            return Err(c.fail(
                "points",
                format!(
                    "has no point at probe_table_bytes ({})",
                    self.probe_table_bytes.get()
                ),
            ));
        }
        Ok(())
    }

    /// Whether the curve has a point at a table of `bytes` (the same integer byte count).
    fn has_point(&self, bytes: Bytes) -> bool {
        let b = bytes.get();
        self.points
            .iter()
            .any(|p| (p.table_bytes.get() - b).abs() <= 1e-9 * b.abs().max(1.0))
    }

    /// The in-run per-record cost at a table of `bytes` (interpolated).
    pub fn in_run_at(&self, bytes: Bytes) -> Nanos {
        Nanos::new(self.interpolate(bytes.get(), |p| p.in_run.point.get()))
    }

    /// The scattered per-record cost at a table of `bytes` (interpolated).
    pub fn scattered_at(&self, bytes: Bytes) -> Nanos {
        Nanos::new(self.interpolate(bytes.get(), |p| p.scattered.point.get()))
    }

    /// Linear in `ln(bytes)` between the two points around `bytes`, constant beyond the ends.
    fn interpolate(&self, bytes: f64, value: impl Fn(&TablePoint) -> f64) -> f64 {
        let (Some(first), Some(last)) = (self.points.first(), self.points.last()) else {
            return 0.0;
        };
        if bytes <= first.table_bytes.get() {
            return value(first);
        }
        if bytes >= last.table_bytes.get() {
            return value(last);
        }
        for w in self.points.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            let (xa, xb) = (a.table_bytes.get(), b.table_bytes.get());
            if bytes <= xb {
                let t = (bytes.ln() - xa.ln()) / (xb.ln() - xa.ln());
                return value(a) + t * (value(b) - value(a));
            }
        }
        value(last)
    }
}

impl HostProfile {
    /// This profile moved from its probe table to a storage server's table of `table_bytes`
    /// bytes of records: each scheme of [`TableAccess::schemes`] has its `local_access` (point
    /// and interval) moved by `in_run(table) - in_run(probe table)`, but never so far that the
    /// `native` scheme's read lands below `in_run(table)` (native reads the table at least as
    /// dearly as the curve's own native reads of it; its `local_access` and the curve's point at
    /// the probe table are timed at different moments, and on a host whose memory latency drifts
    /// the difference can exceed the whole cost: 129 against 185 ns on a Xeon VM, which moved a
    /// read of a 10 MB table to 0). When native is held, every listed scheme moves by native's
    /// shift, so each keeps what it adds around a read over native (measured in the same rounds
    /// as native's): holding each scheme at the curve on its own gave wasm, ebpf and native one
    /// cost at a 10 MB table in 7 of 10 profiles on the Xeon VM, although the storage server's
    /// wasm and ebpf records cost a median 15 and 25 ns more than its native ones (20 sweep
    /// points each, single points -98 to +142 ns). No scheme lands below `in_run(table)`
    /// (a profile without a listed `native` holds each scheme there on its own). The host's
    /// `scattered_access` premium becomes `scattered(table) - in_run(table)`. Each moved estimate
    /// becomes [`Source::Derived`], its formula naming the move. The curve itself is kept, with
    /// `probe_table_bytes` now `table_bytes`, so moving again starts from here.
    ///
    /// # Errors
    /// [`crate::CostError::Invalid`] when `table_bytes` is not a positive size within the
    /// format's limit, when the profile has no table-size curve (profiles calibrated before
    /// it was measured: calibrate again), or when a moved value leaves the format's limits.
    pub fn at_table(&self, table_bytes: Bytes) -> Result<HostProfile> {
        let c = Check::new("HostProfile::at_table");
        c.positive("table_bytes", table_bytes.get())?;
        c.quantity("table_bytes", table_bytes)?;
        let Some(curve) = &self.table_access else {
            return Err(c.fail(
                "table_access",
                "this profile has no table-size curve (calibrate measures one since 2026-12-03; \
                 calibrate again)",
            ));
        };
        let probe = curve.probe_table_bytes;
        let (in_run, scattered) = (
            curve.in_run_at(table_bytes).get(),
            curve.scattered_at(table_bytes).get(),
        );
        let delta = in_run - curve.in_run_at(probe).get();
        let mb = |b: Bytes| b.get() / 1e6;
        let why = format!(
            "moved from the probe table ({:.1} MB of records) to a table of {:.1} MB by the \
             native table-size curve ({:+.1} ns per record in runs)",
            mb(probe),
            mb(table_bytes),
            delta
        );
        // Native, the curve's own scheme, when it is listed and profiled: every listed scheme
        // moves as native does, so what each adds over native stays.
        let native = SchemeId::new("native")?;
        let anchor = curve
            .schemes
            .contains(&native)
            .then(|| self.isolation.get(&native))
            .flatten()
            .map(|costs| costs.local_access.point.get())
            .filter(|&n| n + delta < in_run);
        let mut out = self.clone();
        for id in &curve.schemes {
            if let Some(costs) = out.isolation.get_mut(id) {
                let was = costs.local_access.point.get();
                let (mut shift, mut how) = (delta, why.clone());
                if let Some(n) = anchor.filter(|_| *id != native) {
                    shift = in_run - n;
                    how = format!(
                        "{why}, moved as native is: native held at the curve's in-run read at \
                         that table, {in_run:.1} ns (the move gave it {:.1} ns), this scheme \
                         keeping its {:+.1} ns over native",
                        n + delta,
                        was - n
                    );
                }
                // No scheme reads the table for less than the native probe's own reads of it.
                if was + shift < in_run {
                    how = format!(
                        "{why}, held at the curve's in-run read at that table, {in_run:.1} ns \
                         (the move gave {:.1} ns, below the native probe's own reads)",
                        was + shift
                    );
                    shift = in_run - was;
                }
                costs.local_access = shifted(&costs.local_access, shift, &how);
            }
        }
        let premium = (scattered - in_run).max(0.0);
        if let Some(old) = &self.scattered_access {
            out.scattered_access = Some(shifted(
                old,
                premium - old.point.get(),
                &format!(
                    "the native table-size curve's scattered read less its in-run read at a \
                     table of {:.1} MB (was: {})",
                    mb(table_bytes),
                    old.source.detail()
                ),
            ));
        }
        if let Some(t) = &mut out.table_access {
            t.probe_table_bytes = table_bytes;
            if !t.has_point(table_bytes) {
                let point = TablePoint {
                    table_bytes,
                    in_run: interpolated(in_run, &why),
                    scattered: interpolated(scattered, &why),
                };
                let at = t
                    .points
                    .iter()
                    .position(|p| p.table_bytes.get() > table_bytes.get())
                    .unwrap_or(t.points.len());
                t.points.insert(at, point);
            }
        }
        // A move can take a value past the format's limits (a cost near the limit moved up).
        out.validate("HostProfile::at_table")?;
        Ok(out)
    }
}

/// `e` moved by `delta` (point and interval, none below zero), its source a derivation.
fn shifted(e: &Estimate<Nanos>, delta: f64, why: &str) -> Estimate<Nanos> {
    let mv = |v: Nanos| Nanos::new((v.get() + delta).max(0.0));
    Estimate {
        point: mv(e.point),
        lower: mv(e.lower),
        upper: mv(e.upper),
        confidence: e.confidence,
        samples: e.samples,
        source: Source::Derived {
            formula: format!("{}; {why}", e.source.detail()),
        },
    }
}

/// A curve value between measured points.
fn interpolated(v: f64, why: &str) -> Estimate<Nanos> {
    let n = Nanos::new(v.max(0.0));
    Estimate {
        point: n,
        lower: n,
        upper: n,
        confidence: 0.95,
        samples: 0,
        source: Source::Derived {
            formula: format!("interpolated; {why}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(v: f64) -> Estimate<Nanos> {
        Estimate::cited(Nanos::new(v), "test")
    }

    fn curve() -> TableAccess {
        let p = |mb: f64, run: f64, sc: f64| TablePoint {
            table_bytes: Bytes::new(mb * 1e6),
            in_run: est(run),
            scattered: est(sc),
        };
        TableAccess {
            probe_table_bytes: Bytes::new(32e6),
            schemes: vec![SchemeId::new("native").unwrap()],
            points: vec![
                p(2.0, 26.0, 40.0),
                p(32.0, 106.0, 280.0),
                p(128.0, 200.0, 330.0),
            ],
        }
    }

    #[test]
    fn the_curve_is_linear_in_log_bytes_and_flat_beyond_its_ends() {
        let c = curve();
        assert_eq!(c.in_run_at(Bytes::new(2e6)).get(), 26.0);
        assert_eq!(c.in_run_at(Bytes::new(1e3)).get(), 26.0);
        assert_eq!(c.in_run_at(Bytes::new(1e12)).get(), 200.0);
        // 8 MB is halfway between 2 and 32 MB in log2 (2 of 4 doublings).
        assert!((c.in_run_at(Bytes::new(8e6)).get() - 66.0).abs() < 1e-9);
        assert!((c.scattered_at(Bytes::new(64e6)).get() - 305.0).abs() < 1e-9);
    }

    #[test]
    fn a_bad_curve_is_refused_naming_the_field() {
        let mut c = curve();
        c.points.swap(0, 1);
        let e = c.check(&mut Check::new("t.ron")).unwrap_err().to_string();
        assert!(e.contains("points[1].table_bytes"), "{e}");
        let mut c = curve();
        c.probe_table_bytes = Bytes::new(30e6);
        let e = c.check(&mut Check::new("t.ron")).unwrap_err().to_string();
        assert!(e.contains("no point at probe_table_bytes"), "{e}");
        let mut c = curve();
        c.points.truncate(1);
        assert!(c.check(&mut Check::new("t.ron")).is_err());
        assert!(curve().check(&mut Check::new("t.ron")).is_ok());
    }
}
