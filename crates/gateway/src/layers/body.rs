//! Reading a request body inside a gate: its declared length, whether it has one at all, and a
//! read bounded by a limit. The inspect, query/tools and upload gates share these, so a body
//! one of them reads is a body all of them read (HTTP/2 included).

use crate::request::Req;
use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

/// A body read up to a limit.
pub(super) enum Read {
    Whole(Bytes),
    /// Over the limit: what was read, and the rest unread.
    Over(Bytes, Body),
    /// Broken by the client (or over a limit a layer below enforces).
    Failed,
}

/// Reads `body` until it ends or passes `limit` bytes.
pub(super) async fn read_bounded(body: Body, limit: u64) -> Read {
    let mut body = body;
    let mut buf = BytesMut::new();
    loop {
        match body.frame().await {
            None => return Read::Whole(buf.freeze()),
            Some(Err(_)) => return Read::Failed,
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    buf.extend_from_slice(&data);
                    if buf.len() as u64 > limit {
                        return Read::Over(buf.freeze(), body);
                    }
                }
            }
        }
    }
}

/// A body's declared length, and whether the request has a body at all (HTTP/2 needs neither
/// `Content-Length` nor `Transfer-Encoding`: a stream not ended with its headers has one).
pub(super) fn body_declared(req: &Req) -> (Option<u64>, bool) {
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let has_body = declared.is_some_and(|n| n > 0)
        || req.headers().contains_key(http::header::TRANSFER_ENCODING)
        || (declared.is_none() && !http_body::Body::is_end_stream(req.body()));
    (declared, has_body)
}
