//! The storage server's frame decoder (examples/src/storage/protocol.rs, compiled in here by
//! path so the fuzz build does not instrument the examples crate's wasmtime dependency).
//!
//! Input: bytes as the server reads them from a connection. Each length-prefixed frame is
//! checked and decoded until the bytes run out or a frame is refused; a decoded request encodes
//! back to the same frame; reading a response never allocates more than the bytes received.
#![no_main]

#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "../../examples/src/storage/protocol.rs"]
mod protocol;

use libfuzzer_sys::fuzz_target;
use protocol::Request;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while rest.len() >= 4 {
        let prefix = [rest[0], rest[1], rest[2], rest[3]];
        let Ok(n) = protocol::request_len(prefix) else {
            break;
        };
        let Some(frame) = rest.get(4..4 + n) else {
            break;
        };
        rest = &rest[4 + n..];
        let Ok(req) = protocol::decode(frame) else {
            break;
        };
        let mut again = Vec::new();
        match req {
            Request::Get(k) => protocol::encode_get(&mut again, k),
            Request::MultiGet(keys) => {
                let keys: Vec<u64> = keys.iter().collect();
                assert_eq!(keys.len() * 8 + 3, frame.len());
                protocol::encode_multiget(&mut again, &keys);
            }
            Request::Invoke {
                scheme,
                first_key,
                records,
                rounds,
            } => protocol::encode_invoke(&mut again, scheme, first_key, records, rounds),
            Request::Stats => protocol::encode_stats(&mut again),
        }
        assert_eq!(&again[4..], frame, "decode then encode changed the frame");
    }
    // The client's response reader: growth follows the bytes that arrived (at most one 64 KiB
    // step ahead of them), whatever the length prefix says.
    let mut buf = Vec::new();
    let _ = protocol::read_frame(&mut std::io::Cursor::new(data), &mut buf);
    assert!(
        buf.capacity() <= data.len() + (64 << 10),
        "{} bytes allocated for {} received",
        buf.capacity(),
        data.len()
    );
});
