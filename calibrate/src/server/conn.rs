//! A buffered request/reply connection over any `Read + Write` stream: the drivers' common
//! plumbing. Requests are queued in a write buffer and sent by [`Conn::flush`], so a driver can
//! pipeline (queue N requests, flush once, read N replies); replies are read through a read
//! buffer, by line (`\r\n`-terminated text protocols) or by length.

use std::io::{self, Read, Write};

use super::{DriverError, DriverResult};

/// Longest reply line accepted (a header line of RESP or memcached; a value is read by length).
const MAX_LINE: usize = 64 << 10;

/// A stream with a read buffer and a write buffer.
#[derive(Debug)]
pub struct Conn<S> {
    stream: S,
    rbuf: Vec<u8>,
    start: usize,
    end: usize,
    /// Requests queued and not yet sent.
    pub out: Vec<u8>,
}

impl<S: Read + Write> Conn<S> {
    /// Wraps `stream`.
    pub fn new(stream: S) -> Self {
        Conn {
            stream,
            rbuf: vec![0; 64 << 10],
            start: 0,
            end: 0,
            out: Vec::with_capacity(4096),
        }
    }

    /// Sends every queued request.
    ///
    /// # Errors
    /// The stream's write error (a timeout reads as [`DriverError::Timeout`]).
    pub fn flush(&mut self) -> DriverResult<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).map_err(io_error)?;
            self.out.clear();
        }
        self.stream.flush().map_err(io_error)
    }

    /// Reads more bytes into the buffer (compacting or growing it first).
    fn fill(&mut self) -> DriverResult<()> {
        if self.start > 0 {
            self.rbuf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.rbuf.len() {
            let n = self.rbuf.len() * 2;
            self.rbuf.resize(n, 0);
        }
        let n = self
            .stream
            .read(&mut self.rbuf[self.end..])
            .map_err(io_error)?;
        if n == 0 {
            return Err(DriverError::Closed);
        }
        self.end += n;
        Ok(())
    }

    /// The next line, without its `\r\n` (a bare `\n` is accepted too).
    ///
    /// # Errors
    /// I/O errors, [`DriverError::Closed`], or a protocol error for a line over 64 KiB.
    pub fn line(&mut self) -> DriverResult<&[u8]> {
        let mut scanned = 0;
        loop {
            let avail = &self.rbuf[self.start + scanned..self.end];
            if let Some(i) = avail.iter().position(|&b| b == b'\n') {
                let nl = self.start + scanned + i;
                let begin = self.start;
                self.start = nl + 1;
                let stop = if nl > begin && self.rbuf[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                return Ok(&self.rbuf[begin..stop]);
            }
            scanned = self.end - self.start;
            if scanned > MAX_LINE {
                return Err(DriverError::Protocol(format!(
                    "a reply line longer than {MAX_LINE} bytes"
                )));
            }
            self.fill()?;
        }
    }

    /// Consumes exactly `n` bytes (a value read by length), returning how many were consumed.
    ///
    /// # Errors
    /// I/O errors or [`DriverError::Closed`].
    pub fn skip(&mut self, n: usize) -> DriverResult<usize> {
        let mut left = n;
        while left > 0 {
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
                self.fill()?;
            }
            let take = left.min(self.end - self.start);
            self.start += take;
            left -= take;
        }
        Ok(n)
    }

    /// Reads exactly `n` bytes into a slice of the buffer.
    ///
    /// # Errors
    /// I/O errors or [`DriverError::Closed`].
    pub fn exact(&mut self, n: usize) -> DriverResult<&[u8]> {
        while self.end - self.start < n {
            if self.start + n > self.rbuf.len() {
                // Compact and grow so the whole frame fits.
                self.rbuf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if n > self.rbuf.len() {
                    self.rbuf.resize(n, 0);
                }
            }
            self.fill()?;
        }
        let begin = self.start;
        self.start += n;
        Ok(&self.rbuf[begin..begin + n])
    }

    /// Consumes a `\r\n` that must come next.
    ///
    /// # Errors
    /// A protocol error when something else comes.
    pub fn crlf(&mut self) -> DriverResult<()> {
        let got = self.exact(2)?;
        if got == b"\r\n" {
            Ok(())
        } else {
            Err(DriverError::Protocol(format!(
                "expected CRLF after a value, got {:?}",
                String::from_utf8_lossy(got)
            )))
        }
    }
}

/// Maps an I/O error, turning timeouts into [`DriverError::Timeout`].
pub fn io_error(e: io::Error) -> DriverError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => DriverError::Timeout,
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => DriverError::Closed,
        _ => DriverError::Io(e),
    }
}

/// A reply line shown in an error: lossy UTF-8, at most 80 characters.
pub fn shown(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(line);
    let mut s: String = s.chars().take(80).collect();
    if line.len() > 80 {
        s.push_str("...");
    }
    s
}

/// Parses a decimal integer from a reply field.
///
/// # Errors
/// A protocol error naming `what` and the field.
pub fn number(field: &[u8], what: &str) -> DriverResult<i64> {
    std::str::from_utf8(field)
        .ok()
        .and_then(|s| s.trim().parse::<i64>().ok())
        .ok_or_else(|| DriverError::Protocol(format!("{what}: not a number: {:?}", shown(field))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that reads from a fixed script one byte at a time (the worst case for framing).
    struct Trickle(Vec<u8>, usize);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.1 >= self.0.len() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[self.1];
            self.1 += 1;
            Ok(1)
        }
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_and_values_are_framed_whatever_the_read_sizes() {
        let mut c = Conn::new(Trickle(b"+OK\r\n$3\r\nabc\r\nEND\n".to_vec(), 0));
        assert_eq!(c.line().unwrap(), b"+OK");
        assert_eq!(c.line().unwrap(), b"$3");
        assert_eq!(c.exact(3).unwrap(), b"abc");
        c.crlf().unwrap();
        assert_eq!(c.line().unwrap(), b"END");
        assert!(matches!(c.line(), Err(DriverError::Closed)));
        assert_eq!(number(b"42", "x").unwrap(), 42);
        assert!(
            number(b"4x", "len")
                .unwrap_err()
                .to_string()
                .contains("len")
        );
    }
}
