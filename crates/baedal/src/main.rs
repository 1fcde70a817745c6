//! The `baedal` command: run the whole platform on one machine, or a chosen set of services
//! against external Kafka and PostgreSQL.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use baedal::{Plan, Platform, demo};
use clap::{Parser, Subcommand};
use platform::{ServiceName, Settings};

#[derive(Parser)]
#[command(name = "baedal", version, about = "baedal food delivery platform")]
struct Cli {
    /// TOML configuration file (defaults < file < BAEDAL_* environment).
    #[arg(long, global = true, env = "BAEDAL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything on this machine: embedded broker, every service, the gateway on :8088, SQLite
    /// files under ./data, demo data.
    Up {
        /// Do not seed demo accounts and stores.
        #[arg(long)]
        no_demo: bool,
        /// Where SQLite files and the broker's log live.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Use this Kafka cluster instead of the embedded broker.
        #[arg(long)]
        kafka: Option<String>,
        #[command(flatten)]
        broker: BrokerArgs,
    },
    /// Chosen services (and `gateway`) against the configured Kafka and databases: one per pod.
    Serve {
        /// order, payment, store, delivery, notification, customer, review, gateway
        #[arg(required = true)]
        services: Vec<String>,
    },
    /// Create databases and run migrations for the chosen services (all when none given).
    Migrate { services: Vec<String> },
    /// Place orders through the gateway and print throughput and latencies. Starts a platform of
    /// its own (fresh data, embedded broker) unless `--gateway` points at a running one.
    Bench {
        #[command(subcommand)]
        what: BenchKind,
    },
    /// Reconcile money and sagas across the services' databases: charges against orders
    /// against refunds, orders against the store and mypage, coupons against reviews, outbox
    /// backlogs and dead letters. Exits 1 when an invariant is broken.
    Audit {
        /// Rows younger than this may still be on their way and are not judged.
        #[arg(long, default_value_t = 120)]
        settle_secs: u64,
        /// Also write the findings as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Load with customers, owners and riders against a `baedal up` of its own while `up` or
    /// its broker is killed with SIGKILL and restarted; then the audit. Exits 1 on a violation.
    Chaos {
        /// `up`: one `baedal up`. `serve`: a process per service, two of order, the broker
        /// apart, on PostgreSQL (needs --database-url).
        #[arg(long, value_enum, default_value = "up")]
        shape: baedal::chaos::Shape,
        #[arg(long, default_value_t = 1000)]
        orders: usize,
        #[arg(long, default_value_t = 3)]
        kills: usize,
        /// What is killed, in turn: up, broker (up shape); service, broker (serve shape). By
        /// default up,broker and service,service,broker.
        #[arg(long, value_delimiter = ',')]
        targets: Vec<baedal::chaos::Target>,
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// The platform's `database.url` (e.g. postgres://postgres@127.0.0.1:5432/chaos_{service});
        /// SQLite files by default.
        #[arg(long)]
        database_url: Option<String>,
        /// Seconds the platform may take to settle after the load.
        #[arg(long, default_value_t = 90)]
        settle_secs: u64,
        #[arg(long, default_value = "target/chaos/report.json")]
        json: PathBuf,
        #[command(flatten)]
        broker: BrokerArgs,
    },
    /// Orders stuck past their stage's deadline.
    Sagas {
        #[command(subcommand)]
        action: SagasAction,
    },
    /// Inspect or replay the dead-letter topic.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
}

#[derive(Subcommand)]
enum BenchKind {
    /// A burst of paid orders: throughput and latency of `POST /orders`, and how long the event
    /// log takes to bring them to the store. Starts a platform of its own (in this process)
    /// unless `--gateway` points at a running one.
    Orders {
        #[arg(long, default_value_t = 500)]
        orders: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Orders followed one by one through the event log to the store and mypage.
        #[arg(long, default_value_t = 20)]
        follow: usize,
        /// A running gateway with demo data, e.g. http://127.0.0.1:8088.
        #[arg(long)]
        gateway: Option<String>,
        #[command(flatten)]
        broker: BrokerArgs,
    },
    /// Whole order lifecycles at fixed arrival rates against a platform started for the run
    /// (`baedal up`, or the serve shape with `--serve-database-url`): the sustainable rate, each
    /// saga hop's latency, backlog drain, flatness against a full log, read rates, CPU per
    /// lifecycle and memory. Prints a table and writes JSON.
    Lifecycle {
        /// Lifecycles per second, tried in turn (stops at the first not sustained).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "10,25,50,100,150,200,300"
        )]
        rates: Vec<f64>,
        /// Seconds at each rate.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// How often a waiting client looks again, in ms.
        #[arg(long, default_value_t = 100)]
        poll_ms: u64,
        /// Orders taken while the broker is stopped, for the drain (0 skips it).
        #[arg(long, default_value_t = 2000)]
        backlog: usize,
        /// Records written to a ballast topic before the sweep runs again (0 skips it).
        #[arg(long, default_value_t = 0)]
        ballast: usize,
        /// Clients of the closed-loop request-rate probes (0 skips them).
        #[arg(long, default_value_t = 64)]
        probe_clients: usize,
        #[arg(long, default_value = "target/bench/lifecycle.json")]
        json: PathBuf,
        /// Run the serve shape instead of `up`: a process per service (order twice) on this
        /// PostgreSQL `database.url` template, e.g. postgres://postgres@127.0.0.1:5432/bench_{service}.
        #[arg(long)]
        serve_database_url: Option<String>,
        #[command(flatten)]
        broker: BrokerArgs,
    },
    /// Idle live streams (Server-Sent Events) held by a `baedal up` started for the run: extra
    /// memory per stream, idle CPU, and the fan-out of one change to all of them. Prints and
    /// writes JSON.
    Streams {
        #[arg(long, default_value_t = 10_000)]
        count: usize,
        #[arg(long, default_value = "target/bench/streams.json")]
        json: PathBuf,
        #[command(flatten)]
        broker: BrokerArgs,
    },
}

#[derive(clap::Args)]
struct BrokerArgs {
    /// The embedded broker's program (default: `baedal-broker` next to this binary).
    #[arg(long, env = "BAEDAL_BROKER_BIN")]
    broker_bin: Option<PathBuf>,
}

#[derive(Subcommand)]
enum SagasAction {
    /// List, per stage, the orders that sit in it longer than its deadline.
    Stuck,
}

#[derive(Subcommand)]
enum DlqAction {
    /// Print every dead letter with the consumer that gave up and why.
    List,
    /// Put dead letters back on the event topic (after fixing their cause). Each is replayed once.
    Replay {
        /// Only those this consumer group gave up on.
        #[arg(long)]
        consumer: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let loaded = Settings::load(cli.config.as_deref())
        .and_then(|settings| baedal::check_sections(&settings).map(|()| settings));
    let mut settings = match loaded {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("baedal: {error}");
            return ExitCode::from(2);
        }
    };
    if matches!(cli.command, Command::Bench { .. }) {
        // Figures, not logs.
        settings.log.filter = "warn".into();
    }
    // Exported spans name the process: the one service `serve` runs, or the whole platform.
    let process = match &cli.command {
        Command::Serve { services } if services.len() == 1 => services[0].clone(),
        _ => "baedal".to_owned(),
    };
    let _telemetry = match platform::telemetry::init(&settings.log, &settings.trace, &process) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            report(&error);
            return ExitCode::from(2);
        }
    };
    platform::telemetry::init_metrics();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            report(&anyhow::Error::from(error).context("starting the async runtime"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command, settings));
    // Whatever is still running (a startup cut short by a signal) gets a moment, not forever.
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error);
            ExitCode::FAILURE
        }
    }
}

/// Prints an error with every cause on a line of its own. A cause that has nothing to say for
/// itself (some library errors display as "") is shown by its debug form instead.
fn report(error: &anyhow::Error) {
    let describe = |cause: &(dyn std::error::Error + 'static)| {
        let text = cause.to_string();
        if text.trim().is_empty() {
            format!("{cause:?}")
        } else {
            text
        }
    };
    let mut chain = error.chain();
    if let Some(top) = chain.next() {
        eprintln!("baedal: {}", describe(top));
    }
    for cause in chain {
        eprintln!("  caused by: {}", describe(cause));
    }
}

async fn run(command: Command, mut settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Up {
            no_demo,
            data_dir,
            kafka,
            broker,
        } => {
            if let Some(dir) = data_dir {
                settings.data_dir = dir;
            }
            let dir = settings.data_dir.clone();
            settings
                .auth
                .fill_missing(|name| baedal::data_dir_secret(&dir, name))?;
            let embedded_broker = match kafka {
                Some(brokers) => {
                    settings.kafka.brokers = brokers;
                    None
                }
                None => Some(baedal::broker::locate(broker.broker_bin)?),
            };
            up(settings, embedded_broker, !no_demo).await
        }
        Command::Serve { services } => serve(settings, &services).await,
        Command::Migrate { services } => {
            let (services, _) = parse_services(&services)?;
            let services = if services.is_empty() {
                ServiceName::ALL.to_vec()
            } else {
                services
            };
            baedal::migrate(&settings, &services).await
        }
        Command::Dlq { action } => dlq(&settings, action).await,
        Command::Audit { settle_secs, json } => {
            let audit = baedal::audit::run(&settings, Duration::from_secs(settle_secs)).await?;
            audit.print();
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&audit)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            match audit.violations() {
                0 => Ok(()),
                n => anyhow::bail!("{n} violation(s) of the platform's invariants"),
            }
        }
        Command::Chaos {
            shape,
            orders,
            kills,
            targets,
            clients,
            database_url,
            settle_secs,
            json,
            broker,
        } => {
            let targets = if targets.is_empty() {
                shape.default_targets()
            } else {
                targets
            };
            let report = baedal::chaos::run(baedal::chaos::ChaosOptions {
                shape,
                orders,
                kills,
                targets,
                clients,
                database_url,
                settle: Duration::from_secs(settle_secs),
                json,
                broker_bin: baedal::broker::locate(broker.broker_bin)?,
            })
            .await?;
            match report["violations"].as_u64() {
                Some(0) => Ok(()),
                _ => anyhow::bail!("the chaos run ended with violations; see the report"),
            }
        }
        Command::Sagas {
            action: SagasAction::Stuck,
        } => {
            let url = settings.database_url(ServiceName::Order);
            let db = platform::Db::connect(&url, 2, baedal::migrations(ServiceName::Order)).await?;
            let mut conn = db.reader().acquire().await?;
            let deadlines = order::jobs::stage_deadlines(&settings.section()?);
            let stages = order::jobs::stuck(&mut conn, &deadlines).await?;
            drop(conn);
            db.close().await;
            for stage in &stages {
                println!(
                    "{:<16} past {:>6} s: {}",
                    stage.stage, stage.deadline_secs, stage.count
                );
                for order in &stage.orders {
                    println!(
                        "    {} customer {} store {} since {}",
                        order.order_id, order.customer_id, order.store_id, order.since
                    );
                }
            }
            Ok(())
        }
        Command::Bench { what } => benchmark(settings, what).await,
    }
}

/// One of the benchmarks, with its options as the command line gave them.
async fn benchmark(settings: Settings, what: BenchKind) -> anyhow::Result<()> {
    use baedal::{bench, broker::locate};
    match what {
        BenchKind::Orders {
            orders,
            concurrency,
            follow,
            gateway,
            broker,
        } => {
            let options = bench::BenchOptions {
                orders,
                concurrency: concurrency.max(1),
                follow,
            };
            bench_orders(settings, gateway, broker.broker_bin, options).await
        }
        BenchKind::Lifecycle {
            rates,
            seconds,
            poll_ms,
            backlog,
            ballast,
            probe_clients,
            json,
            serve_database_url,
            broker,
        } => {
            bench::lifecycle::run(bench::lifecycle::LifecycleOptions {
                rates,
                duration: Duration::from_secs(seconds.max(1)),
                poll: Duration::from_millis(poll_ms.max(1)),
                backlog,
                ballast,
                probe_clients,
                json,
                broker_bin: locate(broker.broker_bin)?,
                serve_database_url,
            })
            .await
        }
        BenchKind::Streams {
            count,
            json,
            broker,
        } => {
            let broker_bin = locate(broker.broker_bin)?;
            bench::streams::run(bench::streams::StreamsOptions {
                count,
                json,
                broker_bin,
            })
            .await
        }
    }
}

fn parse_services(names: &[String]) -> anyhow::Result<(Vec<ServiceName>, bool)> {
    let mut services = Vec::new();
    let mut gateway = false;
    for name in names {
        if name == "gateway" {
            gateway = true;
        } else {
            services.push(name.parse::<ServiceName>().map_err(anyhow::Error::msg)?);
        }
    }
    Ok((services, gateway))
}

/// How long the consumers of a starting platform may take to join their groups.
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);

async fn up(
    settings: Settings,
    embedded_broker: Option<PathBuf>,
    demo_data: bool,
) -> anyhow::Result<()> {
    // Signals count from the first moment: a Ctrl-C while starting stops the start.
    let shutdown = platform::shutdown::on_signal();
    let plan = Plan {
        embedded_broker,
        ..Plan::everything()
    };
    let starting = async {
        let platform = Platform::start(settings, &plan, shutdown.clone()).await?;
        platform.started(JOIN_TIMEOUT).await?;
        if demo_data {
            demo::seed(&platform)
                .await
                .context("seeding the demo data")?;
        }
        platform.open();
        anyhow::Ok(platform)
    };
    let platform = tokio::select! {
        platform = starting => platform.context("starting baedal")?,
        () = shutdown.cancelled() => {
            eprintln!("baedal: stopped while starting");
            return Ok(());
        }
    };
    let gateway_url = platform.gateway_url().context("gateway not started")?;
    banner(&platform, &gateway_url, demo_data);
    if let Some(gateway) = &platform.gateway
        && !gateway.addr.ip().is_loopback()
    {
        tracing::warn!(addr = %gateway.addr, "the gateway listens beyond this machine; `up` is \
            meant for one machine: put TLS and a network policy in front, or bind 127.0.0.1");
        println!(
            "  WARNING: the gateway listens on {}, reachable from other machines.",
            gateway.addr
        );
    }
    platform.stopped().await
}

fn banner(platform: &Platform, gateway_url: &str, demo_data: bool) {
    let settings = &platform.settings;
    println!();
    println!("  baedal is up — gateway {gateway_url} (try: curl {gateway_url}/healthz)");
    println!(
        "  kafka {} (topics {}.<context>{})",
        settings.kafka.brokers,
        settings.kafka.topic_prefix,
        if platform.broker.is_some() {
            ", embedded"
        } else {
            ""
        }
    );
    for service in &platform.services {
        println!(
            "  {:<13} http://{}  ({})",
            service.name,
            service.addr,
            platform::db::redact(&settings.database_url(service.name))
        );
    }
    if demo_data {
        println!(
            "  demo accounts: customer1-3, owner1-2, rider1-3, admin; password {}",
            demo::PASSWORD
        );
    }
    println!("  Ctrl-C stops everything gracefully.");
    println!();
}

async fn bench_orders(
    mut settings: Settings,
    gateway: Option<String>,
    broker_bin: Option<PathBuf>,
    options: baedal::bench::BenchOptions,
) -> anyhow::Result<()> {
    let started = match gateway {
        Some(gateway) => return run_bench(&gateway, &options).await,
        None => {
            // A platform of its own: fresh SQLite files, a broker on a free port, ports 0.
            let dir = std::env::temp_dir().join(format!("baedal-bench-{}", uuid::Uuid::now_v7()));
            settings.data_dir = dir.clone();
            settings.database.url = "sqlite://{data_dir}/{service}.db".into();
            settings.kafka.brokers = format!("127.0.0.1:{}", baedal::broker::free_port()?);
            settings
                .auth
                .fill_missing(|_| Ok(platform::config::Secret::random()))?;
            for service in settings.services.values_mut() {
                service.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            }
            settings.gateway.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            settings.metrics.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
            // Every simulated customer comes from one address; measure the platform, not the limit.
            settings.gateway.rate_limit.per_second = 0;
            let shutdown = tokio_util::sync::CancellationToken::new();
            let plan = Plan {
                embedded_broker: Some(baedal::broker::locate(broker_bin)?),
                ..Plan::everything()
            };
            let platform = Platform::start(settings, &plan, shutdown).await?;
            platform.started(JOIN_TIMEOUT).await?;
            demo::seed(&platform).await?;
            platform.open();
            let gateway = platform.gateway_url().context("gateway not started")?;
            (platform, gateway, dir)
        }
    };
    let (platform, gateway, dir) = started;
    let result = run_bench(&gateway, &options).await;
    platform.stop().await?;
    let _ = std::fs::remove_dir_all(dir);
    result
}

async fn run_bench(gateway: &str, options: &baedal::bench::BenchOptions) -> anyhow::Result<()> {
    println!(
        "bench: {} orders, {} at a time, through {gateway}",
        options.orders, options.concurrency
    );
    let mut report = baedal::bench::run(gateway, options).await?;
    report.print();
    Ok(())
}

async fn dlq(settings: &Settings, action: DlqAction) -> anyhow::Result<()> {
    use contracts::headers;
    use platform::dlq::DeadLetter;
    let idle = std::time::Duration::from_secs(2);
    let describe = |letter: &DeadLetter| {
        format!(
            "{}/{} {} event-id={} key={} consumer={} error={}",
            letter.partition,
            letter.offset,
            letter.header(headers::TYPE).unwrap_or_else(|| "?".into()),
            letter
                .header(headers::EVENT_ID)
                .unwrap_or_else(|| "-".into()),
            letter.key.as_deref().unwrap_or("-"),
            letter
                .header(headers::FAILED_CONSUMER)
                .unwrap_or_else(|| "-".into()),
            letter.header(headers::ERROR).unwrap_or_default(),
        )
    };
    let kafka = &settings.kafka;
    let (letters, each, all) = match action {
        DlqAction::List => (
            platform::dlq::list(kafka, idle).await?,
            "",
            format!("on {}", kafka.dlq_topic),
        ),
        DlqAction::Replay { consumer } => (
            platform::dlq::replay(kafka, consumer.as_deref(), idle).await?,
            "replayed ",
            format!("replayed to their topics under {}", kafka.topic_prefix),
        ),
    };
    for letter in &letters {
        println!("{each}{}", describe(letter));
    }
    println!("{} dead letter(s) {all}", letters.len());
    Ok(())
}

async fn serve(settings: Settings, names: &[String]) -> anyhow::Result<()> {
    settings.auth.require_secrets()?;
    let (services, gateway) = parse_services(names)?;
    let shutdown = platform::shutdown::on_signal();
    let plan = Plan {
        services,
        gateway,
        embedded_broker: None,
    };
    let platform = Platform::start(settings, &plan, shutdown).await?;
    // A pod's gateway is ready when it is up; each service pod turns ready as its consumers join.
    platform.open();
    platform.stopped().await
}
