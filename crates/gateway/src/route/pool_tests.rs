//! The per-worker pool against a real hyper upstream on loopback: reuse, the idle bound, the
//! sweep, answers that must not be reused, HTTP/2 with prior knowledge, connect failures.

use super::*;
use http_body_util::{BodyExt, Full};
use hyper_util::server::conn::auto;
use std::sync::atomic::AtomicUsize;

/// An upstream that counts the connections it accepted and answers `{version}`; `/close`
/// answers with `Connection: close`, `/empty` with 204.
struct Counting {
    addr: std::net::SocketAddr,
    accepted: Arc<AtomicUsize>,
}

async fn counting_upstream() -> Counting {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                    let mut res = http::Response::new(Full::new(bytes::Bytes::from(format!(
                        "{:?}",
                        req.version()
                    ))));
                    match req.uri().path() {
                        "/close" => {
                            res.headers_mut()
                                .insert(header::CONNECTION, HeaderValue::from_static("close"));
                        }
                        "/empty" => {
                            *res.status_mut() = StatusCode::NO_CONTENT;
                            *res.body_mut() = Full::default();
                        }
                        _ => {}
                    }
                    Ok::<_, std::convert::Infallible>(res)
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Counting { addr, accepted }
}

fn pool(max_idle: usize) -> UpstreamPool {
    UpstreamPool::new(PoolSettings {
        idle_timeout: Duration::from_secs(60),
        max_idle_per_host: max_idle,
    })
}

fn hop(protocol: UpstreamProtocol) -> Hop {
    Hop {
        connect_timeout: Duration::from_secs(5),
        protocol,
    }
}

fn get(up: &Counting, path: &str) -> Request<Body> {
    Request::get(format!("http://{}{path}", up.addr))
        .body(Body::empty())
        .unwrap()
}

async fn read(res: Res) -> String {
    String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

fn base(up: &Counting) -> Uri {
    format!("http://{}/", up.addr).parse().unwrap()
}

#[tokio::test]
async fn one_connection_serves_sequential_requests() {
    let up = counting_upstream().await;
    let pool = pool(8);
    for _ in 0..10 {
        let res = pool
            .send(hop(UpstreamProtocol::Http1), get(&up, "/x"))
            .await
            .unwrap();
        assert_eq!(read(res).await, "HTTP/1.1");
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst), 1);
    assert_eq!(pool.idle_connections(&base(&up)), 1);
}

#[tokio::test]
async fn an_answer_without_a_body_gives_the_connection_back() {
    let up = counting_upstream().await;
    let pool = pool(8);
    for _ in 0..3 {
        let res = pool
            .send(hop(UpstreamProtocol::Http1), get(&up, "/empty"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        drop(res);
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_half_read_answer_and_connection_close_are_not_reused() {
    let up = counting_upstream().await;
    let pool = pool(8);
    // Dropped before its body was read: the connection is not trusted again.
    let res = pool
        .send(hop(UpstreamProtocol::Http1), get(&up, "/x"))
        .await
        .unwrap();
    drop(res);
    assert_eq!(pool.idle_connections(&base(&up)), 0);
    let res = pool
        .send(hop(UpstreamProtocol::Http1), get(&up, "/close"))
        .await
        .unwrap();
    read(res).await;
    let res = pool
        .send(hop(UpstreamProtocol::Http1), get(&up, "/x"))
        .await
        .unwrap();
    read(res).await;
    assert_eq!(up.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn idle_connections_are_bounded_and_swept() {
    let up = counting_upstream().await;
    let pool = pool(2);
    // Four at once need four connections; only two stay idle afterwards.
    let answers = futures_util::future::join_all(
        (0..4).map(|_| pool.send(hop(UpstreamProtocol::Http1), get(&up, "/x"))),
    )
    .await;
    for res in answers {
        read(res.unwrap()).await;
    }
    assert_eq!(up.accepted.load(Ordering::SeqCst), 4);
    assert_eq!(pool.idle_connections(&base(&up)), 2);
    for _ in 0..SWEEPS - 1 {
        pool.sweep();
    }
    assert_eq!(
        pool.idle_connections(&base(&up)),
        2,
        "not idle long enough yet"
    );
    pool.sweep();
    assert_eq!(pool.idle_connections(&base(&up)), 0);
}

#[tokio::test]
async fn h2c_multiplexes_one_connection() {
    let up = counting_upstream().await;
    let pool = pool(8);
    let answers = futures_util::future::join_all(
        (0..5).map(|_| pool.send(hop(UpstreamProtocol::H2c), get(&up, "/x"))),
    )
    .await;
    for res in answers {
        assert_eq!(read(res.unwrap()).await, "HTTP/2.0");
    }
    let res = pool
        .send(hop(UpstreamProtocol::H2c), get(&up, "/x"))
        .await
        .unwrap();
    assert_eq!(read(res).await, "HTTP/2.0");
    assert_eq!(
        up.accepted.load(Ordering::SeqCst),
        1,
        "the first requests waited for one connect"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let req = Request::get(format!("http://{addr}/"))
        .body(Body::empty())
        .unwrap();
    let err = pool(8)
        .send(hop(UpstreamProtocol::Http1), req)
        .await
        .unwrap_err();
    assert!(matches!(err.error, UpstreamError::Connect(_)), "{err:?}");
    assert!(
        err.unsent.is_some(),
        "a request that could not connect comes back unsent"
    );
}

#[test]
fn host_header_omits_the_default_port() {
    let h = |u: &str| host_header(&u.parse().unwrap()).unwrap();
    assert_eq!(h("http://a.example/"), "a.example");
    assert_eq!(h("http://a.example:80/"), "a.example");
    assert_eq!(h("http://a.example:8080/"), "a.example:8080");
    assert_eq!(h("https://a.example:443/"), "a.example");
    assert_eq!(h("https://[::1]:8443/"), "[::1]:8443");
}
