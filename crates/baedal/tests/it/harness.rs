//! Test harness: one broker process per test binary, and for each test its own topic, consumer
//! groups and fresh databases (SQLite files in a temporary directory, or new PostgreSQL databases
//! when `BAEDAL_TEST_BACKEND=postgres`), with every service on port 0.

use std::{
    net::SocketAddr,
    sync::{Mutex, OnceLock},
    time::Duration,
};

use baedal::{
    Plan, Platform,
    broker::{BrokerPlan, free_port},
};
use platform::{ServiceName, Settings};
use rdkafka::{
    ClientConfig, Message,
    consumer::{Consumer, StreamConsumer},
    message::{Headers, OwnedMessage},
};
use serde_json::{Value, json};
use testkit::Sent as _;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const PG_URL: &str = "postgres://postgres@127.0.0.1:5432";

/// The `baedal-broker` this build made.
pub const BROKER_PROGRAM: &str = env!("CARGO_BIN_EXE_baedal-broker");

/// A broker plan on a free port with its log in `dir`.
pub fn broker_plan(dir: &std::path::Path) -> BrokerPlan {
    BrokerPlan::new(
        BROKER_PROGRAM.into(),
        SocketAddr::from(([127, 0, 0, 1], free_port().expect("free port"))),
        dir.join("broker.db"),
    )
}

/// The broker this test binary shares (the same one each service's own tests use).
pub use testkit::{broker_addr, kafka_settings};

/// The spans of the traces tests watch, as the process's tracer ends them. Every service of every
/// test in this binary shares the tracer (one process, one subscriber); a test watches the trace
/// it starts, so what others do in parallel neither shows nor piles up.
#[derive(Clone, Debug, Default)]
pub struct Spans(std::sync::Arc<Mutex<Watched>>);

#[derive(Debug, Default)]
struct Watched {
    traces: std::collections::HashSet<opentelemetry::trace::TraceId>,
    ended: Vec<opentelemetry_sdk::trace::SpanData>,
}

impl Spans {
    /// Keeps the spans of `trace` from now on.
    pub fn watch(&self, trace: opentelemetry::trace::TraceId) {
        self.0.lock().unwrap().traces.insert(trace);
    }

    /// The ended spans of `trace`.
    pub fn of(
        &self,
        trace: opentelemetry::trace::TraceId,
    ) -> Vec<opentelemetry_sdk::trace::SpanData> {
        let watched = self.0.lock().unwrap();
        watched
            .ended
            .iter()
            .filter(|span| span.span_context.trace_id() == trace)
            .cloned()
            .collect()
    }
}

impl opentelemetry_sdk::trace::SpanExporter for Spans {
    fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> impl std::future::Future<Output = opentelemetry_sdk::error::OTelSdkResult> + Send {
        let mut watched = self.0.lock().unwrap();
        for span in batch {
            if watched.traces.contains(&span.span_context.trace_id()) {
                watched.ended.push(span);
            }
        }
        std::future::ready(Ok(()))
    }
}

/// Installs this binary's logging and tracing (once): spans are made as in `up`, and kept in
/// memory for the traces a test watches. Logs stay off unless `RUST_LOG` asks for them.
pub fn spans() -> &'static Spans {
    static SPANS: OnceLock<Spans> = OnceLock::new();
    SPANS.get_or_init(|| {
        let spans = Spans::default();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .build();
        let log = platform::config::LogSettings {
            filter: "off".into(),
            ..Default::default()
        };
        platform::telemetry::install(&log, provider);
        spans
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend the end-to-end suite runs on, from `BAEDAL_TEST_BACKEND`.
    pub fn from_env() -> Self {
        match std::env::var("BAEDAL_TEST_BACKEND").as_deref() {
            Ok("postgres") => {
                require_postgres("BAEDAL_TEST_BACKEND=postgres");
                Backend::Postgres
            }
            _ => Backend::Sqlite,
        }
    }

    /// Every backend a storage test can run on here: SQLite always, PostgreSQL when its server
    /// answers (see [`Backend::postgres`]).
    pub fn each() -> Vec<Self> {
        std::iter::once(Backend::Sqlite)
            .chain(Backend::postgres())
            .collect()
    }

    /// PostgreSQL, for a test that needs it, if its server answers on 127.0.0.1:5432. A plain
    /// `cargo test` on a machine without one skips such a test and says so;
    /// `BAEDAL_TEST_REQUIRE_POSTGRES=1` (set by `./scripts/test`) makes a missing server fail
    /// the test instead, so the suite can never pass by skipping.
    pub fn postgres() -> Option<Self> {
        if postgres_answers() {
            return Some(Backend::Postgres);
        }
        if std::env::var("BAEDAL_TEST_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            require_postgres("BAEDAL_TEST_REQUIRE_POSTGRES=1");
        }
        eprintln!("skipped the PostgreSQL part: no server answers on {PG_ADDR}");
        None
    }
}

const PG_ADDR: &str = "127.0.0.1:5432";

fn postgres_answers() -> bool {
    static ANSWERS: OnceLock<bool> = OnceLock::new();
    *ANSWERS.get_or_init(|| {
        std::net::TcpStream::connect_timeout(&PG_ADDR.parse().unwrap(), Duration::from_secs(2))
            .is_ok()
    })
}

fn require_postgres(why: &str) {
    assert!(
        postgres_answers(),
        "{why}, but no PostgreSQL server answers on {PG_ADDR}"
    );
}

/// Fresh databases for one test, removed when dropped (PostgreSQL ones with `cleanup`).
pub struct Databases {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    prefix: String,
    created: Mutex<Vec<String>>,
}

impl Databases {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            dir: tempfile::tempdir().expect("temp dir"),
            prefix: format!("t{}", &Uuid::new_v4().simple().to_string()[..12]),
            created: Mutex::new(Vec::new()),
        }
    }

    /// A URL template for `database.url`.
    pub fn template(&self) -> String {
        match self.backend {
            Backend::Sqlite => format!("sqlite://{}/{{service}}.db", self.dir.path().display()),
            Backend::Postgres => {
                for name in ServiceName::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .chain(["gateway"])
                {
                    self.created
                        .lock()
                        .unwrap()
                        .push(format!("{}_{name}", self.prefix));
                }
                format!("{PG_URL}/{}_{{service}}", self.prefix)
            }
        }
    }

    /// One database URL, for tests below the service level.
    pub fn url(&self, name: &str) -> String {
        match self.backend {
            Backend::Sqlite => format!("sqlite://{}/{name}.db", self.dir.path().display()),
            Backend::Postgres => {
                let db = format!("{}_{name}", self.prefix);
                self.created.lock().unwrap().push(db.clone());
                format!("{PG_URL}/{db}")
            }
        }
    }

    /// Drops the PostgreSQL databases this test made.
    pub async fn cleanup(&self) {
        let names: Vec<String> = std::mem::take(&mut *self.created.lock().unwrap());
        if names.is_empty() {
            return;
        }
        sqlx::any::install_default_drivers();
        if let Ok(pool) = sqlx::AnyPool::connect(&format!("{PG_URL}/postgres")).await {
            for name in names {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&pool)
                    .await;
            }
            pool.close().await;
        }
    }
}

/// Settings for a whole platform on port 0 against the shared broker.
pub fn settings(databases: &Databases) -> Settings {
    let mut settings = Settings {
        data_dir: databases.dir.path().to_owned(),
        ..Settings::default()
    };
    settings.database.url = databases.template();
    // Tests run two at a time, one of them maybe a chaos cluster of nine processes, on one
    // PostgreSQL with 100 connections: a small pool per service.
    settings.database.max_connections = 4;
    settings.kafka = kafka_settings(&broker_addr().to_string());
    settings
        .auth
        .fill_missing(|_| Ok(platform::config::Secret::random()))
        .unwrap();
    settings.outbox.poll_interval = std::time::Duration::from_millis(50);
    settings.consumer.backoff = std::time::Duration::from_millis(50);
    for service in settings.services.values_mut() {
        service.bind = SocketAddr::from(([127, 0, 0, 1], 0));
    }
    settings.gateway.bind = SocketAddr::from(([127, 0, 0, 1], 0));
    settings.metrics.bind = SocketAddr::from(([127, 0, 0, 1], 0));
    settings
}

/// A running platform driven only through its gateway, as a user would.
pub struct TestApp {
    pub platform: Option<Platform>,
    pub gateway: String,
    pub http: reqwest::Client,
    pub databases: Databases,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> Self {
        spans();
        let databases = Databases::new(Backend::from_env());
        let mut settings = settings(&databases);
        configure(&mut settings);
        let platform = Platform::start(settings, &Plan::everything(), CancellationToken::new())
            .await
            .expect("platform starts");
        platform
            .started(Duration::from_secs(60))
            .await
            .expect("consumers join");
        baedal::demo::seed(&platform).await.expect("demo data");
        platform.open();
        let gateway = platform.gateway_url().expect("gateway");
        Self {
            platform: Some(platform),
            gateway,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            databases,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway)
    }

    pub async fn login(&self, username: &str) -> String {
        let response = self
            .http
            .post(self.url("/auth/login"))
            .json(&json!({"username": username, "password": baedal::demo::PASSWORD}))
            .sent()
            .await;
        assert_eq!(response.status(), 200, "login as {username}");
        response.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .sent()
            .await;
        read(response).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .sent()
            .await;
        read(response).await
    }

    /// The demo store of `owner` as customers see it, once the order service's replica has it.
    pub async fn store_of(&self, token: &str, owner: &str) -> Value {
        let owner_id = baedal::demo::subject_id(owner);
        let (status, stores) = self.get(token, "/stores").await;
        assert_eq!(status, 200);
        let store = stores
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["ownerId"] == owner_id.as_str())
            .expect("demo store")
            .clone();
        let (status, detail) = self
            .get(
                token,
                &format!("/stores/{}", store["storeId"].as_str().unwrap()),
            )
            .await;
        assert_eq!(status, 200);
        detail
    }

    pub async fn stop(mut self) {
        if let Some(platform) = self.platform.take() {
            platform.stop().await.expect("clean shutdown");
        }
        self.databases.cleanup().await;
    }
}

async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.unwrap();
    if status >= 400 {
        assert_eq!(
            content_type, "application/problem+json",
            "error {status} must be a problem body: {body}"
        );
    }
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or(Value::String(body))
    };
    (status, value)
}

pub use testkit::eventually;

/// A record as a test reads it off a topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub key: String,
    pub headers: Vec<(String, String)>,
    pub value: Value,
}

impl Record {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a topic from the beginning as a fresh consumer group until `count` records arrived.
/// Records of `topics` so far (reads until `count` or `seconds`); order holds within a partition
/// only.
pub async fn read_topic(
    brokers: &str,
    topics: &[String],
    count: usize,
    seconds: u64,
) -> Vec<Record> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("probe-{}", Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("probe consumer");
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names).expect("subscribe");
    let mut records = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    while records.len() < count {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        if remaining.is_zero() {
            break;
        }
        match tokio::time::timeout(remaining, consumer.recv()).await {
            Ok(Ok(message)) => records.push(record(message.detach())),
            Ok(Err(error)) => panic!("reading {topics:?}: {error}"),
            Err(_) => break,
        }
    }
    records
}

fn record(message: OwnedMessage) -> Record {
    let headers = message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| {
                    (
                        h.key.to_owned(),
                        String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Record {
        key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
        headers,
        value: serde_json::from_slice(message.payload().unwrap_or_default()).unwrap_or(Value::Null),
    }
}

/// The body of `POST /orders`: `items` from the store, to an address in Gangnam, paid by `card`.
pub fn order_body(store_id: &str, items: Value, card: &str) -> Value {
    json!({
        "storeId": store_id,
        "items": items,
        "deliveryAddress": {"text": "서울 강남구 테헤란로 1", "lat": 37.501, "lng": 127.036},
        "payment": {"method": "card", "cardToken": card},
    })
}

impl TestApp {
    /// Places an order of two tuna kimbap and one tteokbokki at owner1's store, waiting for the
    /// order service's menu replica to know the store first. Returns (status, body).
    pub async fn order(&self, customer: &str, store_id: &str, card: &str) -> (u16, Value) {
        let items = json!([{"foodId": "tuna-kimbap", "quantity": 2}, {"foodId": "tteokbokki", "quantity": 1}]);
        let body = order_body(store_id, items, card);
        eventually(30, "the menu replica to know the store", || async {
            let (status, body) = self.post(customer, "/orders", body.clone()).await;
            // The demo menu arrives as a store (empty menu) and then its foods.
            let not_yet = status == 404 || body["code"] == "unknown-food";
            (!not_yet).then_some((status, body))
        })
        .await
    }

    /// The demo's first customer and first owner, signed in, and that owner's store.
    pub async fn cast(&self) -> (String, String, String) {
        let customer = self.login("customer1").await;
        let owner = self.login("owner1").await;
        let store = self.store_id(&customer, "owner1").await;
        (customer, owner, store)
    }

    /// Kills `service` and starts it again on the same databases and port.
    pub async fn restart(&mut self, service: platform::ServiceName) {
        let platform = self.platform.as_mut().expect("the platform runs");
        platform
            .restart(service)
            .await
            .expect("the service restarts");
    }

    /// The id of `owner`'s demo store.
    pub async fn store_id(&self, token: &str, owner: &str) -> String {
        self.store_of(token, owner).await["storeId"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Places a paid order and returns its id.
    pub async fn placed_order(&self, customer: &str, store_id: &str) -> String {
        let (status, body) = self.order(customer, store_id, "tok_visa").await;
        assert_eq!(status, 201, "{body}");
        body["orderId"].as_str().unwrap().to_owned()
    }

    /// Waits until the store has the order: it arrives through the event log, so a placed order
    /// may not be there yet. Returns the store's view of it.
    pub async fn store_has(&self, owner: &str, store_id: &str, order_id: &str) -> Value {
        eventually(30, "the store to receive the order", || async {
            let (status, order) = self
                .get(owner, &format!("/stores/{store_id}/orders/{order_id}"))
                .await;
            assert!(status == 200 || status == 404, "{status} {order}");
            (status == 200).then_some(order)
        })
        .await
    }

    /// The owner accepts the order once the store has it: it arrives through the event log, so
    /// a placed order may not be there yet.
    pub async fn accept(&self, owner: &str, store_id: &str, order_id: &str, minutes: i64) {
        eventually(30, "the store to receive the order", || async {
            let (status, body) = self
                .owner(
                    owner,
                    store_id,
                    order_id,
                    "accept",
                    json!({"cookMinutes": minutes}),
                )
                .await;
            assert!(status == 200 || status == 404, "{status} {body}");
            (status == 200).then_some(())
        })
        .await;
    }

    /// Takes a placed order the whole way: the owner accepts it once the store has it and cooks
    /// it, a rider near the store picks and delivers it, the customer confirms receipt. Returns
    /// the delivery's id.
    pub async fn complete_order(
        &self,
        customer: &str,
        owner: &str,
        rider: &str,
        store_id: &str,
        order_id: &str,
    ) -> String {
        self.accept(owner, store_id, order_id, 5).await;
        for action in ["cook-start", "cook-finish"] {
            let (status, body) = self
                .owner(owner, store_id, order_id, action, json!({}))
                .await;
            assert_eq!(status, 200, "{action}: {body}");
        }
        let near = "/deliveries/available?lat=37.5&lng=127.03&radiusKm=3";
        let delivery = self.open_delivery(rider, near, order_id).await["deliveryId"]
            .as_str()
            .unwrap()
            .to_owned();
        for step in ["pick", "complete"] {
            let (status, body) = self
                .post(rider, &format!("/deliveries/{delivery}/{step}"), json!({}))
                .await;
            assert_eq!(status, 200, "{step}: {body}");
        }
        eventually(30, "the order to be delivered", || async {
            let path = format!("/orders/{order_id}/confirm-receipt");
            (self.post(customer, &path, json!({})).await.0 == 200).then_some(())
        })
        .await;
        delivery
    }

    /// Waits until `rider` finds the order's delivery among the open ones `query` lists
    /// (`/deliveries/available?…`), and returns it.
    pub async fn open_delivery(&self, rider: &str, query: &str, order_id: &str) -> Value {
        eventually(30, "the delivery to open", || async {
            let (status, list) = self.get(rider, query).await;
            assert_eq!(status, 200, "{list}");
            list.as_array()?
                .iter()
                .find(|d| d["orderId"] == order_id)
                .cloned()
        })
        .await
    }

    /// Whether the open deliveries `query` lists to `rider` hold the order's.
    pub async fn lists_delivery(&self, rider: &str, query: &str, order_id: &str) -> bool {
        let (status, list) = self.get(rider, query).await;
        assert_eq!(status, 200, "{list}");
        list.as_array()
            .expect("a list")
            .iter()
            .any(|d| d["orderId"] == order_id)
    }

    /// An owner's command on an order: accept, reject, cook-start, cook-finish.
    pub async fn owner(
        &self,
        owner: &str,
        store_id: &str,
        order_id: &str,
        action: &str,
        body: Value,
    ) -> (u16, Value) {
        self.post(
            owner,
            &format!("/stores/{store_id}/orders/{order_id}/{action}"),
            body,
        )
        .await
    }

    /// Waits until the customer's mypage shows `status` for the order, and returns the entry.
    pub async fn mypage_shows(&self, customer: &str, order_id: &str, status: &str) -> Value {
        let path = format!("/mypage/orders/{order_id}");
        eventually(30, &format!("mypage to show {status}"), || async {
            let (code, body) = self.get(customer, &path).await;
            (code == 200 && body["status"] == status).then_some(body)
        })
        .await
    }

    /// Waits until mypage shows the order in `status` with its refund, and returns the entry.
    pub async fn mypage_refunded(&self, customer: &str, order_id: &str, status: &str) -> Value {
        let path = format!("/mypage/orders/{order_id}");
        eventually(
            30,
            &format!("mypage to show {status} and the refund"),
            || async {
                let (_, body) = self.get(customer, &path).await;
                (body["status"] == status && body["refunded"] == true).then_some(body)
            },
        )
        .await
    }

    /// Waits until the order service's own record of the order has `status`.
    pub async fn order_is(&self, customer: &str, order_id: &str, status: &str) -> Value {
        let path = format!("/orders/{order_id}");
        eventually(30, &format!("the order to be {status}"), || async {
            let (code, body) = self.get(customer, &path).await;
            (code == 200 && body["status"] == status).then_some(body)
        })
        .await
    }

    /// Publishes an event as another service would (for steps whose service is not built yet).
    pub async fn publish(&self, event: contracts::Event) {
        let settings = &self.platform.as_ref().unwrap().settings;
        let bus = platform::bus::EventBus::new(&settings.kafka).unwrap();
        let body = contracts::EventBody {
            timestamp: platform::db::now_ms(),
            event,
        };
        let record = platform::bus::Outgoing {
            event_id: Uuid::now_v7().to_string(),
            event_type: body.event.event_type().to_owned(),
            key: body.event.key().to_owned(),
            payload: serde_json::to_string(&body).unwrap(),
            source: "test".into(),
            traceparent: None,
        };
        bus.publish(&record).await.unwrap();
    }

    /// Records of the platform's topic so far (reads until `count` or `seconds`).
    pub async fn topic(&self, count: usize, seconds: u64) -> Vec<Record> {
        let settings = &self.platform.as_ref().unwrap().settings;
        read_topic(
            &settings.kafka.brokers,
            &settings.kafka.event_topics(),
            count,
            seconds,
        )
        .await
    }
}

/// The step of a mypage entry's timeline that reached `status`.
pub fn step<'a>(entry: &'a Value, status: &str) -> &'a Value {
    entry["timeline"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["status"] == status))
        .unwrap_or_else(|| panic!("no {status} in the timeline: {entry}"))
}

/// Asserts that `answer` is a problem with `status` and `code`.
#[track_caller]
pub fn refused((got, problem): (u16, Value), status: u16, code: &str) {
    assert_eq!(
        (got, problem["code"].as_str()),
        (status, Some(code)),
        "{problem}"
    );
}
