//! Ordering: the groups of feasible candidates sorted by one `u64` key, exact ties merged by id.

use super::buffers::{Group, RankBuffers, Source};
use super::candidates::{Set, small};

/// Maps a score to bits whose unsigned order is the score's total order (`-0.0` as `0.0`).
#[inline]
pub(crate) fn order_bits(score: f64) -> u64 {
    let bits = (score + 0.0).to_bits();
    // Negative: flip every bit; otherwise only the sign bit.
    bits ^ (0u64.wrapping_sub(bits >> 63) | (1 << 63))
}

/// The sort key of a group: the score's order bits with the low `index_bits` cleared, above the
/// id rank of its first member. Scores that agree but for those low bits (a relative
/// difference under `2^-(52 - index_bits)`) tie, and ties go by id.
#[inline]
pub(crate) fn key(score: f64, first: u32, index_bits: u32) -> u64 {
    ((order_bits(score) >> index_bits) << index_bits) | u64::from(first)
}

/// Orders the feasible groups: the classes by their group's key (insertion sort, from the last
/// call's order: nearly sorted), then their groups in that order, with the warm-context
/// singletons the walk pushed sorted in. Runs of tied groups whose members interleave are
/// merged into one, in id order.
#[inline]
pub(crate) fn finish(set: &Set, buf: &mut RankBuffers) {
    let (order, now) = (&mut buf.class_order[..], &buf.now[..]);
    for i in 1..order.len() {
        let c = order[i];
        let k = now[c as usize].group.key;
        let mut j = i;
        while j > 0 {
            let before = order[j - 1];
            if now[before as usize].group.key <= k {
                break;
            }
            order[j] = before;
            j -= 1;
        }
        order[j] = c;
    }
    let singletons = !buf.groups.is_empty();
    // Groups with one score part end up adjacent; only a tie with a group of several members
    // can interleave ids.
    let shift = set.index_bits;
    let (mut tied, mut last) = (false, NO_GROUP);
    for &c in order.iter() {
        let g = now[c as usize].group;
        if g.len == 0 {
            break;
        }
        tied |= g.key >> shift == last.key >> shift && (g.len > 1 || last.len > 1);
        last = g;
        buf.groups.push(g);
    }
    if singletons {
        buf.groups.sort_unstable_by_key(|g| g.key);
        tied = buf
            .groups
            .windows(2)
            .any(|w| w[0].key >> shift == w[1].key >> shift);
    }
    if tied && interleaved(set, buf) {
        merge_ties(set, buf);
    }
}

/// A group no score part equals (`key` above every score's).
const NO_GROUP: Group = Group {
    key: u64::MAX,
    start: 0,
    len: 0,
};

/// True when some tied groups, in key order, are not in id order: one's members interleave
/// with the next's (never for single-member groups).
#[cold]
fn interleaved(set: &Set, buf: &RankBuffers) -> bool {
    let shift = set.index_bits;
    let ids = (1u64 << shift) - 1;
    buf.groups.windows(2).any(|w| {
        w[0].key >> shift == w[1].key >> shift
            && u64::from(last_member(set, buf, &w[0])) > w[1].key & ids
    })
}

/// The id of a group's last member.
#[inline]
fn last_member(set: &Set, buf: &RankBuffers, g: &Group) -> u32 {
    let (source, s) = Source::of(g.start);
    let at = s + g.len as usize - 1;
    match source {
        Source::Members => buf.members[at],
        Source::Class => set.members[at],
        Source::Order => buf.order[at],
    }
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
