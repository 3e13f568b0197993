//! A request body that stops at a byte limit, whatever the framing (`Content-Length` or chunked).
//!
//! Exceeding the limit makes the body yield an error and records it in [`BodyState`], so the
//! part of the pipeline that was reading (the proxy, a built-in handler) answers 413. A body the
//! client broke (a malformed chunk, a connection cut mid-body) is recorded too, so the proxy
//! answers 400 instead of blaming the upstream with a 502.

use bytes::Buf;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

/// Progress of a request body, shared between the body and whoever must explain its failure.
#[derive(Debug, Default)]
pub struct BodyState {
    exceeded: AtomicBool,
    finished: AtomicBool,
    broken: AtomicBool,
}

impl BodyState {
    /// The body went past its limit.
    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Acquire)
    }

    /// The body was read to its end.
    pub fn finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// Reading the client's body failed (bad chunked framing, the client went away).
    pub fn broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// The client, not the upstream, is why forwarding failed: too large or broken.
    pub fn client_fault(&self) -> bool {
        self.exceeded() || self.broken()
    }
}

/// The error a body yields past its limit.
#[derive(Debug, thiserror::Error)]
#[error("request body exceeds the limit of {limit} bytes")]
pub struct BodyTooLarge {
    /// The limit that was exceeded.
    pub limit: u64,
}

pin_project_lite::pin_project! {
    /// A request body capped at `limit` bytes; past it the body errs with [`BodyTooLarge`].
    pub struct LimitedBody<B> {
        #[pin]
        inner: B,
        limit: u64,
        remaining: u64,
        state: Arc<BodyState>,
    }
}

impl<B> LimitedBody<B> {
    /// `inner` capped at `limit`, reporting to `state`.
    pub fn new(inner: B, limit: u64, state: Arc<BodyState>) -> Self {
        Self {
            inner,
            limit,
            remaining: limit,
            state,
        }
    }
}

impl<B> HttpBody for LimitedBody<B>
where
    B: HttpBody,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = B::Data;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        match std::task::ready!(this.inner.poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.remaining() as u64;
                    if len > *this.remaining {
                        this.state.exceeded.store(true, Ordering::Release);
                        return Poll::Ready(Some(Err(Box::new(BodyTooLarge {
                            limit: *this.limit,
                        }))));
                    }
                    *this.remaining -= len;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => {
                this.state.broken.store(true, Ordering::Release);
                Poll::Ready(Some(Err(e.into())))
            }
            None => {
                this.state.finished.store(true, Ordering::Release);
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn passes_bodies_within_the_limit() {
        let state = Arc::new(BodyState::default());
        let body = LimitedBody::new(
            http_body_util::Full::new(bytes::Bytes::from_static(b"12345")),
            5,
            state.clone(),
        );
        assert_eq!(body.collect().await.unwrap().to_bytes().as_ref(), b"12345");
        assert!(state.finished() && !state.exceeded());
    }

    #[tokio::test]
    async fn stops_streamed_bodies_past_the_limit() {
        let chunks = futures_util::stream::iter((0..10).map(|_| {
            Ok::<_, std::convert::Infallible>(Frame::data(bytes::Bytes::from_static(b"0123456789")))
        }));
        let state = Arc::new(BodyState::default());
        let body = LimitedBody::new(http_body_util::StreamBody::new(chunks), 25, state.clone());
        let err = body.collect().await.unwrap_err();
        assert!(err.to_string().contains("25 bytes"));
        assert!(state.exceeded() && !state.finished());
    }

    #[tokio::test]
    async fn a_failing_client_body_is_recorded_as_broken() {
        let chunks = futures_util::stream::iter([
            Ok(Frame::data(bytes::Bytes::from_static(b"ok"))),
            Err(std::io::Error::other("invalid chunk size line")),
        ]);
        let state = Arc::new(BodyState::default());
        let body = LimitedBody::new(http_body_util::StreamBody::new(chunks), 25, state.clone());
        assert!(body.collect().await.is_err());
        assert!(state.broken() && state.client_fault() && !state.exceeded());
    }
}
