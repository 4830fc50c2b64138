//! The events-to-PostgreSQL example (`examples/events-to-postgres`) against a real
//! `cactusd --dev` node and a real PostgreSQL server (Debian's `postgresql`, started by the
//! test in a temp dir: `tests/src/postgres.rs`).
//!
//! The consumer follows `GET /v1/events` with a cursor and stores each page with the cursor
//! in one transaction. Checked here: after a workload (pools, codes, allocations,
//! redemptions, a rollback, rejections) the table holds every event of the API exactly
//! once, in order, with the node's JSON; a consumer killed with SIGKILL between a fetch and
//! its commit, or at a random point while following, leaves exactly a prefix of the events
//! (no gap) with the cursor at its end, and its restart loads the rest without loading any
//! event twice; a type filter loads exactly the filtered events; the example BI queries
//! give the figures recomputed from the API's events; bad inputs (key file, unreachable
//! node or PostgreSQL, a key the chain does not know, a bad filter, bad arguments) end with
//! the documented exit status and message, writing nothing.
//!
//! Needs `python3` with PyNaCl and psycopg2, and PostgreSQL's server binaries
//! (`scripts/test.sh` installs them). Anything missing fails the test with that advice.

use couponcactus_chaincode::tx::{RollbackTx, TxKind};
use couponcactus_tests::node::free_port;
use couponcactus_tests::postgres::{Postgres, PostgresError};
use couponcactus_tests::python::{self, repo, stdout};
use couponcactus_tests::{DevNode, fixtures};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Lines};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdout, Command, Output, Stdio};

const SCRIPT: &str = "examples/events-to-postgres/events_to_postgres.py";
const QUERIES: &str = "examples/events-to-postgres/queries.sql";
/// The consumer's exit statuses (its docstring).
const EXIT_USAGE: i32 = 2;
const EXIT_KEY: i32 = 3;
const EXIT_NODE: i32 = 4;
const EXIT_POSTGRES: i32 = 5;
const EXIT_REFUSED: i32 = 6;
/// Bounds every run to catch up: a consumer whose cursor did not advance would otherwise
/// fetch the same page forever (its batch lines then show it: `0 of N events stored`).
const BOUND: [&str; 2] = ["--max-batches", "40"];
const INSTALL: &str = "install PyNaCl and psycopg2 (`apt-get install python3-nacl \
                       python3-psycopg2`, or `python3 -m pip install --user pynacl \
                       psycopg2-binary`); scripts/test.sh does this";

fn require_python() {
    python::require(
        "import nacl.signing, psycopg2",
        "the events-to-postgres test needs Python 3",
        INSTALL,
    );
}

/// A node, a PostgreSQL server with database `bi`, and the consumer's common arguments.
struct Setup {
    node: DevNode,
    pg: Postgres,
    key: String,
}

impl Setup {
    fn start() -> Setup {
        require_python();
        let node = DevNode::start();
        let pg = Postgres::start();
        pg.create_database("bi");
        let key = node.dir().join("keys/auditor.key");
        let key = key.to_str().expect("a UTF-8 temp path").to_string();
        Setup { node, pg, key }
    }

    /// `--node URL --key auditor --dsn bi` followed by `extra`.
    fn args(&self, db: &str, extra: &[&str]) -> Vec<String> {
        let mut args = vec![
            "--node".to_string(),
            self.node.url(),
            "--key".to_string(),
            self.key.clone(),
            "--dsn".to_string(),
            self.pg.dsn(db),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    /// Runs the consumer to completion.
    fn consume(&self, db: &str, extra: &[&str]) -> Output {
        let args = self.args(db, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        python::run(SCRIPT, &args)
    }

    /// Every event the auditor sees, from the API (`query`: extra filters).
    fn api_events(&self, query: &str) -> Vec<Value> {
        let (mut all, mut after) = (Vec::new(), None::<String>);
        loop {
            let cursor = after
                .as_ref()
                .map(|a| format!("&after={a}"))
                .unwrap_or_default();
            let path = format!("/v1/events?limit=1000{cursor}{query}");
            let page = self
                .node
                .client()
                .get_signed(&self.node.keys().auditor, &path)
                .expect(200)
                .body;
            let events = page["events"].as_array().expect("events").clone();
            if events.is_empty() {
                return all;
            }
            all.extend(events);
            after = page["next"].as_str().map(str::to_string);
        }
    }

    /// The loaded events: (id, the stored JSON), in event order.
    fn loaded(&self, db: &str) -> Vec<(String, Value)> {
        let rows = self.pg.query(
            db,
            "SELECT id, event::text FROM cactus_events ORDER BY log_index, idx",
        );
        rows.into_iter()
            .map(|r| {
                let json = serde_json::from_str(&r[1]).expect("stored JSON");
                (r[0].clone(), json)
            })
            .collect()
    }

    /// The cursor row of `consumer`: (after_id, events loaded).
    fn cursor(&self, db: &str, consumer: &str) -> (String, u64) {
        let rows = self.pg.query(
            db,
            &format!("SELECT after_id, events FROM cactus_cursor WHERE consumer = '{consumer}'"),
        );
        assert_eq!(rows.len(), 1, "one cursor row for {consumer}: {rows:?}");
        (rows[0][0].clone(), rows[0][1].parse().expect("a count"))
    }

    /// The table holds exactly the first `n` events of `api`, in order and as the node sent
    /// them, and the cursor of `consumer` stands right after them.
    fn assert_prefix(&self, db: &str, consumer: &str, api: &[Value], n: usize) {
        let loaded = self.loaded(db);
        let ids: Vec<&str> = loaded.iter().map(|(id, _)| id.as_str()).collect();
        let want: Vec<&str> = api[..n].iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids, want,
            "the loaded events are the API's first {n}, in order"
        );
        for ((id, json), event) in loaded.iter().zip(api) {
            assert_eq!(json, event, "event {id} is stored as the node sent it");
        }
        let (after, count) = self.cursor(db, consumer);
        assert_eq!(after, want.last().copied().unwrap_or_default(), "cursor");
        assert_eq!(count, n as u64, "the cursor counted each event once");
    }
}

/// Asserts every `batch N: A of B events stored` line of the consumer's output has A == B:
/// no page ever held an event that was already stored (the cursor, not the primary key,
/// makes loading exactly-once). Returns the events the batches stored.
fn assert_batches_fresh(output: &str) -> usize {
    let mut stored = 0;
    for line in output.lines().filter(|l| l.starts_with("batch ")) {
        let counts = line
            .split(": ")
            .nth(1)
            .and_then(|rest| rest.split(" events stored").next())
            .and_then(|c| c.split_once(" of "))
            .unwrap_or_else(|| panic!("unexpected batch line {line:?}"));
        assert_eq!(
            counts.0, counts.1,
            "a page re-fetched stored events: {line}"
        );
        stored += counts.0.parse::<usize>().expect("a count");
    }
    stored
}

/// Pools, codes, allocations, redemptions, a rollback and rejections on pool `name`.
fn workload(node: &DevNode, name: &str, redemptions: usize) {
    let pool = node.create_active_pool(name, redemptions + 2);
    for m in 1..=2 {
        let reply = node.client().submit(&node.allocate_tx(&pool.id, m));
        assert!(matches!(reply.status, 200 | 422), "allocate: {reply:#?}");
    }
    let mut first = None;
    for (i, code) in pool.codes.iter().take(redemptions).enumerate() {
        let view = node.redeem_code(code, fixtures::order(5_000 + 1_000 * i as u64));
        assert_eq!(view.status, "applied", "redeem {code}: {view:#?}");
        first.get_or_insert(view.tx_id);
    }
    // Rejections: a code redeemed twice and a code that does not exist.
    let again = node.redeem_code(&pool.codes[0], fixtures::order(9_000));
    assert_eq!(again.status, "rejected", "{again:#?}");
    let unknown = node.redeem_code("ZZZZ-ZZZZ-ZZZZ", fixtures::order(9_000));
    assert_eq!(unknown.status, "rejected", "{unknown:#?}");
    // A refund of the first redemption.
    let redemption = first.expect("at least one redemption");
    node.client().apply(
        &node.keys().terminal,
        TxKind::Rollback(RollbackTx { redemption }),
    );
}

#[test]
fn consumer_loads_every_event_once_across_crashes() {
    let s = Setup::start();
    workload(&s.node, "pg-spring", 4);

    // A first run in small pages until caught up: every event, once, in order.
    let out = s.consume(
        "bi",
        &["--until-caught-up", "--limit", "7", BOUND[0], BOUND[1]],
    );
    assert_eq!(out.status.code(), Some(0), "first run");
    let api = s.api_events("");
    assert!(api.len() > 14, "the workload made events: {}", api.len());
    assert_eq!(assert_batches_fresh(&stdout(&out)), api.len());
    s.assert_prefix("bi", "default", &api, api.len());
    // A second run finds nothing new and stores nothing again.
    let out = s.consume("bi", &["--until-caught-up", BOUND[0], BOUND[1]]);
    assert_eq!(out.status.code(), Some(0), "second run");
    assert_eq!(assert_batches_fresh(&stdout(&out)), 0);
    s.assert_prefix("bi", "default", &api, api.len());

    // More events, then a consumer that dies (SIGKILL) after fetching its third page of 3,
    // before committing it: two pages stored, the third not, the cursor after the second.
    workload(&s.node, "pg-summer", 8);
    let api = s.api_events("");
    let before = s.loaded("bi").len();
    let out = s.consume(
        "bi",
        &["--limit", "3", "--wait", "1", "--crash-after-fetch", "2"],
    );
    assert_eq!(out.status.signal(), Some(9), "the consumer killed itself");
    s.assert_prefix("bi", "default", &api, before + 6);

    // A follower killed from outside at some point after its second page of 2.
    let killed = follow_and_kill(&s, 2);
    assert_batches_fresh(&killed);
    let n = s.loaded("bi").len();
    assert!(n >= before + 10, "two more pages were stored: {n}");
    s.assert_prefix("bi", "default", &api, n);

    // The restart resumes at the cursor and loads the rest: still every event exactly once.
    let out = s.consume(
        "bi",
        &["--until-caught-up", "--limit", "4", BOUND[0], BOUND[1]],
    );
    assert_eq!(out.status.code(), Some(0), "restart");
    assert_eq!(assert_batches_fresh(&stdout(&out)), api.len() - n);
    s.assert_prefix("bi", "default", &api, api.len());

    check_filtered_consumer(&s);
    check_bi_queries(&s, &api);
}

/// Runs the consumer following the chain (pages of 2), SIGKILLs it once it printed its
/// `after`-th batch line, and returns what it printed.
fn follow_and_kill(s: &Setup, after: usize) -> String {
    let (mut child, mut lines) = follow(s, &["--retries", "2"], Stdio::inherit());
    let seen = read_until(&mut child, &mut lines, &format!("batch {after}:"));
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("waiting for the killed consumer");
    assert_eq!(status.signal(), Some(9), "killed while following:\n{seen}");
    eprintln!("$ events_to_postgres.py (killed after batch {after})\n{seen}");
    seen
}

/// The consumer following the chain (pages of 2, long polls of 1 s) into `bi`, with its
/// standard output's lines.
fn follow(s: &Setup, extra: &[&str], stderr: Stdio) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut args = s.args("bi", &["--limit", "2", "--wait", "1"]);
    args.extend(extra.iter().map(|a| a.to_string()));
    let mut child = Command::new(python::python())
        .arg(repo().join(SCRIPT))
        .args(&args)
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("starting the consumer");
    let lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    (child, lines)
}

/// Reads the consumer's lines until one contains `until`; panics if it ends first.
fn read_until(child: &mut Child, lines: &mut Lines<BufReader<ChildStdout>>, until: &str) -> String {
    let mut seen = String::new();
    loop {
        match lines.next() {
            Some(Ok(line)) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains(until) {
                    return seen;
                }
            }
            _ => {
                let status = child.wait();
                panic!("the consumer ended ({status:?}) before {until:?}:\n{seen}");
            }
        }
    }
}

#[test]
fn consumer_retries_while_postgres_is_down_and_stops_on_sigterm() {
    let mut s = Setup::start();
    workload(&s.node, "pg-autumn", 2);
    let errors = tempfile::NamedTempFile::new().expect("a temp file");
    let stderr = Stdio::from(errors.reopen().expect("reopening the temp file"));
    let (mut child, mut lines) = follow(&s, &["--retries", "8"], stderr);
    let first = s.api_events("");
    let last = first.last().expect("events")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut seen = read_until(&mut child, &mut lines, &format!("cursor {last},"));

    // PostgreSQL goes away; new events arrive; the consumer retries until it is back.
    s.pg.stop();
    workload(&s.node, "pg-winter", 2);
    let api = s.api_events("");
    std::thread::sleep(std::time::Duration::from_secs(2)); // a retry or two against nothing
    s.pg.restart();
    let last = api.last().expect("events")["id"].as_str().unwrap();
    seen.push_str(&read_until(
        &mut child,
        &mut lines,
        &format!("cursor {last},"),
    ));

    // SIGTERM: it stops after the current long poll, exit status 0.
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(sent.expect("running kill").success());
    let status = child.wait().expect("waiting for the consumer");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    eprintln!(
        "$ events_to_postgres.py (following)\n{seen}{}",
        rest.join("\n")
    );
    assert_eq!(status.code(), Some(0), "SIGTERM stops it cleanly");
    assert!(
        rest.iter().any(|l| l.starts_with("stopped: cursor")),
        "{rest:?}"
    );
    let errors = std::fs::read_to_string(errors.path()).expect("reading stderr");
    eprintln!("{errors}");
    assert!(
        errors.contains("PostgreSQL") && errors.contains("retry 1/8"),
        "{errors}"
    );
    assert_batches_fresh(&seen);
    s.assert_prefix("bi", "default", &api, api.len());
}

/// A consumer of redemptions and rejections only, in its own database: exactly those.
fn check_filtered_consumer(s: &Setup) {
    s.pg.create_database("redemptions");
    let types = "coupon.redeemed,tx.rejected";
    let out = s.consume(
        "redemptions",
        &[
            "--until-caught-up",
            "--types",
            types,
            "--consumer",
            "r",
            "--limit",
            "5",
            BOUND[0],
            BOUND[1],
        ],
    );
    assert_eq!(out.status.code(), Some(0), "filtered run");
    let api = s.api_events(&format!("&types={types}"));
    assert!(
        api.iter()
            .all(|e| matches!(e["type"].as_str(), Some("coupon.redeemed" | "tx.rejected")))
    );
    assert!(api.len() >= 16, "redemptions and rejections: {}", api.len());
    let loaded: Vec<Value> = s
        .loaded("redemptions")
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    assert_eq!(
        loaded, api,
        "the filtered consumer loaded exactly the filtered events"
    );
}

/// The queries of `queries.sql` (each after a `-- name:` line), by name.
fn named_queries() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo().join(QUERIES)).expect("reading queries.sql");
    text.split("-- name: ")
        .skip(1)
        .map(|part| {
            let (name, sql) = part.split_once('\n').expect("a name line");
            (name.trim().to_string(), sql.to_string())
        })
        .collect()
}

/// The example BI queries give the figures recomputed here from the API's events.
fn check_bi_queries(s: &Setup, api: &[Value]) {
    let whole = s.pg.run_file("bi", &repo().join(QUERIES));
    assert!(whole.is_ok(), "queries.sql runs as a whole: {whole:?}");
    let queries = named_queries();
    let run = |name: &str| {
        let sql = queries
            .get(name)
            .unwrap_or_else(|| panic!("no query {name}"));
        s.pg.query("bi", sql)
    };
    let of_type = |t: &'static str| api.iter().filter(move |e| e["type"] == t);
    let n = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("a number: {v}"));

    let mut per_day: BTreeMap<(String, String), (u64, u64, u64)> = BTreeMap::new();
    for e in of_type("coupon.redeemed") {
        let day = utc_day(n(&e["time_ms"]));
        let slot = per_day
            .entry((day, e["store"].as_str().expect("store").to_string()))
            .or_default();
        slot.0 += 1;
        slot.1 += n(&e["amounts"]["order_total_minor"]);
        slot.2 += n(&e["amounts"]["discount_minor"]);
    }
    let want: Vec<Vec<String>> = per_day
        .into_iter()
        .map(|((day, store), (count, total, discount))| {
            let row = [day, store, "EUR".into(), count.to_string()];
            let mut row = row.to_vec();
            row.extend([total.to_string(), discount.to_string()]);
            row
        })
        .collect();
    assert_eq!(run("redemptions_per_day_per_store"), want);

    let mut per_pool: BTreeMap<String, (u64, u64, i64)> = BTreeMap::new();
    for e in api {
        let sign = match e["type"].as_str() {
            Some("coupon.redeemed") => 1,
            Some("coupon.rolled_back") => -1,
            _ => continue,
        };
        let slot = per_pool
            .entry(e["pool"].as_str().expect("pool").to_string())
            .or_default();
        if sign > 0 {
            slot.0 += 1
        } else {
            slot.1 += 1
        }
        slot.2 += sign * n(&e["amounts"]["discount_minor"]) as i64;
    }
    let want: Vec<Vec<String>> = per_pool
        .into_iter()
        .map(|(pool, (r, b, net))| {
            vec![
                pool,
                "EUR".into(),
                r.to_string(),
                b.to_string(),
                net.to_string(),
            ]
        })
        .collect();
    assert_eq!(want.len(), 2, "two pools redeemed: {want:?}");
    assert_eq!(run("discount_per_pool"), want);

    let mut reasons: BTreeMap<(String, String), u64> = BTreeMap::new();
    for e in of_type("tx.rejected") {
        let detail = &e["detail"];
        let key = (
            detail["tx_kind"].as_str().expect("tx_kind").to_string(),
            detail["rejection"]["reason"]
                .as_str()
                .expect("reason")
                .to_string(),
        );
        *reasons.entry(key).or_default() += 1;
    }
    let mut want: Vec<(u64, String, String)> =
        reasons.into_iter().map(|((k, r), c)| (c, k, r)).collect();
    want.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| (&a.1, &a.2).cmp(&(&b.1, &b.2))));
    let want: Vec<Vec<String>> = want
        .into_iter()
        .map(|(c, k, r)| vec![k, r, c.to_string()])
        .collect();
    assert!(want.len() >= 2, "two rejection reasons: {want:?}");
    assert_eq!(run("rejection_reasons"), want);

    let lag = run("consumer_lag");
    assert_eq!(lag.len(), 1, "one consumer in bi: {lag:?}");
    assert_eq!(
        lag[0][1],
        api.last().expect("events")["id"].as_str().unwrap()
    );
}

/// `YYYY-MM-DD` (UTC) of a time in ms since the epoch (civil-from-days, proleptic
/// Gregorian).
fn utc_day(time_ms: u64) -> String {
    let z = (time_ms / 86_400_000) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[test]
fn utc_day_matches_known_dates() {
    assert_eq!(utc_day(0), "1970-01-01");
    assert_eq!(utc_day(951_782_400_000), "2000-02-29");
    assert_eq!(utc_day(1_796_256_000_000 - 1), "2026-12-02");
}

#[test]
fn consumer_fails_clearly_on_bad_inputs() {
    let s = Setup::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let expect = |out: &Output, code: i32, message: &str| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(code),
            "exit status; stderr: {stderr}"
        );
        assert!(stderr.contains(message), "{message:?} not in: {stderr}");
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        python::run(SCRIPT, &args)
    };
    let with = |key: &str, node: &str, dsn: &str, extra: &[&str]| {
        let mut args = ["--key", key, "--node", node, "--dsn", dsn, "--retries", "1"]
            .map(str::to_string)
            .to_vec();
        args.extend(extra.iter().map(|s| s.to_string()));
        run(args)
    };
    let (url, dsn) = (s.node.url(), s.pg.dsn("bi"));

    // Key files: missing, not JSON, a public key of another secret.
    let missing = dir.path().join("none.key");
    let missing = missing.to_str().unwrap();
    expect(
        &with(missing, &url, &dsn, &[]),
        EXIT_KEY,
        "cannot read the key file",
    );
    let garbage = dir.path().join("garbage.key");
    std::fs::write(&garbage, "not json").unwrap();
    let garbage = garbage.to_str().unwrap();
    expect(
        &with(garbage, &url, &dsn, &[]),
        EXIT_KEY,
        "cannot read the key file",
    );
    let mismatched = write_key(dir.path(), "mismatched", [7; 32], Some([8; 32]));
    expect(
        &with(&mismatched, &url, &dsn, &[]),
        EXIT_KEY,
        "does not belong",
    );

    // No node listening; PostgreSQL not listening.
    let dead = format!("http://127.0.0.1:{}", free_port());
    expect(
        &with(&s.key, &dead, &dsn, &[]),
        EXIT_NODE,
        "no node answered",
    );
    let dead_pg = format!(
        "host=127.0.0.1 port={} dbname=bi user=postgres",
        free_port()
    );
    let out = with(&s.key, &url, &dead_pg, &[]);
    expect(&out, EXIT_POSTGRES, "cannot connect to PostgreSQL");

    // A key the chain does not know (401), an unknown event type (400), bad arguments.
    let stranger = write_key(dir.path(), "stranger", [9; 32], None);
    expect(&with(&stranger, &url, &dsn, &[]), EXIT_REFUSED, "HTTP 401");
    let bad_type = with(&s.key, &url, &dsn, &["--types", "coupon.nope"]);
    expect(&bad_type, EXIT_REFUSED, "HTTP 400");
    let bad_limit = with(&s.key, &url, &dsn, &["--limit", "0"]);
    expect(&bad_limit, EXIT_USAGE, "--limit is 1 to 1000");

    let events = s.pg.query("bi", "SELECT count(*) FROM cactus_events");
    assert_eq!(events, vec![vec!["0"]], "no failed run stored an event");

    // With the failover list, a dead node first is skipped.
    let both = format!("{dead},{url}");
    let out = with(
        &s.key,
        &both,
        &dsn,
        &["--until-caught-up", BOUND[0], BOUND[1]],
    );
    assert_eq!(out.status.code(), Some(0), "failover to the live node");
    assert!(
        !s.loaded("bi").is_empty(),
        "the live node's events were loaded"
    );
}

/// Writes a `cactusd` key file of `seed` (with the public key of `public_seed` if given:
/// a mismatched file) and returns its path.
fn write_key(
    dir: &std::path::Path,
    name: &str,
    seed: [u8; 32],
    public_seed: Option<[u8; 32]>,
) -> String {
    let public = ed25519_dalek::SigningKey::from_bytes(&public_seed.unwrap_or(seed))
        .verifying_key()
        .to_bytes();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let path = dir.join(format!("{name}.key"));
    let json = serde_json::json!({"public_key": hex(&public), "secret_key": hex(&seed)});
    std::fs::write(&path, json.to_string()).expect("writing a key file");
    path.to_str().expect("UTF-8 path").to_string()
}

#[test]
fn postgres_harness_starts_queries_and_stops() {
    let mut pg = Postgres::start();
    let data = pg.data_dir();
    assert!(data.join("PG_VERSION").exists(), "initdb made a cluster");
    assert_eq!(
        pg.query("postgres", "SELECT 1 + 1, 'a'"),
        vec![vec!["2", "a"]]
    );
    pg.create_database("harness");
    pg.query(
        "harness",
        "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)",
    );
    assert_eq!(
        pg.query("harness", "SELECT count(*) FROM t"),
        vec![vec!["1"]]
    );
    // Errors come back as errors: a duplicate key, a syntax error.
    let dup = pg.try_query("harness", "INSERT INTO t VALUES (1)");
    assert!(
        matches!(&dup, Err(PostgresError::Failed { stderr, .. }) if stderr.contains("duplicate key")),
        "{dup:?}"
    );
    assert!(pg.try_query("harness", "SELEC nonsense").is_err());
    // It listens on 127.0.0.1 only, with its socket in the temp dir.
    let listen = pg.query("postgres", "SHOW listen_addresses");
    assert_eq!(listen, vec![vec!["127.0.0.1"]]);
    assert!(
        pg.socket_dir()
            .join(format!(".s.PGSQL.{}", pg.port()))
            .exists()
    );
    // Stop ends the server; the port answers no more; drop removes the directory.
    let pid = pg.pid().expect("running");
    pg.stop();
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "postgres exited"
    );
    assert!(
        pg.try_query("postgres", "SELECT 1").is_err(),
        "stopped server answers"
    );
    drop(pg);
    assert!(!data.exists(), "the data directory is removed");
}
