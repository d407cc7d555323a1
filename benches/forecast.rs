//! Model selection speed: full selections (every candidate backtested at every origin, the
//! winner refitted, the horizon forecast) per second on one core, for 720-point hourly series
//! (30 days): a synthetic CPU-like series and the first 720 hours of the public `taylor` series.
//! The candidates there are the two seasonal naives and MSTL (daily and weekly) with the ETS
//! family on the adjusted series, backtested at up to `ForecastOptions::default().max_origins`.
//!
//! `cargo bench --bench forecast` (or `scripts/bench.sh forecast`). Target: at least 20 per
//! second.

use slacap::forecast::{ForecastOptions, Series, forecast, series};
use std::time::Instant;

const HOUR: i64 = 3_600_000_000;

fn synthetic() -> Series {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let samples: Vec<(i64, f64)> = (0..720)
        .map(|t| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            let day = (2.0 * std::f64::consts::PI * (t % 24) as f64 / 24.0).sin();
            let weekend = if (t / 24) % 7 >= 5 { -0.08 } else { 0.0 };
            (
                t as i64 * HOUR,
                0.4 + 0.2 * day + weekend + 0.0005 * t as f64 + 0.05 * noise,
            )
        })
        .collect();
    Series::regularize(&samples, HOUR).expect("series")
}

fn taylor() -> Series {
    let text = include_str!("data/taylor.csv");
    let (rows, step) = series::parse_csv(text).expect("taylor.csv");
    Series::from_rows(&rows[..720], step).expect("series")
}

fn main() {
    let options = ForecastOptions {
        horizon: 30 * 24,
        ..ForecastOptions::default()
    };
    println!("model selection on 720-point hourly series, one thread, horizon 720 steps");
    for (name, series) in [
        ("synthetic cpu", synthetic()),
        ("taylor (public)", taylor()),
    ] {
        // Warm up once, then time enough runs for a stable figure.
        let first = forecast(&series, &options).expect("forecast");
        let runs = 40;
        let started = Instant::now();
        for _ in 0..runs {
            std::hint::black_box(forecast(&series, &options).expect("forecast"));
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{name:<16} {:>6.1} selections/s  ({:.1} ms each; {} candidates x {} origins; chose {}, MASE {:.3})",
            runs as f64 / seconds,
            1000.0 * seconds / runs as f64,
            first.candidates.len(),
            first.accuracy.origins,
            first.model_name,
            first.accuracy.mase
        );
    }
}
