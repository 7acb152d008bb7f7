//! [`ChangeDetector`]: the one interface to a detector of change points in a function's
//! per-window arrival counts. `profiler` owns the implementation (`profiler::RateDetector`, a
//! two-sided CUSUM whose detection delay and false-alarm rate are documented and measured
//! there); the solver's regime advisor takes any implementation. It lives here because
//! `costmodel` is the one crate both depend on.

/// Detects a change in the rate of a stream of per-window counts.
///
/// Implementations keep constant-size state and never allocate in
/// [`ChangeDetector::observe_window`], so a scheduler can keep one per function (in
/// `solver::FunctionTrack`) and feed it on its hot path.
pub trait ChangeDetector {
    /// Feeds one window holding `count` arrivals (finite, `>= 0`). Returns true when a change
    /// point is raised at this window; the detector then starts a new segment at this window
    /// (the window belongs to the new rate).
    fn observe_window(&mut self, count: f64) -> bool;
}
