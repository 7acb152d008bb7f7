//! The wire protocol: length-prefixed binary frames over TCP.
//!
//! Request: `u32 len | u8 op | body`, response: `u32 len | body`, little endian.
//!
//! | op | body | response body |
//! |---|---|---|
//! | GET (1) | `u64 key` | the record |
//! | MULTIGET (2) | `u16 n, n x u64 key` | the n records, concatenated |
//! | INVOKE (3) | `u8 scheme, u64 first key, u32 records, u32 rounds` | `u64 digest, u64 checksum` |
//! | STATS (4) | - | `u64 server thread cpu ns, u64 invocations, u64 requests, u64 reads, u64 voluntary and u64 involuntary context switches` |

use std::io::{self, Read, Write};

/// GET one record.
pub const OP_GET: u8 = 1;
/// GET several records in one request.
pub const OP_MULTIGET: u8 = 2;
/// Run the function inside the server.
pub const OP_INVOKE: u8 = 3;
/// Counters of the server thread.
pub const OP_STATS: u8 = 4;

/// A request as the server decodes it (keys borrowed from the frame).
#[derive(Debug, PartialEq)]
pub enum Request<'a> {
    /// GET.
    Get(u64),
    /// MULTIGET.
    MultiGet(KeyList<'a>),
    /// INVOKE: run the standard storage function over keys `first_key..first_key + records`.
    Invoke {
        /// Which scheme runs the function.
        scheme: u8,
        /// First key read.
        first_key: u64,
        /// Records read.
        records: u32,
        /// Kernel rounds (compute).
        rounds: u32,
    },
    /// STATS.
    Stats,
}

/// Keys packed little-endian in a frame.
#[derive(Debug, PartialEq, Clone, Copy)]
pub struct KeyList<'a>(&'a [u8]);

impl<'a> KeyList<'a> {
    /// Number of keys.
    pub fn len(&self) -> usize {
        self.0.len() / 8
    }

    /// True when there is no key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The keys.
    pub fn iter(&self) -> impl Iterator<Item = u64> + 'a {
        self.0
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

fn keys(body: &[u8]) -> io::Result<KeyList<'_>> {
    let n = usize::from(u16::from_le_bytes(
        body.get(..2)
            .ok_or_else(|| bad("short key list"))?
            .try_into()
            .map_err(|_| bad("short"))?,
    ));
    let list = body
        .get(2..2 + 8 * n)
        .ok_or_else(|| bad("key list shorter than its count"))?;
    Ok(KeyList(list))
}

/// Decodes one request frame body (after the length prefix).
///
/// # Errors
/// `InvalidData` for an unknown op or a short body.
pub fn decode(frame: &[u8]) -> io::Result<Request<'_>> {
    let (&op, body) = frame.split_first().ok_or_else(|| bad("empty frame"))?;
    match op {
        OP_GET => Ok(Request::Get(u64::from_le_bytes(
            body.get(..8)
                .ok_or_else(|| bad("short get"))?
                .try_into()
                .map_err(|_| bad("short"))?,
        ))),
        OP_MULTIGET => Ok(Request::MultiGet(keys(body)?)),
        OP_INVOKE => {
            let field =
                |at: usize, n: usize| body.get(at..at + n).ok_or_else(|| bad("short invoke"));
            let word = |at: usize| -> io::Result<[u8; 8]> {
                field(at, 8)?.try_into().map_err(|_| bad("short invoke"))
            };
            let half = |at: usize| -> io::Result<[u8; 4]> {
                field(at, 4)?.try_into().map_err(|_| bad("short invoke"))
            };
            Ok(Request::Invoke {
                scheme: field(0, 1)?[0],
                first_key: u64::from_le_bytes(word(1)?),
                records: u32::from_le_bytes(half(9)?),
                rounds: u32::from_le_bytes(half(13)?),
            })
        }
        OP_STATS => Ok(Request::Stats),
        _ => Err(bad("unknown op")),
    }
}

fn frame_len(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes()
}

fn key_count(keys: &[u64]) -> [u8; 2] {
    u16::try_from(keys.len()).unwrap_or(u16::MAX).to_le_bytes()
}

/// Appends a GET request to `out`.
pub fn encode_get(out: &mut Vec<u8>, key: u64) {
    out.extend_from_slice(&frame_len(9));
    out.push(OP_GET);
    out.extend_from_slice(&key.to_le_bytes());
}

/// Appends a MULTIGET request to `out`.
pub fn encode_multiget(out: &mut Vec<u8>, keys: &[u64]) {
    out.extend_from_slice(&frame_len(1 + 2 + 8 * keys.len()));
    out.push(OP_MULTIGET);
    out.extend_from_slice(&key_count(keys));
    for k in keys {
        out.extend_from_slice(&k.to_le_bytes());
    }
}

/// Bytes of an INVOKE request on the wire (length prefix included).
pub const INVOKE_BYTES: usize = 4 + 1 + 1 + 8 + 4 + 4;
/// Bytes of an INVOKE response on the wire.
pub const INVOKE_RESPONSE_BYTES: usize = 4 + 16;
/// Bytes of a GET request on the wire.
pub const GET_BYTES: usize = 4 + 1 + 8;

/// Appends an INVOKE request to `out`.
pub fn encode_invoke(out: &mut Vec<u8>, scheme: u8, first_key: u64, records: u32, rounds: u32) {
    out.extend_from_slice(&frame_len(INVOKE_BYTES - 4));
    out.push(OP_INVOKE);
    out.push(scheme);
    out.extend_from_slice(&first_key.to_le_bytes());
    out.extend_from_slice(&records.to_le_bytes());
    out.extend_from_slice(&rounds.to_le_bytes());
}

/// Appends a STATS request to `out`.
pub fn encode_stats(out: &mut Vec<u8>) {
    out.extend_from_slice(&frame_len(1));
    out.push(OP_STATS);
}

/// Reads one length-prefixed frame into `buf` (reusing it).
///
/// # Errors
/// I/O errors, including `UnexpectedEof` when the peer closed.
pub fn read_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let n = usize::try_from(u32::from_le_bytes(len)).map_err(|_| bad("frame too long"))?;
    if n > 16 << 20 {
        return Err(bad("frame too long"));
    }
    buf.resize(n, 0);
    r.read_exact(buf)
}

/// Writes a response frame.
///
/// # Errors
/// I/O errors.
pub fn write_response(w: &mut impl Write, parts: &[&[u8]]) -> io::Result<()> {
    let n: usize = parts.iter().map(|p| p.len()).sum();
    w.write_all(&frame_len(n))?;
    for p in parts {
        w.write_all(p)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_through_the_encoding() {
        let mut out = Vec::new();
        encode_invoke(&mut out, 2, 5, 3, 77);
        assert_eq!(out.len(), INVOKE_BYTES);
        assert_eq!(
            decode(&out[4..]).unwrap(),
            Request::Invoke {
                scheme: 2,
                first_key: 5,
                records: 3,
                rounds: 77
            }
        );
        out.clear();
        encode_multiget(&mut out, &[1, 2]);
        assert!(matches!(decode(&out[4..]).unwrap(), Request::MultiGet(k) if k.len() == 2));
        assert!(decode(&[99]).is_err());
        assert!(decode(&[OP_GET, 1, 2]).is_err());
    }
}
