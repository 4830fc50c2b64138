//! The `cactus` command line: its command tree, global options and dispatch.
//!
//! Commands group by who uses them: `keys` and `genesis` (setting up), `pool` and `codes`
//! (merchants' back office), `allocate`, `validate`, `redeem`, `rollback`, `revoke`,
//! `transfer` (a coupon's life), `wallet`, `token`, `tx`, `block`, `status` (reading),
//! `hold` (fraud holds), `consent` (members' consent), `member` (the member directory:
//! personal data, erasure), `access-log` and `retention` (compliance), and `audit`
//! (auditors). Output is human text, or one JSON object per command with `--json`;
//! [`output`] owns both and the exit codes.

mod advise;
pub mod audit;
pub mod bench;
mod codes;
mod compliance;
mod consent;
mod context;
mod coupons;
mod events;
mod genesis;
pub mod governance;
mod holds;
mod keys;
mod member;
pub mod output;
mod points;
mod pool;
mod prechecks;
mod reads;
pub mod report;
mod report_finance;
mod webhooks;

use anyhow::Result;
use clap::{Parser, Subcommand};
use context::Ctx;
use couponcactus_client::chaincode::memo::Memo;
use std::path::PathBuf;

/// Couponcactus: a permissioned coupon ledger. `cactus` talks to a node (`cactusd`) for
/// merchants, POS terminals, partner brands and auditors, and checks every proof the node
/// sends against the chain's genesis instead of trusting it.
#[derive(Debug, Parser)]
#[command(
    name = "cactus",
    version,
    after_help = output::EXIT_CODES_HELP,
    after_long_help = LONG_HELP,
)]
pub struct Cli {
    /// The node's HTTP API. Several nodes: repeat the option or separate URLs with commas
    /// (also in CACTUS_NODE); a request that cannot reach a node goes to the next one (the
    /// same signed tx: never submitted twice).
    #[arg(
        long,
        global = true,
        env = "CACTUS_NODE",
        value_name = "URL[,URL…]",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:7101"
    )]
    pub node: Vec<String>,
    /// Print one JSON object per command on stdout (errors: {"error":{code,message,hint}}).
    #[arg(long, global = true)]
    pub json: bool,
    /// The chain's genesis file, the trust anchor of proofs (default: a genesis.toml next to
    /// or above the key file used, then .localnet/genesis.toml, .cactus-dev/genesis.toml).
    #[arg(long, global = true, env = "CACTUS_GENESIS", value_name = "FILE")]
    pub genesis: Option<PathBuf>,
    /// A memo every tx this command signs carries (who or why, e.g. `staff:u-42`): signed
    /// with the tx, kept on the chain and shown on its events. 1 to 128 bytes of UTF-8, no
    /// control characters, not only spaces.
    #[arg(long, global = true, value_name = "TEXT", value_parser = parse_memo)]
    pub memo: Option<Memo>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

const LONG_HELP: &str = "\
Key files are the JSON files `cactus keys generate` writes (mode 0600). A local consortium
(`scripts/localnet.sh up`) has every org's keys in .localnet/orgs/<org>/keys/: org-admin,
issuer, terminal (store <org>-store-1, channel pos), auditor, partner, and the code-sealing
data.key; e.g. `cactus pool list --org acme --key .localnet/orgs/acme/keys/issuer.key`.

Members are pseudonymous: pass --member HEX, or --member-name NAME --member-secret FILE to
derive the id as blake3::keyed_hash(secret, \"couponcactus/member/v1\\0\" || NAME); the secret
is any key file (`cactus keys generate --out member-secret.key`) or 64 hex characters.

Amounts are decimal in the currency, with at most its ISO 4217 decimals (--total 80.00
--currency eur), or minor units with the -minor flags (--total-minor 8000). Dates and times
are ISO 8601 (2026-12-24, 2026-12-24T18:00+01:00, 2026-12-24T17:00Z; a bare date is UTC,
and as an end of validity it means the end of that day); durations 30d, 12h, 90m.
Commands that write refuse what the chain would reject for certain (a malformed code
unknown to the ledger, a shared code without a member, an unknown pool); --force submits
anyway.

Exit codes:
  0  done
  1  the command failed (bad input, node unreachable, tx refused by the node, ...)
  2  the command line does not parse
  3  the tx was committed but the chain REJECTED it (code and message printed; with
     --json the tx view with its `error`), or `validate` says it would be rejected
  4  a proof from the node does not verify: do not trust that answer";

/// Every `cactus` command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Key files (generate, show, list) and keys on the chain (register, revoke).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Write a chain's genesis step by step: init, add-org, add-node, finalize, show.
    ///
    /// The draft is the genesis TOML itself (the file every node reads): `init` creates
    /// it, `add-org` and `add-node` edit it in place and check what they add (well-formed
    /// ids and keys, nothing repeated), `finalize` validates the whole (unique ids, keys,
    /// at least one voter) and prints the genesis hash. A node refuses an invalid file.
    #[command(subcommand)]
    Genesis(genesis::GenesisCommand),
    /// Coupon pools (campaigns): create, show, list, activate, pause, resume, archive.
    #[command(subcommand)]
    Pool(pool::PoolCommand),
    /// Issue random sealed codes into a pool, open your org's sealed codes, check a typed
    /// code, or render codes as QR images.
    #[command(subcommand)]
    Codes(codes::CodesCommand),
    /// Allocate a pool's next free coupon to a member (idempotent per --claim).
    Allocate(coupons::AllocateArgs),
    /// Dry-run a redemption as a POS terminal: would it apply, and what discount? (exit 3:
    /// it would be rejected)
    #[command(after_help = output::EXIT_CODES_HELP)]
    Validate(coupons::RedeemArgs),
    /// Redeem a coupon as a POS terminal; prints the discount (exit 3: the chain rejected
    /// it, e.g. already_redeemed)
    #[command(after_help = output::EXIT_CODES_HELP)]
    Redeem(coupons::RedeemArgs),
    /// Roll a redemption back (refund): the coupon can be used again.
    Rollback(coupons::RollbackArgs),
    /// Revoke a token for good.
    Revoke(coupons::RevokeArgs),
    /// Move a token to another member (transferable pools).
    Transfer(coupons::TransferArgs),
    /// The coupons a member holds.
    Wallet(reads::WalletArgs),
    /// Your org's loyalty program: set it from a file, show it, the liability per segment
    /// and what a partner org and the program owe each other (proven).
    #[command(subcommand)]
    Program(points::ProgramCommand),
    /// Move loyalty balances: earn on an order, load, spend, void, adjust (maker-checker:
    /// approve, reject), transfer, expire.
    #[command(subcommand)]
    Points(points::PointsCommand),
    /// A member's balances in a program (held, spendable now, tier, lots), proven.
    Balance(points::BalanceArgs),
    /// One order at the till (a terminal): coupons in the order given, then a balance
    /// spend, then points on what is left, all or nothing; stacking rules enforced (exit 3
    /// with the rule broken). `cactus points void --tx ID` undoes it all.
    #[command(after_help = output::EXIT_CODES_HELP)]
    Checkout(points::CheckoutArgs),
    /// A token, its state proof verified locally; `token history POOL/SERIAL` for its txs.
    Token(reads::TokenArgs),
    /// A tx with its result, its proofs verified locally.
    Tx(reads::TxArgs),
    /// A block (its hash and roots checked locally).
    Block(reads::BlockArgs),
    /// The ledger's events (allocations, redemptions, rejections, …) in log order; `list
    /// --follow` keeps reading, `show` checks one against the chain.
    #[command(subcommand)]
    Events(events::EventsCommand),
    /// The coupon advisor: pool review (BCG quadrants), segments and 3–5 proposed offers
    /// as complete pool specs, at one height (org admins and issuers; auditors: --org).
    #[command(after_help = output::EXIT_CODES_HELP)]
    Advise(advise::AdviseArgs),
    /// Fraud holds of your org on a member, a terminal or a code: place (org admin: in
    /// force; the org's risk key: pending review), confirm, lift, list, show (proven).
    #[command(subcommand)]
    Hold(holds::HoldCommand),
    /// A member's consent per purpose (marketing, profiling, partner:ORG): grant and
    /// withdraw (org admins, issuers, terminals), show (proven).
    #[command(subcommand)]
    Consent(consent::ConsentCommand),
    /// The member directory of your org's node (org admins, issuers): add, find (email,
    /// phone, recipient id or member id), show, erase (crypto-shredding and the ledger's
    /// erasure receipt), export (a data-subject access request).
    #[command(subcommand)]
    Member(member::MemberCommand),
    /// Webhook endpoints of your org's node (org admins): add, list, rotate-secret,
    /// disable, enable, replay, deliveries; `verify` checks a delivery you received.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// The node's access log (who read or changed what): `export` a time range as CSV or
    /// JSON (org admins: their org's entries; auditors: all).
    #[command(subcommand)]
    AccessLog(compliance::AccessLogCommand),
    /// Retention of the node's local data: `status` (windows, last pass, rows deleted)
    /// and legal holds (`hold add|remove|list`) that stop deletion (the node's org admins).
    #[command(subcommand)]
    Retention(compliance::RetentionCommand),
    /// The node's status.
    Status,
    /// Verify the chain offline, or fetch and check single proofs for third parties.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Change the consortium (org admins): propose adding or removing a node or an org, or
    /// new chain params; approve a proposal; show or list proposals.
    #[command(subcommand)]
    Governance(governance::GovernanceCommand),
    /// Load generator and benchmarks against a running consortium: redeem, issue, proofs,
    /// audit (committed tx/s and latency percentiles; --json for scripts).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Analytics reports (KPIs, redemptions, rejections) as a table, CSV, JSON or a PDF
    /// stamped with the height, state root and certificate they were computed at.
    #[command(subcommand)]
    Report(report::ReportCommand),
}

/// `--memo`: checked before anything is sent (clap reports the rule that is broken).
fn parse_memo(text: &str) -> Result<Memo, String> {
    Memo::new(text).map_err(|e| e.to_string())
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    let nodes: Vec<String> = cli
        .node
        .iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    let ctx = Ctx {
        node_url: nodes.first().cloned().unwrap_or_default(),
        nodes,
        json: cli.json,
        genesis: cli.genesis.clone(),
        memo: cli.memo.clone(),
    };
    match cli.command {
        Command::Keys(c) => keys::run(&ctx, c).await,
        Command::Genesis(c) => genesis::run(&ctx, c),
        Command::Pool(c) => pool::run(&ctx, c).await,
        Command::Codes(c) => codes::run(&ctx, c).await,
        Command::Allocate(a) => coupons::allocate(&ctx, a).await,
        Command::Validate(a) => coupons::redeem(&ctx, a, false).await,
        Command::Redeem(a) => coupons::redeem(&ctx, a, true).await,
        Command::Rollback(a) => coupons::rollback(&ctx, a).await,
        Command::Revoke(a) => coupons::revoke(&ctx, a).await,
        Command::Transfer(a) => coupons::transfer(&ctx, a).await,
        Command::Wallet(a) => reads::wallet(&ctx, a).await,
        Command::Program(c) => points::program(&ctx, c).await,
        Command::Points(c) => points::points(&ctx, c).await,
        Command::Balance(a) => points::balance(&ctx, a).await,
        Command::Checkout(a) => points::checkout(&ctx, a).await,
        Command::Token(a) => reads::token(&ctx, a).await,
        Command::Tx(a) => reads::tx(&ctx, a).await,
        Command::Block(a) => reads::block(&ctx, a).await,
        Command::Events(c) => events::run(&ctx, c).await,
        Command::Hold(c) => holds::run(&ctx, c).await,
        Command::Consent(c) => consent::run(&ctx, c).await,
        Command::Advise(a) => advise::run(&ctx, a).await,
        Command::Member(c) => member::run(&ctx, c).await,
        Command::Webhooks(c) => webhooks::run(&ctx, c).await,
        Command::AccessLog(c) => compliance::access_log(&ctx, c).await,
        Command::Retention(c) => compliance::retention(&ctx, c).await,
        Command::Status => reads::status(&ctx).await,
        Command::Audit(c) => audit::run(&ctx, c).await,
        Command::Governance(c) => governance::run(&ctx, c).await,
        Command::Bench(c) => bench::run(&ctx, c).await,
        Command::Report(c) => report::run(&ctx, c).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_tree_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn token_takes_an_id_a_code_or_the_history_subcommand() {
        let parse = |args: &[&str]| Cli::try_parse_from(args.iter().copied());
        assert!(parse(&["cactus", "token", "spring/0", "--key", "k"]).is_ok());
        assert!(parse(&["cactus", "token", "--code", "ABCD", "--key", "k"]).is_ok());
        assert!(parse(&["cactus", "token", "history", "spring/0", "--key", "k"]).is_ok());
        assert!(
            parse(&["cactus", "token", "spring/0"]).is_err(),
            "--key is required"
        );
        assert!(
            parse(&["cactus", "token", "--key", "k"]).is_err(),
            "an id or a code"
        );
        assert!(
            parse(&[
                "cactus",
                "redeem",
                "--key",
                "k",
                "--code",
                "X",
                "--total",
                "100",
                "--currency",
                "EUR"
            ])
            .is_ok()
        );
        assert!(
            parse(&[
                "cactus", "keys", "register", "--key", "a", "--public", "p", "--role", "terminal"
            ])
            .is_err(),
            "terminals need a store and channel"
        );
        assert!(
            parse(&[
                "cactus",
                "keys",
                "register",
                "--key",
                "a",
                "--public",
                "p",
                "--role",
                "terminal",
                "--store",
                "s-1",
                "--channel",
                "pos"
            ])
            .is_ok()
        );
    }
}
