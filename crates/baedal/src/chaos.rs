//! `baedal chaos`: load with customers, owners and riders (orders completed, canceled, rejected,
//! reviewed, reviews deleted) against a `baedal up` child, while the whole `up` or its broker
//! alone is killed with SIGKILL at moments spread over the run and started again. Then the
//! platform settles, and the audit must find nothing wrong and no saga may be left where it
//! cannot move on by itself.
//!
//! Clients behave as real ones do across an outage: every call is retried on a connection error
//! or a 5xx, and an order is placed with an `Idempotency-Key`, so a retried placement is the same
//! order.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::{
    child::{UpConfig, UpProcess, write_json},
    cluster::ServeCluster,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The whole `up` process (and with it the broker).
    Up,
    /// The broker alone; `up` starts it again by itself (in the `serve` shape, the run does).
    Broker,
    /// One service process of the `serve` shape, each in turn (either order replica, the
    /// gateway, every other service).
    Service,
}

impl std::str::FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "up" => Ok(Target::Up),
            "broker" => Ok(Target::Broker),
            "service" => Ok(Target::Service),
            other => Err(format!(
                "unknown kill target `{other}` (up, broker, service)"
            )),
        }
    }
}

/// How the platform runs during the chaos.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    /// One `baedal up` and its broker, on SQLite or PostgreSQL.
    Up,
    /// `baedal serve` per service (order twice) and the broker apart, on PostgreSQL.
    Serve,
}

impl Shape {
    pub fn default_targets(self) -> Vec<Target> {
        match self {
            Shape::Up => vec![Target::Up, Target::Broker],
            Shape::Serve => vec![Target::Service, Target::Service, Target::Broker],
        }
    }
}

/// The platform under chaos, in either shape.
// One per run, so the size of its larger variant costs nothing.
#[allow(clippy::large_enum_variant)]
enum Deployment {
    Up(UpProcess),
    Serve(ServeCluster),
}

impl Deployment {
    fn gateway_url(&self) -> String {
        match self {
            Deployment::Up(up) => up.config.gateway_url(),
            Deployment::Serve(cluster) => cluster.gateway.clone(),
        }
    }

    fn settings(&self) -> anyhow::Result<platform::Settings> {
        match self {
            Deployment::Up(up) => up.config.settings(),
            Deployment::Serve(cluster) => Ok(cluster.settings()),
        }
    }

    /// Kills `target` (the `n`-th kill of a service picks which) and brings it back. Returns
    /// what happened, for the log.
    async fn kill(&mut self, target: Target, n: usize) -> anyhow::Result<String> {
        let down = Instant::now();
        let what = match (self, target) {
            (Deployment::Up(up), Target::Up) => {
                up.kill().await;
                up.restart().await?;
                "up".to_owned()
            }
            (Deployment::Up(up), Target::Broker) => {
                let pid = up.broker_pid().context("the broker's pid")?;
                crate::child::signal(pid, "-KILL");
                return Ok("the broker (SIGKILL); up restarts it".into());
            }
            (Deployment::Serve(cluster), Target::Broker) => {
                cluster.kill_and_restart("broker").await?;
                "broker".to_owned()
            }
            (Deployment::Serve(cluster), Target::Service) => {
                let names: Vec<String> = cluster
                    .names()
                    .into_iter()
                    .filter(|name| name != "broker")
                    .collect();
                let name = names[n % names.len()].clone();
                cluster.kill_and_restart(&name).await?;
                name
            }
            (_, target) => bail!("{target:?} cannot be killed in this shape"),
        };
        Ok(format!(
            "{what} (SIGKILL), back in {:.1} s",
            down.elapsed().as_secs_f64()
        ))
    }

    async fn stop(self) {
        match self {
            Deployment::Up(up) => up.stop(false).await,
            Deployment::Serve(cluster) => cluster.stop(false).await,
        }
    }

    fn dir(&self) -> PathBuf {
        match self {
            Deployment::Up(up) => up.config.dir.clone(),
            Deployment::Serve(cluster) => cluster.dir.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ChaosOptions {
    pub shape: Shape,
    pub orders: usize,
    pub kills: usize,
    pub targets: Vec<Target>,
    pub clients: usize,
    /// `database.url` of the platform; SQLite files in its data directory when absent.
    pub database_url: Option<String>,
    /// How long the platform may take to settle after the load.
    pub settle: Duration,
    pub json: PathBuf,
    pub broker_bin: PathBuf,
}

/// What happens to an order, decided by its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Cancel,
    Reject,
    Complete,
    Review,
    ReviewDeleted,
}

fn fate(n: usize) -> Fate {
    match n % 20 {
        0..=4 => Fate::Cancel,
        5..=9 => Fate::Reject,
        10..=15 => Fate::Complete,
        16..=18 => Fate::Review,
        _ => Fate::ReviewDeleted,
    }
}

struct Clients {
    http: reqwest::Client,
    gateway: String,
    crew: crate::bench::DemoCrew,
}

/// What a call answered, once it answered at all.
struct Answer {
    status: u16,
    body: Value,
}

impl Clients {
    async fn new(gateway: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()?;
        let crew = crate::bench::DemoCrew::login(&http, gateway).await?;
        Ok(Self {
            http,
            gateway: gateway.to_owned(),
            crew,
        })
    }

    /// Sends until the platform answers with something other than an outage (connection
    /// refused, 502, 503, 504), for at most two minutes.
    async fn call(
        &self,
        request: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> anyhow::Result<Answer> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let sent = request(&self.http).send().await;
            match sent {
                Ok(response) if !matches!(response.status().as_u16(), 502..=504) => {
                    let status = response.status().as_u16();
                    let body = response.json().await.unwrap_or(Value::Null);
                    return Ok(Answer { status, body });
                }
                _ if Instant::now() > deadline => bail!("the platform stayed away for 2 minutes"),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }

    /// Calls until the answer is not one of `wait` (the state is not there yet).
    async fn until(
        &self,
        wait: &[u16],
        request: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> anyhow::Result<Answer> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let answer = self.call(&request).await?;
            if !wait.contains(&answer.status) || Instant::now() > deadline {
                return Ok(answer);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    /// One order through its fate. Returns where it ended, as the client saw it.
    async fn order(&self, n: usize) -> anyhow::Result<&'static str> {
        let customer = self.crew.customer(n);
        let rider = self.crew.rider(n);
        let key = uuid::Uuid::new_v4().to_string();
        let body = json!({
            "storeId": self.crew.store_id,
            "items": [{"foodId": "tuna-kimbap", "quantity": 1 + n % 3}],
            "deliveryAddress": {"text": "서울 강남구 테헤란로 1", "lat": 37.501, "lng": 127.036},
            "payment": {"method": "card", "cardToken": "tok_chaos"},
        });
        // 409 request-in-progress: the first try with this key is still being paid for.
        let placed = self
            .until(&[409], |http| {
                http.post(self.url("/orders"))
                    .bearer_auth(customer)
                    .header("idempotency-key", &key)
                    .json(&body)
            })
            .await?;
        if placed.status != 201 {
            return Ok("not placed");
        }
        let order = placed.body["orderId"]
            .as_str()
            .context("no orderId")?
            .to_owned();
        let store_order = self.url(&format!("/stores/{}/orders/{order}", self.crew.store_id));
        let owner = |action: &str, body: Value| {
            let url = format!("{store_order}/{action}");
            move |http: &reqwest::Client| http.post(&url).bearer_auth(&self.crew.owner).json(&body)
        };
        match fate(n) {
            Fate::Cancel => {
                let answer = self
                    .call(|http| {
                        http.post(self.url(&format!("/orders/{order}/cancel")))
                            .bearer_auth(customer)
                    })
                    .await?;
                return Ok(if answer.status == 202 {
                    "cancel asked"
                } else {
                    "cancel refused"
                });
            }
            Fate::Reject => {
                let answer = self
                    .until(&[404], owner("reject", json!({"reason": "chaos"})))
                    .await?;
                return Ok(if answer.status == 200 {
                    "rejected"
                } else {
                    "reject refused"
                });
            }
            _ => {}
        }
        let accepted = self
            .until(&[404], owner("accept", json!({"cookMinutes": 5})))
            .await?;
        if accepted.status != 200 {
            return Ok("accept refused");
        }
        for step in ["cook-start", "cook-finish"] {
            self.call(owner(step, json!({}))).await?;
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        let delivery = loop {
            let list = self
                .call(|http| {
                    http.get(self.url("/deliveries/available?lat=37.4979&lng=127.0276&radiusKm=3"))
                        .bearer_auth(rider)
                })
                .await?;
            if let Some(id) = list.body.as_array().and_then(|l| {
                l.iter()
                    .find(|d| d["orderId"] == order.as_str())
                    .and_then(|d| d["deliveryId"].as_str())
            }) {
                break id.to_owned();
            }
            if Instant::now() > deadline {
                return Ok("no delivery");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        for step in ["pick", "complete"] {
            self.call(|http| {
                http.post(self.url(&format!("/deliveries/{delivery}/{step}")))
                    .bearer_auth(rider)
            })
            .await?;
        }
        let confirmed = self
            .until(&[409], |http| {
                http.post(self.url(&format!("/orders/{order}/confirm-receipt")))
                    .bearer_auth(customer)
            })
            .await?;
        if confirmed.status != 200 {
            return Ok("not confirmed");
        }
        if matches!(fate(n), Fate::Review | Fate::ReviewDeleted) {
            let review = self
                .until(&[409], |http| {
                    http.post(self.url("/reviews"))
                        .bearer_auth(customer)
                        .json(&json!({"orderId": order, "rating": 5, "text": "chaos"}))
                })
                .await?;
            if fate(n) == Fate::ReviewDeleted
                && let Some(review) = review.body["reviewId"].as_str()
            {
                self.call(|http| {
                    http.delete(self.url(&format!("/reviews/{review}")))
                        .bearer_auth(customer)
                })
                .await?;
                return Ok("reviewed and deleted");
            }
            return Ok("reviewed");
        }
        Ok("completed")
    }
}

pub async fn run(options: ChaosOptions) -> anyhow::Result<Value> {
    for target in &options.targets {
        let fits = match options.shape {
            Shape::Up => *target != Target::Service,
            Shape::Serve => *target != Target::Up,
        };
        if !fits {
            bail!(
                "{target:?} is not a process of the {:?} shape",
                options.shape
            );
        }
    }
    // Short deadlines, so a crashed payment or a lost order settles within the run.
    let env: Vec<(String, String)> = vec![
        ("BAEDAL_ORDER__PAYMENT_DEADLINE".into(), "3s".into()),
        ("BAEDAL_ORDER__DEADLINE_SWEEP".into(), "500ms".into()),
        ("BAEDAL_STORE__DEADLINE_SWEEP".into(), "500ms".into()),
    ];
    println!(
        "chaos: {} orders, {} clients, {} kills of {:?} in the {:?} shape",
        options.orders, options.clients, options.kills, options.targets, options.shape
    );
    let deployment = match options.shape {
        Shape::Up => {
            let mut config = UpConfig::fresh("chaos", options.broker_bin.clone())?;
            config.env.extend(env);
            if let Some(url) = &options.database_url {
                config
                    .env
                    .push(("BAEDAL_DATABASE__URL".into(), url.clone()));
                // Eight databases, each with its pool and, where a service serves live streams,
                // a LISTEN connection, on one PostgreSQL (100 connections by default) beside
                // whatever else uses it: a small pool each, as in the serve shape.
                config
                    .env
                    .push(("BAEDAL_DATABASE__MAX_CONNECTIONS".into(), "4".into()));
            }
            println!("  the platform in {}", config.dir.display());
            Deployment::Up(UpProcess::start(config).await?)
        }
        Shape::Serve => {
            let url = options
                .database_url
                .as_deref()
                .filter(|url| url.starts_with("postgres"))
                .context("the serve shape runs on PostgreSQL: pass --database-url postgres://…/{service}")?;
            let mut env = env;
            env.extend([
                ("BAEDAL_GATEWAY__RATE_LIMIT__PER_SECOND".into(), "0".into()),
                (
                    "BAEDAL_GATEWAY__RATE_LIMIT__LOGINS_PER_MINUTE".into(),
                    "0".into(),
                ),
            ]);
            let cluster = ServeCluster::start(url, &options.broker_bin, &env).await?;
            println!("  the platform in {}", cluster.dir.display());
            crate::demo::seed_remote(&cluster.settings(), &cluster.gateway)
                .await
                .context("seeding the demo data")?;
            Deployment::Serve(cluster)
        }
    };
    let dir = deployment.dir();
    let result = shake(deployment, &options).await;
    if result.is_err() {
        eprintln!("the platform's logs: {}", dir.display());
    }
    let (report, deployment) = result?;
    deployment.stop().await;
    write_json(&options.json, &report)?;
    Ok(report)
}

async fn shake(
    deployment: Deployment,
    options: &ChaosOptions,
) -> anyhow::Result<(Value, Deployment)> {
    let clients = Arc::new(Clients::new(&deployment.gateway_url()).await?);
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let outcomes = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<
        &'static str,
        usize,
    >::new()));
    let mut load = JoinSet::new();
    for _ in 0..options.clients.max(1) {
        let (clients, next, done, outcomes) = (
            clients.clone(),
            next.clone(),
            done.clone(),
            outcomes.clone(),
        );
        let total = options.orders;
        load.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    return anyhow::Ok(());
                }
                let outcome = clients.order(n).await?;
                *outcomes
                    .lock()
                    .expect("outcomes")
                    .entry(outcome)
                    .or_default() += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    // The kills, spread over the run.
    let mut deployment = deployment;
    let mut kills = Vec::new();
    // Services are killed in turn, so a run with enough kills reaches every one.
    let mut service_kills = 0;
    for k in 0..options.kills {
        let due = options.orders * (k + 1) / (options.kills + 1);
        while done.load(Ordering::Relaxed) < due && !load.is_empty() {
            if let Some(finished) = load.try_join_next() {
                finished??;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let target = options.targets[k % options.targets.len()];
        let at = started.elapsed();
        let what = deployment.kill(target, service_kills).await?;
        if target == Target::Service {
            service_kills += 1;
        }
        println!("  kill {} at {:.1} s: {what}", k + 1, at.as_secs_f64());
        kills.push(
            json!({"atSeconds": at.as_secs_f64(), "target": format!("{target:?}"), "what": what}),
        );
    }
    while let Some(finished) = load.join_next().await {
        finished??;
    }
    let load_seconds = started.elapsed().as_secs_f64();
    println!(
        "  load done: {} orders in {load_seconds:.1} s",
        done.load(Ordering::Relaxed)
    );

    // Settle: the audit clean, and no saga where it cannot move on by itself.
    let settings = deployment.settings()?;
    let settling = Instant::now();
    let (audit, waiting) = loop {
        let audit = crate::audit::run(&settings, Duration::ZERO).await?;
        let waiting = unsettled(&settings).await?;
        let clean = audit.violations() == 0 && waiting.is_empty();
        if clean || settling.elapsed() > options.settle {
            break (audit, waiting);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let settle_seconds = settling.elapsed().as_secs_f64();
    audit.print();
    for (status, count) in &waiting {
        println!("orders still {status}: {count}");
    }
    let violations = audit.violations() + waiting.len();
    println!(
        "chaos: {} orders, {} kills, settled in {settle_seconds:.1} s: {violations} violation(s)",
        done.load(Ordering::Relaxed),
        kills.len()
    );
    let outcomes = outcomes.lock().expect("outcomes").clone();
    let report = json!({
        "shape": format!("{:?}", options.shape),
        "orders": done.load(Ordering::Relaxed),
        "clients": options.clients,
        "kills": kills,
        "outcomes": outcomes,
        "loadSeconds": load_seconds,
        "settleSeconds": settle_seconds,
        "audit": audit,
        "unsettled": waiting,
        "violations": violations,
    });
    Ok((report, deployment))
}

/// Orders in a status the platform itself must move them out of: a payment that never finished,
/// a cancel the store never decided.
async fn unsettled(settings: &platform::Settings) -> anyhow::Result<Vec<(String, i64)>> {
    let url = settings.database_url(platform::ServiceName::Order);
    let db =
        platform::Db::connect(&url, 1, crate::migrations(platform::ServiceName::Order)).await?;
    let mut waiting = Vec::new();
    for status in ["PaymentPending", "CancelRequested"] {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE status = $1")
            .bind(status)
            .fetch_one(db.pool())
            .await?;
        if count > 0 {
            waiting.push((status.to_owned(), count));
        }
    }
    db.close().await;
    Ok(waiting)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(shape: Shape, targets: Vec<Target>, database_url: Option<&str>) -> ChaosOptions {
        ChaosOptions {
            shape,
            orders: 1,
            kills: 1,
            targets,
            clients: 1,
            database_url: database_url.map(str::to_owned),
            settle: Duration::ZERO,
            json: PathBuf::from("unused.json"),
            broker_bin: PathBuf::from("unused"),
        }
    }

    /// A run that cannot do what it is asked is refused before anything starts.
    #[tokio::test]
    async fn a_target_outside_the_shape_or_serve_without_postgres_is_refused() {
        let error = run(options(Shape::Serve, vec![Target::Up], None))
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("not a process of the Serve shape"),
            "{error}"
        );
        let error = run(options(Shape::Up, vec![Target::Service], None))
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("not a process of the Up shape"),
            "{error}"
        );
        let sqlite = Some("sqlite:///tmp/x/{service}.db");
        let error = run(options(
            Shape::Serve,
            Shape::Serve.default_targets(),
            sqlite,
        ))
        .await
        .unwrap_err();
        assert!(error.to_string().contains("runs on PostgreSQL"), "{error}");
    }

    #[test]
    fn fates_cover_every_path_in_every_twenty_orders() {
        let fates: Vec<Fate> = (0..20).map(fate).collect();
        for wanted in [
            Fate::Cancel,
            Fate::Reject,
            Fate::Complete,
            Fate::Review,
            Fate::ReviewDeleted,
        ] {
            assert!(fates.contains(&wanted), "{wanted:?}");
        }
    }
}
