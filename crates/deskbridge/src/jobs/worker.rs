//! Running jobs: a [`Registry`] maps job kinds to [`Handler`]s (the composition root registers
//! them; this module knows no capability), and a [`Worker`] claims due jobs, runs each under a
//! heartbeat that renews its lease and turns a cancel request or a lost lease into a cancelled
//! token, and records how it ended. [`Worker::run_once`] is the whole of one job, for tests and
//! for a second process; [`Worker::run`] keeps a few jobs going until shutdown.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

use super::queue::{Beat, Claimed, Finish, Queue, QueueError};

/// The work of one job kind. It must be idempotent: a job whose worker died is run again.
pub trait Handler: Send + Sync + 'static {
    /// Runs the job; `cancel` fires when someone asks it to stop or its lease is lost.
    fn run<'a>(&'a self, job: &'a Claimed, cancel: CancellationToken) -> BoxFuture<'a, Finish>;
}

/// Job kinds and their handlers.
#[derive(Default, Clone)]
pub struct Registry {
    handlers: HashMap<&'static str, Arc<dyn Handler>>,
}

impl Registry {
    pub fn register(mut self, kind: &'static str, handler: impl Handler) -> Registry {
        self.handlers.insert(kind, Arc::new(handler));
        self
    }

    pub fn kinds(&self) -> Vec<&'static str> {
        let mut k: Vec<_> = self.handlers.keys().copied().collect();
        k.sort_unstable();
        k
    }
}

/// One finished job, as [`Worker::run_once`] reports it.
#[derive(Clone, Debug)]
pub struct Ran {
    pub job: Claimed,
    pub finish: Finish,
    /// False when the lease was lost before the end was recorded (another worker has it).
    pub recorded: bool,
}

#[derive(Clone)]
pub struct Worker {
    queue: Queue,
    registry: Arc<Registry>,
    concurrency: usize,
    /// How long running jobs get to stop by themselves at shutdown (a sync ends its page and
    /// releases its lease) before they are dropped.
    grace: Duration,
}

impl Worker {
    pub fn new(queue: Queue, registry: Registry, concurrency: usize) -> Worker {
        Worker {
            queue,
            registry: Arc::new(registry),
            concurrency: concurrency.max(1),
            grace: Duration::from_secs(10),
        }
    }

    /// How long running jobs get to stop by themselves at shutdown.
    pub fn with_grace(mut self, grace: Duration) -> Worker {
        self.grace = grace;
        self
    }

    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Claims one due job and runs it to its end; `None` if nothing was due.
    pub async fn run_once(&self) -> Result<Option<Ran>, QueueError> {
        let kinds = self.registry.kinds();
        let Some(job) = self.queue.claim(&kinds).await? else {
            return Ok(None);
        };
        self.execute(job, &CancellationToken::new()).await.map(Some)
    }

    /// Runs one claimed job. `shutdown` stops it too; a job stopped that way (not one that ended
    /// by itself) goes back to the queue for another worker, its attempt not counted.
    async fn execute(&self, job: Claimed, shutdown: &CancellationToken) -> Result<Ran, QueueError> {
        let Some(handler) = self.registry.handlers.get(job.kind.as_str()).cloned() else {
            // Claimed only by kind, so this is a registry changed under us; keep the words.
            let finish = Finish::Failed(format!("no handler for job kind {:?}", job.kind));
            let recorded = self.queue.finish(&job, &finish).await?;
            return Ok(Ran {
                job,
                finish,
                recorded,
            });
        };
        let cancel = shutdown.child_token();
        let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Dropped with this future (a worker task aborted mid-job): no heartbeat outlives it.
        let beat = AbortOnDropHandle::new(tokio::spawn(heartbeat(
            self.queue.clone(),
            job.clone(),
            cancel.clone(),
            lost.clone(),
        )));
        let finish = handler.run(&job, cancel.clone()).await;
        beat.abort();
        let lost_it = lost.load(std::sync::atomic::Ordering::SeqCst);
        if shutdown.is_cancelled() && !lost_it && !matches!(finish, Finish::Succeeded) {
            let recorded = self.queue.release(&job).await?;
            tracing::info!(job = job.id, kind = %job.kind, "job stopped for shutdown and given back to the queue");
            return Ok(Ran {
                job,
                finish: Finish::Cancelled,
                recorded,
            });
        }
        let finish = match finish {
            // A handler that stopped because we cancelled it ended as cancelled, whatever it says.
            Finish::Retry { .. } | Finish::Failed(_) if cancel.is_cancelled() => Finish::Cancelled,
            other => other,
        };
        let recorded = if lost_it {
            false
        } else {
            self.queue.finish(&job, &finish).await?
        };
        match &finish {
            Finish::Failed(e) | Finish::Retry { error: e, .. } => {
                tracing::warn!(job = job.id, kind = %job.kind, attempts = job.attempts, error = %e, "job did not succeed")
            }
            _ => tracing::debug!(job = job.id, kind = %job.kind, ?finish, "job ended"),
        }
        Ok(Ran {
            job,
            finish,
            recorded,
        })
    }

    /// Keeps up to `concurrency` jobs running until `shutdown`; running jobs are stopped then and
    /// given back to the queue.
    pub async fn run(self, shutdown: CancellationToken, idle: Duration) {
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let kinds = self.registry.kinds();
        let running = tokio_util::task::TaskTracker::new();
        loop {
            let acquired = tokio::select! {
                p = slots.clone().acquire_owned() => p,
                _ = shutdown.cancelled() => break,
            };
            let Ok(permit) = acquired else {
                break;
            };
            match self.queue.claim(&kinds).await {
                Ok(Some(job)) => {
                    let me = self.clone();
                    let stop = shutdown.clone();
                    running.spawn(async move {
                        let held = job.clone();
                        let mut work = Box::pin(me.execute(job, &stop));
                        // At shutdown the job is asked to stop and given the grace period; one
                        // that does not stop by then is dropped (a page's transaction rolls
                        // back, so it is fetched again) and given back all the same.
                        let overdue = async {
                            stop.cancelled().await;
                            tokio::time::sleep(me.grace).await;
                        };
                        tokio::select! {
                            r = &mut work => if let Err(e) = r {
                                tracing::warn!(job = held.id, error = %crate::error_chain(&e), "job bookkeeping failed");
                            },
                            _ = overdue => {
                                drop(work);
                                if let Err(e) = me.queue.release(&held).await {
                                    tracing::warn!(job = held.id, error = %crate::error_chain(&e), "could not give a job back; its lease will lapse");
                                }
                            }
                        }
                        drop(permit);
                    });
                    continue;
                }
                Ok(None) => drop(permit),
                Err(e) => {
                    drop(permit);
                    tracing::warn!(error = %crate::error_chain(&e), "could not claim a job");
                }
            }
            tokio::select! {
                _ = self.queue.rung() => {}
                _ = tokio::time::sleep(idle) => {}
                _ = shutdown.cancelled() => break,
            }
        }
        running.close();
        running.wait().await;
    }
}

/// Renews the lease a few times per lease length and polls the cancel flag twice a second.
async fn heartbeat(
    queue: Queue,
    job: Claimed,
    cancel: CancellationToken,
    lost: Arc<std::sync::atomic::AtomicBool>,
) {
    let every = (queue.lease() / 3).clamp(Duration::from_millis(100), Duration::from_millis(500));
    loop {
        tokio::time::sleep(every).await;
        match queue.heartbeat(&job).await {
            Ok(Beat::Held) => {}
            Ok(Beat::CancelRequested) => cancel.cancel(),
            Ok(Beat::Lost) => {
                tracing::warn!(job = job.id, "job lease lost to another worker; stopping");
                lost.store(true, std::sync::atomic::Ordering::SeqCst);
                cancel.cancel();
                return;
            }
            Err(e) => {
                tracing::warn!(job = job.id, error = %crate::error_chain(&e), "could not renew a job lease")
            }
        }
    }
}
