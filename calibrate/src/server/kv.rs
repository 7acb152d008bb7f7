//! The project's KV protocol (the `examples` storage server), client side: length-prefixed
//! binary frames, little endian. Request `u32 len | u8 op | body`, response `u32 len | body`.
//!
//! | op | body | response body |
//! |---|---|---|
//! | GET (1) | `u64 key` | the record |
//! | MULTIGET (2) | `u16 n, n x u64 key` | the n records, concatenated |
//! | INVOKE (3) | `u8 scheme, u64 first key, u32 records, u32 rounds` | `u64 digest, u64 sum` |
//! | STATS (4) | - | six `u64` counters |
//!
//! A malformed request gets an error reply, `u32 (0x8000_0000 | n) | n bytes of text`, and the
//! server closes the connection; the driver turns it into a protocol error with the text.
//!
//! The server holds a fixed table (keys `0..n`, one record size) and has no store operation,
//! so [`ServerDriver::set`] is unsupported and the harness reads the records it holds. STATS is
//! the ping. The protocol has no version request.

use std::io::{Read, Write};

use super::conn::{Conn, shown};
use super::{DriverError, DriverResult, ServerDriver};

/// GET one record.
pub const OP_GET: u8 = 1;
/// GET several records in one request.
pub const OP_MULTIGET: u8 = 2;
/// Run the function inside the server.
pub const OP_INVOKE: u8 = 3;
/// Counters of the server thread.
pub const OP_STATS: u8 = 4;

/// Bytes of a STATS response body.
const STATS_BODY: usize = 6 * 8;
/// Largest response accepted (the server's own frame limit).
const MAX_FRAME: usize = 16 << 20;
/// The length word's flag marking an error reply (`u32 (ERROR_FLAG | n) | n bytes of text`).
pub const ERROR_FLAG: u32 = 0x8000_0000;
/// Longest error reply.
const MAX_ERROR: usize = 1024;

/// A KV-protocol connection.
#[derive(Debug)]
pub struct Kv<S> {
    conn: Conn<S>,
}

fn frame_len(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes()
}

impl<S: Read + Write + Send> Kv<S> {
    /// A driver over `stream`.
    pub fn new(stream: S) -> Self {
        Kv {
            conn: Conn::new(stream),
        }
    }

    /// Reads one response frame; returns its body length (the body is consumed). An error
    /// reply is a protocol error carrying the server's text.
    fn response(&mut self) -> DriverResult<usize> {
        let len = self.conn.exact(4)?;
        let word = u32::from_le_bytes([len[0], len[1], len[2], len[3]]);
        let n = usize::try_from(word & !ERROR_FLAG).unwrap_or(usize::MAX);
        if word & ERROR_FLAG != 0 {
            if n > MAX_ERROR {
                return Err(DriverError::Protocol(format!(
                    "an error reply of {n} bytes (over the protocol's {MAX_ERROR})"
                )));
            }
            let text = String::from_utf8_lossy(self.conn.exact(n)?).into_owned();
            return Err(DriverError::Protocol(format!(
                "the server answered an error: {}",
                shown(text.as_bytes())
            )));
        }
        if n > MAX_FRAME {
            return Err(DriverError::Protocol(format!(
                "a response frame of {n} bytes (over the protocol's 16 MiB)"
            )));
        }
        self.conn.skip(n)
    }

    fn stats(&mut self) -> DriverResult<()> {
        self.conn.out.extend_from_slice(&frame_len(1));
        self.conn.out.push(OP_STATS);
        self.conn.flush()?;
        let n = self.response()?;
        if n == STATS_BODY {
            Ok(())
        } else {
            Err(DriverError::Protocol(format!(
                "STATS answered {n} bytes, expected {STATS_BODY}"
            )))
        }
    }
}

impl<S: Read + Write + Send> ServerDriver for Kv<S> {
    fn protocol(&self) -> &str {
        "kv"
    }

    /// The KV protocol is spoken by the project's storage server only; a STATS round trip
    /// checks that this is one.
    fn name(&mut self) -> DriverResult<String> {
        self.stats()?;
        Ok("storage-server".to_owned())
    }

    fn version(&mut self) -> DriverResult<String> {
        Err(DriverError::Unsupported(
            "the KV protocol has no version request".to_owned(),
        ))
    }

    fn ping(&mut self) -> DriverResult<()> {
        self.stats()
    }

    fn set(&mut self, _key: u64, _value: &[u8]) -> DriverResult<()> {
        Err(DriverError::Unsupported(
            "the KV server holds a fixed table and has no store request".to_owned(),
        ))
    }

    fn queue_get(&mut self, keys: &[u64]) -> DriverResult<()> {
        let out = &mut self.conn.out;
        match keys {
            [] => return Err(DriverError::Unsupported("a get of no key".to_owned())),
            [k] => {
                out.extend_from_slice(&frame_len(9));
                out.push(OP_GET);
                out.extend_from_slice(&k.to_le_bytes());
            }
            _ => {
                let n = u16::try_from(keys.len()).map_err(|_| {
                    DriverError::Unsupported(format!(
                        "a MULTIGET of {} keys (at most 65535)",
                        keys.len()
                    ))
                })?;
                out.extend_from_slice(&frame_len(1 + 2 + 8 * keys.len()));
                out.push(OP_MULTIGET);
                out.extend_from_slice(&n.to_le_bytes());
                for k in keys {
                    out.extend_from_slice(&k.to_le_bytes());
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> DriverResult<()> {
        self.conn.flush()
    }

    fn read_get(&mut self, _keys: &[u64]) -> DriverResult<usize> {
        self.response()
    }

    /// `function` is the scheme index (`"0"`); `keys` must be consecutive (the protocol names a
    /// first key and a count). Runs zero kernel rounds.
    fn invoke(&mut self, function: &str, keys: &[u64]) -> DriverResult<Option<usize>> {
        let scheme: u8 = function.parse().map_err(|_| {
            DriverError::Unsupported(format!(
                "KV functions are scheme indexes 0-255, not {function:?}"
            ))
        })?;
        let first = keys.first().copied().unwrap_or(0);
        if keys.windows(2).any(|w| w[1] != w[0] + 1) {
            return Err(DriverError::Unsupported(
                "KV INVOKE reads consecutive keys only".to_owned(),
            ));
        }
        let records = u32::try_from(keys.len()).unwrap_or(u32::MAX);
        let out = &mut self.conn.out;
        out.extend_from_slice(&frame_len(1 + 1 + 8 + 4 + 4));
        out.push(OP_INVOKE);
        out.push(scheme);
        out.extend_from_slice(&first.to_le_bytes());
        out.extend_from_slice(&records.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        self.conn.flush()?;
        self.response().map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A tiny KV server over records of `key % 7 + 1` bytes: GET, MULTIGET, STATS; an unknown
    /// op gets an error reply and the connection is closed, as the real server does.
    fn tiny_server() -> std::net::SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let rec = |k: u64| vec![0xab; usize::try_from(k % 7 + 1).unwrap()];
            loop {
                let mut len = [0u8; 4];
                if s.read_exact(&mut len).is_err() {
                    return;
                }
                let mut f = vec![0; u32::from_le_bytes(len) as usize];
                s.read_exact(&mut f).unwrap();
                let key = |at: usize| u64::from_le_bytes(f[at..at + 8].try_into().unwrap());
                let body = match f[0] {
                    OP_GET => rec(key(1)),
                    OP_MULTIGET => {
                        let n = u16::from_le_bytes([f[1], f[2]]) as usize;
                        (0..n).flat_map(|i| rec(key(3 + 8 * i))).collect()
                    }
                    OP_STATS => vec![0; 48],
                    _ => {
                        let text = b"unknown op";
                        s.write_all(
                            &(ERROR_FLAG | u32::try_from(text.len()).unwrap()).to_le_bytes(),
                        )
                        .unwrap();
                        s.write_all(text).unwrap();
                        return;
                    }
                };
                s.write_all(&frame_len(body.len())).unwrap();
                s.write_all(&body).unwrap();
            }
        });
        addr
    }

    #[test]
    fn the_codec_talks_to_a_kv_server() {
        let addr = tiny_server();
        let s = super::super::connect_tcp(addr, std::time::Duration::from_secs(5)).unwrap();
        let mut d = Kv::new(s);
        d.ping().unwrap();
        assert_eq!(d.name().unwrap(), "storage-server");
        assert!(matches!(d.version(), Err(DriverError::Unsupported(_))));
        assert!(matches!(d.set(1, b"x"), Err(DriverError::Unsupported(_))));
        assert_eq!(d.get(6).unwrap(), 7);
        assert_eq!(d.multi_get(&[0, 1, 2]).unwrap(), 6);
        assert_eq!(d.pipelined_get(&[0, 1, 2, 3], 1).unwrap(), 10);
        assert_eq!(d.pipelined_get(&[0, 1, 2, 3], 3).unwrap(), 10);
        // The tiny server does not know INVOKE: its error reply comes back as a protocol error.
        let e = d.invoke("0", &[1, 2]).unwrap_err().to_string();
        assert!(e.contains("unknown op"), "{e}");
        assert!(matches!(d.get(1), Err(DriverError::Closed)));
    }
}
