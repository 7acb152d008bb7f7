//! The in-process key-value store: records of a configurable size in a hash map, keyed `0..n`;
//! or several tables of their own record size, one after another in the key space.
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
        Store::tables(&[(records, record_bytes)])
    }

    /// One table per `(records, record_bytes)`, in order: table `t` holds keys
    /// `first_key(t)..first_key(t) + records`, each record of its table's size, deterministic
    /// content. [`Store::record_bytes`] is the first table's.
    pub fn tables(tables: &[(u64, usize)]) -> Self {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let total: u64 = tables.iter().map(|t| t.0).sum();
        let mut map = HashMap::with_capacity(usize::try_from(total).unwrap_or(0));
        let mut key = 0u64;
        for &(records, record_bytes) in tables {
            for _ in 0..records {
                let mut v = Vec::with_capacity(record_bytes);
                while v.len() < record_bytes {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let take = (record_bytes - v.len()).min(8);
                    v.extend_from_slice(&x.to_le_bytes()[..take]);
                }
                map.insert(key, v);
                key += 1;
            }
        }
        Store {
            record_bytes: tables.first().map_or(0, |t| t.1),
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

    #[test]
    fn tables_follow_one_another_each_with_its_record_size() {
        let s = Store::tables(&[(3, 64), (2, 1024)]);
        assert_eq!(s.len(), 5);
        assert_eq!(s.get(2).map(<[u8]>::len), Some(64));
        assert_eq!(s.get(3).map(<[u8]>::len), Some(1024));
        assert_eq!(s.get(4).map(<[u8]>::len), Some(1024));
        assert!(s.get(5).is_none());
        assert_eq!(s.record_bytes(), 64);
        assert_eq!(Store::new(4, 32).get(3), Store::tables(&[(4, 32)]).get(3));
    }
}
