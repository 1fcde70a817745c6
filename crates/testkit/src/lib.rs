//! What each service's own integration tests stand on (`crates/services/*/tests`), so that a
//! failure points at one crate: the embedded broker (one per test binary), one service started
//! alone on port 0 with a fresh SQLite database and a topic of the test's own, tokens for its
//! callers, its peers' events put on the log as they would publish them, and the events it
//! publishes read back off the log.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, OnceLock},
    time::Duration,
};

use contracts::{Event, EventBody, EventType, Producer};
use platform::{
    AuthKeys, Role, RunningService, ServiceContext, ServiceName, Settings,
    broker::{BrokerPlan, BrokerProcess, free_port},
    bus::{Decoded, EventBus, Outgoing, decode},
    config::{KafkaSettings, Secret},
};
use rdkafka::consumer::{Consumer, StreamConsumer};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How a service crate starts itself: its `run`.
pub type Run = fn(ServiceContext, TcpListener) -> anyhow::Result<RunningService>;

/// The `baedal-broker` binary: `BAEDAL_BROKER_BIN`, or the one the workspace built beside this
/// test (`cargo test` at the root builds it, as the whole suite's tests need it).
fn broker_program() -> PathBuf {
    if let Some(program) = std::env::var_os("BAEDAL_BROKER_BIN") {
        return program.into();
    }
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> → target/<profile>/baedal-broker
    let program = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join(platform::broker::PROGRAM))
        .expect("a target directory");
    assert!(
        program.exists(),
        "{} is missing: run `cargo build -p baedal --bin baedal-broker` (a `cargo test` of the \
         whole workspace builds it), or set BAEDAL_BROKER_BIN",
        program.display()
    );
    program
}

/// The broker this test binary shares, started on first use. Its supervisor runs on a thread of
/// its own, since each test has its own runtime; the broker ends with the test binary.
pub fn broker_addr() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let (started, addr) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("broker runtime");
            runtime.block_on(async move {
                let dir = tempfile::tempdir().expect("a broker directory");
                let listen = SocketAddr::from(([127, 0, 0, 1], free_port().expect("a port")));
                let plan = BrokerPlan::new(broker_program(), listen, dir.path().join("broker.db"));
                let broker = BrokerProcess::start(plan).await.expect("the broker starts");
                started.send(broker.addr()).expect("the test binary waits");
                std::future::pending::<()>().await;
                drop((broker, dir));
            });
        });
        addr.recv().expect("the broker starts")
    })
}

/// Kafka settings with a topic and consumer groups of this test's own, on `brokers`.
pub fn kafka_settings(brokers: &str) -> KafkaSettings {
    let id = uuid::Uuid::new_v4().simple().to_string();
    KafkaSettings {
        brokers: brokers.to_owned(),
        topic_prefix: format!("t-{id}"),
        dlq_topic: format!("t-{id}.dlq"),
        partitions: 3,
        group_prefix: format!("{id}-"),
        fetch_wait_max: Duration::from_millis(10),
        message_timeout: Duration::from_secs(3),
        ..KafkaSettings::default()
    }
}

/// Settings for one service on port 0: a SQLite file in `dir`, and a topic prefix and consumer
/// groups of this test's own on the shared broker.
pub fn settings(dir: &std::path::Path) -> Settings {
    let mut settings = Settings {
        data_dir: dir.to_owned(),
        ..Settings::default()
    };
    settings.database.url = "sqlite://{data_dir}/{service}.db".into();
    settings.kafka = KafkaSettings {
        partitions: 1,
        ..kafka_settings(&broker_addr().to_string())
    };
    settings
        .auth
        .fill_missing(|_| Ok(Secret::random()))
        .expect("secrets");
    settings.outbox.poll_interval = Duration::from_millis(50);
    settings.consumer.backoff = Duration::from_millis(50);
    for service in settings.services.values_mut() {
        service.bind = SocketAddr::from(([127, 0, 0, 1], 0));
    }
    settings
}

/// Points calls to `peer` at an address nobody listens on, with a short timeout: the service
/// under test runs as it would with that peer down.
pub fn peer_down(settings: &mut Settings, peer: ServiceName) {
    let port = free_port().expect("a port");
    if let Some(service) = settings.services.get_mut(&peer) {
        service.url = platform::config::local_url(([127, 0, 0, 1], port).into());
    }
    settings.http.call_timeout = Duration::from_millis(500);
}

/// One service, started alone against the shared broker and a database of its own.
pub struct ServiceUnderTest {
    pub url: String,
    pub http: reqwest::Client,
    pub settings: Arc<Settings>,
    running: Option<RunningService>,
    keys: AuthKeys,
    bus: EventBus,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl ServiceUnderTest {
    /// Starts `name` with `run` and the test settings as they are.
    pub async fn alone(name: ServiceName, migrations: &'static Migrator, run: Run) -> Self {
        Self::start(name, migrations, run, |_| {}).await
    }

    /// Starts `name` with `run` and waits until its consumers have joined their groups.
    pub async fn start(
        name: ServiceName,
        migrations: &'static Migrator,
        run: Run,
        configure: impl FnOnce(&mut Settings),
    ) -> Self {
        let dir = tempfile::tempdir().expect("a data directory");
        let mut settings = settings(dir.path());
        configure(&mut settings);
        let listener = TcpListener::bind(settings.service(name).bind)
            .await
            .expect("a port");
        let addr = listener.local_addr().expect("an address");
        let url = format!("http://{addr}");
        if let Some(service) = settings.services.get_mut(&name) {
            service.url = platform::config::local_url(addr);
        }
        let settings = Arc::new(settings);
        let bus = EventBus::new(&settings.kafka).expect("a producer");
        bus.ensure_topics().await.expect("the topics");
        let shutdown = CancellationToken::new();
        let ctx = ServiceContext::connect(name, settings.clone(), migrations, shutdown.clone())
            .await
            .expect("the service connects");
        let running = run(ctx, listener).expect("the service runs");
        tokio::time::timeout(Duration::from_secs(60), running.started.wait())
            .await
            .expect("the consumers join within a minute");
        Self {
            url,
            http: reqwest::Client::new(),
            keys: AuthKeys::new(&settings.auth).expect("the auth keys"),
            settings,
            running: Some(running),
            bus,
            shutdown,
            _dir: dir,
        }
    }

    /// A bearer token for `subject` in `role`, as the gateway would issue it.
    pub fn token(&self, subject: &str, role: Role) -> String {
        self.keys.issue(subject, role, subject).expect("a token")
    }

    /// A request to the service as `subject` in `role`.
    pub fn as_user(
        &self,
        method: reqwest::Method,
        path: &str,
        subject: &str,
        role: Role,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(self.token(subject, role))
    }

    /// `method path` as `subject` in `role`, with `body` as JSON when given: the answer's status
    /// and JSON body (`null` when it has none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        (subject, role): (&str, Role),
        body: Option<serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let mut request = self.as_user(method, path, subject, role);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request).await
    }

    /// `GET path` as `subject` in `role`, which must answer 200: its JSON body.
    pub async fn get(&self, path: &str, caller: (&str, Role)) -> serde_json::Value {
        let (status, body) = self.call(reqwest::Method::GET, path, caller, None).await;
        assert_eq!(status, reqwest::StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// A request to the service as another service (its internal routes).
    pub fn as_service(
        &self,
        method: reqwest::Method,
        path: &str,
        caller: ServiceName,
    ) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(self.keys.service_token(caller).expect("a service token"))
    }

    /// Puts `event` on its producer's topic, as that service's relay would; returns its id.
    pub async fn publish(&self, event: impl Into<Event>) -> String {
        let event_id = uuid::Uuid::now_v7().to_string();
        self.publish_with_id(&event_id, event).await;
        event_id
    }

    /// Puts `event` on the log with a given id: the same id twice is a redelivery.
    pub async fn publish_with_id(&self, event_id: &str, event: impl Into<Event>) {
        let event = event.into();
        let body = EventBody {
            timestamp: platform::db::now_ms(),
            event,
        };
        let record = Outgoing {
            event_id: event_id.to_owned(),
            event_type: body.event.event_type().to_owned(),
            key: body.event.key().to_owned(),
            payload: serde_json::to_string(&body).expect("an event serializes"),
            source: "testkit".into(),
            traceparent: None,
        };
        self.bus
            .publish(&record)
            .await
            .expect("the event is published");
    }

    /// A reader of `producer`'s topic from its beginning: what the service published.
    pub fn log_of(&self, producer: Producer) -> EventLog {
        let group = format!("testkit-{}", uuid::Uuid::new_v4().simple());
        let consumer: StreamConsumer = self
            .bus
            .consumer_config(&group)
            .create()
            .expect("a consumer");
        consumer
            .subscribe(&[&self.settings.kafka.topic_of(producer)])
            .expect("a subscription");
        EventLog { consumer }
    }

    /// Stops the service gracefully.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(running) = self.running.take() {
            running.stopped().await.expect("the service stops cleanly");
        }
    }
}

impl Drop for ServiceUnderTest {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The events on one topic, read in order.
pub struct EventLog {
    consumer: StreamConsumer,
}

impl EventLog {
    /// The next event of `kind` within `timeout`, passing over events of other kinds.
    pub async fn next(&mut self, kind: EventType, timeout: Duration) -> Event {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let message = tokio::time::timeout_at(deadline, self.consumer.recv())
                .await
                .unwrap_or_else(|_| panic!("no {kind} within {timeout:?}"))
                .expect("a record");
            if let Decoded::Event(incoming) = decode(&message, EventType::ALL)
                && incoming.event.kind() == kind
            {
                return incoming.event;
            }
        }
    }
}

/// The example of `kind` (`contracts::examples`), for a test to change the fields it is about.
pub fn example(kind: EventType) -> Event {
    contracts::examples()
        .into_iter()
        .find(|event| event.kind() == kind)
        .expect("every event type has an example")
}

/// `order_id` canceled by the order service, as its example says otherwise.
pub fn order_canceled(order_id: &str) -> contracts::OrderCanceled {
    let Event::OrderCanceled(canceled) = example(EventType::OrderCanceled) else {
        unreachable!("the example of OrderCanceled")
    };
    contracts::OrderCanceled {
        order_id: order_id.into(),
        ..canceled
    }
}

/// A request that a test expects to be answered, with any status: a failure to send or to hear
/// back is the test's failure.
pub trait Sent {
    fn sent(self) -> impl std::future::Future<Output = reqwest::Response> + Send;
}

impl Sent for reqwest::RequestBuilder {
    async fn sent(self) -> reqwest::Response {
        self.send().await.expect("the server answers")
    }
}

/// Sends `request`: the status and the JSON body (`null` when there is none).
pub async fn answer(request: reqwest::RequestBuilder) -> (reqwest::StatusCode, serde_json::Value) {
    let response = request.sent().await;
    let status = response.status();
    let bytes = response.bytes().await.expect("a body");
    let body = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON body")
    };
    (status, body)
}

/// Polls `check` every 100 ms until it returns `Some`; panics naming `what` after `seconds`.
pub async fn eventually<T, F, Fut>(seconds: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
