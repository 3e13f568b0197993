//! The bare reference proxy: hyper's HTTP/1 server in front of Palisade's own per-worker
//! upstream pool (`palisade_gateway::route::pool`), with no gates — the ceiling of the HTTP
//! stack Palisade is built on, measured beside it by `scripts/bench`. One current-thread worker
//! with its own `SO_REUSEPORT` listener per core the process may run on (`WORKERS` overrides),
//! as Palisade serves. `bare_proxy LISTEN UPSTREAM`. Not part of the product.
#![forbid(unsafe_code)]

use axum::body::Body;
use hyper::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use palisade_gateway::config::traffic::UpstreamProtocol;
use palisade_gateway::route::pool::{PoolSettings, UpstreamPool};
use palisade_gateway::route::upstream::{Hop, Upstream};
use std::net::SocketAddr;
use std::time::Duration;

// The allocator Palisade's binary uses, so the comparison is of the code, not the allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::io::Result<()> {
    let listen: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9100".into())
        .parse()
        .map_err(std::io::Error::other)?;
    let upstream = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let threads: Vec<_> = (0..workers)
        .map(|_| {
            let listener = bind(listen)?;
            let upstream = upstream.clone();
            Ok(std::thread::spawn(move || worker(listener, upstream)))
        })
        .collect::<std::io::Result<_>>()?;
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

fn worker(listener: std::net::TcpListener, upstream: String) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let pool = UpstreamPool::new(PoolSettings {
            idle_timeout: Duration::from_secs(90),
            max_idle_per_host: 256,
        });
        let hop = Hop {
            connect_timeout: Duration::from_secs(5),
            protocol: UpstreamProtocol::Http1,
        };
        let listener = tokio::net::TcpListener::from_std(listener)?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let pool = pool.clone();
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (mut parts, body) = req.into_parts();
                    parts.uri = format!(
                        "http://{upstream}{}",
                        parts.uri.path_and_query().map_or("/", |p| p.as_str())
                    )
                    .parse()
                    .expect("a path makes a URI");
                    let sent = pool.send(hop, Request::from_parts(parts, Body::new(body)));
                    async move { sent.await.map_err(|failed| failed.error) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}
