//! What `cactus` prints and how it exits: human text by default, one JSON object per
//! command on stdout with `--json`; errors with what to do about them; exit codes.
//!
//! Exit codes (also in `cactus --help`):
//! - 0: done;
//! - 1: the command failed (bad input, node unreachable, refused by the node, …);
//! - 2: the command line does not parse;
//! - 3: the tx was committed but the chain REJECTED it (the rejection code and message are
//!   printed; with `--json` the tx and its `error`), or a dry run (`validate`) says it
//!   would be;
//! - 4: a proof the node sent does not verify: do not trust that node's answer.

use couponcactus_client::NodeClientError;
use couponcactus_client::VerifyError;
use serde::Serialize;
use serde_json::{Value, json};

/// Exit code of a committed tx the chaincode rejected (or a dry run that would be).
pub const EXIT_REJECTED: u8 = 3;
/// Exit code of a proof that does not verify.
pub const EXIT_UNVERIFIED: u8 = 4;

/// The exit codes, for `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  done
  1  the command failed (bad input, node unreachable, tx refused by the node, ...)
  2  the command line does not parse
  3  the tx was committed but the chain REJECTED it (code and message printed; with
     --json the tx view with its `error`), or `validate` says it would be rejected
  4  a proof from the node does not verify: do not trust that answer";

/// A failure the CLI explains: what happened, a stable code, what to do, and the exit
/// code it ends with.
#[derive(Debug)]
pub struct Failure {
    /// What happened.
    pub message: String,
    /// Stable snake_case code (the node's error or rejection code, or the CLI's own).
    pub code: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// Exit code.
    pub exit: u8,
    /// Whether the command already printed its JSON output (a rejected tx's view).
    pub printed: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

impl Failure {
    /// A failure with exit code 1.
    pub fn new(code: &str, message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: code.into(),
            hint: None,
            exit: 1,
            printed: false,
        }
    }

    /// The same failure with a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }

    /// A tx the chain rejected (exit 3); its output is printed already.
    pub fn rejected(code: &str, message: impl Into<String>) -> Failure {
        Failure {
            exit: EXIT_REJECTED,
            printed: true,
            ..Failure::new(code, message)
        }
    }
}

/// A failed proof check (exit 4).
pub fn unverified(what: &str, e: VerifyError) -> anyhow::Error {
    match e {
        VerifyError::Node(n) => anyhow::Error::new(explain(n, None)),
        VerifyError::NotCertified { .. } | VerifyError::GapTooLong { .. } => {
            Failure::new("not_certified", format!("{what}: {e}")).into()
        }
        VerifyError::WrongChain { .. } | VerifyError::GenesisMismatch { .. } => {
            Failure::new("wrong_genesis", format!("{what}: {e}"))
                .hint("pass the genesis file of the chain this node serves with --genesis FILE")
                .into()
        }
        other => Failure {
            exit: EXIT_UNVERIFIED,
            ..Failure::new(
                "proof_invalid",
                format!("{what}: PROOF DOES NOT VERIFY: {other}"),
            )
        }
        .hint(
            "the node's answer cannot be trusted: ask another node, and run `cactus audit verify`",
        )
        .into(),
    }
}

/// The key a request was made with, to name it in hints.
#[derive(Clone, Debug)]
pub struct KeyInUse {
    /// Its file.
    pub path: String,
    /// Its public key, hex.
    pub public: String,
}

/// A node error with what to do about it.
pub fn explain(e: NodeClientError, key: Option<&KeyInUse>) -> Failure {
    let named = key
        .map(|k| format!("key {} ({})", k.public, k.path))
        .unwrap_or_else(|| "the key".into());
    match &e {
        NodeClientError::Unreachable { url, .. } => Failure::new(
            "unreachable",
            format!("cannot reach node at {url}: is it running?"),
        )
        .hint(
            "check with `scripts/localnet.sh status` (or start it with `scripts/localnet.sh up`), \
             or point --node / CACTUS_NODE at a running node",
        ),
        NodeClientError::BadUrl { .. } => Failure::new("invalid_input", e.to_string())
            .hint("--node takes a URL such as http://127.0.0.1:7101"),
        NodeClientError::Api { code, message, .. } => {
            let failure = Failure::new(code, format!("{code}: {message}"));
            match code.as_str() {
                "unknown_key" => failure.hint(format!(
                    "{named} is not registered on this chain: an org admin registers it with \
                     `cactus keys register --key ORG_ADMIN.key --public {} --role …`, or ask your org admin",
                    key.map(|k| k.public.as_str()).unwrap_or("PUBLIC_KEY")
                )),
                "key_revoked" => {
                    failure.hint(format!("{named} was revoked: use another key of your org"))
                }
                "not_authorized" => failure.hint(format!(
                    "{named} may not read this: use a key of the org that owns it, an auditor key, \
                     or a partner key of a partner org"
                )),
                "stale" => failure.hint(
                    "the request time differs from the node's clock by too much: check this machine's clock",
                ),
                "wrong_chain" => failure.hint("the tx is for another chain than the node's"),
                "commit_timeout" | "timeout" => failure.hint(
                    "the tx may still commit: look it up with `cactus tx TX_ID --key …` (resubmitting the same tx is safe)",
                ),
                "mempool_full" | "shutting_down" | "unavailable" => {
                    failure.hint("the node is busy or stopping: retry in a moment, or ask another node")
                }
                _ => failure,
            }
        }
        NodeClientError::NoReaderKey { .. } => Failure::new("unauthenticated", e.to_string())
            .hint("pass --key FILE: a key registered for your org"),
        NodeClientError::StillPending { .. } => Failure::new("pending", e.to_string()),
        NodeClientError::Transport { .. } => Failure::new("transport", e.to_string())
            .hint("the node did not answer in time: check it with `cactus status`, then retry"),
        NodeClientError::UnexpectedResponse { .. } | NodeClientError::Setup(_) => {
            Failure::new("unexpected", e.to_string())
        }
    }
}

/// A hint for a chaincode rejection, if there is a useful one.
pub fn rejection_hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "not_authorized" => {
            "the signing key's role may not do this: org admins and issuers manage pools, codes \
             and allocations; terminals validate, redeem and roll back; only org admins manage keys"
        }
        "pool_not_active" => "activate or resume the pool first (`cactus pool activate|resume ID`)",
        "invalid_transition" => {
            "pools go draft → active ⇄ paused → archived; codes are issued in draft or paused"
        }
        "already_redeemed" => {
            "this coupon was used already; a refund rolls it back (`cactus rollback`)"
        }
        "wrong_member" => "the token belongs to another member: pass the holder's member id",
        "store_not_allowed" | "channel_not_allowed" => {
            "the pool does not allow this terminal's store or channel"
        }
        "stale" => "the tx's validity ended before it was committed: check this machine's clock",
        "quantity_exceeded" => "the pool's total cap is reached",
        "member_limit_exceeded" => "the member reached the pool's per-member cap",
        "duplicate_code" => "a code repeats on the ledger; generate the batch again",
        _ => return None,
    })
}

/// Prints a command's result: `value` as one JSON line with `--json`, else `human`.
pub fn emit<T: Serialize>(json: bool, value: &T, human: impl FnOnce() -> String) {
    let text = if json {
        serde_json::to_string(value).expect("outputs serialize to JSON")
    } else {
        human().trim_end().to_string()
    };
    if !text.is_empty() {
        print_line(&text);
    }
}

/// Prints a line on stdout; a closed stdout (`cactus … | head`) ends the output quietly.
pub fn print_line(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{text}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// `ms` since the Unix epoch as a UTC date and time, `2026-03-01 12:00:00 UTC`.
pub fn format_time_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil from days (H. Hinnant), for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The JSON error object printed with `--json`.
pub fn error_json(code: &str, message: &str, hint: Option<&str>) -> Value {
    let mut error = json!({ "code": code, "message": message });
    if let Some(h) = hint {
        error["hint"] = Value::String(h.into());
    }
    json!({ "error": error })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_show_as_utc_dates() {
        assert_eq!(format_time_ms(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time_ms(1_767_225_600_000), "2026-01-01 00:00:00 UTC");
        assert_eq!(format_time_ms(951_825_599_000), "2000-02-29 11:59:59 UTC");
    }
}
