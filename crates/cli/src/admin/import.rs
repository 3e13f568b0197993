//! `palisade user import FILE`: streams the file's rows (read by `palisade_cli::user_import`)
//! into the shared import use case (`palisade_gateway::identity::import`) in batches of
//! [`BATCH`] rows, one store transaction each, and tells the operator how it goes.
//!
//! Guarantees: the file is read line by line (memory stays bounded by one batch and the set of
//! external ids seen); an external id given twice in the file is refused on its second row; each
//! refused row is reported on stderr as `row N: field: reason`, never with a hash or a
//! password; the summary `imported N, updated 0, skipped M (already present), refused K` goes
//! to stdout; the command fails (exit 1) when any row was refused. Progress: a bar on stderr when
//! it is a terminal, else a plain line every [`PLAIN_EVERY`] rows.

use super::*;
use palisade_cli::user_import::{FileFormat, Line, RowReader};
use palisade_gateway::identity::import::{ImportInput, ImportRun, RowOutcome, RowRefusal};
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal};

/// Rows per batch (one store transaction, one group of audit events).
pub const BATCH: usize = 1000;
/// Rows between two progress lines when stderr is not a terminal.
pub const PLAIN_EVERY: u64 = 10_000;

#[derive(Default)]
struct Tally {
    imported: u64,
    skipped: u64,
    refused: u64,
}

impl Admin {
    pub(super) async fn import(
        &self,
        path: &std::path::Path,
        format: FileFormat,
        dry_run: bool,
    ) -> Result<()> {
        let file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let roles = palisade_gateway::authz::compile(&self.config)
            .map_err(|p| anyhow!("the policy has problems: {}", p.join("; ")))?;
        let role_exists = |r: &str| roles.matrix().has_role(r);
        let run = ImportRun {
            role_exists: &role_exists,
            dry_run,
        };
        let by = self.acting().await?;
        let progress = Progress::new(size);
        let mut reader = RowReader::new(format);
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut batch: Vec<ImportInput> = Vec::with_capacity(BATCH);
        let mut tally = Tally::default();
        let mut lines = std::io::BufReader::with_capacity(1 << 16, file);
        let mut raw = Vec::new();
        let mut row = 0u64;
        loop {
            raw.clear();
            let read = lines
                .read_until(b'\n', &mut raw)
                .with_context(|| format!("reading {}", path.display()))?;
            if read == 0 {
                break;
            }
            row += 1;
            progress.advance(read as u64);
            let Ok(text) = std::str::from_utf8(&raw) else {
                batch.push(ImportInput {
                    row,
                    account: Err(RowRefusal::new("row", "not UTF-8 text")),
                });
                continue;
            };
            let account = match reader.line(text) {
                Line::Skip => continue,
                Line::BadHeader(why) => bail!("{}: row {row}: {why}", path.display()),
                Line::Row(account) => account,
            };
            let account = account.and_then(|a| match &a.external_id {
                Some(ext) => match seen.get(ext) {
                    Some(first) => Err(RowRefusal::new(
                        "external_id",
                        format!("given again (first on row {first})"),
                    )),
                    None => {
                        seen.insert(ext.clone(), row);
                        Ok(a)
                    }
                },
                None => Ok(a),
            });
            batch.push(ImportInput { row, account });
            if batch.len() >= BATCH {
                self.import_batch(std::mem::take(&mut batch), &run, &by, &mut tally, &progress)
                    .await?;
            }
        }
        self.import_batch(batch, &run, &by, &mut tally, &progress)
            .await?;
        progress.finish();
        let Tally {
            imported,
            skipped,
            refused,
        } = tally;
        let would = if dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        };
        println!(
            "imported {imported}, updated 0, skipped {skipped} (already present), refused {refused}{would}"
        );
        if refused > 0 {
            bail!("{refused} row(s) refused");
        }
        Ok(())
    }

    async fn import_batch(
        &self,
        batch: Vec<ImportInput>,
        run: &ImportRun<'_>,
        by: &By<'_>,
        tally: &mut Tally,
        progress: &Progress,
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let rows: Vec<u64> = batch.iter().map(|i| i.row).collect();
        let outcomes = self
            .identity
            .import_users(batch, run, by)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        for (row, outcome) in rows.into_iter().zip(outcomes) {
            match outcome {
                RowOutcome::Imported(_) => tally.imported += 1,
                RowOutcome::Skipped => tally.skipped += 1,
                RowOutcome::Refused(why) => {
                    tally.refused += 1;
                    progress.println(&format!("row {row}: {why}"));
                }
            }
        }
        progress.rows(tally.imported + tally.skipped + tally.refused);
        Ok(())
    }
}

/// A bar on a terminal, a plain line now and then otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last_plain: std::cell::Cell<u64>,
}

impl Progress {
    fn new(size: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(size);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {msg} ({elapsed}, ~{eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            bar,
            last_plain: std::cell::Cell::new(0),
        }
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn rows(&self, done: u64) {
        match &self.bar {
            Some(bar) => bar.set_message(format!("{done} rows")),
            None if done >= self.last_plain.get() + PLAIN_EVERY => {
                self.last_plain.set(done);
                eprintln!("import: {done} rows done");
            }
            None => {}
        }
    }

    /// A line on stderr that does not break the bar.
    fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
