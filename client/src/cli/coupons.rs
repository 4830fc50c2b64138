//! A coupon's life after issue: `allocate` (to a member), `validate` (a terminal's dry run),
//! `redeem` (at checkout, as a POS terminal), `rollback` (on refund), `revoke` and
//! `transfer`.

use super::context::{Ctx, MemberArgs, load_key, member_from, short};
use super::output::{EXIT_REJECTED, Failure, emit, explain, rejection_hint};
use anyhow::Result;
use clap::Args;
use couponcactus_client::amounts::format_minor;
use couponcactus_client::chaincode::codes::code_hash;
use couponcactus_client::chaincode::execute::Event;
use couponcactus_client::chaincode::ids::{Category, PoolId, TokenId, TxId};
use couponcactus_client::chaincode::tx::RedeemTarget;
use couponcactus_client::chaincode::types::{Currency, Order, OrderLine};
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
}

/// `cactus validate` and `cactus redeem`: what a POS terminal sends at checkout.
#[derive(Debug, Args)]
pub struct RedeemArgs {
    /// The terminal's key file (registered for its store and channel).
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    /// The code the customer presents (typed or scanned).
    #[arg(long, conflicts_with = "token", required_unless_present = "token")]
    code: Option<String>,
    /// A wallet coupon: POOL/SERIAL (needs the holder: --member or --member-name).
    #[arg(long, value_name = "POOL/SERIAL")]
    token: Option<TokenId>,
    #[command(flatten)]
    member: MemberArgs,
    /// The basket total before any discount, in minor units (10000 = 100.00 EUR).
    #[arg(long, value_name = "MINOR")]
    total: u64,
    /// The order's currency (the pool's).
    #[arg(long)]
    currency: Currency,
    /// An amount of one category, CATEGORY=MINOR (repeat); excluded categories are not
    /// discounted.
    #[arg(long = "line", value_name = "CATEGORY=MINOR", value_parser = parse_line)]
    lines: Vec<OrderLine>,
}

fn parse_line(text: &str) -> Result<OrderLine, String> {
    let (category, amount) = text
        .split_once('=')
        .ok_or_else(|| "expected CATEGORY=MINOR, e.g. tobacco=1250".to_string())?;
    Ok(OrderLine {
        category: Category::new(category.trim()).map_err(|e| e.to_string())?,
        amount_minor: amount
            .trim()
            .parse()
            .map_err(|_| format!("{amount:?} is not an amount in minor units"))?,
    })
}

/// `cactus rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// A terminal's key file of the redeeming org (or the pool owner's admin).
    #[arg(long, value_name = "FILE", env = "CACTUS_KEY")]
    key: PathBuf,
    /// The redemption: the redeem tx's id.
    #[arg(long, value_name = "TX_ID")]
    redemption: TxId,
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
}

/// Runs `cactus allocate`.
pub async fn allocate(ctx: &Ctx, args: AllocateArgs) -> Result<()> {
    let signer = load_key(&args.key)?;
    let member = args.member.required()?;
    let claim = match &args.claim {
        Some(text) => claim_key_from_text(text),
        None => random_claim_key(),
    };
    let client = ctx.connect().await?;
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
    emit(
        ctx.json,
        &json!({ "tx": view, "token": token, "member": member, "claim": claim, "repeat": repeat }),
        || {
            let token = token.map(|t| t.to_string()).unwrap_or_else(|| "?".into());
            format!(
                "allocated {token} to member {member}{} (tx {} in block {})",
                if repeat {
                    " (this claim had it already)"
                } else {
                    ""
                },
                short(&view.tx_id.to_hex()),
                view.height.unwrap_or(0)
            )
        },
    );
    Ok(())
}

/// The tx a terminal signs for `args`.
fn redeem_parts(
    args: &RedeemArgs,
) -> Result<(
    RedeemTarget,
    Option<couponcactus_client::chaincode::ids::MemberId>,
    Order,
)> {
    let member = args.member.resolve()?;
    let target = match (&args.code, &args.token) {
        (Some(code), None) => RedeemTarget::Code(code_hash(code)),
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
    let order = Order {
        currency: args.currency,
        total_minor: args.total,
        lines: args.lines.clone(),
    };
    Ok((target, member, order))
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
    let (target, member, order) = redeem_parts(&args)?;
    let client = ctx.connect().await?;
    let tx = client
        .tx_builder()
        .redeem(&terminal.key, target, member, order.clone());
    if !redeem {
        let check = client
            .validate(&tx)
            .await
            .map_err(|e| explain(e, Some(&terminal.in_use())))?;
        if !check.is_valid() {
            let (code, message) = check
                .error
                .as_ref()
                .map(|e| (e.code.clone(), e.message.clone()))
                .unwrap_or_else(|| ("rejected".into(), "rejected".into()));
            emit(ctx.json, &check, String::new);
            return Err(Failure {
                exit: EXIT_REJECTED,
                printed: true,
                hint: rejection_hint(&code).map(str::to_string),
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
        return Ok(());
    }
    let view = ctx.submit(&client, &tx, &terminal).await?;
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

/// Runs `cactus rollback`.
pub async fn rollback(ctx: &Ctx, args: RollbackArgs) -> Result<()> {
    let signer = load_key(&args.key)?;
    let client = ctx.connect().await?;
    let tx = client.tx_builder().rollback(&signer.key, args.redemption);
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
        &json!({ "tx": view, "redemption": args.redemption }),
        || {
            let what = match &restored {
                Some((Some(token), _)) => format!("token {token} is redeemable again"),
                Some((None, pool)) => format!("one use of pool {pool}'s shared code is restored"),
                None => String::new(),
            };
            format!(
                "rolled back redemption {}: {what} (block {})",
                short(&args.redemption.to_hex()),
                view.height.unwrap_or(0)
            )
        },
    );
    Ok(())
}

/// Runs `cactus revoke`.
pub async fn revoke(ctx: &Ctx, args: RevokeArgs) -> Result<()> {
    let signer = load_key(&args.key)?;
    let client = ctx.connect().await?;
    let tx = client
        .tx_builder()
        .revoke_token(&signer.key, args.token.clone());
    let view = ctx.submit(&client, &tx, &signer).await?;
    emit(
        ctx.json,
        &json!({ "tx": view, "token": args.token }),
        || {
            format!(
                "revoked token {}: it can never be redeemed (block {})",
                args.token,
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
    let client = ctx.connect().await?;
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
