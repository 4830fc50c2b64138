//! The PDF report renderer (`couponcactus_client::report_pdf`) checked from the outside:
//! the PDFs it writes are parsed and rasterized by poppler (`pdfinfo`, `pdftotext`,
//! `pdftoppm` from poppler-utils, installed by scripts/test.sh) and the pixels are counted.
//!
//! Set `REPORT_PDF_OUT=DIR` to keep the rendered PDFs and PNGs for a look.

use std::path::{Path, PathBuf};
use std::process::Command;

use couponcactus_client::report_pdf::{
    ReportDocument, ReportPdfError, ReportSection, ReportStamp, render,
};

const HEIGHT: u64 = 48_213;
const BLOCK_HASH: &str = "9f2c4e1ab37d5c08e6f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7";
const STATE_ROOT: &str = "5ad0c3e9b1f24d6a8c7e0f1b2a3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e";

fn stamp() -> ReportStamp {
    ReportStamp {
        chain_id: "couponcactus-localnet".into(),
        height: HEIGHT,
        block_hash: BLOCK_HASH.into(),
        state_root: STATE_ROOT.into(),
        certificate: Some(format!("cert:{}:{}", HEIGHT, "c0ffee".repeat(20))),
        generated_at: "2026-12-03T11:30:00Z".into(),
    }
}

fn doc(title: &str, sections: Vec<ReportSection>) -> ReportDocument {
    ReportDocument {
        title: title.into(),
        subtitle: "Pool acme-spring, 2026-11-01 to 2026-11-30, all stores".into(),
        stamp: stamp(),
        sections,
    }
}

fn days(n: usize) -> Vec<String> {
    (0..n)
        .map(|d| format!("2026-11-{:02}", d % 30 + 1))
        .collect()
}

fn sample() -> ReportDocument {
    let labels = days(30);
    let redeemed: Vec<i64> = (0..30).map(|d| 40 + (d * 7 % 23) * 5).collect();
    let issued: Vec<i64> = (0..30).map(|d| 120 + d * 3).collect();
    doc(
        "Redemptions report",
        vec![
            ReportSection::TimeSeries {
                heading: "Coupons per day".into(),
                unit: "coupons".into(),
                labels,
                series: vec![("issued".into(), issued), ("redeemed".into(), redeemed)],
            },
            ReportSection::Bars {
                heading: "Redemptions per store".into(),
                unit: "coupons".into(),
                bars: (1..=8)
                    .map(|s| (format!("acme-store-{s}"), s * 37 - 60))
                    .collect(),
            },
            ReportSection::Table {
                heading: "Top stores".into(),
                columns: vec!["Store".into(), "Redeemed".into(), "Discount (EUR)".into()],
                rows: (1..=12)
                    .map(|s| {
                        vec![
                            format!("acme-store-{s}"),
                            format!("{}", s * 91),
                            format!("{}.50", s * 13),
                        ]
                    })
                    .collect(),
            },
        ],
    )
}

/// A scratch directory, or `REPORT_PDF_OUT/<name>` to keep the files.
fn out_dir(name: &str) -> (Option<tempfile::TempDir>, PathBuf) {
    match std::env::var_os("REPORT_PDF_OUT") {
        Some(dir) => {
            let dir = PathBuf::from(dir).join(name);
            std::fs::create_dir_all(&dir).unwrap();
            (None, dir)
        }
        None => {
            let tmp = tempfile::tempdir().unwrap();
            let path = tmp.path().to_owned();
            (Some(tmp), path)
        }
    }
}

fn write_pdf(dir: &Path, doc: &ReportDocument) -> PathBuf {
    let bytes = render(doc).expect("render");
    assert!(bytes.starts_with(b"%PDF-1."), "not a PDF header");
    assert!(bytes.trim_ascii_end().ends_with(b"%%EOF"), "no PDF trailer");
    let path = dir.join("report.pdf");
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Runs a poppler tool; its absence fails the test (scripts/test.sh installs them).
fn poppler(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} not runnable ({e}): install poppler-utils"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{tool} {args:?} failed: {stderr}");
    // poppler reports syntax problems it recovered from on stderr: a valid PDF has none.
    assert!(
        !stderr.contains("Syntax Error"),
        "{tool} {args:?}: {stderr}"
    );
    String::from_utf8(out.stdout).expect("poppler output is UTF-8")
}

fn page_count(pdf: &Path) -> usize {
    let info = poppler("pdfinfo", &[pdf.to_str().unwrap()]);
    let line = info
        .lines()
        .find(|l| l.starts_with("Pages:"))
        .expect("pdfinfo Pages");
    line["Pages:".len()..].trim().parse().unwrap()
}

fn page_text(pdf: &Path, page: usize) -> String {
    let p = page.to_string();
    poppler(
        "pdftotext",
        &["-layout", "-f", &p, "-l", &p, pdf.to_str().unwrap(), "-"],
    )
}

/// Page `page` rasterized at `dpi` (PNG written next to the PDF, decoded with `image`).
fn page_image(pdf: &Path, page: usize, dpi: u32) -> image::RgbImage {
    let p = page.to_string();
    let prefix = pdf.with_file_name(format!("page-{page}"));
    let args = [
        "-png",
        "-singlefile",
        "-r",
        &dpi.to_string(),
        "-f",
        &p,
        "-l",
        &p,
    ];
    let mut all: Vec<&str> = args.to_vec();
    all.extend([pdf.to_str().unwrap(), prefix.to_str().unwrap()]);
    poppler("pdftoppm", &all);
    image::open(prefix.with_extension("png"))
        .expect("decode PNG")
        .to_rgb8()
}

/// Pixels of a saturated colour (chart lines, dots and bars; text and rules are grey).
fn coloured_pixels(img: &image::RgbImage) -> Vec<(u32, u32)> {
    img.enumerate_pixels()
        .filter(|(_, _, p)| {
            let (max, min) = (p.0.iter().max().unwrap(), p.0.iter().min().unwrap());
            max - min > 60
        })
        .map(|(x, y, _)| (x, y))
        .collect()
}

#[test]
fn sample_report_is_a_pdf_stamped_on_every_page() {
    let (_tmp, dir) = out_dir("sample");
    let pdf = write_pdf(&dir, &sample());
    let pages = page_count(&pdf);
    assert!(pages >= 2, "{pages} pages");

    let first = page_text(&pdf, 1);
    for needle in [
        "Redemptions report",
        "Pool acme-spring",
        "couponcactus-localnet",
        &HEIGHT.to_string(),
        BLOCK_HASH,
        STATE_ROOT,
        "cert:48213:c0ffee",
        "2026-12-03T11:30:00Z",
        "cactus audit verify",
        &format!("GET /v1/blocks/{HEIGHT}"),
        "Coupons per day (coupons)",
    ] {
        assert!(first.contains(needle), "page 1 lacks {needle:?}:\n{first}");
    }
    for page in 1..=pages {
        let text = page_text(&pdf, page);
        assert!(
            text.contains(&format!("Page {page} of {pages}")),
            "page {page}:\n{text}"
        );
        assert!(
            text.contains(&format!("height {HEIGHT}")),
            "page {page} footer:\n{text}"
        );
    }
    let all: String = (1..=pages).map(|p| page_text(&pdf, p)).collect();
    for needle in [
        "Redemptions per store (coupons)",
        "Top stores",
        "acme-store-12",
        "156.50",
    ] {
        assert!(all.contains(needle), "report lacks {needle:?}");
    }
}

#[test]
fn charts_are_drawn_as_coloured_vector_paths() {
    let (_tmp, dir) = out_dir("charts");
    let pdf = write_pdf(&dir, &sample());
    // Page 1 holds the stamp and the line chart under it, at 72 dpi (595 x 842 px).
    let img = page_image(&pdf, 1, 72);
    let (w, h) = img.dimensions();
    let coloured = coloured_pixels(&img);
    assert!(
        coloured.len() > 400,
        "only {} coloured pixels on page 1",
        coloured.len()
    );
    // The lines run across the chart: coloured pixels span most of the content width,
    // in the lower part of the page (under the stamp), inside the margins.
    let (xs, ys): (Vec<u32>, Vec<u32>) = coloured.iter().copied().unzip();
    let (x0, x1) = (*xs.iter().min().unwrap(), *xs.iter().max().unwrap());
    let (y0, y1) = (*ys.iter().min().unwrap(), *ys.iter().max().unwrap());
    assert!(x1 - x0 > w * 6 / 10, "lines span x {x0}..{x1} of {w}");
    assert!(y0 > h / 3 && y1 < h - 40, "chart at y {y0}..{y1} of {h}");
    assert!(
        x0 >= 45 && x1 <= w - 45,
        "chart outside the margins: x {x0}..{x1}"
    );
    // Axis tick labels are text: the day labels and the y ticks are extractable.
    let text = page_text(&pdf, 1);
    assert!(
        text.contains("2026-11-01"),
        "x tick labels missing:\n{text}"
    );

    let bars_page = (1..=page_count(&pdf))
        .find(|p| page_text(&pdf, *p).contains("Redemptions per store"))
        .unwrap();
    let img = page_image(&pdf, bars_page, 72);
    assert!(
        coloured_pixels(&img).len() > 2000,
        "bars not drawn on page {bars_page}"
    );
}

#[test]
fn long_table_paginates_and_repeats_its_header() {
    let rows: Vec<Vec<String>> = (0..500)
        .map(|i| {
            vec![
                format!("row-{i:04}"),
                format!("acme-store-{}", i % 17),
                format!("{}", i * 1000),
            ]
        })
        .collect();
    let columns = vec![
        "Redemption".to_owned(),
        "Store".to_owned(),
        "Amount (cents)".to_owned(),
    ];
    let heading = "All redemptions".to_owned();
    let (_tmp, dir) = out_dir("long-table");
    let pdf = write_pdf(
        &dir,
        &doc(
            "Long table",
            vec![ReportSection::Table {
                heading,
                columns,
                rows,
            }],
        ),
    );
    let pages = page_count(&pdf);
    assert!(pages >= 9, "500 rows on {pages} pages");
    let mut seen = 0;
    for page in 1..=pages {
        let text = page_text(&pdf, page);
        let header = text
            .lines()
            .filter(|l| l.contains("Redemption") && l.contains("Amount (cents)"));
        assert_eq!(header.count(), 1, "page {page} header:\n{text}");
        if page > 1 {
            assert!(
                text.contains("All redemptions (continued)"),
                "page {page}:\n{text}"
            );
        }
        seen += text
            .lines()
            .filter(|l| l.trim_start().starts_with("row-"))
            .count();
    }
    assert_eq!(seen, 500, "rows found across pages");
    let last = page_text(&pdf, pages);
    assert!(
        last.contains("row-0499") && last.contains("499000"),
        "{last}"
    );
}

#[test]
fn unicode_is_transliterated_not_garbled() {
    let mut d = doc(
        "Café Zürich — Łódź 東京 → Q4",
        vec![ReportSection::Table {
            heading: "Städte: Kraków, Gdańsk, Москва".into(),
            columns: vec!["Ort".into(), "€".into()],
            rows: vec![
                vec!["Łódź (Poland)".into(), "1 234 €".into()],
                vec!["😀 emoji \\ back".into(), "(5)".into()],
            ],
        }],
    );
    d.subtitle = "tab\tand\nnew line, ‘quotes’ and “more”".into();
    let (_tmp, dir) = out_dir("unicode");
    let pdf = write_pdf(&dir, &d);
    let text = page_text(&pdf, 1);
    for needle in [
        "Café Zürich — Lódz ?? -> Q4",
        "Städte: Kraków, Gdansk, ??????",
        "Lódz (Poland)",
        "1 234 €",
        "? emoji \\ back",
        "(5)",
        "tab and new line, ‘quotes’ and “more”",
    ] {
        assert!(text.contains(needle), "lacks {needle:?}:\n{text}");
    }
    assert!(
        !text.contains('Ã') && !text.contains('Å'),
        "mojibake:\n{text}"
    );
}

/// Charts and tables at their limits: no data, one point, negative and extreme values,
/// long labels, many series, many bars, empty tables.
fn edge_sections() -> Vec<ReportSection> {
    let long = "a-very-long-store-label-".repeat(12);
    vec![
        ReportSection::TimeSeries {
            heading: "No data".into(),
            unit: String::new(),
            labels: vec![],
            series: vec![],
        },
        ReportSection::TimeSeries {
            heading: "Labels but no series".into(),
            unit: "x".into(),
            labels: days(3),
            series: vec![],
        },
        ReportSection::TimeSeries {
            heading: "One point".into(),
            unit: "coupons".into(),
            labels: days(1),
            series: vec![("only".into(), vec![7])],
        },
        ReportSection::TimeSeries {
            heading: "Negative, zero and extreme values".into(),
            unit: "EUR cents".into(),
            labels: vec![long.clone(), "b".into(), "c".into(), "d".into()],
            series: vec![
                ("refunds".into(), vec![-500, 0, -20, i64::MIN]),
                ("zeros".into(), vec![0, 0, 0, 0]),
                (long.clone(), vec![1, 2, 3, i64::MAX]),
            ],
        },
        ReportSection::TimeSeries {
            heading: "A year, ten series".into(),
            unit: "coupons".into(),
            labels: days(365),
            series: (0..10)
                .map(|s| {
                    (
                        format!("series {s}"),
                        (0..365).map(|d| (d * s) % 97).collect(),
                    )
                })
                .collect(),
        },
        ReportSection::Bars {
            heading: "No bars".into(),
            unit: String::new(),
            bars: vec![],
        },
        ReportSection::Bars {
            heading: "One bar".into(),
            unit: String::new(),
            bars: vec![("one".into(), 3)],
        },
        ReportSection::Bars {
            heading: "All zero".into(),
            unit: String::new(),
            bars: vec![("a".into(), 0), ("b".into(), 0)],
        },
        ReportSection::Bars {
            heading: "Negative bars and long labels".into(),
            unit: "EUR".into(),
            bars: vec![(long.clone(), -40), ("b".into(), 25), ("c".into(), -3)],
        },
        ReportSection::Bars {
            heading: "Two hundred bars".into(),
            unit: String::new(),
            bars: (0..200)
                .map(|i| (format!("store-{i}"), i * 3 - 100))
                .collect(),
        },
        ReportSection::Table {
            heading: "No rows".into(),
            columns: vec!["A".into(), "B".into()],
            rows: vec![],
        },
        ReportSection::Table {
            heading: "No columns".into(),
            columns: vec![],
            rows: vec![],
        },
        ReportSection::Table {
            heading: long.clone(),
            columns: vec![long.clone(), "n".into()],
            rows: vec![
                vec![long.clone(), "1".into()],
                vec![String::new(), String::new()],
            ],
        },
    ]
}

#[test]
fn edge_cases_render() {
    let sections = edge_sections();
    let (_tmp, dir) = out_dir("edge-cases");
    let pdf = write_pdf(&dir, &doc("Edge cases", sections));
    let pages = page_count(&pdf);
    let all: String = (1..=pages).map(|p| page_text(&pdf, p)).collect();
    assert_eq!(all.matches("No data for this period.").count(), 3, "{all}");
    for needle in [
        "One point (coupons)",
        "(no rows)",
        "(no columns)",
        "Two hundred bars",
        "…",
    ] {
        assert!(all.contains(needle), "lacks {needle:?}");
    }
    for page in 1..=pages {
        // Every page rasterizes, and no text runs past the right margin (1.2 cm at 72 dpi).
        let img = page_image(&pdf, page, 72);
        let overflow = img.enumerate_pixels().filter(|(x, y, p)| {
            *x > img.width() - 30 && *y < img.height() - 30 && p.0 != [255, 255, 255]
        });
        assert_eq!(
            overflow.count(),
            0,
            "page {page} draws into the right margin"
        );
    }
    // The one-point series is a visible dot.
    let page = (1..=pages)
        .find(|p| page_text(&pdf, *p).contains("One point"))
        .unwrap();
    assert!(!coloured_pixels(&page_image(&pdf, page, 72)).is_empty());
}

#[test]
fn a_report_without_sections_is_one_stamped_page() {
    let (_tmp, dir) = out_dir("empty");
    let mut d = doc("Empty", vec![]);
    d.stamp.certificate = None;
    d.subtitle = String::new();
    let pdf = write_pdf(&dir, &d);
    assert_eq!(page_count(&pdf), 1);
    let text = page_text(&pdf, 1);
    assert!(text.contains("This report has no sections."), "{text}");
    assert!(text.contains("not certified yet"), "{text}");
    assert!(text.contains("Page 1 of 1"), "{text}");
}

#[test]
fn malformed_sections_are_errors() {
    let ragged = doc(
        "Ragged",
        vec![ReportSection::Table {
            heading: "t".into(),
            columns: vec!["a".into(), "b".into()],
            rows: vec![vec!["1".into(), "2".into()], vec!["3".into()]],
        }],
    );
    match render(&ragged) {
        Err(ReportPdfError::RaggedTable {
            row: 1,
            cells: 1,
            columns: 2,
            ..
        }) => {}
        other => panic!("expected RaggedTable, got {other:?}"),
    }
    let short = doc(
        "Short series",
        vec![ReportSection::TimeSeries {
            heading: "s".into(),
            unit: String::new(),
            labels: days(3),
            series: vec![("ok".into(), vec![1, 2, 3]), ("short".into(), vec![1])],
        }],
    );
    match render(&short) {
        Err(ReportPdfError::SeriesLength {
            series,
            values: 1,
            labels: 3,
            ..
        }) => assert_eq!(series, "short"),
        other => panic!("expected SeriesLength, got {other:?}"),
    }
}

#[test]
fn rendering_is_deterministic_and_the_document_round_trips_as_json() {
    let d = sample();
    assert_eq!(render(&d).unwrap(), render(&d).unwrap());
    let json = serde_json::to_string(&d).unwrap();
    let back: ReportDocument = serde_json::from_str(&json).unwrap();
    assert_eq!(back, d);
}
