//! memcached's text protocol: `get k1 k2 ...` is both the get and the multi-get (each hit
//! answers `VALUE <key> <flags> <bytes>` and the data, then one `END`); `set` stores; `version`
//! names the version and serves as the ping.

use std::io::{Read, Write};

use super::conn::{Conn, number, shown};
use super::{DriverError, DriverResult, ServerDriver};

/// The prefix of every key calibrate stores.
pub const KEY_PREFIX: &str = "calibrate:";

/// A memcached text-protocol connection.
#[derive(Debug)]
pub struct Memcached<S> {
    conn: Conn<S>,
}

fn server_error(line: &[u8]) -> Option<DriverError> {
    (line == b"ERROR" || line.starts_with(b"CLIENT_ERROR") || line.starts_with(b"SERVER_ERROR"))
        .then(|| DriverError::Protocol(format!("the server answered {:?}", shown(line))))
}

impl<S: Read + Write + Send> Memcached<S> {
    /// A driver over `stream`.
    pub fn new(stream: S) -> Self {
        Memcached {
            conn: Conn::new(stream),
        }
    }

    fn version_line(&mut self) -> DriverResult<String> {
        self.conn.out.extend_from_slice(b"version\r\n");
        self.conn.flush()?;
        let line = self.conn.line()?;
        match line.strip_prefix(b"VERSION ") {
            Some(v) => Ok(String::from_utf8_lossy(v).trim().to_owned()),
            None => Err(server_error(line).unwrap_or_else(|| {
                DriverError::Protocol(format!("version answered {:?}", shown(line)))
            })),
        }
    }
}

impl<S: Read + Write + Send> ServerDriver for Memcached<S> {
    fn protocol(&self) -> &str {
        "memcached"
    }

    fn name(&mut self) -> DriverResult<String> {
        self.version_line()?;
        Ok("memcached".to_owned())
    }

    fn version(&mut self) -> DriverResult<String> {
        self.version_line()
    }

    fn ping(&mut self) -> DriverResult<()> {
        self.version_line().map(|_| ())
    }

    fn set(&mut self, key: u64, value: &[u8]) -> DriverResult<()> {
        self.conn
            .out
            .extend_from_slice(format!("set {KEY_PREFIX}{key} 0 0 {}\r\n", value.len()).as_bytes());
        self.conn.out.extend_from_slice(value);
        self.conn.out.extend_from_slice(b"\r\n");
        self.conn.flush()?;
        let line = self.conn.line()?;
        if line == b"STORED" {
            Ok(())
        } else {
            Err(server_error(line).unwrap_or_else(|| {
                DriverError::Protocol(format!("set answered {:?}, expected STORED", shown(line)))
            }))
        }
    }

    fn delete(&mut self, key: u64) -> DriverResult<()> {
        self.conn
            .out
            .extend_from_slice(format!("delete {KEY_PREFIX}{key}\r\n").as_bytes());
        self.conn.flush()?;
        let line = self.conn.line()?;
        if line == b"DELETED" || line == b"NOT_FOUND" {
            Ok(())
        } else {
            Err(server_error(line).unwrap_or_else(|| {
                DriverError::Protocol(format!("delete answered {:?}", shown(line)))
            }))
        }
    }

    fn queue_get(&mut self, keys: &[u64]) -> DriverResult<()> {
        if keys.is_empty() {
            return Err(DriverError::Unsupported("a get of no key".to_owned()));
        }
        let out = &mut self.conn.out;
        out.extend_from_slice(b"get");
        for k in keys {
            out.extend_from_slice(format!(" {KEY_PREFIX}{k}").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        Ok(())
    }

    fn flush(&mut self) -> DriverResult<()> {
        self.conn.flush()
    }

    fn read_get(&mut self, keys: &[u64]) -> DriverResult<usize> {
        let mut total = 0;
        let mut values = 0;
        loop {
            let line = self.conn.line()?;
            if line == b"END" {
                return Ok(total);
            }
            let Some(rest) = line.strip_prefix(b"VALUE ") else {
                return Err(server_error(line).unwrap_or_else(|| {
                    DriverError::Protocol(format!("get answered {:?}", shown(line)))
                }));
            };
            let bytes = rest.split(|&b| b == b' ').nth(2).ok_or_else(|| {
                DriverError::Protocol(format!("a short VALUE line {:?}", shown(line)))
            })?;
            let n = usize::try_from(number(bytes, "VALUE length")?)
                .map_err(|_| DriverError::Protocol("a negative VALUE length".to_owned()))?;
            values += 1;
            if values > keys.len() {
                return Err(DriverError::Protocol(format!(
                    "a get of {} keys answered more values",
                    keys.len()
                )));
            }
            self.conn.skip(n)?;
            self.conn.crlf()?;
            total += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    /// A tiny memcached: version, set and get over a map.
    fn tiny_server() -> std::net::SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            let mut map = std::collections::HashMap::<String, Vec<u8>>::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let parts: Vec<&str> = line.split_whitespace().collect();
                let reply = match parts[0] {
                    "version" => b"VERSION 1.2.3\r\n".to_vec(),
                    "set" => {
                        let n: usize = parts[4].parse().unwrap();
                        let mut v = vec![0; n + 2];
                        std::io::Read::read_exact(&mut r, &mut v).unwrap();
                        v.truncate(n);
                        map.insert(parts[1].to_owned(), v);
                        b"STORED\r\n".to_vec()
                    }
                    "delete" => match map.remove(parts[1]) {
                        Some(_) => b"DELETED\r\n".to_vec(),
                        None => b"NOT_FOUND\r\n".to_vec(),
                    },
                    "get" => {
                        let mut out = Vec::new();
                        for k in &parts[1..] {
                            if let Some(v) = map.get(*k) {
                                out.extend(format!("VALUE {k} 0 {}\r\n", v.len()).into_bytes());
                                out.extend(v);
                                out.extend(b"\r\n");
                            }
                        }
                        out.extend(b"END\r\n");
                        out
                    }
                    _ => b"ERROR\r\n".to_vec(),
                };
                w.write_all(&reply).unwrap();
            }
        });
        addr
    }

    #[test]
    fn the_codec_talks_to_a_memcached_server() {
        let addr = tiny_server();
        let s = super::super::connect_tcp(addr, std::time::Duration::from_secs(5)).unwrap();
        let mut d = Memcached::new(s);
        d.ping().unwrap();
        assert_eq!(d.version().unwrap(), "1.2.3");
        assert_eq!(d.name().unwrap(), "memcached");
        d.set(1, &[b'x'; 300]).unwrap();
        d.set(2, b"a\r\nb").unwrap();
        assert_eq!(d.get(1).unwrap(), 300);
        assert_eq!(d.get(9).unwrap(), 0);
        assert_eq!(d.multi_get(&[1, 2, 9]).unwrap(), 304);
        assert_eq!(d.pipelined_get(&[1, 2, 1, 2], 1).unwrap(), 608);
        d.delete(1).unwrap();
        d.delete(1).unwrap();
        assert_eq!(d.get(1).unwrap(), 0);
        assert_eq!(d.invoke("f", &[1]).unwrap(), None);
    }
}
