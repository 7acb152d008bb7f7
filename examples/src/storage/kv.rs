//! The in-process key-value store: records of a configurable size in a hash map, keyed `0..n`.
//!
//! A hash map (not a flat array) because that is what a key-value server holds, and because the
//! `native` plugin's calibration probe measures local access as a lookup in one: the experiment
//! then tests the model with the access cost it was calibrated for.

use std::collections::HashMap;

use isolation_plugins::store::RecordSource;

/// Records in a hash map.
#[derive(Debug, Clone, Default)]
pub struct Store {
    record_bytes: usize,
    records: HashMap<u64, Vec<u8>>,
}

impl Store {
    /// `records` records of `record_bytes` bytes, keys `0..records`, deterministic content.
    pub fn new(records: u64, record_bytes: usize) -> Self {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut map = HashMap::with_capacity(usize::try_from(records).unwrap_or(0));
        for k in 0..records {
            let mut v = Vec::with_capacity(record_bytes);
            while v.len() < record_bytes {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let take = (record_bytes - v.len()).min(8);
                v.extend_from_slice(&x.to_le_bytes()[..take]);
            }
            map.insert(k, v);
        }
        Store {
            record_bytes,
            records: map,
        }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Bytes per record.
    pub fn record_bytes(&self) -> usize {
        self.record_bytes
    }

    /// The record with `key`.
    #[inline]
    pub fn get(&self, key: u64) -> Option<&[u8]> {
        self.records.get(&key).map(Vec::as_slice)
    }
}

impl RecordSource for Store {
    fn read_into(&self, key: u64, dst: &mut [u8]) -> Option<usize> {
        let v = self.records.get(&key)?;
        let n = v.len().min(dst.len());
        dst[..n].copy_from_slice(&v[..n]);
        Some(v.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_addressable_and_out_of_range_is_none() {
        let s = Store::new(10, 100);
        assert_eq!(s.len(), 10);
        assert_eq!(s.get(9).map(<[u8]>::len), Some(100));
        assert!(s.get(10).is_none());
    }
}
