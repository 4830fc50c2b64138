//! Tests of the directory: sealed records and what reaches the disk, the master key (a
//! wrong one refused), blind-index lookups, the match rule in every case, input rules,
//! and erasure (exactly one subject, nothing of it left in the files).

use super::matching::decide;
use super::record::{MAX_NAME, MAX_RECIPIENT_IDS, normalize_email, normalize_phone};
use super::*;
use std::path::Path;

const EMAIL: &str = "Zyxwv.Quokka-7731@Example.ORG";
const PHONE: &str = "+49 (30) 9876-5432";
const NAME: &str = "Philomena Quartermaine-Xylo";
const RECIPIENT: &str = "rcpt-QX7731-mailchimp";

fn open(dir: &Path) -> Directory {
    Directory::open(dir, None).unwrap()
}

fn person(email: &str, phone: &str, name: &str, recipient: &str) -> SubjectInput {
    SubjectInput {
        email: Some(email.into()),
        phone: Some(phone.into()),
        name: Some(name.into()),
        recipient_ids: vec![recipient.into()],
        external_ref: Some("crm-000417".into()),
        ..SubjectInput::default()
    }
}

fn alice() -> SubjectInput {
    person(EMAIL, PHONE, NAME, RECIPIENT)
}

fn bob() -> SubjectInput {
    person(
        "bob.other@example.net",
        "030 1111 2222",
        "Bob Other",
        "rcpt-bob",
    )
}

/// Every byte of every file under `dir`.
fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The files under `dir` that hold `needle`.
fn files_with(dir: &Path, needle: &[u8]) -> Vec<String> {
    all_bytes(dir)
        .into_iter()
        .filter(|(_, bytes)| contains(bytes, needle))
        .map(|(name, _)| name)
        .collect()
}

fn plaintexts() -> Vec<&'static [u8]> {
    vec![
        b"zyxwv.quokka-7731@example.org",
        b"Zyxwv.Quokka",
        b"Quokka",
        b"4930987654",
        b"9876-5432",
        b"Philomena",
        b"Quartermaine",
        b"QX7731",
        b"crm-000417",
    ]
}

#[test]
fn a_record_round_trips_sealed_and_no_plaintext_reaches_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = open(dir.path());
    let added = d.upsert(alice(), 1_000).unwrap();
    assert_eq!(
        added.record.email.as_deref(),
        Some("zyxwv.quokka-7731@example.org")
    );
    assert_eq!(added.record.phone.as_deref(), Some("+493098765432"));
    assert_eq!(added.record.name.as_deref(), Some(NAME));
    assert_eq!(added.record.recipient_ids, vec![RECIPIENT.to_string()]);
    assert_eq!(
        (added.record.created_ms, added.record.updated_ms),
        (1_000, 1_000)
    );
    assert_eq!(d.get(&added.member).unwrap(), added);
    // An update replaces what is given and adds recipient ids.
    let update = SubjectInput {
        member: Some(added.member),
        name: Some("Philomena Q. Xylo".into()),
        recipient_ids: vec!["rcpt-second-QX7731".into()],
        ..SubjectInput::default()
    };
    let updated = d.upsert(update, 2_000).unwrap();
    assert_eq!(updated.record.email, added.record.email);
    assert_eq!(updated.record.recipient_ids.len(), 2);
    assert_eq!(
        (updated.record.created_ms, updated.record.updated_ms),
        (1_000, 2_000)
    );
    // Reopened (same key file): the same record.
    drop(d);
    let d = open(dir.path());
    assert_eq!(d.get(&added.member).unwrap(), updated);
    for needle in plaintexts() {
        let found = files_with(dir.path(), needle);
        assert!(
            found.is_empty(),
            "{} in {found:?}",
            String::from_utf8_lossy(needle)
        );
    }
    // The member id is in clear (public on the ledger anyway).
    assert!(!files_with(dir.path(), added.member.to_hex().as_bytes()).is_empty());
}

#[test]
fn the_key_file_is_created_0600_and_a_wrong_key_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let d = open(dir.path());
    let member = d.upsert(alice(), 1).unwrap().member;
    drop(d);
    let key_path = dir.path().join(KEY_FILE);
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(std::fs::read(&key_path).unwrap().len(), 32);
    let db_mode = std::fs::metadata(dir.path().join(DIRECTORY_FILE))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(db_mode, 0o600);

    // Another key (a new file elsewhere): refused with a clear error, nothing read.
    let other = dir.path().join("other.key");
    let err = Directory::open(dir.path(), Some(&other)).unwrap_err();
    assert!(matches!(err, DirectoryError::WrongKey { .. }), "{err}");
    assert!(err.to_string().contains("does not open"), "{err}");
    // A lost key file: a new one is made, and refused the same way.
    std::fs::rename(&key_path, dir.path().join("saved.key")).unwrap();
    let err = Directory::open(dir.path(), None).unwrap_err();
    assert!(matches!(err, DirectoryError::WrongKey { .. }), "{err}");
    // A key file of the wrong length.
    let short = dir.path().join("short.key");
    std::fs::write(&short, [7u8; 16]).unwrap();
    let err = Directory::open(dir.path(), Some(&short)).unwrap_err();
    assert!(matches!(err, DirectoryError::BadKeyFile(_)), "{err}");
    // The right key opens it again.
    let d = Directory::open(dir.path(), Some(&dir.path().join("saved.key"))).unwrap();
    assert_eq!(d.get(&member).unwrap().record.name.as_deref(), Some(NAME));
}

#[test]
fn a_record_sealed_for_one_member_does_not_open_as_another() {
    let key = keys::random_key();
    let sealed = keys::seal(&key, &[1; 32], b"secret");
    assert_eq!(
        keys::open(&key, &[1; 32], &sealed, "record").unwrap(),
        b"secret"
    );
    assert!(keys::open(&key, &[2; 32], &sealed, "record").is_err());
    assert!(keys::open(&keys::random_key(), &[1; 32], &sealed, "record").is_err());
    assert!(keys::open(&key, &[1; 32], &sealed[..20], "record").is_err());
    // Domain separation: the derived keys differ from each other and from the master.
    let master = MasterKey::from_bytes([9; 32]);
    assert_ne!(master.wrap_key(), master.index_key());
    assert_ne!(master.wrap_key(), [9; 32]);
    assert_ne!(master.check_value(), master.index_key());
}

#[test]
fn blind_indexes_find_normalized_emails_phones_and_exact_recipient_ids() {
    let dir = tempfile::tempdir().unwrap();
    let d = open(dir.path());
    let a = d.upsert(alice(), 1).unwrap().member;
    let b = d.upsert(bob(), 1).unwrap().member;
    assert_ne!(a, b);
    let find = |inputs: MatchInputs| d.find(&inputs).map(|m| m.member);
    for email in [
        EMAIL,
        " zyxwv.quokka-7731@example.org",
        "ZYXWV.QUOKKA-7731@EXAMPLE.ORG",
    ] {
        let got = find(MatchInputs {
            email: Some(email.into()),
            ..MatchInputs::default()
        });
        assert_eq!(got.unwrap(), a, "{email}");
    }
    for phone in ["+493098765432", "+49 30 98765432", "+49.30.9876.5432"] {
        let got = find(MatchInputs {
            phone: Some(phone.into()),
            ..MatchInputs::default()
        });
        assert_eq!(got.unwrap(), a, "{phone}");
    }
    // Without the + it is another number.
    let no_plus = find(MatchInputs {
        phone: Some("493098765432".into()),
        ..MatchInputs::default()
    });
    assert!(matches!(no_plus, Err(DirectoryError::NotFound(_))));
    let rcpt = |r: &str| {
        find(MatchInputs {
            recipient_id: Some(r.into()),
            ..MatchInputs::default()
        })
    };
    assert_eq!(rcpt(RECIPIENT).unwrap(), a);
    assert_eq!(rcpt("rcpt-bob").unwrap(), b);
    assert!(
        matches!(rcpt("RCPT-BOB"), Err(DirectoryError::NotFound(_))),
        "exact"
    );
    // The index is keyed: the MAC depends on the master key.
    let other = tempfile::tempdir().unwrap();
    let d2 = open(other.path());
    assert_ne!(
        d.store().blind(record::IndexKind::Email, "x@y.z"),
        d2.store().blind(record::IndexKind::Email, "x@y.z")
    );
    assert_ne!(
        d.store().blind(record::IndexKind::Email, "x@y.z"),
        d.store().blind(record::IndexKind::Recipient, "x@y.z"),
        "kinds are separated"
    );
}

#[test]
fn an_email_phone_or_recipient_of_another_subject_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = open(dir.path());
    d.upsert(alice(), 1).unwrap();
    let b = d.upsert(bob(), 1).unwrap().member;
    // A new subject with alice's email (another case): refused, names the field only.
    let dup = SubjectInput {
        email: Some(EMAIL.to_uppercase()),
        ..SubjectInput::default()
    };
    let err = d.upsert(dup, 2).unwrap_err();
    assert!(matches!(err, DirectoryError::AlreadyLinked(_)), "{err}");
    assert!(err.to_string().contains("email"));
    assert!(!err.to_string().contains("quokka"), "{err}");
    // Bob taking alice's recipient id: refused, bob unchanged.
    let take = SubjectInput {
        member: Some(b),
        recipient_ids: vec![RECIPIENT.into()],
        ..SubjectInput::default()
    };
    assert!(matches!(
        d.upsert(take, 3),
        Err(DirectoryError::AlreadyLinked(_))
    ));
    assert_eq!(
        d.get(&b).unwrap().record.recipient_ids,
        vec!["rcpt-bob".to_string()]
    );
    // An import with a given member id works, and is then found by it.
    let imported = MemberId([0x42; 32]);
    let import = SubjectInput {
        member: Some(imported),
        email: Some("carol@example.com".into()),
        ..SubjectInput::default()
    };
    assert_eq!(d.upsert(import, 4).unwrap().member, imported);
    let m = d
        .find(&MatchInputs {
            member: Some(imported),
            ..MatchInputs::default()
        })
        .unwrap();
    assert_eq!(
        (m.member, m.matched_by),
        (imported, vec!["member".to_string()])
    );
    assert_eq!(d.store().count().unwrap(), 3);
}

#[test]
fn the_match_rule_in_every_case() {
    let (a, b) = (MemberId([1; 32]), MemberId([2; 32]));
    // Every resolving input names one subject: that member.
    let m = decide(&[
        ("email", Some(a)),
        ("recipient_id", Some(a)),
        ("member", Some(a)),
    ])
    .unwrap();
    assert_eq!(m.member, a);
    assert_eq!(m.matched_by, ["email", "recipient_id", "member"]);
    assert!(m.unmatched.is_empty());
    // Inputs resolving to nothing do not block a match; they are listed.
    let m = decide(&[("email", None), ("recipient_id", Some(b)), ("member", None)]).unwrap();
    assert_eq!(m.member, b);
    assert_eq!(m.unmatched, ["email", "member"]);
    // Different subjects: a conflict naming the inputs by group.
    let err = decide(&[
        ("email", Some(a)),
        ("recipient_id", Some(b)),
        ("member", Some(a)),
    ])
    .unwrap_err();
    match &err {
        DirectoryError::MatchConflict { groups, message } => {
            assert_eq!(groups, &[vec!["email", "member"], vec!["recipient_id"]]);
            assert!(
                message.contains("email and member; recipient_id"),
                "{message}"
            );
            assert!(!message.contains(&a.to_hex()) && !message.contains(&b.to_hex()));
        }
        other => panic!("{other}"),
    }
    // None resolves: not found. No input: invalid.
    assert!(matches!(
        decide(&[("email", None), ("member", None)]),
        Err(DirectoryError::NotFound(_))
    ));
    assert!(matches!(decide(&[]), Err(DirectoryError::Invalid(_))));
}

#[test]
fn find_with_conflicting_inputs_names_them_and_nothing_of_the_subjects() {
    let dir = tempfile::tempdir().unwrap();
    let d = open(dir.path());
    let a = d.upsert(alice(), 1).unwrap().member;
    let b = d.upsert(bob(), 1).unwrap().member;
    let all_alice = MatchInputs {
        email: Some(EMAIL.into()),
        recipient_id: Some(RECIPIENT.into()),
        member: Some(a),
        ..MatchInputs::default()
    };
    assert_eq!(d.find(&all_alice).unwrap().matched_by.len(), 3);
    // Alice's email with bob's member id.
    let mixed = MatchInputs {
        email: Some(EMAIL.into()),
        member: Some(b),
        ..MatchInputs::default()
    };
    let err = d.find(&mixed).unwrap_err();
    let DirectoryError::MatchConflict { groups, message } = &err else {
        panic!("{err}");
    };
    assert_eq!(groups, &[vec!["email"], vec!["member"]]);
    let a_hex = a.to_hex();
    for secret in ["quokka", "bob", "Philomena", a_hex.as_str()] {
        assert!(!message.contains(secret), "{message}");
    }
    // Bob's recipient id with alice's email and an unknown member id.
    let three = MatchInputs {
        email: Some(EMAIL.into()),
        recipient_id: Some("rcpt-bob".into()),
        member: Some(MemberId([9; 32])),
        ..MatchInputs::default()
    };
    let DirectoryError::MatchConflict { groups, .. } = d.find(&three).unwrap_err() else {
        panic!("a conflict");
    };
    assert_eq!(groups, [vec!["email"], vec!["recipient_id"]]);
    // Unknown everything: not found; a malformed email: invalid, before any lookup.
    let unknown = MatchInputs {
        email: Some("nobody@example.com".into()),
        member: Some(MemberId([9; 32])),
        ..MatchInputs::default()
    };
    assert!(matches!(d.find(&unknown), Err(DirectoryError::NotFound(_))));
    let bad = MatchInputs {
        email: Some("not an email".into()),
        ..MatchInputs::default()
    };
    assert!(matches!(d.find(&bad), Err(DirectoryError::Invalid(_))));
    assert!(matches!(
        d.find(&MatchInputs::default()),
        Err(DirectoryError::Invalid(_))
    ));
}

#[test]
fn input_rules_refuse_bad_values_without_echoing_them() {
    for bad in [
        "",
        "no-at-sign",
        "a@b",
        "two@@example.com",
        "a b@example.com",
        "@example.com",
    ] {
        let err = normalize_email(bad).unwrap_err();
        assert!(matches!(err, DirectoryError::Invalid(_)), "{bad}");
    }
    let long = format!("{}@example.com", "a".repeat(250));
    assert!(normalize_email(&long).is_err());
    for bad in ["12", "+1 (555) abc", "1234567890123456", "++4930", "phone"] {
        assert!(normalize_phone(bad).is_err(), "{bad}");
    }
    assert_eq!(normalize_phone("030 123-45").unwrap(), "03012345");
    let dir = tempfile::tempdir().unwrap();
    let d = open(dir.path());
    let cases = [
        SubjectInput {
            name: Some("x".repeat(MAX_NAME + 1)),
            ..SubjectInput::default()
        },
        SubjectInput {
            name: Some("line\nbreak".into()),
            ..SubjectInput::default()
        },
        SubjectInput {
            recipient_ids: vec!["has space".into()],
            ..SubjectInput::default()
        },
        SubjectInput {
            recipient_ids: (0..=MAX_RECIPIENT_IDS).map(|i| format!("r{i}")).collect(),
            ..SubjectInput::default()
        },
        SubjectInput {
            email: Some("secret-value-no-at".into()),
            ..SubjectInput::default()
        },
    ];
    for input in cases {
        let err = d.upsert(input.clone(), 1).unwrap_err();
        assert!(
            matches!(err, DirectoryError::Invalid(_)),
            "{input:?}: {err}"
        );
        assert!(!err.to_string().contains("secret-value"), "{err}");
    }
    assert_eq!(d.store().count().unwrap(), 0);
}

/// The sealed record and wrapped key of `member`, read with a second connection.
fn ciphertexts(dir: &Path, member: &MemberId) -> (Vec<u8>, Vec<u8>) {
    let conn = rusqlite::Connection::open(dir.join(DIRECTORY_FILE)).unwrap();
    conn.query_row(
        "SELECT record, wrapped_key FROM subjects WHERE member = ?1",
        [member.to_hex()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[test]
fn erasure_removes_exactly_one_subject_and_leaves_none_of_its_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let d = open(dir.path());
    let a = d.upsert(alice(), 1).unwrap().member;
    // An update first: the earlier ciphertext must not survive either.
    let first = ciphertexts(dir.path(), &a);
    let update = SubjectInput {
        member: Some(a),
        name: Some("Philomena Renamed".into()),
        ..SubjectInput::default()
    };
    d.upsert(update, 2).unwrap();
    let second = ciphertexts(dir.path(), &a);
    let b = d.upsert(bob(), 3).unwrap().member;
    let bob_before = d.get(&b).unwrap();

    let erased = d.erase(&a, 10).unwrap();
    assert_eq!(
        erased,
        Erased {
            member: a,
            time_ms: 10
        }
    );
    assert_eq!(
        d.get(&a).unwrap_err().to_string(),
        format!("member {a} is not in the directory")
    );
    for inputs in [
        MatchInputs {
            email: Some(EMAIL.into()),
            ..MatchInputs::default()
        },
        MatchInputs {
            phone: Some(PHONE.into()),
            ..MatchInputs::default()
        },
        MatchInputs {
            recipient_id: Some(RECIPIENT.into()),
            ..MatchInputs::default()
        },
        MatchInputs {
            member: Some(a),
            ..MatchInputs::default()
        },
    ] {
        assert!(
            matches!(d.find(&inputs), Err(DirectoryError::NotFound(_))),
            "{inputs:?}"
        );
    }
    // Bob is untouched.
    assert_eq!(d.get(&b).unwrap(), bob_before);
    assert_eq!(
        d.find(&MatchInputs {
            email: Some("bob.other@example.net".into()),
            ..MatchInputs::default()
        })
        .unwrap()
        .member,
        b
    );
    assert_eq!(d.store().count().unwrap(), 1);
    assert_eq!(d.erasures(100).unwrap(), vec![erased.clone()]);
    // Again: nothing to erase, and the log keeps one row.
    assert!(matches!(d.erase(&a, 11), Err(DirectoryError::NotFound(_))));
    assert_eq!(d.erasures(100).unwrap().len(), 1);

    // No file holds any ciphertext the subject ever had, nor a plaintext.
    for (what, bytes) in [
        ("first record", &first.0),
        ("first wrapped key", &first.1),
        ("updated record", &second.0),
        ("updated wrapped key", &second.1),
    ] {
        let needle = &bytes[..bytes.len().min(48)];
        let found = files_with(dir.path(), needle);
        assert!(found.is_empty(), "{what} still in {found:?}");
    }
    for needle in plaintexts() {
        assert!(files_with(dir.path(), needle).is_empty());
    }
    // Bob's ciphertext is still there (the scan does find what is present).
    let (bob_record, _) = ciphertexts(dir.path(), &b);
    assert!(!files_with(dir.path(), &bob_record[..48]).is_empty());
}

#[test]
fn purge_member_erases_from_the_directory_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let d = open(dir.path());
    let a = d.upsert(alice(), 1).unwrap().member;
    let purged = purge_member(Some(&d), None, &a, 5).unwrap();
    assert_eq!(
        purged.directory,
        Some(Erased {
            member: a,
            time_ms: 5
        })
    );
    let again = purge_member(Some(&d), None, &a, 6).unwrap();
    assert_eq!(again, Purged::default());
}
