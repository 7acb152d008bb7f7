//! Small, `Copy` identifiers for schemes, transports, functions and nodes.
//!
//! Ids are short inline strings (at most [`MAX_ID_LEN`] bytes of `[a-z0-9_.-]`, and `@` for
//! scheme and transport ids, so a server transport can be `resp@redis-7.0`), so a placement
//! is `Copy`, comparing two ids is a fixed-size memory compare, and the hot ranking path never
//! allocates. They serialise as plain strings.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{CostError, Result};

/// The longest id, in bytes.
pub const MAX_ID_LEN: usize = 23;

/// A short ASCII string stored inline.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct InlineStr {
    // Bytes first: zero padding makes the derived order lexicographic.
    bytes: [u8; MAX_ID_LEN],
    len: u8,
}

impl InlineStr {
    fn parse(kind: &'static str, extra: &'static [u8], s: &str) -> Result<Self> {
        let ok_char = |c: u8| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || b"_.-".contains(&c)
                || extra.contains(&c)
        };
        if s.is_empty() || s.len() > MAX_ID_LEN || !s.bytes().all(ok_char) {
            return Err(CostError::InvalidId {
                kind,
                value: s.to_owned(),
            });
        }
        let mut bytes = [0u8; MAX_ID_LEN];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        Ok(InlineStr {
            bytes,
            // The length check above keeps this within u8.
            len: u8::try_from(s.len()).unwrap_or(0),
        })
    }

    fn as_str(&self) -> &str {
        // Only ASCII bytes are ever stored, so this cannot fail; fall back to "" rather than panic.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $extra:literal, $chars:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(InlineStr);

        impl $name {
            #[doc = concat!("Parses an id: 1 to 23 bytes of lowercase ASCII letters, digits, ", $chars, ".")]
            ///
            /// # Errors
            /// [`CostError::InvalidId`] naming the offending value.
            pub fn new(s: &str) -> Result<Self> {
                InlineStr::parse($kind, $extra, s).map($name)
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = CostError;
            fn from_str(s: &str) -> Result<Self> {
                $name::new(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                $name::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// Identifies an isolation scheme (`native`, `wasm`, `vm`, ...).
    SchemeId,
    "scheme",
    b"@",
    "`_`, `.`, `-` or `@`"
);
id_type!(
    /// Identifies a transport (`tcp`, `udp`, `unix`, `shm`, ...).
    TransportId,
    "transport",
    b"@",
    "`_`, `.`, `-` or `@`"
);
id_type!(
    /// Identifies a function (a workload).
    FunctionId,
    "function",
    b"",
    "`_`, `.` or `-`"
);

/// Identifies a machine (storage or compute node) in a cluster. Dense, so it can index arrays.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct NodeId(pub u32);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "node{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_bad_text() {
        let id = SchemeId::new("wasm-pool").unwrap();
        assert_eq!(id.as_str(), "wasm-pool");
        assert!(SchemeId::new("").is_err());
        assert!(SchemeId::new("Has Space").is_err());
        let long = "x".repeat(MAX_ID_LEN + 1);
        let err = SchemeId::new(&long).unwrap_err().to_string();
        assert!(err.contains("scheme id"), "{err}");
    }

    #[test]
    fn server_transports_and_schemes_may_name_a_version_with_at() {
        assert_eq!(
            TransportId::new("resp@redis-7.0").unwrap().as_str(),
            "resp@redis-7.0"
        );
        assert!(SchemeId::new("redis@7.0").is_ok());
        assert!(FunctionId::new("f@x").is_err());
    }

    #[test]
    fn ids_order_like_their_text() {
        let a = TransportId::new("tcp").unwrap();
        let b = TransportId::new("udp").unwrap();
        assert!(a < b);
        assert!(TransportId::new("ab").unwrap() < TransportId::new("b").unwrap());
    }
}
