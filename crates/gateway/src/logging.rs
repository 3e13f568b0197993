//! Logging: tracing to stderr, plain or JSON, through a redacting writer so that no credential
//! or (when configured) personal data is ever written, whichever code path logged it.

use crate::config::{LogConfig, LogFormat};
use palisade_core::redact::{RedactOptions, Redactor};
use std::io::Write;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// Writes each formatted event, redacted, to the inner writer.
#[derive(Clone)]
pub struct RedactingMakeWriter<W> {
    redactor: Arc<Redactor>,
    inner: W,
}

impl<W> RedactingMakeWriter<W> {
    /// A writer maker that redacts credentials (and the configured personal data) from every line.
    pub fn new(options: RedactOptions, inner: W) -> Self {
        Self {
            redactor: Arc::new(Redactor::new(options)),
            inner,
        }
    }
}

/// A writer that redacts each line before passing it on.
pub struct RedactingWriter<W> {
    redactor: Arc<Redactor>,
    inner: W,
}

impl<W: Write> Write for RedactingWriter<W> {
    /// tracing-subscriber hands over one whole formatted event per `write_all`, so each call
    /// sees complete values and nothing can be split across two writes.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.inner
            .write_all(self.redactor.redact(&text).as_bytes())?;
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
