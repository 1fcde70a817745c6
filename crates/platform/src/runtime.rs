//! How a service runs: the same code path whether `up` starts all of them in one process or
//! Kubernetes runs one per pod. A service connects its [`ServiceContext`] (database with
//! migrations, event bus, keys), registers its policies as consumers, and serves its router; the
//! context adds the outbox relay, the operational endpoints and the shutdown sequence.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::Router;
use sqlx::migrate::Migrator;
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    auth::AuthKeys,
    bus::{ConsumerRunner, EventBus, EventHandler},
    client::ResilientClient,
    config::{ServiceName, Settings},
    db::Db,
    http::{Readiness, finish, operational_routes, serve},
    live::Live,
    outbox::{OutboxSignal, Relay},
    ready::Gate,
};

/// Everything a running service shares between its handlers, policies and relay.
pub struct ServiceContext {
    pub name: ServiceName,
    pub settings: Arc<Settings>,
    pub db: Db,
    pub bus: EventBus,
    pub auth: AuthKeys,
    pub outbox: OutboxSignal,
    pub live: Live,
    pub shutdown: CancellationToken,
    consumers: JoinSet<anyhow::Result<()>>,
    joined: Vec<Gate>,
}

/// A service serving requests and events.
pub struct RunningService {
    pub name: ServiceName,
    pub addr: SocketAddr,
    pub db: Db,
    /// Open once every consumer of the service has joined its group (`/readyz` says so too).
    pub started: Gate,
    shutdown: CancellationToken,
    tasks: JoinSet<anyhow::Result<()>>,
    relay: tokio::task::JoinHandle<()>,
    relay_stop: CancellationToken,
}

impl ServiceContext {
    /// Commands' transactions on this service's database, waking its relay.
    pub fn work(&self) -> crate::UnitOfWork {
        crate::UnitOfWork::new(self.db.clone(), self.outbox.clone())
    }

    /// Connects to the service's database (creating and migrating it) and to the event log.
    pub async fn connect(
        name: ServiceName,
        settings: Arc<Settings>,
        migrations: &Migrator,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        // Idempotent; here so every way of starting a service has its metrics.
        crate::telemetry::init_metrics();
        let url = settings.database_url(name);
        let db = Db::connect(&url, settings.database.max_connections, migrations)
            .await
            .with_context(|| format!("{name}: opening {}", crate::db::redact(&url)))?;
        let bus = EventBus::new(&settings.kafka)?;
        let outbox = OutboxSignal::default();
        // Its own token, so one service can be taken out of a running platform.
        let shutdown = shutdown.child_token();
        let live = Live::new(
            db.clone(),
            outbox.live(),
            settings.live.clone(),
            shutdown.clone(),
        );
        Ok(Self {
            name,
            auth: AuthKeys::new(&settings.auth)?,
            settings,
            db,
            bus,
            outbox,
            live,
            shutdown,
            consumers: JoinSet::new(),
            joined: Vec::new(),
        })
    }

    /// A resilient client for a peer service, at the URL the configuration gives it.
    pub fn client(&self, peer: ServiceName) -> anyhow::Result<ResilientClient> {
        ResilientClient::new(
            self.name,
            self.auth.clone(),
            peer.as_str(),
            self.settings.service(peer).url.as_str(),
            &self.settings.http,
        )
    }

    /// Feeds the event log to `handler` as the consumer group named after this service.
    pub fn consume<H: EventHandler>(&mut self, handler: H) {
        let joined = Gate::new();
        self.joined.push(joined.clone());
        let runner = ConsumerRunner {
            joined,
            name: self.name.as_str().to_owned(),
            bus: self.bus.clone(),
            db: self.db.clone(),
            handler: Arc::new(handler),
            settings: self.settings.consumer.clone(),
            outbox: self.outbox.clone(),
        };
        let shutdown = self.shutdown.clone();
        self.consumers.spawn(runner.run(shutdown));
    }

    /// Runs a background job of the service (a deadline sweeper, say) until shutdown; the job
    /// gets the shutdown token and must return when it is cancelled.
    pub fn spawn<F>(&mut self, job: impl FnOnce(CancellationToken) -> F)
    where
        F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let future = job(self.shutdown.clone());
        self.consumers.spawn(future);
    }

    /// Runs the job `run` every `interval` until shutdown (a sweep, a monitor). A run that fails is
    /// logged under the job's name and tried again at the next interval.
    pub fn every<F, Fut>(&mut self, job: &'static str, interval: std::time::Duration, run: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.spawn(move |shutdown| repeat(job, interval, run, shutdown));
    }

    /// Serves `router` (plus health, readiness and metrics) on `listener`, with the outbox relay
    /// and the registered consumers, until the shutdown token is cancelled.
    pub fn serve(self, listener: TcpListener, router: Router) -> anyhow::Result<RunningService> {
        let addr = listener.local_addr()?;
        let mut tasks = self.consumers;
        if self.live.used() {
            tasks.spawn(self.live.clone().follow());
        }
        let relay = Relay {
            db: self.db.clone(),
            bus: self.bus.clone(),
            source: self.name.as_str().to_owned(),
            settings: self.settings.outbox.clone(),
            signal: self.outbox.clone(),
        };
        // The relay stops last: after the server has drained and the consumers have finished,
        // so its final pass publishes what those last requests and events committed.
        let relay_stop = CancellationToken::new();
        let relay = tokio::spawn(relay.run(relay_stop.clone()));
        let started = Gate::all(self.joined);
        let app = finish(
            router.merge(operational_routes(Readiness {
                db: Some(self.db.clone()),
                bus: Some(self.bus.clone()),
                started: started.clone(),
            })),
            self.name.as_str(),
            &self.settings.http,
        );
        let shutdown = self.shutdown.clone();
        let http = self.settings.http.clone();
        tasks.spawn(async move {
            serve(listener, app, shutdown, &http)
                .await
                .map_err(Into::into)
        });
        tracing::info!(service = %self.name, %addr, "service listening");
        Ok(RunningService {
            name: self.name,
            addr,
            db: self.db,
            started,
            shutdown: self.shutdown,
            tasks,
            relay,
            relay_stop,
        })
    }
}

impl RunningService {
    /// Waits for the service to finish after shutdown was requested, then closes its database.
    pub async fn stopped(mut self) -> anyhow::Result<()> {
        let mut result = Ok(());
        while let Some(joined) = self.tasks.join_next().await {
            match joined {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::error!(service = %self.name, error = %format!("{error:#}"), "task failed");
                    result = Err(error);
                }
                Err(error) if error.is_cancelled() => {}
                Err(error) => result = Err(error.into()),
            }
        }
        self.relay_stop.cancel();
        if let Err(error) = self.relay.await
            && !error.is_cancelled()
        {
            result = Err(error.into());
        }
        tokio::time::timeout(Duration::from_secs(5), self.db.close())
            .await
            .ok();
        result
    }

    /// Stops at once, without draining: what a crash looks like to everyone else. (Cancelling
    /// first makes the server drop its idle keep-alive connections, as a dead process would.)
    pub async fn kill(mut self) {
        self.shutdown.cancel();
        tokio::task::yield_now().await;
        self.tasks.abort_all();
        self.relay.abort();
        while self.tasks.join_next().await.is_some() {}
        let _ = self.relay.await;
        self.db.close().await;
    }
}

/// The loop of [`ServiceContext::every`]: a run every `interval`, a failed one logged and the next
/// one run all the same, until `shutdown`.
async fn repeat<F, Fut>(
    job: &'static str,
    interval: std::time::Duration,
    mut run: F,
    shutdown: CancellationToken,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(interval) => {}
        }
        if let Err(error) = run().await {
            tracing::warn!(job, error = %format!("{error:#}"), "job failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    };

    use super::*;

    #[tokio::test]
    async fn a_job_runs_again_after_a_failed_run_and_stops_with_the_service() {
        let runs = Arc::new(AtomicU32::new(0));
        let shutdown = CancellationToken::new();
        let counted = runs.clone();
        let job = tokio::spawn(repeat(
            "test",
            std::time::Duration::from_millis(5),
            move || {
                let run = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    anyhow::ensure!(run != 0, "the first run fails");
                    Ok(())
                }
            },
            shutdown.clone(),
        ));
        while runs.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        shutdown.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(5), job)
            .await
            .expect("the job stops on shutdown")
            .unwrap()
            .unwrap();
    }
}
