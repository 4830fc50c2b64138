//! PDF reports: the renderer behind `cactus report ... --format pdf`.
//!
//! [`render`] turns a [`ReportDocument`] (title, subtitle, a [`ReportStamp`] and a list of
//! [`ReportSection`]s) into the bytes of an A4 PDF. This module owns the layout only; the
//! figures come from the analytics store and the `cactus report` command.
//!
//! # What a report looks like
//!
//! - Page 1: the title, the subtitle, and the **stamp**: chain id, block height, block
//!   hash, state root, the checkpoint certificate and the time of generation, with a
//!   sentence telling an auditor how to check it (`cactus audit verify`, or comparing
//!   with `GET /v1/blocks/{height}` on any node).
//! - Then every section in order: tables (with a header row, repeated on every page the
//!   table runs over; numeric columns right-aligned), line charts of time series (axes,
//!   tick labels, grid, a legend) and bar charts (negative bars go below the zero line).
//! - Every page's footer carries the chain id, the stamp's height and state root, and
//!   `Page i of n`.
//!
//! Edge cases are drawn, not refused: a chart with no data says so, a one-point series is
//! drawn as a dot, long labels and cells are cut with an ellipsis to fit, and any number
//! of rows paginates. Malformed input (a table row with more or fewer cells than the
//! header, a series with a different number of values than there are labels) is a
//! [`ReportPdfError`]. Chart values are clamped to ±10^15 so that axis arithmetic
//! cannot overflow.
//!
//! # Text and fonts
//!
//! Text uses the PDF builtin fonts (Helvetica, Helvetica-Bold, Courier for hashes), so
//! no font file is embedded and nothing is read from the system. These fonts only have
//! the WinAnsi (Windows-1252) character set: Latin-1 letters, `€`, typographic quotes and
//! dashes are kept; letters of Latin Extended-A are transliterated to their base letter
//! (`Łódź` → `Lódz`, `ő` → `o`); a few symbols get ASCII spellings (`→` → `->`, `≤` →
//! `<=`, `−` → `-`); every other character (CJK, Cyrillic, emoji, ...) becomes `?`. Control
//! characters become spaces. The document title in the PDF metadata keeps full Unicode.
//!
//! # Crates, and why
//!
//! The document is written with [`pdf_writer`] (Typst's low-level PDF writer: four tiny
//! dependencies, no native code) and the charts are laid out by [`plotters`] (ranges,
//! "nice" tick values, mesh, series) through our own plotters backend, `PdfCanvas`,
//! which emits PDF vector paths and builtin-font text straight into the page's content
//! stream: crisp at any zoom, no bitmap, no SVG, no font rasterizer. Both together add
//! about 7 s to a cold build on 2 cores; `printpdf` 0.12 (the obvious alternative) adds
//! about 100 s (font shaping, `lopdf` with its crypto stack) for nothing a report needs.
//! Text widths come from the Adobe font metrics of Helvetica built into this module.
//!
//! The output is deterministic: the same document gives the same bytes (no creation
//! date or random file id is written; the stamp's `generated_at` is the date).

// Page layout is geometry in PDF points (f32); nothing here touches consensus state.
#![allow(clippy::float_arithmetic)]

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use plotters::coord::Shift;
use plotters::coord::types::{RangedCoordf64, RangedCoordi64};
use plotters::prelude::{
    Cartesian2d, ChartBuilder, ChartContext, DrawingArea, IntoDrawingArea, LabelAreaPosition,
    LineSeries, PathElement, RGBColor, Rectangle, ShapeStyle, TRANSPARENT,
};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
    FontStyle,
};
use serde::{Deserialize, Serialize};

/// A report to render: what [`render`] draws, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportDocument {
    /// The report's title, on the first page and in the PDF metadata.
    pub title: String,
    /// One line under the title (e.g. the pool, the period and the filters); may be empty.
    pub subtitle: String,
    /// The chain state the figures were computed at, printed on the first page and in
    /// every footer.
    pub stamp: ReportStamp,
    /// The report's body, drawn in order after the stamp.
    pub sections: Vec<ReportSection>,
}

/// The chain state a report was computed at, so that an auditor can check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportStamp {
    /// The chain id (from genesis).
    pub chain_id: String,
    /// The block height the figures were computed at.
    pub height: u64,
    /// The hash of the block at `height` (hex).
    pub block_hash: String,
    /// The state root after the block at `height` (hex).
    pub state_root: String,
    /// The checkpoint certificate of that block as the node returned it (e.g. its hash
    /// or compact encoding), `None` while the block is not certified yet.
    pub certificate: Option<String>,
    /// When the report was generated (ISO 8601, as the caller formats it).
    pub generated_at: String,
}

/// One part of a report's body.
///
/// In JSON: an object tagged `"kind": "table" | "time_series" | "bars"` with the fields
/// below; series and bars are `[name, values]` pairs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReportSection {
    /// A table: a header row and rows of cells, paginated with the header repeated.
    Table {
        /// The section's heading.
        heading: String,
        /// The column headers.
        columns: Vec<String>,
        /// The rows; every row has exactly one cell per column.
        rows: Vec<Vec<String>>,
    },
    /// A line chart of one or more series over the same points in time.
    TimeSeries {
        /// The section's heading.
        heading: String,
        /// The unit of the values (e.g. `redemptions`, `EUR cents`); may be empty.
        unit: String,
        /// The x-axis labels, one per point (e.g. days `2026-12-01`).
        labels: Vec<String>,
        /// The series: a name for the legend and one value per label.
        series: Vec<(String, Vec<i64>)>,
    },
    /// A bar chart: one bar per category.
    Bars {
        /// The section's heading.
        heading: String,
        /// The unit of the values; may be empty.
        unit: String,
        /// The bars: a category label and its value (negative values go below zero).
        bars: Vec<(String, i64)>,
    },
}

/// Why a report could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum ReportPdfError {
    /// A table row has more or fewer cells than the table has columns.
    #[error("table {heading:?}: row {row} has {cells} cells but the table has {columns} columns")]
    RaggedTable {
        /// The table's heading.
        heading: String,
        /// The row's index (0-based).
        row: usize,
        /// The row's number of cells.
        cells: usize,
        /// The number of columns.
        columns: usize,
    },
    /// A time series has a different number of values than the chart has labels.
    #[error("chart {heading:?}: series {series:?} has {values} values for {labels} labels")]
    SeriesLength {
        /// The chart's heading.
        heading: String,
        /// The series' name.
        series: String,
        /// The series' number of values.
        values: usize,
        /// The chart's number of labels.
        labels: usize,
    },
    /// The chart library failed to lay out or draw a chart.
    #[error("chart {heading:?}: {message}")]
    Chart {
        /// The chart's heading.
        heading: String,
        /// What went wrong.
        message: String,
    },
}

/// Renders `doc` as a PDF (A4 portrait) and returns its bytes.
pub fn render(doc: &ReportDocument) -> Result<Vec<u8>, ReportPdfError> {
    validate(doc)?;
    let mut layout = Layout::new();
    draw_title_and_stamp(&mut layout, doc);
    if doc.sections.is_empty() {
        layout.gap(8.0);
        layout.line(Font::Regular, 10.0, GREY, "This report has no sections.");
    }
    for section in &doc.sections {
        draw_section(&mut layout, section)?;
    }
    let mut pages = layout.finish();
    let count = pages.len();
    for (index, page) in pages.iter_mut().enumerate() {
        draw_footer(page, &doc.stamp, index + 1, count);
    }
    Ok(assemble(doc, pages))
}

/// Checks the shapes a renderer cannot guess around.
fn validate(doc: &ReportDocument) -> Result<(), ReportPdfError> {
    for section in &doc.sections {
        match section {
            ReportSection::Table {
                heading,
                columns,
                rows,
            } => {
                if let Some((row, cells)) = rows
                    .iter()
                    .enumerate()
                    .find(|(_, cells)| cells.len() != columns.len())
                {
                    return Err(ReportPdfError::RaggedTable {
                        heading: heading.clone(),
                        row,
                        cells: cells.len(),
                        columns: columns.len(),
                    });
                }
            }
            ReportSection::TimeSeries {
                heading,
                labels,
                series,
                ..
            } => {
                if let Some((name, values)) = series.iter().find(|(_, v)| v.len() != labels.len()) {
                    return Err(ReportPdfError::SeriesLength {
                        heading: heading.clone(),
                        series: name.clone(),
                        values: values.len(),
                        labels: labels.len(),
                    });
                }
            }
            ReportSection::Bars { .. } => {}
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Page geometry (PDF points, origin bottom-left) and colours.

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN_X: f32 = 50.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN_X;
const TOP: f32 = PAGE_H - 50.0;
const BOTTOM: f32 = 62.0;
const FOOTER_Y: f32 = 34.0;

type Rgb = (u8, u8, u8);
const BLACK: Rgb = (20, 20, 20);
const GREY: Rgb = (100, 100, 100);
const RULE: Rgb = (190, 190, 190);
/// Series and bar colours (Tableau 10), cycled.
const PALETTE: [Rgb; 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

fn fill(c: &mut Content, (r, g, b): Rgb) {
    c.set_fill_rgb(
        f32::from(r) / 255.0,
        f32::from(g) / 255.0,
        f32::from(b) / 255.0,
    );
}

fn stroke(c: &mut Content, (r, g, b): Rgb, width: f32) {
    c.set_stroke_rgb(
        f32::from(r) / 255.0,
        f32::from(g) / 255.0,
        f32::from(b) / 255.0,
    );
    c.set_line_width(width);
}

fn filled_rect(c: &mut Content, colour: Rgb, x: f32, y: f32, w: f32, h: f32) {
    fill(c, colour);
    c.rect(x, y, w, h);
    c.fill_nonzero();
}

fn hline(c: &mut Content, colour: Rgb, width: f32, x0: f32, x1: f32, y: f32) {
    stroke(c, colour, width);
    c.move_to(x0, y);
    c.line_to(x1, y);
    c.stroke();
}

/// The pages written so far and the cursor on the current one (top-down).
struct Layout {
    done: Vec<Content>,
    page: Content,
    y: f32,
}

impl Layout {
    fn new() -> Self {
        Self {
            done: Vec::new(),
            page: Content::new(),
            y: TOP,
        }
    }

    fn break_page(&mut self) {
        let page = std::mem::replace(&mut self.page, Content::new());
        self.done.push(page);
        self.y = TOP;
    }

    /// Starts a new page unless `height` fits below the cursor; true if it did.
    fn reserve(&mut self, height: f32) -> bool {
        let fresh = self.y >= TOP;
        if self.y - height < BOTTOM && !fresh {
            self.break_page();
            return true;
        }
        false
    }

    fn gap(&mut self, height: f32) {
        self.y -= height;
    }

    /// One line of text at the left margin, cut to the content width.
    fn line(&mut self, font: Font, size: f32, colour: Rgb, text: &str) {
        self.reserve(size * 1.4);
        self.y -= size * 1.15;
        fill(&mut self.page, colour);
        let text = fit(font, size, &sanitize(text), CONTENT_W);
        put_text(&mut self.page, font, size, MARGIN_X, self.y, &text);
        self.y -= size * 0.35;
    }

    fn finish(mut self) -> Vec<Content> {
        self.done.push(self.page);
        self.done
    }
}

// ---------------------------------------------------------------------------------------
// Title, stamp and footer.

fn draw_title_and_stamp(layout: &mut Layout, doc: &ReportDocument) {
    layout.line(Font::Bold, 20.0, BLACK, &doc.title);
    for line in wrap(Font::Regular, 11.0, &sanitize(&doc.subtitle), CONTENT_W) {
        layout.line(Font::Regular, 11.0, GREY, &line);
    }
    layout.gap(10.0);
    draw_stamp(layout, &doc.stamp);
    layout.gap(18.0);
}

/// The stamp's rows: label, font and the value's wrapped lines.
fn stamp_rows(stamp: &ReportStamp, width: f32) -> Vec<(&'static str, Font, Vec<String>)> {
    let mono = |v: &str| wrap(Font::Mono, STAMP_SIZE, &sanitize(v), width);
    let plain = |v: &str| wrap(Font::Regular, STAMP_SIZE, &sanitize(v), width);
    let mut certificate = match &stamp.certificate {
        Some(c) => ("Certificate", Font::Mono, mono(c)),
        None => (
            "Certificate",
            Font::Regular,
            plain("none: this block is not certified yet"),
        ),
    };
    if certificate.2.len() > 6 {
        certificate.2.truncate(6);
        certificate.2[5].push_str(" ...");
    }
    vec![
        ("Chain", Font::Regular, plain(&stamp.chain_id)),
        ("Block height", Font::Bold, plain(&stamp.height.to_string())),
        ("Block hash", Font::Mono, mono(&stamp.block_hash)),
        ("State root", Font::Mono, mono(&stamp.state_root)),
        certificate,
        ("Generated at", Font::Regular, plain(&stamp.generated_at)),
    ]
}

const STAMP_SIZE: f32 = 8.5;
const STAMP_LINE: f32 = 12.0;
const STAMP_LABEL_W: f32 = 86.0;

fn draw_stamp(layout: &mut Layout, stamp: &ReportStamp) {
    let inner = CONTENT_W - 20.0;
    let rows = stamp_rows(stamp, inner - STAMP_LABEL_W);
    let how = format!(
        "How to check this report: its figures were computed from the chain state at block {h}. \
         Run \u{201c}cactus audit verify --genesis genesis.toml\u{201d} to re-check the whole chain offline and \
         compare the block hash and state root it reports for height {h} with the ones above, \
         or fetch GET /v1/blocks/{h} from any node of the consortium and compare its hash, \
         state root and certificate with this stamp.",
        h = stamp.height
    );
    let how = wrap(Font::Regular, 8.0, &how, inner);
    let lines: usize = rows.iter().map(|r| r.2.len()).sum();
    let height = 30.0 + lines as f32 * STAMP_LINE + 8.0 + how.len() as f32 * 10.5 + 6.0;
    layout.reserve(height);
    let (x, top) = (MARGIN_X, layout.y);
    let page = &mut layout.page;
    filled_rect(page, (244, 246, 248), x, top - height, CONTENT_W, height);
    stroke(page, RULE, 0.6);
    page.rect(x, top - height, CONTENT_W, height);
    page.stroke();
    fill(page, BLACK);
    let mut y = top - 18.0;
    put_text(
        page,
        Font::Bold,
        10.0,
        x + 10.0,
        y,
        "Computed at this chain state",
    );
    y -= 16.0;
    for (label, font, values) in &rows {
        fill(page, GREY);
        put_text(page, Font::Bold, STAMP_SIZE, x + 10.0, y, label);
        fill(page, BLACK);
        for value in values {
            put_text(page, *font, STAMP_SIZE, x + 10.0 + STAMP_LABEL_W, y, value);
            y -= STAMP_LINE;
        }
    }
    y -= 6.0;
    fill(page, GREY);
    for line in &how {
        put_text(page, Font::Regular, 8.0, x + 10.0, y, line);
        y -= 10.5;
    }
    layout.y = top - height;
}

fn draw_footer(page: &mut Content, stamp: &ReportStamp, number: usize, count: usize) {
    hline(
        page,
        RULE,
        0.5,
        MARGIN_X,
        PAGE_W - MARGIN_X,
        FOOTER_Y + 11.0,
    );
    let right = format!("Page {number} of {count}");
    let right_w = text_width(Font::Regular, 7.5, &right);
    let left = format!(
        "{} \u{b7} height {} \u{b7} state root {}",
        stamp.chain_id, stamp.height, stamp.state_root
    );
    let left = fit(
        Font::Regular,
        7.5,
        &sanitize(&left),
        CONTENT_W - right_w - 16.0,
    );
    fill(page, GREY);
    put_text(page, Font::Regular, 7.5, MARGIN_X, FOOTER_Y, &left);
    put_text(
        page,
        Font::Regular,
        7.5,
        PAGE_W - MARGIN_X - right_w,
        FOOTER_Y,
        &right,
    );
}

/// Writes the PDF objects: catalog, page tree, the three builtin fonts, pages, metadata.
fn assemble(doc: &ReportDocument, pages: Vec<Content>) -> Vec<u8> {
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let info = Ref::new(3);
    let fonts = [Font::Regular, Font::Bold, Font::Mono];
    let font_ref = |i: usize| Ref::new(4 + i as i32);
    let page_ref = |i: usize| Ref::new(10 + 2 * i as i32);
    let content_ref = |i: usize| Ref::new(11 + 2 * i as i32);

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids((0..pages.len()).map(page_ref))
        .count(pages.len() as i32);
    for (i, font) in fonts.iter().enumerate() {
        pdf.type1_font(font_ref(i))
            .base_font(Name(font.base_name()))
            .encoding_predefined(Name(b"WinAnsiEncoding"));
    }
    for (i, content) in pages.into_iter().enumerate() {
        let mut page = pdf.page(page_ref(i));
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .parent(tree)
            .contents(content_ref(i));
        let mut resources = page.resources();
        let mut dict = resources.fonts();
        for (j, font) in fonts.iter().enumerate() {
            dict.pair(font.resource(), font_ref(j));
        }
        dict.finish();
        resources.finish();
        page.finish();
        pdf.stream(content_ref(i), &content.finish());
    }
    let subject = format!(
        "Computed at {} height {}, block {}, state root {}",
        doc.stamp.chain_id, doc.stamp.height, doc.stamp.block_hash, doc.stamp.state_root
    );
    pdf.document_info(info)
        .title(TextStr(&doc.title))
        .subject(TextStr(&subject))
        .producer(TextStr("Couponcactus cactus report"));
    pdf.finish()
}

// ---------------------------------------------------------------------------------------
// Sections.

const HEADING_SIZE: f32 = 12.5;
const CHART_H: f32 = 230.0;

fn draw_section(layout: &mut Layout, section: &ReportSection) -> Result<(), ReportPdfError> {
    match section {
        ReportSection::Table {
            heading,
            columns,
            rows,
        } => {
            return draw_table(layout, heading, columns, rows);
        }
        ReportSection::TimeSeries {
            heading,
            unit,
            labels,
            series,
        } => {
            layout.reserve(HEADING_SIZE * 2.0 + CHART_H + 24.0);
            draw_heading(layout, &with_unit(heading, unit));
            if labels.is_empty() || series.is_empty() {
                return draw_no_data(layout);
            }
            let (x, y) = (MARGIN_X, layout.y - CHART_H);
            let canvas = PdfCanvas::new(&mut layout.page, (x, y), (CONTENT_W, CHART_H));
            plot_lines(canvas, labels, series).map_err(|message| ReportPdfError::Chart {
                heading: heading.clone(),
                message,
            })?;
            layout.y = y - 6.0;
            draw_legend(layout, series.iter().map(|(name, _)| name.as_str()));
        }
        ReportSection::Bars {
            heading,
            unit,
            bars,
        } => {
            layout.reserve(HEADING_SIZE * 2.0 + CHART_H);
            draw_heading(layout, &with_unit(heading, unit));
            if bars.is_empty() {
                return draw_no_data(layout);
            }
            let (x, y) = (MARGIN_X, layout.y - CHART_H);
            let canvas = PdfCanvas::new(&mut layout.page, (x, y), (CONTENT_W, CHART_H));
            plot_bars(canvas, bars).map_err(|message| ReportPdfError::Chart {
                heading: heading.clone(),
                message,
            })?;
            layout.y = y;
        }
    }
    layout.gap(20.0);
    Ok(())
}

fn with_unit(heading: &str, unit: &str) -> String {
    if unit.trim().is_empty() {
        heading.to_owned()
    } else {
        format!("{heading} ({unit})")
    }
}

fn draw_heading(layout: &mut Layout, heading: &str) {
    layout.line(Font::Bold, HEADING_SIZE, BLACK, heading);
    layout.gap(6.0);
}

fn draw_no_data(layout: &mut Layout) -> Result<(), ReportPdfError> {
    let (x, height) = (MARGIN_X, 40.0);
    let page = &mut layout.page;
    stroke(page, RULE, 0.6);
    page.rect(x, layout.y - height, CONTENT_W, height);
    page.stroke();
    fill(page, GREY);
    let text = "No data for this period.";
    let w = text_width(Font::Regular, 10.0, text);
    put_text(
        page,
        Font::Regular,
        10.0,
        x + (CONTENT_W - w) / 2.0,
        layout.y - 24.0,
        text,
    );
    layout.y -= height + 20.0;
    Ok(())
}

/// The legend under a line chart: a colour swatch and the series name, flowing in rows.
fn draw_legend<'a>(layout: &mut Layout, names: impl Iterator<Item = &'a str>) {
    let size = 8.0;
    let mut x = MARGIN_X + 40.0;
    layout.y -= 12.0;
    for (i, name) in names.enumerate() {
        let name = fit(Font::Regular, size, &sanitize(name), 180.0);
        let w = 22.0 + text_width(Font::Regular, size, &name) + 14.0;
        if x + w > PAGE_W - MARGIN_X {
            x = MARGIN_X + 40.0;
            layout.y -= 12.0;
        }
        let colour = PALETTE[i % PALETTE.len()];
        hline(&mut layout.page, colour, 2.5, x, x + 16.0, layout.y + 2.8);
        fill(&mut layout.page, BLACK);
        put_text(
            &mut layout.page,
            Font::Regular,
            size,
            x + 22.0,
            layout.y,
            &name,
        );
        x += w;
    }
}

// ---------------------------------------------------------------------------------------
// Tables.

const TABLE_SIZE: f32 = 8.0;
const ROW_H: f32 = 13.0;
const CELL_PAD: f32 = 4.0;

fn draw_table(
    layout: &mut Layout,
    heading: &str,
    columns: &[String],
    rows: &[Vec<String>],
) -> Result<(), ReportPdfError> {
    layout.reserve(HEADING_SIZE * 2.0 + ROW_H * 4.0);
    draw_heading(layout, heading);
    if columns.is_empty() || rows.is_empty() {
        let note = if columns.is_empty() {
            "(no columns)"
        } else {
            "(no rows)"
        };
        if !columns.is_empty() {
            let left = vec![false; columns.len()];
            draw_table_header(layout, columns, &column_widths(columns, rows), &left);
        }
        layout.line(Font::Regular, 9.0, GREY, note);
        layout.gap(20.0);
        return Ok(());
    }
    let widths = column_widths(columns, rows);
    let numeric: Vec<bool> = (0..columns.len())
        .map(|c| rows.iter().all(|r| looks_numeric(&r[c])))
        .collect();
    draw_table_header(layout, columns, &widths, &numeric);
    for (i, row) in rows.iter().enumerate() {
        if layout.reserve(ROW_H) {
            layout.line(Font::Bold, 9.0, GREY, &format!("{heading} (continued)"));
            layout.gap(4.0);
            draw_table_header(layout, columns, &widths, &numeric);
        }
        if i % 2 == 1 {
            filled_rect(
                &mut layout.page,
                (245, 245, 245),
                MARGIN_X,
                layout.y - ROW_H,
                CONTENT_W,
                ROW_H,
            );
        }
        draw_cells(layout, Font::Regular, row, &widths, &numeric);
    }
    hline(
        &mut layout.page,
        RULE,
        0.6,
        MARGIN_X,
        PAGE_W - MARGIN_X,
        layout.y,
    );
    layout.gap(20.0);
    Ok(())
}

/// The header row; numeric columns' headers are right-aligned like their cells.
fn draw_table_header(layout: &mut Layout, columns: &[String], widths: &[f32], right: &[bool]) {
    filled_rect(
        &mut layout.page,
        (225, 229, 234),
        MARGIN_X,
        layout.y - ROW_H - 2.0,
        CONTENT_W,
        ROW_H + 2.0,
    );
    layout.y -= 1.0;
    draw_cells(layout, Font::Bold, columns, widths, right);
    layout.y -= 1.0;
}

/// One row of cells at the cursor, each cut to its column; moves the cursor down a row.
fn draw_cells(layout: &mut Layout, font: Font, cells: &[String], widths: &[f32], right: &[bool]) {
    let baseline = layout.y - ROW_H + 3.8;
    let mut x = MARGIN_X;
    fill(&mut layout.page, BLACK);
    for ((cell, width), right) in cells.iter().zip(widths).zip(right) {
        let text = fit(font, TABLE_SIZE, &sanitize(cell), width - 2.0 * CELL_PAD);
        let tx = if *right {
            x + width - CELL_PAD - text_width(font, TABLE_SIZE, &text)
        } else {
            x + CELL_PAD
        };
        put_text(&mut layout.page, font, TABLE_SIZE, tx, baseline, &text);
        x += width;
    }
    layout.y -= ROW_H;
}

/// Column widths filling the content width, in proportion to what each column needs.
fn column_widths(columns: &[String], rows: &[Vec<String>]) -> Vec<f32> {
    let natural: Vec<f32> = columns
        .iter()
        .enumerate()
        .map(|(c, header)| {
            let header = text_width(Font::Bold, TABLE_SIZE, &sanitize(header));
            let cells = rows
                .iter()
                .map(|r| text_width(Font::Regular, TABLE_SIZE, &sanitize(&r[c])))
                .fold(0.0, f32::max);
            (header.max(cells) + 2.0 * CELL_PAD).clamp(24.0, CONTENT_W * 0.6)
        })
        .collect();
    let total: f32 = natural.iter().sum();
    if total <= 0.0 {
        return natural;
    }
    if total >= CONTENT_W {
        return natural.iter().map(|w| w * CONTENT_W / total).collect();
    }
    let extra = (CONTENT_W - total) / natural.len() as f32;
    natural.iter().map(|w| w + extra).collect()
}

/// Whether a cell reads as a number or an amount (right-aligned): digits with signs,
/// separators, a decimal point, `%` or a currency code/sign around them.
fn looks_numeric(cell: &str) -> bool {
    let cell = cell.trim();
    cell.is_empty()
        || (cell.chars().any(|c| c.is_ascii_digit())
            && cell.chars().all(|c| {
                c.is_ascii_digit()
                    || c.is_ascii_uppercase()
                    || " +-.,%\u{a0}\u{20ac}$\u{a3}".contains(c)
            }))
}

// ---------------------------------------------------------------------------------------
// Charts: plotters lays them out, `PdfCanvas` draws them as PDF vector paths.

/// Backend pixels per PDF point: plotters works in integer pixels, so charts are laid
/// out at 4 px per point (a quarter-point grid) and drawn back in points.
const PX: f32 = 4.0;
/// Largest magnitude drawn on a chart axis.
const VALUE_LIMIT: i64 = 1_000_000_000_000_000;

fn px(points: f32) -> u32 {
    (points * PX).round() as u32
}

fn chart_error<E: std::error::Error>(e: E) -> String {
    e.to_string()
}

/// The y range of a chart: always includes zero, with some head room.
fn value_range(values: impl Iterator<Item = i64>) -> (i64, i64) {
    let (lo, hi) = values
        .map(|v| v.clamp(-VALUE_LIMIT, VALUE_LIMIT))
        .fold((0, 0), |(lo, hi), v| (v.min(lo), v.max(hi)));
    let pad = ((hi - lo) / 12).max(1);
    (
        if lo < 0 { lo - pad } else { lo },
        if hi > 0 || lo == 0 { hi + pad } else { hi },
    )
}

/// A y-axis tick label: the integer with thousands separators.
fn group_thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    if value < 0 { format!("-{out}") } else { out }
}

/// Width for the y-axis labels, in backend pixels.
fn y_label_area(lo: i64, hi: i64) -> u32 {
    let widest = [lo, hi]
        .iter()
        .map(|v| text_width(Font::Regular, AXIS_SIZE, &group_thousands(*v)))
        .fold(0.0, f32::max);
    px(widest + 10.0)
}

const AXIS_SIZE: f32 = 7.5;

fn axis_font() -> (&'static str, u32) {
    ("sans-serif", px(AXIS_SIZE))
}

/// How many x labels of width `widest` fit under a chart (at least one).
fn x_label_count(labels: &[String]) -> usize {
    let widest = labels
        .iter()
        .map(|l| text_width(Font::Regular, AXIS_SIZE, &sanitize(l)).min(MAX_X_LABEL))
        .fold(0.0, f32::max);
    (((CONTENT_W - 60.0) / (widest + 12.0)) as usize).clamp(1, labels.len().max(1))
}

const MAX_X_LABEL: f32 = 90.0;

fn x_label(labels: &[String], index: i64, max_width: f32) -> String {
    usize::try_from(index)
        .ok()
        .and_then(|i| labels.get(i))
        .map(|l| fit(Font::Regular, AXIS_SIZE, &sanitize(l), max_width))
        .unwrap_or_default()
}

/// A chart's coordinates: point `i` (or bar `i`) at x = i, the axis padded by half a
/// step on each side so that end labels and bars stay inside, one point centred.
type Chart<'a, 'b> = ChartContext<'a, PdfCanvas<'b>, Cartesian2d<RangedCoordf64, RangedCoordi64>>;

fn build_chart<'a, 'b>(
    root: &'a DrawingArea<PdfCanvas<'b>, Shift>,
    points: usize,
    (lo, hi): (i64, i64),
) -> Result<Chart<'a, 'b>, String> {
    let x_max = points as f64 - 0.5;
    ChartBuilder::on(root)
        .margin_top(px(6.0))
        .margin_right(px(6.0))
        .x_label_area_size(px(20.0))
        .y_label_area_size(y_label_area(lo, hi))
        .build_cartesian_2d(-0.5..x_max, lo..hi)
        .map_err(chart_error)
}

/// Axes, ticks, tick labels (x: the labels at whole positions) and the grid.
fn draw_mesh(chart: &mut Chart<'_, '_>, labels: &[String], x_grid: bool) -> Result<(), String> {
    let count = x_label_count(labels);
    let max_width = ((CONTENT_W - 60.0) / count as f32 - 8.0).min(MAX_X_LABEL);
    let label = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 {
            x_label(labels, i as i64, max_width)
        } else {
            String::new()
        }
    };
    let mut mesh = chart.configure_mesh();
    if !x_grid {
        mesh.disable_x_mesh();
    }
    mesh.x_labels(count)
        .y_labels(6)
        .x_label_formatter(&label)
        .y_label_formatter(&|v| group_thousands(*v))
        .label_style(axis_font())
        .set_tick_mark_size(LabelAreaPosition::Bottom, px(3.0))
        .axis_style(ShapeStyle::from(RGBColor(90, 90, 90)).stroke_width(px(0.6)))
        .bold_line_style(RGBColor(228, 228, 228))
        .light_line_style(TRANSPARENT)
        .draw()
        .map_err(chart_error)
}

/// A darker line at zero when the chart goes below it.
fn draw_zero_line(chart: &mut Chart<'_, '_>, points: usize, lo: i64) -> Result<(), String> {
    if lo >= 0 {
        return Ok(());
    }
    let style = ShapeStyle::from(RGBColor(90, 90, 90)).stroke_width(px(0.6));
    let line = PathElement::new(vec![(-0.5, 0), (points as f64 - 0.5, 0)], style);
    chart
        .draw_series(std::iter::once(line))
        .map(|_| ())
        .map_err(chart_error)
}

fn plot_lines(
    canvas: PdfCanvas<'_>,
    labels: &[String],
    series: &[(String, Vec<i64>)],
) -> Result<(), String> {
    let root = canvas.into_drawing_area();
    let range = value_range(series.iter().flat_map(|(_, v)| v.iter().copied()));
    let mut chart = build_chart(&root, labels.len(), range)?;
    draw_mesh(&mut chart, labels, true)?;
    draw_zero_line(&mut chart, labels.len(), range.0)?;
    let dots = if labels.len() <= 60 { px(1.6) } else { 0 };
    for (i, (_, values)) in series.iter().enumerate() {
        let (r, g, b) = PALETTE[i % PALETTE.len()];
        let style = ShapeStyle::from(RGBColor(r, g, b)).stroke_width(px(1.3));
        let points = values
            .iter()
            .enumerate()
            .map(|(x, v)| (x as f64, (*v).clamp(-VALUE_LIMIT, VALUE_LIMIT)));
        chart
            .draw_series(LineSeries::new(points, style).point_size(dots))
            .map_err(chart_error)?;
    }
    root.present().map_err(chart_error)
}

fn plot_bars(canvas: PdfCanvas<'_>, bars: &[(String, i64)]) -> Result<(), String> {
    let root = canvas.into_drawing_area();
    let range = value_range(bars.iter().map(|(_, v)| *v));
    let labels: Vec<String> = bars.iter().map(|(l, _)| l.clone()).collect();
    let mut chart = build_chart(&root, bars.len(), range)?;
    draw_mesh(&mut chart, &labels, false)?;
    // Bars take 70% of their slot, up to 60 points wide.
    let slot = (CONTENT_W - 60.0) / bars.len() as f32;
    let half = f64::from((slot * 0.35).min(30.0) / slot);
    let (r, g, b) = PALETTE[0];
    let style = ShapeStyle::from(RGBColor(r, g, b)).filled();
    let rects = bars.iter().enumerate().map(|(i, (_, v))| {
        let (x, v) = (i as f64, (*v).clamp(-VALUE_LIMIT, VALUE_LIMIT));
        Rectangle::new([(x - half, 0), (x + half, v)], style)
    });
    chart.draw_series(rects).map_err(chart_error)?;
    draw_zero_line(&mut chart, bars.len(), range.0)?;
    root.present().map_err(chart_error)
}

/// A plotters backend drawing into a PDF content stream: the chart's box has its
/// lower-left corner at `origin` (points), backend pixels are `1 / PX` points, y down.
struct PdfCanvas<'a> {
    content: &'a mut Content,
    origin: (f32, f32),
    size: (u32, u32),
}

impl<'a> PdfCanvas<'a> {
    fn new(content: &'a mut Content, origin: (f32, f32), (w, h): (f32, f32)) -> Self {
        Self {
            content,
            origin,
            size: (px(w), px(h)),
        }
    }

    /// Backend pixel coordinates to page points.
    fn pt(&self, (x, y): BackendCoord) -> (f32, f32) {
        (
            self.origin.0 + x as f32 / PX,
            self.origin.1 + (self.size.1 as f32 - y as f32) / PX,
        )
    }

    /// Sets the fill (or stroke) colour, translucent colours blended over white.
    fn colour(&mut self, colour: BackendColor, stroke_width: Option<u32>) {
        let alpha = colour.alpha.clamp(0.0, 1.0) as f32;
        let blend = |c: u8| 1.0 - (1.0 - f32::from(c) / 255.0) * alpha;
        let (r, g, b) = (
            blend(colour.rgb.0),
            blend(colour.rgb.1),
            blend(colour.rgb.2),
        );
        match stroke_width {
            Some(w) => {
                self.content.set_stroke_rgb(r, g, b);
                self.content.set_line_width((w.max(1) as f32) / PX);
            }
            None => {
                self.content.set_fill_rgb(r, g, b);
            }
        }
    }

    fn path(&mut self, points: impl IntoIterator<Item = BackendCoord>) -> usize {
        let mut count = 0;
        for p in points {
            let (x, y) = self.pt(p);
            if count == 0 {
                self.content.move_to(x, y);
            } else {
                self.content.line_to(x, y);
            }
            count += 1;
        }
        count
    }
}

type DrawResult = Result<(), DrawingErrorKind<std::convert::Infallible>>;

impl DrawingBackend for PdfCanvas<'_> {
    type ErrorType = std::convert::Infallible;

    fn get_size(&self) -> (u32, u32) {
        self.size
    }

    fn ensure_prepared(&mut self) -> DrawResult {
        Ok(())
    }

    fn present(&mut self) -> DrawResult {
        Ok(())
    }

    fn draw_pixel(&mut self, point: BackendCoord, colour: BackendColor) -> DrawResult {
        self.draw_rect(point, (point.0 + 1, point.1 + 1), &colour, true)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> DrawResult {
        self.draw_path([from, to], style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> DrawResult {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        let (x0, y0) = self.pt((upper_left.0, bottom_right.1));
        let (x1, y1) = self.pt((bottom_right.0, upper_left.1));
        self.colour(style.color(), (!fill).then_some(style.stroke_width()));
        self.content.rect(x0, y0, x1 - x0, y1 - y0);
        if fill {
            self.content.fill_nonzero()
        } else {
            self.content.stroke()
        };
        Ok(())
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> DrawResult {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        self.colour(style.color(), Some(style.stroke_width()));
        self.content
            .set_line_join(pdf_writer::types::LineJoinStyle::RoundJoin);
        if self.path(path) > 1 {
            self.content.stroke();
        } else {
            self.content.end_path();
        }
        Ok(())
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> DrawResult {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        let (cx, cy) = self.pt(center);
        let r = radius as f32 / PX;
        let k = r * 0.552_284_8;
        self.colour(style.color(), (!fill).then_some(style.stroke_width()));
        let c = &mut *self.content;
        c.move_to(cx + r, cy);
        c.cubic_to(cx + r, cy + k, cx + k, cy + r, cx, cy + r);
        c.cubic_to(cx - k, cy + r, cx - r, cy + k, cx - r, cy);
        c.cubic_to(cx - r, cy - k, cx - k, cy - r, cx, cy - r);
        c.cubic_to(cx + k, cy - r, cx + r, cy - k, cx + r, cy);
        c.close_path();
        if fill {
            c.fill_nonzero()
        } else {
            c.stroke()
        };
        Ok(())
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> DrawResult {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        self.colour(style.color(), None);
        if self.path(vert) > 2 {
            self.content.close_path();
            self.content.fill_nonzero();
        } else {
            self.content.end_path();
        }
        Ok(())
    }

    fn draw_text<T: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &T,
        pos: BackendCoord,
    ) -> DrawResult {
        if style.color().alpha == 0.0 {
            return Ok(());
        }
        let font = if matches!(style.style(), FontStyle::Bold) {
            Font::Bold
        } else {
            Font::Regular
        };
        let size = style.size() as f32 / PX;
        let text = sanitize(text);
        let width = text_width(font, size, &text);
        let (x, y) = self.pt(pos);
        let x = match style.anchor().h_pos {
            HPos::Left => x,
            HPos::Center => x - width / 2.0,
            HPos::Right => x - width,
        };
        // Baseline from the anchor, with Helvetica's cap height (~0.72 em) and descent.
        let y = match style.anchor().v_pos {
            VPos::Top => y - size * 0.74,
            VPos::Center => y - size * 0.36,
            VPos::Bottom => y + size * 0.22,
        };
        self.colour(style.color(), None);
        put_text(self.content, font, size, x, y, &text);
        Ok(())
    }

    fn estimate_text_size<T: BackendTextStyle>(
        &self,
        text: &str,
        style: &T,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        let size = style.size() as f32 / PX;
        let width = text_width(Font::Regular, size, &sanitize(text));
        Ok((px(width), px(size)))
    }
}

// ---------------------------------------------------------------------------------------
// Text: builtin fonts, WinAnsi encoding, widths, cutting and wrapping.

/// The three builtin fonts reports use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Font {
    Regular,
    Bold,
    Mono,
}

impl Font {
    fn resource(self) -> Name<'static> {
        Name(match self {
            Font::Regular => b"F1",
            Font::Bold => b"F2",
            Font::Mono => b"F3",
        })
    }

    fn base_name(self) -> &'static [u8] {
        match self {
            Font::Regular => b"Helvetica",
            Font::Bold => b"Helvetica-Bold",
            Font::Mono => b"Courier",
        }
    }

    /// Advance width of `c` in 1/1000 em (Adobe's AFM metrics; Latin-1 letters get the
    /// width of a typical lower-case letter).
    fn advance(self, c: char) -> u16 {
        let table = match self {
            Font::Mono => return 600,
            Font::Regular => &HELVETICA,
            Font::Bold => &HELVETICA_BOLD,
        };
        match c {
            ' '..='~' => table[c as usize - 0x20],
            '\u{2026}' | '\u{2014}' | '\u{2030}' => 1000,
            _ if self == Font::Bold => 611,
            _ => 556,
        }
    }
}

#[rustfmt::skip]
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015,
    667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778,
    722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, 333,
    556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556,
    333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

#[rustfmt::skip]
const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975,
    722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778,
    722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, 333,
    556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, 611, 611,
    389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584,
];

/// Width of `text` in points.
fn text_width(font: Font, size: f32, text: &str) -> f32 {
    let units: u32 = text.chars().map(|c| u32::from(font.advance(c))).sum();
    units as f32 * size / 1000.0
}

/// `text` cut to `width` points, ending with `…` when cut.
fn fit(font: Font, size: f32, text: &str, width: f32) -> String {
    if text_width(font, size, text) <= width {
        return text.to_owned();
    }
    let budget = width - text_width(font, size, ELLIPSIS);
    let mut out = String::new();
    let mut used = 0.0;
    for c in text.chars() {
        let w = f32::from(font.advance(c)) * size / 1000.0;
        if used + w > budget {
            break;
        }
        used += w;
        out.push(c);
    }
    out.truncate(out.trim_end().len());
    out.push_str(ELLIPSIS);
    out
}

const ELLIPSIS: &str = "\u{2026}";

/// `text` broken into lines of at most `width` points: at spaces, and inside words
/// (hashes, certificates) that are longer than a line.
fn wrap(font: Font, size: f32, text: &str, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() {
            word.to_owned()
        } else {
            format!("{line} {word}")
        };
        if text_width(font, size, &candidate) <= width {
            line = candidate;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        for c in word.chars() {
            line.push(c);
            if text_width(font, size, &line) > width && line.chars().count() > 1 {
                line.pop();
                lines.push(std::mem::replace(&mut line, c.to_string()));
            }
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Draws `text` (already sanitized) with its baseline starting at (x, y).
fn put_text(c: &mut Content, font: Font, size: f32, x: f32, y: f32, text: &str) {
    let bytes: Vec<u8> = text
        .chars()
        .map(|ch| win_ansi(ch).unwrap_or(b'?'))
        .collect();
    c.begin_text();
    c.set_font(font.resource(), size);
    c.next_line(x, y);
    c.show(Str(&bytes));
    c.end_text();
}

/// `text` with only characters the builtin fonts have (see the module doc): Latin
/// Extended-A letters transliterated, some symbols spelled in ASCII, the rest `?`.
pub(crate) fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_whitespace() || c.is_control() {
            out.push(' ');
        } else if win_ansi(c).is_some() {
            out.push(c);
        } else if let Some(base) = latin_extended_a_base(c) {
            out.push(base);
        } else {
            out.push_str(match c {
                '\u{2010}'..='\u{2012}' | '\u{2212}' => "-",
                '\u{2015}' => "\u{2014}",
                '\u{2032}' => "'",
                '\u{2033}' => "\"",
                '\u{2190}' => "<-",
                '\u{2192}' => "->",
                '\u{2194}' => "<->",
                '\u{2260}' => "!=",
                '\u{2264}' => "<=",
                '\u{2265}' => ">=",
                '\u{2248}' => "~",
                '\u{2713}' | '\u{2714}' => "v",
                '\u{2717}' | '\u{2718}' => "x",
                '\u{200b}'..='\u{200d}' | '\u{feff}' => "",
                _ => "?",
            });
        }
    }
    out
}

/// The base letter of a Latin Extended-A letter (U+0100..U+017F), e.g. `ł` → `l`.
fn latin_extended_a_base(c: char) -> Option<char> {
    const BASES: &[u8; 128] = b"AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIiIiJjKkkLlLlLlLlLlNnNnNnnNnOoOoOoOoRrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZzs";
    let offset = (c as u32).checked_sub(0x100)?;
    BASES.get(offset as usize).map(|b| char::from(*b))
}

/// The WinAnsiEncoding byte of `c` (PDF 32000-1 Annex D.2), if it has one.
fn win_ansi(c: char) -> Option<u8> {
    let code = c as u32;
    if (0x20..=0x7e).contains(&code) || (0xa0..=0xff).contains(&code) {
        return Some(code as u8);
    }
    const HIGH: [(char, u8); 27] = [
        ('\u{20ac}', 0x80),
        ('\u{201a}', 0x82),
        ('\u{0192}', 0x83),
        ('\u{201e}', 0x84),
        ('\u{2026}', 0x85),
        ('\u{2020}', 0x86),
        ('\u{2021}', 0x87),
        ('\u{02c6}', 0x88),
        ('\u{2030}', 0x89),
        ('\u{0160}', 0x8a),
        ('\u{2039}', 0x8b),
        ('\u{0152}', 0x8c),
        ('\u{017d}', 0x8e),
        ('\u{2018}', 0x91),
        ('\u{2019}', 0x92),
        ('\u{201c}', 0x93),
        ('\u{201d}', 0x94),
        ('\u{2022}', 0x95),
        ('\u{2013}', 0x96),
        ('\u{2014}', 0x97),
        ('\u{02dc}', 0x98),
        ('\u{2122}', 0x99),
        ('\u{0161}', 0x9a),
        ('\u{203a}', 0x9b),
        ('\u{0153}', 0x9c),
        ('\u{017e}', 0x9e),
        ('\u{0178}', 0x9f),
    ];
    HIGH.iter().find(|(ch, _)| *ch == c).map(|(_, b)| *b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_winansi_and_transliterates_the_rest() {
        assert_eq!(sanitize("Zürich – 5 €"), "Zürich – 5 €");
        assert_eq!(sanitize("Łódź Kraków ő"), "Lódz Kraków o");
        assert_eq!(sanitize("東京 Москва"), "?? ??????");
        assert_eq!(sanitize("a → b ≤ c − d"), "a -> b <= c - d");
        assert_eq!(sanitize("tab\there\nnew"), "tab here new");
        assert!(sanitize("🌵").chars().all(|c| win_ansi(c).is_some()));
    }

    #[test]
    fn latin_extended_a_table_lines_up() {
        assert_eq!(latin_extended_a_base('Ā'), Some('A'));
        assert_eq!(latin_extended_a_base('ł'), Some('l'));
        assert_eq!(latin_extended_a_base('ő'), Some('o'));
        assert_eq!(latin_extended_a_base('ś'), Some('s'));
        assert_eq!(latin_extended_a_base('ż'), Some('z'));
        assert_eq!(latin_extended_a_base('ſ'), Some('s'));
        assert_eq!(latin_extended_a_base('ƀ'), None);
    }

    #[test]
    fn fit_cuts_with_an_ellipsis_within_the_width() {
        let long = "a very long label that cannot possibly fit in forty points";
        let cut = fit(Font::Regular, 8.0, long, 40.0);
        assert!(cut.ends_with(ELLIPSIS), "{cut}");
        assert!(text_width(Font::Regular, 8.0, &cut) <= 40.0);
        assert_eq!(fit(Font::Regular, 8.0, "short", 40.0), "short");
    }

    #[test]
    fn wrap_breaks_words_and_long_hashes() {
        let hash = "ab".repeat(60);
        let lines = wrap(Font::Mono, 8.0, &hash, 100.0);
        assert!(lines.len() > 1);
        assert_eq!(lines.concat(), hash);
        assert!(
            lines
                .iter()
                .all(|l| text_width(Font::Mono, 8.0, l) <= 100.0)
        );
        assert_eq!(wrap(Font::Regular, 8.0, "", 100.0), vec![String::new()]);
    }

    #[test]
    fn thousands_and_ranges() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
        assert_eq!(group_thousands(-1000), "-1,000");
        assert_eq!(group_thousands(i64::MIN), "-9,223,372,036,854,775,808");
        assert_eq!(value_range(std::iter::empty()), (0, 1));
        let (lo, hi) = value_range([-50, 100].into_iter());
        assert!(lo < -50 && hi > 100);
        let (lo, hi) = value_range([i64::MIN, i64::MAX].into_iter());
        assert!(lo < -VALUE_LIMIT && hi > VALUE_LIMIT);
    }

    #[test]
    fn numeric_cells_are_recognised() {
        assert!(looks_numeric("1,234"));
        assert!(looks_numeric("-12.50 EUR"));
        assert!(looks_numeric("45%"));
        assert!(!looks_numeric("acme-spring"));
        assert!(!looks_numeric("EUR"));
    }
}
