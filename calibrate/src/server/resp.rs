//! RESP (REdis Serialization Protocol, version 2): Redis and Valkey.
//!
//! Requests are arrays of bulk strings (`*2\r\n$3\r\nGET\r\n$11\r\ncalibrate:7\r\n`); a get is
//! `GET`, a multi-get `MGET`, a function call `FCALL`. The name and version come from
//! `INFO server` (`redis_version:7.0.15`, or Valkey's `server_name:valkey` and
//! `valkey_version`).

use std::io::{Read, Write};

use super::conn::{Conn, number, shown};
use super::{DriverError, DriverResult, ServerDriver};

/// The prefix of every key calibrate stores.
pub const KEY_PREFIX: &str = "calibrate:";

/// A RESP connection.
#[derive(Debug)]
pub struct Resp<S> {
    conn: Conn<S>,
    key: String,
}

fn arg(out: &mut Vec<u8>, a: &[u8]) {
    out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
    out.extend_from_slice(a);
    out.extend_from_slice(b"\r\n");
}

impl<S: Read + Write + Send> Resp<S> {
    /// A driver over `stream`.
    pub fn new(stream: S) -> Self {
        Resp {
            conn: Conn::new(stream),
            key: String::with_capacity(32),
        }
    }

    fn key_arg(&mut self, key: u64) {
        use std::fmt::Write as _;
        self.key.clear();
        let _ = write!(self.key, "{KEY_PREFIX}{key}");
        arg(&mut self.conn.out, self.key.as_bytes());
    }

    fn command(&mut self, args: &[&[u8]], keys: &[u64]) {
        let out = &mut self.conn.out;
        out.extend_from_slice(format!("*{}\r\n", args.len() + keys.len()).as_bytes());
        for a in args {
            arg(out, a);
        }
        for &k in keys {
            self.key_arg(k);
        }
    }

    /// Reads one reply of any type; returns its payload bytes. An error reply is a protocol
    /// error carrying the server's message.
    fn value(&mut self, depth: u32) -> DriverResult<usize> {
        if depth > 8 {
            return Err(DriverError::Protocol("replies nested too deep".to_owned()));
        }
        let line = self.conn.line()?;
        let Some((&kind, rest)) = line.split_first() else {
            return Err(DriverError::Protocol("an empty reply line".to_owned()));
        };
        match kind {
            b'+' => Ok(rest.len()),
            b':' => {
                number(rest, "integer reply")?;
                Ok(8)
            }
            b'-' => Err(DriverError::Protocol(format!(
                "the server answered an error: {}",
                shown(rest)
            ))),
            b'$' => {
                let n = number(rest, "bulk length")?;
                if n < 0 {
                    return Ok(0);
                }
                let n = usize::try_from(n).unwrap_or(0);
                self.conn.skip(n)?;
                self.conn.crlf()?;
                Ok(n)
            }
            b'*' => {
                let n = number(rest, "array length")?;
                let mut total = 0;
                for _ in 0..n.max(0) {
                    total += self.value(depth + 1)?;
                }
                Ok(total)
            }
            _ => Err(DriverError::Protocol(format!(
                "not a RESP reply: {:?}",
                shown(line)
            ))),
        }
    }

    /// Reads one bulk-string reply as text.
    fn bulk_text(&mut self) -> DriverResult<String> {
        let line = self.conn.line()?.to_vec();
        match line.split_first() {
            Some((b'$', rest)) => {
                let n = usize::try_from(number(rest, "bulk length")?).map_err(|_| {
                    DriverError::Protocol("a nil reply where text was expected".to_owned())
                })?;
                let text = String::from_utf8_lossy(self.conn.exact(n)?).into_owned();
                self.conn.crlf()?;
                Ok(text)
            }
            Some((b'-', rest)) => Err(DriverError::Protocol(format!(
                "the server answered an error: {}",
                shown(rest)
            ))),
            _ => Err(DriverError::Protocol(format!(
                "expected a bulk string, got {:?}",
                shown(&line)
            ))),
        }
    }

    fn info_server(&mut self) -> DriverResult<(String, String)> {
        self.command(&[b"INFO", b"server"], &[]);
        self.conn.flush()?;
        let info = self.bulk_text()?;
        let field = |name: &str| {
            info.lines().find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|r| r.strip_prefix(':'))
                    .map(|v| v.trim().to_owned())
            })
        };
        let name = field("server_name").unwrap_or_else(|| "redis".to_owned());
        let version = field(&format!("{name}_version"))
            .or_else(|| field("redis_version"))
            .ok_or_else(|| {
                DriverError::Protocol("INFO server has no redis_version field".to_owned())
            })?;
        Ok((name, version))
    }
}

impl<S: Read + Write + Send> ServerDriver for Resp<S> {
    fn protocol(&self) -> &str {
        "resp"
    }

    fn name(&mut self) -> DriverResult<String> {
        Ok(self.info_server()?.0)
    }

    fn version(&mut self) -> DriverResult<String> {
        Ok(self.info_server()?.1)
    }

    fn ping(&mut self) -> DriverResult<()> {
        self.command(&[b"PING"], &[]);
        self.conn.flush()?;
        let line = self.conn.line()?;
        if line == b"+PONG" {
            Ok(())
        } else {
            Err(DriverError::Protocol(format!(
                "PING answered {:?}, expected +PONG",
                shown(line)
            )))
        }
    }

    fn set(&mut self, key: u64, value: &[u8]) -> DriverResult<()> {
        self.conn.out.extend_from_slice(b"*3\r\n");
        arg(&mut self.conn.out, b"SET");
        self.key_arg(key);
        arg(&mut self.conn.out, value);
        self.conn.flush()?;
        let line = self.conn.line()?;
        if line == b"+OK" {
            Ok(())
        } else {
            Err(DriverError::Protocol(format!(
                "SET answered {:?}, expected +OK",
                shown(line)
            )))
        }
    }

    fn delete(&mut self, key: u64) -> DriverResult<()> {
        self.command(&[b"DEL"], &[key]);
        self.conn.flush()?;
        let line = self.conn.line()?;
        if line.first() == Some(&b':') {
            Ok(())
        } else {
            Err(DriverError::Protocol(format!(
                "DEL answered {:?}",
                shown(line)
            )))
        }
    }

    fn queue_get(&mut self, keys: &[u64]) -> DriverResult<()> {
        match keys.len() {
            0 => return Err(DriverError::Unsupported("a get of no key".to_owned())),
            1 => self.command(&[b"GET"], keys),
            _ => self.command(&[b"MGET"], keys),
        }
        Ok(())
    }

    fn flush(&mut self) -> DriverResult<()> {
        self.conn.flush()
    }

    fn read_get(&mut self, keys: &[u64]) -> DriverResult<usize> {
        let line = self.conn.line()?;
        let expect = if keys.len() == 1 { b'$' } else { b'*' };
        if line.first() != Some(&expect) {
            return Err(DriverError::Protocol(format!(
                "{} answered {:?}",
                if keys.len() == 1 { "GET" } else { "MGET" },
                shown(line)
            )));
        }
        if keys.len() == 1 {
            let n = number(&line[1..], "bulk length")?;
            if n < 0 {
                return Ok(0);
            }
            let n = usize::try_from(n).unwrap_or(0);
            self.conn.skip(n)?;
            self.conn.crlf()?;
            return Ok(n);
        }
        let n = number(&line[1..], "array length")?;
        if usize::try_from(n).ok() != Some(keys.len()) {
            return Err(DriverError::Protocol(format!(
                "MGET of {} keys answered {n} values",
                keys.len()
            )));
        }
        let mut total = 0;
        for _ in 0..keys.len() {
            total += self.value(1)?;
        }
        Ok(total)
    }

    fn invoke(&mut self, function: &str, keys: &[u64]) -> DriverResult<Option<usize>> {
        let n = keys.len().to_string();
        self.command(&[b"FCALL", function.as_bytes(), n.as_bytes()], keys);
        self.conn.flush()?;
        self.value(0).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    /// A tiny RESP server: answers PING, INFO, SET and GET/MGET from a map, `-ERR` otherwise.
    fn tiny_server() -> std::net::SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            let mut map = std::collections::HashMap::<Vec<u8>, Vec<u8>>::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let n: usize = line.trim()[1..].parse().unwrap();
                let mut args = Vec::new();
                for _ in 0..n {
                    let mut len = String::new();
                    r.read_line(&mut len).unwrap();
                    let len: usize = len.trim()[1..].parse().unwrap();
                    let mut a = vec![0; len + 2];
                    std::io::Read::read_exact(&mut r, &mut a).unwrap();
                    a.truncate(len);
                    args.push(a);
                }
                let bulk = |v: Option<&Vec<u8>>| match v {
                    Some(v) => [
                        format!("${}\r\n", v.len()).into_bytes(),
                        v.clone(),
                        b"\r\n".to_vec(),
                    ]
                    .concat(),
                    None => b"$-1\r\n".to_vec(),
                };
                let reply = match args[0].as_slice() {
                    b"PING" => b"+PONG\r\n".to_vec(),
                    b"INFO" => bulk(Some(&b"# Server\r\nredis_version:9.9.1\r\n".to_vec())),
                    b"SET" => {
                        map.insert(args[1].clone(), args[2].clone());
                        b"+OK\r\n".to_vec()
                    }
                    b"GET" => bulk(map.get(&args[1])),
                    b"DEL" => {
                        format!(":{}\r\n", u8::from(map.remove(&args[1]).is_some())).into_bytes()
                    }
                    b"MGET" => {
                        let mut out = format!("*{}\r\n", args.len() - 1).into_bytes();
                        for k in &args[1..] {
                            out.extend(bulk(map.get(k)));
                        }
                        out
                    }
                    _ => b"-ERR unknown command\r\n".to_vec(),
                };
                w.write_all(&reply).unwrap();
            }
        });
        addr
    }

    #[test]
    fn the_codec_talks_to_a_resp_server() {
        let addr = tiny_server();
        let s = super::super::connect_tcp(addr, std::time::Duration::from_secs(5)).unwrap();
        let mut d = Resp::new(s);
        d.ping().unwrap();
        assert_eq!(d.name().unwrap(), "redis");
        assert_eq!(d.version().unwrap(), "9.9.1");
        d.set(1, &[7; 100]).unwrap();
        d.set(2, b"hello").unwrap();
        assert_eq!(d.get(1).unwrap(), 100);
        assert_eq!(d.get(3).unwrap(), 0);
        assert_eq!(d.multi_get(&[1, 2, 3]).unwrap(), 105);
        assert_eq!(d.pipelined_get(&[1, 2, 1, 2], 1).unwrap(), 210);
        assert_eq!(d.pipelined_get(&[1, 2, 1, 2], 2).unwrap(), 210);
        d.delete(2).unwrap();
        assert_eq!(d.get(2).unwrap(), 0);
        let e = d.invoke("f", &[1]).unwrap_err().to_string();
        assert!(e.contains("unknown command"), "{e}");
    }
}
