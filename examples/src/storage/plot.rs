//! The SVG plot: server throughput (capacity) vs records per invocation, one panel per compute
//! level, measured points and predicted lines per side.

use std::path::Path;

use plotters::prelude::*;

use super::experiment::{Report, Side};

const COLORS: [RGBColor; 5] = [
    RGBColor(0, 0, 0),
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Writes the plot of `report` to `path`.
///
/// # Errors
/// I/O or drawing errors.
pub fn write_svg(report: &Report, path: &Path) -> std::io::Result<()> {
    let mut computes: Vec<f64> = report.points.iter().map(|p| p.compute_us).collect();
    computes.sort_by(f64::total_cmp);
    computes.dedup();
    let mut sides: Vec<Side> = Vec::new();
    for p in &report.points {
        if !sides.contains(&p.side) {
            sides.push(p.side.clone());
        }
    }
    let cols = 2usize;
    let rows = computes.len().div_ceil(cols).max(1);
    let height = u32::try_from(420 * rows).unwrap_or(840);
    let root = SVGBackend::new(path, (1200, height)).into_drawing_area();
    root.fill(&WHITE).map_err(other)?;
    let panels = root.split_evenly((rows, cols));
    let kmax = report
        .points
        .iter()
        .map(|p| f64::from(p.records))
        .fold(1.0, f64::max);
    for (panel, &c) in panels.iter().zip(&computes) {
        let here: Vec<_> = report.points.iter().filter(|p| p.compute_us == c).collect();
        let ys = here
            .iter()
            .flat_map(|p| [p.capacity(), p.predicted_capacity()])
            .filter(|y| y.is_finite() && *y > 0.0);
        let (lo, hi) = ys.fold((f64::INFINITY, 0.0f64), |(lo, hi), y| {
            (lo.min(y), hi.max(y))
        });
        let (lo, hi) = if lo.is_finite() {
            (lo / 1.5 / 1e3, hi * 1.5 / 1e3)
        } else {
            (1.0, 10.0)
        };
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!("compute {c} us: server throughput vs records"),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d((0.8f64..kmax * 1.25).log_scale(), (lo..hi).log_scale())
            .map_err(other)?;
        chart
            .configure_mesh()
            .max_light_lines(1)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .x_desc("records per invocation k (dots: measured, lines: predicted)")
            .y_desc("kinvocations/s per server core")
            .draw()
            .map_err(other)?;
        for (i, side) in sides.iter().enumerate() {
            let color = COLORS[i % COLORS.len()];
            let mut pts: Vec<_> = here.iter().filter(|p| &p.side == side).collect();
            pts.sort_by_key(|p| p.records);
            chart
                .draw_series(LineSeries::new(
                    pts.iter()
                        .map(|p| (f64::from(p.records), p.predicted_capacity() / 1e3)),
                    color.stroke_width(2),
                ))
                .map_err(other)?
                .label(format!("{side} predicted"))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color));
            chart
                .draw_series(pts.iter().map(|p| {
                    Circle::new(
                        (f64::from(p.records), p.capacity() / 1e3),
                        4,
                        color.filled(),
                    )
                }))
                .map_err(other)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(other)?;
    }
    root.present().map_err(other)
}
