//! The latest time each id was used, collected in memory and written in one batch by the
//! 10-second sync: API keys' `last_used_at` and accounts' `last_login_at`. A batch the store
//! refused is put back (the later of the two times kept) and retried at the next flush; at
//! shutdown the sync flushes a last time. Times may reach the store up to one sync late.

use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

/// Ids with the latest time each was used since the last flush.
#[derive(Debug, Default)]
pub struct TouchBatch(Mutex<HashMap<Uuid, i64>>);

impl TouchBatch {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, i64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes that `id` was used at `at` (Unix ms); the later time wins.
    pub fn touch(&self, id: Uuid, at: i64) {
        let mut map = self.map();
        let slot = map.entry(id).or_insert(at);
        *slot = (*slot).max(at);
    }

    /// Hands the collected times to `write`; on failure keeps them for the next flush.
    pub async fn flush<F, Fut>(&self, what: &str, write: F)
    where
        F: FnOnce(Vec<(Uuid, i64)>) -> Fut,
        Fut: std::future::Future<Output = (Vec<(Uuid, i64)>, palisade_store::StoreResult<()>)>,
    {
        let batch: Vec<(Uuid, i64)> = std::mem::take(&mut *self.map()).into_iter().collect();
        if batch.is_empty() {
            return;
        }
        let (batch, written) = write(batch).await;
        if let Err(e) = written {
            tracing::warn!(error = %e, ids = batch.len(), "cannot record {what}; will retry");
            for (id, at) in batch {
                self.touch(id, at);
            }
        }
    }
}
