#!/usr/bin/env python3
"""A minimal Couponcactus point-of-sale terminal, written from docs/encoding.md alone.

It builds a Redeem (or Rollback) or a Checkout (or Void) transaction, encodes it
canonically, signs it with ed25519 (PyNaCl), and submits the canonical bytes to a node's
HTTP API:

    pos.py redeem --code ABCD-EFGH-JKMN --total-minor 5990 --currency EUR \\
                  --line food:4990 --line tobacco:1000
    pos.py redeem --code ABCD-EFGH-JKMN --total-minor 5990 --dry-run   # POST /v1/validate
    pos.py redeem --code abcd-efgh-jkmo-e --check-char --total-minor 5990  # typed from paper
    pos.py rollback <redeem tx id>                                     # refund
    pos.py checkout --program acme --member HEX --order-ref R-1 --total-minor 10000 \\
                    --code ABCD-EFGH-JKMN --pay-segment gift --pay 2000  # one order at the till
    pos.py void <checkout tx id>                                       # undo a checkout whole
    pos.py selftest [--doc docs/encoding.md]                           # the doc's test vectors

The node is --node URL (or $CACTUS_NODE, default http://127.0.0.1:7101); several nodes:
repeat --node or separate URLs with commas: a request that cannot reach a node, or that a
node answers 502/503/504, goes to the next one with the same signed bytes (a tx id
executes at most once, so this never redeems twice). The terminal's key is --key FILE (or
$CACTUS_KEY, default .cactus-dev/keys/terminal.key), a `cactusd` key file: JSON with hex
`public_key` and `secret_key` (the 32-byte ed25519 seed). Amounts are integers in minor
units (cents).

A checkout (docs/encoding.md, "struct CheckoutTx") is one order of a loyalty member, all or
nothing: up to 8 coupons (--code, typed codes checked as for redeem, and --token POOL/SERIAL,
applied in the order given), then an optional balance spend (--pay-segment SEGMENT ...
--pay AMOUNT, the amount in the segments' unit: minor units of money, or whole points), then
points earned on what is left to pay (unless --no-earn). It prints a receipt: each coupon's
discount, what the balance paid, what is left to pay, the points earned, and the checkout's
tx id, which `pos.py void` takes to undo it all (coupons usable again, the spend refunded,
the points taken back).

With the codes' format (--check-char, --pattern, --prefix, --charset: what `cactus codes
generate` was given), a typed code is checked before anything is sent (docs/encoding.md,
"Typed codes"): look-alikes corrected (O->0, I/L->1, U->V where the alphabet has no such
character) and the check character verified.

Exit status, as `cactus`: 0 done (applied, or valid with --dry-run); 1 failed (node
unreachable, refused by the node, a malformed code, a bad key file); 2 the command line
does not parse; 3 the chain rejected the tx, or --dry-run says it would; (4, a proof that
does not verify, is never used: pos.py reads no proofs).

Dependencies: the Python standard library and PyNaCl (`pip install pynacl`). BLAKE3, which
the tx id and code hashes need and the standard library lacks, is implemented below.
"""

import argparse
import json
import os
import re
import struct
import sys
import time
import urllib.error
import urllib.request

try:
    import nacl.signing
except ImportError:  # pragma: no cover - reported when used
    nacl = None

# ---------------------------------------------------------------------------------------
# BLAKE3 (hash and derive_key modes, 32-byte output), from the BLAKE3 specification.
# ---------------------------------------------------------------------------------------

_MASK = 0xFFFFFFFF
_IV = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
       0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)
_PERMUTATION = (2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8)
_CHUNK_START, _CHUNK_END, _PARENT, _ROOT = 1, 2, 4, 8
_DERIVE_KEY_CONTEXT, _DERIVE_KEY_MATERIAL = 32, 64
_BLOCK_LEN, _CHUNK_LEN = 64, 1024


def _g(s, a, b, c, d, mx, my):
    s[a] = (s[a] + s[b] + mx) & _MASK
    x = s[d] ^ s[a]
    s[d] = ((x >> 16) | (x << 16)) & _MASK
    s[c] = (s[c] + s[d]) & _MASK
    x = s[b] ^ s[c]
    s[b] = ((x >> 12) | (x << 20)) & _MASK
    s[a] = (s[a] + s[b] + my) & _MASK
    x = s[d] ^ s[a]
    s[d] = ((x >> 8) | (x << 24)) & _MASK
    s[c] = (s[c] + s[d]) & _MASK
    x = s[b] ^ s[c]
    s[b] = ((x >> 7) | (x << 25)) & _MASK


def _compress(cv, block_words, counter, block_len, flags):
    s = list(cv) + list(_IV[:4]) + [counter & _MASK, (counter >> 32) & _MASK, block_len, flags]
    m = list(block_words)
    for r in range(7):
        _g(s, 0, 4, 8, 12, m[0], m[1])
        _g(s, 1, 5, 9, 13, m[2], m[3])
        _g(s, 2, 6, 10, 14, m[4], m[5])
        _g(s, 3, 7, 11, 15, m[6], m[7])
        _g(s, 0, 5, 10, 15, m[8], m[9])
        _g(s, 1, 6, 11, 12, m[10], m[11])
        _g(s, 2, 7, 8, 13, m[12], m[13])
        _g(s, 3, 4, 9, 14, m[14], m[15])
        if r < 6:
            m = [m[i] for i in _PERMUTATION]
    for i in range(8):
        s[i] ^= s[i + 8]
        s[i + 8] ^= cv[i]
    return s


def _words(block):
    return list(struct.unpack("<16I", block.ljust(_BLOCK_LEN, b"\0")))


class _Output:
    def __init__(self, cv, block_words, counter, block_len, flags):
        self.args = (cv, block_words, counter, block_len, flags)

    def chaining_value(self):
        return _compress(*self.args)[:8]

    def root_bytes(self):
        cv, words, _counter, block_len, flags = self.args
        return struct.pack("<8I", *_compress(cv, words, 0, block_len, flags | _ROOT)[:8])


class _ChunkState:
    def __init__(self, key, counter, flags):
        self.cv, self.counter, self.flags = list(key), counter, flags
        self.block, self.blocks_compressed = b"", 0

    def __len__(self):
        return _BLOCK_LEN * self.blocks_compressed + len(self.block)

    def _start(self):
        return _CHUNK_START if self.blocks_compressed == 0 else 0

    def update(self, data):
        while data:
            if len(self.block) == _BLOCK_LEN:
                self.cv = _compress(self.cv, _words(self.block), self.counter, _BLOCK_LEN,
                                    self.flags | self._start())[:8]
                self.blocks_compressed += 1
                self.block = b""
            take = min(_BLOCK_LEN - len(self.block), len(data))
            self.block += data[:take]
            data = data[take:]

    def output(self):
        return _Output(self.cv, _words(self.block), self.counter, len(self.block),
                       self.flags | self._start() | _CHUNK_END)


def _blake3(data, key=_IV, flags=0):
    stack, chunk = [], _ChunkState(key, 0, flags)
    while data:
        if len(chunk) == _CHUNK_LEN:
            cv, total = chunk.output().chaining_value(), chunk.counter + 1
            while total & 1 == 0:
                cv = _Output(key, stack.pop() + cv, 0, _BLOCK_LEN, _PARENT | flags).chaining_value()
                total >>= 1
            stack.append(cv)
            chunk = _ChunkState(key, chunk.counter + 1, flags)
        take = min(_CHUNK_LEN - len(chunk), len(data))
        chunk.update(data[:take])
        data = data[take:]
    out = chunk.output()
    for cv in reversed(stack):
        out = _Output(key, cv + out.chaining_value(), 0, _BLOCK_LEN, _PARENT | flags)
    return out.root_bytes()


def blake3(data):
    """Plain BLAKE3 of `data`, 32 bytes."""
    return _blake3(bytes(data))


def blake3_derive_key(context, material):
    """BLAKE3 `derive_key(context, material)`, 32 bytes."""
    context_key = _blake3(context.encode("utf-8"), flags=_DERIVE_KEY_CONTEXT)
    return _blake3(bytes(material), key=struct.unpack("<8I", context_key),
                   flags=_DERIVE_KEY_MATERIAL)


# ---------------------------------------------------------------------------------------
# Canonical encoding (docs/encoding.md, "Primitive rules"): fixed-width little-endian
# integers, u64-length-prefixed strings and vectors, u32 enum variant indices, 00/01
# option and bool tags, raw fixed-size byte arrays.
# ---------------------------------------------------------------------------------------

def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def string(s):
    b = s.encode("utf-8")
    return u64(len(b)) + b


def fixed(b, n):
    b = bytes(b)
    if len(b) != n:
        raise ValueError(f"expected {n} bytes, got {len(b)}")
    return b


def option(value, encode):
    return b"\x00" if value is None else b"\x01" + encode(value)


def vec(items, encode):
    return u64(len(items)) + b"".join(encode(x) for x in items)


variant = u32

# TxKind variant indices (docs/encoding.md, "enum TxKind").
TX_TRANSITION_POOL, TX_REDEEM, TX_ROLLBACK, TX_VOID, TX_CHECKOUT = 6, 9, 10, 17, 22
# RedeemTarget variants.
TARGET_TOKEN, TARGET_CODE = 0, 1
# PoolAction variants.
POOL_ACTIONS = {"activate": 0, "pause": 1, "resume": 2, "archive": 3}
# Segment variants (docs/encoding.md, "enum Segment"): the balances a checkout pays from.
SEGMENTS = {"cash_deposit": 0, "gift": 1, "mileage": 2, "refund_credit": 3}
# A checkout's limits (docs/encoding.md, "struct CheckoutTx" and the checkout's steps).
MAX_CHECKOUT_COUPONS, MAX_ORDER_REF_BYTES = 8, 64

SIGNING_TAG = b"couponcactus/tx/v1"
TXID_TAG = b"couponcactus/txid/v1"
CODE_HASH_CONTEXT = "couponcactus 2026 code hash v1"

# Unicode White_Space (Rust char::is_whitespace), as listed in docs/encoding.md.
WHITESPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000"
                       + "".join(chr(c) for c in range(0x2000, 0x200B)))


def normalize_code(code):
    """Drops whitespace and '-', then upper-cases (full Unicode mapping: ß → SS)."""
    return "".join(c for c in code if c not in WHITESPACE and c != "-").upper()


def code_hash(code):
    return blake3_derive_key(CODE_HASH_CONTEXT, normalize_code(code).encode("utf-8"))


# ---------------------------------------------------------------------------------------
# Typed codes (docs/encoding.md, "Typed codes" and "Check character").
# ---------------------------------------------------------------------------------------

DEFAULT_CHARSET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
DEFAULT_PATTERN = "####-####-####"
LOOK_ALIKES = ("0O", "1IL", "VU")
FIXED, RANDOM, CHECK = "fixed", "random", "check"


class TypedCodeError(ValueError):
    """A typed code that does not fit its pattern; `kind` is the doc's error name."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def single_upper(c):
    u = c.upper()
    return u if len(u) == 1 and u not in WHITESPACE and u != "-" else None


def pattern_slots(prefix, pattern, check_char):
    """(kind, character) per slot: fixed characters, random slots, the check slot."""
    slots = [(FIXED, c) for c in normalize_code(prefix)]
    for c in pattern:
        slots += [(RANDOM, None)] if c == "#" else [(FIXED, f) for f in normalize_code(c)]
    return slots + ([(CHECK, None)] if check_char else [])


def luhn_sum(values, n, double_rightmost):
    total, double = 0, double_rightmost
    for v in reversed(values):
        d = 2 * v if double else v
        total += d // n + d % n
        double = not double
    return total % n


def check_char(random, charset=DEFAULT_CHARSET):
    """The Luhn mod N check character of the random characters of a code."""
    values = [charset.upper().index(c) for c in normalize_code(random)]
    return charset[(len(charset) - luhn_sum(values, len(charset), True)) % len(charset)]


def verify_check_char(random_and_check, charset=DEFAULT_CHARSET):
    upper = charset.upper()
    chars = normalize_code(random_and_check)
    if len(chars) < 2 or any(c not in upper for c in chars):
        return False
    return luhn_sum([upper.index(c) for c in chars], len(charset), False) == 0


def map_typed(c, slot, charset):
    """`c` where the pattern has `slot`, look-alikes mapped; None if it cannot be there."""
    kind, want = slot
    cls = next((k for k in LOOK_ALIKES if c in k), None)
    if kind == FIXED:
        return want if c == want or (cls is not None and want in cls) else None
    if c in charset:
        return c
    members = [m for m in (cls or "") if m in charset]
    return members[0] if len(members) == 1 else None


def check_typed_code(typed, prefix="", pattern=DEFAULT_PATTERN, charset=DEFAULT_CHARSET,
                     check_char_on=False):
    """The normalized code to hash for a typed code, or TypedCodeError."""
    upper = [single_upper(c) for c in charset]
    if None in upper or len(set(upper)) != len(charset) or not 2 <= len(charset) <= 256 \
            or "#" not in pattern or (check_char_on and len(charset) % 2):
        raise TypedCodeError("bad_pattern", "the code pattern or charset is not valid")
    slots = pattern_slots(prefix, pattern, check_char_on)
    got = len(normalize_code(typed))
    if got != len(slots):
        raise TypedCodeError("typed_length", f"the code has {got} characters where its "
                             f"pattern has {len(slots)} (spaces and dashes not counted)")
    out, at = [], iter(slots)
    for position, t in enumerate(typed, 1):
        if t in WHITESPACE or t == "-":
            continue
        for c in t.upper():
            slot = next(at)
            mapped = map_typed(c, slot, upper)
            if mapped is None:
                want = repr(slot[1]) + " (fixed by the pattern)" if slot[0] == FIXED \
                    else "a character of the code alphabet"
                raise TypedCodeError(f"typed_character at {position}", f"character {position} "
                                     f"of the code, {c!r}, cannot be there: expected {want}")
            out.append((mapped, slot[0]))
    if check_char_on and not verify_check_char(
            "".join(c for c, kind in out if kind != FIXED), "".join(upper)):
        raise TypedCodeError("check_char_mismatch", "the check character does not match: a "
                             "character is mistyped or two are swapped")
    return "".join(c for c, _ in out)


def body_header(chain_id, nonce, valid_until_ms):
    """The first three TxBody fields: chain_id, nonce, valid_until_ms."""
    return string(chain_id) + u64(nonce) + u64(valid_until_ms)


MAX_MEMO_BYTES = 128


def check_memo(text):
    """The memo rule (docs/encoding.md, struct TxBody): 1 to 128 bytes of UTF-8, no control
    character (Unicode category Cc), not only whitespace. Raises LocalError otherwise."""
    size = len(text.encode("utf-8"))
    if size == 0:
        raise LocalError("invalid memo: must not be empty (1 to 128 bytes)")
    if size > MAX_MEMO_BYTES:
        raise LocalError(f"invalid memo: {size} bytes long, at most {MAX_MEMO_BYTES} bytes "
                         "of UTF-8 allowed")
    for at, c in enumerate(text):
        if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F:
            raise LocalError(f"invalid memo: control character U+{ord(c):04X} at character "
                             f"{at} (no control characters allowed)")
    if not text.strip():
        raise LocalError("invalid memo: must not be only whitespace")
    return text


def body_tail(memo):
    """The last TxBody field: memo, an Option<Memo> (00, or 01 and the text as a string)."""
    return option(memo, lambda m: string(check_memo(m)))


def encode_order(currency, total_minor, lines):
    """Order { currency: [u8; 3], total_minor: u64, lines: Vec<OrderLine { category, amount_minor }> }."""
    cur = currency.encode("ascii")
    if not re.fullmatch(rb"[A-Z]{3}", cur):
        raise ValueError(f"currency must be three upper-case letters, not {currency!r}")
    return (fixed(cur, 3) + u64(total_minor)
            + vec(lines, lambda line: string(line[0]) + u64(line[1])))


def encode_target(target):
    """A RedeemTarget: a (pool, serial) tuple is a Token, 32 bytes a code's hash, a str a
    code (normalized and hashed here)."""
    if isinstance(target, tuple):
        pool, serial = target
        return variant(TARGET_TOKEN) + string(pool) + u64(serial)
    h = code_hash(target) if isinstance(target, str) else target
    return variant(TARGET_CODE) + fixed(h, 32)


def redeem_body(chain_id, nonce, valid_until_ms, *, code=None, code_hash_bytes=None,
                token=None, member=None, currency, total_minor, lines=(), memo=None):
    """A TxBody with kind Redeem: target a code (by its hash) or a token (pool, serial)."""
    if token is not None:
        target = encode_target(tuple(token))
    else:
        target = encode_target(code_hash_bytes if code_hash_bytes is not None else code)
    return (body_header(chain_id, nonce, valid_until_ms) + variant(TX_REDEEM) + target
            + option(member, lambda m: fixed(m, 32))
            + encode_order(currency, total_minor, list(lines)) + body_tail(memo))


def rollback_body(chain_id, nonce, valid_until_ms, redemption, memo=None):
    return (body_header(chain_id, nonce, valid_until_ms) + variant(TX_ROLLBACK)
            + fixed(redemption, 32) + body_tail(memo))


def encode_segment(segment):
    """A Segment: its variant index, by name (gift) or index (1)."""
    return variant(segment if isinstance(segment, int) else SEGMENTS[segment])


def checkout_body(chain_id, nonce, valid_until_ms, *, program, member, order_ref, currency,
                  total_minor, lines=(), coupons=(), pay=None, earn=True, memo=None):
    """A TxBody with kind Checkout (CheckoutTx): the program's org id, the member (32 bytes),
    the order's reference and the order, the coupons in order (each as encode_target takes
    it), pay None or (segments, amount) (a BalanceSpend: segment names or indices, given in
    ascending variant order, and the amount in their unit), and whether to earn points."""
    spend = None if pay is None else (list(pay[0]), pay[1])
    return (body_header(chain_id, nonce, valid_until_ms) + variant(TX_CHECKOUT)
            + string(program) + fixed(member, 32) + string(order_ref)
            + encode_order(currency, total_minor, list(lines))
            + vec(list(coupons), encode_target)
            + option(spend, lambda s: vec(s[0], encode_segment) + u64(s[1]))
            + (b"\x01" if earn else b"\x00") + body_tail(memo))


def void_body(chain_id, nonce, valid_until_ms, tx, memo=None):
    """A TxBody with kind Void (VoidTx): the id of the earn, load, spend, transfer or
    checkout to undo."""
    return (body_header(chain_id, nonce, valid_until_ms) + variant(TX_VOID)
            + fixed(tx, 32) + body_tail(memo))


def transition_pool_body(chain_id, nonce, valid_until_ms, pool, action, memo=None):
    return (body_header(chain_id, nonce, valid_until_ms) + variant(TX_TRANSITION_POOL)
            + string(pool) + variant(POOL_ACTIONS[action]) + body_tail(memo))


def signing_message(chain_id, body):
    return SIGNING_TAG + string(chain_id) + body


def tx_id(body, signer):
    return blake3(TXID_TAG + body + fixed(signer, 32))


def sign_tx(chain_id, body, seed):
    """Returns (signer, signature, tx id, signed tx bytes = body ‖ signer ‖ signature)."""
    if nacl is None:
        raise LocalError(NACL_MISSING)
    key = nacl.signing.SigningKey(fixed(seed, 32))
    signer = bytes(key.verify_key)
    signature = key.sign(signing_message(chain_id, body)).signature
    return signer, signature, tx_id(body, signer), body + signer + signature


NACL_MISSING = ("PyNaCl is missing: `python3 -m pip install --user pynacl` "
                "(or `pip install -r examples/pos-python/requirements.txt`)")

# ---------------------------------------------------------------------------------------
# Self-test: the vectors of docs/encoding.md relevant to a terminal, byte for byte.
# ---------------------------------------------------------------------------------------

VALID_UNTIL = 1767225660000


def member_n(n):
    return u64(n) + bytes(24)


# name -> (seed byte, body builder). Inputs are those of each vector's JSON.
TX_CASES = {
    "transition_pool_activate": (0x0A, lambda: transition_pool_body(
        "testchain", 11, VALID_UNTIL, "spring", "activate")),
    "redeem_token": (0x14, lambda: redeem_body(
        "testchain", 14, VALID_UNTIL, token=("spring", 3), member=None,
        currency="EUR", total_minor=10000, lines=[])),
    "redeem_code": (0x14, lambda: redeem_body(
        "testchain", 15, VALID_UNTIL, code="SUMMER10", member=member_n(7),
        currency="USD", total_minor=5990, lines=[("food", 4990), ("tobacco", 1000)])),
    "rollback": (0x14, lambda: rollback_body(
        "testchain", 16, VALID_UNTIL,
        bytes.fromhex("c777d0285eb7665e49b11d96540aa63ca3c32690069949cc65cabd633eadb36f"))),
    "transition_pool_pause_memo": (0x0A, lambda: transition_pool_body(
        "testchain", 19, VALID_UNTIL, "spring", "pause", memo="staff:u-42 (Zoë)")),
    "void": (0x14, lambda: void_body(
        "testchain", 24, VALID_UNTIL,
        bytes.fromhex("444ddcace3ba9dc034ee33542b5a423018493f5f771ccbc664ae7d90bab5e53c"))),
    "checkout": (0x14, lambda: checkout_body(
        "testchain", 30, VALID_UNTIL, program="acme", member=member_n(7),
        order_ref="berlin-1/2026-000125", currency="EUR", total_minor=10000,
        lines=[("food", 9000), ("tobacco", 1000)], coupons=["WELCOME5", ("spring", 1)],
        pay=(["mileage"], 100), earn=True)),
}

# The values docs/encoding.md gives for them (the worked example and generated vectors).
EXPECTED_TX = {
    "transition_pool_activate": {
        "body": "090000000000000074657374636861696e0b000000000000006092db769b010000060000000600000000000000737072696e670000000000",
        "signer": "43a72e714401762df66b68c26dfbdf2682aaec9f2474eca4613e424a0fbafd3c",
        "signature": "8e8f96cec0b9d29169e03440fc038a61441299808d6766f2b464b25270c84aa1038d3457a8649ddca6a1037cbfacffa3cf0030be95d6d3439a2905ef60b86f05",
        "tx_id": "05d3dff9c381db847d357b8c24bf846b36d931dc43c2e5b5e28aecfb1b9c549b",
    },
    "redeem_token": {
        "body": "090000000000000074657374636861696e0e000000000000006092db769b01000009000000000000000600000000000000737072696e670300000000000000004555521027000000000000000000000000000000",
        "signer": "20828bf5c5bdcacb684863336c202fb5599da48be5596615742170705beca9f7",
        "signature": "cec5559f789501fe0d9f455a5bf2f5b6f69c5d1f4dbb78437aba8e4da8fa87a51f4b004f0f1ffd53f775e077ceab6cc6f4302acc7b5b44a68ba28f7a8359180b",
        "tx_id": "c777d0285eb7665e49b11d96540aa63ca3c32690069949cc65cabd633eadb36f",
    },
    "redeem_code": {
        "body": "090000000000000074657374636861696e0f000000000000006092db769b0100000900000001000000bab1cc5df98b33e717426fc3bfb409277c6c9e0ef1067ad134abf0ab75aed002010700000000000000000000000000000000000000000000000000000000000000555344661700000000000002000000000000000400000000000000666f6f647e130000000000000700000000000000746f626163636fe80300000000000000",
        "signer": "20828bf5c5bdcacb684863336c202fb5599da48be5596615742170705beca9f7",
        "signature": "4e2d18760e258dce07acb87662a97d5f26c751497fc230742d0f514b34560aee2540eb47cf2d13f2ba75a592e869c95a7219118d76c990a4ac54fa8ea5c0b00b",
        "tx_id": "eabb160d7cfa2643eb3bf59226e2411c6fa1d3e4db55eafeb6dab6091fa25807",
    },
    "rollback": {
        "body": "090000000000000074657374636861696e10000000000000006092db769b0100000a000000c777d0285eb7665e49b11d96540aa63ca3c32690069949cc65cabd633eadb36f00",
        "signer": "20828bf5c5bdcacb684863336c202fb5599da48be5596615742170705beca9f7",
        "signature": "1d2cb7fa829589569133f8775959a71382cb0ec5bcff0895416ec458b647edcb3844cd90fb5103b46332fb751767722694bc35f0ae6af7e35bb637ad8b2f300e",
        "tx_id": "342f9034fd892cd48bf3daea4056aa4903a60b2f32bf2121ca28acd2239eda7a",
    },
    "transition_pool_pause_memo": {
        "body": "090000000000000074657374636861696e13000000000000006092db769b010000060000000600000000000000737072696e670100000001110000000000000073746166663a752d343220285a6fc3ab29",
        "signer": "43a72e714401762df66b68c26dfbdf2682aaec9f2474eca4613e424a0fbafd3c",
        "signature": "1a264f295231d48e420e1973215862134932fb0a386cdfc1f7ca571c92fb261da877e1173b9f42fd0a869fe4da443e5a3a24054a99f50a5d70fd3739ff3a2e02",
        "tx_id": "759cb750375eb32969572c0361a2b53084d3bf9ca2486c58ef97a0ef378dbccf",
    },
    "void": {
        "body": "090000000000000074657374636861696e18000000000000006092db769b01000011000000444ddcace3ba9dc034ee33542b5a423018493f5f771ccbc664ae7d90bab5e53c00",
        "signer": "20828bf5c5bdcacb684863336c202fb5599da48be5596615742170705beca9f7",
        "signature": "f4cf280d7f10ca958d95902fa8303ba3a129019079f59f884a2c1eb09851b332a894844d0d2c8efd1eae106e6b1a21a181b67f9210219a7823531db3b4bf7304",
        "tx_id": "09faedab135b34903d8aa147e8d85504106ce311e667b28f62e6b27c1a3e0fae",
    },
    "checkout": {
        "body": "090000000000000074657374636861696e1e000000000000006092db769b01000016000000040000000000000061636d65070000000000000000000000000000000000000000000000000000000000000014000000000000006265726c696e2d312f323032362d303030313235455552102700000000000002000000000000000400000000000000666f6f6428230000000000000700000000000000746f626163636fe803000000000000020000000000000001000000302d4c5601caad4c09be1ef10be3b1ff47008e324a61d359afce13502d348fb2000000000600000000000000737072696e6701000000000000000101000000000000000200000064000000000000000100",
        "signer": "20828bf5c5bdcacb684863336c202fb5599da48be5596615742170705beca9f7",
        "signature": "88b6cf7a9f7ed18c18defdad1ac62e18d9c8ce503bfe11daecc3467fdb17f6c8f8f97ab86bd231d47f8f5c90aa6804f08ab317e23baa9af1de6eaf920db62807",
        "tx_id": "df935bef293c3a5733b4a561e9352f4029f8ef4e078738a33e998c3b816adcc9",
    },
}
for _v in EXPECTED_TX.values():
    _v["signed_tx"] = _v["body"] + _v["signer"] + _v["signature"]

# The worked example's signing message (docs/encoding.md, "Worked example").
EXPECTED_WORKED_MESSAGE = ("636f75706f6e6361637475732f74782f7631" "0900000000000000"
                           "74657374636861696e" + EXPECTED_TX["transition_pool_activate"]["body"])

EXPECTED_CODE_HASHES = {
    "code_hash_1": ("ABCD-EFGH-JKMN", "ABCDEFGHJKMN",
                    "6442e2db68579f27c8407f161baccb73d7f90afd90fe06da68ac420b744d8f0e"),
    "code_hash_2": (" abcd efgh-jkmn\t", "ABCDEFGHJKMN",
                    "6442e2db68579f27c8407f161baccb73d7f90afd90fe06da68ac420b744d8f0e"),
    "code_hash_3": ("SUMMER10", "SUMMER10",
                    "bab1cc5df98b33e717426fc3bfb409277c6c9e0ef1067ad134abf0ab75aed002"),
    "code_hash_4": ("SPRING-CODE-00000000", "SPRINGCODE00000000",
                    "c122b8dd41f9d6e923383dc4a99c78b4703e45b4b82aafd05c13d91dc68f86ba"),
    "code_hash_5": ("straße-1", "STRASSE1",
                    "e6b5c5528595e9d93cb136ff8b09baf7e7073b571666c53d08793ab32d1c800f"),
}

# Typed codes (docs/encoding.md, "Typed code vectors"): name -> (prefix, pattern, charset,
# check_char, typed, result or error name).
TYPED_CODES = {
    "typed_lookalike_o": ("", DEFAULT_PATTERN, DEFAULT_CHARSET, False, "abcd-efgh-jkmo",
                          "ABCDEFGHJKM0"),
    "typed_custom_charset_keeps_o": ("", DEFAULT_PATTERN, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                                     False, "OILU-0ABC-DEFG", "OILUOABCDEFG"),
    "typed_check_ok": ("", DEFAULT_PATTERN, DEFAULT_CHARSET, True, "ABCD-EFGH-JKMN3",
                       "ABCDEFGHJKMN3"),
    "typed_check_wrong_character": ("", DEFAULT_PATTERN, DEFAULT_CHARSET, True,
                                    "ABCD-EFGH-JKMP3", "error check_char_mismatch"),
    "typed_check_swapped": ("", DEFAULT_PATTERN, DEFAULT_CHARSET, True, "ABCD-EFHG-JKMN3",
                            "error check_char_mismatch"),
}

# The examples of the primitive-rules table, and BLAKE3's own reference values (including
# inputs of several chunks, so the tree mode is exercised).
PRIMITIVES = [
    ("u32 0x01020304", u32(0x01020304), "04030201"),
    ("u64 0x0102030405060708", u64(0x0102030405060708), "0807060504030201"),
    ('string "é"', string("é"), "0200000000000000c3a9"),
    ("Vec<u32> [1, 2]", vec([1, 2], u32), "02000000000000000100000002000000"),
    ("Some(5u64)", option(5, u64), "010500000000000000"),
    ("None", option(None, u64), "00"),
    ("PoolAction::Archive", variant(POOL_ACTIONS["archive"]), "03000000"),
    ('blake3("")', blake3(b""), "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"),
    ('blake3("abc")', blake3(b"abc"), "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"),
]
# Official BLAKE3 test vectors (input byte i is i % 251), hash mode, first 32 bytes.
BLAKE3_VECTORS = {
    1023: "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11",
    1024: "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7",
    1025: "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444",
    2049: "5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030",
    3073: "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3",
    8193: "bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b",
    31745: "5c80ce0c3bbe9a6f432a1c6c2ccbde45923d23249386988a30f512d23919eb98",
}
# derive_key over several chunks (reference: the `blake3` package), with the code-hash context.
BLAKE3_DERIVE_5000 = "1a240fc78f4ecd970c9a640a1aaa385fac7e215940b87410da149d30ee83a71c"


def parse_doc_vectors(path):
    """The `tx-vector`, `code-hash-vector` and `typed-code-vector` blocks of
    docs/encoding.md, by name."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    vectors = {}
    pattern = r"```(tx-vector|code-hash-vector|typed-code-vector)\n(.*?)```"
    for kind, block in re.findall(pattern, text, re.S):
        fields = {"kind": kind}
        for line in block.strip().splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        if kind == "code-hash-vector":
            for k in ("code", "normalized"):
                fields[k] = json.loads(fields[k])
        if kind == "typed-code-vector":
            for k in ("prefix", "pattern", "charset", "typed", "result"):
                if k in fields:
                    fields[k] = json.loads(fields[k])
        vectors[fields["name"]] = fields
    return vectors


def typed_vector(v):
    """A doc typed-code-vector as a TYPED_CODES entry (and its code hash, if any)."""
    want = v["result"] if "result" in v else "error " + v["error"]
    return ((v["prefix"], v["pattern"], v["charset"], v["check_char"] == "true", v["typed"],
             want), v.get("code_hash"))


def run_typed(prefix, pattern, charset, check_on, typed):
    try:
        return check_typed_code(typed, prefix, pattern, charset, check_on)
    except TypedCodeError as e:
        return "error " + e.kind


def selftest(doc=None):
    failures = []
    checks = 0

    def check(what, got, want):
        nonlocal checks
        checks += 1
        got = got.hex() if isinstance(got, (bytes, bytearray)) else got
        if got != want:
            failures.append(f"{what}:\n    got  {got}\n    want {want}")

    expected_tx = {k: dict(v) for k, v in EXPECTED_TX.items()}
    expected_codes = dict(EXPECTED_CODE_HASHES)
    if doc:
        from_doc = parse_doc_vectors(doc)
        for name in expected_tx:
            if name == "transition_pool_activate":
                continue  # the worked example, compared with the doc's generated vector below
            if name not in from_doc:
                failures.append(f"{doc}: no tx-vector named {name}")
                continue
            for key in ("body", "signer", "signature", "tx_id", "signed_tx"):
                check(f"{name}.{key}: copy in pos.py vs {doc}", expected_tx[name][key],
                      from_doc[name][key])
                expected_tx[name][key] = from_doc[name][key]
        if "transition_pool_activate" in from_doc:
            for key in ("body", "signer", "signature", "tx_id", "signed_tx"):
                check(f"transition_pool_activate.{key}: worked example vs {doc}",
                      expected_tx["transition_pool_activate"][key],
                      from_doc["transition_pool_activate"][key])
        for name, (code, normalized, h) in EXPECTED_CODE_HASHES.items():
            v = from_doc.get(name)
            if v is None:
                failures.append(f"{doc}: no code-hash-vector named {name}")
                continue
            check(f"{name}: copy in pos.py vs {doc}", (code, normalized, h),
                  (v["code"], v["normalized"], v["code_hash"]))
            expected_codes[name] = (v["code"], v["normalized"], v["code_hash"])
        typed_in_doc = {n: v for n, v in from_doc.items() if v["kind"] == "typed-code-vector"}
        for name, case in TYPED_CODES.items():
            if name not in typed_in_doc:
                failures.append(f"{doc}: no typed-code-vector named {name}")
            else:
                check(f"{name}: copy in pos.py vs {doc}", case, typed_vector(typed_in_doc[name])[0])
        for name, v in typed_in_doc.items():
            case, want_hash = typed_vector(v)
            got = run_typed(*case[:5])
            check(f"{name} (from {doc}): check_typed_code({case[4]!r})", got, case[5])
            if want_hash is not None:
                check(f"{name} (from {doc}): code hash", code_hash(got), want_hash)

    for what, got, want in PRIMITIVES:
        check(what, got, want)
    for n, want in BLAKE3_VECTORS.items():
        check(f"blake3 of the {n}-byte reference input", blake3(bytes(i % 251 for i in range(n))), want)
    check("blake3 derive_key of a 5000-byte input",
          blake3_derive_key(CODE_HASH_CONTEXT, bytes(i % 251 for i in range(5000))),
          BLAKE3_DERIVE_5000)

    for name, (seed_byte, build) in TX_CASES.items():
        want = expected_tx[name]
        body = build()
        check(f"{name}.body", body, want["body"])
        signer, signature, txid, signed = sign_tx("testchain", body, bytes([seed_byte] * 32))
        check(f"{name}.signer", signer, want["signer"])
        check(f"{name}.signature", signature, want["signature"])
        check(f"{name}.tx_id", txid, want["tx_id"])
        check(f"{name}.signed_tx", signed, want["signed_tx"])
    check("worked example signing message",
          signing_message("testchain", TX_CASES["transition_pool_activate"][1]()),
          EXPECTED_WORKED_MESSAGE)

    for name, (code, normalized, want) in expected_codes.items():
        check(f"{name}: normalize({code!r})", normalize_code(code), normalized)
        check(f"{name}: code_hash({code!r})", code_hash(code), want)
    for name, case in TYPED_CODES.items():
        check(f"{name}: check_typed_code({case[4]!r})", run_typed(*case[:5]), case[5])
    check("check character of the worked example", check_char("ABCDEFGHJKMN"), "3")

    for failure in failures:
        print(f"FAIL {failure}")
    source = f" (expected values read from {doc})" if doc else ""
    if failures:
        print(f"selftest: {len(failures)} of {checks} checks failed{source}")
        return 1
    print(f"selftest: all {checks} checks passed{source}: primitives, blake3, the worked "
          f"example, tx vectors {', '.join(TX_CASES)}, code hashes {', '.join(expected_codes)}, "
          f"typed codes {', '.join(TYPED_CODES)}")
    return 0


# ---------------------------------------------------------------------------------------
# The terminal: key file, HTTP, output.
# ---------------------------------------------------------------------------------------

# Exit statuses, the same as `cactus`.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTED = 0, 1, 2, 3
# Answers after which a request goes to the next node (bad gateway, mempool full or
# shutting down, gateway or commit timeout).
FAILOVER_STATUSES = (502, 503, 504)


class NodeError(Exception):
    """No node could be reached, or a node answered nonsense (exit status 1)."""


class LocalError(Exception):
    """A bad key file, code or argument, or a missing module (exit status 1)."""


def load_key(path):
    """A `cactusd` key file: {"public_key": hex, "secret_key": hex seed}."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        seed = bytes.fromhex(data["secret_key"])
        public = bytes.fromhex(data["public_key"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise LocalError(f"cannot read the key file {path}: {e}") from e
    if len(seed) != 32 or len(public) != 32:
        raise LocalError(f"{path}: public_key and secret_key must be 32 bytes each")
    if nacl is None:
        raise LocalError(NACL_MISSING)
    if bytes(nacl.signing.SigningKey(seed).verify_key) != public:
        raise LocalError(f"{path}: public_key does not belong to secret_key")
    return seed, public


def http(method, url, body=None, content_type=None, timeout=60):
    """Returns (HTTP status, parsed JSON or None, raw text)."""
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Accept", "application/json")
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        raise NodeError(f"cannot reach {url}: {getattr(e, 'reason', e)}") from e
    text = raw.decode("utf-8", "replace")
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return status, parsed, text


def parse_nodes(values):
    """Node URLs from repeated and comma-separated --node values, normalized, in order."""
    nodes = []
    for value in values:
        for url in value.split(","):
            url = url.strip().rstrip("/")
            if not url:
                continue
            if "://" not in url:
                url = "http://" + url
            if not re.match(r"https?://[^/?#]+", url):
                raise LocalError(f"--node {url!r}: a node URL is http(s)://HOST:PORT")
            if url not in nodes:
                nodes.append(url)
    if not nodes:
        raise LocalError("--node: no node URL given")
    return nodes


class Nodes:
    """The nodes of the chain, failing over from one to the next: a request that cannot
    reach a node, or that a node answers 502/503/504, goes to the next node with the same
    bytes, each node at most once; the node that answered is asked first next time."""

    def __init__(self, urls, verbose=False):
        self.urls = urls
        self.current = 0
        self.verbose = verbose

    def request(self, method, path, body=None, content_type=None):
        """(HTTP status, parsed JSON or None, raw text, node URL) of the first node that
        answers; the last answer if every node failed over; NodeError if none answered."""
        answer, unreachable = None, []
        for step in range(len(self.urls)):
            index = (self.current + step) % len(self.urls)
            node = self.urls[index]
            if self.verbose:
                print(f"{method} {node}{path}" + (f" ({len(body)} bytes)" if body else ""),
                      file=sys.stderr)
            try:
                status, reply, text = http(method, f"{node}{path}", body, content_type)
            except NodeError as e:
                unreachable.append(str(e))
                why = str(e)
            else:
                answer = (status, reply, text, node)
                if status not in FAILOVER_STATUSES:
                    self.current = index
                    return answer
                why = f"HTTP {status}"
            if step + 1 < len(self.urls):
                print(f"pos.py: node {node} failed ({why}); asking "
                      f"{self.urls[(index + 1) % len(self.urls)]}", file=sys.stderr)
        if answer is not None:
            return answer
        raise NodeError(f"cannot reach any node ({', '.join(self.urls)}): "
                        + "; ".join(unreachable))


def chain_id_of(nodes):
    status, body, text, node = nodes.request("GET", "/v1/status")
    if status != 200 or not isinstance(body, dict) or "chain_id" not in body:
        raise NodeError(f"GET {node}/v1/status answered {status}: {text[:300]}")
    return body["chain_id"]


def money(minor, currency):
    sign = "-" if minor < 0 else ""
    minor = abs(minor)
    return f"{sign}{minor // 100}.{minor % 100:02d} {currency}"


def events_of(reply):
    """The events of an applied tx (reply["result"]["events"]) or of a dry run that would
    apply (reply["events"]): objects tagged {"event": "redeemed", ...}, in order."""
    result = reply.get("result")
    events = result.get("events") if isinstance(result, dict) else reply.get("events")
    return [e for e in events or [] if isinstance(e, dict)]


def find_event(reply, name):
    """The first event `name` (snake_case) of an applied tx, or None."""
    return next((e for e in events_of(reply) if e.get("event") == name), None)


def token_text(token):
    """A TokenId's JSON ({"pool", "serial"}) as POOL/SERIAL; None stays None."""
    if isinstance(token, dict):
        return f"{token.get('pool')}/{token.get('serial')}"
    return token


def receipt_row(label, value):
    return f"{label:<30}{value:>14}"


def checkout_receipt(events, currency):
    """The receipt of a checkout from its events: the order total, each coupon's discount,
    what the balance paid per segment, what is left to pay, the points earned."""
    summary = next((e for e in events if e.get("event") == "checked_out"), None)
    if summary is None:
        return []
    cur = summary.get("currency") if isinstance(summary.get("currency"), str) else currency
    rows = [receipt_row("order total", money(summary.get("total_minor", 0), cur))]
    for e in events:
        if e.get("event") == "redeemed":
            token = token_text(e.get("token"))
            rows.append(receipt_row(f"  coupon {token or e.get('pool')}",
                                    "-" + money(e.get("discount_minor", 0), cur)))
    # A spend's amounts are in the segments' unit; balance_minor is what they paid in
    # money (the same when the segments hold money, points x point_value_minor otherwise).
    spent = [e for e in events if e.get("event") == "balance_changed" and e.get("op") == "spent"]
    units = sum(e.get("amount", 0) for e in spent)
    paid = summary.get("balance_minor", 0)
    for e in spent:
        amount = e.get("amount", 0)
        value = amount * paid // units if units else 0
        label = f"  paid from {e.get('segment')}"
        if units != paid:
            label += f" ({amount} point{'' if amount == 1 else 's'})"
        rows.append(receipt_row(label, "-" + money(value, cur)))
    rows.append(receipt_row("left to pay", money(summary.get("net_minor", 0), cur)))
    if summary.get("points"):
        rows.append(receipt_row("points earned", str(summary.get("points"))))
    for e in events:
        if e.get("event") == "tier_changed":
            rows.append(receipt_row("new tier", str(e.get("to"))))
    return rows


def void_lines(events):
    """What a void undid, from its events."""
    lines = []
    for e in events:
        kind = e.get("event")
        if kind == "rolled_back":
            token = token_text(e.get("token"))
            lines.append(f"  rolled back redemption {e.get('redemption')} of pool {e.get('pool')}"
                         + (f"; token {token} is redeemable again" if token else ""))
        elif kind == "balance_changed" and e.get("op") in ("refunded", "voided"):
            # In the segment's unit: minor units of money, or points.
            sign = "+" if e.get("credit") else "-"
            what = "refunded" if e.get("op") == "refunded" else "taken back"
            lines.append(f"  {sign}{e.get('amount')} {e.get('segment')} {what}")
        elif kind == "checkout_voided":
            lines.append(f"  checkout {e.get('checkout')} voided: its coupons are usable "
                         "again")
        elif kind == "tier_changed":
            lines.append(f"  tier {e.get('from')} -> {e.get('to')}")
    return lines


def report(action, status, reply, text, local_id, currency, as_json):
    """Prints the node's answer; returns the exit status."""
    if as_json:
        print(text if text else json.dumps({"http_status": status}))
    reply = reply if isinstance(reply, dict) else {}
    node_id = reply.get("tx_id")
    if node_id and node_id != local_id:
        print(f"pos.py: the node's tx id {node_id} differs from ours {local_id}: "
              "the encoding is wrong", file=sys.stderr)
        return EXIT_FAILED
    error = reply.get("error") if isinstance(reply.get("error"), dict) else None
    ok = 200 <= status < 300 and error is None
    # Committed and rejected (a tx view), or a dry run that would be (a validate view):
    # both say status "rejected". Anything else not ok is the node refusing the request.
    rejected = not ok and reply.get("status") == "rejected"
    failed = EXIT_REJECTED if rejected else EXIT_FAILED
    if as_json:
        return EXIT_OK if ok else failed
    if ok:
        if action == "validate":
            print(f"valid: tx {local_id} would apply")
        else:
            print(f"applied: tx {local_id} at height {reply.get('height')}")
        receipt = checkout_receipt(events_of(reply), currency)
        redeemed = find_event(reply, "redeemed")
        if receipt:
            for row in receipt:
                print(row)
            if action != "validate":
                print(f"checkout {local_id}; undo it all with `pos.py void {local_id}`")
        elif action == "void" or (action == "validate" and void_lines(events_of(reply))):
            for line in void_lines(events_of(reply)) or [
                    f"  result: {json.dumps(reply.get('result'))}"]:
                print(line)
        elif redeemed is not None:
            discount = redeemed.get("discount_minor")
            eligible = redeemed.get("eligible_minor")
            cur = redeemed.get("currency", currency)
            cur = cur if isinstance(cur, str) else currency
            token = token_text(redeemed.get("token"))
            print(f"  discount {discount} minor units ({money(discount, cur)}) on eligible "
                  f"{eligible} ({money(eligible, cur)})" + (f", token {token}" if token else ""))
        elif find_event(reply, "rolled_back") is not None:
            rolled = find_event(reply, "rolled_back")
            token = token_text(rolled.get("token"))
            print(f"  rolled back redemption {rolled.get('redemption')}"
                  + (f"; token {token} is redeemable again" if token else ""))
        elif action != "validate":
            print(f"  result: {json.dumps(reply.get('result'))}")
        return 0
    code = error.get("code") if error else f"http_{status}"
    message = error.get("message", "") if error else text[:300]
    if not rejected:
        print(f"refused by the node: {code}: {message} (HTTP {status})")
        return EXIT_FAILED
    print(f"rejected: {code}: {message}")
    if reply.get("height") is not None and action != "validate":
        print(f"  tx {reply.get('tx_id', local_id)} recorded at height {reply.get('height')}")
    return EXIT_REJECTED


def parse_line(text):
    category, sep, amount = text.rpartition(":")
    if not sep or not category or not amount.isdigit():
        raise argparse.ArgumentTypeError(f"a line is CATEGORY:AMOUNT_MINOR, not {text!r}")
    return category, int(amount)


def parse_token(text):
    pool, sep, serial = text.rpartition("/")
    if not sep or not pool or not serial.isdigit():
        raise argparse.ArgumentTypeError(f"a token is POOL/SERIAL, not {text!r}")
    return pool, int(serial)


def parse_hex32(text):
    try:
        b = bytes.fromhex(text)
    except ValueError:
        b = b""
    if len(b) != 32:
        raise argparse.ArgumentTypeError(f"expected 64 hex digits, not {text!r}")
    return b


def u64_arg(text):
    v = int(text)
    if not 0 <= v < 2 ** 64:
        raise argparse.ArgumentTypeError(f"{text} is not a u64")
    return v


def submit(args, body):
    seed, public = args.seed, args.public
    _signer, _signature, txid, signed = sign_tx(args.chain_id, body, seed)
    path = "/v1/validate" if args.dry_run else "/v1/txs"
    if args.verbose:
        print(f"body      {body.hex()}", file=sys.stderr)
        print(f"signer    {public.hex()}", file=sys.stderr)
        print(f"tx id     {txid.hex()}", file=sys.stderr)
    # The same signed bytes to every node tried: one tx id, executed at most once.
    status, reply, text, _node = args.nodes.request("POST", path, signed,
                                                    "application/octet-stream")
    return status, reply, text, txid.hex()


def typed_code_of(args, code=None):
    """The code to hash (`code`, or --code of a redeem): checked against the codes' format
    when one is given."""
    code = args.code if code is None else code
    if not (args.check_char or args.pattern or args.prefix or args.charset):
        return code
    try:
        return check_typed_code(code, args.prefix or "", args.pattern or DEFAULT_PATTERN,
                                args.charset or DEFAULT_CHARSET, args.check_char)
    except TypedCodeError as e:
        raise LocalError(f"code {code!r} is malformed: {e}; nothing was sent") from e


def checkout_coupons(args):
    """The coupons of a checkout in the order given: each --code checked as redeem checks
    it (and hashed), each --token as it is; refused here: more than 8, or one twice."""
    coupons = []
    for kind, value in args.coupons or []:
        target = code_hash(typed_code_of(args, value)) if kind == "code" else value
        if target in coupons:
            raise LocalError(f"checkout: coupon {value if kind == 'token' else repr(value)} "
                             "is given twice; nothing was sent")
        coupons.append(target)
    if len(coupons) > MAX_CHECKOUT_COUPONS:
        raise LocalError(f"checkout: {len(coupons)} coupons, at most {MAX_CHECKOUT_COUPONS} "
                         "in one checkout; nothing was sent")
    return coupons


def check_order_ref(text):
    """1 to 64 printable ASCII characters (docs/encoding.md, the checkout's step 4)."""
    if not 1 <= len(text) <= MAX_ORDER_REF_BYTES or any(not " " <= c <= "~" for c in text):
        raise LocalError(f"--order-ref {text!r}: 1 to {MAX_ORDER_REF_BYTES} printable ASCII "
                         "characters")
    return text


def cmd_redeem(args):
    if args.token is not None and args.member is None:
        print("pos.py: note: redeeming a token by id needs --member (its holder)", file=sys.stderr)
    lines = args.line or []
    if sum(a for _, a in lines) > args.total_minor:
        raise LocalError("redeem: the lines add up to more than --total-minor")
    code = typed_code_of(args) if args.code is not None else None
    body = redeem_body(args.chain_id, args.nonce, args.valid_until_ms, code=code,
                       token=args.token, member=args.member, currency=args.currency,
                       total_minor=args.total_minor, lines=lines, memo=args.memo)
    status, reply, text, local_id = submit(args, body)
    return report("validate" if args.dry_run else "redeem", status, reply, text, local_id,
                  args.currency, args.json)


def cmd_checkout(args):
    lines = args.line or []
    if sum(a for _, a in lines) > args.total_minor:
        raise LocalError("checkout: the lines add up to more than --total-minor")
    coupons = checkout_coupons(args)
    pay = None
    if args.pay is not None:
        # By ascending variant index, each once (docs/encoding.md, struct BalanceSpend).
        pay = (sorted(set(args.pay_segment), key=SEGMENTS.get), args.pay)
    body = checkout_body(args.chain_id, args.nonce, args.valid_until_ms, program=args.program,
                         member=args.member, order_ref=args.order_ref, currency=args.currency,
                         total_minor=args.total_minor, lines=lines, coupons=coupons, pay=pay,
                         earn=not args.no_earn, memo=args.memo)
    status, reply, text, local_id = submit(args, body)
    return report("validate" if args.dry_run else "checkout", status, reply, text, local_id,
                  args.currency, args.json)


def cmd_void(args):
    body = void_body(args.chain_id, args.nonce, args.valid_until_ms, args.tx, memo=args.memo)
    status, reply, text, local_id = submit(args, body)
    return report("validate" if args.dry_run else "void", status, reply, text, local_id,
                  "", args.json)


def cmd_rollback(args):
    body = rollback_body(args.chain_id, args.nonce, args.valid_until_ms, args.redemption,
                         memo=args.memo)
    status, reply, text, local_id = submit(args, body)
    return report("validate" if args.dry_run else "rollback", status, reply, text, local_id,
                  "", args.json)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="pos.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--node", action="append", metavar="URL[,URL...]",
                       help="node URL; several: repeat, or separate with commas, to fail over "
                            "(default $CACTUS_NODE or http://127.0.0.1:7101)")
        p.add_argument("--key", default=os.environ.get("CACTUS_KEY", ".cactus-dev/keys/terminal.key"),
                       help="terminal key file (default $CACTUS_KEY or .cactus-dev/keys/terminal.key)")
        p.add_argument("--chain-id", help="chain id (default: asked from GET /v1/status)")
        p.add_argument("--nonce", type=u64_arg, help="tx nonce (default: random)")
        p.add_argument("--valid-for", type=int, default=120, metavar="SECONDS",
                       help="the tx is stale after now + SECONDS (default 120)")
        p.add_argument("--dry-run", action="store_true",
                       help="only check the tx: POST /v1/validate (writes nothing)")
        p.add_argument("--json", action="store_true", help="print the node's JSON answer")
        p.add_argument("-v", "--verbose", action="store_true", help="show the bytes sent")
        p.add_argument("--memo", metavar="TEXT",
                       help="a memo the tx carries, signed with it (e.g. the cashier's id): "
                            "1 to 128 bytes, no control characters")

    def code_format(p):
        p.add_argument("--check-char", action="store_true",
                       help="codes end with a check character: verify it before sending")
        p.add_argument("--pattern", help="the codes' pattern (default ####-####-####)")
        p.add_argument("--prefix", help="the codes' fixed prefix, e.g. SPRING-")
        p.add_argument("--charset", help="the codes' alphabet (default "
                       "0123456789ABCDEFGHJKMNPQRSTVWXYZ)")

    def order(p):
        p.add_argument("--currency", default="EUR", help="ISO 4217 code (default EUR)")
        p.add_argument("--total-minor", type=u64_arg, required=True, metavar="N",
                       help="basket total before discounts, minor units (5990 = 59.90)")
        p.add_argument("--line", type=parse_line, action="append", metavar="CATEGORY:N",
                       help="an amount of the basket in a category (repeatable)")

    redeem = sub.add_parser("redeem", help="redeem a coupon code (or token) for an order")
    common(redeem)
    redeem.add_argument("--code", help="the code as typed or scanned (normalized and hashed here)")
    redeem.add_argument("--token", type=parse_token, metavar="POOL/SERIAL",
                        help="a wallet token instead of a code (needs --member)")
    code_format(redeem)
    redeem.add_argument("--member", type=parse_hex32, metavar="HEX",
                        help="the redeeming member's id (64 hex digits)")
    order(redeem)
    redeem.set_defaults(run=cmd_redeem)

    checkout = sub.add_parser(
        "checkout", help="one order of a loyalty member: coupons, a balance spend and points "
        "earned, all or nothing")
    common(checkout)
    checkout.add_argument("--program", required=True, metavar="ORG",
                          help="the loyalty program's org id (its rules, balances and points)")
    checkout.add_argument("--member", type=parse_hex32, required=True, metavar="HEX",
                          help="the member's id (64 hex digits)")
    checkout.add_argument("--order-ref", required=True, metavar="REF",
                          help="the order's reference at your org (checks out once)")
    order(checkout)
    checkout.add_argument("--code", dest="coupons", action="append",
                          type=lambda text: ("code", text), metavar="CODE",
                          help="a coupon code as typed or scanned (repeatable; coupons apply "
                               "in the order given)")
    checkout.add_argument("--token", dest="coupons", action="append",
                          type=lambda text: ("token", parse_token(text)), metavar="POOL/SERIAL",
                          help="a wallet coupon of the member (repeatable)")
    code_format(checkout)
    checkout.add_argument("--pay-segment", action="append", choices=list(SEGMENTS),
                          type=lambda text: text.replace("-", "_"), metavar="SEGMENT",
                          help="a balance segment that pays (repeatable, one unit): "
                               + ", ".join(SEGMENTS))
    checkout.add_argument("--pay", type=u64_arg, metavar="AMOUNT",
                          help="what the balance pays, in the segments' unit: minor units of "
                               "money (2000 = 20.00), or whole points")
    checkout.add_argument("--no-earn", action="store_true",
                          help="earn no points on what is left to pay")
    checkout.set_defaults(run=cmd_checkout)

    void = sub.add_parser("void", help="undo a checkout (or an earn, load or spend) by its tx id")
    common(void)
    void.add_argument("tx", type=parse_hex32, metavar="TX_ID")
    void.set_defaults(run=cmd_void)

    rollback = sub.add_parser("rollback", help="roll back (refund) a redemption by its tx id")
    common(rollback)
    rollback.add_argument("redemption", type=parse_hex32, metavar="TX_ID")
    rollback.set_defaults(run=cmd_rollback)

    test = sub.add_parser("selftest", help="check the encoder against docs/encoding.md's vectors")
    test.add_argument("--doc", help="also read the expected values from this encoding.md")

    args = parser.parse_args(argv)
    if args.command == "selftest":
        if nacl is None:
            print(NACL_MISSING, file=sys.stderr)
            return EXIT_FAILED
        return selftest(args.doc)
    if args.command == "redeem" and (args.code is None) == (args.token is None):
        parser.error("redeem: give --code CODE or --token POOL/SERIAL")
    if args.command == "checkout":
        if (args.pay is None) != (args.pay_segment is None):
            parser.error("checkout: --pay AMOUNT and --pay-segment SEGMENT go together")
        if args.pay == 0:
            parser.error("checkout: --pay must be above 0")
        if not args.coupons and args.pay is None:
            parser.error("checkout: give a coupon (--code, --token) or a balance spend (--pay)")
    if args.nonce is None:
        args.nonce = int.from_bytes(os.urandom(8), "little")
    args.valid_until_ms = int(time.time() * 1000) + args.valid_for * 1000
    try:
        if args.command == "redeem" and args.code is not None:
            typed_code_of(args)  # a malformed code fails before any request
        if args.command == "checkout":
            check_order_ref(args.order_ref)
            checkout_coupons(args)  # malformed codes, too many coupons: before any request
        if args.memo is not None:
            check_memo(args.memo)  # so does a malformed memo
        args.nodes = Nodes(parse_nodes(args.node or [os.environ.get(
            "CACTUS_NODE", "http://127.0.0.1:7101")]), args.verbose)
        args.seed, args.public = load_key(args.key)
        if args.chain_id is None:
            args.chain_id = chain_id_of(args.nodes)
        return args.run(args)
    except (LocalError, NodeError) as e:
        print(f"pos.py: {e}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
