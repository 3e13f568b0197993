//! The benchmark's upstream: answers every request with 200 and ~200 bytes of JSON, keep-alive,
//! on one current-thread runtime. Usage: `bench_upstream [ADDR] [--status 204]` (default
//! 127.0.0.1:9000). `--status 204` answers every request with an empty 204 instead: the external
//! auth service that `scripts/bench --peers` puts behind nginx's `auth_request`.
#![forbid(unsafe_code)]

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode, body::Incoming};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

const BODY: &[u8] = br#"{"id":"0193a5c2-7d1e-7c3a-9f00-1234567890ab","name":"widget","price":1999,"currency":"EUR","tags":["a","b","c"],"stock":42,"updated":"2026-11-23T00:00:00Z","ok":true,"note":"palisade bench upstream"}"#;

async fn answer(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut res = Response::new(Full::new(Bytes::from_static(BODY)));
    res.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(res)
}

async fn no_content(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::NO_CONTENT;
    Ok(res)
}

fn main() -> std::io::Result<()> {
    let mut addr = "127.0.0.1:9000".to_string();
    let mut no_body = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--status" => match args.next().as_deref() {
                Some("204") => no_body = true,
                Some("200") => no_body = false,
                other => {
                    eprintln!("bench_upstream: --status is 200 or 204, not {other:?}");
                    std::process::exit(2);
                }
            },
            _ => addr = arg,
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let mut conn = hyper::server::conn::http1::Builder::new();
                conn.keep_alive(true);
                let io = TokioIo::new(stream);
                let _ = if no_body {
                    conn.serve_connection(io, hyper::service::service_fn(no_content))
                        .await
                } else {
                    conn.serve_connection(io, hyper::service::service_fn(answer))
                        .await
                };
            });
        }
    })
}
