//! Several seasonal periods at once (an hourly load with a daily and a weekly cycle): MSTL
//! (Bandara, Hyndman and Bergmeir 2021, the `stlrs` crate) splits the series into one seasonal
//! component per period plus trend and remainder; an ETS model chosen by AICc forecasts the
//! seasonally adjusted series, and each seasonal component's last cycle is added back. This is
//! what statsforecast's `MSTL` with an `AutoETS` trend forecaster and R's `stlf` do.
//!
//! The intervals are the ETS model's on the adjusted series, shifted by the seasonal terms: the
//! seasonal components are taken as known.

use super::ets::EtsFit;
use super::ets_fit::fit_auto;

#[derive(Debug, Clone)]
pub struct MstlFit {
    /// The periods, shortest first.
    pub periods: Vec<usize>,
    /// Each period's last full cycle of its seasonal component, oldest first.
    last_cycles: Vec<Vec<f64>>,
    pub adjusted: EtsFit,
}

/// Decomposes `y` with `periods` (each seen at least twice) and fits the adjusted series.
pub fn fit(y: &[f64], periods: &[usize]) -> Option<MstlFit> {
    let mut periods: Vec<usize> = periods.iter().copied().filter(|p| *p > 1).collect();
    periods.sort_unstable();
    periods.dedup();
    let longest = *periods.last()?;
    if y.len() < 2 * longest + 2 || y.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let decomposition = stlrs::Mstl::fit(y, &periods).ok()?;
    let seasonal = decomposition.seasonal();
    let adjusted: Vec<f64> = (0..y.len())
        .map(|t| y[t] - seasonal.iter().map(|s| s[t]).sum::<f64>())
        .collect();
    let last_cycles = periods
        .iter()
        .zip(seasonal)
        .map(|(&p, s)| s[s.len() - p..].to_vec())
        .collect();
    Some(MstlFit {
        last_cycles,
        adjusted: fit_auto(&adjusted, 1)?,
        periods,
    })
}

impl MstlFit {
    /// Forecasts with the central interval of `z` standard-normal quantiles each side.
    pub fn forecast(&self, horizon: usize, z: f64) -> Vec<(f64, f64, f64)> {
        self.adjusted
            .forecast(horizon, z)
            .into_iter()
            .enumerate()
            .map(|(h, (mean, lower, upper))| {
                let seasonal: f64 = self
                    .last_cycles
                    .iter()
                    .map(|cycle| cycle[h % cycle.len()])
                    .sum();
                (mean + seasonal, lower + seasonal, upper + seasonal)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daily_and_a_weekly_cycle_are_both_carried_forward() {
        let hours = 24 * 7 * 4;
        let value = |t: usize| {
            let day = (2.0 * std::f64::consts::PI * (t % 24) as f64 / 24.0).sin();
            let weekend = if (t / 24) % 7 >= 5 { -5.0 } else { 0.0 };
            50.0 + 10.0 * day + weekend
        };
        let y: Vec<f64> = (0..hours).map(value).collect();
        let fit = fit(&y, &[168, 24]).unwrap();
        assert_eq!(fit.periods, vec![24, 168]);
        let f = fit.forecast(168, 1.645);
        let worst = f
            .iter()
            .enumerate()
            .map(|(h, (mean, ..))| (mean - value(hours + h)).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1.5, "worst error {worst}");
        assert!(f.iter().all(|(m, l, u)| l <= m && m <= u));
    }

    #[test]
    fn too_short_a_series_is_refused() {
        assert!(fit(&[1.0; 100], &[24, 168]).is_none());
        assert!(fit(&[1.0; 100], &[]).is_none());
    }
}
