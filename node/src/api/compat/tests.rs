//! The baseline test, and the comparer on the real document with one change at a time.

use super::*;
use serde_json::json;
use std::path::PathBuf;

fn baseline_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(BASELINE)
}

fn current() -> Value {
    let text = crate::api::openapi_document().expect("the document serializes");
    serde_json::from_str(&text).expect("the document is JSON")
}

/// The refresh command, as docs/api.md gives it.
const REFRESH: &str =
    "UPDATE_OPENAPI_BASELINE=1 cargo nextest run --workspace -E 'test(openapi_baseline)'";

/// `/v1` stays compatible: the node's document against docs/openapi/v1.json.
#[test]
fn openapi_baseline() {
    let current = current();
    let file = baseline_file();
    if std::env::var(UPDATE_ENV).is_ok_and(|v| v == "1") {
        let mut text = serde_json::to_string_pretty(&current).expect("serializes");
        text.push('\n');
        if let Some(folder) = file.parent() {
            std::fs::create_dir_all(folder).expect("creating docs/openapi");
        }
        std::fs::write(&file, text).expect("writing the baseline");
        eprintln!("rewrote {}", file.display());
        return;
    }
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e}; create it with {REFRESH}", file.display()));
    let baseline: Value = serde_json::from_str(&text).expect("the baseline is JSON");
    let report = compare(&baseline, &current).expect("both are OpenAPI documents");
    assert!(
        report.breaking.is_empty(),
        "the OpenAPI document breaks /v1 clients (docs/api.md, \"Versioning and deprecation\"):\n{}\
         Keep the old shape, or add the change under a new path or version.",
        report.render()
    );
    if baseline != current {
        eprintln!(
            "the OpenAPI document changed compatibly:\n{}the baseline should be refreshed: {REFRESH}",
            report.render()
        );
    }
}

fn object_mut<'v>(v: &'v mut Value, pointer: &str) -> &'v mut serde_json::Map<String, Value> {
    v.pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object at {pointer}"))
}

/// The JSON pointer of the component schema a response or request body refers to.
fn schema_of(doc: &Value, pointer: &str) -> String {
    let r = doc
        .pointer(pointer)
        .and_then(|s| s.get("$ref"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no $ref at {pointer}"));
    r.trim_start_matches('#').to_string()
}

const HOLDS_200: &str = "/paths/~1v1~1holds/get/responses/200/content/application~1json/schema";
const CREATE_BODY: &str =
    "/paths/~1v1~1webhooks~1endpoints/post/requestBody/content/application~1json/schema";

fn rules(report: &Report) -> Vec<Rule> {
    report.breaking.iter().map(|c| c.rule).collect()
}

/// Applies `edit` to a copy of the real document and compares it with the original.
fn after(edit: impl FnOnce(&mut Value)) -> Report {
    let base = current();
    let mut changed = base.clone();
    edit(&mut changed);
    compare(&base, &changed).expect("documents")
}

#[test]
fn the_same_document_has_no_change() {
    let doc = current();
    assert_eq!(compare(&doc, &doc).unwrap(), Report::default());
}

#[test]
fn a_removed_path_or_method_is_breaking() {
    let report = after(|d| {
        object_mut(d, "/paths").remove("/v1/holds");
    });
    assert_eq!(rules(&report), [Rule::PathRemoved], "{}", report.render());
    assert_eq!(report.breaking[0].at, "/v1/holds");
    let report = after(|d| {
        object_mut(d, "/paths/~1v1~1webhooks~1endpoints").remove("post");
    });
    assert_eq!(
        rules(&report),
        [Rule::OperationRemoved],
        "{}",
        report.render()
    );
    assert_eq!(report.breaking[0].at, "POST /v1/webhooks/endpoints");
}

#[test]
fn a_removed_or_retyped_response_field_is_breaking() {
    let report = after(|d| {
        let view = schema_of(d, HOLDS_200);
        object_mut(d, &format!("{view}/properties")).remove("truncated");
    });
    assert_eq!(
        rules(&report),
        [Rule::ResponseFieldRemoved],
        "{}",
        report.render()
    );
    assert_eq!(
        report.breaking[0].at,
        "GET /v1/holds response 200 application/json .truncated"
    );
    let report = after(|d| {
        let view = schema_of(d, HOLDS_200);
        object_mut(d, &format!("{view}/properties/height")).insert("type".into(), json!("string"));
    });
    assert!(
        rules(&report).contains(&Rule::ResponseTypeChanged),
        "{}",
        report.render()
    );
    // Nullable where it was not: a client reading a number may now read null.
    let report = after(|d| {
        let view = schema_of(d, HOLDS_200);
        object_mut(d, &format!("{view}/properties/truncated"))
            .insert("type".into(), json!(["boolean", "null"]));
    });
    assert_eq!(
        rules(&report),
        [Rule::ResponseTypeChanged],
        "{}",
        report.render()
    );
}

#[test]
fn new_required_inputs_are_breaking() {
    let report = after(|d| {
        let op = object_mut(d, "/paths/~1v1~1holds/get");
        let params = op.entry("parameters").or_insert_with(|| json!([]));
        params.as_array_mut().unwrap().push(json!({
            "name": "tenant", "in": "query", "required": true, "schema": {"type": "string"}
        }));
    });
    assert_eq!(
        rules(&report),
        [Rule::ParameterAddedRequired],
        "{}",
        report.render()
    );
    assert_eq!(
        report.breaking[0].at,
        "GET /v1/holds query parameter tenant"
    );
    let report = after(|d| {
        let params = d.pointer_mut("/paths/~1v1~1holds/get/parameters").unwrap();
        for p in params.as_array_mut().unwrap() {
            p["required"] = json!(true);
        }
    });
    assert_eq!(
        rules(&report),
        [Rule::ParameterNowRequired],
        "{}",
        report.render()
    );
    let report = after(|d| {
        let body = schema_of(d, CREATE_BODY);
        object_mut(d, &format!("{body}/properties"))
            .insert("tenant".into(), json!({"type": "string"}));
        let required = d.pointer_mut(&format!("{body}/required")).unwrap();
        required.as_array_mut().unwrap().push(json!("tenant"));
    });
    assert_eq!(
        rules(&report),
        [Rule::RequestFieldRequired],
        "{}",
        report.render()
    );
    let report = after(|d| {
        let body = schema_of(d, CREATE_BODY);
        object_mut(d, &format!("{body}/properties/url")).insert("type".into(), json!("integer"));
    });
    assert_eq!(
        rules(&report),
        [Rule::RequestTypeChanged],
        "{}",
        report.render()
    );
}

#[test]
fn a_removed_response_enum_value_is_breaking_an_added_one_is_not() {
    let with_enum = |values: Value| {
        let mut d = current();
        let view = schema_of(&d, HOLDS_200);
        object_mut(&mut d, &format!("{view}/properties/org")).insert("enum".into(), values);
        d
    };
    let base = with_enum(json!(["acme", "globex"]));
    let report = compare(&base, &with_enum(json!(["acme"]))).unwrap();
    assert_eq!(
        rules(&report),
        [Rule::ResponseEnumValueRemoved],
        "{}",
        report.render()
    );
    let report = compare(&base, &with_enum(json!(["acme", "globex", "initech"]))).unwrap();
    assert!(report.breaking.is_empty(), "{}", report.render());
    assert_eq!(report.additions.len(), 1, "{}", report.render());
}

#[test]
fn additions_pass_and_are_listed() {
    let report = after(|d| {
        let holds = d.pointer("/paths/~1v1~1holds").unwrap().clone();
        object_mut(d, "/paths").insert("/v1/holds-archive".into(), holds);
        let params = d.pointer_mut("/paths/~1v1~1holds/get/parameters").unwrap();
        params.as_array_mut().unwrap().push(json!({
            "name": "since", "in": "query", "required": false, "schema": {"type": "integer"}
        }));
        let view = schema_of(d, HOLDS_200);
        object_mut(d, &format!("{view}/properties"))
            .insert("generated_ms".into(), json!({"type": "integer"}));
        let body = schema_of(d, CREATE_BODY);
        object_mut(d, &format!("{body}/properties"))
            .insert("label".into(), json!({"type": "string"}));
    });
    assert!(report.breaking.is_empty(), "{}", report.render());
    let text = report.render();
    for expected in [
        "path /v1/holds-archive",
        "optional parameter: GET /v1/holds query parameter since",
        ".generated_ms",
        ".label",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}

#[test]
fn a_document_without_paths_is_refused() {
    let err = compare(&json!({}), &current()).unwrap_err();
    assert!(
        matches!(err, CompatError::NotADocument("baseline")),
        "{err}"
    );
    assert!(compare_text("not json", "{}").is_err());
}
