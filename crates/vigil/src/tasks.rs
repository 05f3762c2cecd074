//! The server's long-running tasks (HTTP server, upload workers, gauge
//! sampler, retention), owned in one place so the first to end, a panic
//! included, is named and stops the server instead of leaving it running
//! without that part.

use std::time::Duration;

/// The server's long-running tasks, by name, so the one that ends first
/// can be named.
#[derive(Default)]
pub struct Tasks(tokio::task::JoinSet<&'static str>);

impl Tasks {
    pub fn spawn(
        &mut self,
        name: &'static str,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        self.0.spawn(async move {
            task.await;
            name
        });
    }

    /// Watches a task spawned elsewhere.
    pub fn watch(&mut self, name: &'static str, handle: tokio::task::JoinHandle<()>) {
        self.0.spawn(async move {
            if let Err(e) = handle.await {
                tracing::error!(task = name, error = %e, "task failed");
            }
            name
        });
    }

    /// The name of the first task to end; never, when there are none.
    pub async fn first_exit(&mut self) -> &'static str {
        match self.0.join_next().await {
            Some(Ok(name)) => name,
            Some(Err(e)) => {
                tracing::error!(error = %e, "task failed");
                "unknown"
            }
            None => std::future::pending().await,
        }
    }

    /// Waits for the rest to end after shutdown, then aborts what is left.
    pub async fn join_all(mut self, grace: Duration) {
        let all = async { while self.0.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(left = self.0.len(), "tasks still running at exit; aborted");
            self.0.abort_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_task_to_end_is_named_even_when_it_panics() {
        let mut t = Tasks::default();
        t.spawn("forever", std::future::pending());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        t.watch(
            "worker",
            tokio::spawn(async move {
                let _ = rx.await;
                panic!("a worker bug");
            }),
        );
        tx.send(()).unwrap();
        assert_eq!(t.first_exit().await, "worker");
        // The rest are aborted once the grace is over.
        tokio::time::timeout(
            Duration::from_secs(5),
            t.join_all(Duration::from_millis(50)),
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn with_no_tasks_nothing_ends() {
        let mut t = Tasks::default();
        let waited = tokio::time::timeout(Duration::from_millis(50), t.first_exit()).await;
        assert!(waited.is_err());
    }
}
