//! The in-process key-value store: `n` records of `record_bytes` each, keyed `0..n`.

/// Fixed-size records in one flat allocation, so a lookup is a bounds check and a slice.
#[derive(Debug, Clone)]
pub struct Store {
    record_bytes: usize,
    data: Vec<u8>,
}

impl Store {
    /// `records` records of `record_bytes` bytes, filled with a deterministic pattern.
    pub fn new(records: usize, record_bytes: usize) -> Self {
        let mut data = vec![0u8; records * record_bytes];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for chunk in data.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bytes = x.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Store { record_bytes, data }
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.record_bytes).unwrap_or(0)
    }

    /// True when the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes per record.
    pub fn record_bytes(&self) -> usize {
        self.record_bytes
    }

    /// The record with `key`, or `None` when out of range.
    #[inline]
    pub fn get(&self, key: u64) -> Option<&[u8]> {
        let i = usize::try_from(key).ok()?;
        let start = i.checked_mul(self.record_bytes)?;
        self.data.get(start..start + self.record_bytes)
    }
}

/// The standard storage function's per-record step: fold a record into the running result.
/// Every scheme (inside) and the client (outside) use the same fold, so results agree.
#[inline]
pub fn fold_record(acc: u64, record: &[u8]) -> u64 {
    let mut head = [0u8; 8];
    let n = record.len().min(8);
    head[..n].copy_from_slice(&record[..n]);
    (acc ^ u64::from_le_bytes(head)).rotate_left(5)
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
