//! Which rooms each client joins: uniform or Zipf, deterministic per seed.

use rand::{Rng, SeedableRng, rngs::StdRng};

/// The most rooms a room plan may name.
pub const MAX_ROOMS: usize = 10_000_000;

/// Why a room plan is unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RoomPlanError {
    /// No rooms, or more than [`MAX_ROOMS`].
    #[error("room count must be between 1 and {MAX_ROOMS}, got {0}")]
    BadCount(usize),
    /// A client cannot join more distinct rooms than exist.
    #[error("each client joins {per_client} rooms but only {rooms} exist")]
    TooManyPerClient {
        /// Rooms per client asked for.
        per_client: usize,
        /// Rooms that exist.
        rooms: usize,
    },
    /// The Zipf exponent must be finite and non-negative.
    #[error("zipf exponent must be finite and >= 0, got {0}")]
    BadExponent(f64),
}

/// Draws room indices in `0..rooms`.
#[derive(Debug, Clone)]
pub enum RoomSampler {
    /// Every room equally likely.
    Uniform {
        /// How many rooms.
        rooms: usize,
    },
    /// Room `k` (0-based) has weight `1 / (k + 1)^s`.
    Zipf {
        /// Cumulative probabilities, last one 1.0.
        cdf: Vec<f64>,
    },
}

impl RoomSampler {
    /// A sampler over `rooms` rooms: Zipf with exponent `s`, or uniform.
    ///
    /// # Errors
    /// [`RoomPlanError`] for a bad count or exponent.
    pub fn new(rooms: usize, zipf: Option<f64>) -> Result<Self, RoomPlanError> {
        if rooms == 0 || rooms > MAX_ROOMS {
            return Err(RoomPlanError::BadCount(rooms));
        }
        match zipf {
            None => Ok(Self::Uniform { rooms }),
            Some(s) if !s.is_finite() || s < 0.0 => Err(RoomPlanError::BadExponent(s)),
            Some(s) => {
                let mut cdf = Vec::with_capacity(rooms);
                let mut acc = 0.0;
                for k in 1..=rooms {
                    acc += 1.0 / (k as f64).powf(s);
                    cdf.push(acc);
                }
                for c in &mut cdf {
                    *c /= acc;
                }
                Ok(Self::Zipf { cdf })
            }
        }
    }

    /// How many rooms the sampler draws from.
    pub fn rooms(&self) -> usize {
        match self {
            Self::Uniform { rooms } => *rooms,
            Self::Zipf { cdf } => cdf.len(),
        }
    }

    /// Draws one room index.
    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        match self {
            Self::Uniform { rooms } => rng.random_range(0..*rooms),
            Self::Zipf { cdf } => {
                let u: f64 = rng.random();
                cdf.partition_point(|&c| c < u).min(cdf.len() - 1)
            }
        }
    }

    /// The `k` distinct rooms client `client` joins, the same for a given
    /// `seed` in every process.
    ///
    /// # Errors
    /// [`RoomPlanError::TooManyPerClient`] when `k` exceeds the room count.
    pub fn rooms_for(&self, client: u64, k: usize, seed: u64) -> Result<Vec<u32>, RoomPlanError> {
        let rooms = self.rooms();
        if k > rooms {
            return Err(RoomPlanError::TooManyPerClient {
                per_client: k,
                rooms,
            });
        }
        let mut rng = StdRng::seed_from_u64(seed ^ client.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut out: Vec<u32> = Vec::with_capacity(k);
        // Rejection sampling; with a steep Zipf and k close to the room
        // count it could take long, so fall back to the lowest unused rooms.
        let mut tries = 0;
        while out.len() < k && tries < 64 * k.max(1) {
            let r = self.sample(&mut rng) as u32;
            if !out.contains(&r) {
                out.push(r);
            }
            tries += 1;
        }
        let mut next = 0u32;
        while out.len() < k {
            if !out.contains(&next) {
                out.push(next);
            }
            next += 1;
        }
        Ok(out)
    }
}

/// The name of room `index` under `prefix`.
pub fn room_name(prefix: &str, index: u32) -> String {
    format!("{prefix}{index}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(s: &RoomSampler, n: usize) -> Vec<usize> {
        let mut rng = StdRng::seed_from_u64(42);
        let mut c = vec![0; s.rooms()];
        for _ in 0..n {
            c[s.sample(&mut rng)] += 1;
        }
        c
    }

    #[test]
    fn zipf_frequencies_follow_the_power_law() {
        let s = RoomSampler::new(100, Some(1.0)).unwrap();
        let c = counts(&s, 200_000);
        // With s = 1, P(1)/P(2) = 2 and P(1)/P(10) = 10.
        let r12 = c[0] as f64 / c[1] as f64;
        let r110 = c[0] as f64 / c[9] as f64;
        assert!((r12 - 2.0).abs() < 0.15, "{r12}");
        assert!((r110 - 10.0).abs() < 1.5, "{r110}");
        // H(100) = 5.187: room 1 gets about 19.3% of draws.
        let p1 = c[0] as f64 / 200_000.0;
        assert!((p1 - 1.0 / 5.187).abs() < 0.01, "{p1}");
        assert!(c.iter().all(|&x| x > 0));
    }

    #[test]
    fn zipf_zero_and_uniform_are_flat() {
        for s in [
            RoomSampler::new(10, Some(0.0)).unwrap(),
            RoomSampler::new(10, None).unwrap(),
        ] {
            let c = counts(&s, 100_000);
            for x in c {
                assert!((x as f64 - 10_000.0).abs() < 600.0, "{x}");
            }
        }
    }

    #[test]
    fn client_rooms_are_distinct_deterministic_and_bounded() {
        let s = RoomSampler::new(5, Some(3.0)).unwrap();
        let a = s.rooms_for(7, 5, 1).unwrap();
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
        assert_eq!(s.rooms_for(7, 5, 1).unwrap(), a);
        let u = RoomSampler::new(1000, None).unwrap();
        assert_ne!(u.rooms_for(8, 3, 1).unwrap(), u.rooms_for(9, 3, 1).unwrap());
        assert!(s.rooms_for(1, 6, 1).is_err());
        assert!(RoomSampler::new(0, None).is_err());
        assert!(RoomSampler::new(3, Some(f64::NAN)).is_err());
    }
}
