//! `cactus codes qr`: a code as a QR code, PNG or SVG, for printing and e-mail; one code,
//! or every code of a codes CSV into a directory.
//!
//! The QR code carries the normalized code (upper case, no dashes or spaces: QR's compact
//! alphanumeric mode for the default alphabet), which hashes like the printed code. With a
//! code format (`--pattern`, `--check-char`, …) the code is checked first, so a mistyped
//! code is never printed. Files are created with mode 0600 (a code is a bearer secret)
//! and never overwritten.

use super::typed::CodeFormatArgs;
use crate::cli::output::{Failure, emit};
use anyhow::Result;
use clap::{Args, ValueEnum};
use couponcactus_client::chaincode::codes::code_hash;
use image::ImageEncoder;
use qrcode::{EcLevel, QrCode};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Smallest side of a rendered code, in pixels (PNG) or user units (SVG), quiet zone
/// included.
const MIN_SIDE: u32 = 256;

/// An image format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum QrFormat {
    /// PNG, greyscale.
    Png,
    /// SVG.
    Svg,
}

impl QrFormat {
    /// The format a file name's extension names.
    fn of_path(path: &Path) -> Option<QrFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "png" => Some(QrFormat::Png),
            "svg" => Some(QrFormat::Svg),
            _ => None,
        }
    }

    fn extension(self) -> &'static str {
        match self {
            QrFormat::Png => "png",
            QrFormat::Svg => "svg",
        }
    }
}

/// `cactus codes qr`.
#[derive(Debug, Args)]
pub struct QrArgs {
    /// The code (as printed or typed).
    #[arg(required_unless_present = "from_csv", conflicts_with = "from_csv")]
    code: Option<String>,
    /// The image to write: FILE.png or FILE.svg.
    #[arg(long, value_name = "FILE", required_unless_present = "from_csv")]
    out: Option<PathBuf>,
    /// Every code of a codes CSV (`codes generate --out`, `codes open --out`) instead.
    #[arg(
        long,
        value_name = "FILE",
        requires = "out_dir",
        conflicts_with = "out"
    )]
    from_csv: Option<PathBuf>,
    /// Where the images of --from-csv go (created if missing), one per code, named by
    /// serial (`code-SERIAL.png`; a shared code `code-shared.png`).
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Image format of --from-csv.
    #[arg(long, value_enum, default_value = "png")]
    format: QrFormat,
    /// The codes' format, to check each code before rendering it (default: not checked).
    #[command(flatten)]
    code_format: CodeFormatArgs,
}

/// The QR code of `code` (already normalized).
fn qr_of(code: &str) -> Result<QrCode, Failure> {
    QrCode::with_error_correction_level(code.as_bytes(), EcLevel::M).map_err(|e| {
        Failure::new(
            "invalid_input",
            format!("code {code:?} does not fit a QR code: {e}"),
        )
    })
}

/// `code` as a PNG image (greyscale, black on white, with the quiet zone).
pub fn render_png(code: &str) -> Result<Vec<u8>, Failure> {
    let image = qr_of(code)?
        .render::<image::Luma<u8>>()
        .min_dimensions(MIN_SIDE, MIN_SIDE)
        .build();
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            image::ExtendedColorType::L8,
        )
        .map_err(|e| Failure::new("io", format!("encoding the PNG: {e}")))?;
    Ok(png)
}

/// `code` as an SVG document.
pub fn render_svg(code: &str) -> Result<String, Failure> {
    Ok(qr_of(code)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(MIN_SIDE, MIN_SIDE)
        .build())
}

fn render(code: &str, format: QrFormat) -> Result<Vec<u8>, Failure> {
    match format {
        QrFormat::Png => render_png(code),
        QrFormat::Svg => render_svg(code).map(String::into_bytes),
    }
}

/// Writes a new file with mode 0600, refusing to replace one.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let io = |e: std::io::Error| {
        let f = Failure::new("io", format!("cannot write {}: {e}", path.display()));
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            f.hint("images of codes are never overwritten: choose another --out or --out-dir")
        } else {
            f
        }
    };
    let mut file = options.open(path).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

/// The code to encode: checked against the format when one is given, else normalized.
fn to_encode(code: &str, format: &CodeFormatArgs) -> Result<String, Failure> {
    let checked = format.typed_code(code)?;
    if checked.is_empty() {
        return Err(Failure::new("invalid_input", "the code is empty"));
    }
    Ok(checked)
}

fn one(json: bool, args: &QrArgs, code: &str, out: &Path) -> Result<()> {
    let format = QrFormat::of_path(out).ok_or_else(|| {
        Failure::new(
            "invalid_input",
            format!(
                "--out {}: the file name must end in .png or .svg",
                out.display()
            ),
        )
    })?;
    let code = to_encode(code, &args.code_format)?;
    write_new(out, &render(&code, format)?)?;
    emit(
        json,
        &json!({ "code": code, "code_hash": code_hash(&code), "file": out }),
        || format!("QR code of {code} written to {} (mode 0600)", out.display()),
    );
    Ok(())
}

/// One row of a codes CSV.
#[derive(Debug, serde::Deserialize)]
struct CsvRow {
    serial: Option<u64>,
    code: String,
    code_hash: Option<String>,
}

fn read_csv(path: &Path) -> Result<Vec<CsvRow>, Failure> {
    let bad = |e: csv::Error| {
        Failure::new("invalid_input", format!("{}: {e}", path.display())).hint(
            "a codes CSV has the columns serial,code,code_hash (`cactus codes generate --out`)",
        )
    };
    let mut reader = csv::Reader::from_path(path).map_err(bad)?;
    let rows = reader
        .deserialize()
        .collect::<Result<Vec<CsvRow>, _>>()
        .map_err(bad)?;
    for (i, row) in rows.iter().enumerate() {
        if let Some(hash) = row.code_hash.as_deref().filter(|h| !h.is_empty())
            && code_hash(&row.code).to_hex() != hash
        {
            return Err(Failure::new(
                "invalid_input",
                format!(
                    "{} row {}: the code does not match its code_hash",
                    path.display(),
                    i + 2
                ),
            ));
        }
    }
    Ok(rows)
}

fn create_dir_private(dir: &Path) -> Result<(), Failure> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| Failure::new("io", format!("cannot create {}: {e}", dir.display())))
}

fn batch(json: bool, args: &QrArgs, csv: &Path, dir: &Path) -> Result<()> {
    let rows = read_csv(csv)?;
    create_dir_private(dir)?;
    let mut files = Vec::with_capacity(rows.len());
    for row in &rows {
        let code = to_encode(&row.code, &args.code_format)?;
        let name = match row.serial {
            Some(serial) => format!("code-{serial}.{}", args.format.extension()),
            None => format!("code-shared.{}", args.format.extension()),
        };
        let path = dir.join(name);
        write_new(&path, &render(&code, args.format)?)?;
        files.push(path);
    }
    emit(
        json,
        &json!({ "csv": csv, "dir": dir, "files": files }),
        || {
            format!(
                "{} QR codes written to {} (mode 0600)",
                files.len(),
                dir.display()
            )
        },
    );
    Ok(())
}

/// Runs `cactus codes qr`.
pub fn run(json: bool, args: QrArgs) -> Result<()> {
    match (&args.code, &args.out, &args.from_csv, &args.out_dir) {
        (Some(code), Some(out), None, _) => one(json, &args, code, out),
        (None, _, Some(csv), Some(dir)) => batch(json, &args, csv, dir),
        _ => Err(Failure::new(
            "invalid_input",
            "pass CODE --out FILE.png|FILE.svg, or --from-csv FILE --out-dir DIR",
        )
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes the one QR code of a greyscale image.
    fn decode(width: usize, height: usize, pixel: impl FnMut(usize, usize) -> u8) -> String {
        let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(width, height, pixel);
        let grids = prepared.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code in the image");
        grids[0].decode().expect("the QR code decodes").1
    }

    #[test]
    fn png_decodes_back_to_the_code() {
        let png = render_png("ABCDEFGHJKMN3").unwrap();
        assert_eq!(&png[1..4], b"PNG");
        let image = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
            .unwrap()
            .to_luma8();
        assert!(image.width() >= MIN_SIDE && image.height() >= MIN_SIDE);
        let text = decode(image.width() as usize, image.height() as usize, |x, y| {
            image.get_pixel(x as u32, y as u32)[0]
        });
        assert_eq!(text, "ABCDEFGHJKMN3");
    }

    /// Rasterizes the `M{x} {y}h{w}v{h}H{x}V{y}` rectangles qrcode's SVG renderer draws.
    fn rasterize_svg(svg: &str) -> (usize, usize, Vec<u8>) {
        let number = |key: &str| -> usize {
            let start = svg.find(key).unwrap() + key.len();
            let end = start + svg[start..].find('"').unwrap();
            svg[start..end].parse().unwrap()
        };
        let (width, height) = (number(" width=\""), number(" height=\""));
        let mut pixels = vec![255u8; width * height];
        let path = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        for rect in path.split('M').filter(|r| !r.is_empty()) {
            let nums: Vec<usize> = rect
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().unwrap())
                .collect();
            let (x, y, w, h) = (nums[0], nums[1], nums[2], nums[3]);
            for row in y..y + h {
                pixels[row * width + x..row * width + x + w].fill(0);
            }
        }
        (width, height, pixels)
    }

    #[test]
    fn svg_decodes_back_to_the_code() {
        let svg = render_svg("SPRINGABCDEFGHJKMN").unwrap();
        assert!(svg.contains("<svg") && svg.ends_with("</svg>"));
        let (w, h, pixels) = rasterize_svg(&svg);
        assert!(w >= MIN_SIDE as usize);
        assert_eq!(decode(w, h, |x, y| pixels[y * w + x]), "SPRINGABCDEFGHJKMN");
    }

    #[test]
    fn files_are_private_never_overwritten_and_named_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("c.png");
        write_new(&out, b"x").unwrap();
        let again = write_new(&out, b"y").unwrap_err();
        assert!(again.hint.unwrap().contains("never overwritten"));
        assert_eq!(std::fs::read(&out).unwrap(), b"x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(QrFormat::of_path(Path::new("a.SVG")), Some(QrFormat::Svg));
        assert_eq!(QrFormat::of_path(Path::new("a.jpg")), None);
        assert_eq!(QrFormat::of_path(Path::new("a")), None);
    }

    #[test]
    fn codes_are_checked_and_normalized_before_rendering() {
        let check = CodeFormatArgs {
            check_char: true,
            ..CodeFormatArgs::default()
        };
        assert_eq!(
            to_encode("abcd-efgh-jkmn-3", &check).unwrap(),
            "ABCDEFGHJKMN3"
        );
        assert_eq!(
            to_encode("abcd-efgh-jkmn-4", &check).unwrap_err().code,
            "malformed_code"
        );
        let none = CodeFormatArgs::default();
        assert_eq!(to_encode("Gold coin", &none).unwrap(), "GOLDCOIN");
        assert_eq!(to_encode(" - ", &none).unwrap_err().code, "invalid_input");
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("codes.csv");
        std::fs::write(
            &csv,
            format!(
                "serial,code,code_hash\n0,ABCD-EFGH-JKMN,{}\n",
                code_hash("ABCDEFGHJKMN").to_hex()
            ),
        )
        .unwrap();
        assert_eq!(read_csv(&csv).unwrap().len(), 1);
        std::fs::write(
            &csv,
            format!(
                "serial,code,code_hash\n0,ABCD-EFGH-JKMP,{}\n",
                code_hash("ABCDEFGHJKMN").to_hex()
            ),
        )
        .unwrap();
        assert!(read_csv(&csv).unwrap_err().message.contains("row 2"));
    }
}
