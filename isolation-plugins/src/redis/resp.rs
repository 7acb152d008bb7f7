//! A minimal RESP2 client over TCP: commands out, replies in, pipelined when asked.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::error::{PluginError, Result};

/// One RESP reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`.
    Simple(String),
    /// `-ERR ...`.
    Error(String),
    /// `:42`.
    Int(i64),
    /// `$n` bulk string, `None` for `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*n` array, `None` for `*-1`.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The integer of an `Int` reply.
    ///
    /// # Errors
    /// [`PluginError::Redis`] naming what came instead.
    pub fn int(&self, what: &'static str) -> Result<i64> {
        match self {
            Reply::Int(v) => Ok(*v),
            other => Err(unexpected(what, "an integer reply", other)),
        }
    }

    /// Checks the reply is not an error.
    ///
    /// # Errors
    /// [`PluginError::Redis`] with the server's error text.
    pub fn ok(self, what: &'static str) -> Result<Reply> {
        match self {
            Reply::Error(e) => Err(PluginError::Redis {
                step: what,
                message: e,
            }),
            r => Ok(r),
        }
    }
}

fn unexpected(step: &'static str, expected: &str, found: &Reply) -> PluginError {
    let mut text = format!("{found:?}");
    text.truncate(200);
    PluginError::Redis {
        step,
        message: format!("expected {expected}, got {text}"),
    }
}

/// A connection to a RESP server.
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
}

fn io(step: &'static str) -> impl FnOnce(std::io::Error) -> PluginError {
    move |e| PluginError::Redis {
        step,
        message: e.to_string(),
    }
}

impl Conn {
    /// Connects to `addr` with a `timeout` for connecting, reading and writing.
    ///
    /// # Errors
    /// [`PluginError::Redis`] when the connection fails.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<Self> {
        let s = TcpStream::connect_timeout(&addr, timeout).map_err(io("connect"))?;
        s.set_read_timeout(Some(timeout)).map_err(io("connect"))?;
        s.set_write_timeout(Some(timeout)).map_err(io("connect"))?;
        s.set_nodelay(true).map_err(io("connect"))?;
        let r = s.try_clone().map_err(io("connect"))?;
        Ok(Conn {
            reader: BufReader::with_capacity(1 << 16, r),
            writer: BufWriter::with_capacity(1 << 16, s),
        })
    }

    /// Queues one command (flushed by [`Conn::flush`] or [`Conn::call`]).
    ///
    /// # Errors
    /// [`PluginError::Redis`] when writing fails.
    pub fn send(&mut self, args: &[&[u8]]) -> Result<()> {
        let w = &mut self.writer;
        let step = "send command";
        write!(w, "*{}\r\n", args.len()).map_err(io(step))?;
        for a in args {
            write!(w, "${}\r\n", a.len()).map_err(io(step))?;
            w.write_all(a).map_err(io(step))?;
            w.write_all(b"\r\n").map_err(io(step))?;
        }
        Ok(())
    }

    /// Sends what is queued.
    ///
    /// # Errors
    /// [`PluginError::Redis`] when writing fails.
    pub fn flush(&mut self) -> Result<()> {
        self.writer.flush().map_err(io("send command"))
    }

    /// Sends one command and reads its reply (server errors are returned as [`Reply::Error`]).
    ///
    /// # Errors
    /// [`PluginError::Redis`] when the connection fails or the reply is malformed.
    pub fn call(&mut self, args: &[&[u8]]) -> Result<Reply> {
        self.send(args)?;
        self.flush()?;
        self.read()
    }

    /// Sends `n` copies of one command in one write and reads the `n` replies, failing on the
    /// first error reply.
    ///
    /// # Errors
    /// [`PluginError::Redis`] on a failed connection or an error reply.
    pub fn pipeline(&mut self, args: &[&[u8]], n: usize) -> Result<Reply> {
        for _ in 0..n {
            self.send(args)?;
        }
        self.flush()?;
        let mut last = Reply::Simple(String::new());
        for _ in 0..n {
            last = self.read()?.ok("pipelined reply")?;
        }
        Ok(last)
    }

    /// Reads one reply.
    ///
    /// # Errors
    /// [`PluginError::Redis`] when the connection fails or the reply is malformed.
    pub fn read(&mut self) -> Result<Reply> {
        let step = "read reply";
        let mut line = Vec::with_capacity(64);
        self.reader.read_until(b'\n', &mut line).map_err(io(step))?;
        if line.len() < 3 || !line.ends_with(b"\r\n") {
            return Err(PluginError::Redis {
                step,
                message: if line.is_empty() {
                    "the server closed the connection".into()
                } else {
                    format!("malformed line {:?}", String::from_utf8_lossy(&line))
                },
            });
        }
        let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        let num = |s: &str| -> Result<i64> {
            s.parse().map_err(|_| PluginError::Redis {
                step,
                message: format!("bad length or integer {s:?}"),
            })
        };
        Ok(match line[0] {
            b'+' => Reply::Simple(body),
            b'-' => Reply::Error(body),
            b':' => Reply::Int(num(&body)?),
            b'$' => {
                let n = num(&body)?;
                if n < 0 {
                    Reply::Bulk(None)
                } else {
                    let n = usize::try_from(n).unwrap_or(0);
                    let mut buf = vec![0u8; n + 2];
                    self.reader.read_exact(&mut buf).map_err(io(step))?;
                    buf.truncate(n);
                    Reply::Bulk(Some(buf))
                }
            }
            b'*' => {
                let n = num(&body)?;
                if n < 0 {
                    Reply::Array(None)
                } else {
                    let mut v = Vec::new();
                    for _ in 0..n {
                        v.push(self.read()?);
                    }
                    Reply::Array(Some(v))
                }
            }
            other => {
                return Err(PluginError::Redis {
                    step,
                    message: format!("unknown reply type byte {other:#x}"),
                });
            }
        })
    }
}
