//! The listener's wrapper around every accepted connection's byte stream (TCP or TLS), under
//! hyper: the HTTP/1 framing watch ([`super::framing`]) on the way in, and a lingering close.
//!
//! **ClientIo close.** When hyper refuses a request it cannot parse (an oversized header
//! block: 431; bad framing: 400) it writes the answer and drops the connection while the client
//! is still sending. Closing a socket with unread input makes the kernel send a TCP reset, and a
//! reset throws away whatever the client had not read yet: the 431 is lost and the client sees
//! "connection reset". So when a connection whose client has not finished sending is dropped,
//! the wrapper hands the socket to a small task that closes the write side (the client reads
//! the answer, then end of stream) and reads and discards until the client closes, for at most
//! `linger` and [`LINGER_MAX_BYTES`] — what nginx calls `lingering_close`. A connection whose
//! client already closed costs nothing.

use super::framing::{Framing, OVERSIZED_HEAD};
use crate::request::FramingMarks;
use bytes::{Buf, BytesMut};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The most a lingering close reads and discards before closing anyway.
pub(super) const LINGER_MAX_BYTES: usize = 8 << 20;

/// A connection's stream, watched for HTTP/1 framing, with a lingering close on drop.
#[derive(Debug)]
pub(super) struct ClientIo<I>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    inner: Option<I>,
    linger: Duration,
    /// The client closed its side: nothing is left to drain.
    read_eof: bool,
    framing: Framing,
    /// Bytes read but not yet handed to hyper: the first `scanned` may go, the rest is an
    /// incomplete request head.
    held: BytesMut,
    scanned: usize,
    /// An oversized head was replaced: what the client sends from then on is thrown away.
    discarding: bool,
}

impl<I> ClientIo<I>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// `max_head`: request heads longer than this are not held back (hyper refuses them).
    pub(super) fn new(inner: I, linger: Duration, max_head: usize) -> Self {
        Self {
            inner: Some(inner),
            linger,
            read_eof: false,
            framing: Framing::new(max_head),
            held: BytesMut::new(),
            scanned: 0,
            discarding: false,
        }
    }

    /// Whether the framing watch marked a head on this connection (see [`FramingMarks`]).
    pub(super) fn marks(&self) -> FramingMarks {
        self.framing.marks()
    }

    fn io(&mut self) -> Pin<&mut I> {
        Pin::new(self.inner.as_mut().expect("present until drop"))
    }
}

impl<I> Drop for ClientIo<I>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn drop(&mut self) {
        if self.read_eof {
            return;
        }
        let (Some(io), Ok(runtime)) = (self.inner.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        runtime.spawn(linger(io, self.linger));
    }
}

/// Closes the write side, then reads and discards until the peer closes, `within` passes, or
/// [`LINGER_MAX_BYTES`] were read.
async fn linger<I: AsyncRead + AsyncWrite + Unpin>(mut io: I, within: Duration) {
    let _ = tokio::time::timeout(within, async {
        let _ = io.shutdown().await;
        let mut buf = [0u8; 8192];
        let mut drained = 0;
        while drained < LINGER_MAX_BYTES {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
    })
    .await;
}

impl<I> AsyncRead for ClientIo<I>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.scanned > 0 {
                let n = this.scanned.min(out.remaining());
                out.put_slice(&this.held[..n]);
                this.held.advance(n);
                this.scanned -= n;
                return Poll::Ready(Ok(()));
            }
            if this.discarding {
                return this.poll_discard(cx);
            }
            if this.held.is_empty() {
                // The usual case: read straight into hyper's buffer and follow the new bytes.
                let before = out.filled().len();
                std::task::ready!(this.io().poll_read(cx, out))?;
                let fresh = out.filled().len() - before;
                if fresh == 0 {
                    this.read_eof = true;
                    return Poll::Ready(Ok(()));
                }
                if this.framing.is_off() {
                    return Poll::Ready(Ok(()));
                }
                let n = this.framing.scan(&mut out.filled_mut()[before..]);
                if this.framing.is_oversized() {
                    out.set_filled(before + n);
                    this.replace_oversized();
                    if n > 0 {
                        return Poll::Ready(Ok(()));
                    }
                    continue;
                }
                if n < fresh {
                    // An incomplete head: keep it back until it is whole.
                    this.held.extend_from_slice(&out.filled()[before + n..]);
                    out.set_filled(before + n);
                }
                if n > 0 {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            // An incomplete head is held: read more after it and scan it again.
            let mut more = [0u8; 8192];
            let mut more = ReadBuf::new(&mut more);
            std::task::ready!(this.io().poll_read(cx, &mut more))?;
            if more.filled().is_empty() {
                this.read_eof = true;
                this.framing.give_up();
                this.scanned = this.held.len();
                continue;
            }
            this.held.extend_from_slice(more.filled());
            this.scanned = this.framing.scan(&mut this.held);
            if this.framing.is_oversized() {
                this.held.truncate(this.scanned);
                this.replace_oversized();
            }
        }
    }
}

impl<I> ClientIo<I>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    /// Puts the marked stand-in request where the oversized head was, and stops reading
    /// requests from this connection.
    fn replace_oversized(&mut self) {
        self.held.extend_from_slice(OVERSIZED_HEAD);
        self.scanned = self.held.len();
        self.discarding = true;
    }

    /// Reads and drops the client's bytes; hyper only ever sees the end of the stream (or
    /// nothing, while the client still sends).
    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut scratch = [0u8; 8192];
        for _ in 0..16 {
            let mut rb = ReadBuf::new(&mut scratch);
            std::task::ready!(self.io().poll_read(cx, &mut rb))?;
            if rb.filled().is_empty() {
                self.read_eof = true;
                return Poll::Ready(Ok(()));
            }
        }
        // Let other connections run; come back for more.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<I> AsyncWrite for ClientIo<I>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().io().poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().io().poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer written before the drop reaches a client that is still sending, and the
    /// client then sees an orderly end of stream, not a reset.
    #[tokio::test]
    async fn a_dropped_connection_lets_the_client_read_the_answer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut io = ClientIo::new(stream, Duration::from_secs(10), 64 << 10);
            let mut head = [0u8; 1024];
            io.read_exact(&mut head).await.unwrap();
            io.write_all(b"refused").await.unwrap();
            // Dropped with most of the client's bytes unread.
        });
        let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut rd, mut wr) = client.split();
        let sending = async {
            wr.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2097152\r\n\r\n")
                .await
                .unwrap();
            let chunk = vec![b'x'; 64 << 10];
            for _ in 0..32 {
                if wr.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            let _ = wr.shutdown().await;
        };
        let reading = async {
            let mut got = Vec::new();
            rd.read_to_end(&mut got).await.map(|_| got)
        };
        let ((), got) = tokio::join!(sending, reading);
        assert_eq!(got.expect("an orderly end, not a reset"), b"refused");
        server.await.unwrap();
    }
}
