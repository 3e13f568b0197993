//! The `upload` gate through a running gateway and a recording upstream: types decided by
//! content (a PNG named `.csv` refused), a nested zip bomb, a ratio-1000 entry and an entry
//! lying about its size refused on a route that allows ZIP, a ragged CSV row refused naming the
//! row, valid PNG/CSV/ZIP/XLSX passing byte-identical, multipart limits, tier caps, the
//! `upload.refused` record (never the content), and a differential test of the gate's
//! multipart reading against a second, independent splitter on a table of tricky bodies.

use crate::authorization::signed_in;
use crate::common::*;
use crate::identity::Env;
use crate::inspect::records;
use bytes::Bytes;
use palisade_gateway::config::RouteConfig;
use palisade_gateway::config::units::ByteSize;
use palisade_gateway::config::upload::RouteUpload;
use palisade_gateway::protect::upload::multipart;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---- test files, built here ------------------------------------------------------------------

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A 1×1 grey PNG.
fn png() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut c = kind.to_vec();
        c.extend_from_slice(data);
        out.extend_from_slice(&c);
        out.extend_from_slice(&crc32(&c).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
    let idat = miniz_oxide::deflate::compress_to_vec_zlib(&[0, 0x80], 6);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// One ZIP entry: name, content, deflated or stored, and a declared size that may lie.
struct Entry<'a> {
    name: &'a str,
    data: Vec<u8>,
    deflate: bool,
    declared: Option<u32>,
    crc: Option<u32>,
}

fn entry(name: &str, data: impl Into<Vec<u8>>) -> Entry<'_> {
    Entry {
        name,
        data: data.into(),
        deflate: true,
        declared: None,
        crc: None,
    }
}

/// A ZIP archive of `entries` (local headers, data, central directory, end record).
fn zip(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries {
        let body = if e.deflate {
            miniz_oxide::deflate::compress_to_vec(&e.data, 9)
        } else {
            e.data.clone()
        };
        let offset = out.len() as u32;
        let method: u16 = if e.deflate { 8 } else { 0 };
        let size = e.declared.unwrap_or(e.data.len() as u32);
        let crc = e.crc.unwrap_or_else(|| crc32(&e.data));
        let mut common = Vec::new();
        common.extend_from_slice(&20u16.to_le_bytes()); // version needed
        common.extend_from_slice(&0u16.to_le_bytes()); // flags
        common.extend_from_slice(&method.to_le_bytes());
        common.extend_from_slice(&[0, 0, 0x21, 0]); // time, date
        common.extend_from_slice(&crc.to_le_bytes());
        common.extend_from_slice(&(body.len() as u32).to_le_bytes());
        common.extend_from_slice(&size.to_le_bytes());
        common.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes()); // extra
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&common);
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(&body);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        central.extend_from_slice(&common);
        central.extend_from_slice(&[0; 6]); // comment, disk, internal attributes
        central.extend_from_slice(&[0; 4]); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(e.name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// `n` bytes of text that compresses like prose (about 2:1), from a fixed seed.
fn prose(n: usize) -> Vec<u8> {
    let mut x: u32 = 12345;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            b"etaoin shrdlu cmfwyp"[(x >> 16) as usize % 20]
        })
        .collect()
}

fn xlsx() -> Vec<u8> {
    zip(&[
        entry(
            "[Content_Types].xml",
            &b"<?xml version=\"1.0\"?><Types/>"[..],
        ),
        entry("_rels/.rels", &b"<Relationships/>"[..]),
        entry("xl/workbook.xml", &b"<workbook><sheets/></workbook>"[..]),
        entry(
            "xl/worksheets/sheet1.xml",
            &b"<worksheet><sheetData/></worksheet>"[..],
        ),
    ])
}

fn docx() -> Vec<u8> {
    zip(&[
        entry(
            "[Content_Types].xml",
            &b"<?xml version=\"1.0\"?><Types/>"[..],
        ),
        entry("word/document.xml", &b"<document/>"[..]),
    ])
}

// ---- the gateway and a recording upstream ------------------------------------------------

/// An upstream that keeps every body it receives.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Bytes>>>);

impl Recorder {
    async fn start(self) -> String {
        use http_body_util::BodyExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let rec = self.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: http::Request<_>| {
                        let rec = rec.clone();
                        async move {
                            let body: hyper::body::Incoming = req.into_body();
                            let bytes = body.collect().await?.to_bytes();
                            rec.0.lock().unwrap().push(bytes);
                            Ok::<_, hyper::Error>(http::Response::new(http_body_util::Full::new(
                                Bytes::from_static(b"{}"),
                            )))
                        }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
                });
            }
        });
        format!("http://{addr}")
    }

    fn last(&self) -> Bytes {
        self.0
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("upstream saw a body")
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

fn upload_route(prefix: &str, upstream: &str, edit: impl FnOnce(&mut RouteUpload)) -> RouteConfig {
    let mut u = RouteUpload::default();
    edit(&mut u);
    RouteConfig {
        prefix: prefix.into(),
        upstream: Some(upstream.into()),
        upload: Some(u),
        ..Default::default()
    }
}

fn types(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

async fn gateway(rec: &Recorder) -> TestGateway {
    let up = rec.clone().start().await;
    let routes = vec![
        upload_route("/files", &up, |u| {
            u.types = types(&["png", "csv", "zip", "xlsx", "json", "parquet"]);
            u.max_file = ByteSize(4 << 20);
            u.max_parts = 4;
            u.max_field = ByteSize(64);
            u.max_part_headers = ByteSize(256);
            u.csv.max_rows = 5;
        }),
        upload_route("/deep", &up, |u| {
            u.types = types(&["zip"]);
            u.archive.max_depth = 2;
        }),
        RouteConfig {
            firewall: palisade_gateway::config::inspect::RouteFirewall {
                skip_inspection: vec!["127.0.0.0/8".parse().unwrap()],
                ..Default::default()
            },
            ..upload_route("/trusted", &up, |u| u.types = types(&["csv"]))
        },
    ];
    start_with(|_| {}, routes).await
}

async fn raw(gw: &TestGateway, path: &str, body: &[u8], name: Option<&str>) -> reqwest::Response {
    let mut req = client()
        .post(gw.url(path))
        .header("content-type", "application/octet-stream")
        .body(body.to_vec());
    if let Some(n) = name {
        req = req.header(
            "content-disposition",
            format!("attachment; filename=\"{n}\""),
        );
    }
    req.send().await.unwrap()
}

const B: &str = "XyZzy-b0undary";

/// One multipart part: name, file name, content type, bytes.
type FormPart<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

/// A multipart body of `parts`.
fn form(parts: &[FormPart<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, file, ct, data) in parts {
        out.extend_from_slice(format!("--{B}\r\n").as_bytes());
        let mut cd = format!("Content-Disposition: form-data; name=\"{name}\"");
        if let Some(f) = file {
            cd.push_str(&format!("; filename=\"{f}\""));
        }
        out.extend_from_slice(cd.as_bytes());
        out.extend_from_slice(b"\r\n");
        if let Some(t) = ct {
            out.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{B}--\r\n").as_bytes());
    out
}

async fn multi(gw: &TestGateway, path: &str, body: &[u8]) -> reqwest::Response {
    client()
        .post(gw.url(path))
        .header("content-type", format!("multipart/form-data; boundary={B}"))
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// Asserts the `upload-refused` problem with `reason`; returns the body.
async fn refused(res: reqwest::Response, status: u16, reason: &str) -> serde_json::Value {
    let body = assert_problem(res, status, "upload-refused").await;
    assert_eq!(body["reason"], reason, "{body}");
    body
}

// ---- the tests ----------------------------------------------------------------------------

#[tokio::test]
async fn valid_files_reach_the_upstream_byte_identical() {
    let rec = Recorder::default();
    let gw = gateway(&rec).await;
    let csv = b"name,city\n\"O'Brien, Pat\",Cork\r\nAnn,\"Bergen\"\n".to_vec();
    let mut parquet = b"PAR1".to_vec();
    parquet.extend_from_slice(&[0x15, 0x04, 0x15, 0x10]);
    parquet.extend_from_slice(&4u32.to_le_bytes());
    parquet.extend_from_slice(b"PAR1");
    let archive = zip(&[
        entry("a.txt", prose(5000)),
        Entry {
            deflate: false,
            ..entry("b.bin", &b"\x00\x01\x02"[..])
        },
    ]);
    for (file, name) in [
        (png(), "pixel.png"),
        (csv.clone(), "people.csv"),
        (archive, "bundle.zip"),
        (xlsx(), "book.xlsx"),
        (br#"{"a":[1,{"b":null}]}"#.to_vec(), "doc.json"),
        (parquet, "t.parquet"),
    ] {
        let res = raw(&gw, "/files/in", &file, Some(name)).await;
        assert_eq!(res.status(), 200, "{name}: {}", res.text().await.unwrap());
        assert_eq!(rec.last(), file, "{name} reached the upstream as sent");
    }
    // The same as a multipart body, with a small text field.
    let body = form(&[
        ("note", None, None, b"hello"),
        ("pic", Some("pixel.png"), Some("image/png"), &png()),
        ("sheet", Some("people.csv"), Some("text/csv"), &csv),
    ]);
    let res = multi(&gw, "/files/in", &body).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    assert_eq!(rec.last(), body);
    // A body-less request passes untouched.
    let res = client().get(gw.url("/files/in")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn types_are_decided_by_content_never_by_name_or_content_type() {
    let rec = Recorder::default();
    let gw = gateway(&rec).await;
    // A PNG named .csv, raw and as a multipart file part.
    let body = refused(
        raw(&gw, "/files/in", &png(), Some("data.csv")).await,
        415,
        "type-mismatch",
    )
    .await;
    assert_eq!(body["type"], "urn:palisade:problem:upload-refused");
    assert_eq!(body["declared_type"], "csv");
    let body = form(&[(
        "f",
        Some("data.csv"),
        Some("application/octet-stream"),
        &png(),
    )]);
    let res = refused(multi(&gw, "/files/in", &body).await, 415, "type-mismatch").await;
    assert_eq!(res["part"], 1);
    // A CSV sent as image/png.
    let res = client()
        .post(gw.url("/files/in"))
        .header("content-type", "image/png")
        .body("a,b\n1,2\n")
        .send()
        .await
        .unwrap();
    refused(res, 415, "type-mismatch").await;
    // A DOCX (a ZIP) where only ZIP and XLSX are allowed, even named .zip; a PDF named .png.
    refused(
        raw(&gw, "/files/in", &docx(), Some("x.zip")).await,
        415,
        "type-not-allowed",
    )
    .await;
    let pdf = b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n";
    refused(
        raw(&gw, "/files/in", pdf, Some("x.png")).await,
        415,
        "type-not-allowed",
    )
    .await;
    // Nothing refused reached the upstream.
    assert_eq!(rec.count(), 0);
    // A client the route's firewall lets skip the content rules is not checked.
    let res = raw(&gw, "/trusted/in", &png(), Some("data.csv")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(rec.last(), png());
    // The refusals are on record with the types, never the content.
    let recs = records(&gw).await;
    let ev: Vec<_> = recs
        .iter()
        .filter(|r| r.event_type == "upload.refused")
        .collect();
    let mismatch = ev
        .iter()
        .find(|r| r.details["reason"] == "type-mismatch")
        .expect("type-mismatch recorded");
    assert_eq!(mismatch.details["file_type"], "png");
    assert!(ev.iter().any(|r| r.details["reason"] == "type-not-allowed"));
}

#[tokio::test]
async fn archive_bombs_are_refused_with_their_reason() {
    let rec = Recorder::default();
    let gw = gateway(&rec).await;
    // A ratio-1000 entry: 1 MB of zeros deflates to about 1 KB.
    let bomb = zip(&[entry("zeros.bin", vec![0u8; 1_000_000])]);
    let body = refused(
        raw(&gw, "/files/in", &bomb, Some("z.zip")).await,
        422,
        "archive-ratio",
    )
    .await;
    assert_eq!(body["uncompressed"], 1_000_000);
    assert!(
        body["compressed"].as_u64().unwrap() * 100 < 1_000_000,
        "{body}"
    );
    // A nested zip bomb: a zip in a zip in a zip, the innermost entry 1000:1 zeros.
    let inner = zip(&[entry("zeros.bin", vec![0u8; 50_000])]);
    let middle = zip(&[entry("inner.zip", inner)]);
    let outer = zip(&[
        entry("readme.txt", &b"nothing to see"[..]),
        entry("middle.zip", middle.clone()),
    ]);
    refused(
        raw(&gw, "/files/in", &outer, None).await,
        422,
        "archive-nested",
    )
    .await;
    // Where depth 2 is allowed, the archive inside is opened and its bomb found…
    refused(
        raw(&gw, "/deep/in", &middle, None).await,
        422,
        "archive-ratio",
    )
    .await;
    // …one level of honest nesting passes, and two levels do not.
    let honest = zip(&[entry("inner.zip", zip(&[entry("t.txt", prose(5000))]))]);
    let res = raw(&gw, "/deep/in", &honest, None).await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    let deeper = zip(&[entry("honest.zip", honest.clone())]);
    refused(
        raw(&gw, "/deep/in", &deeper, None).await,
        422,
        "archive-nested",
    )
    .await;
    // An entry whose declared size lies (says 100 bytes, inflates to 20,000).
    let liar = zip(&[Entry {
        declared: Some(100),
        ..entry("small.txt", vec![b'x'; 20_000])
    }]);
    refused(
        raw(&gw, "/files/in", &liar, None).await,
        422,
        "archive-size-mismatch",
    )
    .await;
    // An entry whose content does not match its checksum.
    let tampered = zip(&[Entry {
        crc: Some(0xDEAD_BEEF),
        ..entry("t.txt", prose(100))
    }]);
    refused(
        raw(&gw, "/files/in", &tampered, None).await,
        422,
        "archive-crc-mismatch",
    )
    .await;
    // A truncated archive.
    let archive = zip(&[entry("a.txt", &b"abc"[..])]);
    refused(
        raw(&gw, "/files/in", &archive[..archive.len() - 5], None).await,
        422,
        "archive-malformed",
    )
    .await;
    assert_eq!(
        rec.count(),
        1,
        "only the depth-2 archive reached the upstream"
    );
    let recs = records(&gw).await;
    for reason in ["archive-ratio", "archive-nested", "archive-size-mismatch"] {
        assert!(
            recs.iter()
                .any(|r| r.event_type == "upload.refused" && r.details["reason"] == reason),
            "{reason} on record"
        );
    }
}

#[tokio::test]
async fn csv_json_and_parquet_structure_is_checked() {
    let rec = Recorder::default();
    let gw = gateway(&rec).await;
    let ragged = b"id,secret\n1,alpha\n2,bravo,charlie-secretcell\n3,delta\n";
    let body = refused(
        raw(&gw, "/files/in", ragged, Some("r.csv")).await,
        422,
        "csv-ragged-row",
    )
    .await;
    assert_eq!(body["row"], 3, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("Row 3"));
    assert!(
        !body.to_string().contains("secretcell"),
        "no content echoed"
    );
    let many = b"a\n1\n2\n3\n4\n5\n6\n";
    refused(
        raw(&gw, "/files/in", many, None).await,
        422,
        "csv-too-many-rows",
    )
    .await;
    refused(
        raw(&gw, "/files/in", b",b\n1,2\n", None).await,
        422,
        "csv-header-missing",
    )
    .await;
    refused(
        raw(&gw, "/files/in", b"{\"a\": [1, }", None).await,
        422,
        "json-malformed",
    )
    .await;
    let mut bad = b"PAR1".to_vec();
    bad.extend_from_slice(&[0; 4]);
    bad.extend_from_slice(&1_000u32.to_le_bytes());
    bad.extend_from_slice(b"PAR1");
    refused(
        raw(&gw, "/files/in", &bad, None).await,
        422,
        "parquet-malformed",
    )
    .await;
    assert_eq!(rec.count(), 0);
    let recs = records(&gw).await;
    let ev = recs
        .iter()
        .find(|r| r.event_type == "upload.refused" && r.details["reason"] == "csv-ragged-row")
        .expect("csv-ragged-row on record");
    assert_eq!(ev.details["row"], 3);
    assert!(!ev.details.to_string().contains("secretcell"));
}

#[tokio::test]
async fn multipart_limits_hold() {
    let rec = Recorder::default();
    let gw = gateway(&rec).await;
    let f: &[u8] = b"x";
    // Five parts where four are allowed.
    let body = form(&[("a", None, None, f); 5]);
    refused(multi(&gw, "/files/in", &body).await, 413, "too-many-parts").await;
    let body = form(&[("a", None, None, f); 4]);
    assert_eq!(multi(&gw, "/files/in", &body).await.status(), 200);
    // A text field over 64 bytes.
    let body = form(&[("note", None, None, &[b'n'; 65])]);
    let res = refused(multi(&gw, "/files/in", &body).await, 413, "field-too-large").await;
    assert_eq!(res["limit"], 64);
    // A part header block over 256 bytes.
    let long = "z".repeat(300);
    let body = form(&[("note", Some(long.as_str()), None, f)]);
    refused(multi(&gw, "/files/in", &body).await, 413, "too-large").await;
    // A file over the route's cap, by Content-Length, before anything is read.
    let big = vec![b'a'; (4 << 20) + 1];
    refused(raw(&gw, "/files/in", &big, None).await, 413, "too-large").await;
    // A compressed body cannot be judged.
    let res = client()
        .post(gw.url("/files/in"))
        .header("content-encoding", "gzip")
        .body(png())
        .send()
        .await
        .unwrap();
    refused(res, 415, "compressed-body").await;
    // Another multipart type is not read as a raw file.
    let res = client()
        .post(gw.url("/files/in"))
        .header("content-type", format!("multipart/mixed; boundary={B}"))
        .body(form(&[("a", None, None, f)]))
        .send()
        .await
        .unwrap();
    refused(res, 415, "multipart-not-form-data").await;
    assert_eq!(rec.count(), 1);
}

#[tokio::test]
async fn the_file_cap_follows_the_callers_tier() {
    let env = Env::start(|c| {
        c.routes[0].upload = Some(RouteUpload {
            types: types(&["csv"]),
            max_file: ByteSize(200),
            max_file_by_tier: BTreeMap::from([
                ("free".to_string(), ByteSize(100)),
                ("pro".to_string(), ByteSize(1000)),
            ]),
            ..Default::default()
        });
    })
    .await;
    let csv = |rows: usize| {
        let mut s = String::from("n\n");
        for i in 0..rows {
            s.push_str(&format!("{i:09}\n"));
        }
        s
    };
    let (small, mid, large) = (csv(5), csv(15), csv(60)); // 52, 152, 602 bytes
    let send = |body: String, token: Option<String>| {
        let mut req = env.http.post(env.url("/api/upload")).body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    // Anonymous: max_file (200).
    assert_eq!(send(mid.clone(), None).await.unwrap().status(), 200);
    refused(send(large.clone(), None).await.unwrap(), 413, "too-large").await;
    // A free caller: 100.
    let (user, free) = signed_in(&env, "fay@example.com", &["member"]).await;
    assert_eq!(
        send(small.clone(), Some(free.clone()))
            .await
            .unwrap()
            .status(),
        200
    );
    let body = refused(
        send(mid.clone(), Some(free)).await.unwrap(),
        413,
        "too-large",
    )
    .await;
    assert_eq!(body["limit"], 100);
    // The same account on pro: 1000.
    env.identity()
        .store
        .user_set_tier(user.parse().unwrap(), "pro", 0)
        .await
        .unwrap();
    env.advance(Duration::from_secs(60));
    let pro = env.login("fay@example.com").await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(send(large, Some(pro)).await.unwrap().status(), 200);
}

// ---- differential: the gate's multipart reading against a second splitter -------------------

/// Parts as read: name, file name, bytes.
type Reading = Vec<(String, Option<String>, Vec<u8>)>;

/// A second, independent reading of a multipart body: split at every line that starts with
/// the delimiter (CRLF or LF), headers up to the first blank line (CRLF or LF), the name and
/// file name from `Content-Disposition` by plain substring search. `None`: it finds no parts.
fn second_reading(body: &[u8], boundary: &str) -> Option<Reading> {
    let text = body;
    let delim = format!("--{boundary}");
    let mut starts = Vec::new();
    let mut i = 0;
    while let Some(at) = find(&text[i..], delim.as_bytes()) {
        let at = i + at;
        let line_start = at == 0 || text[at - 1] == b'\n';
        if line_start {
            starts.push(at);
        }
        i = at + delim.len();
    }
    let mut parts = Vec::new();
    let mut closed = false;
    for w in starts.windows(2) {
        let (a, b) = (w[0] + delim.len(), w[1]);
        let chunk = &text[a..b];
        if chunk.starts_with(b"--") {
            closed = true;
            break;
        }
        let chunk = chunk
            .strip_prefix(b"\r\n")
            .or_else(|| chunk.strip_prefix(b"\n"))?;
        let (head, data) = match find(chunk, b"\r\n\r\n") {
            Some(h) => (&chunk[..h], &chunk[h + 4..]),
            None => {
                let h = find(chunk, b"\n\n")?;
                (&chunk[..h], &chunk[h + 2..])
            }
        };
        let data = data
            .strip_suffix(b"\r\n")
            .or_else(|| data.strip_suffix(b"\n"))
            .unwrap_or(data);
        let head = String::from_utf8_lossy(head);
        let param = |key: &str| {
            let at = head.find(&format!("; {key}=\""))? + key.len() + 4;
            let end = head[at..].find('"')?;
            Some(head[at..at + end].to_string())
        };
        parts.push((param("name")?, param("filename"), data.to_vec()));
    }
    if !closed
        && starts
            .last()
            .is_some_and(|&s| text[s + delim.len()..].starts_with(b"--"))
    {
        closed = true;
    }
    closed.then_some(parts)
}

#[tokio::test]
async fn multipart_readings_agree_or_the_gate_refuses() {
    let rec = Recorder::default();
    let gw = gateway(&rec).await;
    let cd = |name: &str| format!("Content-Disposition: form-data; name=\"{name}\"");
    let good = form(&[
        ("a", None, None, b"1"),
        ("f", Some("p.csv"), Some("text/csv"), b"h\n1\n"),
    ]);
    // (label, body, must pass): the well-formed rows must pass, so a gate that refused
    // everything fails here.
    let table: Vec<(&str, Vec<u8>, bool)> = vec![
        ("well formed", good.clone(), true),
        (
            "the delimiter as a prefix inside data (RFC 2046 forbids it)",
            format!("--{B}\r\n{}\r\n\r\nx\r\n--{B}X\r\ny\r\n--{B}--\r\n", cd("a")).into_bytes(),
            false,
        ),
        (
            "a UTF-8 file name, as browsers send it",
            form(&[("f", Some("résumé 2024.csv"), Some("text/csv"), b"h\n1\n")]),
            true,
        ),
        (
            "no trailing CRLF after the close",
            format!("--{B}\r\n{}\r\n\r\nv\r\n--{B}--", cd("a")).into_bytes(),
            true,
        ),
        (
            "duplicate boundary line (an empty part)",
            format!("--{B}\r\n--{B}\r\n{}\r\n\r\nv\r\n--{B}--\r\n", cd("a")).into_bytes(),
            false,
        ),
        (
            "missing final boundary",
            format!("--{B}\r\n{}\r\n\r\nv\r\n", cd("a")).into_bytes(),
            false,
        ),
        (
            "LF line ends",
            format!("--{B}\n{}\n\nv\n--{B}--\n", cd("a")).into_bytes(),
            false,
        ),
        (
            "mixed CRLF and LF",
            format!("--{B}\r\n{}\n\r\nv\r\n--{B}--\r\n", cd("a")).into_bytes(),
            false,
        ),
        (
            "header folding",
            format!(
                "--{B}\r\nContent-Disposition: form-data;\r\n name=\"a\"; filename=\"x.png\"\r\n\r\nv\r\n--{B}--\r\n"
            )
            .into_bytes(),
            false,
        ),
        (
            "filename* (RFC 5987) beside filename",
            format!(
                "--{B}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.csv\"; filename*=UTF-8''b.png\r\n\r\nh\n1\n\r\n--{B}--\r\n"
            )
            .into_bytes(),
            false,
        ),
        (
            "filename* alone",
            format!(
                "--{B}\r\nContent-Disposition: form-data; name=\"f\"; filename*=UTF-8''%E2%82%AC.csv\r\n\r\nh\n1\n\r\n--{B}--\r\n"
            )
            .into_bytes(),
            false,
        ),
        (
            "escaped quote in a name",
            format!(
                "--{B}\r\nContent-Disposition: form-data; name=\"a\\\"; filename=\"x.png\"\r\n\r\nv\r\n--{B}--\r\n"
            )
            .into_bytes(),
            false,
        ),
        (
            "two Content-Disposition headers",
            format!("--{B}\r\n{}\r\n{}\r\n\r\nv\r\n--{B}--\r\n", cd("a"), cd("b")).into_bytes(),
            false,
        ),
        (
            "preamble",
            [b"junk\r\n".as_slice(), &good].concat(),
            false,
        ),
        (
            "epilogue",
            [good.as_slice(), b"trailing part?"].concat(),
            false,
        ),
        (
            "transport padding after a boundary",
            format!("--{B}  \r\n{}\r\n\r\nv\r\n--{B}--\r\n", cd("a")).into_bytes(),
            false,
        ),
        (
            "a part without headers",
            format!("--{B}\r\n\r\nv\r\n--{B}--\r\n").into_bytes(),
            false,
        ),
    ];
    let limits = multipart::Limits {
        max_parts: 4,
        max_part_headers: 256,
        max_field: 64,
        max_file: 4 << 20,
    };
    let ct = format!("multipart/form-data; boundary={B}");
    for (label, body, must_pass) in table {
        let bytes = Bytes::from(body.clone());
        let gate = multipart::parts(&bytes, &ct, &limits).await;
        let other = second_reading(&body, B);
        if let Ok(parts) = &gate {
            let mine: Vec<_> = parts
                .iter()
                .map(|p| {
                    (
                        p.name.clone(),
                        p.file_name.clone(),
                        body[p.data.clone()].to_vec(),
                    )
                })
                .collect();
            assert_eq!(
                Some(mine),
                other,
                "{label}: the gate passed a body read two ways"
            );
        }
        assert_eq!(gate.is_ok(), must_pass, "{label}: {gate:?}");
        // The running gateway says the same.
        let res = multi(&gw, "/files/in", &body).await;
        if must_pass {
            assert_eq!(res.status(), 200, "{label}");
            assert_eq!(rec.last(), body, "{label}: byte-identical");
        } else {
            let p = assert_problem(res, 422, "upload-refused").await;
            assert!(
                p["reason"] == "multipart-malformed" || p["reason"] == "multipart-ambiguous",
                "{label}: {p}"
            );
        }
    }
}

/// Mangled inputs (every truncation of a ZIP, and bytes flipped by a fixed-seed generator in
/// ZIPs, CSV, JSON and multipart bodies) get an answer, `Ok` or a refusal, never a panic.
#[tokio::test]
async fn mangled_inputs_are_answered_never_a_panic() {
    use palisade_gateway::protect::upload::{FileIn, UploadPolicy};
    let policy = UploadPolicy::new(&RouteUpload {
        types: types(&["zip", "xlsx", "csv", "json", "parquet", "png"]),
        ..Default::default()
    });
    let archive = zip(&[
        entry("a.txt", prose(3000)),
        entry("inner.zip", zip(&[entry("b.txt", prose(500))])),
        Entry {
            deflate: false,
            ..entry("c.bin", &b"stored"[..])
        },
    ]);
    let check = |bytes: &[u8]| {
        let file = FileIn {
            bytes,
            file_name: None,
            content_type: None,
        };
        let _ = policy.check_file(&file, 1 << 20);
    };
    for n in 0..archive.len() {
        check(&archive[..n]);
    }
    let csv = b"a,\"b\"\"c\",d\r\n1,\"2\r\n3\",4\n5,6,7\n".to_vec();
    let json = br#"{"a":[1,{"b":"\"]["},null],"c":"\\"}"#.to_vec();
    let body = form(&[
        ("n", None, None, b"v"),
        ("f", Some("x.csv"), Some("text/csv"), &csv),
    ]);
    let limits = multipart::Limits {
        max_parts: 4,
        max_part_headers: 256,
        max_field: 64,
        max_file: 1 << 20,
    };
    let ct = format!("multipart/form-data; boundary={B}");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let interesting = [
        b'"', b',', b'\r', b'\n', b'{', b'[', b'-', 0, 0xFF, b'P', b'K',
    ];
    for round in 0..1500 {
        for (i, original) in [&archive, &csv, &json, &body].into_iter().enumerate() {
            let mut m = original.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % m.len();
                m[at] = if next() % 2 == 0 {
                    interesting[(next() as usize) % interesting.len()]
                } else {
                    next() as u8
                };
            }
            if i == 3 {
                let _ = multipart::parts(&Bytes::from(m), &ct, &limits).await;
            } else {
                check(&m);
            }
        }
        if round % 500 == 0 {
            tokio::task::yield_now().await;
        }
    }
}

#[tokio::test]
async fn http2_uploads_without_a_declared_length_are_checked() {
    let rec = Recorder::default();
    let gw = gateway(&rec).await;
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let png = png();
    let (a, b) = png.split_at(10);
    // No Content-Length, no Transfer-Encoding: HTTP/2 frames the body itself.
    let res = h2
        .post(gw.url("/files/in"))
        .header("content-type", "application/octet-stream")
        .header("content-disposition", "attachment; filename=\"data.csv\"")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            vec![Ok::<_, std::io::Error>(a.to_vec()), Ok(b.to_vec())],
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    refused(res, 415, "type-mismatch").await;
}
