//! `baedal bench lifecycle`: whole order lifecycles against a real `baedal up` started for the
//! run (a child process, so its CPU and memory are its own), in the open-loop model.
//!
//! A lifecycle is what the scenario is: a customer places an order; the owner accepts it (as soon
//! as the store has it), starts and finishes cooking; a rider near the store finds the delivery,
//! picks it and completes it; the customer confirms receipt (as soon as the order knows it was
//! delivered); mypage shows `Completed`. Waiting steps poll, as clients do.
//!
//! - **Open loop.** Lifecycles start at a fixed rate whatever happens to earlier ones, and each
//!   one's latency counts from when it was meant to start, so a stalled platform cannot hide its
//!   stall by slowing the load (coordinated omission).
//! - **Stages** come from the platform's own clock: `event_lag_seconds` is, per consumer and
//!   event type, the time from an event's timestamp to the commit of the consumer's change.
//! - **Sustainable rate**: the highest rate at which nearly every lifecycle finished and the p99
//!   of every stage stayed under 250 ms.
//! - **Backlog drain**: orders taken while the broker is stopped (SIGSTOP), then how fast the
//!   platform works through them once it runs again.
//! - **Flatness**: the sweep again after a ballast topic has filled the broker's log.
//! - **Reads**: closed-loop request rates of `GET /stores/{id}` and `POST /orders` against the
//!   gateway's own `/healthz`.
//! - **CPU per lifecycle**: the `up` process's and its broker's CPU time (from /proc) divided by
//!   the lifecycles completed; peak RSS of both.
//! - **The serve shape** (`--serve-database-url`): the same against a process per service (order
//!   twice, behind a balancer) on PostgreSQL with the broker apart. Stages and counters are summed
//!   over every process's `/metrics`; CPU is every baedal process's, and PostgreSQL's server
//!   processes' CPU is reported beside it.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use platform::ServiceName;
use serde_json::{Value, json};
use sqlx::migrate::MigrateDatabase;
use tokio::task::JoinSet;

use super::{machine, percentile};
use crate::{
    child::{UpConfig, UpProcess, cpu_seconds_of, processes_named, rss_kib_of, signal, write_json},
    cluster::ServeCluster,
};

/// A stage's p99 must stay under this for a rate to count as sustained.
const STAGE_P99_LIMIT_MS: f64 = 250.0;

#[derive(Clone, Debug)]
pub struct LifecycleOptions {
    /// Lifecycles per second to run, each for `duration`.
    pub rates: Vec<f64>,
    pub duration: Duration,
    /// How often a waiting client looks again.
    pub poll: Duration,
    /// Orders taken while the broker is stopped, for the drain (0: skip).
    pub backlog: usize,
    /// Records written to a ballast topic before the sweep is run again (0: skip).
    pub ballast: usize,
    /// Clients of the closed-loop read probes (0: skip).
    pub probe_clients: usize,
    pub json: PathBuf,
    /// The `baedal-broker` the platform under test runs.
    pub broker_bin: PathBuf,
    /// `None`: `baedal up`, the embedded default. `Some(url)`: the `serve` shape, a process per
    /// service (order twice) on PostgreSQL (`url` names the databases with `{service}`), the
    /// broker apart.
    pub serve_database_url: Option<String>,
}

/// The platform under test.
enum Deployment {
    Up(Box<UpProcess>),
    /// With the database URL of each of its databases, dropped at the end.
    Serve(Box<ServeCluster>, Vec<String>),
}

impl Deployment {
    async fn start(options: &LifecycleOptions) -> anyhow::Result<Self> {
        Ok(match &options.serve_database_url {
            None => Deployment::Up(Box::new(
                UpProcess::start(UpConfig::fresh("lifecycle", options.broker_bin.clone())?).await?,
            )),
            Some(template) => {
                // Databases of this run's own, so every run starts from empty ones.
                let run = &uuid::Uuid::now_v7().simple().to_string()[20..];
                let url = template.replace("{service}", &format!("{{service}}_{run}"));
                let databases: Vec<String> = ServiceName::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .chain(["gateway"])
                    .map(|name| url.replace("{service}", name))
                    .collect();
                // One machine plays every client: measure the platform, not the limiter.
                let env = [
                    ("BAEDAL_GATEWAY__RATE_LIMIT__PER_SECOND", "0"),
                    ("BAEDAL_GATEWAY__RATE_LIMIT__LOGINS_PER_MINUTE", "0"),
                ]
                .map(|(k, v)| (k.to_owned(), v.to_owned()));
                let cluster = match ServeCluster::start(&url, &options.broker_bin, &env).await {
                    Ok(cluster) => cluster,
                    Err(error) => {
                        drop_databases(&databases).await;
                        return Err(error);
                    }
                };
                let deployment = Deployment::Serve(Box::new(cluster), databases);
                if let Deployment::Serve(cluster, _) = &deployment
                    && let Err(error) =
                        crate::demo::seed_remote(&cluster.settings(), &cluster.gateway).await
                {
                    deployment.stop().await;
                    return Err(error.context("seeding the demo data"));
                }
                deployment
            }
        })
    }

    fn shape(&self) -> &'static str {
        match self {
            Deployment::Up(_) => "up",
            Deployment::Serve(..) => "serve",
        }
    }

    fn gateway_url(&self) -> String {
        match self {
            Deployment::Up(up) => up.config.gateway_url(),
            Deployment::Serve(cluster, _) => cluster.gateway.clone(),
        }
    }

    fn kafka(&self) -> String {
        match self {
            Deployment::Up(up) => up.config.kafka.clone(),
            Deployment::Serve(cluster, _) => cluster.kafka().to_owned(),
        }
    }

    fn pids(&self) -> Vec<u32> {
        match self {
            Deployment::Up(up) => up.pids(),
            Deployment::Serve(cluster, _) => cluster.pids(),
        }
    }

    fn broker_pid(&self) -> Option<u32> {
        match self {
            Deployment::Up(up) => up.broker_pid(),
            Deployment::Serve(cluster, _) => cluster.pid_of("broker"),
        }
    }

    /// CPU seconds so far of baedal's processes: `up` and its broker, or every process of the
    /// cluster.
    fn cpu_seconds(&self) -> f64 {
        self.pids().into_iter().map(cpu_seconds_of).sum()
    }

    /// CPU seconds so far of the PostgreSQL server (the serve shape's storage); 0 for `up`.
    fn storage_cpu_seconds(&self) -> f64 {
        match self {
            Deployment::Up(_) => 0.0,
            Deployment::Serve(..) => processes_named("postgres")
                .into_iter()
                .map(cpu_seconds_of)
                .sum(),
        }
    }

    fn rss_mib(&self) -> f64 {
        self.pids().into_iter().map(rss_kib_of).sum::<u64>() as f64 / 1024.0
    }

    /// Every process's metrics, one page after another (series of one name add up).
    async fn metrics(&self, http: &reqwest::Client) -> anyhow::Result<String> {
        let urls = match self {
            Deployment::Up(up) => vec![up.config.metrics_url()],
            Deployment::Serve(cluster, _) => cluster.metrics_urls(),
        };
        let mut pages = String::new();
        for url in urls {
            pages.push_str(&scrape(http, &url).await?);
            pages.push('\n');
        }
        Ok(pages)
    }

    fn log_hint(&self) -> String {
        match self {
            Deployment::Up(up) => up.config.log().display().to_string(),
            Deployment::Serve(cluster, _) => format!("{}/*.log", cluster.dir.display()),
        }
    }

    async fn stop(self) {
        match self {
            Deployment::Up(up) => up.stop(true).await,
            Deployment::Serve(cluster, databases) => {
                cluster.stop(true).await;
                drop_databases(&databases).await;
            }
        }
    }
}

async fn drop_databases(urls: &[String]) {
    for url in urls {
        if let Err(error) = sqlx::Any::drop_database(url).await {
            eprintln!("could not drop {}: {error}", platform::db::redact(url));
        }
    }
}

/// Everything a lifecycle needs, shared by all of them.
struct Clients {
    http: reqwest::Client,
    gateway: String,
    crew: super::DemoCrew,
    poll: Duration,
}

/// How long each step of one lifecycle took, client side.
#[derive(Clone, Debug, Default)]
struct Steps {
    /// From the intended start to mypage showing `Completed`.
    total: Duration,
    place: Duration,
    /// Placed → the store had it (the owner's accept went through).
    to_store: Duration,
    /// Cook finished → a rider saw the delivery.
    to_rider: Duration,
    /// Delivered → the order knew it (confirm receipt went through).
    to_order: Duration,
    /// Confirmed → mypage showed Completed.
    to_mypage: Duration,
}

const ORDER_BODY: &str = r#"{"items": [{"foodId": "tuna-kimbap", "quantity": 1}],
 "deliveryAddress": {"text": "서울 강남구 테헤란로 1", "lat": 37.501, "lng": 127.036},
 "payment": {"method": "card", "cardToken": "tok_bench"}}"#;

impl Clients {
    async fn new(gateway: &str, poll: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .build()?;
        let crew = super::DemoCrew::login(&http, gateway).await?;
        Ok(Self {
            http,
            gateway: gateway.to_owned(),
            crew,
            poll,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    fn order_body(&self) -> Value {
        let mut body: Value = serde_json::from_str(ORDER_BODY).expect("a JSON order");
        body["storeId"] = json!(self.crew.store_id);
        body
    }

    async fn place(&self, customer: &str) -> anyhow::Result<String> {
        let response = self
            .http
            .post(self.url("/orders"))
            .bearer_auth(customer)
            .json(&self.order_body())
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        if status.as_u16() != 201 {
            bail!("POST /orders: {status} {body}");
        }
        body["orderId"]
            .as_str()
            .map(str::to_owned)
            .context("no orderId")
    }

    /// Sends `request` until it answers 2xx; `retry` says which other statuses mean "not yet".
    async fn until_ok(
        &self,
        what: &str,
        mut request: impl FnMut() -> reqwest::RequestBuilder,
        retry: &[u16],
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let response = request().send().await?;
            let status = response.status().as_u16();
            if (200..300).contains(&status) {
                return Ok(response.json().await.unwrap_or_default());
            }
            if !retry.contains(&status) || Instant::now() > deadline {
                let body = response.text().await.unwrap_or_default();
                bail!("{what}: {status} {body}");
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    async fn lifecycle(&self, index: usize, intended: Instant) -> anyhow::Result<Steps> {
        let customer = self.crew.customer(index);
        let rider = self.crew.rider(index);
        let mut steps = Steps::default();
        let started = Instant::now();
        let order = self.place(customer).await?;
        let placed = Instant::now();
        steps.place = placed - started;

        let store_order = self.url(&format!("/stores/{}/orders/{order}", self.crew.store_id));
        self.until_ok(
            "accept",
            || {
                self.http
                    .post(format!("{store_order}/accept"))
                    .bearer_auth(&self.crew.owner)
                    .json(&json!({"cookMinutes": 5}))
            },
            &[404],
        )
        .await?;
        steps.to_store = placed.elapsed();
        for step in ["cook-start", "cook-finish"] {
            self.until_ok(
                step,
                || {
                    self.http
                        .post(format!("{store_order}/{step}"))
                        .bearer_auth(&self.crew.owner)
                },
                &[],
            )
            .await?;
        }

        let cooked = Instant::now();
        let deadline = cooked + Duration::from_secs(120);
        let delivery = loop {
            let list: Vec<Value> = self
                .http
                .get(self.url("/deliveries/available?lat=37.4979&lng=127.0276&radiusKm=3"))
                .bearer_auth(rider)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            if let Some(found) = list
                .iter()
                .find(|d| d["orderId"] == order.as_str())
                .and_then(|d| d["deliveryId"].as_str())
            {
                break found.to_owned();
            }
            if Instant::now() > deadline {
                bail!("the delivery of {order} never opened");
            }
            tokio::time::sleep(self.poll).await;
        };
        steps.to_rider = cooked.elapsed();
        for step in ["pick", "complete"] {
            self.until_ok(
                step,
                || {
                    self.http
                        .post(self.url(&format!("/deliveries/{delivery}/{step}")))
                        .bearer_auth(rider)
                },
                &[],
            )
            .await?;
        }

        let delivered = Instant::now();
        // 409 until the order service has heard of the delivery.
        self.until_ok(
            "confirm-receipt",
            || {
                self.http
                    .post(self.url(&format!("/orders/{order}/confirm-receipt")))
                    .bearer_auth(customer)
            },
            &[409],
        )
        .await?;
        steps.to_order = delivered.elapsed();

        let confirmed = Instant::now();
        let deadline = confirmed + Duration::from_secs(120);
        loop {
            let response = self
                .http
                .get(self.url(&format!("/mypage/orders/{order}")))
                .bearer_auth(customer)
                .send()
                .await?;
            if response.status().is_success() {
                let entry: Value = response.json().await?;
                if entry["status"] == "Completed" {
                    break;
                }
            }
            if Instant::now() > deadline {
                bail!("mypage never showed {order} completed");
            }
            tokio::time::sleep(self.poll).await;
        }
        steps.to_mypage = confirmed.elapsed();
        steps.total = intended.elapsed();
        Ok(steps)
    }
}

/// Cumulative buckets of one histogram series: (upper bound in seconds, count).
type Buckets = Vec<(f64, u64)>;

/// The `event_lag_seconds` series of a Prometheus text page, by (consumer, type).
fn event_lags(page: &str) -> BTreeMap<(String, String), Buckets> {
    let mut series: BTreeMap<(String, String), Buckets> = BTreeMap::new();
    for line in page.lines() {
        let Some(rest) = line.strip_prefix("event_lag_seconds_bucket{") else {
            continue;
        };
        let Some((labels, count)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|pair| pair.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
        };
        let (Some(consumer), Some(kind), Some(le)) =
            (label("consumer"), label("type"), label("le"))
        else {
            continue;
        };
        let le = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap_or(f64::INFINITY)
        };
        let count = count.trim().parse().unwrap_or(0);
        series
            .entry((consumer, kind))
            .or_default()
            .push((le, count));
    }
    for buckets in series.values_mut() {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Processes of one consumer (replicas) each have the series: their buckets add up.
        buckets.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 += later.1;
            }
            same
        });
    }
    series
}

/// The bucket bound under which `p` percent of the observations between two scrapes fell.
fn bucket_percentile(before: Option<&Buckets>, after: &Buckets, p: f64) -> Option<(u64, f64)> {
    let delta: Vec<(f64, u64)> = after
        .iter()
        .map(|(le, count)| {
            let earlier = before
                .and_then(|b| b.iter().find(|(l, _)| l == le))
                .map_or(0, |(_, c)| *c);
            (*le, count.saturating_sub(earlier))
        })
        .collect();
    let total = delta.last()?.1;
    if total == 0 {
        return None;
    }
    let wanted = (p / 100.0 * total as f64).ceil() as u64;
    delta
        .iter()
        .find(|(_, count)| *count >= wanted)
        .map(|(le, _)| (total, *le * 1000.0))
}

async fn scrape(http: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    Ok(http
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?)
}

/// The sum of a counter over all its series.
fn counter_total(page: &str, name: &str, filter: &str) -> f64 {
    page.lines()
        .filter(|line| line.starts_with(name) && line.contains(filter))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn summary(samples: &mut [Duration]) -> Value {
    samples.sort();
    json!({
        "n": samples.len(),
        "p50Ms": ms(percentile(samples, 50.0)),
        "p95Ms": ms(percentile(samples, 95.0)),
        "p99Ms": ms(percentile(samples, 99.0)),
        "maxMs": ms(samples.last().copied().unwrap_or_default()),
    })
}

/// One rate of the sweep.
async fn run_rate(
    platform: &Deployment,
    clients: &Arc<Clients>,
    rate: f64,
    duration: Duration,
) -> anyhow::Result<Value> {
    let http = &clients.http;
    let before = event_lags(&platform.metrics(http).await?);
    let cpu_before = platform.cpu_seconds();
    let storage_cpu_before = platform.storage_cpu_seconds();
    let mut peak_rss = platform.rss_mib();
    let total = (rate * duration.as_secs_f64()).round().max(1.0) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = tokio::time::Instant::now();
    let done = Arc::new(AtomicUsize::new(0));
    let mut running = JoinSet::new();
    let mut last_progress = Instant::now();
    for index in 0..total {
        let intended = started + interval.mul_f64(index as f64);
        tokio::time::sleep_until(intended).await;
        let clients = clients.clone();
        let finished = done.clone();
        running.spawn(async move {
            let result = clients.lifecycle(index, intended.into_std()).await;
            finished.fetch_add(1, Ordering::Relaxed);
            result
        });
        if last_progress.elapsed() > Duration::from_secs(5) {
            last_progress = Instant::now();
            peak_rss = peak_rss.max(platform.rss_mib());
            eprintln!(
                "  {rate:>6.1}/s: {} started, {} done, {:.0} MiB",
                index + 1,
                done.load(Ordering::Relaxed),
                peak_rss
            );
        }
    }
    let mut steps = Vec::new();
    let mut failures = Vec::new();
    let drain_deadline = Instant::now() + Duration::from_secs(180);
    while let Some(joined) = tokio::time::timeout(
        drain_deadline.saturating_duration_since(Instant::now()),
        running.join_next(),
    )
    .await
    .ok()
    .flatten()
    {
        match joined {
            Ok(Ok(step)) => steps.push(step),
            Ok(Err(error)) => failures.push(format!("{error:#}")),
            Err(error) => failures.push(error.to_string()),
        }
        peak_rss = peak_rss.max(platform.rss_mib());
    }
    let unfinished = running.len();
    running.abort_all();
    let elapsed = started.elapsed();
    let cpu = platform.cpu_seconds() - cpu_before;
    let storage_cpu = platform.storage_cpu_seconds() - storage_cpu_before;
    let after = event_lags(&platform.metrics(http).await?);

    let mut stages = Vec::new();
    let mut worst_p99 = 0.0f64;
    for (key, buckets) in &after {
        let earlier = before.get(key);
        let (Some((count, p50)), Some((_, p99))) = (
            bucket_percentile(earlier, buckets, 50.0),
            bucket_percentile(earlier, buckets, 99.0),
        ) else {
            continue;
        };
        worst_p99 = worst_p99.max(p99);
        stages.push(json!({"consumer": key.0, "event": key.1, "n": count,
            "p50Ms": p50, "p99Ms": p99}));
    }
    let completed = steps.len();
    let pick = |f: fn(&Steps) -> Duration| steps.iter().map(f).collect::<Vec<_>>();
    let sustained = failures.is_empty()
        && unfinished == 0
        && completed == total
        && worst_p99 <= STAGE_P99_LIMIT_MS
        && !stages.is_empty();
    Ok(json!({
        "rate": rate,
        "started": total,
        "completed": completed,
        "failed": failures.len(),
        "unfinished": unfinished,
        "firstFailures": failures.iter().take(3).collect::<Vec<_>>(),
        "seconds": elapsed.as_secs_f64(),
        "lifecyclesPerSecond": completed as f64 / elapsed.as_secs_f64().max(1e-9),
        "lifecycle": summary(&mut pick(|s| s.total)),
        "steps": {
            "placeOrder": summary(&mut pick(|s| s.place)),
            "placedToStore": summary(&mut pick(|s| s.to_store)),
            "cookedToRider": summary(&mut pick(|s| s.to_rider)),
            "deliveredToOrder": summary(&mut pick(|s| s.to_order)),
            "confirmedToMypage": summary(&mut pick(|s| s.to_mypage)),
        },
        "stages": stages,
        "worstStageP99Ms": worst_p99,
        "cpuSeconds": cpu,
        "cpuMsPerLifecycle": if completed > 0 { cpu * 1000.0 / completed as f64 } else { 0.0 },
        "storageCpuSeconds": storage_cpu,
        "storageCpuMsPerLifecycle":
            if completed > 0 { storage_cpu * 1000.0 / completed as f64 } else { 0.0 },
        "peakRssMiB": peak_rss,
        "sustained": sustained,
    }))
}

async fn sweep(
    platform: &Deployment,
    clients: &Arc<Clients>,
    options: &LifecycleOptions,
    label: &str,
) -> anyhow::Result<(Vec<Value>, f64)> {
    let mut results = Vec::new();
    let mut sustained: f64 = 0.0;
    for rate in &options.rates {
        eprintln!("{label}: {rate}/s for {} s", options.duration.as_secs());
        let result = run_rate(platform, clients, *rate, options.duration).await?;
        print_rate(&result);
        let held = result["sustained"].as_bool().unwrap_or(false);
        results.push(result);
        if held {
            sustained = sustained.max(*rate);
        } else {
            // Past the knee every further rate only queues more; stop.
            break;
        }
    }
    Ok((results, sustained))
}

fn print_rate(result: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    println!(
        "  rate {:>6.1}/s  done {:>5}/{:<5} fail {:<3} | lifecycle p50 {:>7.0} p99 {:>7.0} ms | worst stage p99 {:>6.0} ms | {:>5.1} ms CPU/lifecycle (+{:.1} PostgreSQL) | {:>4.0} MiB | {}",
        f(&result["rate"]),
        result["completed"],
        result["started"],
        result["failed"],
        f(&result["lifecycle"]["p50Ms"]),
        f(&result["lifecycle"]["p99Ms"]),
        f(&result["worstStageP99Ms"]),
        f(&result["cpuMsPerLifecycle"]),
        f(&result["storageCpuMsPerLifecycle"]),
        f(&result["peakRssMiB"]),
        if result["sustained"].as_bool() == Some(true) {
            "sustained"
        } else {
            "NOT sustained"
        },
    );
    if let Some(stages) = result["stages"].as_array() {
        for stage in stages {
            println!(
                "      {:<13} {:<22} n={:<6} p50 {:>6.0} ms  p99 {:>6.0} ms",
                stage["consumer"].as_str().unwrap_or(""),
                stage["event"].as_str().unwrap_or(""),
                stage["n"],
                f(&stage["p50Ms"]),
                f(&stage["p99Ms"]),
            );
        }
    }
}

/// Orders taken while the broker is stopped, then the time until the store, the customer's
/// mypage and the notifications have every one of them.
async fn backlog_drain(
    platform: &Deployment,
    clients: &Arc<Clients>,
    orders: usize,
) -> anyhow::Result<Value> {
    let http = &clients.http;
    let broker = platform.broker_pid().context("the broker's pid")?;
    let counted = |page: &str| {
        [
            counter_total(
                page,
                "events_consumed_total",
                "consumer=\"store\",type=\"OrderPlaced\",outcome=\"applied\"",
            ),
            counter_total(
                page,
                "events_consumed_total",
                "consumer=\"order\",type=\"OrderPlaced\",outcome=\"applied\"",
            ),
            counter_total(
                page,
                "events_consumed_total",
                "consumer=\"notification\",type=\"OrderPlaced\",outcome=\"applied\"",
            ),
        ]
    };
    let applied = |page: &str| counter_total(page, "events_consumed_total", "outcome=\"applied\"");
    let page = platform.metrics(http).await?;
    let (start_counts, start_applied) = (counted(&page), applied(&page));
    signal(broker, "-STOP");
    let taking = Instant::now();
    let placed = AtomicUsize::new(0);
    let result = async {
        let mut workers = JoinSet::new();
        let per = orders.div_ceil(32);
        for worker in 0..32 {
            let clients = clients.clone();
            let count = per.min(orders.saturating_sub(worker * per));
            workers.spawn(async move {
                let mut ok = 0;
                for i in 0..count {
                    let customer = clients.crew.customer(worker + i);
                    if clients.place(customer).await.is_ok() {
                        ok += 1;
                    }
                }
                ok
            });
        }
        while let Some(ok) = workers.join_next().await {
            placed.fetch_add(ok.unwrap_or(0), Ordering::Relaxed);
        }
    };
    result.await;
    let taken_in = taking.elapsed();
    signal(broker, "-CONT");
    let drain_start = Instant::now();
    let placed = placed.load(Ordering::Relaxed);
    let deadline = drain_start + Duration::from_secs(600);
    let mut last_progress = Instant::now();
    let drained = loop {
        let page = platform.metrics(http).await?;
        let counts = counted(&page);
        let behind: f64 = counts
            .iter()
            .zip(start_counts)
            .map(|(now, then)| (placed as f64 - (now - then)).max(0.0))
            .sum();
        if behind == 0.0 {
            break Some((drain_start.elapsed(), applied(&page) - start_applied));
        }
        if Instant::now() > deadline {
            break None;
        }
        if last_progress.elapsed() > Duration::from_secs(5) {
            last_progress = Instant::now();
            eprintln!("  drain: {behind:.0} order events still to apply");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (seconds, events) = drained.map_or((f64::NAN, 0.0), |(d, e)| (d.as_secs_f64(), e));
    let result = json!({
        "orders": placed,
        "takenInSeconds": taken_in.as_secs_f64(),
        "drainSeconds": seconds,
        "eventsApplied": events,
        "eventsPerSecond": events / seconds,
        "ordersPerSecond": placed as f64 / seconds,
    });
    println!(
        "backlog: {placed} orders taken in {:.1} s with the broker stopped; drained in {seconds:.1} s: {:.0} events applied/s, {:.0} orders/s",
        taken_in.as_secs_f64(),
        events / seconds,
        placed as f64 / seconds
    );
    Ok(result)
}

/// Fills a topic of its own with `records` records shaped like events (key, four headers, a
/// JSON body), so the broker's log holds them while the platform's topic is measured again.
async fn ballast(kafka: &str, records: usize) -> anyhow::Result<Value> {
    use rdkafka::{
        ClientConfig,
        message::{Header, OwnedHeaders},
        producer::{FutureProducer, FutureRecord},
    };
    // Topics under a prefix of their own: in the broker's storage, but read by nobody.
    let settings = platform::config::KafkaSettings {
        brokers: kafka.to_owned(),
        topic_prefix: "baedal-ballast".to_owned(),
        dlq_topic: "baedal-ballast.dlq".to_owned(),
        ..platform::config::KafkaSettings::default()
    };
    platform::bus::EventBus::new(&settings)?
        .ensure_topics()
        .await?;
    let topic = settings.topic_of(contracts::Producer::Order);
    let topic = topic.as_str();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka)
        .set("linger.ms", "20")
        .set("batch.num.messages", "2000")
        .set("queue.buffering.max.messages", "200000")
        .set("message.timeout.ms", "120000")
        .create()?;
    let started = Instant::now();
    let body = r#"{"eventType":"Ballast","timestamp":0,"orderId":"0190a4e1-0000-7000-8000-000000000000","padding":"............................................................................................................................................................................"}"#;
    let mut pending = futures::stream::FuturesUnordered::new();
    let mut last_progress = Instant::now();
    // Waits for the oldest deliveries until at most `keep` are outstanding.
    async fn settle(
        pending: &mut futures::stream::FuturesUnordered<rdkafka::producer::DeliveryFuture>,
        keep: usize,
    ) -> anyhow::Result<()> {
        use futures::StreamExt;
        while pending.len() > keep {
            match pending.next().await {
                Some(Ok(Err((error, _)))) => bail!("writing ballast: {error}"),
                Some(Err(_)) => bail!("writing ballast: the producer went away"),
                _ => {}
            }
        }
        Ok(())
    }
    for i in 0..records {
        let key = format!("ballast-{}", i % 1000);
        let event_id = uuid::Uuid::now_v7().to_string();
        let mut record = FutureRecord::to(topic).key(&key).payload(body).headers(
            OwnedHeaders::new()
                .insert(Header {
                    key: "type",
                    value: Some("Ballast"),
                })
                .insert(Header {
                    key: "event-id",
                    value: Some(&event_id),
                })
                .insert(Header {
                    key: "source",
                    value: Some("bench"),
                })
                .insert(Header {
                    key: "traceparent",
                    value: Some("00-00000000000000000000000000000001-0000000000000001-01"),
                }),
        );
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                Err((_, returned)) => {
                    // The local queue is full: let deliveries catch up, then try again.
                    record = returned;
                    let keep = pending.len() / 2;
                    settle(&mut pending, keep).await?;
                }
            }
        }
        if pending.len() >= 50_000 {
            settle(&mut pending, 25_000).await?;
        }
        if last_progress.elapsed() > Duration::from_secs(5) {
            last_progress = Instant::now();
            eprintln!("  ballast: {i} of {records} records");
        }
    }
    settle(&mut pending, 0).await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "ballast: {records} records written in {seconds:.1} s ({:.0} records/s)",
        records as f64 / seconds
    );
    Ok(
        json!({"records": records, "seconds": seconds, "recordsPerSecond": records as f64 / seconds}),
    )
}

/// Closed-loop request rate of one endpoint: `clients` callers back to back for `seconds`.
async fn request_rate(
    clients: &Arc<Clients>,
    callers: usize,
    seconds: u64,
    request: impl Fn(&Clients, usize) -> reqwest::RequestBuilder + Send + Sync + 'static,
) -> f64 {
    let request = Arc::new(request);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut workers = JoinSet::new();
    for caller in 0..callers {
        let clients = clients.clone();
        let request = request.clone();
        workers.spawn(async move {
            let mut ok = 0u64;
            while Instant::now() < deadline {
                if let Ok(response) = request(&clients, caller).send().await
                    && response.status().is_success()
                {
                    ok += 1;
                }
            }
            ok
        });
    }
    let mut total = 0;
    while let Some(ok) = workers.join_next().await {
        total += ok.unwrap_or(0);
    }
    total as f64 / seconds as f64
}

async fn read_probes(clients: &Arc<Clients>, callers: usize) -> Value {
    let healthz = request_rate(clients, callers, 5, |c, _| c.http.get(c.url("/healthz"))).await;
    let store = request_rate(clients, callers, 5, |c, i| {
        c.http
            .get(c.url(&format!("/stores/{}", c.crew.store_id)))
            .bearer_auth(c.crew.customer(i))
    })
    .await;
    let orders = request_rate(clients, callers, 5, |c, i| {
        c.http
            .post(c.url("/orders"))
            .bearer_auth(c.crew.customer(i))
            .json(&c.order_body())
    })
    .await;
    println!(
        "requests/s with {callers} clients: /healthz {healthz:.0}, GET /stores/{{id}} {store:.0} ({:.0}%), POST /orders {orders:.0} ({:.0}%)",
        100.0 * store / healthz,
        100.0 * orders / healthz
    );
    json!({
        "clients": callers,
        "healthzPerSecond": healthz,
        "getStorePerSecond": store,
        "postOrdersPerSecond": orders,
        "getStoreShare": store / healthz,
        "postOrdersShare": orders / healthz,
    })
}

pub async fn run(options: LifecycleOptions) -> anyhow::Result<()> {
    println!(
        "bench lifecycle: rates {:?}/s, {} s each, clients poll every {} ms",
        options.rates,
        options.duration.as_secs(),
        options.poll.as_millis()
    );
    let platform = Deployment::start(&options).await?;
    println!("the {} shape", platform.shape());
    let outcome = measure(&platform, &options).await;
    if outcome.is_err() {
        eprintln!("the platform's logs: {}", platform.log_hint());
    }
    let report = outcome?;
    platform.stop().await;
    write_json(&options.json, &report)?;
    println!("figures written to {}", options.json.display());
    Ok(())
}

async fn measure(platform: &Deployment, options: &LifecycleOptions) -> anyhow::Result<Value> {
    let clients = Arc::new(Clients::new(&platform.gateway_url(), options.poll).await?);
    // The first order also waits for nothing: `up` is ready only with the menus in its replica.
    clients.place(&clients.crew.customers[0]).await?;
    let (fresh, fresh_rate) = sweep(platform, &clients, options, "fresh log").await?;
    println!("sustained on a fresh log: {fresh_rate}/s");
    let reads = if options.probe_clients > 0 {
        Some(read_probes(&clients, options.probe_clients).await)
    } else {
        None
    };
    let backlog = if options.backlog > 0 {
        Some(backlog_drain(platform, &clients, options.backlog).await?)
    } else {
        None
    };
    let (full, full_rate, ballast) = if options.ballast > 0 {
        let ballast = ballast(&platform.kafka(), options.ballast).await?;
        let (full, rate) = sweep(platform, &clients, options, "log with ballast").await?;
        println!(
            "sustained with {} ballast records: {rate}/s ({:.0}% of the fresh log's)",
            options.ballast,
            100.0 * rate / fresh_rate.max(1e-9)
        );
        (Some(full), Some(rate), Some(ballast))
    } else {
        (None, None, None)
    };
    Ok(json!({
        "bench": "lifecycle",
        "shape": platform.shape(),
        "machine": machine(),
        "options": {
            "rates": options.rates,
            "secondsPerRate": options.duration.as_secs(),
            "pollMs": options.poll.as_millis() as u64,
            "stageP99LimitMs": STAGE_P99_LIMIT_MS,
        },
        "freshLog": {"rates": fresh, "sustainedRate": fresh_rate},
        "reads": reads,
        "backlog": backlog,
        "ballast": ballast,
        "fullLog": full.map(|rates| json!({"rates": rates, "sustainedRate": full_rate})),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_percentiles_come_from_bucket_deltas() {
        let page = |counts: [u64; 3]| {
            format!(
                "event_lag_seconds_bucket{{consumer=\"store\",type=\"OrderPlaced\",le=\"0.01\"}} {}\n\
                 event_lag_seconds_bucket{{consumer=\"store\",type=\"OrderPlaced\",le=\"0.1\"}} {}\n\
                 event_lag_seconds_bucket{{consumer=\"store\",type=\"OrderPlaced\",le=\"+Inf\"}} {}\n",
                counts[0], counts[1], counts[2]
            )
        };
        let before = event_lags(&page([10, 10, 10]));
        let after = event_lags(&page([10, 108, 110]));
        let key = ("store".to_owned(), "OrderPlaced".to_owned());
        // 100 new observations: 98 under 100 ms, 2 over.
        let (n, p50) = bucket_percentile(before.get(&key), &after[&key], 50.0).unwrap();
        assert_eq!(n, 100);
        assert_eq!(p50, 100.0);
        let (_, p99) = bucket_percentile(before.get(&key), &after[&key], 99.0).unwrap();
        assert!(p99.is_infinite());
        assert_eq!(
            bucket_percentile(Some(&after[&key]), &after[&key], 99.0),
            None
        );
    }

    /// Two replicas of one consumer each report the series (the serve shape): their buckets add
    /// up, so a stage counts every observation once.
    #[test]
    fn replicas_buckets_add_up() {
        let page = |under: u64, all: u64| {
            format!(
                "event_lag_seconds_bucket{{consumer=\"order\",type=\"OrderPlaced\",le=\"0.1\"}} {under}\n\
                 event_lag_seconds_bucket{{consumer=\"order\",type=\"OrderPlaced\",le=\"+Inf\"}} {all}\n"
            )
        };
        let both = event_lags(&format!("{}\n{}", page(3, 4), page(5, 6)));
        let key = ("order".to_owned(), "OrderPlaced".to_owned());
        assert_eq!(both[&key], vec![(0.1, 8), (f64::INFINITY, 10)]);
    }

    #[test]
    fn counters_are_summed_over_the_series_a_filter_picks() {
        let page = "events_consumed_total{consumer=\"store\",type=\"OrderPlaced\",outcome=\"applied\"} 5\n\
                    events_consumed_total{consumer=\"order\",type=\"OrderPlaced\",outcome=\"applied\"} 7\n\
                    events_consumed_total{consumer=\"order\",type=\"OrderPlaced\",outcome=\"duplicate\"} 1\n";
        assert_eq!(
            counter_total(page, "events_consumed_total", "outcome=\"applied\""),
            12.0
        );
        assert_eq!(
            counter_total(page, "events_consumed_total", "consumer=\"store\""),
            5.0
        );
    }
}
