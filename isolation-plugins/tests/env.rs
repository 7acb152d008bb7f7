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

#[test]
fn the_native_probe_reads_each_curve_table_at_the_main_tables_record_size() {
    use isolation_plugins::native::{NativeProbe, TABLE_ACCESS, TABLE_SCATTERED};
    use isolation_plugins::store::{CURVE_MAX_RECORDS, CURVE_TABLES};
    let env = ProbeEnv::new(
        TableShape {
            records: 2048,
            record_bytes: 256,
        },
        1024,
    )
    .unwrap();
    // 1 MiB of 256-byte records is 4 Ki records; 128 MiB would be 512 Ki, under the cap.
    assert_eq!(env.curve_shape("1MiB").unwrap().records, 4096);
    assert_eq!(env.curve_shape("128MiB").unwrap().records, 512 * 1024);
    assert!(env.curve_shape("2MiB").is_none());
    let tiny = isolation_plugins::store::curve_shape(128 << 20, 1);
    assert_eq!(tiny.records, CURVE_MAX_RECORDS, "1-byte records are capped");
    let mut probe = NativeProbe::with_env(Arc::clone(&env));
    use costmodel::IsolationProbe;
    let ops = probe.extra_operations();
    for name in TABLE_ACCESS.iter().chain(&TABLE_SCATTERED) {
        assert!(ops.contains(name), "{name}");
    }
    assert_eq!(TABLE_SCATTERED.len(), CURVE_TABLES.len());
    for name in ["local_access.table=probe", "local_access.table=4MiB"] {
        probe.extra(name, 2048).unwrap();
    }
    probe
        .extra("local_access.scattered.table=1MiB", 64)
        .unwrap();
    assert_eq!(env.curve("4MiB").unwrap().shape().record_bytes, 256);
    let e = probe.extra("local_access.table=3MiB", 1).unwrap_err();
    assert!(e.to_string().contains("local_access.table=3MiB"), "{e}");
}
