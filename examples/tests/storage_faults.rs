//! Regression tests for the storage server's holes found in issue 12: a bad frame must close only
//! its own connection (with an error reply), and a client that stops halfway through a frame, or
//! stops reading its responses, must not stall anyone else.
//!
//! The tests speak the wire format with raw bytes, independently of `protocol`'s encoders, and
//! every read has a timeout, so a stalled server fails a test instead of hanging it.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use examples::storage::experiment;
use examples::storage::kv::Store;
use examples::storage::server::{self, FunctionFactory, ServerHandle};

const RECORDS: u64 = 1000;
const RECORD_BYTES: usize = 100;
const PATIENCE: Duration = Duration::from_secs(5);

fn start() -> (Arc<Store>, ServerHandle) {
    let store = Arc::new(Store::new(RECORDS, RECORD_BYTES));
    let factories: Vec<FunctionFactory> = experiment::builtin_schemes()
        .unwrap()
        .iter()
        .map(|s| Box::new(s.make) as FunctionFactory)
        .collect();
    let server = server::spawn(Arc::clone(&store), factories, 0).unwrap();
    (store, server)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    c.set_write_timeout(Some(PATIENCE)).unwrap();
    c
}

/// What came back for one request.
#[derive(Debug, PartialEq)]
enum Reply {
    /// A normal response body.
    Body(Vec<u8>),
    /// An error reply (length word with the top bit set) and its text.
    Error(String),
    /// The server closed the connection.
    Closed,
    /// Nothing within the patience: the server is stalled.
    Silent,
}

fn read_reply(c: &mut TcpStream) -> Reply {
    let mut len = [0u8; 4];
    if let Err(e) = c.read_exact(&mut len) {
        return match e.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => Reply::Silent,
            _ => Reply::Closed,
        };
    }
    let word = u32::from_le_bytes(len);
    let n = usize::try_from(word & 0x7fff_ffff).unwrap();
    assert!(n <= 16 << 20, "response length {n} over the 16 MiB cap");
    let mut body = vec![0u8; n];
    c.read_exact(&mut body).expect("a response's body");
    if word & 0x8000_0000 != 0 {
        Reply::Error(String::from_utf8(body).expect("error text is UTF-8"))
    } else {
        Reply::Body(body)
    }
}

fn get(key: u64) -> Vec<u8> {
    let mut f = 9u32.to_le_bytes().to_vec();
    f.push(1);
    f.extend_from_slice(&key.to_le_bytes());
    f
}

fn invoke(scheme: u8, first_key: u64, records: u32, rounds: u32) -> Vec<u8> {
    let mut f = 18u32.to_le_bytes().to_vec();
    f.push(3);
    f.push(scheme);
    f.extend_from_slice(&first_key.to_le_bytes());
    f.extend_from_slice(&records.to_le_bytes());
    f.extend_from_slice(&rounds.to_le_bytes());
    f
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut f = u32::try_from(body.len()).unwrap().to_le_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

/// A GET on `c` is answered with the right record.
fn assert_served(c: &mut TcpStream, store: &Store, key: u64, what: &str) {
    c.write_all(&get(key)).unwrap();
    assert_eq!(
        read_reply(c),
        Reply::Body(store.get(key).unwrap().to_vec()),
        "GET {key} {what}"
    );
}

/// Each malformed frame the issue lists, as bytes on the wire.
fn malformed() -> Vec<(&'static str, Vec<u8>)> {
    let mut short_count = 11u32.to_le_bytes().to_vec();
    short_count.extend_from_slice(&[2, 5, 0]);
    short_count.extend_from_slice(&7u64.to_le_bytes());
    vec![
        ("unknown op", framed(&[99, 1, 2, 3])),
        ("empty frame", framed(&[])),
        (
            "length over the cap",
            ((16u32 << 20) + 1).to_le_bytes().to_vec(),
        ),
        ("short body", framed(&[1, 0, 0, 0, 0])),
        ("bad multi-get count", short_count),
        ("unknown scheme", invoke(200, 0, 1, 1)),
        ("too many records", invoke(0, 0, (1 << 20) + 1, 1)),
    ]
}

#[test]
fn each_malformed_frame_gets_an_error_reply_and_closes_only_its_connection() {
    let (store, server) = start();
    // A client connected before the bad frames, served between each of them.
    let mut bystander = connect(server.addr);
    assert_served(&mut bystander, &store, 1, "before any bad frame");
    for (i, (what, bytes)) in malformed().into_iter().enumerate() {
        let mut bad = connect(server.addr);
        // A good request first: its answer must still come back, before the error.
        bad.write_all(&get(3)).unwrap();
        bad.write_all(&bytes).unwrap();
        assert_eq!(
            read_reply(&mut bad),
            Reply::Body(store.get(3).unwrap().to_vec()),
            "the request before the {what}"
        );
        match read_reply(&mut bad) {
            Reply::Error(text) => assert!(
                !text.is_empty() && !text.contains('\n'),
                "{what}: error text {text:?}"
            ),
            other => panic!("{what}: expected an error reply, got {other:?}"),
        }
        assert_eq!(read_reply(&mut bad), Reply::Closed, "{what}: then closed");
        let key = 10 + i as u64;
        assert_served(&mut bystander, &store, key, &format!("after a {what}"));
        assert_served(
            &mut connect(server.addr),
            &store,
            key,
            &format!("new, after a {what}"),
        );
    }
    drop(bystander);
    server.stop().unwrap();
}

#[test]
fn a_client_that_sends_half_a_frame_does_not_stall_the_others() {
    let (store, server) = start();
    let mut half = connect(server.addr);
    half.write_all(&get(5)[..7]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut other = connect(server.addr);
    assert_served(
        &mut other,
        &store,
        6,
        "while another client holds half a frame",
    );
    // The half frame, completed later, is still answered.
    half.write_all(&get(5)[7..]).unwrap();
    assert_eq!(
        read_reply(&mut half),
        Reply::Body(store.get(5).unwrap().to_vec())
    );
    drop((half, other));
    server.stop().unwrap();
}

#[test]
fn a_client_that_never_reads_its_responses_does_not_stall_the_others() {
    let (store, server) = start();
    let mut greedy = connect(server.addr);
    // MULTIGETs of 512 records (51 KB each answered) until the socket buffers are full both
    // ways: the server can no longer write to this client.
    let mut body = vec![2u8];
    body.extend_from_slice(&512u16.to_le_bytes());
    for k in 0..512u64 {
        body.extend_from_slice(&k.to_le_bytes());
    }
    let request = framed(&body);
    greedy.set_nonblocking(true).unwrap();
    let (mut sent, mut at, mut blocked) = (0usize, 0usize, 0);
    while blocked < 20 && sent < 256 << 20 {
        match greedy.write(&request[at..]) {
            Ok(n) => {
                sent += n;
                at = (at + n) % request.len();
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                blocked += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("writing to the server: {e}"),
        }
    }
    let mut other = connect(server.addr);
    assert_served(&mut other, &store, 7, "while another client does not read");
    drop((greedy, other));
    server.stop().unwrap();
}
