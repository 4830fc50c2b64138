//! The "Typed codes" and "Check character" sections of `docs/encoding.md`, checked against
//! `chaincode/src/codes.rs`: every `typed-code-vector` of the document gives the documented
//! result (normalized code and its hash) or error, the look-alike table is the code's, and
//! the worked example's check character is the one the code computes. Terminals in other
//! languages (the Python POS) are written from these sections alone.

use couponcactus_chaincode::codes::{
    CodeError, CodePattern, LOOK_ALIKES, check_char, check_typed_code, code_hash, verify_check_char,
};
use std::collections::BTreeMap;

const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/encoding.md");

fn doc() -> String {
    std::fs::read_to_string(DOC_PATH).unwrap_or_else(|e| panic!("reading {DOC_PATH}: {e}"))
}

/// The `typed-code-vector` blocks: `key: value` lines by key.
fn vectors(doc: &str) -> Vec<BTreeMap<String, String>> {
    let mut out = Vec::new();
    let mut current: Option<BTreeMap<String, String>> = None;
    for line in doc.lines() {
        match current.as_mut() {
            None if line.trim() == "```typed-code-vector" => current = Some(BTreeMap::new()),
            None => {}
            Some(_) if line.trim() == "```" => out.push(current.take().expect("in a block")),
            Some(fields) => {
                let (k, v) = line.split_once(": ").unwrap_or_else(|| {
                    panic!("{line:?} in a typed-code-vector is not `key: value`")
                });
                fields.insert(k.trim().into(), v.trim().into());
            }
        }
    }
    assert!(current.is_none(), "unterminated typed-code-vector block");
    out
}

fn json_str(v: &BTreeMap<String, String>, key: &str) -> String {
    let raw = v.get(key).unwrap_or_else(|| panic!("{v:?} has no {key}"));
    serde_json::from_str(raw).unwrap_or_else(|e| panic!("{key} {raw:?} is not a JSON string: {e}"))
}

fn pattern_of(v: &BTreeMap<String, String>) -> CodePattern {
    CodePattern {
        prefix: json_str(v, "prefix"),
        pattern: json_str(v, "pattern"),
        charset: json_str(v, "charset").chars().collect(),
        check_char: match v["check_char"].as_str() {
            "true" => true,
            "false" => false,
            other => panic!("check_char {other:?}"),
        },
    }
}

/// The documented name of an error.
fn error_name(e: &CodeError) -> String {
    match e {
        CodeError::TypedLength { .. } => "typed_length".into(),
        CodeError::TypedCharacter { position, .. } => format!("typed_character at {position}"),
        CodeError::CheckCharMismatch => "check_char_mismatch".into(),
        other => format!("unexpected error {other:?}"),
    }
}

#[test]
fn documented_typed_code_vectors_match_the_code() {
    let doc = doc();
    let vectors = vectors(&doc);
    assert!(
        vectors.len() >= 10,
        "only {} typed-code vectors",
        vectors.len()
    );
    let mut failures = Vec::new();
    for v in &vectors {
        let name = &v["name"];
        let got = check_typed_code(&json_str(v, "typed"), &pattern_of(v));
        let want = match (v.get("result"), v.get("error")) {
            (Some(_), None) => Ok((json_str(v, "result"), v["code_hash"].clone())),
            (None, Some(e)) => Err(e.clone()),
            _ => panic!("{name}: exactly one of result and error"),
        };
        let got = got
            .map(|code| {
                let hash = code_hash(&code).to_hex();
                (code, hash)
            })
            .map_err(|e| error_name(&e));
        if got != want {
            failures.push(format!("{name}: document {want:?}, code {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{DOC_PATH}:\n  {}",
        failures.join("\n  ")
    );
    // What the section promises is shown by at least one vector each.
    for needed in [
        "typed_lookalike_o",
        "typed_custom_charset_keeps_o",
        "typed_check_ok",
        "typed_check_wrong_character",
        "typed_check_swapped",
    ] {
        assert!(
            vectors.iter().any(|v| v["name"] == needed),
            "no vector {needed}"
        );
    }
}

#[test]
fn look_alike_table_and_worked_example_match_the_code() {
    let doc = doc();
    let rows: Vec<String> = doc
        .lines()
        .skip_while(|l| l.trim() != "### Typed codes")
        .take_while(|l| l.trim() != "### Check character")
        .filter(|l| l.starts_with("| ") && !l.contains("members") && !l.contains("---"))
        .map(|l| l.split('|').nth(2).unwrap().replace(['`', ' '], ""))
        .collect();
    assert_eq!(rows, LOOK_ALIKES.map(String::from), "look-alike table");

    let charset: Vec<char> = "0123456789ABCDEFGHJKMNPQRSTVWXYZ".chars().collect();
    assert_eq!(check_char("ABCDEFGHJKMN", &charset), Ok('3'));
    assert!(doc.contains("The sum is 189, 189 mod 32 = 29, (32 − 29) mod 32 = 3"));
    assert!(verify_check_char("ABCDEFGHJKMN3", &charset));
    assert!(!verify_check_char("ABCDEFHGJKMN3", &charset));
    let default_check = CodePattern {
        check_char: true,
        ..CodePattern::default()
    };
    assert_eq!(
        check_typed_code("ABCD-EFHG-JKMN3", &default_check),
        Err(CodeError::CheckCharMismatch)
    );
}
