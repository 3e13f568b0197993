//! Strict HTTP (issue 14, item 7): each case over a raw socket, so that the bytes on the wire
//! are exactly the ones written here and the answer is read whole, status line included.
//! HTTP/1 cases write requests by hand; HTTP/2 cases use the `h2` client where a normal client
//! can send the request, and hand-written frames after the preface where a normal client would
//! refuse to (too many streams, reset floods, CONTINUATION floods).

use crate::common::*;
use bytes::Bytes;
use palisade_gateway::config::units::ByteSize;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The bound on every wait for an answer or a close: generous, never reached when things work.
const BOUND: Duration = Duration::from_secs(20);

/// One complete HTTP/1 answer: the head and its `Content-Length` or chunked body.
async fn read_answer(s: &mut TcpStream) -> String {
    let read = async {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            if let Some(end) = find(&out, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
                let body = &out[end + 4..];
                let done = match head.lines().find_map(|l| l.strip_prefix("content-length:")) {
                    Some(len) => body.len() >= len.trim().parse::<usize>().unwrap(),
                    None if head.contains("transfer-encoding: chunked") => {
                        body.ends_with(b"0\r\n\r\n")
                    }
                    None => false,
                };
                if done {
                    return String::from_utf8_lossy(&out).into_owned();
                }
            }
            match s.read(&mut buf).await {
                Ok(0) => return String::from_utf8_lossy(&out).into_owned(),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => panic!(
                    "the answer was cut by {e} after {:?}",
                    String::from_utf8_lossy(&out)
                ),
            }
        }
    };
    tokio::time::timeout(BOUND, read)
        .await
        .expect("an answer within the bound")
}

/// The server closed the connection after its answer (end of stream, nothing more).
async fn assert_closed(s: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(BOUND, s.read(&mut buf)).await {
        Ok(Ok(0)) => {}
        Ok(Ok(n)) => panic!(
            "more after the answer: {:?}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Ok(Err(e)) => panic!("reset instead of an orderly close: {e}"),
        Err(_) => panic!("the connection stayed open"),
    }
}

fn assert_problem_raw(raw: &str, status: u16, slug: &str) {
    assert!(
        raw.starts_with(&format!("HTTP/1.1 {status} ")),
        "status line: {raw}"
    );
    let lower = raw.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/problem+json"),
        "{raw}"
    );
    assert!(lower.contains("x-request-id:"), "{raw}");
    let body = body_json(raw);
    assert_eq!(
        body["type"],
        format!("urn:palisade:problem:{slug}"),
        "{raw}"
    );
    assert_eq!(body["status"], status, "{raw}");
}

/// Sends `request` on a new connection and returns the answer and the open stream.
async fn send(addr: SocketAddr, request: &[u8]) -> (String, TcpStream) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let answer = read_answer(&mut s).await;
    (answer, s)
}

async fn gateway() -> (Upstream, TestGateway) {
    let up = Upstream::start("a").await;
    let gw = start_with(|_| {}, vec![route("/", &up)]).await;
    (up, gw)
}

#[tokio::test]
async fn http11_without_host_is_refused_and_http10_may_omit_it() {
    let (up, gw) = gateway().await;
    let (raw, _) = send(gw.gateway.addr, b"GET /x HTTP/1.1\r\n\r\n").await;
    assert_problem_raw(&raw, 400, "missing-host");
    assert_eq!(up.count(), 0);

    let (raw, _) = send(gw.gateway.addr, b"GET /x HTTP/1.0\r\n\r\n").await;
    assert!(raw.starts_with("HTTP/1.0 200 "), "{raw}");
    assert_eq!(up.count(), 1);
}

#[tokio::test]
async fn several_host_headers_or_a_malformed_one_are_refused() {
    let (up, gw) = gateway().await;
    for request in [
        &b"GET /x HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"[..],
        b"GET /x HTTP/1.1\r\nHost: a.example\r\nhost: a.example\r\n\r\n",
    ] {
        let (raw, _) = send(gw.gateway.addr, request).await;
        assert_problem_raw(&raw, 400, "duplicate-host");
    }
    for host in ["user@a.example", "a.example:99999", "a.example/x"] {
        let request = format!("GET /x HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let (raw, _) = send(gw.gateway.addr, request.as_bytes()).await;
        assert_problem_raw(&raw, 400, "bad-host");
    }
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn content_length_with_transfer_encoding_is_refused_and_the_connection_closed() {
    let (up, gw) = gateway().await;
    // A classic CL.TE smuggling probe, in both header orders: the "body" under one framing is
    // a second request under the other.
    let smuggled = "GET /admin HTTP/1.1\r\nHost: t\r\n\r\n";
    for (first, second) in [
        ("Content-Length: 6", "Transfer-Encoding: chunked"),
        ("Transfer-Encoding: chunked", "Content-Length: 6"),
    ] {
        let request = format!(
            "POST /x HTTP/1.1\r\nHost: t\r\n{first}\r\n{second}\r\n\r\n0\r\n\r\n{smuggled}"
        );
        let (raw, mut s) = send(gw.gateway.addr, request.as_bytes()).await;
        assert_problem_raw(&raw, 400, "conflicting-framing");
        assert!(
            raw.to_ascii_lowercase().contains("connection: close"),
            "{raw}"
        );
        assert_closed(&mut s).await;
    }
    assert_eq!(
        up.count(),
        0,
        "neither request nor the smuggled one went upstream"
    );
}

/// The framing watch vouches for a connection only while its heads carry no framing field: a
/// smuggling attempt after plain requests on the same connection (sent at once or one by one,
/// with the header in any case) is still refused.
#[tokio::test]
async fn framing_is_checked_after_plain_requests_on_the_same_connection() {
    let (up, gw) = gateway().await;
    let plain = "GET /a HTTP/1.1\r\nHost: t\r\n\r\n";
    let bad = "POST /b HTTP/1.1\r\nHost: t\r\ncontent-LENGTH: 6\r\nTRANSFER-encoding: chunked\r\n\r\n0\r\n\r\n";
    // Pipelined: both heads arrive together.
    let mut s = TcpStream::connect(gw.gateway.addr).await.unwrap();
    s.write_all(format!("{plain}{bad}").as_bytes())
        .await
        .unwrap();
    // Both answers, then the close (reading to the end of the stream).
    let mut both = Vec::new();
    tokio::time::timeout(BOUND, s.read_to_end(&mut both))
        .await
        .expect("the close within the bound")
        .expect("an orderly close, no reset");
    let both = String::from_utf8_lossy(&both);
    let second = both.find("HTTP/1.1 400 ").expect("a second answer");
    assert!(both.starts_with("HTTP/1.1 200 "), "{both}");
    assert_problem_raw(&both[second..], 400, "conflicting-framing");
    // One by one: the plain request is answered before the bad head is sent.
    let mut s = TcpStream::connect(gw.gateway.addr).await.unwrap();
    for _ in 0..3 {
        s.write_all(plain.as_bytes()).await.unwrap();
        let answer = read_answer(&mut s).await;
        assert!(answer.starts_with("HTTP/1.1 200 "), "{answer}");
    }
    s.write_all(bad.as_bytes()).await.unwrap();
    assert_problem_raw(&read_answer(&mut s).await, 400, "conflicting-framing");
    assert_closed(&mut s).await;
    assert_eq!(up.count(), 4, "only the plain requests went upstream");
}

#[tokio::test]
async fn a_transfer_encoding_other_than_one_chunked_is_refused_and_the_connection_closed() {
    let (up, gw) = gateway().await;
    for te in [
        "gzip, chunked",
        "chunked, gzip",
        "chunked, chunked",
        "identity",
        "chunked\r\nTransfer-Encoding: chunked",
    ] {
        let request =
            format!("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n");
        let (raw, mut s) = send(gw.gateway.addr, request.as_bytes()).await;
        assert_problem_raw(&raw, 400, "bad-transfer-encoding");
        assert_closed(&mut s).await;
    }
    let (raw, mut s) = send(
        gw.gateway.addr,
        b"POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert!(
        raw.contains("urn:palisade:problem:bad-transfer-encoding"),
        "{raw}"
    );
    assert_closed(&mut s).await;
    assert_eq!(up.count(), 0);

    // One plain `chunked` is fine, and the connection stays usable.
    let mut s = TcpStream::connect(gw.gateway.addr).await.unwrap();
    for _ in 0..2 {
        s.write_all(b"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            .await
            .unwrap();
        let raw = read_answer(&mut s).await;
        assert!(raw.starts_with("HTTP/1.1 200 "), "{raw}");
    }
    assert_eq!(up.count(), 2);
    assert_eq!(up.last().body_len, 5);
}

#[tokio::test]
async fn a_malformed_chunked_body_is_a_client_error_not_an_upstream_failure() {
    let (up, gw) = gateway().await;
    for body in ["zz\r\nhello\r\n0\r\n\r\n", "5\r\nhelloXX0\r\n\r\n"] {
        let request =
            format!("POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
        let (raw, mut s) = send(gw.gateway.addr, request.as_bytes()).await;
        assert_problem_raw(&raw, 400, "bad-request-body");
        assert_closed(&mut s).await;
    }
    // The upstream is healthy: nothing was charged to its circuit breaker.
    let (raw, _) = send(gw.gateway.addr, b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert!(raw.starts_with("HTTP/1.1 200 "), "{raw}");
    assert!(up.count() >= 1);
}

#[tokio::test]
async fn broken_client_bodies_never_open_the_upstream_circuit() {
    let up = Upstream::start("a").await;
    let gw = start_with(
        |c| {
            c.circuit_breaker.min_requests = 2;
            c.circuit_breaker.failure_ratio = 0.5;
        },
        vec![route("/", &up)],
    )
    .await;
    for _ in 0..6 {
        let (raw, _) = send(
            gw.gateway.addr,
            b"POST /x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        )
        .await;
        assert_problem_raw(&raw, 400, "bad-request-body");
    }
    let (raw, _) = send(gw.gateway.addr, b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert!(
        raw.starts_with("HTTP/1.1 200 "),
        "circuit still closed: {raw}"
    );
}

#[tokio::test]
async fn an_absolute_form_target_must_name_the_host_header() {
    let (up, gw) = gateway().await;
    let (raw, _) = send(
        gw.gateway.addr,
        b"GET http://admin.example/x HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await;
    assert_problem_raw(&raw, 400, "host-mismatch");
    let (raw, _) = send(
        gw.gateway.addr,
        b"GET http://t:8080/x HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await;
    assert_problem_raw(&raw, 400, "host-mismatch");
    assert_eq!(up.count(), 0);
    let (raw, _) = send(
        gw.gateway.addr,
        b"GET http://T:80/x HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 200 "), "{raw}");
    assert_eq!(up.last().path_and_query, "/x");
}

#[tokio::test]
async fn a_megabyte_bearer_token_gets_a_complete_431_before_the_close() {
    let (up, gw) = gateway().await;
    let token = "a".repeat(1 << 20);
    let request = format!("GET /x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\r\n");
    let (first, rest) = request.as_bytes().split_at(128 << 10);
    let mut s = TcpStream::connect(gw.gateway.addr).await.unwrap();
    // Past hyper's head buffer (64 KiB here), the server answers while the client still sends:
    // the listener stands a marked request in for the head, which the boundary refuses.
    s.write_all(first).await.unwrap();
    let raw = read_answer(&mut s).await;
    assert_problem_raw(&raw, 431, "header-too-large");
    assert!(
        raw.to_ascii_lowercase().contains("connection: close"),
        "{raw}"
    );
    // The client goes on sending the rest of its megabyte, as a client that does not read
    // while it writes would. A socket closed with unread input answers with a reset, which
    // fails these writes and, in a client that reads only after writing, loses the 431.
    s.write_all(rest)
        .await
        .expect("the server keeps reading (and discarding) after its answer");
    assert_closed(&mut s).await;

    // So does a head with more fields than hyper takes (100).
    let fields: String = (0..120).map(|i| format!("X-F{i}: 1\r\n")).collect();
    let request = format!("GET /x HTTP/1.1\r\nHost: t\r\n{fields}\r\n");
    let (raw, mut s) = send(gw.gateway.addr, request.as_bytes()).await;
    assert_problem_raw(&raw, 431, "header-too-large");
    assert_closed(&mut s).await;

    // Below hyper's buffer, the boundary's own 431 is a problem+json.
    let request = format!(
        "GET /x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\n\r\n",
        "a".repeat(20 << 10)
    );
    let (raw, _) = send(gw.gateway.addr, request.as_bytes()).await;
    assert_problem_raw(&raw, 431, "header-too-large");
    assert_eq!(up.count(), 0);
}

/// An upstream that answers every request in HTTP/1.0 and closes.
async fn http10_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while find(&head, b"\r\n\r\n").is_none() {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = s
                    .write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
                    .await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn an_http10_upstream_is_answered_to_the_client_in_http11() {
    let upstream = http10_upstream().await;
    let rc = palisade_gateway::config::RouteConfig {
        prefix: "/".into(),
        upstream: Some(format!("http://{upstream}")),
        ..Default::default()
    };
    let gw = start_with(|_| {}, vec![rc]).await;
    let mut s = TcpStream::connect(gw.gateway.addr).await.unwrap();
    for _ in 0..2 {
        s.write_all(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        let raw = read_answer(&mut s).await;
        assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
        assert!(raw.ends_with("\r\n\r\nok"), "{raw}");
    }
}

// ---- HTTP/2 ----

async fn h2_client(addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// Sends a bodiless request; returns the status and the body as JSON (or Null).
async fn h2_get(
    client: &mut h2::client::SendRequest<Bytes>,
    request: http::Request<()>,
) -> (u16, serde_json::Value) {
    let client = client.clone().ready().await.unwrap();
    let mut client = client;
    let (response, _) = client.send_request(request, true).unwrap();
    let response = tokio::time::timeout(BOUND, response)
        .await
        .unwrap()
        .unwrap();
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        bytes.extend_from_slice(&chunk);
    }
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn h2_authority_and_host_must_agree() {
    let (up, gw) = gateway().await;
    let mut client = h2_client(gw.gateway.addr).await;
    let request = |host: Option<&str>| {
        let mut b = http::Request::get("http://t/x");
        if let Some(h) = host {
            b = b.header("host", h);
        }
        b.body(()).unwrap()
    };
    let (status, body) = h2_get(&mut client, request(Some("admin.example"))).await;
    assert_eq!(status, 400);
    assert_eq!(body["type"], "urn:palisade:problem:host-mismatch", "{body}");
    assert_eq!(up.count(), 0);
    let (status, _) = h2_get(&mut client, request(Some("t"))).await;
    assert_eq!(status, 200);
    let (status, _) = h2_get(&mut client, request(None)).await;
    assert_eq!(status, 200);
    assert_eq!(up.count(), 2);
}

#[tokio::test]
async fn h2_header_lists_over_the_limit_get_431_and_never_reach_the_upstream() {
    let up = Upstream::start("a").await;
    let gw = start_with(
        |c| c.server.http2.max_header_list_size = ByteSize(16 << 10),
        vec![route("/", &up)],
    )
    .await;
    let mut client = h2_client(gw.gateway.addr).await;
    let big = |size: usize| {
        http::Request::get("http://t/x")
            .header("x-big", "a".repeat(size))
            .body(())
            .unwrap()
    };
    // Over the configured h2 limit: h2 answers 431 itself (no body), the pipeline never runs.
    let (status, body) = h2_get(&mut client, big(20 << 10)).await;
    assert_eq!(status, 431);
    assert!(body.is_null(), "{body}");
    // Between the boundary's limit and h2's: the boundary's problem+json.
    let mut client = h2_client(gw.gateway.addr).await;
    let (status, body) = h2_get(&mut client, big(12 << 10)).await;
    assert_eq!(status, 431);
    assert_eq!(
        body["type"], "urn:palisade:problem:header-too-large",
        "{body}"
    );
    assert_eq!(up.count(), 0);
}

/// A hand-written HTTP/2 client: frames straight onto the socket after the preface.
mod raw {
    use super::*;

    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const GOAWAY: u8 = 0x7;
    pub const CONTINUATION: u8 = 0x9;
    pub const END_STREAM: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const ACK: u8 = 0x1;
    pub const REFUSED_STREAM: u32 = 0x7;
    pub const CANCEL: u32 = 0x8;
    pub const ENHANCE_YOUR_CALM: u32 = 0xb;

    pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn hpack_int(out: &mut Vec<u8>, first: u8, prefix_bits: u8, mut value: usize) {
        let max = (1usize << prefix_bits) - 1;
        if value < max {
            out.push(first | value as u8);
            return;
        }
        out.push(first | max as u8);
        value -= max;
        while value >= 128 {
            out.push((value % 128) as u8 | 0x80);
            value /= 128;
        }
        out.push(value as u8);
    }

    /// An HPACK block of literal fields without indexing, plain strings.
    pub fn hpack(fields: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, value) in fields {
            out.push(0x00);
            hpack_int(&mut out, 0, 7, name.len());
            out.extend_from_slice(name.as_bytes());
            hpack_int(&mut out, 0, 7, value.len());
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    pub fn get(path: &str) -> Vec<u8> {
        hpack(&[
            (":method", "GET"),
            (":scheme", "http"),
            (":path", path),
            (":authority", "t"),
        ])
    }

    pub struct Frame {
        pub kind: u8,
        pub flags: u8,
        pub stream: u32,
        pub payload: Vec<u8>,
    }

    impl Frame {
        /// The error code of a RST_STREAM or GOAWAY frame.
        pub fn error_code(&self) -> u32 {
            let at = if self.kind == GOAWAY { 4 } else { 0 };
            u32::from_be_bytes(self.payload[at..at + 4].try_into().unwrap())
        }
    }

    /// Connects, sends the preface and SETTINGS, and acknowledges the server's SETTINGS.
    pub async fn connect(addr: SocketAddr) -> TcpStream {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        s.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
        loop {
            let f = next(&mut s).await.expect("the server's SETTINGS");
            if f.kind == SETTINGS && f.flags & ACK == 0 {
                break;
            }
        }
        s.write_all(&frame(SETTINGS, ACK, 0, &[])).await.unwrap();
        s
    }

    /// The next frame, or `None` once the server closed the connection.
    pub async fn next(s: &mut TcpStream) -> Option<Frame> {
        let read = async {
            let mut head = [0u8; 9];
            s.read_exact(&mut head).await.ok()?;
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0u8; len];
            s.read_exact(&mut payload).await.ok()?;
            Some(Frame {
                kind: head[3],
                flags: head[4],
                stream: u32::from_be_bytes(head[5..9].try_into().unwrap()) & 0x7fff_ffff,
                payload,
            })
        };
        tokio::time::timeout(BOUND, read)
            .await
            .expect("a frame or the close within the bound")
    }

    /// Reads until a frame matching `wanted` arrives; panics if the connection ends first.
    pub async fn until(s: &mut TcpStream, wanted: impl Fn(&Frame) -> bool) -> Frame {
        loop {
            match next(s).await {
                Some(f) if wanted(&f) => return f,
                Some(_) => {}
                None => panic!("the connection ended before the expected frame"),
            }
        }
    }

    /// Reads until the server closes the connection; returns the GOAWAY it sent, if any.
    pub async fn goaway_then_close(s: &mut TcpStream) -> Option<Frame> {
        let mut goaway = None;
        while let Some(f) = next(s).await {
            if f.kind == GOAWAY {
                goaway = Some(f);
            }
        }
        goaway
    }
}

#[tokio::test]
async fn h2_streams_beyond_the_concurrency_limit_are_refused() {
    let up = Upstream::start("a").await;
    let gw = start_with(
        |c| c.server.http2.max_concurrent_streams = 2,
        vec![route("/", &up)],
    )
    .await;
    let mut s = raw::connect(gw.gateway.addr).await;
    let mut burst = Vec::new();
    for stream in [1, 3, 5] {
        burst.extend(raw::frame(
            raw::HEADERS,
            raw::END_HEADERS | raw::END_STREAM,
            stream,
            &raw::get("/gate"),
        ));
    }
    s.write_all(&burst).await.unwrap();
    let refused = raw::until(&mut s, |f| f.kind == raw::RST_STREAM).await;
    assert_eq!(refused.stream, 5);
    assert_eq!(refused.error_code(), raw::REFUSED_STREAM);
    // The two admitted streams are the ones waiting upstream.
    up.release.notify_waiters();
    assert!(
        up.seen
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.path_and_query == "/gate")
    );
}

#[tokio::test]
async fn h2_a_rapid_reset_burst_past_the_limit_gets_goaway() {
    let up = Upstream::start("a").await;
    let gw = start_with(
        |c| c.server.http2.max_pending_reset_streams = 5,
        vec![route("/", &up)],
    )
    .await;
    let burst = |streams: std::ops::Range<u32>| {
        let mut out = Vec::new();
        for i in streams {
            let stream = 2 * i + 1;
            out.extend(raw::frame(
                raw::HEADERS,
                raw::END_HEADERS,
                stream,
                &raw::get("/x"),
            ));
            out.extend(raw::frame(
                raw::RST_STREAM,
                0,
                stream,
                &raw::CANCEL.to_be_bytes(),
            ));
        }
        out
    };
    // Up to the limit the connection stays usable.
    let mut s = raw::connect(gw.gateway.addr).await;
    s.write_all(&burst(0..5)).await.unwrap();
    s.write_all(&raw::frame(
        raw::HEADERS,
        raw::END_HEADERS | raw::END_STREAM,
        11,
        &raw::get("/x"),
    ))
    .await
    .unwrap();
    let answered = raw::until(&mut s, |f| f.kind == raw::HEADERS || f.kind == raw::GOAWAY).await;
    assert_eq!((answered.kind, answered.stream), (raw::HEADERS, 11));

    // A burst past it (but under h2's default of 20) closes the connection with
    // GOAWAY(ENHANCE_YOUR_CALM).
    let mut s = raw::connect(gw.gateway.addr).await;
    let _ = s.write_all(&burst(0..12)).await;
    let goaway = raw::goaway_then_close(&mut s)
        .await
        .expect("a GOAWAY before the close");
    assert_eq!(goaway.error_code(), raw::ENHANCE_YOUR_CALM);
}

#[tokio::test]
async fn h2_streams_reset_for_protocol_errors_past_the_limit_get_goaway() {
    let up = Upstream::start("a").await;
    let gw = start_with(
        |c| c.server.http2.max_local_error_resets = 5,
        vec![route("/", &up)],
    )
    .await;
    // Requests without `:path` are malformed: h2 resets each stream itself (PROTOCOL_ERROR),
    // and a client that makes the server reset streams for it ("MadeYouReset") is cut off.
    let malformed = raw::hpack(&[(":method", "GET"), (":scheme", "http"), (":authority", "t")]);
    let mut burst = Vec::new();
    for i in 0..12u32 {
        burst.extend(raw::frame(
            raw::HEADERS,
            raw::END_HEADERS | raw::END_STREAM,
            2 * i + 1,
            &malformed,
        ));
    }
    let mut s = raw::connect(gw.gateway.addr).await;
    let _ = s.write_all(&burst).await;
    let goaway = raw::goaway_then_close(&mut s)
        .await
        .expect("a GOAWAY before the close");
    assert_eq!(goaway.error_code(), raw::ENHANCE_YOUR_CALM);
    assert_eq!(up.count(), 0);
}

#[tokio::test]
async fn h2_a_continuation_flood_closes_the_connection() {
    let up = Upstream::start("a").await;
    let gw = start_with(
        |c| c.server.http2.max_header_list_size = ByteSize(16 << 10),
        vec![route("/", &up)],
    )
    .await;
    let s = raw::connect(gw.gateway.addr).await;
    // HEADERS without END_HEADERS, then CONTINUATION frames of 1 KiB that never end the block:
    // 2,000 of them, 2 MiB, 128 times the header list the server accepts.
    let mut flood = raw::frame(raw::HEADERS, 0, 1, &raw::get("/x"));
    let fragment = raw::hpack(&[("x-pad", &"p".repeat(1000))]);
    let continuation = raw::frame(raw::CONTINUATION, 0, 1, &fragment);
    for _ in 0..2000 {
        flood.extend_from_slice(&continuation);
    }
    let (mut rd, mut wr) = s.into_split();
    // The server may close before it read everything: the write's outcome does not matter.
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&flood).await;
    });
    let mut goaway = None;
    let read = async {
        let mut head = [0u8; 9];
        while rd.read_exact(&mut head).await.is_ok() {
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0u8; len];
            if rd.read_exact(&mut payload).await.is_err() {
                break;
            }
            if head[3] == raw::GOAWAY {
                goaway = Some(u32::from_be_bytes(payload[4..8].try_into().unwrap()));
            }
        }
    };
    tokio::time::timeout(BOUND, read)
        .await
        .expect("the server closes the connection");
    assert_eq!(
        goaway,
        Some(raw::ENHANCE_YOUR_CALM),
        "closed with GOAWAY(ENHANCE_YOUR_CALM)"
    );
    writer.abort();
    assert_eq!(up.count(), 0);
}
