//! A fast hash for integer keys of lookup-only tables (edge keys, vertex pairs, coordinate
//! bits), much cheaper than the default SipHash. Not for tables whose iteration order could
//! reach an output, and not for keys an adversary chooses.

use std::hash::{BuildHasherDefault, Hasher};

/// Multiply–rotate hasher (the Fx scheme of rustc) with a final mix, so that keys
/// whose low bits are all zero (f64 bits of f32 values, shifted vertex pairs) still spread
/// over the table's low-bit buckets.
///
/// ```
/// use std::collections::HashMap;
/// use osteon_geom::FastHash;
/// let mut m: HashMap<(u32, u32), usize, FastHash> = HashMap::default();
/// m.insert((3, 4), 7);
/// assert_eq!(m.get(&(3, 4)), Some(&7));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct FastHasher(u64);

/// Builds [`FastHasher`]s: the `S` parameter of `HashMap` / `HashSet`.
pub type FastHash = BuildHasherDefault<FastHasher>;

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..b.len()].copy_from_slice(b);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(K);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        // MurmurHash3's fmix64 halves: high bits reach the low ones.
        let h = (self.0 ^ (self.0 >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    /// Keys differing only in high bits (f64 bits of f32 values) land in different low-bit
    /// buckets.
    #[test]
    fn high_bit_keys_spread_over_low_bits() {
        let b = FastHash::default();
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..256u32 {
            let key = f64::from(i as f32 * 0.37).to_bits();
            seen.insert(b.hash_one(key) & 0xff);
        }
        assert!(seen.len() > 128, "{} of 256 buckets", seen.len());
    }
}
