//! The listener's watch on HTTP/1 message framing, below hyper.
//!
//! hyper resolves a request that carries both `Content-Length` and `Transfer-Encoding` the way
//! RFC 9112 §6.3 allows an intermediary to: it drops `Content-Length`, reads the body chunked and
//! closes the connection afterwards. The pipeline then never learns that the request was
//! ambiguous, and Palisade's rule is to refuse it (400). hyper also answers a
//! `Transfer-Encoding` whose last coding is not `chunked` with a bare 400 that is no
//! problem+json.
//!
//! So the listener follows the byte stream with the same parser hyper uses (`httparse`, default
//! settings, 100 headers) and the same framing rules (chunked, else `Content-Length`, else no
//! body), holding a request head back until it is complete. In a head that breaks the framing
//! rules it renames, in place and byte for byte, `Content-Length` to [`CL_TE_MARKER`] (when
//! `Transfer-Encoding` is present too) and `Transfer-Encoding` to [`TE_MARKER`] (unless it is one
//! single `chunked` in HTTP/1.1). hyper then parses a harmless head, the boundary's strict HTTP
//! check (`layers::strict_http`) refuses it with problem+json and `Connection: close`, and the
//! watch stops: nothing after that head is ever read as a request.
//!
//! A head that outgrows hyper's buffer (a megabyte bearer token) or its 100 fields is not handed
//! to hyper, which would answer a bare 431: the listener hands over [`OVERSIZED_HEAD`] instead, a
//! small request marked with [`OVERSIZED_MARKER`](crate::request::OVERSIZED_MARKER) that the
//! strict check answers with a 431 problem+json and `Connection: close`, and discards whatever
//! else the client sends.
//!
//! Guarantees: bytes are only ever renamed inside a complete head that `httparse` parsed at a
//! message boundary both parsers agree on; anything the watch does not understand (a parse
//! error, an upgrade or `CONNECT`, an odd `Content-Length`, request trailers, the HTTP/2
//! preface) switches it off for the rest of the connection and leaves hyper's own rules in
//! force (hyper still drops `Content-Length` beside `Transfer-Encoding` and closes after).

use crate::request::{CL_TE_MARKER, FramingMarks, TE_MARKER};

/// The request that stands in for an oversized head, marked with
/// [`OVERSIZED_MARKER`](crate::request::OVERSIZED_MARKER), whole.
pub const OVERSIZED_HEAD: &[u8] =
    b"GET / HTTP/1.1\r\nHost: palisade.invalid\r\npalisade-head-too-large: 1\r\n\r\n";

const MAX_HEADERS: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a message boundary: the next bytes are a request head.
    Head,
    /// A `Content-Length` body with this many bytes left.
    Fixed(u64),
    /// A chunk-size line, its value so far, whether any digit was seen, and whether the digits
    /// ended (extensions, whitespace, CR).
    ChunkSize {
        value: u64,
        digits: bool,
        ended: bool,
    },
    /// Chunk data with this many bytes left.
    ChunkData(u64),
    /// The CRLF after chunk data.
    ChunkEnd,
    /// The line after the last chunk (empty: the message ends), and whether it has content.
    Trailer { content: bool },
    /// Not watching any more.
    Off,
    /// The head at the boundary outgrew `max_head`; nothing after the boundary may pass.
    Oversized,
}

/// The framing watch of one connection.
#[derive(Debug)]
pub struct Framing {
    state: State,
    /// A head longer than this is left to hyper (which answers 431).
    max_head: usize,
    marks: FramingMarks,
}

impl Framing {
    /// A watch for heads of at most `max_head` bytes.
    pub fn new(max_head: usize) -> Self {
        Self {
            state: State::Head,
            max_head,
            marks: FramingMarks::default(),
        }
    }

    /// Tells whether this watch has marked a head; shared with the connection's requests.
    pub fn marks(&self) -> FramingMarks {
        self.marks.clone()
    }

    /// Whether the watch gave up on this connection (hyper's rules apply from here on).
    pub fn is_off(&self) -> bool {
        self.state == State::Off
    }

    /// The head now arriving is longer than `max_head`: the listener answers it with
    /// [`OVERSIZED_HEAD`] instead and reads nothing more from this connection as requests.
    pub fn is_oversized(&self) -> bool {
        self.state == State::Oversized
    }

    /// Stops watching (end of stream with an incomplete head: hand it over as it is).
    pub fn give_up(&mut self) {
        self.state = State::Off;
        self.marks.set();
    }

    /// Follows the bytes `buf` that come next on the connection, renaming framing headers in a
    /// head that breaks the rules. Returns how many leading bytes may go on to hyper; the rest is
    /// an incomplete head to be scanned again, with more bytes after it, from its start.
    pub fn scan(&mut self, buf: &mut [u8]) -> usize {
        let mut at = 0;
        while at < buf.len() {
            let rest = buf.len() - at;
            match self.state {
                State::Off => return buf.len(),
                State::Oversized => return at,
                State::Head => match self.head(&mut buf[at..]) {
                    Some(n) => at += n,
                    None if rest > self.max_head => {
                        self.state = State::Oversized;
                        self.marks.set();
                        return at;
                    }
                    None => return at,
                },
                State::Fixed(left) | State::ChunkData(left) => {
                    let take = left.min(rest as u64);
                    at += take as usize;
                    let left = left - take;
                    self.state = match (self.state, left) {
                        (State::Fixed(_), 0) => State::Head,
                        (State::Fixed(_), _) => State::Fixed(left),
                        (_, 0) => State::ChunkEnd,
                        _ => State::ChunkData(left),
                    };
                }
                _ => {
                    self.state = self.chunk_byte(buf[at]);
                    at += 1;
                }
            }
        }
        at
    }

    fn chunk_byte(&self, b: u8) -> State {
        match (self.state, b) {
            (State::ChunkSize { digits: false, .. }, b'\n') => State::Off,
            (State::ChunkSize { value: 0, .. }, b'\n') => State::Trailer { content: false },
            (State::ChunkSize { value, .. }, b'\n') => State::ChunkData(value),
            (
                State::ChunkSize {
                    value,
                    ended: false,
                    ..
                },
                b,
            ) if b.is_ascii_hexdigit() => {
                let digit = u64::from((b as char).to_digit(16).unwrap_or(0));
                match value.checked_mul(16) {
                    Some(v) => State::ChunkSize {
                        value: v + digit,
                        digits: true,
                        ended: false,
                    },
                    None => State::Off,
                }
            }
            (State::ChunkSize { value, digits, .. }, _) => State::ChunkSize {
                value,
                digits,
                ended: true,
            },
            (State::ChunkEnd, b'\n') => State::ChunkSize {
                value: 0,
                digits: false,
                ended: false,
            },
            (State::ChunkEnd, _) => State::ChunkEnd,
            (State::Trailer { content: false }, b'\n') => State::Head,
            // Request trailers are rare and their syntax is hyper's to judge: stop following.
            (State::Trailer { .. }, b'\n') => State::Off,
            (State::Trailer { content }, b'\r') => State::Trailer { content },
            (State::Trailer { .. }, _) => State::Trailer { content: true },
            (other, _) => other,
        }
    }

    /// Parses a head at the start of `buf`: its length when complete, `None` when more bytes
    /// are needed.
    fn head(&mut self, buf: &mut [u8]) -> Option<usize> {
        if let Some(len) = plain_head_len(buf) {
            return Some(len);
        }
        let mut headers = [std::mem::MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
        let mut req = httparse::Request::new(&mut []);
        let parsed = req.parse_with_uninit_headers(buf, &mut headers);
        // A head that is only incomplete is scanned again when it is whole.
        if parsed != Ok(httparse::Status::Partial) {
            self.marks.set();
        }
        let len = match parsed {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return None,
            // More fields than hyper takes: as oversized as a head can be.
            Err(httparse::Error::TooManyHeaders) => {
                self.state = State::Oversized;
                self.marks.set();
                return Some(0);
            }
            Err(_) => {
                self.state = State::Off;
                return Some(buf.len());
            }
        };
        let base = buf.as_ptr() as usize;
        let http10 = req.version == Some(0);
        let mut opaque_after = req.method == Some("CONNECT");
        let (mut cl, mut te) = (Vec::new(), Vec::new());
        let mut cl_value: Option<&[u8]> = None;
        let mut te_value: Option<&[u8]> = None;
        for h in req.headers.iter() {
            let offset = h.name.as_ptr() as usize - base;
            if h.name.eq_ignore_ascii_case("content-length") {
                cl.push(offset);
                cl_value = Some(h.value);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                te.push(offset);
                te_value = Some(h.value);
            } else if h.name.eq_ignore_ascii_case("upgrade") {
                opaque_after = true;
            }
        }
        let te_chunked = te.len() == 1
            && !http10
            && te_value.is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        let length = match (cl.len(), cl_value) {
            (1, Some(v)) => std::str::from_utf8(v)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok()),
            _ => None,
        };
        if !te.is_empty() && (!cl.is_empty() || !te_chunked) {
            if !cl.is_empty() {
                for at in cl {
                    buf[at..at + CL_TE_MARKER.len()].copy_from_slice(CL_TE_MARKER.as_bytes());
                }
            }
            if !te_chunked {
                for at in te {
                    buf[at..at + TE_MARKER.len()].copy_from_slice(TE_MARKER.as_bytes());
                }
            }
            self.state = State::Off;
            return Some(len);
        }
        self.state = if opaque_after {
            State::Off
        } else if te_chunked {
            State::ChunkSize {
                value: 0,
                digits: false,
                ended: false,
            }
        } else {
            match (cl.len(), length) {
                (0, _) | (_, Some(0)) => State::Head,
                (_, Some(n)) => State::Fixed(n),
                // Several or odd lengths: hyper decides (or refuses); stop following.
                (_, None) => State::Off,
            }
        };
        Some(len)
    }
}

/// The length of a complete HTTP/1.x head at the start of `buf` that names no framing field, or
/// `None` when that needs httparse's full parse.
///
/// Most requests carry no `Content-Length`, `Transfer-Encoding` or `Upgrade` and are not
/// `CONNECT`: such a head has no body for either parser and ends at its first empty line, so
/// the watch only has to find that line (hyper still parses and judges the head). Any line
/// that starts with one of those names (in any case), an empty first line, a request line not
/// ending in ` HTTP/1.1` or ` HTTP/1.0`, more fields than hyper takes, or an incomplete head
/// goes the full way through httparse instead. A header name cannot hide behind leading
/// whitespace: a line starting with a space or tab (obsolete line folding) is an error for
/// both parsers.
fn plain_head_len(buf: &[u8]) -> Option<usize> {
    const FRAMING: [&[u8]; 3] = [b"content-length", b"transfer-encoding", b"upgrade"];
    let mut start = 0;
    for fields in 0..=MAX_HEADERS {
        let end = start + memchr::memchr(b'\n', &buf[start..])?;
        let line = &buf[start..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if fields == 0 {
            let http1 = line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0");
            if !http1 || line.starts_with(b"CONNECT ") {
                return None;
            }
        } else if line.is_empty() {
            return Some(end + 1);
        } else if matches!(line[0] | 0x20, b'c' | b't' | b'u')
            && FRAMING.iter().any(|name| {
                line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name)
            })
        {
            return None;
        }
        start = end + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes the way the listener does (unscanned bytes are
    /// kept and scanned again with the next piece); returns what hyper would read.
    fn feed(input: &[u8], step: usize) -> (Vec<u8>, bool) {
        let mut f = Framing::new(64 << 10);
        let (mut out, mut held) = (Vec::new(), Vec::new());
        for piece in input.chunks(step) {
            held.extend_from_slice(piece);
            let n = f.scan(&mut held);
            out.extend(held.drain(..n));
        }
        let watching = !f.is_off();
        f.give_up();
        out.append(&mut held);
        (out, watching)
    }

    fn every_split(input: &[u8]) -> Vec<u8> {
        let (whole, _) = feed(input, input.len());
        for step in 1..input.len() {
            assert_eq!(feed(input, step).0, whole, "split every {step} bytes");
        }
        whole
    }

    #[test]
    fn markers_keep_the_length_of_the_names_they_replace() {
        assert_eq!(CL_TE_MARKER.len(), "content-length".len());
        assert_eq!(TE_MARKER.len(), "transfer-encoding".len());
        let head = std::str::from_utf8(OVERSIZED_HEAD).unwrap();
        assert!(head.contains(&format!("\r\n{}: 1\r\n", crate::request::OVERSIZED_MARKER)));
    }

    #[test]
    fn well_framed_pipelines_pass_untouched_and_keep_being_watched() {
        let input = b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nworld\r\n0\r\n\r\n\
GET /c HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(every_split(input), input.to_vec());
        assert!(feed(input, 7).1, "still watching at the next head");
    }

    #[test]
    fn content_length_with_transfer_encoding_is_renamed_in_either_order() {
        for input in [
            &b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"[..],
            b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\ncontent-LENGTH: 5\r\n\r\n0\r\n\r\n",
        ] {
            let out = every_split(input);
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("palisade-cl-te: 5"), "{text}");
            assert!(!text.to_ascii_lowercase().contains("content-length"), "{text}");
            assert!(text.contains("Transfer-Encoding: chunked"), "{text}");
            assert_eq!(text.len(), input.len());
        }
    }

    #[test]
    fn other_transfer_codings_are_renamed() {
        for te in [
            "gzip, chunked",
            "chunked, gzip",
            "identity",
            "chunked\r\nTransfer-Encoding: chunked",
        ] {
            let input = format!("POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {te}\r\n\r\n");
            let text = String::from_utf8(every_split(input.as_bytes())).unwrap();
            assert!(
                !text.to_ascii_lowercase().contains("transfer-encoding"),
                "{text}"
            );
            assert!(text.contains(TE_MARKER), "{text}");
        }
        let input = b"POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(
            String::from_utf8(every_split(input))
                .unwrap()
                .contains(TE_MARKER)
        );
    }

    #[test]
    fn bodies_are_never_read_as_heads() {
        // A body that looks like a smuggled request is skipped by its declared length.
        let smuggled = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let input = format!(
            "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{smuggled}",
            smuggled.len()
        );
        assert_eq!(every_split(input.as_bytes()), input.as_bytes().to_vec());
        let chunked = format!(
            "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{smuggled}\r\n0\r\n\r\n",
            smuggled.len()
        );
        assert_eq!(every_split(chunked.as_bytes()), chunked.as_bytes().to_vec());
    }

    #[test]
    fn what_it_does_not_understand_switches_it_off() {
        for input in [
            &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
            b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello",
            b"POST /\x01 HTTP/1.1\r\nContent-Length: 1\r\n\r\nx",
            b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n\r\n",
        ] {
            let (out, watching) = feed(input, input.len());
            assert_eq!(out, input.to_vec());
            assert!(!watching, "{}", String::from_utf8_lossy(input));
        }
        // A bodiless head hyper cannot parse passes untouched; hyper refuses it and closes.
        let input = b"GET /\x01 HTTP/1.1\r\n\r\n";
        assert_eq!(feed(input, input.len()).0, input.to_vec());
    }

    #[test]
    fn the_line_scan_agrees_with_httparse_on_plain_heads() {
        let plain: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\nHost: a\n\n",
            b"GET / HTTP/1.0\r\n\r\n",
            b"GET /a HTTP/1.1\r\nHost: a\r\nX-Content-Length: 5\r\nAccept: */*\r\n\r\nGET /",
        ];
        for head in plain {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let parsed = httparse::Request::new(&mut headers).parse(head).unwrap();
            assert_eq!(
                plain_head_len(head),
                Some(parsed.unwrap()),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
        let full_parse: &[&[u8]] = &[
            b"GET / HTTP/1.1\r\nHost: a\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
            b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n",
            b"POST / HTTP/1.1\r\nTRANSFER-ENCODING: chunked\r\n\r\n",
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"\r\nGET / HTTP/1.1\r\n\r\n",
        ];
        for head in full_parse {
            assert_eq!(
                plain_head_len(head),
                None,
                "{}",
                String::from_utf8_lossy(head)
            );
        }
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(plain_head_len(&many), None, "more fields than hyper takes");
    }

    #[test]
    fn plain_heads_leave_the_connection_vouched_for_even_when_split() {
        let plain = b"GET /a?1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n";
        for step in 1..=plain.len() {
            let mut f = Framing::new(64 << 10);
            let marks = f.marks();
            let mut held = Vec::new();
            for piece in plain.repeat(2).chunks(step) {
                held.extend_from_slice(piece);
                let n = f.scan(&mut held);
                held.drain(..n);
            }
            assert!(!marks.any(), "split every {step} bytes");
        }
        let mut f = Framing::new(64 << 10);
        let mut post = b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n".to_vec();
        f.scan(&mut post);
        assert!(f.marks().any(), "a framing field: the strict check looks");
    }

    #[test]
    fn an_oversized_head_lets_nothing_after_the_boundary_pass() {
        let mut f = Framing::new(40);
        let mut input = b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nX-Big: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec();
        assert_eq!(
            f.scan(&mut input),
            28,
            "the complete request before it passes"
        );
        assert!(f.is_oversized());
        assert!(f.marks().any(), "the stand-in request is looked at");
        assert_eq!(f.scan(&mut input[28..]), 0);
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: 1\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        let mut f = Framing::new(64 << 10);
        assert_eq!(f.scan(&mut many), 0);
        assert!(f.is_oversized(), "more fields than hyper takes");
    }
}
