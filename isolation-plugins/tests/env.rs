//! The probe table is an argument: `schemes_with_env` hands every table-reading scheme the
//! caller's environment, and a probe built from it reads it.

use std::sync::Arc;

use isolation_plugins::store::{PROBE_TABLE_READERS, ProbeEnv, TableShape};

#[test]
fn table_readers_hold_the_callers_env_and_their_probes_read_it() {
    let env = ProbeEnv::new(
        TableShape {
            records: 2048,
            record_bytes: 32,
        },
        1024,
    )
    .unwrap();
    let schemes = isolation_plugins::schemes_with_env(Arc::clone(&env));
    let readers = schemes
        .iter()
        .filter(|s| PROBE_TABLE_READERS.contains(&s.id().as_str()))
        .count();
    // Each table reader keeps one reference to the caller's environment.
    assert_eq!(Arc::strong_count(&env), 1 + readers, "{readers} readers");
    assert_eq!(env.table().shape().records, 2048);
    for s in schemes.iter().filter(|s| s.id().as_str() == "native") {
        let mut probe = s.probe().expect("native has a probe").unwrap();
        probe.local_access(4).unwrap();
    }
}
