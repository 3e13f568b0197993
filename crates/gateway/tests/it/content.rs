//! Content rules through a running gateway (issue 19 item 3, and item 2's bounded
//! decompression): a route's JSON Schema (types, required, no extra properties, bounds,
//! patterns, nested fields named by JSON pointer, never by value), its media-type allow list,
//! duplicate keys, charsets, the route's body limit, gzip / deflate / br bodies decoded within
//! `max_decompressed` and `max_ratio` (bombs refused with 413, decompression off refused with
//! 415, the upstream given the bytes as sent), the `schema.refused` record, and `config check`
//! on broken schema files (paths relative to the config file).

use crate::common::*;
use crate::inspect::records;
use palisade_gateway::config::inspect::RouteInspect;
use palisade_gateway::config::units::ByteSize;
use palisade_gateway::config::{Config, Environment, RouteConfig};
use serde_json::json;
use std::io::Write;

const SCHEMA: &str = r#"{
  "type": "object",
  "additionalProperties": false,
  "required": ["name", "age", "address"],
  "properties": {
    "name": { "type": "string", "minLength": 1, "maxLength": 40, "pattern": "^[A-Za-z ]+$" },
    "age": { "type": "integer", "minimum": 0, "maximum": 150 },
    "role": { "enum": ["user", "viewer"] },
    "tags": { "type": "array", "items": { "type": "string" }, "maxItems": 3 },
    "address": {
      "type": "object",
      "additionalProperties": false,
      "required": ["zip"],
      "properties": {
        "zip": { "type": "string", "pattern": "^[0-9]{5}$" },
        "city": { "type": "string" }
      }
    }
  }
}"#;

const VALID: &str = r#"{"name":"Ann Lee","age":30,"address":{"zip":"12345","city":"Oslo"}}"#;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn br(data: &[u8]) -> Vec<u8> {
    let mut w = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
    w.write_all(data).unwrap();
    w.into_inner()
}

/// `data` as a stream in two chunks split at `at`: no `Content-Length` is sent.
fn chunked(data: &[u8], at: usize) -> reqwest::Body {
    let (a, b) = data.split_at(at);
    reqwest::Body::wrap_stream(futures_util::stream::iter(vec![
        Ok::<_, std::io::Error>(a.to_vec()),
        Ok(b.to_vec()),
    ]))
}

/// A valid document padded with `n` spaces: compresses very well.
fn padded(n: usize) -> Vec<u8> {
    format!("{}{VALID}", " ".repeat(n)).into_bytes()
}

struct Setup {
    gw: TestGateway,
    up: Upstream,
}

/// The gateway of these tests. `decompress`: `[inspect] decompress = true` within 64 KiB (the
/// ratio bound out of the way), else the defaults (off).
async fn setup(name: &'static str, decompress: bool) -> Setup {
    let up = Upstream::start(name).await;
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("user.json");
    std::fs::write(&schema, SCHEMA).unwrap();
    let with_schema = |prefix: &str, max_body: u64| RouteConfig {
        schema: Some(schema.clone()),
        max_body: Some(ByteSize(max_body)),
        ..route(prefix, &up)
    };
    let inspected = |rc: RouteConfig, i: RouteInspect| RouteConfig {
        inspect: Some(i),
        ..rc
    };
    let routes = vec![
        with_schema("/schema", 4096),
        RouteConfig {
            content_types: vec!["Application/JSON".into(), "application/vnd.api+json".into()],
            ..with_schema("/typed", 4096)
        },
        RouteConfig {
            content_types: vec!["text/csv".into()],
            ..route("/csv", &up)
        },
        // A schema, no inspection: `[inspect]`'s decompression.
        with_schema("/big", 64 * 1024),
        // Inspected too, at most 100 times the compressed size (within 1 MB).
        inspected(
            with_schema("/ratio", 64 * 1024),
            RouteInspect {
                max_ratio: Some(100),
                max_decompressed: Some(ByteSize(1_000_000)),
                ..Default::default()
            },
        ),
        // Decompression turned off for this route.
        inspected(
            with_schema("/off", 64 * 1024),
            RouteInspect {
                decompress: Some(false),
                ..Default::default()
            },
        ),
        // Inspection only (no schema).
        inspected(route("/inspected", &up), RouteInspect::default()),
        route("/plain", &up),
    ];
    let gw = start_with(
        |c| {
            if decompress {
                c.inspect.decompress = true;
                c.inspect.max_decompressed = ByteSize(64 * 1024);
                c.inspect.max_ratio = 1_000_000;
            }
        },
        routes,
    )
    .await;
    // The schema was compiled at start: the file is no longer needed.
    drop(dir);
    Setup { gw, up }
}

fn post(
    gw: &TestGateway,
    path: &str,
    ctype: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::RequestBuilder {
    client()
        .post(gw.url(path))
        .header("content-type", ctype)
        .body(body)
}

/// A body, a value the refusal must not echo ("" when none to check), the expected
/// `(pointer, keyword)` pairs.
type Row = (
    serde_json::Value,
    &'static str,
    &'static [(&'static str, &'static str)],
);

#[tokio::test]
async fn schema_table_names_the_field_and_keyword_never_the_value() {
    let Setup { gw, up } = setup("content-schema", false).await;
    let ok = post(&gw, "/schema/users", "application/json", VALID)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(up.last().body_len, VALID.len());
    let table: &[Row] = &[
        (
            json!({"name":"Ann","age":"thirty-one","address":{"zip":"12345"}}),
            "thirty-one",
            &[("/age", "type")],
        ),
        (
            json!({"name":"Ann","age":31}),
            "",
            &[("/address", "required")],
        ),
        (
            json!({"name":"Ann","age":31,"address":{"zip":"12345"},"isAdmin":"yes-please"}),
            "yes-please",
            &[("/isAdmin", "additionalProperties")],
        ),
        (
            json!({"name":"Ann","age":151,"address":{"zip":"12345"}}),
            "",
            &[("/age", "maximum")],
        ),
        (
            json!({"name":"Ann","age":-4,"address":{"zip":"12345"}}),
            "",
            &[("/age", "minimum")],
        ),
        (
            json!({"name":"Robert'); DROP","age":31,"address":{"zip":"12345"}}),
            "DROP",
            &[("/name", "pattern")],
        ),
        (
            json!({"name":"Ann","age":31,"address":{"zip":"ABCDE"}}),
            "ABCDE",
            &[("/address/zip", "pattern")],
        ),
        (
            json!({"name":"Ann","age":31,"address":{"zip":"12345","street":"Elm Street"}}),
            "Elm Street",
            &[("/address/street", "additionalProperties")],
        ),
        (
            json!({"name":"Ann","age":31,"address":{}}),
            "",
            &[("/address/zip", "required")],
        ),
        (
            json!({"name":"Ann","age":31,"address":{"zip":"12345"},"tags":["a",7007]}),
            "",
            &[("/tags/1", "type")],
        ),
        (
            json!({"name":"Ann","age":31,"address":{"zip":"12345"},"role":"superadmin"}),
            "superadmin",
            &[("/role", "enum")],
        ),
        (
            json!(["sequence", "of", "words"]),
            "sequence",
            &[("", "type")],
        ),
        // Several at once, each named.
        (
            json!({"name":"","age":1.5,"address":{"zip":"12345"},"x":1}),
            "",
            &[
                ("/name", "minLength"),
                ("/name", "pattern"),
                ("/age", "type"),
                ("/x", "additionalProperties"),
            ],
        ),
    ];
    for (body, secret, want) in table {
        let res = post(&gw, "/schema/users", "application/json", body.to_string())
            .send()
            .await
            .unwrap();
        let problem = assert_problem(res, 422, "schema-mismatch").await;
        let mut got: Vec<(String, String)> = problem["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("errors in {problem}"))
            .iter()
            .map(|e| {
                (
                    e["pointer"].as_str().unwrap().to_owned(),
                    e["keyword"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        got.sort();
        let mut want: Vec<(String, String)> = want
            .iter()
            .map(|(p, k)| (p.to_string(), k.to_string()))
            .collect();
        want.sort();
        assert_eq!(got, want, "{body}");
        if !secret.is_empty() {
            assert!(
                !problem.to_string().contains(secret),
                "the value is never echoed: {problem}"
            );
        }
    }
    assert_eq!(up.count(), 1, "no refused body reached the upstream");

    // On record: the fields and keywords, sampled; never a value.
    let recs = records(&gw).await;
    let ev: Vec<_> = recs
        .iter()
        .filter(|r| r.event_type == "schema.refused")
        .collect();
    let counted: u64 = ev
        .iter()
        .map(|r| r.details["count"].as_u64().unwrap_or(1))
        .sum();
    assert_eq!(counted, table.len() as u64, "{ev:?}");
    assert_eq!(ev[0].details["reason"], "schema-mismatch");
    assert_eq!(ev[0].details["errors"][0]["pointer"], "/age");
    assert_eq!(ev[0].details["errors"][0]["keyword"], "type");
    let all = serde_json::to_string(&ev.iter().map(|r| &r.details).collect::<Vec<_>>()).unwrap();
    assert!(!all.contains("thirty-one"), "no value on record: {all}");
}

#[tokio::test]
async fn bodies_that_are_not_strict_json_within_bounds_are_refused() {
    let Setup { gw, up } = setup("content-bodies", false).await;
    // Duplicate keys: the last one would win in most parsers (a mass-assignment bypass).
    let res = post(
        &gw,
        "/schema/u",
        "application/json",
        r#"{"name":"Ann","age":30,"address":{"zip":"12345"},"age":"x"}"#,
    )
    .send()
    .await
    .unwrap();
    assert_problem(res, 400, "duplicate-json-key").await;
    // A charset other than UTF-8, or bytes that are not UTF-8.
    let res = post(
        &gw,
        "/schema/u",
        "application/json; charset=iso-8859-1",
        VALID,
    )
    .send()
    .await
    .unwrap();
    assert_problem(res, 415, "charset-not-utf8").await;
    let res = post(
        &gw,
        "/schema/u",
        "application/json",
        b"{\"name\":\"Ann\xe9\",\"age\":30,\"address\":{\"zip\":\"12345\"}}".to_vec(),
    )
    .send()
    .await
    .unwrap();
    assert_problem(res, 415, "charset-not-utf8").await;
    // Malformed JSON, trailing bytes.
    for bad in [r#"{"name":"Ann","#, r#"{"name":"Ann"} {}"#, "nul"] {
        let res = post(&gw, "/schema/u", "application/json", bad)
            .send()
            .await
            .unwrap();
        assert_problem(res, 400, "malformed-body").await;
    }
    // A write without a body; a read without one passes.
    let res = client()
        .post(gw.url("/schema/u"))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_problem(res, 400, "body-required").await;
    let res = client().get(gw.url("/schema/u")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // Over the route's 4 KiB: by Content-Length, and chunked.
    let big = padded(5000);
    let res = post(&gw, "/schema/u", "application/json", big.clone())
        .send()
        .await
        .unwrap();
    assert_problem(res, 413, "body-too-large").await;
    let res = post(&gw, "/schema/u", "application/json", chunked(&big, 2500))
        .send()
        .await
        .unwrap();
    assert_problem(res, 413, "body-too-large").await;
    // Under the limit, chunked: read whole, validated, forwarded whole.
    let res = post(
        &gw,
        "/schema/u",
        "application/json",
        chunked(VALID.as_bytes(), 10),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(up.last().body_len, VALID.len());
    // Decompression is off by default: a compressed body is refused, whatever the coding.
    for enc in ["gzip", "deflate", "br"] {
        let res = post(&gw, "/schema/u", "application/json", gzip(VALID.as_bytes()))
            .header("content-encoding", enc)
            .send()
            .await
            .unwrap();
        assert_problem(res, 415, "compressed-body").await;
    }
    assert_eq!(up.count(), 2, "only the GET and the valid body passed");
    let recs = records(&gw).await;
    let reasons: Vec<_> = recs
        .iter()
        .filter(|r| r.event_type == "schema.refused")
        .map(|r| r.details["reason"].as_str().unwrap().to_owned())
        .collect();
    for want in [
        "duplicate-json-key",
        "charset-not-utf8",
        "malformed-body",
        "body-required",
        "body-too-large",
        "compressed-body",
    ] {
        assert!(reasons.iter().any(|r| r == want), "{want} in {reasons:?}");
    }
}

#[tokio::test]
async fn http2_bodies_without_a_declared_length_are_still_read() {
    let Setup { gw, up } = setup("content-h2", false).await;
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let wrong = r#"{"name":"Ann","age":"x","address":{"zip":"12345"}}"#;
    // No Content-Length, no Transfer-Encoding: HTTP/2 frames the body itself.
    for method in [reqwest::Method::POST, reqwest::Method::GET] {
        let res = h2
            .request(method.clone(), gw.url("/schema/u"))
            .header("content-type", "application/json")
            .body(chunked(wrong.as_bytes(), 10))
            .send()
            .await
            .unwrap();
        assert_eq!(res.version(), reqwest::Version::HTTP_2);
        assert_problem(res, 422, "schema-mismatch").await;
        let res = h2
            .request(method, gw.url("/typed/u"))
            .header("content-type", "text/plain")
            .body(chunked(VALID.as_bytes(), 10))
            .send()
            .await
            .unwrap();
        assert_problem(res, 415, "unsupported-media-type").await;
    }
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn content_type_allow_list() {
    let Setup { gw, up } = setup("content-types", false).await;
    for ok in [
        "application/json",
        "APPLICATION/json; charset=utf-8",
        "application/vnd.api+json",
    ] {
        let res = post(&gw, "/typed/u", ok, VALID).send().await.unwrap();
        assert_eq!(res.status(), 200, "{ok}");
    }
    for refused in [
        "text/plain",
        "application/xml",
        "application/jsonx",
        "multipart/form-data; boundary=x",
    ] {
        let res = post(&gw, "/typed/u", refused, VALID).send().await.unwrap();
        assert_problem(res, 415, "unsupported-media-type").await;
    }
    // No content type at all, with a body.
    let res = client()
        .post(gw.url("/typed/u"))
        .body(VALID)
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported-media-type").await;
    // A schema without a list takes JSON media types only.
    let res = post(&gw, "/schema/u", "application/problem+json", VALID)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = post(&gw, "/schema/u", "text/json", VALID)
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported-media-type").await;
    // A list without a schema: the type is checked, the body streams on unread.
    let csv = "a,b\n1,2\n";
    let res = post(&gw, "/csv/import", "text/csv; header=present", csv)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(up.last().body_len, csv.len());
    let res = post(&gw, "/csv/import", "application/json", VALID)
        .send()
        .await
        .unwrap();
    assert_problem(res, 415, "unsupported-media-type").await;
    assert_eq!(up.count(), 5);
    let recs = records(&gw).await;
    assert!(recs.iter().any(
        |r| r.event_type == "schema.refused" && r.details["reason"] == "unsupported-media-type"
    ));
}

#[tokio::test]
async fn compressed_bodies_are_decoded_within_bounds() {
    let Setup { gw, up } = setup("content-gzip", true).await;
    let send = |path: &str, enc: &str, body: Vec<u8>| {
        post(&gw, path, "application/json", body)
            .header("content-encoding", enc)
            .send()
    };
    // Each coding, and two stacked (gzip applied first, then br): decoded, validated, and
    // forwarded as sent.
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("gzip", gzip(VALID.as_bytes())),
        ("deflate", zlib(VALID.as_bytes())),
        ("br", br(VALID.as_bytes())),
        ("gzip, br", br(&gzip(VALID.as_bytes()))),
    ];
    for (enc, body) in cases {
        let len = body.len();
        let res = send("/big/u", enc, body).await.unwrap();
        assert_eq!(res.status(), 200, "{enc}");
        let seen = up.last();
        assert_eq!(
            seen.body_len, len,
            "{enc}: the upstream got the bytes as sent"
        );
        assert_eq!(seen.header("content-encoding"), Some(enc));
    }
    // What is validated is the decoded document.
    let wrong = br#"{"name":"Ann","age":"x","address":{"zip":"12345"}}"#;
    let res = send("/big/u", "gzip", gzip(wrong)).await.unwrap();
    assert_eq!(
        assert_problem(res, 422, "schema-mismatch").await["errors"][0]["pointer"],
        "/age"
    );
    // Bombs: ~1 KB on the wire inflating past 64 KiB, in each coding and stacked.
    let bomb = padded(1_000_000);
    for (enc, body) in [
        ("gzip", gzip(&bomb)),
        ("deflate", zlib(&bomb)),
        ("br", br(&bomb)),
        ("gzip, gzip", gzip(&gzip(&bomb))),
    ] {
        assert!(body.len() < 8192, "{enc}: {} bytes on the wire", body.len());
        let res = send("/big/u", enc, body).await.unwrap();
        assert_problem(res, 413, "decompressed-too-large").await;
    }
    // Under 1 MB but over 100 times its compressed size.
    let airy = padded(50_000);
    let res = send("/ratio/u", "gzip", gzip(&airy)).await.unwrap();
    assert_problem(res, 413, "decompressed-too-large").await;
    let res = send("/ratio/u", "gzip", gzip(VALID.as_bytes()))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // Unknown codings, corrupt data.
    let res = send("/big/u", "compress", VALID.as_bytes().to_vec())
        .await
        .unwrap();
    assert_problem(res, 415, "compressed-body").await;
    let res = send("/big/u", "gzip", b"not gzip at all".to_vec())
        .await
        .unwrap();
    assert_problem(res, 400, "malformed-body").await;
    // Decompression turned off on a route.
    let res = send("/off/u", "gzip", gzip(VALID.as_bytes()))
        .await
        .unwrap();
    assert_problem(res, 415, "compressed-body").await;
    assert_eq!(up.count(), 5);
    let recs = records(&gw).await;
    let reasons = |ty: &str| -> Vec<String> {
        recs.iter()
            .filter(|r| r.event_type == ty)
            .map(|r| r.details["reason"].as_str().unwrap().to_owned())
            .collect()
    };
    let schema = reasons("schema.refused");
    for want in [
        "decompressed-too-large",
        "compressed-body",
        "malformed-body",
    ] {
        assert!(schema.iter().any(|r| r == want), "{want} in {schema:?}");
    }
    // The inspected routes refuse first, in the inspect gate.
    let inspect = reasons("inspect.refused");
    for want in ["decompressed-too-large", "compressed-body"] {
        assert!(inspect.iter().any(|r| r == want), "{want} in {inspect:?}");
    }
}

#[tokio::test]
async fn the_inspector_reads_decoded_bodies_and_refuses_bombs() {
    let Setup { gw, up } = setup("content-inspect-gzip", true).await;
    let send = |enc: &str, body: Vec<u8>| {
        post(&gw, "/inspected/x", "application/json", body)
            .header("content-encoding", enc)
            .send()
    };
    let res = send("gzip", gzip(br#"{"comment":"a fine day"}"#))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // An injection hidden by compression is found.
    let res = send("gzip", gzip(br#"{"comment":"<script>alert(1)</script>"}"#))
        .await
        .unwrap();
    assert_eq!(
        assert_problem(res, 403, "injection").await["location"],
        "json \"comment\""
    );
    let res = send("deflate", zlib(&padded(100_000))).await.unwrap();
    assert_problem(res, 413, "decompressed-too-large").await;
    assert_eq!(up.count(), 1);
    let recs = records(&gw).await;
    assert!(
        recs.iter().any(|r| r.event_type == "inspect.refused"
            && r.details["reason"] == "decompressed-too-large")
    );
    // A route with neither inspection nor a schema forwards compressed bodies untouched.
    let res = post(
        &gw,
        "/plain/x",
        "application/json",
        gzip(&padded(1_000_000)),
    )
    .header("content-encoding", "gzip")
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

fn config_with(dir: &std::path::Path, route_keys: &str) -> Config {
    let file = write(
        dir,
        "palisade.toml",
        &format!(
            "[store]\nurl = \"memory:\"\n[[routes]]\nprefix = \"/api/\"\nupstream = \"http://127.0.0.1:3000\"\n{route_keys}\n"
        ),
    );
    Config::load_file(&file).unwrap()
}

/// What `palisade config check` reports about schemas and media types.
async fn schema_problems(config: &Config) -> Vec<String> {
    palisade_gateway::config::preflight::check(config, Environment::Dev, false, &|_| None)
        .await
        .problems
        .into_iter()
        .filter(|p| p.contains("schema") || p.contains("content_types"))
        .collect()
}

#[tokio::test]
async fn config_check_reads_schemas_relative_to_the_config_file_and_reports_broken_ones() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "schemas/user.json", SCHEMA);
    write(dir.path(), "schemas/not-json.json", "{ \"type\": ");
    write(dir.path(), "schemas/bad-type.json", r#"{"type": "strnig"}"#);
    write(
        dir.path(),
        "schemas/remote.json",
        r#"{"properties": {"a": {"$ref": "https://example.com/a.json"}}}"#,
    );
    write(
        dir.path(),
        "schemas/local-file.json",
        r#"{"$ref": "user.json"}"#,
    );
    write(
        dir.path(),
        "schemas/backtracking.json",
        r#"{"type": "string", "pattern": "^(a+)+\\1$"}"#,
    );
    // Found next to the config file, wherever the process runs.
    let good = config_with(dir.path(), "schema = \"schemas/user.json\"");
    assert_eq!(
        good.routes[0].schema.as_deref(),
        Some(dir.path().join("schemas/user.json").as_path())
    );
    assert_eq!(schema_problems(&good).await, Vec::<String>::new());
    palisade_gateway::route::table::RouteTable::from_config(&good).expect("the table builds");

    for (keys, expect) in [
        ("schema = \"schemas/missing.json\"", "missing.json"),
        ("schema = \"schemas/not-json.json\"", "not JSON"),
        ("schema = \"schemas/bad-type.json\"", "bad-type.json"),
        ("schema = \"schemas/remote.json\"", "not fetched"),
        ("schema = \"schemas/local-file.json\"", "local-file.json"),
        (
            "schema = \"schemas/backtracking.json\"",
            "backtracking.json",
        ),
        (
            "schema = \"schemas/user.json\"\ncontent_types = [\"text/csv\"]",
            "is not JSON",
        ),
        ("content_types = [\"json\"]", "is not a media type"),
        (
            "content_types = [\"application/json; charset=utf-8\"]",
            "is not a media type",
        ),
    ] {
        let config = config_with(dir.path(), keys);
        let problems = schema_problems(&config).await;
        assert_eq!(problems.len(), 1, "{keys}: {problems:?}");
        assert!(
            problems[0].contains("route /api/") && problems[0].contains(expect),
            "{keys}: {problems:?}"
        );
    }
    // The decompression bounds are checked too.
    let dir2 = tempfile::tempdir().unwrap();
    let file = write(
        dir2.path(),
        "palisade.toml",
        "[store]\nurl = \"memory:\"\n[inspect]\ndecompress = true\nmax_ratio = 0\n",
    );
    let config = Config::load_file(&file).unwrap();
    let problems = palisade_gateway::config::checks::problems(&config, Environment::Dev);
    assert!(
        problems.iter().any(|p| p.contains("inspect.max_ratio")),
        "{problems:?}"
    );
}

#[test]
fn an_unknown_route_key_is_still_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "palisade.toml",
        "[[routes]]\nprefix = \"/api/\"\nupstream = \"http://127.0.0.1:3000\"\nschemas = \"x.json\"\n",
    );
    let err = Config::load_file(&file).unwrap_err().to_string();
    assert!(err.contains("schemas"), "{err}");
}
