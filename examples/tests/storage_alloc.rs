//! Regression test for issue 12: the storage server's allocation follows the bytes it actually
//! received, not the length a frame claims. A counting allocator (this test binary's global
//! allocator, so this file holds one test) records the largest single allocation while a client
//! sends length prefixes alone.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use examples::storage::experiment;
use examples::storage::kv::Store;
use examples::storage::server::{self, FunctionFactory};

/// The system allocator, recording the largest allocation since the last reset.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only records sizes.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout (every allocation goes there).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: as for `dealloc`, and the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

#[test]
fn a_length_prefix_alone_does_not_allocate_its_length() {
    let store = Arc::new(Store::new(100, 100));
    let factories: Vec<FunctionFactory> = experiment::builtin_schemes()
        .unwrap()
        .iter()
        .map(|s| Box::new(s.make) as FunctionFactory)
        .collect();
    let server = server::spawn(store, factories, 0).unwrap();
    let mut clients = Vec::new();
    // 16 MiB (the old cap, accepted before), and 500,000 bytes (under any cap that admits the
    // largest MULTIGET): each followed by a few bytes of body only.
    for claimed in [16u32 << 20, 500_000] {
        let mut c = TcpStream::connect(server.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        LARGEST.store(0, Ordering::SeqCst);
        c.write_all(&claimed.to_le_bytes()).unwrap();
        c.write_all(&[2, 0, 1, 7, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        // Give the server time to read what was sent (an over-cap length gets an error reply).
        let mut reply = [0u8; 64];
        let _ = c.read(&mut reply);
        std::thread::sleep(Duration::from_millis(100));
        let largest = LARGEST.load(Ordering::SeqCst);
        assert!(
            largest < 300_000,
            "a {claimed}-byte length prefix with 11 bytes of body made a {largest}-byte allocation"
        );
        clients.push(c);
    }
    drop(clients);
    server.stop().unwrap();
}
