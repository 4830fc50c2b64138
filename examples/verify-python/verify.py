#!/usr/bin/env python3
"""An independent Couponcactus verifier, written from docs/proofs.md, docs/encoding.md and
docs/api.md alone: it checks a node's answer to a keyed read without trusting the node.

    verify.py read --node URL --genesis genesis.toml --key reader.key /v1/tokens/spring/0
    verify.py read ... /v1/pools/spring          /v1/codes/<code hash>/token
    verify.py read ... /v1/keys/<public key>     /v1/tokens/spring/0/redemption
    verify.py read ... --height 3 --save answer.json /v1/tokens/spring/99
    verify.py check answer.json --genesis genesis.toml    # the same checks, offline
    verify.py selftest [--encoding docs/encoding.md] [--proofs docs/proofs.md]

`read` signs every request as a signed read ("couponcactus/read/v1", docs/api.md) with the
reader's key file (JSON with hex `public_key` and `secret_key`, the 32-byte ed25519 seed),
reads at the node's latest height (or --height), and gathers what the checks need: the
node's status, the answer, the latest checkpoint (certificate and header) at or above that
height (waiting up to --wait seconds for it), the consortium at the certified height with
its state proof, and the headers between. `--save FILE` writes all of it as one JSON file,
which `check` verifies again without a network. The checks, in order:

1. the genesis file: its hash (docs/encoding.md, "Genesis hash") must be the node's, and
   its voters (node ids and keys) are the trust anchor;
2. the checkpoint: the header hashes to the certified block hash, and the consortium read
   at that height (its state proof checked against that header's state root, its JSON
   re-encoded and hashed) has the genesis voters; the certificate has a quorum
   (floor(V/2) + 1) of distinct voters in ascending order whose ed25519 signatures over the
   checkpoint message verify (PyNaCl, libsodium's checks);
3. the header of the answer hashes to the certified block, or chains to it by `prev_hash`;
4. the state proof of the key the path names (built from the path, not taken from the
   answer) leads to that header's state root: the value's inclusion, or for a 404 its
   absence;
5. the JSON shown (`token`, `pool`, `entry`, `record`) is re-encoded into canonical bytes
   from the documented layouts, refusing any key the layouts do not list, and its hash
   must be the proof's value hash: the JSON is what was proven.

It prints `VERIFIED: …` and exits 0, or `FAILED: <reason>` and exits 1 (2: a bad command
line). Dependencies: the Python standard library (3.11+, for tomllib) and PyNaCl. BLAKE3 is
the pure-Python implementation of the POS example (../pos-python/pos.py), imported from
there, as the two examples share one way of getting it.
"""

import argparse
import datetime
import json
import os
import re
import struct
import sys
import time
import tomllib
import unicodedata
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(HERE, "..", "pos-python"))
from pos import blake3, blake3_derive_key  # noqa: E402  (pure-Python BLAKE3)

try:
    import nacl.exceptions
    import nacl.signing
except ImportError:  # pragma: no cover - reported when used
    nacl = None

NACL_MISSING = ("PyNaCl is missing: `python3 -m pip install --user pynacl` "
                "(or `pip install -r examples/verify-python/requirements.txt`)")
EXIT_OK, EXIT_FAILED = 0, 1


class Failed(Exception):
    """A check did not hold, or what it needs could not be had (exit status 1)."""


def require(condition, reason):
    if not condition:
        raise Failed(reason)


def H(data):
    """blake3, 32 bytes (docs/proofs.md, "Conventions")."""
    return blake3(bytes(data))


# ---------------------------------------------------------------------------------------
# Canonical encoding (docs/encoding.md, "Primitive rules" and "JSON and bytes"): values as
# the API shows them in JSON, encoded from the documented layouts.
# ---------------------------------------------------------------------------------------

def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def string(s):
    b = s.encode("utf-8")
    return u64(len(b)) + b


def S(name):
    return ("struct", name)


def E(name):
    return ("enum", name)


def OPT(t):
    return ("opt", t)


def VEC(t):
    return ("vec", t)


def TUPLE(*ts):
    return ("tuple", ts)


def MAP(k, v):
    """A map: an object keyed by the keys as strings (docs/encoding.md, "JSON and bytes")."""
    return ("map", (k, v))


# Structs: their fields, in encoding order (docs/encoding.md, the `#### struct` tables).
STRUCTS = {
    "TokenId": [("pool", "str"), ("serial", "u64")],
    "ChainParams": [("max_batch_codes", "u32"), ("max_tx_validity_ms", "u64"),
                    ("proposal_ttl_ms", "u64"), ("max_sealed_code_bytes", "u32")],
    "NodeRecord": [("node_id", "u64"), ("org", "str"), ("node_key", "h32"),
                   ("p2p_addr", "str"), ("voter", "bool")],
    "PoolSpec": [("name", "str"), ("kind", E("PoolKind")), ("currency", "currency"),
                 ("discount", E("Discount")), ("max_discount_minor", OPT("u64")),
                 ("min_spend_minor", "u64"), ("valid_from_ms", "u64"),
                 ("valid_until_ms", "u64"), ("total_cap", "u64"), ("per_member_cap", "u32"),
                 ("allowed_channels", VEC("str")), ("allowed_stores", VEC("str")),
                 ("excluded_categories", VEC("str")), ("stacking_group", OPT("str")),
                 ("partner_orgs", VEC("str")), ("transferable", "bool"),
                 ("velocity", VEC(S("VelocityLimit"))),
                 ("requires_consent", OPT(E("Purpose")))],
    # Fraud rules (docs/encoding.md, `VelocityLimit`, `PlaceHoldTx`, `HoldRecord`).
    "VelocityLimit": [("per", E("VelocityScope")), ("max", "u32"), ("window_ms", "u64")],
    "HoldRecord": [("reason", E("HoldReason")), ("note", "str"), ("placed_by", "h32"),
                   ("placed_tx", "h32"), ("placed_ms", "u64"), ("status", E("HoldStatus")),
                   ("confirmed_by", OPT("h32"))],
    # The member registry (docs/encoding.md, `MemberRecord`): whom an org may hold.
    "MemberRecord": [("first_seen", "u64")],
    # Consent and erasure (docs/encoding.md, `ConsentRecord`, `ErasureRecord`).
    "ConsentRecord": [("granted", "bool"), ("text_hash", "h32"), ("at_ms", "u64"),
                      ("height", "u64")],
    "ErasureRecord": [("at_ms", "u64"), ("height", "u64")],
    "IssuedCode": [("code_hash", "h32"), ("sealed", "sealed")],
    "OrgRecord": [("name", "str"), ("active_admins", "u32"), ("joined_at", "u64")],
    "KeyRecord": [("org", "str"), ("role", E("Role")), ("registered_at", "u64"),
                  ("revoked_at", OPT("u64"))],
    "Consortium": [("orgs", VEC("str")), ("nodes", VEC(S("NodeRecord"))),
                   ("retired_node_ids", VEC("u64"))],
    "ProposalRecord": [("change", E("GovernanceChange")), ("approvals", VEC("str")),
                       ("expires_at_ms", "u64"), ("executed_at", OPT("u64"))],
    "PoolRecord": [("id", "str"), ("owner", "str"), ("spec", S("PoolSpec")),
                   ("status", E("PoolStatus")), ("created_at", "u64"), ("issued", "u64"),
                   ("allocated", "u64"), ("redeemed", "u64"), ("next_free", "u64"),
                   ("shared_code", OPT(S("IssuedCode")))],
    "TokenRecord": [("code_hash", "h32"), ("sealed", "sealed"), ("status", E("TokenStatus")),
                    ("owner", OPT("h32")), ("claim", OPT("h32"))],
    "CodeIndexEntry": [("pool", "str"), ("serial", OPT("u64"))],
    "RedemptionRecord": [("pool", "str"), ("token", OPT(S("TokenId"))), ("member", OPT("h32")),
                         ("redeemer_org", "str"), ("store", "str"), ("channel", "str"),
                         ("eligible_minor", "u64"), ("discount_minor", "u64"),
                         ("height", "u64"), ("time_ms", "u64"), ("rolled_back_at", OPT("u64")),
                         ("checkout", OPT("h32"))],
    "Rejection": [("reason", E("RejectReason")), ("message", "str")],
    "TxResult": [("tx_id", "h32"), ("outcome", E("TxOutcome"))],
    "HistoryLeaf": [("tx_id", "h32"), ("height", "u64"), ("index", "u32"),
                    ("outcome", E("TxOutcome"))],
    "InitialOrg": [("id", "str"), ("name", "str"), ("admin_keys", VEC("h32"))],
    "InitialState": [("chain_id", "str"), ("genesis_time_ms", "u64"),
                     ("params", S("ChainParams")), ("orgs", VEC(S("InitialOrg"))),
                     ("nodes", VEC(S("NodeRecord")))],
    # docs/encoding.md, "Ledger events" (JSON keys: `kind` shows as `type`).
    "LedgerEvent": [("id", "event_id"), ("type", E("EventType")), ("log_index", "u64"),
                    ("height", "u64"), ("time_ms", "u64"), ("tx_id", "h32"),
                    ("tx_index", "u32"), ("signer", "h32"), ("signer_org", OPT("str")),
                    ("memo", OPT("memo")), ("org", OPT("str")), ("pool", OPT("str")),
                    ("token", OPT(S("TokenId"))), ("member", OPT("h32")),
                    ("store", OPT("str")), ("channel", OPT("str")),
                    ("amounts", OPT(S("EventAmounts"))), ("pool_seq", OPT("u64")),
                    ("token_seq", OPT("u64")), ("detail", E("EventDetail"))],
    "EventAmounts": [("currency", "currency"), ("order_total_minor", OPT("u64")),
                     ("eligible_minor", OPT("u64")), ("discount_minor", OPT("u64"))],
    # Loyalty programs (docs/encoding.md, `ProgramSpec` and below).
    "ProgramRecord": [("org", "str"), ("spec", S("ProgramSpec")), ("version", "u32"),
                      ("updated_ms", "u64")],
    "ProgramSpec": [("name", "str"), ("currency", "currency"),
                    ("segments", VEC(S("SegmentRule"))),
                    ("earn", S("EarnRule")), ("tiers", S("TierPolicy")),
                    ("adjust_approval_above", "u64"), ("transfers", "bool"),
                    ("partner_orgs", VEC("str")), ("checkout", S("CheckoutRules")),
                    ("engagement", VEC(S("EngagementRule"))),
                    ("requires_consent", OPT(E("Purpose")))],
    "CheckoutRules": [("max_order_discount_minor", OPT("u64")), ("point_value_minor", "u64"),
                      ("not_combinable_pools", VEC("str"))],
    "EngagementRule": [("action", "str"), ("points", "u64"), ("referred_points", OPT("u64")),
                       ("limit", "u32"), ("window_days", "u32")],
    "SegmentRule": [("segment", E("Segment")), ("unit", E("Unit")), ("spend_priority", "u8"),
                    ("expiry", E("ExpiryPolicy"))],
    "EarnRule": [("points", "u64"), ("per_minor", "u64"), ("excluded_categories", VEC("str")),
                 ("promotions", VEC(S("Promotion"))), ("per_tx_cap", OPT("u64")),
                 ("period_cap", OPT(S("PeriodCap"))), ("max_balance", OPT("u64")),
                 ("pending_days", "u32"), ("release_on_event", "bool")],
    "Promotion": [("from_ms", "u64"), ("until_ms", "u64"), ("multiplier_permille", "u32")],
    "PeriodCap": [("days", "u32"), ("cap", "u64")],
    "TierPolicy": [("tiers", VEC(S("Tier"))), ("basis", E("TierBasis")),
                   ("window_days", "u32"), ("grace_days", "u32"),
                   ("keep_on_rule_change", "bool")],
    "Tier": [("name", "str"), ("min_points", "u64"), ("multiplier_permille", "u32")],
    # Loyalty balances (docs/encoding.md, `Account` and below).
    "Account": [("lots", "lots"), ("earned_by_day", MAP("u32", "u64")),
                ("last_activity_ms", "u64"), ("tier", S("TierState")),
                ("engagements", MAP("str", VEC("u64")))],
    "LotId": [("source", "h32"), ("index", "u16")],
    "Lot": [("id", S("LotId")), ("segment", E("Segment")), ("amount", "u64"),
            ("remaining", "u64"), ("earned_ms", "u64"), ("spendable_from_ms", "u64"),
            ("expires_ms", OPT("u64")), ("credited_by", "str")],
    "TierState": [("index", "u8"), ("below_since_ms", OPT("u64")),
                  ("held_min_points", "u64")],
    "Liability": [("by_segment", MAP(E("Segment"), "u64"))],
    "Settlement": [("credited", MAP(E("Segment"), "u64")),
                   ("spent", MAP(E("Segment"), "u64"))],
    "Movement": [("program", "str"), ("member", "h32"), ("by_org", "str"),
                 ("store", OPT("str")), ("kind", E("MovementKind")), ("voided", "bool")],
    "Draw": [("lot", S("Lot")), ("amount", "u64")],
    "AdjustmentRecord": [("program", "str"), ("member", "h32"), ("segment", E("Segment")),
                         ("direction", E("Direction")), ("amount", "u64"),
                         ("reason", E("AdjustReason")), ("note", "str"), ("maker", "h32"),
                         ("requested_ms", "u64"), ("status", E("AdjustmentStatus")),
                         ("checker", OPT("h32"))],
    "WithdrawalRecord": [("program", "str"), ("member", "h32"), ("segment", E("Segment")),
                         ("amount", "u64"), ("reference", "str"), ("requested_by", "h32"),
                         ("requested_ms", "u64"), ("allocation", VEC(S("Draw"))),
                         ("status", E("WithdrawalStatus"))],
    # Transactions (docs/encoding.md, "The envelope" and "Tx kinds"): the self-test
    # re-encodes each tx vector's body from its JSON.
    "TxBody": [("chain_id", "str"), ("nonce", "u64"), ("valid_until_ms", "u64"),
               ("kind", E("TxKind")), ("memo", OPT("memo"))],
    "Order": [("currency", "currency"), ("total_minor", "u64"),
              ("lines", VEC(S("OrderLine")))],
    "OrderLine": [("category", "str"), ("amount_minor", "u64")],
    "BalanceSpend": [("segments", VEC(E("Segment"))), ("amount", "u64")],
    # docs/proofs.md, "Block hash".
    "BlockHeader": [("chain_id", "str"), ("height", "u64"), ("time_ms", "u64"),
                    ("prev_hash", "h32"), ("tx_count", "u64"), ("tx_root", "h32"),
                    ("result_root", "h32"), ("state_root", "h32"), ("log_root", "h32"),
                    ("log_size", "u64"), ("proposer", "u64")],
}

REJECT_REASONS = [
    "not_found", "expired", "not_yet_valid", "pool_not_active", "already_redeemed",
    "quantity_exceeded", "member_limit_exceeded", "min_spend_not_met", "channel_not_allowed",
    "store_not_allowed", "category_excluded", "not_authorized", "invalid_transition",
    "duplicate_code", "stale", "bad_signature", "wrong_chain", "duplicate", "unknown_key",
    "key_revoked", "invalid_input", "already_exists", "token_revoked", "wrong_member",
    "currency_mismatch", "wrong_pool_kind", "claim_conflict", "already_rolled_back",
    "not_transferable", "already_approved", "overflow", "insufficient_balance",
    "per_tx_cap_exceeded", "already_earned", "already_voided", "already_spent", "too_many_lots",
    "self_approval", "stacking_conflict", "not_combinable", "discount_cap_reached", "overpaid",
    "part_of_checkout", "engagement_limit", "not_pending", "on_hold", "velocity_exceeded",
    "consent_required", "member_erased",
]

# Tx kinds in index order (docs/encoding.md, "Tx kinds"): in JSON each kind's struct fields
# beside the `type` tag.
TX_KINDS = [
    ("register_key", [("key", "h32"), ("role", E("Role"))]),
    ("revoke_key", [("key", "h32")]),
    ("propose_governance", [("change", E("GovernanceChange"))]),
    ("approve_governance", [("proposal", "h32")]),
    ("create_pool", [("pool", "str"), ("spec", S("PoolSpec"))]),
    ("update_pool", [("pool", "str"), ("spec", S("PoolSpec"))]),
    ("transition_pool", [("pool", "str"), ("action", E("PoolAction"))]),
    ("issue_codes", [("pool", "str"), ("codes", VEC(S("IssuedCode")))]),
    ("allocate", [("pool", "str"), ("member", "h32"), ("claim", "h32")]),
    ("redeem", [("target", E("RedeemTarget")), ("member", OPT("h32")), ("order", S("Order"))]),
    ("rollback", [("redemption", "h32")]),
    ("revoke_token", [("token", S("TokenId")), ("reason", E("RevokeReason")),
                      ("note", OPT("str"))]),
    ("transfer_token", [("token", S("TokenId")), ("from", "h32"), ("to", "h32")]),
    ("set_program", [("spec", S("ProgramSpec"))]),
    ("load", [("program", "str"), ("member", "h32"), ("segment", E("Segment")),
              ("amount", "u64"), ("reference", "str")]),
    ("earn", [("program", "str"), ("member", "h32"), ("order_ref", "str"),
              ("order", S("Order"))]),
    ("spend", [("program", "str"), ("member", "h32"), ("segments", VEC(E("Segment"))),
               ("amount", "u64"), ("order_ref", "str")]),
    ("void", [("tx", "h32")]),
    ("adjust", [("program", "str"), ("member", "h32"), ("segment", E("Segment")),
                ("direction", E("Direction")), ("amount", "u64"),
                ("reason", E("AdjustReason")), ("note", "str")]),
    ("decide_adjustment", [("adjustment", "h32"), ("approve", "bool")]),
    ("transfer_balance", [("program", "str"), ("from", "h32"), ("to", "h32"),
                          ("segment", E("Segment")), ("amount", "u64")]),
    ("expire_balances", [("program", "str"), ("members", VEC("h32"))]),
    ("checkout", [("program", "str"), ("member", "h32"), ("order_ref", "str"),
                  ("order", S("Order")), ("coupons", VEC(E("RedeemTarget"))),
                  ("pay", OPT(S("BalanceSpend"))), ("earn", "bool")]),
    ("request_withdrawal", [("program", "str"), ("member", "h32"), ("segment", E("Segment")),
                            ("amount", "u64"), ("reference", "str")]),
    ("decide_withdrawal", [("withdrawal", "h32"), ("decision", E("WithdrawalDecision"))]),
    # A referral names the referred member, with an empty reference.
    ("engage", [("program", "str"), ("member", "h32"), ("action", "str"),
                ("reference", "str"), ("referred", OPT("h32"))]),
    ("release_points", [("tx", "h32")]),
    # A hold's note (and a review's) says why: 1 to 280 bytes, not blank.
    ("place_hold", [("target", E("HoldTarget")), ("reason", E("HoldReason")), ("note", "str")]),
    ("review_hold", [("target", E("HoldTarget")), ("decision", E("HoldDecision")),
                     ("note", "str")]),
    # Consent carries the member id and the hash of the text shown, nothing personal.
    ("record_consent", [("member", "h32"), ("purpose", E("Purpose")),
                        ("decision", E("ConsentDecision")), ("text_hash", "h32")]),
    ("record_erasure", [("member", "h32")]),
]

# Enums: (JSON form, tag key, variants in index order). "string": unit variants by name;
# "tagged": named fields beside the tag; "keyed": {"name": field} or {"name": [fields]};
# "adjacent": {tag: "name", content: field} ({content: [fields]} for several), the tag key
# a pair (tag, content).
ENUMS = {
    "StateKey": ("keyed", None, [
        ("params", []), ("org", ["str"]), ("key", ["h32"]), ("consortium", []),
        ("proposal", ["h32"]), ("pool", ["str"]), ("token", [S("TokenId")]), ("code", ["h32"]),
        ("claim", ["str", "h32"]), ("member_allocations", ["str", "h32"]),
        ("member_redemptions", ["str", "h32"]), ("redemption", ["h32"]), ("seen_tx", ["h32"]),
        ("remembered", ["u64"]), ("prune_cursor", []), ("program", ["str"]),
        ("account", ["str", "h32"]), ("liability", ["str"]), ("settlement", ["str", "str"]),
        ("movement", ["h32"]), ("adjustment", ["h32"]), ("earned_order", ["str", "str"]),
        ("withdrawal", ["h32"]), ("engagement", ["str", "str", "str"]),
        ("hold", ["str", E("HoldTarget")]), ("velocity", ["str", E("VelocityKey")]),
        ("member", ["str", "h32"]), ("consent", ["str", "h32", E("Purpose")]),
        ("erasure", ["str", "h32"])]),
    "StateValue": ("keyed", None, [
        ("params", [S("ChainParams")]), ("org", [S("OrgRecord")]), ("key", [S("KeyRecord")]),
        ("consortium", [S("Consortium")]), ("proposal", [S("ProposalRecord")]),
        ("pool", [S("PoolRecord")]), ("token", [S("TokenRecord")]),
        ("code", [S("CodeIndexEntry")]), ("claim", ["u64"]), ("count", ["u32"]),
        ("redemption", [S("RedemptionRecord")]), ("seen_tx", ["u64"]),
        ("remembered", [VEC(TUPLE("h32", "u64"))]), ("prune_cursor", ["u64", "u32"]),
        ("program", [S("ProgramRecord")]), ("account", [S("Account")]),
        ("liability", [S("Liability")]), ("settlement", [S("Settlement")]),
        ("movement", [S("Movement")]), ("adjustment", [S("AdjustmentRecord")]),
        ("earned_order", ["h32"]), ("withdrawal", [S("WithdrawalRecord")]),
        ("engagement", ["h32"]), ("hold", [S("HoldRecord")]), ("velocity", [VEC("u64")]),
        ("member", [S("MemberRecord")]), ("consent", [S("ConsentRecord")]),
        ("erasure", [S("ErasureRecord")])]),
    "Role": ("tagged", "role", [
        ("org_admin", []), ("issuer", []), ("terminal", [("store", "str"), ("channel", "str")]),
        ("auditor", []), ("partner", []), ("risk", [])]),
    "GovernanceChange": ("tagged", "change", [
        ("add_org", [("org", "str"), ("name", "str"), ("admin_key", "h32")]),
        ("add_node", [("node", S("NodeRecord"))]), ("remove_node", [("node_id", "u64")]),
        ("update_params", [("params", S("ChainParams"))]),
        ("add_auditor", [("org", "str"), ("key", "h32")])]),
    "Discount": ("tagged", "type", [("percent", [("bps", "u32")]),
                                    ("fixed", [("amount_minor", "u64")])]),
    "TokenStatus": ("tagged", "status", [
        ("available", []), ("allocated", []), ("redeemed", [("redemption", "h32")]),
        ("revoked", [])]),
    "TxOutcome": ("tagged", "status", [("applied", [("events", VEC(E("Event")))]),
                                       ("rejected", [("rejection", S("Rejection"))])]),
    "Event": ("tagged", "event", [
        ("key_registered", [("key", "h32"), ("org", "str"), ("role", E("Role"))]),
        ("key_revoked", [("key", "h32")]),
        ("proposal_opened", [("proposal", "h32"), ("approvals", "u32"), ("needed", "u32")]),
        ("proposal_approved", [("proposal", "h32"), ("approvals", "u32"), ("needed", "u32")]),
        ("governance_applied", [("proposal", "h32"), ("change", E("GovernanceChange"))]),
        ("pool_created", [("pool", "str")]), ("pool_updated", [("pool", "str")]),
        ("pool_status_changed", [("pool", "str"), ("from", E("PoolStatus")),
                                 ("to", E("PoolStatus"))]),
        ("codes_issued", [("pool", "str"), ("first_serial", "u64"), ("count", "u64")]),
        ("allocated", [("token", S("TokenId")), ("member", "h32"), ("repeat", "bool")]),
        ("redeemed", [("redemption", "h32"), ("pool", "str"), ("token", OPT(S("TokenId"))),
                      ("member", OPT("h32")), ("eligible_minor", "u64"),
                      ("discount_minor", "u64"), ("currency", "currency")]),
        ("rolled_back", [("redemption", "h32"), ("pool", "str"), ("token", OPT(S("TokenId")))]),
        ("token_revoked", [("token", S("TokenId"))]),
        ("token_transferred", [("token", S("TokenId")), ("from", "h32"), ("to", "h32")]),
        ("program_set", [("org", "str"), ("version", "u32")]),
        ("balance_changed", [("program", "str"), ("member", "h32"), ("op", E("BalanceOp")),
                             ("segment", E("Segment")), ("credit", "bool"), ("amount", "u64")]),
        ("adjustment_requested", [("adjustment", "h32"), ("program", "str"), ("member", "h32")]),
        ("adjustment_rejected", [("adjustment", "h32"), ("program", "str"), ("member", "h32")]),
        ("checked_out", [("checkout", "h32"), ("program", "str"), ("member", "h32"),
                         ("currency", "currency"), ("total_minor", "u64"),
                         ("discount_minor", "u64"), ("balance_minor", "u64"),
                         ("net_minor", "u64"), ("points", "u64")]),
        ("checkout_voided", [("checkout", "h32"), ("program", "str"), ("member", "h32")]),
        ("tier_changed", [("program", "str"), ("member", "h32"), ("from", "str"),
                          ("to", "str")]),
        ("withdrawal_changed", [("withdrawal", "h32"), ("program", "str"), ("member", "h32"),
                                ("amount", "u64"), ("status", "str")]),
        ("points_released", [("source", "h32"), ("program", "str"), ("member", "h32"),
                             ("points", "u64")]),
        ("hold_placed", [("org", "str"), ("target", E("HoldTarget")),
                         ("reason", E("HoldReason")), ("pending_review", "bool")]),
        ("hold_confirmed", [("org", "str"), ("target", E("HoldTarget"))]),
        ("hold_lifted", [("org", "str"), ("target", E("HoldTarget")),
                         ("reason", E("HoldReason")), ("was_pending", "bool")]),
        ("consent_recorded", [("org", "str"), ("member", "h32"), ("purpose", E("Purpose")),
                              ("decision", E("ConsentDecision")), ("text_hash", "h32")]),
        ("member_erased", [("org", "str"), ("member", "h32")])]),
    "EventType": ("string", None, [
        "pool.created", "pool.updated", "pool.transitioned", "codes.issued", "coupon.allocated",
        "coupon.redeemed", "coupon.rolled_back", "coupon.revoked", "coupon.transferred",
        "key.registered", "key.revoked", "governance.proposed", "governance.approved",
        "governance.applied", "tx.rejected", "program.set", "balance.earned", "balance.loaded",
        "balance.spent", "balance.refunded", "balance.voided", "balance.adjusted",
        "balance.transferred", "balance.expired", "adjustment.requested",
        "adjustment.rejected", "tier.changed", "checkout.completed", "checkout.voided",
        "balance.withdrawn", "withdrawal.requested", "withdrawal.approved", "withdrawal.paid",
        "withdrawal.rejected", "balance.released", "hold.placed", "hold.confirmed",
        "hold.lifted", "consent.granted", "consent.withdrawn", "member.erased"]),
    "EventDetail": ("tagged", "outcome", [
        ("applied", [("event", E("Event"))]),
        ("rejected", [("tx_kind", "str"), ("rejection", S("Rejection"))])]),
    "PoolKind": ("string", None, ["unique_codes", "shared_code"]),
    "Segment": ("string", None, ["cash_deposit", "gift", "mileage", "refund_credit"]),
    "Unit": ("tagged", "unit", [("money", [("currency", "currency")]), ("points", [])]),
    "ExpiryPolicy": ("tagged", "policy", [
        ("never", []), ("months_after_earning", [("months", "u16")]),
        ("fixed_dates", [("dates_ms", VEC("u64"))]), ("inactivity", [("days", "u32")])]),
    "TierBasis": ("string", None, ["points_collected", "balance"]),
    "Direction": ("string", None, ["credit", "debit"]),
    "AdjustReason": ("string", None, ["goodwill", "correction", "migration", "fraud", "other"]),
    "AdjustmentStatus": ("string", None, ["pending", "applied", "rejected"]),
    "BalanceOp": ("string", None, [
        "earned", "loaded", "spent", "refunded", "voided", "adjusted", "transferred_out",
        "transferred_in", "expired", "withdrawn"]),
    # An `Allocation` is a newtype of Vec<Draw>: the vector.
    "MovementKind": ("tagged", "movement", [
        ("earn", [("lot", S("LotId")), ("points", "u64"), ("order_ref", "str")]),
        ("load", [("lot", S("LotId")), ("segment", E("Segment")), ("amount", "u64")]),
        ("spend", [("allocation", VEC(S("Draw")))]),
        # `earned`: an optional pair, in JSON [lot id, points].
        ("checkout", [("redemptions", VEC("h32")), ("allocation", VEC(S("Draw"))),
                      ("earned", OPT(TUPLE(S("LotId"), "u64"))), ("order_ref", "str")]),
        ("transfer", [("to", "h32"), ("allocation", VEC(S("Draw"))),
                      ("lots", VEC(S("LotId")))]),
        # `referred`: an optional triple, in JSON [member, lot id, points].
        ("engagement", [("action", "str"), ("reference", "str"), ("lot", S("LotId")),
                        ("points", "u64"), ("referred", OPT(TUPLE("h32", S("LotId"), "u64")))])]),
    "WithdrawalStatus": ("tagged", "status", [
        ("requested", []), ("approved", [("by", "h32")]),
        ("paid", [("approved_by", "h32"), ("payment", "str"), ("paid_ms", "u64")]),
        ("rejected", [("by", "h32")])]),
    "WithdrawalDecision": ("tagged", "decision", [
        ("approve", []), ("paid", [("payment", "str")]), ("reject", [])]),
    "TxKind": ("tagged", "type", TX_KINDS),
    "PoolAction": ("string", None, ["activate", "pause", "resume", "archive"]),
    "RevokeReason": ("string", None, [
        "fraud", "customer_request", "issued_in_error", "expired_campaign", "other"]),
    "RedeemTarget": ("keyed", None, [("token", [S("TokenId")]), ("code", ["h32"])]),
    "PoolStatus": ("string", None, ["draft", "active", "paused", "archived"]),
    "RejectReason": ("string", None, REJECT_REASONS),
    "HoldTarget": ("adjacent", ("kind", "id"), [
        ("member", ["h32"]), ("terminal", ["h32"]), ("code", ["h32"])]),
    "HoldReason": ("string", None, [
        "velocity", "enumeration", "bot", "leakage", "impossible_travel", "collusion", "canary",
        "customer_request", "other"]),
    "HoldStatus": ("string", None, ["pending_review", "confirmed"]),
    "HoldDecision": ("string", None, ["confirm", "lift"]),
    "Purpose": ("keyed", None, [("marketing", []), ("profiling", []),
                                ("partner_sharing", ["str"])]),
    "ConsentDecision": ("string", None, ["granted", "withdrawn"]),
    "VelocityScope": ("string", None, ["member", "terminal", "store"]),
    # A store's counter is the redeeming terminal's org, then its store.
    "VelocityKey": ("adjacent", ("kind", "id"), [
        ("member", ["h32"]), ("terminal", ["h32"]), ("store", ["str", "str"])]),
}


def enc(t, v, path="value"):
    """The canonical bytes of the JSON value `v` of type `t`; Failed if `v` does not fit."""
    try:
        return _enc(t, v, path)
    except Failed:
        raise
    except (TypeError, ValueError, KeyError, AttributeError, struct.error) as e:
        raise Failed(f"{path}: not a valid {t}: {e}") from e


def _enc(t, v, path):
    if isinstance(t, tuple):
        kind, inner = t
        if kind == "opt":
            return b"\x00" if v is None else b"\x01" + enc(inner, v, path)
        if kind == "vec":
            require(isinstance(v, list), f"{path}: expected an array")
            return u64(len(v)) + b"".join(enc(inner, x, f"{path}[{i}]") for i, x in enumerate(v))
        if kind == "tuple":
            # A tuple is its fields in order, no length; JSON gives it as an array.
            require(isinstance(v, list) and len(v) == len(inner),
                    f"{path}: expected an array of {len(inner)}")
            return b"".join(enc(f, x, f"{path}.{i}") for i, (f, x) in enumerate(zip(inner, v)))
        if kind == "map":
            return enc_map(inner, v, path)
        if kind == "struct":
            return enc_struct(STRUCTS[inner], v, path)
        return enc_enum(inner, v, path)
    if t in ("u8", "u16", "u32", "u64"):
        require(type(v) is int, f"{path}: expected an integer")
        return {"u8": lambda x: struct.pack("<B", x), "u16": lambda x: struct.pack("<H", x),
                "u32": u32, "u64": u64}[t](v)
    if t == "bool":
        require(type(v) is bool, f"{path}: expected true or false")
        return b"\x01" if v else b"\x00"
    if t == "str":
        require(isinstance(v, str), f"{path}: expected a string")
        return string(v)
    if t == "h32":
        require(isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v),
                f"{path}: expected 64 lowercase hex digits")
        return bytes.fromhex(v)
    if t == "sealed":
        require(isinstance(v, str) and re.fullmatch(r"(?:[0-9a-f]{2})*", v),
                f"{path}: expected lowercase hex")
        return u64(len(v) // 2) + bytes.fromhex(v)
    if t == "currency":
        require(isinstance(v, str) and re.fullmatch(r"[A-Z]{3}", v),
                f"{path}: expected three upper-case letters")
        return v.encode("ascii")
    if t == "memo":
        # A string of 1 to 128 bytes, no control character, not only whitespace.
        require(isinstance(v, str) and 1 <= len(v.encode("utf-8")) <= 128 and v.strip()
                and not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in v),
                f"{path}: not a valid memo")
        return string(v)
    if t == "lots":
        return enc_lots(v, path)
    if t == "event_id":
        m = re.fullmatch(r"evt_(0|[1-9][0-9]*)_([0-9]+)", v) if isinstance(v, str) else None
        require(m is not None, f"{path}: expected evt_<log index>_<index>")
        return u64(int(m.group(1))) + struct.pack("<H", int(m.group(2)))
    raise Failed(f"{path}: unknown type {t}")


def enc_map(types, v, path):
    """A map: the entry count, then each key and value by ascending key. JSON keys are
    strings: an integer's decimal digits (ordered as numbers), a string enum's name
    (ordered by variant index), or a string itself (ordered by its UTF-8 bytes)."""
    kt, vt = types
    require(isinstance(v, dict), f"{path}: expected an object")
    entries = []
    for name, x in v.items():
        if kt in ("u8", "u16", "u32", "u64"):
            require(re.fullmatch(r"0|[1-9][0-9]*", name), f"{path}: key {name!r} is not a number")
            key, order = int(name), int(name)
        elif kt == "str":
            key, order = name, name.encode("utf-8")
        else:
            form, _, variants = ENUMS[kt[1]]
            require(form == "string" and name in variants, f"{path}: key {name!r} is not a {kt[1]}")
            key, order = name, variants.index(name)
        entries.append((order, enc(kt, key, f"{path}.{name}"), enc(vt, x, f"{path}.{name}")))
    entries.sort(key=lambda e: e[0])
    return u64(len(entries)) + b"".join(k + x for _, k, x in entries)


def enc_lots(v, path):
    """An account's lots: in JSON the list of its lots, in the bytes the map from each lot's
    id to the lot, by ascending id (tx id bytes, then index); an id listed twice is refused."""
    require(isinstance(v, list), f"{path}: expected an array of lots")
    entries = {}
    for i, lot in enumerate(v):
        where = f"{path}[{i}]"
        body = enc(S("Lot"), lot, where)
        lot_id = lot["id"]
        order = (bytes.fromhex(lot_id["source"]), lot_id["index"])
        require(order not in entries, f"{where}: lot id listed twice")
        entries[order] = enc(S("LotId"), lot_id, f"{where}.id") + body
    return u64(len(entries)) + b"".join(entries[k] for k in sorted(entries))


def enc_struct(fields, v, path):
    """Fields in table order; every key of the JSON object must be a field, and the other
    way round (a key the layout does not list would not be covered by the hash)."""
    require(isinstance(v, dict), f"{path}: expected an object")
    names = [name for name, _ in fields]
    require(set(v) == set(names),
            f"{path}: keys {sorted(v)} are not the documented fields {names}")
    return b"".join(enc(t, v[name], f"{path}.{name}") for name, t in fields)


def enc_enum(name, v, path):
    form, tag, variants = ENUMS[name]
    if form == "string":
        require(v in variants, f"{path}: {v!r} is not a {name}")
        return u32(variants.index(v))
    names = [n for n, _ in variants]
    if form == "tagged":
        require(isinstance(v, dict) and v.get(tag) in names, f"{path}: not a tagged {name}")
        index = names.index(v[tag])
        rest = {k: x for k, x in v.items() if k != tag}
        return u32(index) + enc_struct(variants[index][1], rest, f"{path}.{v[tag]}")
    if form == "adjacent":
        # {tag: "name", content: field}, or {tag: "name", content: [fields]} for a variant
        # with several: exactly these two keys (the tag alone for a variant without fields).
        tag, content = tag
        require(isinstance(v, dict) and v.get(tag) in names, f"{path}: not a {name}")
        index = names.index(v[tag])
        types = variants[index][1]
        want = {tag, content} if types else {tag}
        require(set(v) == want, f"{path}: keys {sorted(v)} are not {sorted(want)}")
        where = f"{path}.{v[tag]}"
        if len(types) <= 1:
            return u32(index) + b"".join(enc(t, v[content], where) for t in types)
        values = v[content]
        require(isinstance(values, list) and len(values) == len(types),
                f"{where}: expected an array of {len(types)} fields")
        return u32(index) + b"".join(enc(t, x, f"{where}.{i}")
                                     for i, (t, x) in enumerate(zip(types, values)))
    # keyed: "name" (no fields), {"name": field} (one field), {"name": [fields]} (several)
    if isinstance(v, str):
        require(v in names and not variants[names.index(v)][1], f"{path}: {v!r} is not a {name}")
        return u32(names.index(v))
    require(isinstance(v, dict) and len(v) == 1, f"{path}: not a {name}")
    (key, inner), = v.items()
    require(key in names and variants[names.index(key)][1], f"{path}: {key!r} is not a {name}")
    index = names.index(key)
    types = variants[index][1]
    values = [inner] if len(types) == 1 else inner
    require(isinstance(values, list) and len(values) == len(types),
            f"{path}.{key}: expected {len(types)} fields")
    return u32(index) + b"".join(enc(t, x, f"{path}.{key}.{i}")
                                 for i, (t, x) in enumerate(zip(types, values)))


CHECKOUT_REDEMPTION_TAG = b"couponcactus/checkout-redemption/v1"
MAX_CHECKOUT_COUPONS = 8


def checkout_redemption_id(checkout_hex, index):
    """The id of a checkout's `index`-th redemption (docs/encoding.md, "Redemption ids"):
    blake3(tag ‖ the checkout's tx id ‖ index as one byte), as hex."""
    return H(CHECKOUT_REDEMPTION_TAG + bytes.fromhex(checkout_hex) + bytes([index])).hex()


def checkout_place(redemption_hex, checkout_hex):
    """The coupon's place in the checkout whose redemption id this is, or None."""
    for i in range(MAX_CHECKOUT_COUPONS):
        if checkout_redemption_id(checkout_hex, i) == redemption_hex:
            return i
    return None


def key_bytes(key_json):
    return enc(E("StateKey"), key_json, "key")


def value_bytes(value_json):
    return enc(E("StateValue"), value_json, "value")


# ---------------------------------------------------------------------------------------
# Genesis (docs/encoding.md, "Genesis hash").
# ---------------------------------------------------------------------------------------

GENESIS_CONTEXT = "couponcactus 2026 genesis v1"


def genesis_state(toml_text):
    """The InitialState (as JSON) a genesis.toml describes; unknown keys are ignored."""
    def pick(table, fields):
        return {name: table[name] for name, _ in fields}

    try:
        g = tomllib.loads(toml_text)
        return {
            "chain_id": g["chain_id"], "genesis_time_ms": g["genesis_time_ms"],
            "params": pick(g["params"], STRUCTS["ChainParams"]),
            "orgs": [dict(pick(o, STRUCTS["InitialOrg"]),
                          admin_keys=[k.lower() for k in o["admin_keys"]])
                     for o in g.get("orgs", [])],
            "nodes": [dict(pick(n, STRUCTS["NodeRecord"]), node_key=n["node_key"].lower())
                      for n in g.get("nodes", [])],
        }
    except (tomllib.TOMLDecodeError, KeyError, TypeError, AttributeError) as e:
        raise Failed(f"the genesis file is not valid: {e!r}") from e


def genesis_hash(state):
    return blake3_derive_key(GENESIS_CONTEXT, enc(S("InitialState"), state, "genesis"))


def voters_of(nodes):
    """{node_id: node_key hex} of the voting nodes."""
    return {n["node_id"]: n["node_key"] for n in nodes if n["voter"]}


# ---------------------------------------------------------------------------------------
# Proofs (docs/proofs.md).
# ---------------------------------------------------------------------------------------

BLOCK_TAG = b"couponcactus/block/v1"
CHECKPOINT_TAG = b"couponcactus/checkpoint/v1"
LEAF_DOMAIN = b"JMT::LeafNode"
INTERNAL_DOMAIN = b"JMT::IntrnalNode"
PLACEHOLDER = b"SPARSE_MERKLE_PLACEHOLDER_HASH__"


def block_hash(header):
    return H(BLOCK_TAG + enc(S("BlockHeader"), header, "header"))


def checkpoint_message(chain_id, height, hash32):
    return CHECKPOINT_TAG + string(chain_id) + u64(height) + hash32


def bit(h, i):
    return (h[i // 8] >> (7 - i % 8)) & 1


def hex32(v, what):
    require(isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v), f"{what}: not a hash")
    return bytes.fromhex(v)


def verify_state_proof(root, kb, vb, proof):
    """docs/proofs.md, "Verification": `vb` is the value's bytes, or None for absent."""
    require(isinstance(proof, dict) and set(proof) == {"leaf", "siblings"},
            "the state proof is not {leaf, siblings}")
    siblings = [hex32(s, "a sibling") for s in proof["siblings"]]
    n = len(siblings)
    require(n <= 256, "the state proof has more than 256 siblings")
    kh, leaf = H(kb), proof["leaf"]
    if leaf is not None:
        require(isinstance(leaf, dict) and set(leaf) == {"key_hash", "value_hash"},
                "the proof's leaf is not {key_hash, value_hash}")
        leaf = (hex32(leaf["key_hash"], "leaf key hash"),
                hex32(leaf["value_hash"], "leaf value hash"))
    if vb is not None:
        require(leaf is not None, "the proof shows no leaf for a present value")
        require(leaf[0] == kh, "the proof's leaf is another key's")
        require(leaf[1] == H(vb), "the value's hash is not the proven value hash")
    elif leaf is not None:
        require(leaf[0] != kh, "the key is present: its own leaf ends the proof")
        require(all(bit(leaf[0], i) == bit(kh, i) for i in range(n)),
                "the proof's leaf is off the key's path")
    acc = H(LEAF_DOMAIN + leaf[0] + leaf[1]) if leaf is not None else PLACEHOLDER
    for i, sibling in enumerate(siblings):
        d = n - 1 - i
        left, right = (sibling, acc) if bit(kh, d) else (acc, sibling)
        acc = H(INTERNAL_DOMAIN + left + right)
    require(acc == root, "the state proof does not lead to the state root")


def verify_certificate(cert, chain_id, voters):
    """docs/proofs.md, "Checkpoint certificates"; returns the signers' node ids."""
    require(nacl is not None, NACL_MISSING)
    require(cert["chain_id"] == chain_id, f"the certificate is for chain {cert['chain_id']}")
    message = checkpoint_message(chain_id, cert["height"], hex32(cert["block_hash"], "block hash"))
    signers = []
    for s in cert["signatures"]:
        node = s["node_id"]
        require(node in voters, f"certificate: node {node} is not a voter")
        require(not signers or node > signers[-1],
                f"certificate: node {node} repeated or out of ascending order")
        try:
            key = nacl.signing.VerifyKey(bytes.fromhex(voters[node]))
            key.verify(message, bytes.fromhex(s["signature"]))
        except (nacl.exceptions.BadSignatureError, ValueError, TypeError) as e:
            raise Failed(f"certificate: the signature of node {node} does not verify") from e
        signers.append(node)
    need = len(voters) // 2 + 1
    require(len(signers) >= need, f"certificate: {len(signers)} voter signatures, quorum is {need}")
    return signers


# ---------------------------------------------------------------------------------------
# What a route reads (docs/api.md): the key it names, and the JSON it shows.
# ---------------------------------------------------------------------------------------

ROUTES = [
    (r"/v1/tokens/([^/]+)/(\d+)", "token"),
    (r"/v1/pools/([^/]+)", "pool"),
    (r"/v1/codes/([0-9a-f]{64})/token", "code"),
    (r"/v1/keys/([0-9a-f]{64})", "key"),
    (r"/v1/tokens/([^/]+)/(\d+)/redemption", "token_redemption"),
    (r"/v1/codes/([0-9a-f]{64})/redemption", "code_redemption"),
]


def parse_route(path):
    """(kind, the state key it names as JSON) of a read path without its query."""
    for pattern, kind in ROUTES:
        m = re.fullmatch(pattern, path)
        if m:
            a = m.group(1)
            if kind in ("token", "token_redemption"):
                return kind, {"token": {"pool": a, "serial": int(m.group(2))}}
            if kind == "pool":
                return kind, {"pool": a}
            if kind in ("code", "code_redemption"):
                return kind, {"code": a}
            return kind, {"key": a}
    raise Failed(f"{path} is not a keyed read this verifier knows: "
                 + ", ".join(p for p, _ in ROUTES))


def describe_key(key):
    (name, v), = key.items()
    if name == "token":
        return f"token {v['pool']}/{v['serial']}"
    return f"{name} {v}"


def check_proven(at, proven, key, shown, what):
    """One ProvenValue (`proof` of a read) at `at`: the key the path names, the JSON shown
    (or None for absent), and the proof against `at.state_root`."""
    require(isinstance(proven, dict) and set(proven) == {"version", "key", "value", "proof"},
            f"{what}: the answer carries no proof {{version, key, value, proof}}")
    require(proven["version"] == at["height"],
            f"{what}: proven at version {proven['version']}, read at height {at['height']}")
    kb = key_bytes(key)
    require(key_bytes(proven["key"]) == kb,
            f"{what}: the proof is of {proven['key']}, not of {key}")
    vb = None
    if shown is not None:
        vb = value_bytes(shown)
        require(proven["value"] is not None and value_bytes(proven["value"]) == vb,
                f"{what}: the value shown is not the value proven")
    else:
        require(proven["value"] is None, f"{what}: an absent read proves a value")
    verify_state_proof(hex32(at["state_root"], "state root"), kb, vb, proven["proof"])


def check_at(at, chain_id):
    """`at`: a block header at the height read, whose state root it is."""
    require(isinstance(at, dict) and isinstance(at.get("header"), dict),
            "the answer has no `at.header` (a read at genesis cannot be certified)")
    header = at["header"]
    require(header["chain_id"] == chain_id, f"the header is of chain {header['chain_id']}")
    require(header["height"] == at["height"], "`at.height` is not the header's height")
    require(header["state_root"] == at["state_root"], "`at.state_root` is not the header's")
    return header


def check_answer(kind, key, answer, chain_id):
    """The answer's proofs and the JSON they tie to; returns (header, what was proven)."""
    status, body = answer["http_status"], answer["body"]
    require(isinstance(body, dict), f"the node answered {status} without a JSON body")
    if status == 404:
        require(body.get("error", {}).get("code") == "not_found", "a 404 that is not not_found")
        require("proof" in body, "404 without a proof of absence: \"not found\" cannot be "
                f"checked ({body['error'].get('message', '')})")
        header = check_at(body.get("at"), chain_id)
        check_proven(body["at"], body["proof"], key, None, describe_key(key))
        return header, f"{describe_key(key)} is ABSENT"
    require(status == 200, f"the node answered {status}: {json.dumps(body)[:300]}")
    header = check_at(body.get("at"), chain_id)
    return header, SHOWN[kind](body, key)


def shown_token(body, key):
    require(body.get("token_id") == key["token"], "the answer is about another token")
    check_proven(body["at"], body.get("proof"), key, {"token": body["token"]}, describe_key(key))
    status = body["token"]["status"]["status"]
    return f"{describe_key(key)} = {status} (the token JSON shown is the proven value)"


def shown_pool(body, key):
    check_proven(body["at"], body.get("proof"), key, {"pool": body["pool"]}, describe_key(key))
    require(body["pool"]["id"] == key["pool"], "the answer is about another pool")
    return (f"pool {key['pool']} = {body['pool']['status']} "
            "(the pool JSON shown is the proven value)")


def shown_code(body, key):
    require(body.get("code_hash") == key["code"], "the answer is about another code")
    entry = body["entry"]
    check_proven(body["at"], body.get("code_proof"), key, {"code": entry}, describe_key(key))
    if entry["serial"] is None:
        require(body.get("token") is None, "a shared code's answer shows a token")
        return f"code {key['code'][:16]}… = the shared code of pool {entry['pool']}"
    token = body.get("token")
    require(isinstance(token, dict), "a unique code's answer shows no token")
    require(token.get("at") == body["at"], "the token is read at another height")
    token_key = {"token": {"pool": entry["pool"], "serial": entry["serial"]}}
    shown_token(token, token_key)
    return (f"code {key['code'][:16]}… = token {entry['pool']}/{entry['serial']}, "
            f"{token['token']['status']['status']} (both JSON values shown are proven)")


def shown_key(body, key):
    require(body.get("key") == key["key"], "the answer is about another key")
    record = body["record"]
    check_proven(body["at"], body.get("proof"), key, {"key": record}, describe_key(key))
    revoked = "" if record["revoked_at"] is None else f", revoked at {record['revoked_at']}"
    return (f"key {key['key'][:16]}… = {record['role']['role']} of {record['org']}"
            f"{revoked} (the record JSON shown is the proven value)")


def shown_redemption(body, key):
    """A token's redemption in force: the token record proven (its status is the one
    shown; by code, its code hash is the code asked for), and the redemption record shown
    is the one proven under the id the token's status names."""
    token_id = body.get("token_id")
    token_key = {"token": token_id}
    if "token" in key:
        require(token_id == key["token"], "the answer is about another token")
    proven = body.get("token_proof")
    require(isinstance(proven, dict) and isinstance(proven.get("value"), dict),
            f"the answer about {describe_key(key)}'s redemption carries no token proof")
    record = proven["value"].get("token")
    require(isinstance(record, dict), "the token proof proves no token")
    check_proven(body["at"], proven, token_key, {"token": record}, describe_key(token_key))
    require(record["status"] == body["status"], "the status shown is not the proven one")
    if "code" in key:
        require(record["code_hash"] == key["code"],
                "the proven token is not the token of the code asked for")
    shown = body.get("redemption")
    if record["status"]["status"] != "redeemed":
        require(shown is None and body.get("redemption_proof") is None,
                "a redemption is shown for a token that is not redeemed")
        return f"{describe_key(token_key)} = {record['status']['status']}, no redemption in force"
    rid = record["status"]["redemption"]
    require(isinstance(shown, dict) and shown.get("id") == rid,
            "the redemption shown is not the one the token's status names")
    check_proven(body["at"], body.get("redemption_proof"), {"redemption": rid},
                 {"redemption": shown["record"]}, f"redemption {rid[:16]}…")
    checkout = shown["record"]["checkout"]
    part = ""
    if checkout is not None:
        place = checkout_place(rid, checkout)
        require(place is not None, f"redemption {rid[:16]}… names checkout {checkout[:16]}…, "
                "but its id is not derived from it")
        part = f", coupon {place} of checkout {checkout[:16]}…"
    return (f"{describe_key(token_key)} = redeemed by {rid[:16]}…{part} at "
            f"{shown['record']['store']} (the token and redemption JSON shown are proven)")


SHOWN = {"token": shown_token, "pool": shown_pool, "code": shown_code, "key": shown_key,
         "token_redemption": shown_redemption, "code_redemption": shown_redemption}


# ---------------------------------------------------------------------------------------
# The whole check of a bundle (what `read` gathers, `--save` writes and `check` reads).
# ---------------------------------------------------------------------------------------

def check_voters(bundle, chain_id, anchor, certified):
    """The consortium at the certified height, proven under the certified header, must
    have the genesis voters (docs/proofs.md, "The voter set of a height")."""
    view = bundle["consortium"]
    require(view["height"] == certified["height"], "the consortium is read at another height")
    require(view.get("header") == certified, "the consortium is read under another header")
    at = {"height": view["height"], "state_root": view["state_root"], "header": view["header"]}
    check_at(at, chain_id)
    consortium = view["consortium"]
    check_proven(at, view["proof"], "consortium", {"consortium": consortium}, "consortium")
    voters = voters_of(consortium["nodes"])
    require(voters == anchor,
            f"the voters at height {view['height']} ({voters}) are not the genesis voters "
            f"({anchor}): governance changed them; a single proof cannot be anchored, "
            "audit the chain from genesis (cactus audit verify)")
    return voters


def check_links(header, links, certified_hash):
    """`header` is the certified block, or chains to it by prev_hash through `links` (the
    headers above it, up to and including the certified one)."""
    lower = header
    for upper in links:
        require(upper["height"] == lower["height"] + 1,
                f"the headers skip from height {lower['height']} to {upper['height']}")
        require(upper["prev_hash"] == block_hash(lower).hex(),
                f"the header of height {upper['height']} does not link to the one below")
        lower = upper
    require(block_hash(lower).hex() == certified_hash,
            f"the header of height {header['height']} is not the certified block's, nor "
            "linked to it")


def check_bundle(bundle, genesis_toml):
    """Everything, or Failed; returns the VERIFIED line."""
    state = genesis_state(genesis_toml)
    chain_id, anchor = state["chain_id"], voters_of(state["nodes"])
    ghash = genesis_hash(state).hex()
    status = bundle["status"]
    require(status["chain_id"] == chain_id,
            f"the node serves chain {status['chain_id']}, the genesis file is of {chain_id}")
    require(status["genesis_hash"] == ghash,
            f"the node's genesis hash is {status['genesis_hash']}, the genesis file's is {ghash}")
    certificate, certified = bundle["checkpoint"]["certificate"], bundle["checkpoint"]["header"]
    require(certified["chain_id"] == chain_id and certified["height"] == certificate["height"],
            "the checkpoint's header is not the certified block's")
    require(block_hash(certified).hex() == certificate["block_hash"],
            "the checkpoint's header does not hash to the certified block hash")
    voters = check_voters(bundle, chain_id, anchor, certified)
    signers = verify_certificate(certificate, chain_id, voters)
    kind, key = parse_route(bundle["route"])
    header, proven = check_answer(kind, key, bundle["answer"], chain_id)
    require(header["height"] == bundle["height"],
            f"asked at height {bundle['height']}, answered at height {header['height']}")
    require(header["height"] <= certified["height"], "the answer is above the certified block")
    above = [certified] if header["height"] < certified["height"] else []
    links = bundle.get("links", []) + above
    check_links(header, links, certificate["block_hash"])
    when = datetime.datetime.fromtimestamp(header["time_ms"] // 1000, datetime.timezone.utc)
    return (f"{proven}, at height {header['height']} (block time {when:%Y-%m-%dT%H:%M:%SZ}, "
            f"state root {header['state_root'][:16]}…, "
            f"block {block_hash(header).hex()[:16]}…), certified at height "
            f"{certified['height']} by nodes {signers} of the genesis voters {sorted(voters)}")


# ---------------------------------------------------------------------------------------
# Talking to a node: signed reads (docs/api.md, "Signed reads").
# ---------------------------------------------------------------------------------------

READ_TAG = b"couponcactus/read/v1"


def load_key(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        seed, public = bytes.fromhex(data["secret_key"]), bytes.fromhex(data["public_key"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise Failed(f"cannot read the key file {path}: {e}") from e
    require(nacl is not None, NACL_MISSING)
    key = nacl.signing.SigningKey(seed)
    require(bytes(key.verify_key) == public, f"{path}: public_key does not belong to secret_key")
    return key


class Node:
    """GETs, each signed with the reader's key."""

    def __init__(self, url, key, chain_id):
        self.url, self.key, self.chain_id = url.rstrip("/"), key, chain_id

    def get(self, path):
        """(HTTP status, parsed JSON)."""
        now = int(time.time() * 1000)
        message = READ_TAG + string(self.chain_id) + u64(now) + b"GET " + path.encode("utf-8")
        request = urllib.request.Request(self.url + path, method="GET")
        request.add_header("Accept", "application/json")
        request.add_header("x-cactus-key", bytes(self.key.verify_key).hex())
        request.add_header("x-cactus-time", str(now))
        request.add_header("x-cactus-signature", self.key.sign(message).signature.hex())
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            raise Failed(f"cannot reach {self.url}: {getattr(e, 'reason', e)}") from e
        try:
            return status, json.loads(raw) if raw else None
        except ValueError as e:
            raise Failed(f"GET {path} answered {status} with a body that is not JSON") from e

    def get_ok(self, path):
        status, body = self.get(path)
        require(status == 200, f"GET {path} answered {status}: {json.dumps(body)[:300]}")
        return body


def checkpoint_at_least(node, height, wait):
    """The latest checkpoint, once it is at or above `height` (waiting up to `wait` s)."""
    deadline = time.monotonic() + wait
    while True:
        status, body = node.get("/v1/checkpoints/latest")
        if status == 200 and body["certificate"]["height"] >= height:
            return body
        if time.monotonic() > deadline:
            got = body["certificate"]["height"] if status == 200 else "none"
            raise Failed(f"no checkpoint at or above height {height} after {wait} s "
                         f"(latest certified: {got}): are a majority of the voters up?")
        time.sleep(0.2)


def gather(node, route, height, wait):
    """Everything `check_bundle` needs for `route` at `height` (default: the tip)."""
    parse_route(route)
    status = node.get_ok("/v1/status")
    height = status["height"] if height is None else height
    require(height >= 1, "read at height 1 or above: genesis state has no header to certify")
    request = f"{route}?height={height}"
    code, body = node.get(request)
    checkpoint = checkpoint_at_least(node, height, wait)
    certified = checkpoint["certificate"]["height"]
    links = [node.get_ok(f"/v1/blocks/{h}")["header"] for h in range(height + 1, certified)]
    return {
        "route": route, "height": height, "request": request, "status": status,
        "answer": {"http_status": code, "body": body},
        "checkpoint": checkpoint, "links": links,
        "consortium": node.get_ok(f"/v1/consortium?height={certified}"),
    }


# ---------------------------------------------------------------------------------------
# Self-test: the vectors of docs/encoding.md ("Test vectors": tx bodies; "Record vectors",
# "Genesis hash") and of docs/proofs.md (state proofs, block hash, checkpoint signature).
# ---------------------------------------------------------------------------------------

def fenced(text, info):
    """The bodies of the fenced blocks whose info string is `info`."""
    return re.findall(r"^```" + re.escape(info) + r"\n(.*?)^```$", text, re.S | re.M)


def vector_blocks(text):
    out = []
    for kind in ("state-vector", "event-vector", "result-vector", "history-leaf-vector",
                 "ledger-event-vector"):
        for block in fenced(text, kind):
            fields = dict(line.split(": ", 1) for line in block.strip().splitlines())
            out.append((kind, fields))
    return out


def tx_vectors(text):
    """(body JSON, tx-vector fields) of each tx vector: the JSON block just above it."""
    out = []
    pattern = r"^```json\n((?:(?!```)[^\n]*\n)*)```\n\n```tx-vector\n(.*?)^```$"
    for body, block in re.findall(pattern, text, re.S | re.M):
        out.append((json.loads(body), dict(line.split(": ", 1)
                                            for line in block.strip().splitlines())))
    return out


def check_vector(kind, v, check):
    if kind == "state-vector":
        kb, vb = key_bytes(json.loads(v["key_json"])), value_bytes(json.loads(v["value_json"]))
        check(f"{v['name']} key", kb.hex(), v["key_bytes"])
        check(f"{v['name']} key hash", H(kb).hex(), v["key_hash"])
        check(f"{v['name']} value", vb.hex(), v["value_bytes"])
        check(f"{v['name']} value hash", H(vb).hex(), v["value_hash"])
        check(f"{v['name']} leaf hash", H(LEAF_DOMAIN + H(kb) + H(vb)).hex(), v["leaf_hash"])
        return
    t = {"event-vector": E("Event"), "result-vector": S("TxResult"),
         "history-leaf-vector": S("HistoryLeaf"), "ledger-event-vector": S("LedgerEvent")}[kind]
    b = enc(t, json.loads(v["json"]), v["name"])
    check(v["name"], b.hex(), v["bytes"])
    if "leaf_hash" in v:
        check(f"{v['name']} leaf hash", H(b"\x00" + b).hex(), v["leaf_hash"])


def selftest_encoding(text, check):
    txs = tx_vectors(text)
    check("tx vectors found", len(txs) > 20, True)
    for body, v in txs:
        check(f"{v['name']} body", enc(S("TxBody"), body, v["name"]).hex(), v["body"])
    vectors = vector_blocks(text)
    check("record vectors found", len(vectors) > 40, True)
    for kind, v in vectors:
        check_vector(kind, v, check)
    selftest_checkout_ids(vectors, check)
    selftest_engagements(vectors, check)
    selftest_holds(txs, vectors, check)
    selftest_coverage(txs, vectors, check)
    ledger = [json.loads(v["json"]) for kind, v in vectors if kind == "ledger-event-vector"]
    check("ledger event vectors found", len(ledger) >= 8, True)
    check("a ledger event vector carries a memo", any(e["memo"] for e in ledger), True)
    (toml_text,), (block,) = fenced(text, "toml genesis"), fenced(text, "genesis-vector")
    v = dict(line.split(": ", 1) for line in block.strip().splitlines())
    state = genesis_state(toml_text)
    check("genesis initial state", enc(S("InitialState"), state).hex(), v["initial_state"])
    check("genesis hash", genesis_hash(state).hex(), v["genesis_hash"])
    # A voter's key changed is another chain.
    state["nodes"][0]["node_key"] = "00" * 32
    check("genesis hash covers the node keys", genesis_hash(state).hex() != v["genesis_hash"], True)


def selftest_coverage(txs, vectors, check):
    """Every tx kind, state key and event this verifier knows has a vector in the document,
    and the other way round (a variant the document adds must be added here)."""
    def names(values):
        return sorted({v if isinstance(v, str) else next(iter(v)) for v in values})

    kinds = sorted({body["kind"]["type"] for body, _ in txs})
    check("a tx vector per tx kind", kinds, sorted(n for n, _ in TX_KINDS))
    keys = names(json.loads(v["key_json"]) for k, v in vectors if k == "state-vector")
    check("a state vector per state key", keys, sorted(n for n, _ in ENUMS["StateKey"][2]))
    events = sorted({json.loads(v["json"])["event"] for k, v in vectors if k == "event-vector"})
    check("an event vector per event", events, sorted(n for n, _ in ENUMS["Event"][2]))


def selftest_checkout_ids(vectors, check):
    """A checkout's movement lists its redemptions under the derived ids, and a redemption
    that names a checkout is under one of them."""
    movements = redemptions = 0
    for kind, v in vectors:
        if kind != "state-vector":
            continue
        key, value = json.loads(v["key_json"]), json.loads(v["value_json"])
        if "movement" in value and value["movement"]["kind"]["movement"] == "checkout":
            movements += 1
            listed = value["movement"]["kind"]["redemptions"]
            want = [checkout_redemption_id(key["movement"], i) for i in range(len(listed))]
            check(f"{v['name']} redemption ids", listed, want)
        if "redemption" in value and value["redemption"]["checkout"] is not None:
            redemptions += 1
            place = checkout_place(key["redemption"], value["redemption"]["checkout"])
            check(f"{v['name']} id derived from its checkout", place is not None, True)
    check("checkout vectors found", (movements >= 1, redemptions >= 1), (True, True))


def selftest_engagements(vectors, check):
    """An engagement's key names the movement of its tx, with the same action and reference,
    and a referral's reference is the referred member's id (docs/encoding.md, `EngageTx`)."""
    movements, keys = {}, []
    for kind, v in vectors:
        if kind != "state-vector":
            continue
        key, value = json.loads(v["key_json"]), json.loads(v["value_json"])
        if "movement" in value and value["movement"]["kind"]["movement"] == "engagement":
            movements[key["movement"]] = value["movement"]["kind"]
        if isinstance(key, dict) and "engagement" in key:
            keys.append((v["name"], key["engagement"], value["engagement"]))
    referrals = 0
    for name, (_, action, reference), tx in keys:
        moved = movements.get(tx)
        check(f"{name}: its tx's movement", moved is not None, True)
        check(f"{name}: action and reference", (moved["action"], moved["reference"]),
              (action, reference))
        if moved["referred"] is not None:
            referrals += 1
            check(f"{name}: a referral's reference is the referred member", reference,
                  moved["referred"][0])
    check("engagement vectors found", (len(keys) >= 2, referrals >= 1), (True, True))


MAX_HOLD_NOTE_BYTES = 280


def hold_note_ok(note):
    """A hold's or a review's note says why: 1 to 280 bytes, not blank, without control
    characters (docs/encoding.md, `PlaceHoldTx`)."""
    return (0 < len(note.encode()) <= MAX_HOLD_NOTE_BYTES and note.strip() != ""
            and not any(unicodedata.category(c) == "Cc" for c in note))


def selftest_holds(txs, vectors, check):
    """A hold pending review has no `confirmed_by`; every hold's and review's note says why
    (not blank); a velocity counter's times are oldest first and at most the largest `max`
    of its pool's limits of its scope, and a store's counter names the org of the redeeming
    terminal, the pool's owner or one of its partners, then a store the pool allows
    (docs/encoding.md, `PlaceHoldTx`, `HoldRecord`, `VelocityKey`), when its pool has a
    documented state vector."""
    for body, v in txs:
        if body["kind"]["type"] in ("place_hold", "review_hold"):
            check(f"{v['name']}: the note says why", hold_note_ok(body["kind"]["note"]), True)
    specs, counters, targets = {}, [], set()
    for kind, v in vectors:
        if kind != "state-vector":
            continue
        key, value = json.loads(v["key_json"]), json.loads(v["value_json"])
        if "pool" in value:
            specs[value["pool"]["id"]] = (value["pool"]["owner"], value["pool"]["spec"])
        if isinstance(key, dict) and "hold" in key:
            targets.add(key["hold"][1]["kind"])
            record = value["hold"]
            check(f"{v['name']}: the note says why", hold_note_ok(record["note"]), True)
            if record["status"] == "pending_review":
                check(f"{v['name']}: a pending hold is not confirmed by anyone",
                      record["confirmed_by"], None)
        if isinstance(key, dict) and "velocity" in key:
            counters.append((v["name"], key["velocity"], value["velocity"]))
    for name, (pool, counted), times in counters:
        owner, spec = specs.get(pool, (None, {}))
        check(f"{name}: times oldest first", times, sorted(times))
        limits = [l["max"] for l in spec.get("velocity", []) if l["per"] == counted["kind"]]
        check(f"{name}: its pool has a limit of its scope", bool(limits), True)
        check(f"{name}: at most the largest max", len(times) <= max(limits, default=0), True)
        if counted["kind"] == "store":
            org, store = counted["id"]
            check(f"{name}: the store's org may redeem in the pool",
                  org == owner or org in spec.get("partner_orgs", []), True)
            allowed = spec.get("allowed_stores", [])
            check(f"{name}: a store the pool allows", not allowed or store in allowed, True)
    check("hold vectors of every target", sorted(targets), ["code", "member", "terminal"])
    check("velocity vectors of every scope", sorted(c["kind"] for _, (_, c), _ in counters),
          ["member", "store", "terminal"])


def selftest_proofs(text, check):
    """Every state proof of docs/proofs.md verifies, and a flipped copy does not."""
    cases = 0
    for section in re.split(r"^#### ", text, flags=re.M)[1:]:
        m = re.search(r"- proof \(JSON\): `(.*?)`", section)
        if not m:
            continue
        cases += 1
        title = section.splitlines()[0]
        root = bytes.fromhex(re.search(r"root: `([0-9a-f]{64})`", section).group(1))
        key = json.loads(re.search(r"- key: `(.*?)`\n", section).group(1))
        value = re.search(r"- value: `(.*?)`, value bytes", section)
        vb = value_bytes(json.loads(value.group(1))) if value else None
        proof = json.loads(m.group(1))
        verify_state_proof(root, key_bytes(key), vb, proof)
        flipped = json.loads(m.group(1))
        flipped["siblings"][0] = ("ff" if flipped["siblings"][0][:2] != "ff" else "00") \
            + flipped["siblings"][0][2:]
        try:
            verify_state_proof(root, key_bytes(key), vb, flipped)
            check(f"{title}: a flipped sibling is refused", False, True)
        except Failed:
            pass
        try:
            verify_state_proof(root, key_bytes(key), None if vb else b"\x00", proof)
            check(f"{title}: the opposite claim is refused", False, True)
        except Failed:
            pass
    check("state proof vectors found", cases >= 4, True)
    header = json.loads(re.search(r"- header \(JSON\): `(.*?)`", text).group(1))
    want = re.search(r"- block hash `[^`]*`: `([0-9a-f]{64})`", text).group(1)
    check("block hash", block_hash(header).hex(), want)
    message = re.search(r"- checkpoint message: `([0-9a-f]+)`", text).group(1)
    check("checkpoint message", checkpoint_message(header["chain_id"], header["height"],
                                                   bytes.fromhex(want)).hex(), message)
    public, signature = re.search(r"public `([0-9a-f]{64})`, signature `([0-9a-f]{128})`",
                                  text).groups()
    cert = {"chain_id": header["chain_id"], "height": header["height"], "block_hash": want,
            "signatures": [{"node_id": 2, "signature": signature}]}
    signers = verify_certificate(cert, header["chain_id"], {2: public})
    check("certificate of one voter", signers, [2])


def selftest(encoding_doc, proofs_doc):
    failures, count = [], [0]

    def check(what, got, want):
        count[0] += 1
        if got != want:
            failures.append(f"{what}: got {got}, want {want}")

    try:
        with open(encoding_doc, encoding="utf-8") as f:
            selftest_encoding(f.read(), check)
        with open(proofs_doc, encoding="utf-8") as f:
            selftest_proofs(f.read(), check)
    except (OSError, Failed, KeyError, AttributeError, ValueError) as e:
        failures.append(f"{type(e).__name__}: {e}")
    for f in failures:
        print(f"FAILED: {f}")
    if failures:
        return EXIT_FAILED
    print(f"selftest: {count[0]} checks passed (vectors read from {encoding_doc} and {proofs_doc})")
    return EXIT_OK


# ---------------------------------------------------------------------------------------
# Command line.
# ---------------------------------------------------------------------------------------

def read_text(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        raise Failed(f"cannot read the {what} {path}: {e}") from e


def cmd_read(args):
    genesis = read_text(args.genesis, "genesis file")
    node = Node(args.node, load_key(args.key), genesis_state(genesis)["chain_id"])
    route = args.path.split("?", 1)[0]
    bundle = gather(node, route, args.height, args.wait)
    if args.save:
        with open(args.save, "w", encoding="utf-8") as f:
            json.dump(bundle, f, indent=1)
    return check_bundle(bundle, genesis)


def cmd_check(args):
    try:
        bundle = json.loads(read_text(args.bundle, "saved answer"))
    except ValueError as e:
        raise Failed(f"{args.bundle} is not JSON: {e}") from e
    return check_bundle(bundle, read_text(args.genesis, "genesis file"))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="verify.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    read = sub.add_parser("read", help="read a key from a node and verify the answer")
    read.add_argument("path", help="/v1/tokens/POOL/SERIAL, /v1/pools/ID, /v1/codes/HASH/token, "
                                   "/v1/keys/KEY, /v1/tokens/POOL/SERIAL/redemption, "
                                   "/v1/codes/HASH/redemption")
    read.add_argument("--node", default=os.environ.get("CACTUS_NODE", "http://127.0.0.1:7101")
                      .split(",")[0], help="node URL (default $CACTUS_NODE or :7101)")
    read.add_argument("--genesis", required=True, help="the chain's genesis.toml")
    read.add_argument("--key", required=True, help="the reader's key file (signs the reads)")
    read.add_argument("--height", type=int, help="read at this height (default: the latest)")
    read.add_argument("--wait", type=float, default=15, help="seconds to wait for a "
                      "certificate at or above the height read (default 15)")
    read.add_argument("--save", help="write what was read (answer, checkpoint, consortium, "
                                     "headers) to this JSON file, for `check`")
    check = sub.add_parser("check", help="verify a saved answer (`read --save`) offline")
    check.add_argument("bundle")
    check.add_argument("--genesis", required=True, help="the chain's genesis.toml")
    test = sub.add_parser("selftest", help="reproduce the vectors of the docs")
    test.add_argument("--encoding", default=os.path.join(REPO, "docs", "encoding.md"))
    test.add_argument("--proofs", default=os.path.join(REPO, "docs", "proofs.md"))
    args = parser.parse_args(argv)
    if nacl is None:
        print(f"FAILED: {NACL_MISSING}")
        return EXIT_FAILED
    if args.command == "selftest":
        return selftest(args.encoding, args.proofs)
    try:
        line = cmd_read(args) if args.command == "read" else cmd_check(args)
    except Failed as e:
        print(f"FAILED: {e}")
        return EXIT_FAILED
    except (KeyError, TypeError, AttributeError, IndexError) as e:
        print(f"FAILED: the answer is not shaped as docs/api.md says ({type(e).__name__}: {e})")
        return EXIT_FAILED
    print(f"VERIFIED: {line}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
