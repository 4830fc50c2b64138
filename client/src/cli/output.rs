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
use couponcactus_client::amounts::format_minor;
use couponcactus_client::chaincode::types::{Currency, Role};
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
            // With several nodes, `url` lists every one tried (joined by ", ").
            if url.contains(", ") {
                format!("cannot reach any of the nodes {url}: are they running?")
            } else {
                format!("cannot reach node at {url}: is it running?")
            },
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
        NodeClientError::Absent { .. } => Failure::new("not_found", e.to_string()),
        NodeClientError::UnprovenAbsence { .. } => Failure {
            exit: EXIT_UNVERIFIED,
            ..Failure::new("proof_invalid", format!("NOT PROVEN: {e}"))
        }
        .hint(
            "a node must prove that what it does not find is absent: ask another node, and run \
             `cactus audit verify`",
        ),
    }
}

/// Who a hint is for: the signer's role, when known (the key registry says it).
fn is_terminal(role: Option<&Role>) -> bool {
    matches!(role, Some(Role::Terminal { .. }))
}

fn is_reader(role: Option<&Role>) -> bool {
    matches!(role, Some(Role::Auditor | Role::Partner))
}

/// What a merchant's back office does, for hints to those who may not.
const MANAGES: &[&str] = &[
    "create_pool",
    "update_pool",
    "transition_pool",
    "issue_codes",
    "allocate",
    "revoke_token",
    "transfer_token",
];

fn not_authorized_hint(kind: &str, role: Option<&Role>) -> String {
    if is_reader(role) {
        return "auditor and partner keys only read: sign with a key of the right role".into();
    }
    if is_terminal(role) && MANAGES.contains(&kind) {
        return "a terminal validates, redeems and rolls back only: ask the merchant (its issuers \
                or org admins) to do this"
            .into();
    }
    if matches!(kind, "register_key" | "revoke_key") {
        return "only org admins manage their org's keys".into();
    }
    if kind == "place_hold" {
        return "an org admin (in force at once) or the org's risk key (pending review) places \
                holds"
            .into();
    }
    if kind == "review_hold" {
        return "only an org admin confirms or lifts a hold; the risk key only places them".into();
    }
    if matches!(kind, "propose_governance" | "approve_governance") {
        return "only org admins propose and approve consortium changes".into();
    }
    if kind == "redeem" {
        return "a terminal redeems the coupons of its own org's pools and of pools that list its \
                org as partner; this key is not such a terminal"
            .into();
    }
    if kind == "rollback" {
        return "a redemption is rolled back by a terminal of the org that redeemed it, or by an \
                org admin of the pool's owner"
            .into();
    }
    "the signing key's role or org may not do this: org admins and issuers manage their own \
     org's pools, codes and allocations; terminals validate, redeem and roll back; only org \
     admins manage keys"
        .into()
}

fn pool_not_active_hint(kind: &str, role: Option<&Role>) -> String {
    if is_terminal(role) || matches!(kind, "redeem" | "rollback") {
        return "the pool is not active: ask the merchant (its issuers or org admins)".into();
    }
    "activate or resume the pool first (`cactus pool activate|resume ID`)".into()
}

fn invalid_transition_hint(kind: &str) -> Option<String> {
    Some(match kind {
        "revoke_token" => "the token is revoked already: nothing left to do".into(),
        "transfer_token" => "only an allocated token changes hands".into(),
        "issue_codes" => "codes are issued while the pool is in draft or paused".into(),
        "transition_pool" | "update_pool" => {
            "pools go draft → active ⇄ paused → archived (archived is final); a spec changes \
             only in draft"
                .into()
        }
        _ => return None,
    })
}

fn already_redeemed_hint(kind: &str) -> String {
    match kind {
        "revoke_token" => "a redeemed token cannot be revoked: roll the redemption back first \
                           (`cactus rollback`) if it should not have happened"
            .into(),
        "transfer_token" => "a redeemed token cannot change hands".into(),
        _ => "this coupon was used already; a refund rolls it back (`cactus rollback`)".into(),
    }
}

fn not_found_hint(kind: &str) -> String {
    match kind {
        "redeem" => "no such code or token on the ledger: check what the customer shows (the \
                     attempt stays on the ledger)"
            .into(),
        "rollback" => "no such redemption: give the redeem tx's id".into(),
        "place_hold" => "your org has no such member, terminal or code: it holds only members \
                         a coupon or balance of its was ever given to (check the id: `cactus \
                         wallet …`), and never another org's terminals or codes"
            .into(),
        "review_hold" => "your org holds no such target: `cactus hold list`".into(),
        _ => "no such pool or token: check the id (`cactus pool list`, `cactus token …`)".into(),
    }
}

fn validity_hint(code: &str, role: Option<&Role>) -> String {
    let when = if code == "expired" {
        "has ended"
    } else {
        "has not started yet"
    };
    if is_terminal(role) {
        format!("the campaign {when}: this coupon cannot be used today")
    } else {
        format!("the pool's validity {when} (`cactus pool show ID`)")
    }
}

/// A hint for a chaincode rejection `code` of a tx of `kind` ([`TxKind::name`], e.g.
/// `redeem`, `revoke_token`) signed by a key of `role` (when known), if there is a useful
/// one. Hints fit the caller: a terminal is never told to activate a pool, and a revoke is
/// never told about pool states.
///
/// [`TxKind::name`]: couponcactus_client::chaincode::tx::TxKind::name
pub fn rejection_hint(code: &str, kind: &str, role: Option<&Role>) -> Option<String> {
    Some(match code {
        "not_authorized" => not_authorized_hint(kind, role),
        "pool_not_active" => pool_not_active_hint(kind, role),
        "invalid_transition" => return invalid_transition_hint(kind),
        "already_redeemed" => already_redeemed_hint(kind),
        "not_found" => not_found_hint(kind),
        "expired" | "not_yet_valid" => validity_hint(code, role),
        "token_revoked" => "the merchant revoked this coupon: it can never be used".into(),
        "wrong_member" if kind == "transfer_token" => {
            "--from is not the token's holder: pass its current holder".into()
        }
        "wrong_member" => "the token belongs to another member: pass the holder's member id".into(),
        "store_not_allowed" | "channel_not_allowed" => {
            "the pool does not allow this terminal's store or channel".into()
        }
        "currency_mismatch" => "pass the pool's currency with --currency".into(),
        "min_spend_not_met" => {
            "the order's eligible amount is below the pool's minimum spend".into()
        }
        "category_excluded" => "every line of the order is in a category the pool excludes".into(),
        "wrong_pool_kind" if kind == "allocate" => {
            "a shared-code pool has no tokens to allocate: give customers its code".into()
        }
        "claim_conflict" => "this --claim was used for another member: use a new claim".into(),
        "already_rolled_back" => "this redemption was rolled back already: nothing to do".into(),
        "not_transferable" => "the pool's tokens are not transferable".into(),
        "stale" => {
            "the tx's validity ended before it was committed: check this machine's clock".into()
        }
        "quantity_exceeded" => "the pool's total cap is reached".into(),
        "member_limit_exceeded" => "the member reached the pool's per-member cap".into(),
        "duplicate_code" => "a code repeats on the ledger; generate the batch again".into(),
        "on_hold" => "the org holds this member, terminal or code (suspected fraud): its staff \
                      see why with `cactus hold list`, an org admin lifts it with `cactus hold \
                      lift`"
            .into(),
        "velocity_exceeded" => "the pool allows only so many redemptions per member, terminal \
                                or store in its window (`cactus pool show ID`): try again \
                                once the window has passed"
            .into(),
        "consent_required" => "the pool or program requires a consent purpose the member has \
                               not granted (or withdrew): record it with `cactus consent grant \
                               --member … --purpose … --text FILE`, see `cactus consent show`"
            .into(),
        "member_erased" if kind == "record_erasure" => {
            "the org recorded this member's erasure already: nothing to do".into()
        }
        "member_erased" => "the org recorded this member's erasure: it gives them nothing new \
                            and records no consent for them"
            .into(),
        "already_exists" if kind == "place_hold" => {
            "the org holds it already: `cactus hold show …` says why and how it stands".into()
        }
        _ => return None,
    })
}

/// A rejection message with the minor units it names shown in `currency`: the chaincode's
/// messages (part of hashed results, so never changed) say `eligible amount 3000 is below
/// the minimum spend 5000`; people read `min spend 50.00 EUR, eligible 30.00 EUR`. The
/// phrase is found anywhere in `message` (e.g. after `REJECTED by the chain: …`); messages
/// without it are returned as they are.
pub fn money_message(code: &str, message: &str, currency: Currency) -> String {
    let money = |minor: u64| format_minor(minor, currency);
    let rewritten = match code {
        "min_spend_not_met" => two_amounts(
            message,
            ("eligible amount ", " is below the minimum spend "),
            |eligible, min| format!("min spend {}, eligible {}", money(min), money(eligible)),
        ),
        "invalid_input" => two_amounts(
            message,
            ("order lines sum to ", ", more than the order total "),
            |lines, total| {
                format!(
                    "order lines sum to {}, more than the order total {}",
                    money(lines),
                    money(total)
                )
            },
        ),
        _ => None,
    };
    rewritten.unwrap_or_else(|| message.to_string())
}

/// `message` with its first `A<a>B<b>` (`A`, `B` the two phrases, `a`, `b` integers)
/// replaced by `say(a, b)`.
fn two_amounts(
    message: &str,
    (first, second): (&str, &str),
    say: impl Fn(u64, u64) -> String,
) -> Option<String> {
    let number = |text: &str| -> Option<(u64, usize)> {
        let digits = text.bytes().take_while(u8::is_ascii_digit).count();
        Some((text[..digits].parse().ok()?, digits))
    };
    let start = message.find(first)?;
    let rest = &message[start + first.len()..];
    let (a, a_len) = number(rest)?;
    let rest = rest[a_len..].strip_prefix(second)?;
    let (b, b_len) = number(rest)?;
    let end = message.len() - rest.len() + b_len;
    Some(format!(
        "{}{}{}",
        &message[..start],
        say(a, b),
        &message[end..]
    ))
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
    couponcactus_client::times::format_time_ms(ms)
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

    fn terminal() -> Role {
        Role::Terminal {
            store: "acme-store-1".parse().unwrap(),
            channel: "pos".parse().unwrap(),
        }
    }

    #[test]
    fn a_terminal_is_never_told_to_manage_the_pool() {
        let t = terminal();
        for code in [
            "pool_not_active",
            "not_authorized",
            "expired",
            "not_yet_valid",
        ] {
            for kind in [
                "redeem",
                "rollback",
                "allocate",
                "create_pool",
                "transition_pool",
            ] {
                let hint = rejection_hint(code, kind, Some(&t)).unwrap_or_default();
                assert!(
                    !hint.contains("cactus pool") && !hint.contains("activate"),
                    "{code} {kind}: {hint}"
                );
            }
        }
        assert_eq!(
            rejection_hint("pool_not_active", "redeem", Some(&t)).as_deref(),
            Some("the pool is not active: ask the merchant (its issuers or org admins)")
        );
        // Even without the role, a redemption's hint speaks to the checkout.
        assert!(
            rejection_hint("pool_not_active", "redeem", None)
                .unwrap()
                .contains("ask the merchant")
        );
        let hint = rejection_hint("not_authorized", "create_pool", Some(&t)).unwrap();
        assert!(hint.contains("ask the merchant"), "{hint}");
    }

    #[test]
    fn the_merchant_is_told_what_to_do_itself() {
        for role in [Some(Role::Issuer), Some(Role::OrgAdmin), None] {
            let hint = rejection_hint("pool_not_active", "allocate", role.as_ref()).unwrap();
            assert!(hint.contains("cactus pool activate"), "{role:?}: {hint}");
        }
        let hint = rejection_hint("not_authorized", "register_key", Some(&Role::Issuer)).unwrap();
        assert!(hint.contains("only org admins"), "{hint}");
        let hint = rejection_hint("not_authorized", "redeem", Some(&Role::Auditor)).unwrap();
        assert!(hint.contains("only read"), "{hint}");
        let hint = rejection_hint("expired", "allocate", Some(&Role::Issuer)).unwrap();
        assert!(hint.contains("cactus pool show"), "{hint}");
    }

    #[test]
    fn revokes_are_not_told_about_pool_states() {
        for code in ["invalid_transition", "already_redeemed", "not_found"] {
            let hint = rejection_hint(code, "revoke_token", Some(&Role::Issuer)).unwrap();
            for pool_talk in ["draft", "paused", "archived", "activate"] {
                assert!(!hint.contains(pool_talk), "{code}: {hint}");
            }
        }
        assert!(
            rejection_hint("invalid_transition", "revoke_token", None)
                .unwrap()
                .contains("revoked already")
        );
        assert!(
            rejection_hint("invalid_transition", "transition_pool", None)
                .unwrap()
                .contains("draft → active")
        );
        assert!(
            rejection_hint("already_redeemed", "redeem", None)
                .unwrap()
                .contains("cactus rollback")
        );
        assert_eq!(rejection_hint("invalid_transition", "redeem", None), None);
        assert_eq!(rejection_hint("bad_signature", "redeem", None), None);
    }

    #[test]
    fn rejections_name_amounts_in_the_currency() {
        let eur = "EUR".parse().unwrap();
        assert_eq!(
            money_message(
                "min_spend_not_met",
                "eligible amount 3000 is below the minimum spend 5000",
                eur
            ),
            "min spend 50.00 EUR, eligible 30.00 EUR"
        );
        assert_eq!(
            money_message(
                "min_spend_not_met",
                "REJECTED by the chain: min_spend_not_met: eligible amount 5 is below the \
                 minimum spend 5000 (tx 00ff in block 7)",
                eur
            ),
            "REJECTED by the chain: min_spend_not_met: min spend 50.00 EUR, eligible 0.05 EUR \
             (tx 00ff in block 7)"
        );
        assert_eq!(
            money_message(
                "invalid_input",
                "order lines sum to 1200, more than the order total 1000",
                "JPY".parse().unwrap()
            ),
            "order lines sum to 1200 JPY, more than the order total 1000 JPY"
        );
        // Other messages, and a shape that does not parse, stay as they are.
        for (code, message) in [
            ("invalid_input", "pool name must be 1 to 200 bytes"),
            (
                "min_spend_not_met",
                "eligible amount many is below the minimum spend 5",
            ),
            ("already_redeemed", "token spring/0 was redeemed"),
        ] {
            assert_eq!(money_message(code, message, eur), message);
        }
    }
}
