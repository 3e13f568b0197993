//! Logging: tracing to stderr, plain or JSON, through a redacting writer so that no credential
//! or (when configured) personal data is ever written, whichever code path logged it.
//!
//! Access-log lines (target [`ACCESS_TARGET`]) are formatted and redacted like every other
//! line, but on a serving worker ([`AccessLogBuffer`]) they go into that worker's buffer and
//! reach the same writer in batches: at least every 100 ms, when the buffer passes 32 KiB, and
//! when the worker stops (shutdown), so no line of an answered request is lost. Anywhere else
//! (library mode, tools) they are written at once, as every other line is.

use crate::config::{LogConfig, LogFormat};
use palisade_core::redact::{RedactOptions, Redactor};
use std::cell::RefCell;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The tracing target of access-log lines.
pub const ACCESS_TARGET: &str = "palisade::access";

/// How often a worker's buffered access-log lines are written at the latest.
pub const ACCESS_FLUSH_EVERY: Duration = Duration::from_millis(100);

/// Past this many buffered bytes a worker writes its access-log lines at once.
const ACCESS_BUFFER_MAX: usize = 32 << 10;

/// Where a batch of access-log lines is written: the writer every other line goes to.
type Sink = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// One worker's buffered access-log lines and where they go.
struct Buffered {
    bytes: Vec<u8>,
    sink: Option<Sink>,
}

thread_local! {
    /// This thread's access-log buffer; `None` unless an [`AccessLogBuffer`] is running here.
    static ACCESS_BUFFER: RefCell<Option<Buffered>> = const { RefCell::new(None) };
}

/// Writes out this thread's buffered access-log lines, if any.
pub fn flush_access_log() {
    let batch = ACCESS_BUFFER.with_borrow_mut(|b| {
        let b = b.as_mut()?;
        if b.bytes.is_empty() {
            return None;
        }
        Some((std::mem::take(&mut b.bytes), b.sink.clone()?))
    });
    if let Some((bytes, sink)) = batch {
        sink(&bytes);
        // Keep the capacity for the next batch.
        ACCESS_BUFFER.with_borrow_mut(|b| {
            if let Some(b) = b.as_mut()
                && b.bytes.is_empty()
            {
                b.bytes = bytes;
                b.bytes.clear();
            }
        });
    }
}

/// Appends a redacted access-log line to this thread's buffer; `Err(line)` when the thread has
/// none (the caller writes it at once).
fn buffer_access_line<'a>(line: &'a [u8], sink: &Sink) -> Result<(), &'a [u8]> {
    let full = ACCESS_BUFFER.with_borrow_mut(|b| {
        let Some(b) = b.as_mut() else {
            return Err(());
        };
        if b.sink.is_none() {
            b.sink = Some(sink.clone());
        }
        b.bytes.extend_from_slice(line);
        Ok(b.bytes.len() >= ACCESS_BUFFER_MAX)
    });
    match full {
        Err(()) => Err(line),
        Ok(true) => {
            flush_access_log();
            Ok(())
        }
        Ok(false) => Ok(()),
    }
}

/// A serving worker's access-log buffer: while it lives, this thread's access-log lines are
/// buffered and written every [`ACCESS_FLUSH_EVERY`]; dropping it (when the worker stops)
/// writes what is left.
pub struct AccessLogBuffer {
    flusher: tokio::task::JoinHandle<()>,
    /// Tied to the thread whose buffer it is.
    _here: std::marker::PhantomData<*const ()>,
}

impl AccessLogBuffer {
    /// Starts buffering on this thread; needs a current-thread runtime on this thread (the
    /// periodic flush is a task on it, so it runs here).
    pub fn start() -> Self {
        ACCESS_BUFFER.with_borrow_mut(|b| {
            *b = Some(Buffered {
                bytes: Vec::with_capacity(ACCESS_BUFFER_MAX),
                sink: None,
            })
        });
        let flusher = tokio::spawn(async {
            let mut every = tokio::time::interval(ACCESS_FLUSH_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                flush_access_log();
            }
        });
        Self {
            flusher,
            _here: std::marker::PhantomData,
        }
    }
}

impl Drop for AccessLogBuffer {
    fn drop(&mut self) {
        self.flusher.abort();
        flush_access_log();
        ACCESS_BUFFER.with_borrow_mut(|b| *b = None);
    }
}

/// Writes each formatted event, redacted, to the inner writer (access-log lines on a serving
/// worker: to its buffer, see [`AccessLogBuffer`]).
#[derive(Clone)]
pub struct RedactingMakeWriter<W> {
    redactor: Arc<Redactor>,
    inner: W,
    sink: Sink,
}

impl<W> RedactingMakeWriter<W>
where
    W: for<'a> MakeWriter<'a> + Clone + Send + Sync + 'static,
{
    /// A writer maker that redacts credentials (and the configured personal data) from every line.
    pub fn new(options: RedactOptions, inner: W) -> Self {
        let to = inner.clone();
        Self {
            redactor: Arc::new(Redactor::new(options)),
            inner,
            sink: Arc::new(move |bytes: &[u8]| {
                let _ = to.make_writer().write_all(bytes);
            }),
        }
    }
}

/// A writer that redacts each line before passing it on.
pub struct RedactingWriter<W> {
    redactor: Arc<Redactor>,
    inner: W,
    /// Set for access-log lines: try this thread's buffer first.
    access: Option<Sink>,
}

impl<W: Write> Write for RedactingWriter<W> {
    /// tracing-subscriber hands over one whole formatted event per `write_all`, so each call
    /// sees complete values and nothing can be split across two writes.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let line = self.redactor.redact(&text);
        let line = match &self.access {
            Some(sink) => match buffer_access_line(line.as_bytes(), sink) {
                Ok(()) => return Ok(buf.len()),
                Err(line) => line,
            },
            None => line.as_bytes(),
        };
        self.inner.write_all(line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<'a, W> MakeWriter<'a> for RedactingMakeWriter<W>
where
    W: MakeWriter<'a>,
{
    type Writer = RedactingWriter<W::Writer>;
    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            redactor: self.redactor.clone(),
            inner: self.inner.make_writer(),
            access: None,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        RedactingWriter {
            redactor: self.redactor.clone(),
            inner: self.inner.make_writer(),
            access: (meta.target() == ACCESS_TARGET).then(|| self.sink.clone()),
        }
    }
}

/// Installs the process-wide subscriber. Returns an error if the level is not a valid filter;
/// a second call in the same process (tests) leaves the first subscriber in place.
pub fn init(cfg: &LogConfig) -> Result<(), String> {
    let filter =
        EnvFilter::try_new(&cfg.level).map_err(|e| format!("log.level {:?}: {e}", cfg.level))?;
    let writer = RedactingMakeWriter::new(
        RedactOptions {
            emails: cfg.redact_emails,
            ipv4: cfg.redact_ipv4,
        },
        std::io::stderr,
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match cfg.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(false).try_init(),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
        }
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    fn subscriber(out: &Captured) -> impl tracing::Subscriber + Send + Sync {
        tracing_subscriber::fmt()
            .with_writer(RedactingMakeWriter::new(
                RedactOptions::default(),
                out.clone(),
            ))
            .with_ansi(false)
            .finish()
    }

    #[test]
    fn a_workers_access_lines_wait_in_its_buffer_and_all_are_written_when_it_stops() {
        let out = Captured::default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        tracing::subscriber::with_default(subscriber(&out), || {
            runtime.block_on(async {
                let buffer = AccessLogBuffer::start();
                for n in 0..50 {
                    tracing::info!(target: ACCESS_TARGET, n, token = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz", "request");
                }
                tracing::info!(target: "palisade::other", "not an access line");
                let written = out.text();
                assert!(written.contains("not an access line"), "{written}");
                assert!(!written.contains(ACCESS_TARGET), "buffered: {written}");
                drop(buffer); // the worker stops
                let written = out.text();
                for n in 0..50 {
                    assert!(written.contains(&format!(" n={n} ")), "line {n} lost: {written}");
                }
                assert_eq!(written.matches(ACCESS_TARGET).count(), 50);
                assert!(!written.contains("c2lnbmF0dXJlLWJ5dGVz"), "redacted: {written}");
                // Once stopped, lines are written at once again.
                tracing::info!(target: ACCESS_TARGET, n = 50, "request");
                assert!(out.text().contains(" n=50"), "{}", out.text());
            })
        });
    }

    #[test]
    fn without_a_worker_buffer_access_lines_are_written_at_once() {
        let out = Captured::default();
        tracing::subscriber::with_default(subscriber(&out), || {
            tracing::info!(target: ACCESS_TARGET, n = 1, "request");
        });
        assert!(out.text().contains(" n=1"), "{}", out.text());
    }
}
