//! Additive exponential smoothing with a damped trend and an optional season: ETS(A,Ad,A) and
//! ETS(A,Ad,N) in Hyndman's taxonomy, the damped additive Holt-Winters method.
//!
//! The smoothing parameters are fitted by minimising the one-step squared error with argmin's
//! Nelder-Mead. The parameters are searched in an unbounded space and mapped into the admissible
//! region through logistic functions, so the simplex never leaves it:
//! `0 < alpha < 1`, `0 < beta < alpha`, `0 < gamma < 1 - alpha`, `0.8 <= phi <= 0.98`
//! (the damping range R's `forecast::ets` uses). Initial states come from the first full
//! seasons (level, slope and seasonal indices by classical decomposition), as in Hyndman et al.
//! (2008), section 2.6.

use argmin::core::{CostFunction, Error as ArgminError, Executor, State};
use argmin::solver::neldermead::NelderMead;

const PHI_MIN: f64 = 0.8;
const PHI_RANGE: f64 = 0.18;
/// Enough for four parameters: the simplex has usually collapsed well before this.
const MAX_ITERATIONS: u64 = 400;

/// Smoothing parameters in the error-correction form: `beta` and `gamma` multiply the one-step
/// error directly (`beta = alpha * beta*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    pub alpha: f64,
    pub beta: f64,
    pub gamma: f64,
    pub phi: f64,
}

/// A fitted model: the state at the end of the series and the residual spread.
#[derive(Debug, Clone)]
pub struct EtsFit {
    pub params: Params,
    /// Season length; `0` for the non-seasonal model.
    pub period: usize,
    level: f64,
    slope: f64,
    /// The last `period` seasonal indices, oldest first.
    season: Vec<f64>,
    /// Standard deviation of the one-step errors.
    pub sigma: f64,
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn params_from(raw: &[f64], seasonal: bool, damped: bool) -> Params {
    let alpha = 0.001 + 0.998 * logistic(raw[0]);
    let beta = alpha * logistic(raw[1]);
    let gamma = if seasonal {
        (1.0 - alpha) * logistic(raw[2])
    } else {
        0.0
    };
    let phi = if damped {
        PHI_MIN + PHI_RANGE * logistic(raw[raw.len() - 1])
    } else {
        1.0
    };
    Params {
        alpha,
        beta,
        gamma,
        phi,
    }
}

/// Initial level, slope and seasonal indices from the first (up to three) full seasons.
fn initial_states(y: &[f64], period: usize) -> (f64, f64, Vec<f64>) {
    if period == 0 {
        let k = y.len().min(10);
        let slope = if k > 1 {
            (y[k - 1] - y[0]) / (k - 1) as f64
        } else {
            0.0
        };
        return (y[0] - slope, slope, Vec::new());
    }
    let cycles = (y.len() / period).clamp(1, 3);
    let means: Vec<f64> = (0..cycles)
        .map(|c| y[c * period..(c + 1) * period].iter().sum::<f64>() / period as f64)
        .collect();
    let slope = if cycles > 1 {
        (means[cycles - 1] - means[0]) / ((cycles - 1) * period) as f64
    } else {
        0.0
    };
    let mut season = vec![0.0; period];
    for (c, mean) in means.iter().enumerate() {
        for (j, s) in season.iter_mut().enumerate() {
            // Detrend within the cycle around its centre.
            let trend = mean + slope * (j as f64 - (period as f64 - 1.0) / 2.0);
            *s += (y[c * period + j] - trend) / cycles as f64;
        }
    }
    let shift = season.iter().sum::<f64>() / period as f64;
    season.iter_mut().for_each(|s| *s -= shift);
    // The level "just before" the first observation.
    let level = means[0] - slope * (period as f64 + 1.0) / 2.0;
    (level, slope, season)
}

/// Runs the recursions over `y`; returns the sum of squared one-step errors and the end state.
fn filter(y: &[f64], period: usize, p: Params) -> (f64, f64, f64, Vec<f64>) {
    let (mut level, mut slope, mut season) = initial_states(y, period);
    let mut sse = 0.0;
    for (t, &obs) in y.iter().enumerate() {
        let s = if period > 0 { season[t % period] } else { 0.0 };
        let error = obs - (level + p.phi * slope + s);
        sse += error * error;
        level += p.phi * slope + p.alpha * error;
        slope = p.phi * slope + p.beta * error;
        if period > 0 {
            season[t % period] = s + p.gamma * error;
        }
    }
    // Rotate so the season vector starts at the slot of the next observation.
    if period > 0 {
        season.rotate_left(y.len() % period);
    }
    (sse, level, slope, season)
}

struct SquaredError<'a> {
    y: &'a [f64],
    period: usize,
    damped: bool,
}

impl CostFunction for SquaredError<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, raw: &Self::Param) -> Result<f64, ArgminError> {
        let p = params_from(raw, self.period > 0, self.damped);
        let (sse, ..) = filter(self.y, self.period, p);
        Ok(if sse.is_finite() { sse } else { f64::MAX })
    }
}

/// Fits the additive model with season `period` (`0`: no season), with a damped trend or a
/// linear one (`phi = 1`). Needs at least two full seasons plus a few points; returns `None`
/// when the series is too short or the fit fails.
pub fn fit(y: &[f64], period: usize, damped: bool) -> Option<EtsFit> {
    let min_len = if period > 0 { 2 * period + 2 } else { 6 };
    if y.len() < min_len || y.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let seasonal = period > 0;
    // Start near alpha 0.5, beta* 0.1, gamma* 0.1, phi 0.95 (logit space).
    let mut start: Vec<f64> = vec![0.0, -2.2];
    if seasonal {
        start.push(-2.2);
    }
    if damped {
        start.push(2.0);
    }
    let mut simplex = vec![start.clone()];
    for i in 0..start.len() {
        let mut vertex = start.clone();
        vertex[i] += 1.5;
        simplex.push(vertex);
    }
    let solver = NelderMead::new(simplex).with_sd_tolerance(1e-7).ok()?;
    let cost = SquaredError { y, period, damped };
    let result = Executor::new(cost, solver)
        .configure(|state| state.max_iters(MAX_ITERATIONS))
        .run()
        .ok()?;
    let best = result.state().get_best_param()?.clone();
    let params = params_from(&best, seasonal, damped);
    let (sse, level, slope, season) = filter(y, period, params);
    let estimated = start.len() + 2 + if seasonal { period } else { 0 };
    let dof = (y.len().saturating_sub(estimated)).max(1) as f64;
    Some(EtsFit {
        params,
        period,
        level,
        slope,
        season,
        sigma: (sse / dof).sqrt(),
    })
}

impl EtsFit {
    /// Point forecasts and their standard deviations for steps `1..=horizon` (Hyndman et al.
    /// 2008, table 6.1, class 1: `var_h = sigma^2 (1 + sum_{j<h} c_j^2)` with
    /// `c_j = alpha + beta * phi_j + gamma * [j mod m = 0]`).
    pub fn forecast(&self, horizon: usize) -> Vec<(f64, f64)> {
        let p = self.params;
        let mut out = Vec::with_capacity(horizon);
        let mut phi_h: f64 = 0.0; // phi + phi^2 + ... + phi^h
        let mut phi_pow = 1.0;
        let mut variance_sum: f64 = 0.0; // sum of c_j^2 for j < h
        for h in 1..=horizon {
            phi_pow *= p.phi;
            phi_h += phi_pow;
            let s = if self.period > 0 {
                self.season[(h - 1) % self.period]
            } else {
                0.0
            };
            let mean = self.level + phi_h * self.slope + s;
            let sd = self.sigma * (1.0 + variance_sum).sqrt();
            out.push((mean, sd));
            // c_h, used from step h + 1 on.
            let seasonal_hit = self.period > 0 && h % self.period == 0;
            let c = p.alpha + p.beta * phi_h + if seasonal_hit { p.gamma } else { 0.0 };
            variance_sum += c * c;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pure_trend_is_followed() {
        let y: Vec<f64> = (0..60).map(|t| 10.0 + 2.0 * t as f64).collect();
        let fit = fit(&y, 0, true).unwrap();
        let f = fit.forecast(5);
        // Damping bends the line down a little; the first steps stay close to it.
        assert!((f[0].0 - 130.0).abs() < 1.0, "{f:?}");
        assert!(f[4].0 > f[0].0);
    }

    #[test]
    fn a_pure_season_is_repeated() {
        let pattern = [5.0, 9.0, 2.0, 7.0];
        let y: Vec<f64> = (0..48).map(|t| 100.0 + pattern[t % 4]).collect();
        let fit = fit(&y, 4, true).unwrap();
        let f = fit.forecast(8);
        for (h, (mean, _)) in f.iter().enumerate() {
            assert!(
                (mean - (100.0 + pattern[(48 + h) % 4])).abs() < 0.5,
                "{f:?}"
            );
        }
    }

    #[test]
    fn uncertainty_grows_with_the_horizon() {
        let y: Vec<f64> = (0..80)
            .map(|t| 50.0 + (t as f64 * 0.7).sin() * 3.0 + (t % 7) as f64)
            .collect();
        let f = fit(&y, 7, true).unwrap().forecast(30);
        assert!(f[29].1 > f[0].1);
        assert!(f.iter().all(|(m, s)| m.is_finite() && *s > 0.0));
    }

    #[test]
    fn too_short_a_series_is_refused() {
        assert!(fit(&[1.0; 9], 4, true).is_none());
        assert!(fit(&[1.0, 2.0], 0, false).is_none());
    }

    #[test]
    fn an_undamped_trend_keeps_its_slope_far_out() {
        let y: Vec<f64> = (0..60).map(|t| 10.0 + 2.0 * t as f64).collect();
        let f = fit(&y, 0, false).unwrap().forecast(200);
        assert!(
            (f[199].0 - (10.0 + 2.0 * 259.0)).abs() < 2.0,
            "{:?}",
            f[199]
        );
    }
}
