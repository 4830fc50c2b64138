//! Codes as people type them: the code-format options (`--pattern`, `--prefix`,
//! `--charset`, `--check-char`) shared by `codes generate`, `codes check`, `codes qr` and
//! the terminal commands, and the client-side check of a typed code against them
//! ([`check_typed_code`]: look-alikes mapped, check character verified) before any
//! request, so a typo never becomes a rejected tx.

use crate::cli::output::{Failure, emit};
use anyhow::Result;
use clap::Args;
use couponcactus_client::chaincode::codes::{
    CodeError, CodePattern, check_typed_code, code_hash, normalize_code,
};
use serde_json::json;

/// How codes of a pool look (what `cactus codes generate` was given).
#[derive(Clone, Debug, Default, Args)]
pub struct CodeFormatArgs {
    /// Code layout: `#` is a random character, anything else is copied [default:
    /// ####-####-####].
    #[arg(long, value_name = "PATTERN")]
    pub pattern: Option<String>,
    /// Alphabet of the random characters [default: 0123456789ABCDEFGHJKMNPQRSTVWXYZ].
    #[arg(long, value_name = "CHARS")]
    pub charset: Option<String>,
    /// Fixed text before every code, e.g. SPRING-.
    #[arg(long, value_name = "TEXT")]
    pub prefix: Option<String>,
    /// Codes end with a check character (Luhn mod N over the random characters), so a
    /// mistyped code is caught before any request.
    #[arg(long)]
    pub check_char: bool,
}

impl CodeFormatArgs {
    /// The pattern, with the defaults for what is not given.
    pub fn or_default(&self) -> CodePattern {
        let default = CodePattern::default();
        CodePattern {
            prefix: self.prefix.clone().unwrap_or(default.prefix),
            pattern: self.pattern.clone().unwrap_or(default.pattern),
            charset: self
                .charset
                .as_deref()
                .map(|c| c.chars().collect())
                .unwrap_or(default.charset),
            check_char: self.check_char,
        }
    }

    /// The pattern if any option was given; `None` when the format is unknown (then a
    /// typed code is only normalized: a chosen code such as SUMMER10 must stay as it is).
    pub fn given(&self) -> Option<CodePattern> {
        let any = self.pattern.is_some()
            || self.charset.is_some()
            || self.prefix.is_some()
            || self.check_char;
        any.then(|| self.or_default())
    }

    /// The code to hash for `typed`: checked against the format when one is given (see
    /// [`typed_code`]), else only normalized.
    pub fn typed_code(&self, typed: &str) -> Result<String, Failure> {
        match self.given() {
            Some(pattern) => typed_code(typed, &pattern),
            None => Ok(normalize_code(typed)),
        }
    }
}

/// `typed` checked against `pattern` ([`check_typed_code`]): the normalized code with
/// look-alikes mapped, or a `malformed_code` failure saying what is wrong, before any
/// request is made.
pub fn typed_code(typed: &str, pattern: &CodePattern) -> Result<String, Failure> {
    check_typed_code(typed, pattern).map_err(|e| malformed(typed, pattern, e))
}

/// The failure of a typed code that does not fit its pattern.
fn malformed(typed: &str, pattern: &CodePattern, e: CodeError) -> Failure {
    let looks = example(pattern);
    match e {
        CodeError::BadCharset | CodeError::BadPattern(..) => {
            Failure::new("invalid_input", format!("--pattern/--charset: {e}"))
        }
        CodeError::CheckCharMismatch => {
            Failure::new("malformed_code", format!("code {typed:?} is mistyped: {e}"))
                .hint("read the code again from the coupon: nothing was sent to the chain")
        }
        _ => Failure::new(
            "malformed_code",
            format!("code {typed:?} is malformed: {e}"),
        )
        .hint(format!(
            "codes of this format look like {looks}; nothing was sent to the chain \
                 (a code of another format: drop --pattern/--prefix/--charset/--check-char)"
        )),
    }
}

/// A code of `pattern` made of its first charset character, to show its shape.
pub fn example(pattern: &CodePattern) -> String {
    let zeros = vec![0u8; pattern.random_bytes_per_code()];
    pattern.generate(&zeros).unwrap_or_default()
}

/// `cactus codes check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The code as typed or read aloud.
    code: String,
    /// The codes' format (default: the default pattern and alphabet).
    #[command(flatten)]
    format: CodeFormatArgs,
}

/// Checks a typed code offline and prints it normalized, with its hash.
pub fn check(json: bool, args: CheckArgs) -> Result<()> {
    let pattern = args.format.or_default();
    let code = typed_code(&args.code, &pattern)?;
    let hash = code_hash(&code);
    let changed = code != normalize_code(&args.code);
    emit(
        json,
        &json!({ "typed": args.code, "code": code, "code_hash": hash, "corrected": changed }),
        || {
            let note = if changed {
                " (look-alike characters corrected)"
            } else {
                ""
            };
            format!("code {code}{note}\ncode hash {hash}")
        },
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_client::chaincode::codes::DEFAULT_CHARSET;

    #[test]
    fn a_format_is_applied_only_when_given() {
        let none = CodeFormatArgs::default();
        assert!(none.given().is_none());
        // Unknown format: only normalized, so a chosen code keeps its O.
        assert_eq!(none.typed_code("gold-coin").unwrap(), "GOLDCOIN");
        let check = CodeFormatArgs {
            check_char: true,
            ..CodeFormatArgs::default()
        };
        assert_eq!(check.given().unwrap().charset.len(), DEFAULT_CHARSET.len());
        assert_eq!(
            check.typed_code("abcd efgh jkmo e").unwrap(),
            "ABCDEFGHJKM0E"
        );
        let wrong = check.typed_code("ABCD-EFGH-JKMN-4").unwrap_err();
        assert_eq!(wrong.code, "malformed_code");
        assert!(wrong.message.contains("check character"), "{wrong}");
        let short = check.typed_code("ABCD-EFGH").unwrap_err();
        assert_eq!(short.code, "malformed_code");
        assert!(
            short.hint.unwrap().contains("0000-0000-00000"),
            "the hint shows the shape"
        );
        let bad = CodeFormatArgs {
            charset: Some("AA".into()),
            ..CodeFormatArgs::default()
        };
        assert_eq!(bad.typed_code("AAAA").unwrap_err().code, "invalid_input");
    }

    #[test]
    fn defaults_are_the_chaincode_defaults() {
        let p = CodeFormatArgs::default().or_default();
        assert_eq!(p, CodePattern::default());
        assert_eq!(p.pattern, "####-####-####");
        let spring = CodeFormatArgs {
            prefix: Some("SPRING-".into()),
            ..CodeFormatArgs::default()
        };
        assert_eq!(example(&spring.or_default()), "SPRING-0000-0000-0000");
    }
}
