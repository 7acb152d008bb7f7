//! Every public type can cross threads: a scheduler may profile on one thread and rank on
//! another.

use ::profiler::*;

#[test]
fn every_public_type_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<InvocationRecord>();
    check::<Trace>();
    check::<TraceFormat>();
    check::<CsvReader<&[u8]>>();
    check::<ProfilerError>();
    check::<Profiler>();
    check::<ProfilerConfig>();
    check::<FunctionProfile>();
    check::<Stationarity>();
    check::<Quantiles>();
    check::<Prediction>();
    check::<LogHistogram>();
    check::<Moments>();
    check::<LinearFit>();
    check::<Holt>();
    check::<RateDetector>();
    check::<CusumParams>();
    check::<Rng>();
    check::<FunctionSpec>();
    check::<Scenario>();
    check::<Generator>();
    check::<FleetView>();
    check::<CoreStat>();
    check::<CoreRef>();
    check::<MachineSpec>();
    check::<TenantId>();
}
