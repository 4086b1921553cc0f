//! A small deterministic pseudo-random generator: the same seed gives the same sequence on
//! every machine, with no dependency. For phantoms, jittered test inputs and benchmarks —
//! not for anything that needs statistical quality beyond uniform-looking noise.

/// Knuth's 64-bit linear congruential generator (MMIX constants); the top 53 bits give a
/// double in `[0, 1)`.
///
/// ```
/// use osteon_geom::Lcg;
/// let (mut a, mut b) = (Lcg::new(7), Lcg::new(7));
/// let x = a.next_f64();
/// assert!((0.0..1.0).contains(&x));
/// assert_eq!(x, b.next_f64());
/// ```
#[derive(Clone, Debug)]
pub struct Lcg(u64);

impl Lcg {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next value, uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The next value, uniform in `[lo, hi)` (up to rounding).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next_f64()
    }
}
