//! A coupon's life after issue: `allocate` (to a member; with the data key, the customer's
//! code too), `validate` (a terminal's dry run), `redeem` (at checkout, as a POS terminal),
//! `rollback` (on refund), `revoke` (for a reason on the ledger) and `transfer`.
//!
//! Amounts are read in the order's currency (`--total 80.00 --currency eur`, or
//! `--total-minor 8000`); what the chain would reject for certain is refused before
//! anything is sent, unless `--force` ([`super::prechecks`] has the rule: failed redemption
//! attempts are fraud evidence and always reach the ledger).

use super::context::{
    Ctx, LoadedKey, MemberArgs, load_data_key, load_key, member_from, short, signer_role,
};
use super::output::{EXIT_REJECTED, Failure, emit, explain, money_message, rejection_hint};
use super::prechecks;
use anyhow::Result;
use clap::Args;
use couponcactus_client::NodeClient;
use couponcactus_client::amounts::{amount_either, format_minor, parse_currency};
use couponcactus_client::chaincode::codes::code_hash;
use couponcactus_client::chaincode::execute::Event;
use couponcactus_client::chaincode::ids::{Category, PoolId, TokenId, TxId};
use couponcactus_client::chaincode::tx::{
    MAX_REVOKE_NOTE_BYTES, RedeemTarget, RevokeReason, TxKind,
};
use couponcactus_client::chaincode::types::{Currency, Order, OrderLine};
use couponcactus_client::issuance;
use couponcactus_client::keys::{claim_key_from_text, random_claim_key};
use serde_json::json;
use std::path::PathBuf;

/// `cactus allocate`.
#[derive(Debug, Args)]
pub struct AllocateArgs {
    /// An issuer's (or org admin's) key file of the pool's org.
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    /// The pool (unique codes, active).
    #[arg(long)]
    pool: PoolId,
    #[command(flatten)]
    member: MemberArgs,
    /// Idempotency key: the same claim always yields the same token (64 hex characters, or
    /// any text, e.g. an order number); default: a fresh random one.
    #[arg(long, value_name = "KEY")]
    claim: Option<String>,
    /// The org's code-sealing key file: opens the allocated token's sealed code and prints
    /// the code to give the customer.
    #[arg(long, value_name = "FILE")]
    data_key: Option<PathBuf>,
    /// Submit even if the pool does not exist (see `cactus redeem --help`).
    #[arg(long)]
    force: bool,
}

/// `cactus validate` and `cactus redeem`: what a POS terminal sends at checkout.
#[derive(Debug, Args)]
pub struct RedeemArgs {
    /// The terminal's key file (registered for its store and channel).
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    /// The code the customer presents (typed or scanned; any case, spaces or dashes;
    /// look-alikes such as O for 0 are read as the default code alphabet has them).
    #[arg(long, conflicts_with = "token", required_unless_present = "token")]
    code: Option<String>,
    /// A wallet coupon: POOL/SERIAL (needs the holder: --member or --member-name).
    #[arg(long, value_name = "POOL/SERIAL")]
    token: Option<TokenId>,
    #[command(flatten)]
    member: MemberArgs,
    /// The basket total before any discount, in the currency: 80.00 (EUR), 8000 (JPY).
    #[arg(
        long,
        value_name = "AMOUNT",
        conflicts_with = "total_minor",
        required_unless_present = "total_minor"
    )]
    total: Option<String>,
    /// The basket total in minor units instead (8000 = 80.00 EUR).
    #[arg(long, value_name = "MINOR")]
    total_minor: Option<u64>,
    /// The order's currency (the pool's): ISO 4217, any case (eur, EUR).
    #[arg(long)]
    currency: String,
    /// The amount of one category, CATEGORY=AMOUNT in the currency (e.g. tobacco=12.50;
    /// repeat); excluded categories are not discounted.
    #[arg(long = "line", value_name = "CATEGORY=AMOUNT")]
    lines: Vec<String>,
    /// The amount of one category in minor units, CATEGORY=MINOR (repeat).
    #[arg(long = "line-minor", value_name = "CATEGORY=MINOR")]
    lines_minor: Vec<String>,
    /// Submit even what the client is sure the chain rejects: a code that fits no code
    /// format and is not on the ledger, a shared code without --member, lines above the
    /// total (a well-formed but unknown or used code is always submitted: failed attempts
    /// stay on the ledger as evidence).
    #[arg(long)]
    force: bool,
}

/// One `--line`/`--line-minor`: CATEGORY=AMOUNT read in `currency`, or in minor units.
pub(super) fn parse_line(
    text: &str,
    currency: Currency,
    minor: bool,
) -> Result<OrderLine, Failure> {
    let flag = if minor { "--line-minor" } else { "--line" };
    let bad = |why: String| Failure::new("invalid_input", format!("{flag} {text:?}: {why}"));
    let (category, amount) = text.split_once('=').ok_or_else(|| {
        bad(if minor {
            "expected CATEGORY=MINOR, e.g. tobacco=1250".into()
        } else {
            "expected CATEGORY=AMOUNT, e.g. tobacco=12.50".into()
        })
    })?;
    let category = Category::new(category.trim()).map_err(|e| bad(e.to_string()))?;
    let amount_minor = if minor {
        amount
            .trim()
            .parse()
            .map_err(|_| bad(format!("{amount:?} is not an amount in minor units")))?
    } else {
        amount_either(flag, Some(amount), None, Some(currency))
            .map_err(|e| bad(e.to_string()))?
            .unwrap_or(0)
    };
    Ok(OrderLine {
        category,
        amount_minor,
    })
}

impl RedeemArgs {
    /// The order, every amount read in its currency; bad input is `invalid_input`.
    fn order(&self) -> Result<Order, Failure> {
        let currency = parse_currency(&self.currency)
            .map_err(|e| Failure::new("invalid_input", format!("--currency: {e}")))?;
        let total_minor = amount_either(
            "--total",
            self.total.as_deref(),
            self.total_minor,
            Some(currency),
        )
        .map_err(|e| Failure::new("invalid_input", format!("--total: {e}")))?
        .ok_or_else(|| {
            Failure::new(
                "invalid_input",
                "pass --total AMOUNT (or --total-minor MINOR)",
            )
        })?;
        let mut lines = Vec::new();
        for text in &self.lines {
            lines.push(parse_line(text, currency, false)?);
        }
        for text in &self.lines_minor {
            lines.push(parse_line(text, currency, true)?);
        }
        Ok(Order {
            currency,
            total_minor,
            lines,
        })
    }
}

/// `cactus rollback`: one redemption, named by its id (or a prefix of it), or by the code
/// or token that was redeemed (its redemption in force).
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("what")
        .required(true)
        .args(["redemption", "code", "token"])
))]
pub struct RollbackArgs {
    /// A terminal's key file of the redeeming org (or the pool owner's admin).
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    /// The redemption: the redeem tx's id, or its first 8 or more hex digits (as `redeem`
    /// and `tx` print it).
    #[arg(long, value_name = "TX_ID")]
    redemption: Option<String>,
    /// The unique code that was redeemed: rolls back its token's redemption in force.
    #[arg(long)]
    code: Option<String>,
    /// The token that was redeemed: rolls back its redemption in force.
    #[arg(long, value_name = "POOL/SERIAL")]
    token: Option<TokenId>,
}

/// `cactus revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// An issuer's (or org admin's) key file of the pool's org.
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    /// The token: POOL/SERIAL.
    #[arg(long, value_name = "POOL/SERIAL")]
    token: TokenId,
    /// Why: recorded on the ledger for auditors.
    #[arg(long, value_enum)]
    reason: ReasonArg,
    /// Free text for the auditor (at most 140 bytes; required with --reason other).
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    /// Submit even if the token does not exist.
    #[arg(long)]
    force: bool,
}

/// `--reason` of `cactus revoke`: the chain's [`RevokeReason`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReasonArg {
    /// Obtained or used fraudulently (leaked, stolen, forged).
    Fraud,
    /// The customer asked for it.
    CustomerRequest,
    /// It should never have been issued or allocated.
    IssuedInError,
    /// The campaign ended early.
    ExpiredCampaign,
    /// Anything else: say what with --note.
    Other,
}

impl From<ReasonArg> for RevokeReason {
    fn from(r: ReasonArg) -> RevokeReason {
        match r {
            ReasonArg::Fraud => RevokeReason::Fraud,
            ReasonArg::CustomerRequest => RevokeReason::CustomerRequest,
            ReasonArg::IssuedInError => RevokeReason::IssuedInError,
            ReasonArg::ExpiredCampaign => RevokeReason::ExpiredCampaign,
            ReasonArg::Other => RevokeReason::Other,
        }
    }
}

/// The note of a revoke, checked as the chain checks it.
fn revoke_note(reason: RevokeReason, note: Option<&str>) -> Result<Option<String>, Failure> {
    match note {
        None if reason == RevokeReason::Other => Err(Failure::new(
            "invalid_input",
            "--reason other needs --note TEXT saying why (the auditor reads it)",
        )),
        None => Ok(None),
        Some(text)
            if text.is_empty()
                || text.len() > MAX_REVOKE_NOTE_BYTES
                || text.chars().any(char::is_control) =>
        {
            Err(Failure::new(
                "invalid_input",
                format!(
                    "--note must be 1 to {MAX_REVOKE_NOTE_BYTES} bytes without control characters (this one has {} bytes)",
                    text.len()
                ),
            ))
        }
        Some(text) => Ok(Some(text.to_string())),
    }
}

/// `cactus transfer`.
#[derive(Debug, Args)]
pub struct TransferArgs {
    /// An issuer's (or org admin's) key file of the pool's org.
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    /// The token: POOL/SERIAL (of a transferable pool).
    #[arg(long, value_name = "POOL/SERIAL")]
    token: TokenId,
    /// Its holder: a member id, or a customer id with --member-secret.
    #[arg(long, value_name = "MEMBER")]
    from: String,
    /// The new holder: a member id, or a customer id with --member-secret.
    #[arg(long, value_name = "MEMBER")]
    to: String,
    /// The org's member secret, to give --from/--to as customer ids.
    #[arg(long, value_name = "FILE", env = "CACTUS_MEMBER_SECRET")]
    member_secret: Option<PathBuf>,
    /// Submit even if the token does not exist.
    #[arg(long)]
    force: bool,
}

/// Runs `cactus allocate`.
pub async fn allocate(ctx: &Ctx, args: AllocateArgs) -> Result<()> {
    let signer = load_key(&args.key)?;
    let member = args.member.required()?;
    let data_key = args.data_key.as_deref().map(load_data_key).transpose()?;
    let claim = match &args.claim {
        Some(text) => claim_key_from_text(text),
        None => random_claim_key(),
    };
    let client = ctx.connect_as(&signer).await?;
    prechecks::pool_exists(&client, &args.pool, args.force).await?;
    let tx = client
        .tx_builder()
        .allocate(&signer.key, args.pool.clone(), member, claim);
    let view = ctx.submit(&client, &tx, &signer).await?;
    let allocated = view
        .events()
        .unwrap_or_default()
        .iter()
        .find_map(|e| match e {
            Event::Allocated { token, repeat, .. } => Some((token.clone(), *repeat)),
            _ => None,
        });
    let (token, repeat) = allocated.map_or((None, false), |(t, r)| (Some(t), r));
    let code = match (&token, data_key) {
        (Some(token), Some(key)) => Some(open_token_code(&client, &signer, &key, token).await?),
        _ => None,
    };
    emit(
        ctx.json,
        &json!({
            "tx": view, "token": token, "member": member, "claim": claim, "repeat": repeat,
            "code": code,
        }),
        || {
            let token = token.map(|t| t.to_string()).unwrap_or_else(|| "?".into());
            let mut text = format!(
                "allocated {token} to member {}{} (tx {} in block {})",
                short(&member.to_hex()),
                if repeat {
                    " (this claim had it already)"
                } else {
                    ""
                },
                short(&view.tx_id.to_hex()),
                view.height.unwrap_or(0)
            );
            if let Some(code) = &code {
                text.push_str(&format!("\n  the customer's code: {code}"));
            }
            text
        },
    );
    Ok(())
}

/// The plaintext code of an allocated token: its sealed code from the issue tx (the
/// token's history), opened with the org's data key and checked against its hash.
async fn open_token_code(
    client: &NodeClient,
    reader: &LoadedKey,
    data_key: &[u8; 32],
    token: &TokenId,
) -> Result<String> {
    let history = client
        .token_history(token)
        .await
        .map_err(|e| explain(e, Some(&reader.in_use())))?;
    let sealed = history.entries.iter().find_map(|entry| {
        let TxKind::IssueCodes(tx) = &entry.tx.body.kind else {
            return None;
        };
        entry.result.events()?.iter().find_map(|e| match e {
            Event::CodesIssued {
                pool, first_serial, ..
            } if *pool == token.pool && token.serial >= *first_serial => tx
                .codes
                .get(usize::try_from(token.serial - first_serial).ok()?)
                .cloned(),
            _ => None,
        })
    });
    let sealed = sealed.ok_or_else(|| {
        Failure::new(
            "not_found",
            format!("the node shows no issue tx with the sealed code of token {token}"),
        )
    })?;
    let code = issuance::open_codes(data_key, &token.pool, std::slice::from_ref(&sealed))
        .map_err(|e| {
            Failure::new("cannot_open", format!("token {token}: {e}"))
                .hint("use the data key of the org that issued the codes (its data.key)")
        })?
        .remove(0);
    if code_hash(&code) != sealed.code_hash {
        return Err(Failure::new(
            "cannot_open",
            format!("token {token}: the sealed code does not match its hash"),
        )
        .into());
    }
    Ok(code)
}

/// The tx a terminal signs for `args`, after the client's checks (see
/// [`super::prechecks`]; a dry run only reads the code as the till does).
async fn redeem_parts(
    client: &NodeClient,
    args: &RedeemArgs,
    redeem: bool,
) -> Result<(
    RedeemTarget,
    Option<couponcactus_client::chaincode::ids::MemberId>,
    Order,
)> {
    let order = args.order()?;
    let member = args.member.resolve()?;
    if redeem && !args.force {
        prechecks::order(&order)?;
    }
    let check = match (redeem, args.force) {
        (_, true) => prechecks::CodeCheck::AsTyped,
        (true, false) => prechecks::CodeCheck::Refuse,
        (false, false) => prechecks::CodeCheck::ReadOnly,
    };
    let target = match (&args.code, &args.token) {
        (Some(code), None) => {
            let read = prechecks::redeem_code(client, code, member, check).await?;
            RedeemTarget::Code(code_hash(&read))
        }
        (None, Some(token)) => {
            if member.is_none() {
                return Err(Failure::new(
                    "invalid_input",
                    "a wallet coupon is redeemed for its holder: pass --member HEX (or --member-name NAME --member-secret FILE)",
                )
                .into());
            }
            RedeemTarget::Token(token.clone())
        }
        _ => {
            return Err(
                Failure::new("invalid_input", "pass --code CODE or --token POOL/SERIAL").into(),
            );
        }
    };
    Ok((target, member, order))
}

/// A redemption's failure with the amounts of its message in the order's currency.
fn in_currency(error: anyhow::Error, currency: Currency) -> anyhow::Error {
    match error.downcast::<Failure>() {
        Ok(mut f) => {
            f.message = money_message(&f.code, &f.message, currency);
            f.into()
        }
        Err(other) => other,
    }
}

/// What a `redeemed` event says.
struct Redeemed<'a> {
    token: &'a Option<TokenId>,
    pool: &'a PoolId,
    eligible: u64,
    discount: u64,
    currency: Currency,
    redemption: TxId,
}

impl Redeemed<'_> {
    fn what(&self) -> String {
        match self.token {
            Some(t) => format!("token {t}"),
            None => format!("pool {}'s shared code", self.pool),
        }
    }
}

fn redeemed_of(events: &[Event]) -> Option<Redeemed<'_>> {
    events.iter().find_map(|e| match e {
        Event::Redeemed {
            redemption,
            pool,
            token,
            eligible_minor,
            discount_minor,
            currency,
            ..
        } => Some(Redeemed {
            token,
            pool,
            eligible: *eligible_minor,
            discount: *discount_minor,
            currency: *currency,
            redemption: *redemption,
        }),
        _ => None,
    })
}

/// Runs `cactus validate` (`redeem == false`) or `cactus redeem`.
pub async fn redeem(ctx: &Ctx, args: RedeemArgs, redeem: bool) -> Result<()> {
    let terminal = load_key(&args.key)?;
    let client = ctx.connect_as(&terminal).await?;
    let (target, member, order) = redeem_parts(&client, &args, redeem).await?;
    let tx = client
        .tx_builder()
        .redeem(&terminal.key, target, member, order.clone());
    if !redeem {
        return dry_run(ctx, &client, &terminal, &tx, &order).await;
    }
    let view = ctx
        .submit(&client, &tx, &terminal)
        .await
        .map_err(|e| in_currency(e, order.currency))?;
    let redeemed = redeemed_of(view.events().unwrap_or_default());
    let summary = redeemed.as_ref().map(|r| {
        json!({
            "redemption": r.redemption, "pool": r.pool, "token": r.token,
            "eligible_minor": r.eligible, "discount_minor": r.discount, "currency": r.currency,
            "to_pay_minor": order.total_minor.saturating_sub(r.discount),
        })
    });
    emit(
        ctx.json,
        &json!({ "tx": view, "redeemed": summary }),
        || match &redeemed {
            Some(r) => format!(
                "APPLIED: discount {} on eligible {} — customer pays {}\n  {} redeemed; redemption {} (block {})",
                format_minor(r.discount, r.currency),
                format_minor(r.eligible, r.currency),
                format_minor(order.total_minor.saturating_sub(r.discount), r.currency),
                r.what(),
                r.redemption,
                view.height.unwrap_or(0)
            ),
            None => format!("APPLIED (tx {})", view.tx_id),
        },
    );
    Ok(())
}

/// `cactus validate`: the node's dry run of the redemption.
async fn dry_run(
    ctx: &Ctx,
    client: &NodeClient,
    terminal: &LoadedKey,
    tx: &couponcactus_client::chaincode::tx::SignedTx,
    order: &Order,
) -> Result<()> {
    let check = client
        .validate(tx)
        .await
        .map_err(|e| explain(e, Some(&terminal.in_use())))?;
    if !check.is_valid() {
        let (code, message) = check
            .error
            .as_ref()
            .map(|e| (e.code.clone(), e.message.clone()))
            .unwrap_or_else(|| ("rejected".into(), "rejected".into()));
        emit(ctx.json, &check, String::new);
        let role = signer_role(client, terminal).await;
        let message = money_message(&code, &message, order.currency);
        return Err(Failure {
            exit: EXIT_REJECTED,
            printed: true,
            hint: rejection_hint(&code, "redeem", role.as_ref()),
            ..Failure::new(&code, format!("WOULD BE REJECTED: {code}: {message}"))
        }
        .into());
    }
    let quote = redeemed_of(check.events.as_deref().unwrap_or_default());
    emit(ctx.json, &check, || match quote {
        Some(r) => format!(
            "VALID: {} would take {} off (eligible {}; customer pays {}) — nothing was written (checked as block {})",
            r.what(),
            format_minor(r.discount, r.currency),
            format_minor(r.eligible, r.currency),
            format_minor(order.total_minor.saturating_sub(r.discount), r.currency),
            check.height
        ),
        None => format!("VALID (checked as block {})", check.height),
    });
    Ok(())
}

/// Runs `cactus rollback`.
pub async fn rollback(ctx: &Ctx, args: RollbackArgs) -> Result<()> {
    let signer = load_key(&args.key)?;
    let client = ctx.connect_as(&signer).await?;
    let (redemption, found) = rollback_target(&client, &args, &signer).await?;
    let tx = client.tx_builder().rollback(&signer.key, redemption);
    let view = ctx.submit(&client, &tx, &signer).await?;
    let restored = view
        .events()
        .unwrap_or_default()
        .iter()
        .find_map(|e| match e {
            Event::RolledBack { token, pool, .. } => Some((token.clone(), pool.clone())),
            _ => None,
        });
    emit(
        ctx.json,
        &json!({ "tx": view, "redemption": redemption, "found": found }),
        || {
            let what = match &restored {
                Some((Some(token), _)) => format!("token {token} is redeemable again"),
                Some((None, pool)) => format!("one use of pool {pool}'s shared code is restored"),
                None => String::new(),
            };
            format!(
                "rolled back redemption {}: {what} (block {})",
                short(&redemption.to_hex()),
                view.height.unwrap_or(0)
            )
        },
    );
    Ok(())
}

/// The redemption `rollback` undoes: the id given (a prefix resolved by the node), or the
/// redemption in force of the code's or token's token, with the lookup that found it.
async fn rollback_target(
    client: &couponcactus_client::NodeClient,
    args: &RollbackArgs,
    signer: &super::context::LoadedKey,
) -> Result<(
    TxId,
    Option<couponcactus_client::views::TokenRedemptionView>,
)> {
    let lookup = match (&args.redemption, &args.code, &args.token) {
        (Some(text), _, _) => {
            return Ok((super::reads::resolve_tx_arg(client, text).await?, None));
        }
        (None, Some(code), _) => {
            // As typed first; then as the till reads it (look-alikes mapped), like `redeem`.
            let typed = client.code_redemption(&code_hash(code)).await;
            match (typed, prechecks::code_format_problem(code)) {
                (Err(e), Ok(read))
                    if e.http_status() == Some(404) && code_hash(&read) != code_hash(code) =>
                {
                    client.code_redemption(&code_hash(&read)).await
                }
                (typed, _) => typed,
            }
        }
        (None, None, Some(token)) => client.token_redemption(token).await,
        (None, None, None) => {
            return Err(Failure::new(
                "invalid_input",
                "which redemption? pass --redemption TX_ID, --code CODE or --token POOL/SERIAL",
            )
            .into());
        }
    };
    let found = lookup.map_err(|e| explain(e, Some(&signer.in_use())))?;
    let Some(id) = found.redemption.as_ref().map(|r| r.id) else {
        return Err(Failure::new(
            "not_redeemed",
            format!(
                "token {} is {}, not redeemed: there is no redemption to roll back",
                found.token_id,
                super::reads::status_name(&found.status)
            ),
        )
        .hint(format!(
            "its redemptions and rollbacks so far: `cactus token history {} --key FILE`",
            found.token_id
        ))
        .into());
    };
    Ok((id, Some(found)))
}

/// Runs `cactus revoke`.
pub async fn revoke(ctx: &Ctx, args: RevokeArgs) -> Result<()> {
    let signer = load_key(&args.key)?;
    let reason = RevokeReason::from(args.reason);
    let note = revoke_note(reason, args.note.as_deref())?;
    let client = ctx.connect_as(&signer).await?;
    prechecks::token_exists(&client, &args.token, args.force).await?;
    let tx =
        client
            .tx_builder()
            .revoke_token(&signer.key, args.token.clone(), reason, note.clone());
    let view = ctx.submit(&client, &tx, &signer).await?;
    emit(
        ctx.json,
        &json!({ "tx": view, "token": args.token, "reason": reason, "note": note }),
        || {
            format!(
                "revoked token {} for {reason}{}: it can never be redeemed (block {})",
                args.token,
                note.as_deref()
                    .map(|n| format!(" ({n:?})"))
                    .unwrap_or_default(),
                view.height.unwrap_or(0)
            )
        },
    );
    Ok(())
}

/// Runs `cactus transfer`.
pub async fn transfer(ctx: &Ctx, args: TransferArgs) -> Result<()> {
    let signer = load_key(&args.key)?;
    let from = member_from(&args.from, args.member_secret.as_deref())?;
    let to = member_from(&args.to, args.member_secret.as_deref())?;
    let client = ctx.connect_as(&signer).await?;
    prechecks::token_exists(&client, &args.token, args.force).await?;
    let tx = client
        .tx_builder()
        .transfer_token(&signer.key, args.token.clone(), from, to);
    let view = ctx.submit(&client, &tx, &signer).await?;
    emit(
        ctx.json,
        &json!({ "tx": view, "token": args.token, "from": from, "to": to }),
        || {
            format!(
                "moved token {} from member {} to member {} (block {})",
                args.token,
                short(&from.to_hex()),
                short(&to.to_hex()),
                view.height.unwrap_or(0)
            )
        },
    );
    Ok(())
}

#[cfg(test)]
mod merchant_input_tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cmd {
        #[command(flatten)]
        redeem: RedeemArgs,
    }

    fn args(extra: &[&str]) -> Result<RedeemArgs, clap::Error> {
        let base = ["cactus", "--key", "t.key", "--code", "ABCD"];
        Cmd::try_parse_from(base.iter().chain(extra)).map(|c| c.redeem)
    }

    #[test]
    fn orders_are_read_in_their_currency() {
        let order = args(&[
            "--total",
            "80.00",
            "--currency",
            "eur",
            "--line",
            "tobacco=12.5",
            "--line-minor",
            "food=1000",
        ])
        .unwrap()
        .order()
        .unwrap();
        assert_eq!(order.currency, "EUR".parse().unwrap());
        assert_eq!(order.total_minor, 8_000);
        assert_eq!(
            order
                .lines
                .iter()
                .map(|l| l.amount_minor)
                .collect::<Vec<_>>(),
            vec![1_250, 1_000]
        );
        let jpy = args(&["--total-minor", "8000", "--currency", "JPY"])
            .unwrap()
            .order()
            .unwrap();
        assert_eq!(jpy.total_minor, 8_000);
    }

    #[test]
    fn bad_orders_are_invalid_input_and_ambiguous_totals_do_not_parse() {
        for (extra, says) in [
            (
                &["--total", "80.001", "--currency", "EUR"][..],
                "at most 2 decimals",
            ),
            (&["--total=-1", "--currency", "EUR"][..], "negative"),
            (&["--total", "80", "--currency", "EURO"][..], "ISO 4217"),
            (&["--total", "80", "--currency", "XAU"][..], "ISO 4217"),
            (
                &["--total", "80", "--currency", "EUR", "--line", "food"][..],
                "CATEGORY=AMOUNT",
            ),
            (
                &["--total", "80", "--currency", "EUR", "--line", "food=1.234"][..],
                "--line",
            ),
            (
                &[
                    "--total",
                    "80",
                    "--currency",
                    "EUR",
                    "--line-minor",
                    "food=1.5",
                ][..],
                "minor",
            ),
        ] {
            let err = args(extra).unwrap().order().unwrap_err();
            assert_eq!(err.code, "invalid_input");
            assert!(err.message.contains(says), "{extra:?}: {}", err.message);
        }
        // Both forms of the total, or neither, are command-line errors (exit 2).
        assert!(
            args(&[
                "--total",
                "80",
                "--total-minor",
                "8000",
                "--currency",
                "EUR"
            ])
            .is_err()
        );
        assert!(args(&["--currency", "EUR"]).is_err());
    }

    #[test]
    fn revoke_notes_are_checked_like_the_chain_checks_them() {
        assert_eq!(revoke_note(RevokeReason::Fraud, None).unwrap(), None);
        assert!(revoke_note(RevokeReason::Other, None).is_err());
        assert_eq!(
            revoke_note(RevokeReason::Other, Some("printed twice")).unwrap(),
            Some("printed twice".into())
        );
        let long = "x".repeat(MAX_REVOKE_NOTE_BYTES + 1);
        for bad in ["", "a\nb", long.as_str()] {
            assert!(
                revoke_note(RevokeReason::Fraud, Some(bad)).is_err(),
                "{bad:?}"
            );
        }
        for r in [
            ReasonArg::Fraud,
            ReasonArg::CustomerRequest,
            ReasonArg::IssuedInError,
            ReasonArg::ExpiredCampaign,
            ReasonArg::Other,
        ] {
            let name = clap::ValueEnum::to_possible_value(&r).unwrap();
            assert_eq!(
                RevokeReason::from(r).name(),
                name.get_name().replace('-', "_")
            );
        }
    }
}
