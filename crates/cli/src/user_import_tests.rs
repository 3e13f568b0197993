//! The readers of `palisade user import`: each format's rows, and each way a row is refused.

use super::*;

const BCRYPT: &str = "$2b$04$mPirekL9DTSRpubu.C9STevVr/0EeUs7OE3LBavUQfAiPz6xLwBNK";

fn row(format: FileFormat, lines: &[&str]) -> Vec<Line> {
    let mut reader = RowReader::new(format);
    lines.iter().map(|l| reader.line(l)).collect()
}

#[test]
fn a_json_line_of_the_contract_reads_whole() {
    let line = format!(
        r#"{{"external_id":"1001","email":"ada@example.com","name":"Ada","disabled":false,"roles":["member"],"tenants":[{{"tenant":"graph-1","role":"manager"}}],"tier":"pro","password_hash":"{BCRYPT}"}}"#
    );
    assert_eq!(
        row(FileFormat::Jsonl, &[&line, "", "  "]),
        vec![
            Line::Row(Ok(ImportedAccount {
                external_id: Some("1001".into()),
                email: "ada@example.com".into(),
                name: Some("Ada".into()),
                disabled: false,
                roles: vec!["member".into()],
                tenants: vec![("graph-1".into(), "manager".into())],
                tier: Some("pro".into()),
                password_hash: Some(BCRYPT.into()),
            })),
            Line::Skip,
            Line::Skip,
        ]
    );
    // Only the two required fields; nulls are absent.
    let Line::Row(Ok(a)) = &row(
        FileFormat::Jsonl,
        &[r#"{"external_id":"7","email":"b@example.com","password_hash":null,"roles":null}"#],
    )[0] else {
        panic!()
    };
    assert_eq!((a.password_hash.as_ref(), a.roles.len()), (None, 0));
}

#[test]
fn json_refusals_name_the_field_and_never_the_value() {
    let table: &[(&str, &str)] = &[
        (
            r#"{"external_id":"1","email":"a@x.io","admin":true}"#,
            "admin: unknown field",
        ),
        (r#"{"email":"a@x.io"}"#, "external_id: missing"),
        (
            r#"{"external_id":1001,"email":"a@x.io"}"#,
            "external_id: expected a string",
        ),
        (r#"{"external_id":"1"}"#, "email: missing"),
        (
            r#"{"external_id":"1","email":"a@x.io","disabled":"no"}"#,
            "disabled: expected true or false",
        ),
        (
            r#"{"external_id":"1","email":"a@x.io","roles":"admin"}"#,
            "roles: expected a list of role names",
        ),
        (
            r#"{"external_id":"1","email":"a@x.io","tenants":[{"tenant":"t"}]}"#,
            "tenants.role: missing",
        ),
        (
            r#"{"external_id":"1","email":"a@x.io","tenants":[{"tenant":"t","role":"r","x":1}]}"#,
            "tenants.x: unknown field",
        ),
        (
            r#"{"external_id":"1","email":"a@x.io","password_hash":42}"#,
            "password_hash: expected a string",
        ),
        (r#"["external_id"]"#, "row: not a JSON object"),
        (
            r#"{"external_id":"1","password_hash":"$2b$04$secretsecret"#,
            "row: not valid JSON (ends too soon at column 55)",
        ),
    ];
    for (line, want) in table {
        let Line::Row(Err(refusal)) = &row(FileFormat::Jsonl, &[line])[0] else {
            panic!("{line} was not refused")
        };
        assert_eq!(refusal.to_string(), *want, "{line}");
        assert!(!refusal.to_string().contains("secret"), "{refusal}");
    }
}

#[test]
fn csv_with_a_header_of_the_field_names() {
    let lines = [
        "email,external_id,roles,tenants,disabled,password_hash,name",
        &format!(
            r#"ada@example.com, 1001 ,member;viewer,g1:manager;g2:viewer,true,{BCRYPT},"Lovelace, Ada""#
        ),
        "b@example.com,1002,,,,,",
        "c@example.com,,,,,,",
        "d@example.com,1004,,g1,,,",
        "e@example.com,1005",
        r#"f@example.com,"1006,,,,,"#,
    ];
    let rows = row(FileFormat::Csv, &lines);
    assert_eq!(rows[0], Line::Skip);
    assert_eq!(
        rows[1],
        Line::Row(Ok(ImportedAccount {
            external_id: Some("1001".into()),
            email: "ada@example.com".into(),
            name: Some("Lovelace, Ada".into()),
            disabled: true,
            roles: vec!["member".into(), "viewer".into()],
            tenants: vec![
                ("g1".into(), "manager".into()),
                ("g2".into(), "viewer".into())
            ],
            tier: None,
            password_hash: Some(BCRYPT.into()),
        }))
    );
    let Line::Row(Ok(b)) = &rows[2] else { panic!() };
    assert_eq!((b.password_hash.as_ref(), b.roles.len()), (None, 0));
    let refusals: Vec<String> = rows[3..]
        .iter()
        .map(|l| match l {
            Line::Row(Err(r)) => r.to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        refusals,
        [
            "external_id: missing",
            "tenants: expected tenant:role;tenant:role",
            "row: 2 cells, the header has 7",
            "row: a quoted cell is not closed",
        ]
    );
    // An argon2 PHC string (it holds commas) travels quoted.
    let argon2 = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
    let rows = row(
        FileFormat::Csv,
        &[
            "external_id,email,password_hash",
            &format!(r#"9,g@example.com,"{argon2}""#),
        ],
    );
    let Line::Row(Ok(g)) = &rows[1] else { panic!() };
    assert_eq!(g.password_hash.as_deref(), Some(argon2));
}

#[test]
fn a_bad_csv_header_refuses_the_file() {
    for (header, want) in [
        ("external_id,email,admin", "admin: unknown column"),
        ("external_id,email,email", "email: column given twice"),
        ("external_id,name", "email: no such column"),
    ] {
        assert_eq!(
            row(FileFormat::Csv, &[header])[0],
            Line::BadHeader(want.into())
        );
    }
}

#[test]
fn the_older_csv_keeps_working() {
    for first in ["email,password_hash,roles", "EMAIL"] {
        let rows = row(
            FileFormat::Csv,
            &[
                first,
                &format!("Ann@Example.com,{BCRYPT},admin;;ops,Ann"),
                "bad-line",
            ],
        );
        assert_eq!(rows[0], Line::Skip);
        assert_eq!(
            rows[1],
            Line::Row(Ok(ImportedAccount {
                email: "Ann@Example.com".into(),
                roles: vec!["admin".into(), "ops".into()],
                name: Some("Ann".into()),
                password_hash: Some(BCRYPT.into()),
                ..Default::default()
            }))
        );
        let Line::Row(Err(r)) = &rows[2] else {
            panic!()
        };
        assert_eq!(r.field, "password_hash");
    }
    // Headerless: the first line is a row.
    let rows = row(FileFormat::Csv, &[&format!("b@example.com,{BCRYPT}")]);
    assert!(matches!(&rows[0], Line::Row(Ok(a)) if a.email == "b@example.com"));
}
