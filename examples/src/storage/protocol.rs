//! The wire protocol: length-prefixed binary frames over TCP.
//!
//! Request: `u32 len | u8 op | body`, response: `u32 len | body`, little endian.
//!
//! | op | body | response body |
//! |---|---|---|
//! | GET (1) | `u64 key` | the record |
//! | MULTIGET (2) | `u16 n, n x u64 key` | the n records, concatenated |
//! | INVOKE (3) | `u8 scheme, u32 rounds, u16 n, n x u64 key` | `u64 result` |
//! | STATS (4) | - | `u64 server thread cpu ns, u64 invocations, u64 requests` |

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
    /// INVOKE.
    Invoke {
        /// Which scheme runs the function.
        scheme: u8,
        /// Kernel rounds (compute).
        rounds: u32,
        /// Records to read.
        keys: KeyList<'a>,
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
            let scheme = *body.first().ok_or_else(|| bad("short invoke"))?;
            let rounds = u32::from_le_bytes(
                body.get(1..5)
                    .ok_or_else(|| bad("short invoke"))?
                    .try_into()
                    .map_err(|_| bad("short"))?,
            );
            Ok(Request::Invoke {
                scheme,
                rounds,
                keys: keys(&body[5..])?,
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

/// Appends an INVOKE request to `out`.
pub fn encode_invoke(out: &mut Vec<u8>, scheme: u8, rounds: u32, keys: &[u64]) {
    out.extend_from_slice(&frame_len(1 + 1 + 4 + 2 + 8 * keys.len()));
    out.push(OP_INVOKE);
    out.push(scheme);
    out.extend_from_slice(&rounds.to_le_bytes());
    out.extend_from_slice(&key_count(keys));
    for k in keys {
        out.extend_from_slice(&k.to_le_bytes());
    }
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
        encode_invoke(&mut out, 2, 77, &[5, 6, 7]);
        let body = &out[4..];
        match decode(body).unwrap() {
            Request::Invoke {
                scheme,
                rounds,
                keys,
            } => {
                assert_eq!((scheme, rounds), (2, 77));
                assert_eq!(keys.iter().collect::<Vec<_>>(), [5, 6, 7]);
            }
            other => panic!("{other:?}"),
        }
        out.clear();
        encode_multiget(&mut out, &[1, 2]);
        assert!(matches!(decode(&out[4..]).unwrap(), Request::MultiGet(k) if k.len() == 2));
        assert!(decode(&[99]).is_err());
        assert!(decode(&[OP_GET, 1, 2]).is_err());
    }
}
