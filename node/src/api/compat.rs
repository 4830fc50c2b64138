//! `/v1` stays backward compatible: this module compares the node's generated OpenAPI
//! document ([`super::openapi_document`]) with the committed baseline
//! `docs/openapi/v1.json` and reports what would break an existing client.
//!
//! Written by hand, not with a crate: the maintained Rust comparer (`drift`) reads
//! documents through the `openapiv3` crate, which models OpenAPI 3.0 only, while utoipa 5
//! writes 3.1 (`"type": ["string", "null"]`, `oneOf` with a `null` variant), and the other
//! crates (`schemadoc-diff`, `anicca`) are unmaintained. The rules below are the few this
//! API needs, over plain `serde_json` values.
//!
//! A change is **breaking** ([`Rule`]) when:
//!
//! 1. a path is removed (`path_removed`), or an operation (method) of a path
//!    (`operation_removed`);
//! 2. a parameter (path, query, header) is removed (`parameter_removed`), a new one is
//!    required (`parameter_added_required`), an optional one becomes required
//!    (`parameter_now_required`);
//! 3. a request body becomes required (`request_body_now_required`), or loses a media type
//!    (`request_media_type_removed`);
//! 4. in a request (parameter or body): a new required field, or an optional one made
//!    required (`request_field_required`), a field removed (`request_field_removed`:
//!    bodies refuse unknown fields), a type narrowed or changed (`request_type_changed`:
//!    a type of the old set missing, `null` no longer accepted, another `format`, an
//!    alternative of `oneOf`/`anyOf` removed), an enum value removed
//!    (`request_enum_value_removed`);
//! 5. a success (`2xx`, `3xx`, `default`) response removed (`response_removed`), or one of
//!    its media types (`response_media_type_removed`);
//! 6. in a response: a field removed (`response_field_removed`), a required field made
//!    optional (`response_field_optional`), a type widened or changed
//!    (`response_type_changed`: a type not in the old set, `null` now possible, another
//!    `format`), an enum value removed (`response_enum_value_removed`).
//!
//! Everything else passes and is listed as an **addition** (new paths, operations,
//! optional parameters and fields, response fields, enum values) or left unreported
//! (descriptions, examples, error responses). Schemas are followed through `$ref`,
//! `allOf` (merged), `items` and `additionalProperties`, at most [`MAX_DEPTH`] levels and
//! each pair of named schemas once per direction (recursive schemas end).
//!
//! The test `api::compat::tests::openapi_baseline` fails on a breaking change;
//! `UPDATE_OPENAPI_BASELINE=1` rewrites the baseline ([`BASELINE`], docs/api.md,
//! "Versioning and deprecation").

mod schema;
#[cfg(test)]
mod tests;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The committed baseline, relative to the workspace root.
pub const BASELINE: &str = "docs/openapi/v1.json";
/// Set to `1` to rewrite the baseline from the current document.
pub const UPDATE_ENV: &str = "UPDATE_OPENAPI_BASELINE";
/// How deep schemas are compared.
pub const MAX_DEPTH: usize = 32;
/// HTTP methods an OpenAPI path item may hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// Why two documents could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum CompatError {
    /// A document is not an OpenAPI document with `paths`.
    #[error("the {0} is not an OpenAPI document (no `paths` object)")]
    NotADocument(&'static str),
    /// A document is not JSON.
    #[error("the {what} is not JSON: {source}")]
    Json {
        /// Which document.
        what: &'static str,
        /// Why.
        source: serde_json::Error,
    },
}

/// One rule of the module doc's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// A path is gone.
    PathRemoved,
    /// A method of a path is gone.
    OperationRemoved,
    /// A parameter is gone.
    ParameterRemoved,
    /// A new parameter is required.
    ParameterAddedRequired,
    /// An optional parameter became required.
    ParameterNowRequired,
    /// A request body became required.
    RequestBodyNowRequired,
    /// A request body lost a media type.
    RequestMediaTypeRemoved,
    /// A request field is new and required, or became required.
    RequestFieldRequired,
    /// A request field is gone.
    RequestFieldRemoved,
    /// A request value's type was narrowed or changed.
    RequestTypeChanged,
    /// A request enum lost a value.
    RequestEnumValueRemoved,
    /// A success response is gone.
    ResponseRemoved,
    /// A response lost a media type.
    ResponseMediaTypeRemoved,
    /// A response field is gone.
    ResponseFieldRemoved,
    /// A required response field became optional.
    ResponseFieldOptional,
    /// A response value's type was widened or changed.
    ResponseTypeChanged,
    /// A response enum lost a value.
    ResponseEnumValueRemoved,
}

impl Rule {
    /// The rule's name in reports and docs.
    pub fn name(self) -> &'static str {
        match self {
            Rule::PathRemoved => "path_removed",
            Rule::OperationRemoved => "operation_removed",
            Rule::ParameterRemoved => "parameter_removed",
            Rule::ParameterAddedRequired => "parameter_added_required",
            Rule::ParameterNowRequired => "parameter_now_required",
            Rule::RequestBodyNowRequired => "request_body_now_required",
            Rule::RequestMediaTypeRemoved => "request_media_type_removed",
            Rule::RequestFieldRequired => "request_field_required",
            Rule::RequestFieldRemoved => "request_field_removed",
            Rule::RequestTypeChanged => "request_type_changed",
            Rule::RequestEnumValueRemoved => "request_enum_value_removed",
            Rule::ResponseRemoved => "response_removed",
            Rule::ResponseMediaTypeRemoved => "response_media_type_removed",
            Rule::ResponseFieldRemoved => "response_field_removed",
            Rule::ResponseFieldOptional => "response_field_optional",
            Rule::ResponseTypeChanged => "response_type_changed",
            Rule::ResponseEnumValueRemoved => "response_enum_value_removed",
        }
    }
}

/// One breaking change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// The rule it breaks.
    pub rule: Rule,
    /// Where: operation, then the place in it (`GET /v1/pools/{id} response 200
    /// application/json .pool.owner`).
    pub at: String,
    /// What changed.
    pub detail: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.rule.name(), self.at, self.detail)
    }
}

/// What a comparison found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Changes that break existing clients (sorted).
    pub breaking: Vec<Change>,
    /// Compatible additions (paths, operations, optional parameters, fields), one line each.
    pub additions: Vec<String>,
}

impl Report {
    /// The report for a person: one line per change.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.breaking {
            out.push_str(&format!("BREAKING {c}\n"));
        }
        for a in &self.additions {
            out.push_str(&format!("added    {a}\n"));
        }
        out
    }

    pub(crate) fn breaking(
        &mut self,
        rule: Rule,
        at: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.breaking.push(Change {
            rule,
            at: at.into(),
            detail: detail.into(),
        });
    }
}

/// Compares two documents given as JSON text.
pub fn compare_text(baseline: &str, current: &str) -> Result<Report, CompatError> {
    let parse = |what, text: &str| {
        serde_json::from_str::<Value>(text).map_err(|source| CompatError::Json { what, source })
    };
    compare(
        &parse("baseline", baseline)?,
        &parse("current document", current)?,
    )
}

/// Compares `current` with `baseline` by the rules of the module doc.
pub fn compare(baseline: &Value, current: &Value) -> Result<Report, CompatError> {
    let old_paths = baseline
        .get("paths")
        .and_then(Value::as_object)
        .ok_or(CompatError::NotADocument("baseline"))?;
    let new_paths = current
        .get("paths")
        .and_then(Value::as_object)
        .ok_or(CompatError::NotADocument("current document"))?;
    let docs = Docs {
        old: baseline,
        new: current,
    };
    let mut report = Report::default();
    for (path, old_item) in old_paths {
        match new_paths.get(path) {
            None => report.breaking(Rule::PathRemoved, path, "the path is gone"),
            Some(new_item) => compare_item(&docs, path, old_item, new_item, &mut report),
        }
    }
    for path in new_paths.keys().filter(|p| !old_paths.contains_key(*p)) {
        report.additions.push(format!("path {path}"));
    }
    report.breaking.sort();
    report.breaking.dedup();
    Ok(report)
}

/// The two documents (for `$ref`s).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Docs<'a> {
    /// The baseline.
    pub(crate) old: &'a Value,
    /// The current document.
    pub(crate) new: &'a Value,
}

/// Follows `$ref` (`#/…` JSON pointers) up to 16 times; the value itself otherwise.
pub(crate) fn resolve<'v>(doc: &'v Value, mut value: &'v Value) -> &'v Value {
    for _ in 0..16 {
        match value.get("$ref").and_then(Value::as_str) {
            Some(r) => match r.strip_prefix('#').and_then(|p| doc.pointer(p)) {
                Some(target) => value = target,
                None => return value,
            },
            None => return value,
        }
    }
    value
}

fn compare_item(docs: &Docs<'_>, path: &str, old: &Value, new: &Value, report: &mut Report) {
    let (old, new) = (resolve(docs.old, old), resolve(docs.new, new));
    for method in METHODS {
        let at = format!("{} {path}", method.to_uppercase());
        match (old.get(method), new.get(method)) {
            (Some(_), None) => report.breaking(Rule::OperationRemoved, at, "the method is gone"),
            (None, Some(_)) => report.additions.push(format!("operation {at}")),
            (Some(o), Some(n)) => {
                let old_params = parameters(docs.old, old, o);
                let new_params = parameters(docs.new, new, n);
                compare_parameters(docs, &at, &old_params, &new_params, report);
                compare_body(docs, &at, o, n, report);
                compare_responses(docs, &at, o, n, report);
            }
            (None, None) => {}
        }
    }
}

/// An operation's parameters (its path item's, then its own) by `(in, name)`.
fn parameters<'v>(
    doc: &'v Value,
    item: &'v Value,
    op: &'v Value,
) -> BTreeMap<(String, String), &'v Value> {
    let mut out = BTreeMap::new();
    for list in [item.get("parameters"), op.get("parameters")]
        .into_iter()
        .flatten()
    {
        for p in list.as_array().into_iter().flatten() {
            let p = resolve(doc, p);
            let field = |k: &str| {
                p.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            out.insert((field("in"), field("name")), p);
        }
    }
    out
}

fn is_required(v: &Value) -> bool {
    v.get("required").and_then(Value::as_bool).unwrap_or(false)
}

fn compare_parameters(
    docs: &Docs<'_>,
    at: &str,
    old: &BTreeMap<(String, String), &Value>,
    new: &BTreeMap<(String, String), &Value>,
    report: &mut Report,
) {
    for ((place, name), o) in old {
        let here = format!("{at} {place} parameter {name}");
        let Some(n) = new.get(&(place.clone(), name.clone())) else {
            report.breaking(Rule::ParameterRemoved, here, "the parameter is gone");
            continue;
        };
        if !is_required(o) && is_required(n) {
            report.breaking(
                Rule::ParameterNowRequired,
                &here,
                "the parameter is now required",
            );
        }
        if let (Some(os), Some(ns)) = (o.get("schema"), n.get("schema")) {
            schema::compare(docs, schema::Direction::Request, &here, os, ns, report);
        }
    }
    for ((place, name), n) in new.iter().filter(|(k, _)| !old.contains_key(*k)) {
        let here = format!("{at} {place} parameter {name}");
        if is_required(n) {
            report.breaking(
                Rule::ParameterAddedRequired,
                here,
                "a new required parameter",
            );
        } else {
            report.additions.push(format!("optional parameter: {here}"));
        }
    }
}

fn content(v: &Value) -> BTreeMap<&str, &Value> {
    v.get("content")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.as_str(), v)).collect())
        .unwrap_or_default()
}

fn compare_body(docs: &Docs<'_>, at: &str, old_op: &Value, new_op: &Value, report: &mut Report) {
    let here = format!("{at} request body");
    let old = old_op.get("requestBody").map(|b| resolve(docs.old, b));
    let new = new_op.get("requestBody").map(|b| resolve(docs.new, b));
    let (old, new) = match (old, new) {
        (None, Some(n)) if is_required(n) => {
            return report.breaking(Rule::RequestBodyNowRequired, here, "a body is now required");
        }
        (Some(o), Some(n)) => (o, n),
        _ => return,
    };
    if !is_required(old) && is_required(new) {
        report.breaking(
            Rule::RequestBodyNowRequired,
            &here,
            "the body is now required",
        );
    }
    let new_content = content(new);
    for (media, o) in content(old) {
        let place = format!("{here} {media}");
        match new_content.get(media) {
            None => report.breaking(
                Rule::RequestMediaTypeRemoved,
                place,
                "the media type is no longer accepted",
            ),
            Some(n) => {
                if let (Some(os), Some(ns)) = (o.get("schema"), n.get("schema")) {
                    schema::compare(docs, schema::Direction::Request, &place, os, ns, report);
                }
            }
        }
    }
}

/// Whether a response status is one a client relies on (success, redirect, `default`).
fn is_success(status: &str) -> bool {
    status == "default" || status.starts_with('2') || status.starts_with('3')
}

fn compare_responses(
    docs: &Docs<'_>,
    at: &str,
    old_op: &Value,
    new_op: &Value,
    report: &mut Report,
) {
    let responses = |op: &Value| -> BTreeSet<String> {
        op.get("responses")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let new_statuses = responses(new_op);
    for status in responses(old_op) {
        let here = format!("{at} response {status}");
        let o = resolve(docs.old, &old_op["responses"][&status]);
        if !new_statuses.contains(&status) {
            if is_success(&status) {
                report.breaking(Rule::ResponseRemoved, here, "the response is gone");
            }
            continue;
        }
        let n = resolve(docs.new, &new_op["responses"][&status]);
        let new_content = content(n);
        for (media, oc) in content(o) {
            let place = format!("{here} {media}");
            match new_content.get(media) {
                None => report.breaking(
                    Rule::ResponseMediaTypeRemoved,
                    place,
                    "the media type is gone",
                ),
                Some(nc) => {
                    if let (Some(os), Some(ns)) = (oc.get("schema"), nc.get("schema")) {
                        schema::compare(docs, schema::Direction::Response, &place, os, ns, report);
                    }
                }
            }
        }
    }
}
