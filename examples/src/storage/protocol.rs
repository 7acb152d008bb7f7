//! The wire protocol: length-prefixed binary frames over TCP.
//!
//! Request: `u32 len | u8 op | body`, response: `u32 len | body`, little endian.
//!
//! | op | body | response body |
//! |---|---|---|
//! | GET (1) | `u64 key` | the record (empty when the key is absent) |
//! | MULTIGET (2) | `u16 n, n x u64 key` | the n records, concatenated (absent keys add nothing) |
//! | INVOKE (3) | `u8 scheme, u64 first key, u32 records, u32 rounds` | `u64 digest, u64 checksum` |
//! | STATS (4) | - | `u64 server thread cpu ns, u64 invocations, u64 requests, u64 reads, u64 voluntary and u64 involuntary context switches` |
//!
//! Bodies have exactly the length the table gives (GET 8 bytes, MULTIGET `2 + 8n`, INVOKE 17,
//! STATS 0); a request frame is at most [`MAX_REQUEST_BYTES`] (a MULTIGET of 65,535 keys) and a
//! response at most [`MAX_RESPONSE_BYTES`].
//!
//! # Error reply
//!
//! A malformed request (unknown op, empty frame, a length over the cap, a body of the wrong
//! length, a MULTIGET count that does not match its keys, an unknown scheme, records or rounds
//! over `isolation_plugins::store`'s limits, an answer over the response cap) gets an error
//! reply: `u32 (ERROR_FLAG | n) | n bytes of UTF-8`, one line of at most [`MAX_ERROR_BYTES`]
//! bytes. A normal response never sets [`ERROR_FLAG`] (its length is capped far below it). The
//! server then sends nothing more on that connection: it shuts its side down (the client reads
//! end of file) and closes it. Responses to the requests before the bad one come first, in
//! order. Other connections are not affected. (Added with issue 12; before it, a bad frame
//! stopped the whole server, and extra bytes after a body were ignored.)

use std::fmt;
use std::io::{self, Read, Write};

/// GET one record.
pub const OP_GET: u8 = 1;
/// GET several records in one request.
pub const OP_MULTIGET: u8 = 2;
/// Run the function inside the server.
pub const OP_INVOKE: u8 = 3;
/// Counters of the server thread.
pub const OP_STATS: u8 = 4;

/// The most keys one MULTIGET carries (its count is a `u16`).
pub const MAX_MULTIGET_KEYS: usize = u16::MAX as usize;
/// The largest request frame (after the length prefix): a MULTIGET of [`MAX_MULTIGET_KEYS`].
pub const MAX_REQUEST_BYTES: usize = 1 + 2 + 8 * MAX_MULTIGET_KEYS;
/// The largest response body (16 MiB).
pub const MAX_RESPONSE_BYTES: usize = 16 << 20;
/// Set in a response's length word when the response is an error reply.
pub const ERROR_FLAG: u32 = 0x8000_0000;
/// The longest error text.
pub const MAX_ERROR_BYTES: usize = 1024;

/// Body bytes of GET, INVOKE and STATS.
const GET_BODY: usize = 8;
const INVOKE_BODY: usize = 17;

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

/// Why a request frame is malformed; its `Display` is the error reply's text.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// A frame of length 0 (no op).
    Empty,
    /// An op this protocol does not have.
    UnknownOp(u8),
    /// A length prefix over [`MAX_REQUEST_BYTES`].
    TooLong(u64),
    /// A body of the wrong length for its op.
    BodyLength {
        /// The op's name.
        op: &'static str,
        /// The length it must have.
        expected: usize,
        /// The length it has.
        found: usize,
    },
    /// A MULTIGET whose count does not match the keys that follow.
    KeyCount {
        /// The count.
        count: usize,
        /// Bytes of keys that follow it.
        key_bytes: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Empty => write!(f, "empty frame: expected an op byte, got none"),
            FrameError::UnknownOp(op) => {
                write!(
                    f,
                    "unknown op {op}: expected 1 (get), 2 (multiget), 3 (invoke) or 4 (stats)"
                )
            }
            FrameError::TooLong(n) => write!(
                f,
                "frame length {n} over the cap of {MAX_REQUEST_BYTES} bytes"
            ),
            FrameError::BodyLength {
                op,
                expected,
                found,
            } => write!(f, "{op} body must be {expected} bytes, got {found}"),
            FrameError::KeyCount { count, key_bytes } => write!(
                f,
                "multiget count {count} needs {} bytes of keys, got {key_bytes}",
                8 * count
            ),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<FrameError> for io::Error {
    fn from(e: FrameError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

fn exact<const N: usize>(op: &'static str, body: &[u8]) -> Result<[u8; N], FrameError> {
    body.try_into().map_err(|_| FrameError::BodyLength {
        op,
        expected: N,
        found: body.len(),
    })
}

fn word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]))
}

fn half(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().unwrap_or([0; 4]))
}

/// Decodes one request frame body (after the length prefix).
///
/// # Errors
/// [`FrameError`] for an empty frame, an unknown op, or a body of the wrong length.
pub fn decode(frame: &[u8]) -> Result<Request<'_>, FrameError> {
    let (&op, body) = frame.split_first().ok_or(FrameError::Empty)?;
    match op {
        OP_GET => Ok(Request::Get(u64::from_le_bytes(exact::<GET_BODY>(
            "get", body,
        )?))),
        OP_MULTIGET => {
            let count = exact::<2>("multiget count", body.get(..2).unwrap_or(body))?;
            let count = usize::from(u16::from_le_bytes(count));
            let keys = &body[2..];
            if keys.len() != 8 * count {
                return Err(FrameError::KeyCount {
                    count,
                    key_bytes: keys.len(),
                });
            }
            Ok(Request::MultiGet(KeyList(keys)))
        }
        OP_INVOKE => {
            let b = exact::<INVOKE_BODY>("invoke", body)?;
            Ok(Request::Invoke {
                scheme: b[0],
                first_key: word(&b[1..9]),
                records: half(&b[9..13]),
                rounds: half(&b[13..17]),
            })
        }
        OP_STATS => {
            exact::<0>("stats", body)?;
            Ok(Request::Stats)
        }
        _ => Err(FrameError::UnknownOp(op)),
    }
}

/// Checks a request's length prefix.
///
/// # Errors
/// [`FrameError::TooLong`] over [`MAX_REQUEST_BYTES`].
pub fn request_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let n = u32::from_le_bytes(prefix);
    match usize::try_from(n) {
        Ok(n) if n <= MAX_REQUEST_BYTES => Ok(n),
        _ => Err(FrameError::TooLong(u64::from(n))),
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

/// Reads one response into `buf` (reusing it), growing `buf` only as bytes arrive: a length
/// prefix alone never allocates its length.
///
/// # Errors
/// I/O errors, including `UnexpectedEof` when the peer closed; `InvalidData` for a length over
/// [`MAX_RESPONSE_BYTES`]; an error reply comes back as `Other` carrying the server's text
/// (see [`ServerRefused`]).
pub fn read_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> io::Result<()> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let word = u32::from_le_bytes(len);
    let n = usize::try_from(word & !ERROR_FLAG).unwrap_or(usize::MAX);
    let cap = if word & ERROR_FLAG != 0 {
        MAX_ERROR_BYTES
    } else {
        MAX_RESPONSE_BYTES
    };
    if n > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("response length {n} over the cap of {cap} bytes"),
        ));
    }
    buf.clear();
    while buf.len() < n {
        // At most 64 KiB more than has arrived; a reused `buf` keeps its capacity.
        let at = buf.len();
        buf.resize(n.min(at + (64 << 10)), 0);
        r.read_exact(&mut buf[at..])?;
    }
    if word & ERROR_FLAG != 0 {
        return Err(io::Error::other(ServerRefused(
            String::from_utf8_lossy(buf).into_owned(),
        )));
    }
    Ok(())
}

/// An error reply's text, as [`read_frame`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRefused(pub String);

impl fmt::Display for ServerRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server refused the request: {}", self.0)
    }
}

impl std::error::Error for ServerRefused {}

/// Appends an error reply carrying `text` (cut to [`MAX_ERROR_BYTES`] at a character boundary,
/// newlines replaced by spaces) to `out`.
pub fn encode_error(out: &mut Vec<u8>, text: &str) {
    let mut end = text.len().min(MAX_ERROR_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let text = text[..end].replace(['\n', '\r'], " ");
    let n = u32::try_from(text.len()).unwrap_or(0);
    out.extend_from_slice(&(ERROR_FLAG | n).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
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
        assert_eq!(decode(&[99]), Err(FrameError::UnknownOp(99)));
        assert!(decode(&[OP_GET, 1, 2]).is_err());
    }

    #[test]
    fn malformed_frames_are_refused_with_what_was_wrong() {
        assert_eq!(decode(&[]), Err(FrameError::Empty));
        let mut get = vec![OP_GET];
        get.extend_from_slice(&[0; 9]);
        assert_eq!(
            decode(&get).unwrap_err().to_string(),
            "get body must be 8 bytes, got 9"
        );
        assert_eq!(
            decode(&[OP_MULTIGET, 2, 0, 1, 2, 3, 4, 5, 6, 7, 8]),
            Err(FrameError::KeyCount {
                count: 2,
                key_bytes: 8
            })
        );
        assert!(decode(&[OP_MULTIGET, 2]).is_err());
        assert_eq!(
            decode(&[OP_MULTIGET, 0, 0]).map(|r| r == Request::MultiGet(KeyList(&[]))),
            Ok(true)
        );
        assert!(decode(&[OP_STATS, 0]).is_err());
        assert!(decode(&[OP_INVOKE, 0]).is_err());
        assert_eq!(
            request_len(u32::try_from(MAX_REQUEST_BYTES).unwrap().to_le_bytes()),
            Ok(MAX_REQUEST_BYTES)
        );
        assert!(request_len((16u32 << 20).to_le_bytes()).is_err());
        // The largest MULTIGET fits the request cap.
        let mut big = Vec::new();
        encode_multiget(&mut big, &vec![7; MAX_MULTIGET_KEYS]);
        assert_eq!(big.len() - 4, MAX_REQUEST_BYTES);
        assert!(
            matches!(decode(&big[4..]), Ok(Request::MultiGet(k)) if k.len() == MAX_MULTIGET_KEYS)
        );
    }

    #[test]
    fn an_error_reply_reads_back_as_the_servers_text() {
        let mut out = Vec::new();
        encode_error(&mut out, "bad\nthing");
        let mut buf = Vec::new();
        let e = read_frame(&mut out.as_slice(), &mut buf).unwrap_err();
        let refused = e.get_ref().and_then(|e| e.downcast_ref::<ServerRefused>());
        assert_eq!(refused, Some(&ServerRefused("bad thing".into())));
        // A response claiming more than the cap is refused before reading its body.
        let mut huge = u32::try_from(MAX_RESPONSE_BYTES + 1)
            .unwrap()
            .to_le_bytes()
            .to_vec();
        huge.extend_from_slice(&[0; 8]);
        assert_eq!(
            read_frame(&mut huge.as_slice(), &mut buf)
                .unwrap_err()
                .kind(),
            io::ErrorKind::InvalidData
        );
    }
}
