//! Ordering: the groups of feasible candidates sorted by one `u64` key, exact ties merged by id.

use super::buffers::{Group, RankBuffers, Source};
use super::candidates::{Set, small};

/// Maps a score to bits whose unsigned order is the score's total order (`-0.0` as `0.0`).
#[inline]
pub(crate) fn order_bits(score: f64) -> u64 {
    let bits = (score + 0.0).to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

/// The sort key of a group: the score's order bits with the low `index_bits` cleared, above the
/// id rank of its first member. Scores that agree but for those low bits (a relative
/// difference under `2^-(52 - index_bits)`) tie, and ties go by id.
#[inline]
pub(crate) fn key(score: f64, first: u32, index_bits: u32) -> u64 {
    ((order_bits(score) >> index_bits) << index_bits) | u64::from(first)
}

/// Sorts the groups by key and merges each run of tied groups into one, its members in id
/// order. Returns the number of feasible candidates.
#[inline]
pub(crate) fn finish(set: &Set, buf: &mut RankBuffers) -> usize {
    let shift = set.index_bits;
    buf.groups.sort_unstable_by_key(|g| g.key);
    let mut feasible = 0usize;
    let mut tied = false;
    let mut last = None;
    for g in &buf.groups {
        feasible += g.len as usize;
        let part = g.key >> shift;
        tied |= last == Some(part);
        last = Some(part);
    }
    if tied {
        merge_ties(set, buf);
    }
    feasible
}

/// Replaces each run of groups with one score part by one group over `order` (rare: exact ties
/// between different classes).
#[cold]
fn merge_ties(set: &Set, buf: &mut RankBuffers) {
    let shift = set.index_bits;
    let (mut w, mut g) = (0, 0);
    while let Some(first) = buf.groups.get(g) {
        let part = first.key >> shift;
        let mut h = g + 1;
        while buf
            .groups
            .get(h)
            .is_some_and(|next| next.key >> shift == part)
        {
            h += 1;
        }
        if h - g == 1 {
            buf.groups[w] = buf.groups[g];
        } else {
            let from = buf.order.len();
            for k in g..h {
                let grp = buf.groups[k];
                let (source, s) = Source::of(grp.start);
                let range = s..s + grp.len as usize;
                match source {
                    Source::Class => buf.order.extend_from_slice(&set.members[range]),
                    Source::Members => {
                        let (members, order) = (&buf.members, &mut buf.order);
                        order.extend_from_slice(&members[range]);
                    }
                    Source::Order => {
                        buf.order.extend_from_within(range);
                    }
                }
            }
            buf.order[from..].sort_unstable();
            buf.groups[w] = Group {
                key: buf.groups[g].key,
                start: Source::Order.at(from),
                len: small(buf.order.len() - from),
            };
        }
        w += 1;
        g = h;
    }
    buf.groups.truncate(w);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_bits_follow_the_scores_total_order() {
        let scores = [
            f64::NEG_INFINITY,
            -2.0,
            -1e-300,
            -0.0,
            0.0,
            1e-300,
            1.0,
            3.5,
            f64::INFINITY,
        ];
        for w in scores.windows(2) {
            assert!(order_bits(w[0]) <= order_bits(w[1]), "{} {}", w[0], w[1]);
        }
        assert_eq!(order_bits(-0.0), order_bits(0.0));
        // Equal scores order by the first member's id; the id never reaches the score's bits.
        assert!(key(1.0, 3, 3) < key(1.0, 4, 3));
        assert!(key(1.0, 3, 2) < key(2.0, 0, 2));
    }
}
