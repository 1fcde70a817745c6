//! Starting baedal: any set of services plus the gateway, in one process (`up`) or one per pod
//! (`serve`). Either way each service gets its own database, listener and consumer group, and they
//! reach each other only over HTTP and the event log.

pub mod audit;
pub mod bench;
/// The embedded broker as a supervised child process (it lives in `platform`, so that each
/// service's own tests can run it too).
pub use platform::broker;
pub mod chaos;
pub mod child;
pub mod cluster;
pub mod demo;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use broker::{BrokerPlan, BrokerProcess};
use platform::{
    RunningService, ServiceContext, ServiceName, Settings,
    bus::EventBus,
    config::{ConfigError, Secret, Section},
};
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

/// Checks the services' own sections of the settings (`[order]`, `[store]`, `[customer]`,
/// `[notification]`, `[review]`), which only their crates know: each must read and pass its
/// rules, no other top-level key may be there (a misspelt section would be ignored), and the
/// order must give up on a store later than the store gives up on its owner.
pub fn check_sections(settings: &Settings) -> Result<(), ConfigError> {
    let order: order::settings::OrderSettings = settings.section()?;
    let store: store::settings::StoreSettings = settings.section()?;
    settings.section::<customer::settings::CustomerSettings>()?;
    settings.section::<notification::settings::NotificationSettings>()?;
    settings.section::<review::settings::ReviewSettings>()?;
    let known = [
        <order::settings::OrderSettings as Section>::KEY,
        <store::settings::StoreSettings as Section>::KEY,
        <customer::settings::CustomerSettings as Section>::KEY,
        <notification::settings::NotificationSettings as Section>::KEY,
        <review::settings::ReviewSettings as Section>::KEY,
    ];
    if let Some(unknown) = settings
        .sections
        .keys()
        .find(|k| !known.contains(&k.as_str()))
    {
        return Err(ConfigError::key(
            unknown,
            format!("is not a setting; the sections of the services are {known:?}"),
        ));
    }
    if order.store_deadline <= store.acceptance_deadline {
        return Err(ConfigError::key(
            "order.store_deadline",
            format!(
                "must be longer than store.acceptance_deadline ({:?}): the store answers first",
                store.acceptance_deadline
            ),
        ));
    }
    Ok(())
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
    /// Run this `baedal-broker` program on `kafka.brokers` (one `host:port`), keeping its log in
    /// `<data_dir>/broker.db`; `None` uses the Kafka cluster `kafka.brokers` names.
    pub embedded_broker: Option<PathBuf>,
}

impl Plan {
    /// Every service and the gateway, against the configured Kafka.
    pub fn everything() -> Self {
        Self {
            services: ServiceName::ALL.to_vec(),
            gateway: true,
            embedded_broker: None,
        }
    }
}

/// A running set of services.
pub struct Platform {
    pub settings: Arc<Settings>,
    pub services: Vec<RunningService>,
    pub gateway: Option<gateway::RunningGateway>,
    pub broker: Option<BrokerProcess>,
    /// Where this process serves `/metrics` (`metrics.bind`).
    pub metrics_addr: SocketAddr,
    metrics: tokio::task::JoinHandle<std::io::Result<()>>,
    shutdown: CancellationToken,
}

/// The signing key `name` of the platform kept in `data_dir` (`<data_dir>/secrets/<name>.key`),
/// made on first use: `up` signs with keys of its own, never with one published in the source.
pub fn data_dir_secret(data_dir: &Path, name: &str) -> anyhow::Result<Secret> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let dir = data_dir.join("secrets");
    let path = dir.join(format!("{name}.key"));
    match std::fs::read_to_string(&path) {
        Ok(key) => return Ok(Secret::new(key.trim())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let key = Secret::random();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{}", key.expose()).with_context(|| format!("writing {}", path.display()))?;
    Ok(key)
}

/// Binds `addr` for `what`, saying which port is taken when it is.
pub async fn listen(what: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|error| bind_error(what, addr, error))
}

/// A bind failure that names the port when the port is taken.
pub use platform::broker::bind_error;

fn listen_addr(settings: &Settings, name: ServiceName) -> anyhow::Result<std::net::SocketAddr> {
    // After start the URL carries the real port, also for services bound to port 0.
    let url = &settings.service(name).url;
    let port = url
        .port_or_known_default()
        .with_context(|| format!("{name}: cannot read a port from {url}"))?;
    // A host name (not an address) is reached through the bind address.
    let host = url.host_str().unwrap_or_default();
    Ok(format!("{host}:{port}")
        .parse()
        .unwrap_or(settings.service(name).bind))
}

impl Platform {
    /// Starts the plan. Listeners bound to port 0 get a real port, and the settings handed to
    /// every service carry the real URLs, so tests can run many platforms side by side.
    ///
    /// Every port is bound first, so a port in use fails the start at once, naming it.
    pub async fn start(
        mut settings: Settings,
        plan: &Plan,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        check_sections(&settings)?;
        let mut listeners = Vec::new();
        for name in &plan.services {
            let bind = settings.service(*name).bind;
            let listener = listen(&format!("the {name} service"), bind).await?;
            if bind.port() == 0 {
                let addr = listener.local_addr()?;
                if let Some(service) = settings.services.get_mut(name) {
                    service.url = platform::config::local_url(addr);
                }
            }
            listeners.push((*name, listener));
        }
        let gateway_listener = if plan.gateway {
            Some(listen("the gateway", settings.gateway.bind).await?)
        } else {
            None
        };
        let metrics_listener = listen("the metrics endpoint", settings.metrics.bind).await?;
        let metrics_addr = metrics_listener.local_addr()?;

        let broker = match &plan.embedded_broker {
            Some(program) => {
                let listen = settings.kafka.brokers.parse().with_context(|| {
                    format!(
                        "kafka.brokers is {:?}: the embedded broker needs one ip:port",
                        settings.kafka.brokers
                    )
                })?;
                let plan =
                    BrokerPlan::new(program.clone(), listen, settings.data_dir.join("broker.db"));
                Some(BrokerProcess::start(plan).await?)
            }
            None => None,
        };
        ensure_topics(&settings).await?;

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
        let metrics = {
            let (shutdown, http) = (shutdown.clone(), settings.http.clone());
            let router = platform::http::metrics_routes();
            tokio::spawn(async move {
                platform::http::serve(metrics_listener, router, shutdown, &http).await
            })
        };
        Ok(Self {
            settings,
            services,
            gateway,
            broker,
            metrics_addr,
            metrics,
            shutdown,
        })
    }

    /// Waits until every service has started: each consumer has joined its group, so events
    /// published from now on are seen. Fails when that takes longer than `timeout`.
    pub async fn started(&self, timeout: Duration) -> anyhow::Result<()> {
        let waiting = futures::future::join_all(self.services.iter().map(|s| s.started.wait()));
        if tokio::time::timeout(timeout, waiting).await.is_err() {
            let late: Vec<&str> = self
                .services
                .iter()
                .filter(|s| !s.started.is_open())
                .map(|s| s.name.as_str())
                .collect();
            anyhow::bail!(
                "the consumers of {} did not join their groups within {} s; is the broker at {} healthy?",
                late.join(", "),
                timeout.as_secs(),
                self.settings.kafka.brokers
            );
        }
        Ok(())
    }

    /// Lets the gateway's `/readyz` say ready: the platform behind it may take traffic.
    pub fn open(&self) {
        if let Some(gateway) = &self.gateway {
            gateway.started.open();
        }
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
        let listener = listen(&format!("the {name} service"), addr).await?;
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
        match self.metrics.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => result = Err(anyhow::Error::from(error).context("metrics endpoint")),
            Err(error) => result = Err(error.into()),
        }
        if let Some(broker) = self.broker {
            broker.stop().await;
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
