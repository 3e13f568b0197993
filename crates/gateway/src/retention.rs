//! The one retention job: purges every data type past its `[retention]` period, the audit trail
//! included (and destroys anonymous callers' audit sealing keys of days past the longest audit
//! period), and applies the inactive-account policy. The gateway runs it daily at
//! `retention.run_at` (`server::duties`); `palisade retention run [--dry-run]` (and its alias
//! `palisade audit purge`) calls the same [`run`].
//!
//! Guarantees:
//! - **Nothing goes early**: a record goes only once `ended + period <= now` (the store's
//!   `RetentionStore` defines "ended" per type); nothing still active goes.
//! - **Short writes**: each type is deleted in batches, one transaction each, committed before
//!   the next (the run counts those over 50 ms). A batch examines a window of rows after the
//!   last one's (`RetentionStore::retention_purge`), so its cost is its own window's; the
//!   window is sized by the time the last batch took, towards `retention.transaction_target`
//!   (1 ms by default; first 100 rows, at least 10, at most `retention.batch_size`): each
//!   transaction is a burst of CPU that, on cores the traffic saturates, delays every request in
//!   flight by its length, so bursts are kept short and many. Between batches the job rests,
//!   sized by `retention.busy_share` (other writers and the proxied traffic get the store and
//!   the CPU: the job is paced by its own cost, not by a fixed rate). The audit trail
//!   goes in chunks ending at signed checkpoints, so its chain verifies after the purge and
//!   after every chunk.
//! - **A dry run writes nothing**: it counts what would go per type (and the accounts the
//!   policy would disable).
//! - **Seen**: progress in the logs (a line per type, debug per batch), the metrics
//!   `palisade_retention_purged_total{type}`, `palisade_retention_batches_total{type}`,
//!   `palisade_retention_batch_seconds{type}` (a histogram of the delete transactions),
//!   `palisade_retention_last_run_seconds` and `palisade_retention_last_run_timestamp_seconds`;
//!   accounts disabled for inactivity are `user.disabled` events (reason `expired`), through
//!   the same use case an administrator's disable goes through; accounts deleted
//!   `retention.accounts_deleted` ago are erased through the use case account deletion owns
//!   (`Identity::purge_user`, one transaction per account, `user.deleted`).

use crate::audit::trail::AuditTrail;
use crate::config::retention::RetentionConfig;
use crate::identity::Identity;
use crate::identity::manage::By;
use palisade_store::identity::RevocationReason;
use palisade_store::retention::{PurgeCursor, PurgeKind};
use std::time::Duration;

/// What one run removed (or, on a dry run, would remove), per data type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Only counted.
    pub dry_run: bool,
    /// `(type, records, transactions)` in the order purged; the audit trail as `audit`.
    pub purged: Vec<(&'static str, u64, u64)>,
    /// Accounts the inactive-account policy disabled (or would).
    pub accounts_disabled: u64,
    /// Their ids (the CLI hands them to a running gateway's hot state).
    pub disabled_ids: Vec<uuid::Uuid>,
    /// The longest delete transaction of the store's types (the target is under 50 ms).
    pub slowest_batch: Duration,
    /// Delete transactions of the store's types.
    pub transactions: u64,
    /// Those of them that took over 50 ms.
    pub transactions_over_bound: u64,
}

impl RunReport {
    /// Records (or would-be records) of `kind`.
    pub fn count(&self, kind: &str) -> Option<u64> {
        self.purged
            .iter()
            .find_map(|(k, n, _)| (*k == kind).then_some(*n))
    }

    /// Delete transactions used for `kind`.
    pub fn batches(&self, kind: &str) -> Option<u64> {
        self.purged
            .iter()
            .find_map(|(k, _, b)| (*k == kind).then_some(*b))
    }
}

/// The period of each store-purged type.
fn period(config: &RetentionConfig, kind: PurgeKind) -> Duration {
    match kind {
        PurgeKind::Sessions => config.sessions.0,
        PurgeKind::RefreshTokens => config.refresh_tokens.0,
        PurgeKind::Revocations => config.expired_revocations.0,
        PurgeKind::ApiKeys => config.api_keys.0,
        PurgeKind::SecretVersions => config.secret_versions.0,
    }
}

/// Accounts examined per page by the inactive-account policy.
const INACTIVE_PAGE: u32 = 500;

/// Runs the job once as of the identity's clock; see the module docs. `trail` is the audit
/// trail to purge (none: the audit records are left alone); `erasure_log` is where erased
/// accounts' tombstones are appended first (`Config::erasure_log`; none: the store's only);
/// `by` is who the policy's account disables are recorded as.
pub async fn run(
    identity: &Identity,
    trail: Option<&AuditTrail>,
    config: &RetentionConfig,
    erasure_log: Option<&std::path::Path>,
    dry_run: bool,
    by: &By<'_>,
) -> Result<RunReport, String> {
    let started = std::time::Instant::now();
    let now = identity.now_ms() as i64;
    let mut report = RunReport {
        dry_run,
        ..Default::default()
    };
    let store = &identity.store;
    for kind in PurgeKind::ALL {
        let cutoff = now.saturating_sub(period(config, kind).as_millis() as i64);
        let (mut total, mut batches) = (0, 0);
        if dry_run {
            total = store
                .retention_count(kind, cutoff)
                .await
                .map_err(|e| format!("retention {}: {e}", kind.as_str()))?;
        } else {
            let mut from = PurgeCursor::start();
            let mut span = FIRST_SPAN.min(config.batch_size);
            loop {
                let batch_started = std::time::Instant::now();
                let step = store
                    .retention_purge(kind, cutoff, &from, span)
                    .await
                    .map_err(|e| format!("retention {}: {e}", kind.as_str()))?;
                let took = batch_started.elapsed();
                report.slowest_batch = report.slowest_batch.max(took);
                report.transactions += 1;
                report.transactions_over_bound += u64::from(took > HELD_BOUND);
                metrics::histogram!("palisade_retention_batch_seconds", "type" => kind.as_str())
                    .record(took.as_secs_f64());
                total += step.deleted;
                batches += 1;
                metrics::counter!("palisade_retention_purged_total", "type" => kind.as_str())
                    .increment(step.deleted);
                metrics::counter!("palisade_retention_batches_total", "type" => kind.as_str())
                    .increment(1);
                tracing::debug!(
                    kind = kind.as_str(),
                    batch = batches,
                    span,
                    records = step.deleted,
                    total,
                    millis = took.as_millis() as u64,
                    "retention batch"
                );
                let Some(next) = step.next else { break };
                from = next;
                span = next_span(span, took, config);
                rest(config, took).await;
            }
        }
        if total > 0 {
            tracing::info!(
                kind = kind.as_str(),
                records = total,
                batches,
                dry_run,
                "retention"
            );
        }
        report.purged.push((kind.as_str(), total, batches));
    }
    let (total, batches) =
        purge_deleted_accounts(identity, config, erasure_log, now, dry_run, by).await?;
    report.purged.push(("accounts_deleted", total, batches));
    if let Some(trail) = trail {
        let audit = trail.purge(dry_run).await?;
        if !dry_run {
            metrics::counter!("palisade_retention_purged_total", "type" => "audit")
                .increment(audit.count);
            metrics::counter!("palisade_retention_batches_total", "type" => "audit")
                .increment(audit.batches);
        }
        report.purged.push(("audit", audit.count, audit.batches));
        if !dry_run {
            // Anonymous callers' sealing keys of days past the longest audit period.
            let days = audit.days_forgotten.len() as u64;
            metrics::counter!("palisade_retention_purged_total", "type" => "audit_day_keys")
                .increment(days);
            report
                .purged
                .push(("audit_day_keys", days, u64::from(days > 0)));
        }
    }
    if let Some(after) = config.inactive_accounts_disable_after {
        report.disabled_ids =
            disable_inactive(identity, now - after.0.as_millis() as i64, dry_run, by).await?;
        report.accounts_disabled = report.disabled_ids.len() as u64;
    }
    let took = started.elapsed().as_secs_f64();
    if !dry_run {
        metrics::gauge!("palisade_retention_last_run_seconds").set(took);
        metrics::gauge!("palisade_retention_last_run_timestamp_seconds").set(now as f64 / 1000.0);
    }
    tracing::info!(
        seconds = took,
        dry_run,
        accounts_disabled = report.accounts_disabled,
        "retention run done"
    );
    Ok(report)
}

/// The longest a write transaction of the job should be held (issue 20).
const HELD_BOUND: Duration = Duration::from_millis(50);

/// The span of a purge's first batch: small, so the first transaction stays short on a busy
/// store before the job has measured one.
const FIRST_SPAN: u32 = 100;

/// The smallest span: the job keeps moving however slow the store is.
const MIN_SPAN: u32 = 10;

/// The span of the next batch after one of `span` rows took `took`: scaled towards
/// `retention.transaction_target` (at most doubled per batch, never over
/// `retention.batch_size`). Safe because a batch's cost is its own span's (the store's window
/// purge never searches past rows earlier batches deleted).
fn next_span(span: u32, took: Duration, config: &RetentionConfig) -> u32 {
    let target = config.transaction_target.0.as_secs_f64();
    let scaled = f64::from(span) * target / took.as_secs_f64().max(1e-6);
    (scaled.min(f64::from(span) * 2.0) as u32).clamp(MIN_SPAN, config.batch_size.max(MIN_SPAN))
}

/// The pause after a write that took `took`, so that the job spends at most
/// `retention.busy_share` of the wall time writing. Real time, not the injected clock: this
/// shares the CPU and the store with the traffic, it does not decide what expires.
async fn rest(config: &RetentionConfig, took: Duration) {
    let share = config.busy_share.clamp(0.01, 1.0);
    let pause = took.mul_f64((1.0 - share) / share);
    if pause.is_zero() {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(pause).await;
    }
}

/// Erases the accounts deleted `retention.accounts_deleted` ago or longer, a page of
/// `batch_size` at a time, each through [`Identity::purge_user`] (one transaction per account);
/// returns `(accounts, pages)` (a dry run counts them).
async fn purge_deleted_accounts(
    identity: &Identity,
    config: &RetentionConfig,
    erasure_log: Option<&std::path::Path>,
    now: i64,
    dry_run: bool,
    by: &By<'_>,
) -> Result<(u64, u64), String> {
    let kind = "accounts_deleted";
    let e = |e: &dyn std::fmt::Display| format!("retention {kind}: {e}");
    let cutoff = now.saturating_sub(config.accounts_deleted.0.as_millis() as i64);
    let webhook = config.deletion_webhook_url.is_some();
    let (mut total, mut batches) = (0u64, 0u64);
    loop {
        let limit = if dry_run { u32::MAX } else { config.batch_size };
        let page = identity
            .store
            .users_deleted_before(cutoff, limit)
            .await
            .map_err(|x| e(&x))?;
        if dry_run {
            return Ok((page.len() as u64, 0));
        }
        if page.is_empty() {
            break;
        }
        for user in page {
            let started = std::time::Instant::now();
            identity
                .purge_user(user, webhook, erasure_log, by)
                .await
                .map_err(|x| e(&x))?;
            let took = started.elapsed();
            metrics::histogram!("palisade_retention_batch_seconds", "type" => kind)
                .record(took.as_secs_f64());
            total += 1;
            rest(config, took).await;
        }
        batches += 1;
        metrics::counter!("palisade_retention_batches_total", "type" => kind).increment(1);
    }
    if total > 0 {
        metrics::counter!("palisade_retention_purged_total", "type" => kind).increment(total);
        tracing::info!(kind, records = total, batches, "retention");
    }
    Ok((total, batches))
}

/// Disables people's accounts without a sign-in since `before` (a dry run only lists the
/// first page of them); returns their ids.
async fn disable_inactive(
    identity: &Identity,
    before: i64,
    dry_run: bool,
    by: &By<'_>,
) -> Result<Vec<uuid::Uuid>, String> {
    let e = |e: palisade_store::StoreError| format!("retention inactive accounts: {e}");
    let mut done = Vec::new();
    loop {
        let page = identity
            .store
            .users_inactive(before, INACTIVE_PAGE)
            .await
            .map_err(e)?;
        if dry_run {
            return Ok(page);
        }
        if page.is_empty() {
            return Ok(done);
        }
        for user in page {
            identity
                .set_user_disabled_for(user, Some(RevocationReason::Expired), by)
                .await
                .map_err(|e| format!("retention inactive accounts: {e}"))?;
            done.push(user);
        }
        tracing::info!(accounts = done.len(), "inactive accounts disabled");
    }
}

/// Describes the job's metrics (called once with the others).
pub fn describe_metrics() {
    metrics::describe_counter!(
        "palisade_retention_purged_total",
        "Records the retention job deleted, by type"
    );
    metrics::describe_counter!(
        "palisade_retention_batches_total",
        "Delete transactions the retention job used, by type"
    );
    metrics::describe_histogram!(
        "palisade_retention_batch_seconds",
        metrics::Unit::Seconds,
        "Time of each delete transaction of the retention job, by type"
    );
    metrics::describe_gauge!(
        "palisade_retention_last_run_seconds",
        metrics::Unit::Seconds,
        "How long the last retention run took"
    );
    metrics::describe_gauge!(
        "palisade_retention_last_run_timestamp_seconds",
        "When the last retention run ended (Unix seconds)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::units::HumanDuration;

    #[test]
    fn the_next_span_follows_the_time_of_the_last_towards_the_target() {
        let config = RetentionConfig {
            transaction_target: HumanDuration(Duration::from_millis(20)),
            ..RetentionConfig::default() // at most 2,000 rows
        };
        let ms = Duration::from_millis;
        assert_eq!(
            next_span(1_000, ms(40), &config),
            500,
            "twice too slow: half"
        );
        assert_eq!(
            next_span(1_000, ms(20), &config),
            1_000,
            "on target: the same"
        );
        assert_eq!(
            next_span(100, ms(1), &config),
            200,
            "much faster: at most doubled"
        );
        assert_eq!(
            next_span(1_500, ms(1), &config),
            2_000,
            "never over batch_size"
        );
        assert_eq!(
            next_span(100, ms(10_000), &config),
            MIN_SPAN,
            "never under the floor"
        );
        assert_eq!(
            next_span(100, Duration::ZERO, &config),
            200,
            "no time measured"
        );
    }
}
