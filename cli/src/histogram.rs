//! A latency histogram of fixed size: log-linear buckets, 32 per power of
//! two, so any percentile is within about 3% of the true value however long
//! the run, and recording is one array increment.

use std::time::Duration;

const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
const BUCKETS: usize = ((64 - SUB_BITS + 1) as u64 * SUB) as usize;

/// Counts of durations, in nanoseconds.
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            min: u64::MAX,
            max: 0,
        }
    }
}

fn index(nanos: u64) -> usize {
    if nanos < SUB {
        return nanos as usize;
    }
    let exponent = 63 - nanos.leading_zeros();
    let shift = exponent - SUB_BITS;
    let mantissa = (nanos >> shift) - SUB;
    ((u64::from(shift) + 1) * SUB + mantissa) as usize
}

/// The smallest value that falls in bucket `i`, and the bucket's width.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < SUB {
        return (i, 1);
    }
    let shift = i / SUB - 1;
    ((SUB + i % SUB) << shift, 1 << shift)
}

impl Histogram {
    pub(crate) fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.counts[index(nanos)] += 1;
        self.total += 1;
        self.min = self.min.min(nanos);
        self.max = self.max.max(nanos);
    }

    pub(crate) fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    pub(crate) fn count(&self) -> u64 {
        self.total
    }

    pub(crate) fn min(&self) -> Duration {
        Duration::from_nanos(if self.total == 0 { 0 } else { self.min })
    }

    pub(crate) fn max(&self) -> Duration {
        Duration::from_nanos(self.max)
    }

    /// The latency at quantile `q` (0.5 for the median): the middle of the
    /// bucket holding it, clamped to the observed range.
    pub(crate) fn quantile(&self, q: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, width) = bounds(i);
                let middle = low + width / 2;
                return Duration::from_nanos(middle.clamp(self.min, self.max));
            }
        }
        self.max()
    }

    /// Rows of `(from, to, count)`: one per power of two of microseconds
    /// between the fastest and slowest call.
    pub(crate) fn rows(&self) -> Vec<(Duration, Duration, u64)> {
        let mut rows: Vec<(Duration, Duration, u64)> = Vec::new();
        for (i, &count) in self.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            let (low, width) = bounds(i);
            let middle = low + width / 2;
            let micros = (middle / 1000).max(1);
            let from = 1u64 << (63 - micros.leading_zeros());
            let (from, to) = if middle < 1000 {
                (Duration::ZERO, Duration::from_micros(1))
            } else {
                (Duration::from_micros(from), Duration::from_micros(from * 2))
            };
            match rows.last_mut() {
                Some(row) if row.0 == from => row.2 += count,
                _ => rows.push((from, to, count)),
            }
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        let mut previous = 0;
        for nanos in [
            0,
            1,
            31,
            32,
            33,
            63,
            64,
            1000,
            123_456,
            u64::MAX / 3,
            u64::MAX,
        ] {
            let i = index(nanos);
            assert!(i >= previous && i < BUCKETS, "{nanos}");
            let (low, width) = bounds(i);
            assert!(
                low <= nanos && nanos - low < width,
                "{nanos}: {low} + {width}"
            );
            previous = i;
        }
    }

    #[test]
    fn quantiles_are_within_the_bucket_precision() {
        let mut histogram = Histogram::default();
        for micros in 1..=1000 {
            histogram.record(Duration::from_micros(micros));
        }
        for (q, exact) in [(0.5, 500.0), (0.9, 900.0), (0.99, 990.0)] {
            let got = histogram.quantile(q).as_secs_f64() * 1e6;
            assert!(
                (got - exact).abs() / exact < 0.035,
                "q{q}: {got} vs {exact}"
            );
        }
        assert_eq!(histogram.quantile(1.0), Duration::from_micros(1000));
        assert_eq!(histogram.min(), Duration::from_micros(1));
        let rows = histogram.rows();
        assert_eq!(rows.iter().map(|r| r.2).sum::<u64>(), 1000);
        assert_eq!(
            rows[0],
            (Duration::from_micros(1), Duration::from_micros(2), 1)
        );
    }

    #[test]
    fn merged_histograms_count_both() {
        let mut a = Histogram::default();
        let mut b = Histogram::default();
        a.record(Duration::from_micros(10));
        b.record(Duration::from_micros(20));
        a.merge(&b);
        assert_eq!(
            (a.count(), a.min(), a.max()),
            (2, Duration::from_micros(10), Duration::from_micros(20))
        );
        assert_eq!(Histogram::default().quantile(0.5), Duration::ZERO);
    }
}
