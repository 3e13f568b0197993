//! A bare hyper pass-through proxy (no gates), for finding where Palisade's per-request cost
//! goes: `bare_proxy LISTEN UPSTREAM`. Not part of the product.
#![forbid(unsafe_code)]

use hyper::body::Incoming;
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9100".into());
    let upstream = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        let client: Client<HttpConnector, Incoming> =
            Client::builder(TokioExecutor::new()).build(http);
        let listener = tokio::net::TcpListener::bind(&listen).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let client = client.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    let client = client.clone();
                    let uri: Uri = format!("http://{upstream}{}", req.uri().path())
                        .parse()
                        .unwrap();
                    *req.uri_mut() = uri;
                    async move { client.request(req).await }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}
