//! The benchmark's upstream: answers every request with 200 and ~200 bytes of JSON, keep-alive,
//! on one current-thread runtime. Usage: `bench_upstream [ADDR]` (default 127.0.0.1:9000).
#![forbid(unsafe_code)]

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, body::Incoming};
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

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), hyper::service::service_fn(answer))
                    .await;
            });
        }
    })
}
