//! Holds many idle keep-alive connections open against a server, for `scripts/bench`'s
//! memory-per-connection figure: `idle_conns ADDR COUNT [PATH]`. Not part of the product.
//!
//! Opens COUNT connections (at most 256 being set up at once, so the listen backlog never
//! overflows), sends one `GET PATH` (default `/`) on each and reads the whole answer (within
//! 20 s, or it counts as failed), then keeps them all open and idle. Prints `open N failed F` to
//! stdout once every connection has been answered (or failed), then waits for its standard input
//! to close, then prints `still_open K`: how many the server had not closed meanwhile (a
//! measurement taken while connections were being closed would be wrong). The caller raises
//! `ulimit -n` above COUNT.
#![forbid(unsafe_code)]

use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A connection not answered within this counts as failed (a server out of file descriptors
/// leaves connections in its backlog unanswered).
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(20);

/// Sends one request and reads the answer to its end (`Content-Length` framing, as the bench
/// upstream's answers have); the connection stays open.
async fn one_request(addr: &str, request: &[u8]) -> std::io::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    stream.write_all(request).await?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                ErrorKind::UnexpectedEof,
                "closed before the answer ended",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        if !head.starts_with("http/1.1 2") {
            let status = head.lines().next().unwrap_or_default().to_string();
            return Err(std::io::Error::other(format!("answered {status}")));
        }
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            return Ok(stream);
        }
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(count)) = (args.next(), args.next()) else {
        eprintln!("usage: idle_conns ADDR COUNT [PATH]");
        std::process::exit(2);
    };
    let count: usize = count.parse().map_err(std::io::Error::other)?;
    let path = args.next().unwrap_or_else(|| "/".into());
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: idle_conns\r\n\r\n");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (streams, failed) = rt.block_on(async move {
        let setting_up = Arc::new(tokio::sync::Semaphore::new(256));
        let addr: Arc<str> = addr.into();
        let request: Arc<[u8]> = request.into_bytes().into();
        let mut tasks = Vec::with_capacity(count);
        for _ in 0..count {
            let (setting_up, addr, request) = (setting_up.clone(), addr.clone(), request.clone());
            tasks.push(tokio::spawn(async move {
                let _permit = setting_up.acquire_owned().await;
                tokio::time::timeout(ANSWER_WITHIN, one_request(&addr, &request))
                    .await
                    .unwrap_or_else(|_| Err(ErrorKind::TimedOut.into()))
            }));
        }
        let mut streams = Vec::with_capacity(count);
        let mut failed = 0usize;
        let mut first_error = None;
        for task in tasks {
            match task.await {
                Ok(Ok(s)) => streams.push(s.into_std()?),
                Ok(Err(e)) => {
                    failed += 1;
                    first_error.get_or_insert(e);
                }
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert(std::io::Error::other(e));
                }
            }
        }
        if let Some(e) = first_error {
            eprintln!("idle_conns: {failed} connections failed; the first: {e}");
        }
        Ok::<_, std::io::Error>((streams, failed))
    })?;
    let mut out = std::io::stdout();
    writeln!(out, "open {} failed {failed}", streams.len())?;
    out.flush()?;
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest)?;
    // `into_std` left them non-blocking: a peek that would block means open and idle.
    let still_open = streams
        .iter()
        .filter(|s| matches!(s.peek(&mut [0u8; 1]), Err(e) if e.kind() == ErrorKind::WouldBlock))
        .count();
    writeln!(out, "still_open {still_open}")?;
    Ok(())
}
