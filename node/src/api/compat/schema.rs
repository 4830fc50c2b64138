//! Schema comparison for [`super::compare`]: one JSON schema of the baseline against its
//! counterpart in the current document, in a request (what a client sends: narrowing
//! breaks) or a response (what a client reads: widening and removals break).

use super::{Docs, MAX_DEPTH, Report, Rule, resolve};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Which side of the exchange a schema describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Direction {
    /// The client sends it.
    Request,
    /// The client reads it.
    Response,
}

/// Compares schema `old` (baseline) with `new` at `at`.
pub(crate) fn compare(
    docs: &Docs<'_>,
    direction: Direction,
    at: &str,
    old: &Value,
    new: &Value,
    report: &mut Report,
) {
    let mut walker = Walker {
        docs: *docs,
        direction,
        seen: BTreeSet::new(),
        report,
    };
    walker.compare(at, old, new, 0);
}

struct Walker<'a, 'r> {
    docs: Docs<'a>,
    direction: Direction,
    /// Named schema pairs already compared (recursive schemas end).
    seen: BTreeSet<(String, String)>,
    report: &'r mut Report,
}

fn ref_name(v: &Value) -> Option<&str> {
    v.get("$ref").and_then(Value::as_str)
}

/// The schema's `type` as a set (`null` included when `oneOf`/`anyOf` has a null variant).
fn types(v: &Value) -> Option<BTreeSet<String>> {
    let mut set: BTreeSet<String> = match v.get("type") {
        Some(Value::String(t)) => [t.clone()].into(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => BTreeSet::new(),
    };
    if alternatives(v).1 {
        set.insert("null".into());
    }
    (!set.is_empty()).then_some(set)
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
}

/// The `oneOf`/`anyOf` alternatives that are not `null`, and whether one was `null`.
fn alternatives(v: &Value) -> (Vec<&Value>, bool) {
    let all: Vec<&Value> = ["oneOf", "anyOf"]
        .iter()
        .filter_map(|k| v.get(*k).and_then(Value::as_array))
        .flatten()
        .collect();
    let null = all.iter().any(|a| is_null_schema(a));
    (
        all.into_iter().filter(|a| !is_null_schema(a)).collect(),
        null,
    )
}

/// Properties and required names, `allOf` parts merged in.
fn object_view<'v>(
    doc: &'v Value,
    v: &'v Value,
    depth: usize,
) -> (BTreeMap<&'v str, &'v Value>, BTreeSet<&'v str>) {
    let mut props = BTreeMap::new();
    let mut required = BTreeSet::new();
    if let Some(map) = v.get("properties").and_then(Value::as_object) {
        props.extend(map.iter().map(|(k, s)| (k.as_str(), s)));
    }
    if let Some(list) = v.get("required").and_then(Value::as_array) {
        required.extend(list.iter().filter_map(Value::as_str));
    }
    if depth < MAX_DEPTH {
        for part in v
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (p, r) = object_view(doc, resolve(doc, part), depth + 1);
            props.extend(p);
            required.extend(r);
        }
    }
    (props, required)
}

impl Walker<'_, '_> {
    fn request(&self) -> bool {
        self.direction == Direction::Request
    }

    fn compare(&mut self, at: &str, old: &Value, new: &Value, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        if let (Some(o), Some(n)) = (ref_name(old), ref_name(new))
            && !self.seen.insert((o.to_string(), n.to_string()))
        {
            return;
        }
        let (old, new) = (resolve(self.docs.old, old), resolve(self.docs.new, new));
        self.compare_types(at, old, new);
        self.compare_enum(at, old, new);
        self.compare_alternatives(at, old, new, depth);
        self.compare_properties(at, old, new, depth);
        for (key, suffix) in [("items", "[]"), ("additionalProperties", "{}")] {
            if let (Some(o @ Value::Object(_)), Some(n @ Value::Object(_))) =
                (old.get(key), new.get(key))
            {
                self.compare(&format!("{at}{suffix}"), o, n, depth + 1);
            }
        }
    }

    fn compare_types(&mut self, at: &str, old: &Value, new: &Value) {
        let (rule, lost_from, gained_in) = if self.request() {
            (Rule::RequestTypeChanged, types(old), types(new))
        } else {
            (Rule::ResponseTypeChanged, types(new), types(old))
        };
        // Request: every old type must still be accepted. Response: every new type must
        // have been possible before.
        if let (Some(must), Some(within)) = (&lost_from, &gained_in) {
            let missing: Vec<&String> = must.difference(within).collect();
            if !missing.is_empty() {
                let (o, n) = (
                    types(old).unwrap_or_default(),
                    types(new).unwrap_or_default(),
                );
                self.report
                    .breaking(rule, at, format!("type {o:?} became {n:?}"));
            }
        }
        let format = |v: &Value| v.get("format").and_then(Value::as_str).map(String::from);
        if let (Some(o), Some(n)) = (format(old), format(new))
            && o != n
        {
            self.report
                .breaking(rule, at, format!("format {o} became {n}"));
        }
    }

    fn compare_enum(&mut self, at: &str, old: &Value, new: &Value) {
        let values = |v: &Value| v.get("enum").and_then(Value::as_array).cloned();
        let (Some(o), Some(n)) = (values(old), values(new)) else {
            return;
        };
        let rule = if self.request() {
            Rule::RequestEnumValueRemoved
        } else {
            Rule::ResponseEnumValueRemoved
        };
        for value in o.iter().filter(|v| !n.contains(v)) {
            self.report
                .breaking(rule, at, format!("enum value {value} removed"));
        }
        for value in n.iter().filter(|v| !o.contains(v)) {
            self.report
                .additions
                .push(format!("enum value {value}: {at}"));
        }
    }

    /// `oneOf`/`anyOf`: a single non-null alternative on both sides is compared as the
    /// schema itself (`Option<T>`); otherwise alternatives pair up by position and a
    /// request may not lose one.
    fn compare_alternatives(&mut self, at: &str, old: &Value, new: &Value, depth: usize) {
        let (o, _) = alternatives(old);
        let (n, _) = alternatives(new);
        let plain = |v: &Value| v.get("oneOf").is_none() && v.get("anyOf").is_none();
        match (o.len(), n.len()) {
            (0, 0) => {}
            (1, 1) => self.compare(at, o[0], n[0], depth + 1),
            // `T` became `Option<T>` (or the reverse): compare T with T.
            (1, 0) if plain(new) => self.compare(at, o[0], new, depth + 1),
            (0, 1) if plain(old) => self.compare(at, old, n[0], depth + 1),
            (ol, nl) => {
                for (i, (a, b)) in o.iter().zip(n.iter()).enumerate() {
                    self.compare(&format!("{at}<{i}>"), a, b, depth + 1);
                }
                if self.request() && nl < ol {
                    self.report.breaking(
                        Rule::RequestTypeChanged,
                        at,
                        format!("{} alternatives of {ol} remain", nl),
                    );
                }
            }
        }
    }

    fn compare_properties(&mut self, at: &str, old: &Value, new: &Value, depth: usize) {
        let (op, or) = object_view(self.docs.old, old, 0);
        let (np, nr) = object_view(self.docs.new, new, 0);
        for (name, o) in &op {
            let here = format!("{at} .{name}");
            let Some(n) = np.get(name) else {
                let rule = if self.request() {
                    Rule::RequestFieldRemoved
                } else {
                    Rule::ResponseFieldRemoved
                };
                self.report.breaking(rule, here, "the field is gone");
                continue;
            };
            if !self.request() && or.contains(name) && !nr.contains(name) {
                self.report.breaking(
                    Rule::ResponseFieldOptional,
                    &here,
                    "a required field may now be absent",
                );
            }
            self.compare(&here, o, n, depth + 1);
        }
        for name in np.keys().filter(|k| !op.contains_key(*k)) {
            self.report.additions.push(format!("field {at} .{name}"));
        }
        if self.request() {
            for name in nr.iter().filter(|n| !or.contains(*n)) {
                self.report.breaking(
                    Rule::RequestFieldRequired,
                    format!("{at} .{name}"),
                    "the field is now required",
                );
            }
        }
    }
}
