//! Summary statistics of a measurement's samples.

use serde_json::{json, Value};

/// The median: the middle sample, or the mean of the two middle ones.
pub fn median(samples: &[f64]) -> Option<f64> {
    let sorted = sorted(samples);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => sorted.get(n / 2).copied(),
        _ => Some((sorted.get(n / 2 - 1)? + sorted.get(n / 2)?) / 2.0),
    }
}

/// The 95th percentile by the nearest-rank method: the smallest sample at
/// or above which 95 % of the samples lie (the maximum for fewer than 20).
pub fn p95(samples: &[f64]) -> Option<f64> {
    let sorted = sorted(samples);
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    // ceil(0.95 n), in integers.
    let rank = (95 * n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// Rounds to 0.1 (what a millisecond timing means on a shared machine).
pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Rounds to 0.001: a ratio near 1 (a target of 1.3) needs more than 0.1.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `{"median", "p95", "min", "max", "reps", "samples"}` of `samples`.
pub fn describe(samples: &[f64]) -> Value {
    describe_rounded(samples, round1)
}

/// [`describe`] of a measurement in `unit`: ratios to 0.001, the rest to 0.1.
pub fn describe_unit(samples: &[f64], unit: &str) -> Value {
    describe_rounded(samples, if unit == "ratio" { round3 } else { round1 })
}

fn describe_rounded(samples: &[f64], round: fn(f64) -> f64) -> Value {
    let min = samples.iter().copied().reduce(f64::min);
    let max = samples.iter().copied().reduce(f64::max);
    json!({
        "median": median(samples).map(round),
        "p95": p95(samples).map(round),
        "min": min.map(round),
        "max": max.map(round),
        "reps": samples.len(),
        "samples": samples.iter().copied().map(round).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_p95() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(p95(&[5.0, 1.0, 3.0]), Some(5.0));
        let twenty: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(p95(&twenty), Some(19.0));
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(p95(&hundred), Some(95.0));
        assert_eq!(describe_unit(&[1.23456], "ratio")["median"], json!(1.235));
        assert_eq!(describe_unit(&[1.23456], "ms")["median"], json!(1.2));
    }
}
