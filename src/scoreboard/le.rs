//! The one little-endian reader: bounds-checked loads of integers and C
//! strings from a copied segment, used by detection and decoding alike.
//! Out-of-bounds reads give 0 (or an empty string), never a panic. Also
//! the one substring search over raw bytes ([`find_all`]: httpd binaries
//! too), which asks the CPU nothing.

/// A little-endian unsigned integer of `width` bytes (at most the first 8
/// count) at `offset`; 0 when it lies outside `bytes`. One 8-byte load
/// masked to the width where 8 bytes follow `offset` (every field but a few
/// at a record's end), so no branch on the width.
#[inline]
pub fn uint(bytes: &[u8], offset: usize, width: usize) -> u64 {
    if let (Some(word), 0..=8) = (
        bytes.get(offset..).and_then(|r| r.first_chunk::<8>()),
        width,
    ) {
        let v = u64::from_le_bytes(*word);
        return if width == 8 {
            v
        } else {
            v & ((1 << (8 * width)) - 1)
        };
    }
    let Some(b) = bytes.get(offset..offset.saturating_add(width)) else {
        return 0;
    };
    b.iter()
        .take(8)
        .rev()
        .fold(0, |v, &x| v << 8 | u64::from(x))
}

/// Whether every byte is zero: 64 at a time, each block ORed together (which
/// the compiler does a vector at a time), so a page of zeros costs a few
/// hundred instructions.
pub fn all_zero(bytes: &[u8]) -> bool {
    let mut blocks = bytes.chunks_exact(64);
    blocks
        .by_ref()
        .all(|block| block.iter().fold(0, |acc, &b| acc | b) == 0)
        && blocks.remainder().iter().all(|&b| b == 0)
}

/// Every start of `needle` in `haystack`, in order (none for an empty
/// needle). On x86_64 with the SSE2 searcher memchr picks at compile time:
/// its generic search first asks the CPU whether it has AVX2, and each
/// `cpuid` is a VM exit (4 µs on the VM of BENCHMARKS.md, tens of µs in
/// all); SSE2 every x86_64 has.
pub fn find_all<'h>(haystack: &'h [u8], needle: &'h [u8]) -> impl Iterator<Item = usize> + 'h {
    #[cfg(target_arch = "x86_64")]
    let finder = memchr::arch::x86_64::sse2::packedpair::Finder::new(needle);
    #[cfg(not(target_arch = "x86_64"))]
    let finder: Option<()> = None;
    let mut from = 0;
    std::iter::from_fn(move || {
        let rest = haystack.get(from..).filter(|_| !needle.is_empty())?;
        let found = match &finder {
            #[cfg(target_arch = "x86_64")]
            Some(f) if rest.len() >= f.min_haystack_len() => f.find(rest, needle),
            // The few bytes too short for it.
            #[cfg(target_arch = "x86_64")]
            _ => rest.windows(needle.len()).position(|w| w == needle),
            #[cfg(not(target_arch = "x86_64"))]
            _ => memchr::memmem::find(rest, needle),
        }?;
        from += found + 1;
        Some(from - 1)
    })
}

/// A C `int` at `offset`, `None` when it lies outside `bytes`.
pub fn int(bytes: &[u8], offset: usize) -> Option<i32> {
    let b = bytes.get(offset..offset.checked_add(4)?)?;
    Some(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// A C string in its `width`-byte array at `offset`: cut at the first NUL,
/// never past the array (the whole array when it has none).
pub fn cstr(bytes: &[u8], offset: usize, width: usize) -> &[u8] {
    let b = bytes
        .get(offset..offset.saturating_add(width))
        .unwrap_or(&[]);
    &b[..c_len(b)]
}

/// Bytes before the first NUL (all of them without one), 8 at a time: the
/// string fields are 16 to 64 bytes, multiples of 8.
fn c_len(field: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut rest = field;
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        let v = u64::from_le_bytes(*word);
        // The lowest high bit set marks the first zero byte (borrows only
        // spill into the bytes after it).
        let zero = v.wrapping_sub(ONES) & !v & HIGHS;
        if zero != 0 {
            return field.len() - rest.len() + (zero.trailing_zeros() / 8) as usize;
        }
        rest = tail;
    }
    field.len() - rest.len() + rest.iter().position(|&c| c == 0).unwrap_or(rest.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_within_bounds_only() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        assert_eq!(uint(&b, 0, 1), 1);
        assert_eq!(uint(&b, 0, 2), 0x0201);
        assert_eq!(uint(&b, 0, 4), 0x0403_0201);
        assert_eq!(uint(&b, 2, 8), 0x0a09_0807_0605_0403);
        assert_eq!(uint(&b, 6, 4), 0x0a09_0807); // near the end: byte by byte
        assert_eq!(uint(&b, 8, 4), 0);
        assert_eq!(uint(&b, usize::MAX, 4), 0);
        assert_eq!(int(&b, 6), Some(0x0a09_0807));
        assert_eq!(int(&b, 7), None);
        assert_eq!(int(&b, usize::MAX), None);
    }

    #[test]
    fn c_len_finds_the_first_nul() {
        let reference = |b: &[u8]| b.iter().position(|&c| c == 0).unwrap_or(b.len());
        for len in [0, 1, 7, 8, 9, 16, 31, 32, 64] {
            let mut field = vec![b'x'; len];
            assert_eq!(c_len(&field), len);
            for at in 0..len {
                field.fill(0xff);
                field[at] = 0;
                assert_eq!(c_len(&field), at, "len {len} NUL at {at}");
                // Bytes 0x01 and 0x80 after the NUL are what a word-wise
                // search could mistake for it.
                for (k, b) in field.iter_mut().enumerate().skip(at + 1) {
                    *b = if k % 2 == 0 { 0x01 } else { 0x80 };
                }
                assert_eq!(c_len(&field), reference(&field), "len {len} NUL at {at}");
                if at + 1 < len {
                    field[at + 1] = 0;
                    assert_eq!(c_len(&field), at);
                }
            }
        }
    }

    /// `find_all` finds what a plain search finds: overlapping hits, hits
    /// at both ends, haystacks shorter than the vector search takes and
    /// long ones, an empty needle none.
    #[test]
    fn find_all_is_a_plain_search() {
        let mut hits = 0;
        for needle in [&b".c"[..], b"_module", b"aaa", b"Apache/2."] {
            for n in 0..300usize {
                // The needle whole, its first or last byte alone (a near
                // miss), NULs and other bytes, the needle last every third.
                let mut hay: Vec<u8> = Vec::new();
                for i in 0..n {
                    match (i * 7 + n) % 11 {
                        0 | 1 => hay.extend_from_slice(needle),
                        2 => hay.push(needle[0]),
                        3 => hay.push(needle[needle.len() - 1]),
                        4 => hay.push(0),
                        k => hay.push(b"_.cmodulea/"[k]),
                    }
                }
                if n % 3 == 0 {
                    hay.extend_from_slice(needle);
                }
                let found: Vec<usize> = find_all(&hay, needle).collect();
                let plain: Vec<usize> = (0..hay.len())
                    .filter(|&i| hay[i..].starts_with(needle))
                    .collect();
                assert_eq!(found, plain, "{needle:?} in {hay:?}");
                hits += found.len();
            }
        }
        assert!(hits > 1000, "{hits} hits: the cases test little");
        assert_eq!(find_all(b"abc", b"").count(), 0);
    }

    #[test]
    fn all_zero_sees_every_byte() {
        for len in [0, 1, 7, 8, 63, 64, 65, 200] {
            let mut b = vec![0u8; len];
            assert!(all_zero(&b));
            for at in 0..len {
                b[at] = 0x80;
                assert!(!all_zero(&b), "len {len} at {at}");
                b[at] = 0;
            }
        }
    }

    #[test]
    fn strings_stop_at_nul_or_the_array() {
        let mut b = [b'x'; 24];
        b[11] = 0;
        assert_eq!(cstr(&b, 0, 24), &b[..11]);
        assert_eq!(cstr(&b, 12, 12), &b[12..]);
        assert_eq!(cstr(&b, 20, 16), b"");
        assert_eq!(cstr(&b, 3, 5), b"xxxxx");
    }
}
