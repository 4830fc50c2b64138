//! What the client refuses before submitting, because the chain would reject it for
//! certain: a typo must not become a permanent rejected tx. `--force` skips every check
//! here and submits anyway (the chain still decides), and every refusal says so.
//!
//! The rule: refuse only input that is *certainly* a mistake of the person typing, never
//! a real attempt. Failed redemption attempts by terminals are fraud evidence and must
//! reach the ledger, so `redeem` submits a code that is well-formed but unknown, already
//! redeemed, revoked or expired, and a token of a pool it cannot see; it refuses only
//! - a code that fits no code format ([`code_format_problem`]: not the default pattern,
//!   with or without its check character, after look-alike mapping) AND is not on the
//!   ledger (a signed read of the code answers 404 with a proof of its absence, for any
//!   reader): a typo, since codes of other patterns that exist are found by that read;
//! - a shared code redeemed without a member (the read says the code is a pool's shared
//!   code): the chain always rejects that;
//! - an order whose lines add up to more than its total.
//!
//! Back-office txs (allocate, revoke, transfer, pool transitions) are refused when the
//! pool or token they name does not exist: a signed read as the signer answers 404 with a
//! proof of its absence. A 403 (the key may not read it), a 404 without a proof that
//! verifies, or any other failure of the read proves nothing, and the tx is submitted.
//!
//! Codes are read as the till reads them: look-alike characters (O→0, I/L→1, U→V) are
//! mapped where the default pattern rules them out (`check_typed_code` of the chaincode's
//! `codes` module); when that changes the code, the code as typed is looked up first, so
//! a code of another pattern is never rewritten into a different one. `validate` reads
//! codes the same way but refuses nothing (a dry run writes nothing); with `--force` the
//! code is sent exactly as typed.

use super::output::Failure;
use couponcactus_client::chaincode::codes::code_hash;
use couponcactus_client::chaincode::codes::{CodePattern, check_typed_code, normalize_code};
use couponcactus_client::chaincode::ids::{MemberId, PoolId, TokenId};
use couponcactus_client::chaincode::types::Order;
use couponcactus_client::views::CodeView;
use couponcactus_client::{NodeClient, NodeClientError};

/// The sentence every refusal ends with.
pub const FORCE_HINT: &str = "if you are sure, --force submits it anyway (the chain will decide, and a rejection stays on the ledger)";

/// A refusal of the client's own: exit 1, code `invalid_input`, the `--force` hint.
pub fn refused(message: impl Into<String>) -> Failure {
    Failure::new("invalid_input", message).hint(FORCE_HINT)
}

/// What a signed read says about a thing's existence.
#[derive(Debug)]
pub enum Seen<T> {
    /// It exists and the key may read it.
    Found(T),
    /// The node proved it absent (a 404 with a proof of absence that verified).
    Missing,
    /// The read proves nothing (403, node trouble, …).
    Unknown,
}

impl<T> Seen<T> {
    fn of(result: Result<T, NodeClientError>) -> Seen<T> {
        match result {
            Ok(v) => Seen::Found(v),
            Err(e) if e.absence().is_some() => Seen::Missing,
            Err(_) => Seen::Unknown,
        }
    }
}

/// The code as the till reads it (look-alikes mapped) if it fits a default code format
/// (12 characters of the default alphabet, or 13 with the check character), else why not.
pub fn code_format_problem(code: &str) -> Result<String, String> {
    let plain = CodePattern::default();
    let checked = CodePattern {
        check_char: true,
        ..CodePattern::default()
    };
    let first = match check_typed_code(code, &plain) {
        Ok(read) => return Ok(read),
        Err(e) => e,
    };
    match check_typed_code(code, &checked) {
        Ok(read) => Ok(read),
        // Report the error of the format whose length the code has.
        Err(e)
            if normalize_code(code).chars().count() == plain.pattern.replace('-', "").len() + 1 =>
        {
            Err(e.to_string())
        }
        Err(_) => Err(first.to_string()),
    }
}

/// How a redemption's code is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeCheck {
    /// `redeem`: read the code as the till does and refuse certain typos.
    Refuse,
    /// `validate`: read the code as the till does, refuse nothing (a dry run writes nothing).
    ReadOnly,
    /// `--force`: the code exactly as typed, nothing looked up.
    AsTyped,
}

/// The code a redemption sends, after the checks of the module doc. The client's reader
/// key signs the lookups.
pub async fn redeem_code(
    client: &NodeClient,
    code: &str,
    member: Option<MemberId>,
    check: CodeCheck,
) -> Result<String, Failure> {
    if check == CodeCheck::AsTyped {
        return Ok(code.to_string());
    }
    let refuse = check == CodeCheck::Refuse;
    let lookup = |c: String| async move { Seen::of(client.code_token(&code_hash(&c), None).await) };
    let (chosen, seen) = match code_format_problem(code) {
        Ok(read) if normalize_code(&read) == normalize_code(code) => {
            // Only a redemption without a member needs to know the code's kind.
            let seen = match member {
                None if refuse => lookup(read.clone()).await,
                _ => Seen::Unknown,
            };
            (read, seen)
        }
        Ok(read) => match lookup(code.to_string()).await {
            // The code as typed exists (another pattern): never rewrite it.
            Seen::Found(view) => (code.to_string(), Seen::Found(view)),
            _ => {
                let seen = lookup(read.clone()).await;
                (read, seen)
            }
        },
        Err(why) if refuse => match lookup(code.to_string()).await {
            Seen::Missing => {
                return Err(refused(format!(
                    "{code:?} is not a code: {why}, and no such code is on the ledger: check it \
                     (a typo is not sent to the chain)"
                )));
            }
            seen => (code.to_string(), seen),
        },
        Err(_) => (code.to_string(), Seen::Unknown),
    };
    if let (Seen::Found(view), None, true) = (&seen, member, refuse) {
        shared_needs_member(view)?;
    }
    Ok(chosen)
}

fn shared_needs_member(view: &CodeView) -> Result<(), Failure> {
    if view.entry.serial.is_none() {
        return Err(refused(format!(
            "this is pool {}'s shared code: the chain redeems a shared code only for a member \
             (per-member caps): pass --member HEX or --member-name NAME --member-secret FILE",
            view.entry.pool
        )));
    }
    Ok(())
}

/// An order whose lines add up to more than its total is always rejected.
pub fn order(order: &Order) -> Result<(), Failure> {
    let lines = order
        .lines
        .iter()
        .try_fold(0u64, |sum, l| sum.checked_add(l.amount_minor));
    match lines {
        Some(sum) if sum <= order.total_minor => Ok(()),
        _ => Err(refused(
            "the order's lines add up to more than its total: --total is the whole basket, \
             each --line a part of it",
        )),
    }
}

/// A pool the signer names: refused when the node says there is no such pool.
pub async fn pool_exists(client: &NodeClient, pool: &PoolId, force: bool) -> Result<(), Failure> {
    if force {
        return Ok(());
    }
    match Seen::of(client.pool(pool, None).await) {
        Seen::Missing => Err(refused(format!(
            "there is no pool {pool} on the ledger: check the id (`cactus pool list`)"
        ))),
        _ => Ok(()),
    }
}

/// A token the signer names: refused when the node says there is no such token.
pub async fn token_exists(
    client: &NodeClient,
    token: &TokenId,
    force: bool,
) -> Result<(), Failure> {
    if force {
        return Ok(());
    }
    pool_exists(client, &token.pool, false).await?;
    match Seen::of(client.token(token, None).await) {
        Seen::Missing => Err(refused(format!(
            "pool {} has no token {token}: check the serial (`cactus pool show {}`)",
            token.pool, token.pool
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use couponcactus_client::chaincode::types::OrderLine;

    #[test]
    fn code_formats_are_checked_against_the_default_pattern() {
        assert_eq!(
            code_format_problem("7K2M-9QXR-4TWB").as_deref(),
            Ok("7K2M9QXR4TWB")
        );
        // Look-alikes the pattern rules out are read as the characters they look like.
        assert_eq!(
            code_format_problem("7k2m 9qxr 4twb").as_deref(),
            Ok("7K2M9QXR4TWB")
        );
        assert_eq!(
            code_format_problem("OIL0-0000-0000").as_deref(),
            Ok("011000000000")
        );
        for bad in [
            "7K2M-9QXR-4TW",
            "7K2M-9QXR-4TWB-XX",
            "",
            "7K2M-9QXR-4TW!",
            "SUMMER10",
        ] {
            assert!(code_format_problem(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn an_order_whose_lines_exceed_its_total_is_refused() {
        let currency = "EUR".parse().unwrap();
        let line = |amount_minor| OrderLine {
            category: "food".parse().unwrap(),
            amount_minor,
        };
        let ok = Order {
            currency,
            total_minor: 1_000,
            lines: vec![line(600), line(400)],
        };
        assert!(order(&ok).is_ok());
        let over = Order {
            lines: vec![line(600), line(401)],
            ..ok.clone()
        };
        let err = order(&over).unwrap_err();
        assert_eq!(err.code, "invalid_input");
        assert!(err.hint.unwrap().contains("--force"));
        let overflow = Order {
            lines: vec![line(u64::MAX), line(1)],
            ..ok
        };
        assert!(order(&overflow).is_err());
    }
}
