//! The storage-function instances of every scheme that has one compute the same answer as the
//! native reference, for a range of record counts and kernel rounds.

use std::sync::Arc;

use isolation_plugins::store::{
    MAX_RECORDS, MapStore, RecordSource, StorageCall, StorageFunction, reference_output,
};

fn instances(source: &Arc<dyn RecordSource>) -> Vec<Box<dyn StorageFunction>> {
    #[allow(unused_mut)]
    let mut v: Vec<Box<dyn StorageFunction>> = Vec::new();
    #[cfg(feature = "native")]
    v.push(Box::new(isolation_plugins::native::NativeInstance::new(
        source.clone(),
    )));
    #[cfg(feature = "ebpf")]
    {
        use isolation_plugins::ebpf::{EbpfInstance, Mode};
        v.push(Box::new(
            EbpfInstance::new(source.clone(), Mode::Interpreter).unwrap(),
        ));
        v.push(Box::new(
            EbpfInstance::new(source.clone(), Mode::Jit).unwrap(),
        ));
    }
    #[cfg(feature = "wasm")]
    {
        use isolation_plugins::wasm::{Allocator, WasmRuntime};
        for a in [Allocator::OnDemand, Allocator::Pooling] {
            let rt = WasmRuntime::new(a).unwrap();
            v.push(Box::new(rt.instantiate(source.clone()).unwrap()));
        }
    }
    let _ = source;
    v
}

#[test]
fn every_instance_matches_the_reference() {
    let mut store = MapStore::synthetic(40, 100);
    store.insert(41, vec![0xab; 3]); // short record: zero-padded digest word
    store.insert(42, vec![7; 10_000]); // longer than the scratch buffer: truncated copy
    let source: Arc<dyn RecordSource> = Arc::new(store);
    for mut f in instances(&source) {
        for (first_key, records, rounds) in
            [(0, 0, 0), (0, 1, 1), (5, 32, 3), (30, 20, 0), (0, 50, 7)]
        {
            let call = StorageCall {
                first_key,
                records,
                rounds,
            };
            let want = reference_output(&*source, call).unwrap();
            let got = f.run(call).unwrap();
            assert_eq!(got, want, "{} on {call:?}", f.scheme());
        }
    }
}

#[test]
fn instances_reject_out_of_range_calls() {
    let source: Arc<dyn RecordSource> = Arc::new(MapStore::synthetic(4, 8));
    for mut f in instances(&source) {
        let call = StorageCall {
            first_key: 0,
            records: MAX_RECORDS + 1,
            rounds: 0,
        };
        let err = f.run(call).unwrap_err().to_string();
        assert!(err.contains("records"), "{}: {err}", f.scheme());
    }
}
