#!/usr/bin/env python3
"""Loads a Couponcactus node's ledger events into PostgreSQL, exactly once per event.

It follows the node's event API (`GET /v1/events`, a signed read: docs/api.md, "Signed
reads" and "Events") with a cursor, and writes each page of events together with the
cursor in ONE PostgreSQL transaction:

    events_to_postgres.py --node http://127.0.0.1:7101 --key .cactus-dev/keys/auditor.key \\
                          --dsn "host=127.0.0.1 port=5432 dbname=bi user=loader"

Exactly once: every event is a row of `cactus_events` keyed by its event id
(`evt_<log index>_<index>`, unique and totally ordered), and the consumer's position is a row
of `cactus_cursor`; both change in the same transaction, so a crash before the commit loses
the page and the cursor alike (the page is fetched again on restart), and a crash after it
keeps both. On start it resumes from the stored cursor. Several consumers (`--consumer
NAME`, e.g. with different `--types`) may share the database; a consumer's cursor row is
locked while a page commits, so two processes of the same name cannot both load a page.

The nodes are --node URL (repeat, or separate with commas; default $CACTUS_NODE or
http://127.0.0.1:7101); a request that cannot reach a node, or that a node answers
429/5xx, goes to the next node, and after a round of failures the consumer waits (0.5 s,
doubling, at most 30 s) and tries again, --retries times in a row (default 8) before it
gives up. PostgreSQL connection losses are retried the same way. The key is --key FILE
(or $CACTUS_KEY), a `cactusd` key file (JSON with hex `public_key` and `secret_key`, the
32-byte ed25519 seed) of a registered key: a consortium auditor sees every event, an org's
keys the events of their org (docs/api.md, "Confidentiality").

By default it follows the chain forever (long polls of --wait seconds); with
--until-caught-up it stops once a page comes back empty. SIGTERM and Ctrl-C stop it
after the current page (a second one at once: whatever was not committed is fetched again
on the next start).

Exit status: 0 done (caught up, or stopped); 1 an unexpected answer or error; 2 the command
line does not parse; 3 a bad key file; 4 no node reachable (after the retries); 5
PostgreSQL unreachable or refusing (after the retries); 6 the node refused the request (401
or 403: unknown or revoked key, bad signature, clock more than 60 s off; 400: a bad cursor
or filter).

Dependencies: the Python standard library, PyNaCl (signed reads) and psycopg2 (Debian:
`apt-get install python3-nacl python3-psycopg2`; pip: `pip install -r requirements.txt`).
"""

import argparse
import json
import os
import re
import signal
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

try:
    import nacl.signing
except ImportError:  # pragma: no cover - reported when used
    nacl = None
try:
    import psycopg2
    import psycopg2.extras
except ImportError:  # pragma: no cover - reported when used
    psycopg2 = None

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_KEY, EXIT_NODE, EXIT_POSTGRES, EXIT_REFUSED = range(7)

# Answers after which the next node is asked (rate limited, node errors, gateway errors).
RETRY_STATUSES = (429, 500, 502, 503, 504)
# The API's page bound and long-poll bound (docs/api.md).
MAX_LIMIT, MAX_WAIT = 1000, 30
MAX_BACKOFF = 30.0
READ_TAG = b"couponcactus/read/v1"
EVENT_ID = re.compile(r"^evt_(0|[1-9][0-9]*)_([0-9]+)$")


class Failure(Exception):
    """Stops the consumer with exit status `code` and `message`."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class Retryable(Exception):
    """A node or PostgreSQL failure worth retrying after a pause; `code` if it persists."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------------------
# The node: key file, signed reads, failover.
# ---------------------------------------------------------------------------------------

def load_key(path):
    """A `cactusd` key file: {"public_key": hex, "secret_key": hex seed} → SigningKey."""
    if nacl is None:
        raise Failure(EXIT_KEY, "PyNaCl is missing: apt-get install python3-nacl "
                                "(or python3 -m pip install --user pynacl)")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        seed, public = bytes.fromhex(data["secret_key"]), bytes.fromhex(data["public_key"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise Failure(EXIT_KEY, f"cannot read the key file {path}: {e}") from e
    if len(seed) != 32 or len(public) != 32:
        raise Failure(EXIT_KEY, f"{path}: public_key and secret_key must be 32 bytes each")
    key = nacl.signing.SigningKey(seed)
    if bytes(key.verify_key) != public:
        raise Failure(EXIT_KEY, f"{path}: public_key does not belong to secret_key")
    return key


def read_message(chain_id, time_ms, path):
    """docs/api.md, "Signed reads": tag, u64le len, chain id, u64le time, "GET ", path."""
    chain = chain_id.encode("utf-8")
    return (READ_TAG + struct.pack("<Q", len(chain)) + chain + struct.pack("<Q", time_ms)
            + b"GET " + path.encode("utf-8"))


def parse_nodes(values):
    """Node URLs from repeated and comma-separated --node values, normalized, in order."""
    nodes = []
    for value in values:
        for url in value.split(","):
            url = url.strip().rstrip("/")
            if url and "://" not in url:
                url = "http://" + url
            if url and not re.match(r"^https?://[^/?#]+$", url):
                raise Failure(EXIT_USAGE, f"--node {url!r}: a node URL is http(s)://HOST:PORT")
            if url and url not in nodes:
                nodes.append(url)
    if not nodes:
        raise Failure(EXIT_USAGE, "--node: no node URL given")
    return nodes


def http_get(url, headers, timeout):
    """(HTTP status, parsed JSON or None, text); raises OSError when unreachable."""
    request = urllib.request.Request(url, method="GET", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except urllib.error.URLError as e:
        raise OSError(str(getattr(e, "reason", e))) from e
    text = raw.decode("utf-8", "replace")
    try:
        return status, (json.loads(text) if text else None), text
    except ValueError:
        return status, None, text


class Nodes:
    """Signed GETs to the first node that answers; the one that answered is asked first
    next time. Raises Retryable when every node failed, Failure when one refused."""

    def __init__(self, urls, key, chain_id=None, log=None):
        self.urls, self.key, self.chain_id = urls, key, chain_id
        self.current, self.log = 0, log or (lambda _m: None)

    def get(self, path, signed=True, timeout=60):
        failures = []
        for step in range(len(self.urls)):
            index = (self.current + step) % len(self.urls)
            url = self.urls[index]
            try:
                status, body, text = http_get(url + path, self.headers(path, signed), timeout)
            except (OSError, ValueError) as e:
                failures.append(f"{url}: {e}")
                continue
            if status in RETRY_STATUSES:
                failures.append(f"{url}: HTTP {status} {text[:200]}")
                continue
            for failure in failures:
                self.log(f"events_to_postgres: node failed ({failure}); {url} answered")
            self.current = index
            return self.check(url, path, status, body, text)
        raise Retryable(EXIT_NODE, "no node answered: " + "; ".join(failures))

    def headers(self, path, signed):
        headers = {"Accept": "application/json"}
        if signed:
            now = int(time.time() * 1000)
            signature = self.key.sign(read_message(self.chain_id, now, path)).signature
            headers.update({"x-cactus-key": bytes(self.key.verify_key).hex(),
                            "x-cactus-time": str(now), "x-cactus-signature": signature.hex()})
        return headers

    @staticmethod
    def check(url, path, status, body, text):
        if status == 200 and isinstance(body, dict):
            return body
        error = body.get("error") if isinstance(body, dict) else None
        what = (f"{error.get('code')}: {error.get('message')}" if isinstance(error, dict)
                else text[:300])
        if status in (400, 401, 403, 404):
            raise Failure(EXIT_REFUSED, f"{url} refused GET {path} (HTTP {status}): {what}")
        raise Failure(EXIT_FAILED, f"{url} answered GET {path} with HTTP {status}: {what}")

    def learn_chain_id(self):
        status = self.get("/v1/status", signed=False)
        if not isinstance(status.get("chain_id"), str):
            raise Failure(EXIT_FAILED, f"GET /v1/status has no chain_id: {status}")
        self.chain_id = status["chain_id"]


def events_path(after, types, pool, limit, wait):
    query = [("limit", str(limit)), ("wait", str(wait))]
    if after:
        query.insert(0, ("after", after))
    if types:
        query.append(("types", ",".join(types)))
    if pool:
        query.append(("pool", pool))
    return "/v1/events?" + urllib.parse.urlencode(query, safe=",")


def check_page(page, after):
    """The page's events and next cursor, checked: well formed, strictly after `after`, in
    order. A node that answers otherwise is not to be loaded from."""
    events, next_cursor = page.get("events"), page.get("next")
    well_formed_next = next_cursor is None or EVENT_ID.match(str(next_cursor))
    if not isinstance(events, list) or not well_formed_next:
        raise Failure(EXIT_FAILED, f"malformed events page: {json.dumps(page)[:300]}")
    last = event_key(after) if after else None
    for event in events:
        key = event_key(event.get("id") if isinstance(event, dict) else None)
        if last is not None and key <= last:
            raise Failure(EXIT_FAILED, f"the node sent {event['id']} after {after}: out of order")
        last = key
    if next_cursor is not None and last is not None and event_key(next_cursor) < last:
        raise Failure(EXIT_FAILED, f"next cursor {next_cursor} is before the page's last event")
    return events, next_cursor


def event_key(event_id):
    match = EVENT_ID.match(event_id) if isinstance(event_id, str) else None
    if match is None:
        raise Failure(EXIT_FAILED, f"malformed event id {event_id!r}")
    return int(match.group(1)), int(match.group(2))


# ---------------------------------------------------------------------------------------
# PostgreSQL: schema, one transaction per page.
# ---------------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS cactus_events (
    id                text PRIMARY KEY,            -- evt_<log_index>_<idx>
    log_index         bigint NOT NULL,
    idx               integer NOT NULL,
    type              text NOT NULL,               -- coupon.redeemed, tx.rejected, ...
    height            bigint NOT NULL,
    time              timestamptz NOT NULL,        -- block time
    time_ms           bigint NOT NULL,
    tx_id             text NOT NULL,
    tx_index          integer NOT NULL,
    signer            text NOT NULL,
    signer_org        text,
    org               text,
    pool              text,
    token_serial      numeric(20, 0),
    member            text,
    store             text,
    channel           text,
    currency          text,
    order_total_minor numeric(20, 0),
    eligible_minor    numeric(20, 0),
    discount_minor    numeric(20, 0),
    pool_seq          bigint,
    token_seq         bigint,
    tx_kind           text,                        -- rejected txs: the tx kind
    reject_reason     text,                        -- rejected txs: the reason code
    event             jsonb NOT NULL,              -- the whole event, as the node sent it
    loaded_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (log_index, idx)
);
CREATE INDEX IF NOT EXISTS cactus_events_type_time ON cactus_events (type, time);
CREATE INDEX IF NOT EXISTS cactus_events_pool ON cactus_events (pool, pool_seq);
CREATE TABLE IF NOT EXISTS cactus_cursor (
    consumer    text PRIMARY KEY,
    after_id    text,                              -- the next page starts after this id
    events      bigint NOT NULL DEFAULT 0,         -- events this consumer loaded
    log_size    bigint,                            -- the node's log size at the last page
    updated_at  timestamptz NOT NULL DEFAULT now()
);
"""

COLUMNS = ("id", "log_index", "idx", "type", "height", "time", "time_ms", "tx_id", "tx_index",
           "signer", "signer_org", "org", "pool", "token_serial", "member", "store", "channel",
           "currency", "order_total_minor", "eligible_minor", "discount_minor", "pool_seq",
           "token_seq", "tx_kind", "reject_reason", "event")
INSERT = (f"INSERT INTO cactus_events ({', '.join(COLUMNS)}) VALUES %s "
          "ON CONFLICT (id) DO NOTHING")
ROW_TEMPLATE = "(" + ", ".join("to_timestamp(%s / 1000.0)" if c == "time" else "%s"
                               for c in COLUMNS) + ")"


def row_of(event):
    """The typed columns of one event (the API's LedgerEvent JSON), plus the whole JSON."""
    log_index, idx = event_key(event.get("id"))
    amounts = event.get("amounts") or {}
    token = event.get("token") or {}
    detail = event.get("detail") or {}
    rejection = detail.get("rejection") or {} if detail.get("outcome") == "rejected" else {}
    return (event["id"], log_index, idx, event["type"], event["height"], event["time_ms"],
            event["time_ms"], event["tx_id"], event["tx_index"], text_of(event.get("signer")),
            event.get("signer_org"), event.get("org"), event.get("pool"), token.get("serial"),
            text_of(event.get("member")), event.get("store"), event.get("channel"),
            amounts.get("currency"), amounts.get("order_total_minor"),
            amounts.get("eligible_minor"), amounts.get("discount_minor"),
            event.get("pool_seq"), event.get("token_seq"), detail.get("tx_kind"),
            rejection.get("reason"), psycopg2.extras.Json(event))


def text_of(value):
    return None if value is None else value if isinstance(value, str) else json.dumps(value)


class Database:
    """The consumer's PostgreSQL connection; every method is one transaction."""

    def __init__(self, dsn, consumer):
        if psycopg2 is None:
            raise Failure(EXIT_POSTGRES, "psycopg2 is missing: apt-get install python3-psycopg2 "
                                         "(or python3 -m pip install --user psycopg2-binary)")
        self.dsn, self.consumer, self.conn = dsn, consumer, None

    def connect(self):
        if self.conn is not None and not self.conn.closed:
            return self.conn
        try:
            self.conn = psycopg2.connect(self.dsn, connect_timeout=10,
                                         application_name="events_to_postgres")
        except psycopg2.OperationalError as e:
            raise Retryable(EXIT_POSTGRES, f"cannot connect to PostgreSQL: {one_line(e)}") from e
        return self.conn

    def run(self, work):
        """work(cursor) in one transaction; connection losses are Retryable."""
        conn = self.connect()
        try:
            with conn, conn.cursor() as cur:
                return work(cur)
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
            self.close()
            raise Retryable(EXIT_POSTGRES, f"PostgreSQL: {one_line(e)}") from e
        except psycopg2.Error as e:
            raise Failure(EXIT_POSTGRES, f"PostgreSQL refused: {one_line(e)}") from e

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except psycopg2.Error:
                pass
            self.conn = None

    def setup(self):
        """Creates the tables (if missing) and this consumer's cursor row; its cursor."""
        def work(cur):
            cur.execute("SELECT pg_advisory_xact_lock(7101)")  # concurrent first starts
            cur.execute(SCHEMA)
            cur.execute("INSERT INTO cactus_cursor (consumer) VALUES (%s) "
                        "ON CONFLICT (consumer) DO NOTHING", (self.consumer,))
            cur.execute("SELECT after_id FROM cactus_cursor WHERE consumer = %s",
                        (self.consumer,))
            return cur.fetchone()[0]
        return self.run(work)

    def commit_page(self, after, events, next_cursor, log_size):
        """Stores `events` and moves the cursor from `after` to `next_cursor`, atomically.
        Returns the rows inserted, or None if the cursor is no longer `after` (another
        process of this consumer moved it: nothing is written)."""
        def work(cur):
            cur.execute("SELECT after_id FROM cactus_cursor WHERE consumer = %s FOR UPDATE",
                        (self.consumer,))
            row = cur.fetchone()
            if row is None or row[0] != after:
                return None
            inserted = 0
            if events:
                rows = psycopg2.extras.execute_values(cur, INSERT + " RETURNING 1",
                                                      [row_of(e) for e in events],
                                                      template=ROW_TEMPLATE, page_size=200,
                                                      fetch=True)
                inserted = len(rows)
            cur.execute("UPDATE cactus_cursor SET after_id = %s, events = events + %s, "
                        "log_size = %s, updated_at = now() WHERE consumer = %s",
                        (next_cursor, inserted, log_size, self.consumer))
            return inserted
        return self.run(work)


def one_line(error):
    return " ".join(str(error).split())


# ---------------------------------------------------------------------------------------
# The loop.
# ---------------------------------------------------------------------------------------

class Consumer:
    def __init__(self, args, nodes, db):
        self.args, self.nodes, self.db = args, nodes, db
        self.after, self.batches, self.loaded, self.stopping = None, 0, 0, False

    def say(self, message):
        if not self.args.quiet:
            print(message, flush=True)

    def retrying(self, step):
        """step() until it does not raise Retryable, pausing with backoff between tries."""
        delay, failures = 0.5, 0
        while True:
            try:
                return step()
            except Retryable as e:
                failures += 1
                if failures > self.args.retries or self.stopping:
                    raise Failure(e.code, str(e)) from e
                print(f"events_to_postgres: {e}; retry {failures}/{self.args.retries} in "
                      f"{delay:g} s", file=sys.stderr, flush=True)
                time.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)

    def run(self):
        self.after = self.retrying(self.db.setup)
        self.say(f"consumer {self.args.consumer}: resuming after {self.after or 'the start'}")
        while not self.stopping:
            if self.args.max_batches is not None and self.batches >= self.args.max_batches:
                break
            if self.batch() == 0 and self.args.until_caught_up:
                break
        self.say(f"stopped: cursor {self.after or 'the start'}, {self.loaded} events loaded "
                 f"in {self.batches} batches")
        return EXIT_OK

    def batch(self):
        """Fetches and commits one page; the number of events it held."""
        wait = 0 if self.args.until_caught_up else self.args.wait
        path = events_path(self.after, self.args.types, self.args.pool, self.args.limit, wait)
        page = self.retrying(lambda: self.nodes.get(path, timeout=wait + 30))
        events, next_cursor = check_page(page, self.after)
        if self.args.crash_after_fetch is not None and self.batches >= self.args.crash_after_fetch:
            os.kill(os.getpid(), signal.SIGKILL)  # test hook: die between fetch and commit
        moved = next_cursor or (events[-1]["id"] if events else self.after)
        if not events and moved == self.after:
            return 0
        inserted = self.retrying(lambda: self.db.commit_page(self.after, events, moved,
                                                             page.get("log_size")))
        if inserted is None:
            self.after = self.retrying(self.db.setup)
            self.say(f"the cursor is no longer where this page started (another process of "
                     f"this consumer, or a commit whose answer was lost); resuming after "
                     f"{self.after}")
            return len(events)
        self.after, self.batches, self.loaded = moved, self.batches + 1, self.loaded + inserted
        self.say(f"batch {self.batches}: {inserted} of {len(events)} events stored, "
                 f"cursor {moved}, log size {page.get('log_size')}")
        return len(events)


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="events_to_postgres.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--node", action="append", metavar="URL[,URL...]",
                        help="node URL; several: repeat, or separate with commas, to fail over "
                             "(default $CACTUS_NODE or http://127.0.0.1:7101)")
    parser.add_argument("--key", default=os.environ.get("CACTUS_KEY",
                                                        ".cactus-dev/keys/auditor.key"),
                        help="reader key file (default $CACTUS_KEY or "
                             ".cactus-dev/keys/auditor.key)")
    parser.add_argument("--dsn", default=os.environ.get("CACTUS_PG_DSN", ""),
                        help="libpq connection string (default $CACTUS_PG_DSN; empty: the "
                             "PGHOST, PGPORT, PGDATABASE, PGUSER variables)")
    parser.add_argument("--consumer", default="default",
                        help="the cursor's name (default 'default')")
    parser.add_argument("--types", type=lambda s: [t for t in s.split(",") if t],
                        help="only these event types, comma separated (e.g. coupon.redeemed)")
    parser.add_argument("--pool", help="only the events of this pool")
    parser.add_argument("--limit", type=int, default=500, metavar="N",
                        help=f"events per page, 1 to {MAX_LIMIT} (default 500)")
    parser.add_argument("--wait", type=int, default=25, metavar="SECONDS",
                        help=f"long-poll for new events, 0 to {MAX_WAIT} (default 25)")
    parser.add_argument("--retries", type=int, default=8, metavar="N",
                        help="consecutive failed attempts before giving up (default 8)")
    parser.add_argument("--until-caught-up", action="store_true",
                        help="stop once a page comes back empty instead of following")
    parser.add_argument("--max-batches", type=int, metavar="N", help="stop after N pages")
    parser.add_argument("--chain-id", help="chain id (default: asked from GET /v1/status)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.add_argument("--crash-after-fetch", type=int, metavar="N", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.limit <= MAX_LIMIT or not 0 <= args.wait <= MAX_WAIT or args.retries < 0:
        parser.error(f"--limit is 1 to {MAX_LIMIT}, --wait 0 to {MAX_WAIT}, --retries >= 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    db = None
    try:
        nodes = parse_nodes(args.node or [os.environ.get("CACTUS_NODE",
                                                          "http://127.0.0.1:7101")])
        key = load_key(args.key)
        db = Database(args.dsn, args.consumer)
        log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
        consumer = Consumer(args, Nodes(nodes, key, args.chain_id, log=log), db)

        def stop(_signum, _frame):
            if consumer.stopping:  # a second signal: now (an open transaction rolls back)
                raise SystemExit(EXIT_OK)
            consumer.stopping = True
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if consumer.nodes.chain_id is None:
            consumer.retrying(consumer.nodes.learn_chain_id)
        return consumer.run()
    except Failure as e:
        print(f"events_to_postgres: {e}", file=sys.stderr)
        return e.code
    finally:
        if db is not None:
            db.close()


if __name__ == "__main__":
    sys.exit(main())
