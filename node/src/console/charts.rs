//! The console's charts: server-side SVG drawn by `plotters` (its SVG backend) from
//! numbers and dates only (never ledger-provided text, so the SVG is safe to inline).

use plotters::prelude::*;

/// The console's accent colour (the stylesheet's `--accent`).
const ACCENT: RGBColor = RGBColor(0x0f, 0x76, 0x6e);
/// The axis and label colour.
const MUTED: RGBColor = RGBColor(0x55, 0x5f, 0x6b);
/// Most points drawn; longer series keep their last ones.
pub const MAX_POINTS: usize = 400;

fn last_points(values: &[u64]) -> &[u64] {
    &values[values.len().saturating_sub(MAX_POINTS)..]
}

/// A sparkline of `values` (oldest first): a filled line, no axes, `w`×`h` px.
pub fn sparkline(values: &[u64], w: u32, h: u32) -> Result<String, String> {
    let values = last_points(values);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        let n = values.len().max(2) as u32;
        let max = values.iter().copied().max().unwrap_or(0).max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(2)
            .build_cartesian_2d(0u32..n - 1, 0u64..max)
            .map_err(|e| e.to_string())?;
        let points = values.iter().enumerate().map(|(i, v)| (i as u32, *v));
        chart
            .draw_series(
                AreaSeries::new(points, 0, ACCENT.mix(0.15)).border_style(ACCENT.stroke_width(2)),
            )
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// A bar chart of `bars` (label, value), oldest first, with a value axis, `w`×`h` px.
pub fn bars(bars: &[(String, u64)], w: u32, h: u32) -> Result<String, String> {
    let bars = &bars[bars.len().saturating_sub(MAX_POINTS)..];
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        let n = bars.len().max(1) as u32;
        let max = bars.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(24)
            .y_label_area_size(40)
            .build_cartesian_2d(0u32..n, 0u64..max + max.div_ceil(10))
            .map_err(|e| e.to_string())?;
        let label = |x: &u32| {
            bars.get(*x as usize)
                .map(|(l, _)| l.clone())
                .unwrap_or_default()
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(6)
            .y_labels(4)
            .x_label_formatter(&label)
            .axis_style(MUTED)
            .label_style(("sans-serif", 11).into_font().color(&MUTED))
            .light_line_style(RGBColor(0xe5, 0xe7, 0xeb))
            .draw()
            .map_err(|e| e.to_string())?;
        let rects = bars.iter().enumerate().map(|(i, (_, v))| {
            let x = i as u32;
            let mut bar = Rectangle::new([(x, 0), (x + 1, *v)], ACCENT.filled());
            bar.set_margin(0, 0, 2, 2);
            bar
        });
        chart.draw_series(rects).map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}
