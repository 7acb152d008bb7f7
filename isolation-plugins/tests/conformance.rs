//! Every compiled-in scheme passes the costmodel conformance kit, and every probe that exists
//! on this host runs each operation once with the right kernel checksum.

use costmodel::conformance::{assert_conformant, check_probe};

#[test]
fn every_scheme_is_conformant() {
    let schemes = isolation_plugins::schemes();
    let any_feature = cfg!(any(
        feature = "native",
        feature = "process",
        feature = "vm",
        feature = "mpk",
        feature = "ebpf",
        feature = "wasm",
        feature = "redis"
    ));
    assert_eq!(schemes.is_empty(), !any_feature);
    for s in &schemes {
        assert_conformant(s);
        assert_conformant(&**s);
    }
}

#[test]
fn every_available_probe_passes_check_probe() {
    for s in isolation_plugins::schemes() {
        match s.probe() {
            None => println!(
                "skipped probe of {}: {:?} (not measurable on this host)",
                s.id(),
                s.support()
            ),
            Some(Err(e)) => panic!("probe of {} failed to start: {e}", s.id()),
            Some(Ok(mut p)) => {
                if let Err(e) = check_probe(s.id().as_str(), &mut *p) {
                    panic!("{e}");
                }
                println!("{}: conformant probe, notes {:?}", s.id(), p.notes());
            }
        }
    }
}

#[test]
fn scheme_ids_are_distinct_and_match_features() {
    let ids: Vec<String> = isolation_plugins::schemes()
        .iter()
        .map(|s| s.id().to_string())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "{ids:?}");
    for (feature, on) in [
        ("native", cfg!(feature = "native")),
        ("process", cfg!(feature = "process")),
        ("vm", cfg!(feature = "vm")),
        ("mpk", cfg!(feature = "mpk")),
        ("ebpf", cfg!(feature = "ebpf")),
        ("wasm", cfg!(feature = "wasm")),
        ("redis", cfg!(feature = "redis")),
    ] {
        assert_eq!(ids.iter().any(|i| i == feature), on, "{feature}: {ids:?}");
    }
}

#[test]
fn schemes_are_send_and_sync() {
    fn is_send_sync<T: Send + Sync + ?Sized>() {}
    is_send_sync::<dyn costmodel::IsolationScheme>();
    is_send_sync::<isolation_plugins::PluginError>();
    is_send_sync::<isolation_plugins::MapStore>();
}
