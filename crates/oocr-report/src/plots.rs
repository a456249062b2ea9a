//! Figures with `plotters`: line/scatter panels (linear or log axes, legends, axis labels) and
//! block heatmaps of W_OV. Every figure is written twice, `STEM.png` and `STEM.svg`, with the
//! bundled DejaVu Sans font (no system font library).

use crate::error::{ReportError, Result};
/// Legend placement of a [`Panel`].
pub use plotters::chart::SeriesLabelPosition;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};
use std::sync::Once;

/// The font family name every figure uses (registered from the bundled TTF).
const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Registers the bundled font with plotters (idempotent).
pub fn register_font() {
    REGISTER.call_once(|| {
        // The bytes are a valid TrueType file shipped with the crate; a failure is a packaging bug.
        if plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_err() {
            panic!("the bundled DejaVuSans.ttf is not a valid font");
        }
    });
}

/// A colour-blind-safe palette (Okabe–Ito), indexed by `Series::color`.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(120, 120, 120),
];

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A solid line.
    Line,
    /// A dashed line (references such as ln n).
    Dashed,
    /// Filled circles only.
    Points,
    /// A line with circles at the points.
    LinePoints,
    /// Hollow squares only (drawn over other points).
    Squares,
}

/// One named curve of a panel.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// (x, y) points; non-finite points (and non-positive ones on a log axis) are skipped.
    pub points: Vec<(f64, f64)>,
    /// Index into [`PALETTE`].
    pub color: usize,
    /// Line or markers.
    pub mark: Mark,
}

impl Series {
    /// A series of `mark` style.
    pub fn new(
        label: impl Into<String>,
        points: Vec<(f64, f64)>,
        color: usize,
        mark: Mark,
    ) -> Self {
        Series {
            label: label.into(),
            points,
            color,
            mark,
        }
    }
}

/// One chart: title, axis labels, axis scales and its series.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Caption above the chart.
    pub title: String,
    /// x-axis label.
    pub x_label: String,
    /// y-axis label.
    pub y_label: String,
    /// Logarithmic x axis.
    pub x_log: bool,
    /// Logarithmic y axis.
    pub y_log: bool,
    /// Fixed y range (else fitted to the data).
    pub y_range: Option<(f64, f64)>,
    /// Where the legend goes (upper right unless the data lie there).
    pub legend: SeriesLabelPosition,
    /// The curves.
    pub series: Vec<Series>,
}

impl Panel {
    /// A panel with linear axes and no series yet.
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Panel {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            x_log: false,
            y_log: false,
            y_range: None,
            legend: SeriesLabelPosition::UpperRight,
            series: Vec::new(),
        }
    }
}

/// The two files a figure is written to.
#[derive(Debug, Clone)]
pub struct FigureFiles {
    /// `STEM.png`.
    pub png: PathBuf,
    /// `STEM.svg`.
    pub svg: PathBuf,
}

fn err(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Plot {
        path: path.to_path_buf(),
        msg: e.to_string(),
    }
}

/// Writes the panels side by side (`STEM.png` and `STEM.svg`), each `panel_w` × `h` pixels.
pub fn line_figure(stem: &Path, panels: &[Panel], panel_w: u32, h: u32) -> Result<FigureFiles> {
    register_font();
    let size = (panel_w * panels.len().max(1) as u32, h);
    let files = FigureFiles {
        png: stem.with_extension("png"),
        svg: stem.with_extension("svg"),
    };
    {
        let root = BitMapBackend::new(&files.png, size).into_drawing_area();
        draw_panels(&root, panels).map_err(|e| err(&files.png, e))?;
        root.present().map_err(|e| err(&files.png, e))?;
    }
    {
        let root = SVGBackend::new(&files.svg, size).into_drawing_area();
        draw_panels(&root, panels).map_err(|e| err(&files.svg, e))?;
        root.present().map_err(|e| err(&files.svg, e))?;
    }
    Ok(files)
}

type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw_panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panels: &[Panel],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let areas = root.split_evenly((1, panels.len().max(1)));
    for (area, panel) in areas.iter().zip(panels) {
        draw_panel(area, panel)?;
    }
    Ok(())
}

/// The data range of a panel's axis, padded, honouring log scales.
fn extent(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return if log { (0.1, 10.0) } else { (0.0, 1.0) };
    }
    if log {
        let (a, b) = (lo.log10().floor(), hi.log10().ceil());
        let b = if b <= a { a + 1.0 } else { b };
        (10f64.powf(a), 10f64.powf(b))
    } else {
        let pad = if hi > lo {
            0.05 * (hi - lo)
        } else {
            0.5f64.max(hi.abs() * 0.1)
        };
        (lo - pad, hi + pad)
    }
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> DrawResult<DB> {
    let xs = p.series.iter().flat_map(|s| s.points.iter().map(|q| q.0));
    let ys = p.series.iter().flat_map(|s| s.points.iter().map(|q| q.1));
    let (x0, x1) = extent(xs, p.x_log);
    let (y0, y1) = p.y_range.unwrap_or_else(|| extent(ys, p.y_log));
    match (p.x_log, p.y_log) {
        (false, false) => chart(area, p, x0..x1, y0..y1),
        (true, false) => chart(area, p, (x0..x1).log_scale(), y0..y1),
        (false, true) => chart(area, p, x0..x1, (y0..y1).log_scale()),
        (true, true) => chart(area, p, (x0..x1).log_scale(), (y0..y1).log_scale()),
    }
}

fn chart<DB, X, Y>(area: &DrawingArea<DB, Shift>, p: &Panel, x: X, y: Y) -> DrawResult<DB>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let mut ch = ChartBuilder::on(area)
        .caption(&p.title, (FONT, 22))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(x, y)?;
    ch.configure_mesh()
        .x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .axis_desc_style((FONT, 18))
        .label_style((FONT, 15))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(205, 205, 205))
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .draw()?;
    let ok = |q: &&(f64, f64)| {
        q.0.is_finite() && q.1.is_finite() && (!p.x_log || q.0 > 0.0) && (!p.y_log || q.1 > 0.0)
    };
    for s in &p.series {
        let c = PALETTE[s.color % PALETTE.len()];
        let pts: Vec<(f64, f64)> = s.points.iter().filter(ok).copied().collect();
        let legend_mark = s.mark;
        let anno = match s.mark {
            Mark::Line => ch.draw_series(LineSeries::new(pts, c.stroke_width(3)))?,
            Mark::Dashed => ch.draw_series(DashedLineSeries::new(pts, 8, 6, c.stroke_width(2)))?,
            Mark::Points => {
                ch.draw_series(pts.into_iter().map(|q| Circle::new(q, 6, c.filled())))?
            }
            Mark::Squares => ch.draw_series(pts.into_iter().map(|q| {
                EmptyElement::at(q) + Rectangle::new([(-8, -8), (8, 8)], c.stroke_width(3))
            }))?,
            Mark::LinePoints => {
                ch.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?;
                ch.draw_series(pts.into_iter().map(|q| Circle::new(q, 5, c.filled())))?
            }
        };
        anno.label(s.label.as_str())
            .legend(move |(x, y)| match legend_mark {
                Mark::Points | Mark::Squares => Circle::new((x + 10, y), 5, c.filled()).into_dyn(),
                _ => PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)).into_dyn(),
            });
    }
    ch.configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 15))
        .position(p.legend.clone())
        .draw()?;
    Ok(())
}

/// Tick text: plain decimals, scientific for very small or large magnitudes.
fn tick(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.0e}")
    } else if a >= 100.0 || (v.fract() == 0.0) {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A named range of rows or columns of a heatmap.
#[derive(Debug, Clone)]
pub struct Group {
    /// Label drawn beside the range.
    pub label: String,
    /// The rows or columns it covers.
    pub range: std::ops::Range<usize>,
}

/// A labelled, outlined rectangle of a heatmap (e.g. the test-implication block).
#[derive(Debug, Clone)]
pub struct BlockMark {
    /// Label drawn in the block's centre.
    pub label: String,
    /// Rows covered.
    pub rows: std::ops::Range<usize>,
    /// Columns covered.
    pub cols: std::ops::Range<usize>,
}

/// One heatmap panel: a matrix drawn with a diverging colour scale symmetric about 0.
#[derive(Debug, Clone)]
pub struct Heatmap {
    /// Caption above the panel.
    pub title: String,
    /// Row-major values, `values[row][col]`.
    pub values: Vec<Vec<f64>>,
    /// Row groups, labelled on the left.
    pub row_groups: Vec<Group>,
    /// Column groups, labelled on top.
    pub col_groups: Vec<Group>,
    /// Outlined, labelled blocks.
    pub blocks: Vec<BlockMark>,
    /// Text under the panel (what the axes are).
    pub x_note: String,
}

/// Diverging blue–white–red colour of `v` on the scale [−vmax, vmax].
pub fn diverging(v: f64, vmax: f64) -> RGBColor {
    let t = if vmax > 0.0 {
        (v / vmax).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let (end, t) = if t >= 0.0 {
        ((178.0, 24.0, 43.0), t)
    } else {
        ((33.0, 102.0, 172.0), -t)
    };
    let mix = |e: f64| (255.0 + (e - 255.0) * t).round() as u8;
    RGBColor(mix(end.0), mix(end.1), mix(end.2))
}

/// Writes the heatmaps stacked vertically (`STEM.png` and `STEM.svg`), each `w` × `panel_h` pixels.
pub fn heatmap_figure(
    stem: &Path,
    panels: &[Heatmap],
    w: u32,
    panel_h: u32,
) -> Result<FigureFiles> {
    register_font();
    let size = (w, panel_h * panels.len().max(1) as u32);
    let files = FigureFiles {
        png: stem.with_extension("png"),
        svg: stem.with_extension("svg"),
    };
    {
        let root = BitMapBackend::new(&files.png, size).into_drawing_area();
        draw_heatmaps(&root, panels).map_err(|e| err(&files.png, e))?;
        root.present().map_err(|e| err(&files.png, e))?;
    }
    {
        let root = SVGBackend::new(&files.svg, size).into_drawing_area();
        draw_heatmaps(&root, panels).map_err(|e| err(&files.svg, e))?;
        root.present().map_err(|e| err(&files.svg, e))?;
    }
    Ok(files)
}

fn draw_heatmaps<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panels: &[Heatmap],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let areas = root.split_evenly((panels.len().max(1), 1));
    for (area, hm) in areas.iter().zip(panels) {
        draw_heatmap(area, hm)?;
    }
    Ok(())
}

fn text_at<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    at: (i32, i32),
    size: u32,
    h: HPos,
) -> DrawResult<DB> {
    let style = TextStyle::from((FONT, size).into_font())
        .color(&BLACK)
        .pos(Pos::new(h, VPos::Center));
    area.draw(&Text::new(s.to_string(), at, style))
}

fn draw_heatmap<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, hm: &Heatmap) -> DrawResult<DB> {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    let nrows = hm.values.len().max(1) as i32;
    let ncols = hm.values.first().map_or(1, |r| r.len().max(1)) as i32;
    let (left, right, top, bottom) = (150, 110, 64, 34);
    let cw = ((w - left - right) / ncols).max(1);
    let chh = ((h - top - bottom) / nrows).max(1);
    let (gw, gh) = (cw * ncols, chh * nrows);
    let vmax = hm
        .values
        .iter()
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, v| m.max(v.abs()));
    text_at(area, &hm.title, (left + gw / 2, 16), 20, HPos::Center)?;
    for (i, row) in hm.values.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            let (x, y) = (left + j as i32 * cw, top + i as i32 * chh);
            area.draw(&Rectangle::new(
                [(x, y), (x + cw, y + chh)],
                diverging(v, vmax).filled(),
            ))?;
        }
    }
    for g in &hm.col_groups {
        let (a, b) = (
            left + g.range.start as i32 * cw,
            left + g.range.end as i32 * cw,
        );
        area.draw(&PathElement::new(
            vec![(a + 2, top - 6), (b - 2, top - 6)],
            BLACK.stroke_width(2),
        ))?;
        text_at(area, &g.label, ((a + b) / 2, top - 20), 15, HPos::Center)?;
    }
    for g in &hm.row_groups {
        let (a, b) = (
            top + g.range.start as i32 * chh,
            top + g.range.end as i32 * chh,
        );
        area.draw(&PathElement::new(
            vec![(left - 6, a + 2), (left - 6, b - 2)],
            BLACK.stroke_width(2),
        ))?;
        text_at(area, &g.label, (left - 12, (a + b) / 2), 15, HPos::Right)?;
    }
    for b in &hm.blocks {
        let (x0, x1) = (
            left + b.cols.start as i32 * cw,
            left + b.cols.end as i32 * cw,
        );
        let (y0, y1) = (
            top + b.rows.start as i32 * chh,
            top + b.rows.end as i32 * chh,
        );
        area.draw(&Rectangle::new([(x0, y0), (x1, y1)], BLACK.stroke_width(3)))?;
        let (cx, cy) = ((x0 + x1) / 2, (y0 + y1) / 2);
        let half = (b.label.chars().count() as i32 * 4 + 6).min((x1 - x0) / 2 - 2);
        area.draw(&Rectangle::new(
            [(cx - half, cy - 11), (cx + half, cy + 11)],
            WHITE.mix(0.8).filled(),
        ))?;
        text_at(area, &b.label, (cx, cy), 14, HPos::Center)?;
    }
    text_at(
        area,
        &hm.x_note,
        (left + gw / 2, top + gh + 18),
        14,
        HPos::Center,
    )?;
    // Colour bar.
    let (bx, by, bh) = (left + gw + 24, top, gh);
    let steps = 100;
    for k in 0..steps {
        let v = vmax * (1.0 - 2.0 * (k as f64 + 0.5) / steps as f64);
        let y = by + bh * k / steps;
        let y2 = by + bh * (k + 1) / steps;
        area.draw(&Rectangle::new(
            [(bx, y), (bx + 18, y2)],
            diverging(v, vmax).filled(),
        ))?;
    }
    area.draw(&Rectangle::new(
        [(bx, by), (bx + 18, by + bh)],
        BLACK.stroke_width(1),
    ))?;
    for (frac, v) in [(0.0, vmax), (0.5, 0.0), (1.0, -vmax)] {
        let y = by + (bh as f64 * frac) as i32;
        text_at(area, &format!("{v:+.2}"), (bx + 24, y), 14, HPos::Left)?;
    }
    Ok(())
}
