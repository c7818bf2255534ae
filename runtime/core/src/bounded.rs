//! Running fallible async work over many items with a bound on how many run at once.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::ports::RagError;

/// Applies `f` to every item, at most `limit` at a time, and returns the results in the items'
/// order. The first failure is returned and the calls still in flight are aborted (dropping the
/// JoinSet aborts them), so a doomed batch stops spending quota.
pub async fn try_map_ordered<T, R, F, Fut>(items: Vec<T>, limit: usize, f: F) -> Result<Vec<R>, RagError>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<R, RagError>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limit.max(1)));
    let mut tasks = JoinSet::new();
    let count = items.len();
    for (i, item) in items.into_iter().enumerate() {
        let (permits, work) = (permits.clone(), f(item));
        tasks.spawn(async move {
            let _permit = permits
                .acquire_owned()
                .await
                .map_err(|_| RagError::Failed("the work was cancelled".into()))?;
            work.await.map(|r| (i, r))
        });
    }
    let mut out: Vec<Option<R>> = (0..count).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        let (i, r) = joined.map_err(|e| RagError::Failed(format!("a task failed: {e}")))??;
        out[i] = Some(r);
    }
    out.into_iter().map(|r| r.ok_or_else(|| RagError::Failed("a task returned no result".into()))).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn keeps_order_and_never_exceeds_the_limit() {
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let out = try_map_ordered((0..20u64).collect(), 3, |n| {
            let (running, peak) = (running.clone(), peak.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20 - n)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(n * 2)
            }
        })
        .await
        .unwrap();
        assert_eq!(out, (0..20u64).map(|n| n * 2).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn the_first_failure_is_returned() {
        let out = try_map_ordered(vec![1, 2, 3], 2, |n| async move {
            if n == 2 { Err(RagError::Throttled("slow down".into())) } else { Ok(n) }
        })
        .await;
        assert!(matches!(out, Err(RagError::Throttled(_))));
    }
}
