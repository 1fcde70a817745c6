//! Starting baedal: any set of services plus the gateway, in one process (`up`) or one per pod
//! (`serve`). Either way each service gets its own database, listener and consumer group, and they
//! reach each other only over HTTP and the event log.

pub mod bench;
pub mod demo;

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use platform::{RunningService, ServiceContext, ServiceName, Settings, bus::EventBus};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The migrations of one service.
pub fn migrations(name: ServiceName) -> &'static Migrator {
    match name {
        ServiceName::Order => &order::MIGRATIONS,
        ServiceName::Payment => &payment::MIGRATIONS,
        ServiceName::Store => &store::MIGRATIONS,
        ServiceName::Delivery => &delivery::MIGRATIONS,
        ServiceName::Notification => &notification::MIGRATIONS,
        ServiceName::Customer => &customer::MIGRATIONS,
        ServiceName::Review => &review::MIGRATIONS,
    }
}

fn run(
    name: ServiceName,
    ctx: ServiceContext,
    listener: TcpListener,
) -> anyhow::Result<RunningService> {
    match name {
        ServiceName::Order => order::run(ctx, listener),
        ServiceName::Payment => payment::run(ctx, listener),
        ServiceName::Store => store::run(ctx, listener),
        ServiceName::Delivery => delivery::run(ctx, listener),
        ServiceName::Notification => notification::run(ctx, listener),
        ServiceName::Customer => customer::run(ctx, listener),
        ServiceName::Review => review::run(ctx, listener),
    }
}

/// What to start.
#[derive(Clone, Debug)]
pub struct Plan {
    pub services: Vec<ServiceName>,
    pub gateway: bool,
}

impl Plan {
    pub fn everything() -> Self {
        Self {
            services: ServiceName::ALL.to_vec(),
            gateway: true,
        }
    }
}

/// A running set of services.
pub struct Platform {
    pub settings: Arc<Settings>,
    pub services: Vec<RunningService>,
    pub gateway: Option<gateway::RunningGateway>,
    #[cfg(feature = "embedded-broker")]
    pub broker: Option<platform::broker::EmbeddedBroker>,
    shutdown: CancellationToken,
}

fn listen_addr(settings: &Settings, name: ServiceName) -> anyhow::Result<std::net::SocketAddr> {
    // After start the URL carries the real port, also for services bound to port 0.
    let url = &settings.service(name).url;
    let authority = url
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .with_context(|| format!("{name}: cannot read an address from {url}"))?;
    match authority.parse() {
        Ok(addr) => Ok(addr),
        Err(_) => Ok(settings.service(name).bind),
    }
}

impl Platform {
    /// Starts the plan. Listeners bound to port 0 get a real port, and the settings handed to
    /// every service carry the real URLs, so tests can run many platforms side by side.
    pub async fn start(
        mut settings: Settings,
        plan: &Plan,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        #[cfg(feature = "embedded-broker")]
        let broker = if settings.kafka.embedded {
            let addr = settings
                .kafka
                .brokers
                .parse()
                .context("kafka.brokers must be one host:port for the embedded broker")?;
            let storage = settings.data_dir.join("broker.db");
            let broker = tokio::task::spawn_blocking(move || {
                platform::broker::EmbeddedBroker::start(addr, &storage)
            })
            .await??;
            Some(broker)
        } else {
            None
        };
        #[cfg(not(feature = "embedded-broker"))]
        if settings.kafka.embedded {
            anyhow::bail!(
                "this build has no embedded broker; set kafka.brokers and kafka.embedded = false"
            );
        }

        ensure_topics(&settings).await?;

        let mut listeners = Vec::new();
        for name in &plan.services {
            let bind = settings.service(*name).bind;
            let listener = TcpListener::bind(bind)
                .await
                .with_context(|| format!("{name}: binding {bind}"))?;
            if bind.port() == 0 {
                let addr = listener.local_addr()?;
                if let Some(service) = settings.services.get_mut(name) {
                    service.url = format!("http://{addr}");
                }
            }
            listeners.push((*name, listener));
        }
        let gateway_listener = if plan.gateway {
            let bind = settings.gateway.bind;
            Some(
                TcpListener::bind(bind)
                    .await
                    .with_context(|| format!("gateway: binding {bind}"))?,
            )
        } else {
            None
        };

        let settings = Arc::new(settings);
        let mut services = Vec::new();
        for (name, listener) in listeners {
            let ctx =
                ServiceContext::connect(name, settings.clone(), migrations(name), shutdown.clone())
                    .await?;
            services.push(run(name, ctx, listener)?);
        }
        let gateway = match gateway_listener {
            Some(listener) => {
                Some(gateway::run(settings.clone(), listener, shutdown.clone()).await?)
            }
            None => None,
        };
        Ok(Self {
            settings,
            services,
            gateway,
            #[cfg(feature = "embedded-broker")]
            broker,
            shutdown,
        })
    }

    /// Where clients on this machine reach the gateway.
    pub fn gateway_url(&self) -> Option<String> {
        self.gateway.as_ref().map(|g| {
            let mut addr = g.addr;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("http://{addr}")
        })
    }

    pub fn service(&self, name: ServiceName) -> Option<&RunningService> {
        self.services.iter().find(|s| s.name == name)
    }

    /// Takes one service out (as if its pod died): it stops at once, without draining.
    pub async fn kill(&mut self, name: ServiceName) {
        if let Some(index) = self.services.iter().position(|s| s.name == name) {
            self.services.remove(index).kill().await;
        }
    }

    /// Brings a killed service back on its address, on the same database.
    pub async fn restart(&mut self, name: ServiceName) -> anyhow::Result<()> {
        if self.service(name).is_some() {
            anyhow::bail!("{name} is running");
        }
        let addr = listen_addr(&self.settings, name)?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("{name}: binding {addr}"))?;
        let ctx = ServiceContext::connect(
            name,
            self.settings.clone(),
            migrations(name),
            self.shutdown.clone(),
        )
        .await?;
        self.services.push(run(name, ctx, listener)?);
        Ok(())
    }

    /// Asks everything to stop and waits until requests are drained, consumers have committed
    /// and relays have flushed.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.stopped().await
    }

    /// Waits for a shutdown requested elsewhere (a signal) to complete.
    pub async fn stopped(self) -> anyhow::Result<()> {
        self.shutdown.cancelled().await;
        let mut result = Ok(());
        if let Some(gateway) = self.gateway
            && let Err(error) = gateway.stopped().await
        {
            result = Err(error);
        }
        for service in self.services {
            if let Err(error) = service.stopped().await {
                result = Err(error);
            }
        }
        #[cfg(feature = "embedded-broker")]
        if let Some(broker) = self.broker {
            tokio::task::spawn_blocking(move || broker.stop()).await?;
        }
        result
    }
}

/// Creates the topics, retrying while the broker comes up.
async fn ensure_topics(settings: &Settings) -> anyhow::Result<()> {
    let bus = EventBus::new(&settings.kafka)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match bus.ensure_topics().await {
            Ok(()) => return Ok(()),
            Err(error) if attempt < 10 => {
                tracing::warn!(%error, attempt, "creating topics failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => return Err(error.context("creating Kafka topics")),
        }
    }
}

/// Runs every service's migrations (`baedal migrate`): for deployments that migrate before they
/// roll out, rather than on start.
pub async fn migrate(settings: &Settings, services: &[ServiceName]) -> anyhow::Result<()> {
    for name in services {
        let url = settings.database_url(*name);
        let db = platform::Db::connect(&url, 1, migrations(*name))
            .await
            .with_context(|| format!("migrating {name}"))?;
        db.close().await;
        println!("{name}: migrated {}", platform::db::redact(&url));
    }
    let db = platform::Db::connect(&settings.gateway_database_url(), 1, &gateway::MIGRATIONS)
        .await
        .context("migrating gateway")?;
    db.close().await;
    println!("gateway: migrated");
    Ok(())
}
