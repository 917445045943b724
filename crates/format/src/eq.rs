//! Equality of the short byte strings that reading and checking leaves
//! compare by the million: keys, enum values, a leaf's strings against
//! their typed columns.
//!
//! `==` on slices calls `memcmp`, whose dispatch and setup cost more than
//! comparing a key of a few bytes: 8-10 % of `verify`'s samples were in
//! `memcmp` (docs/BENCHMARKS.md, session 19). This compares eight bytes at
//! a time in registers, the last word overlapping the one before it.

/// Whether `a` and `b` hold the same bytes; the same answer as `a == b`.
#[inline]
pub fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return short_eq(a, b);
    }
    let word = |s: &[u8], at: usize| {
        s.get(at..at + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map(u64::from_ne_bytes)
    };
    let mut at = 0;
    while at + 8 < n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    // the last eight bytes, overlapping the words compared already
    word(a, n - 8) == word(b, n - 8)
}

/// [`bytes_eq`] for two slices of the same length below eight: two
/// overlapping halves of four bytes, or of two, or one byte.
#[inline]
fn short_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    fn half<const W: usize>(s: &[u8], at: usize) -> Option<[u8; W]> {
        s.get(at..at + W).and_then(|w| w.try_into().ok())
    }
    match n {
        0 => true,
        1 => a.first() == b.first(),
        2..=3 => half::<2>(a, 0) == half::<2>(b, 0) && half::<2>(a, n - 2) == half::<2>(b, n - 2),
        _ => half::<4>(a, 0) == half::<4>(b, 0) && half::<4>(a, n - 4) == half::<4>(b, n - 4),
    }
}

#[cfg(test)]
mod tests {
    use super::bytes_eq;

    #[test]
    fn it_answers_as_slice_equality_does() {
        // every length to past three words, every position of a difference
        for n in 0..=26usize {
            let a: Vec<u8> = (0..n).map(|i| (i * 7 + 1) as u8).collect();
            assert!(bytes_eq(&a, &a.clone()), "equal, length {n}");
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!bytes_eq(&a, &b), "differs at {at} of {n}");
                assert!(!bytes_eq(&b, &a), "differs at {at} of {n}, swapped");
            }
            let mut longer = a.clone();
            longer.push(0);
            assert!(!bytes_eq(&a, &longer), "lengths {n} and {}", n + 1);
            assert!(!bytes_eq(&longer, &a), "lengths {} and {n}", n + 1);
        }
    }
}
