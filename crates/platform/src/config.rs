//! Typed, layered configuration: defaults, then an optional TOML file, then `BAEDAL_*` environment
//! variables (`__` separates levels: `BAEDAL_KAFKA__BROKERS`). Loaded and validated once at start;
//! a bad value stops the process with a message naming the key.

use std::{
    collections::BTreeMap, fmt, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration,
};

use contracts::{EventType, Producer};
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use garde::Validate;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// The services of baedal, in the order `up` starts them (and their default ports 8081–8087).
#[derive(
    Clone,
    Copy,
    Debug,
    Hash,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum ServiceName {
    Order,
    Payment,
    Store,
    Delivery,
    Notification,
    Customer,
    Review,
}

impl ServiceName {
    /// In the order `up` starts them.
    pub const ALL: [ServiceName; 7] = [
        ServiceName::Order,
        ServiceName::Payment,
        ServiceName::Store,
        ServiceName::Delivery,
        ServiceName::Notification,
        ServiceName::Customer,
        ServiceName::Review,
    ];

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    fn default_port(self) -> u16 {
        8081 + Self::ALL.iter().position(|s| *s == self).unwrap_or(0) as u16
    }
}

impl fmt::Display for ServiceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for ServiceName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|name| name.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<_> = Self::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown service `{s}` (known: {})", known.join(", "))
            })
    }
}

/// A value that must not show up in logs or debug output.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// 32 random bytes, hex-encoded: what `up` and the tests sign with.
    pub fn random() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A signing key must carry at least 32 bytes of randomness. Its length is checked, and that
    /// it is not a repeated pattern such as `aaaa…` (which a length check alone lets through).
    fn is_strong(&self) -> bool {
        let distinct = self
            .0
            .bytes()
            .collect::<std::collections::BTreeSet<u8>>()
            .len();
        self.0.len() >= 32 && distinct >= 10
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

// No `deny_unknown_fields`: the services' sections are collected by `sections` instead, and a
// top-level key that is neither the platform's nor a service's is refused by `baedal`. Each
// field's rules are declared on it (`garde`); `validate` adds the few that span fields.
#[derive(Serialize, Deserialize, Clone, Debug, Validate)]
#[serde(default)]
pub struct Settings {
    /// Where `up` keeps its SQLite files and the embedded broker's log.
    #[garde(skip)]
    pub data_dir: PathBuf,
    #[garde(dive)]
    pub database: DatabaseSettings,
    #[garde(dive)]
    pub kafka: KafkaSettings,
    #[garde(dive)]
    pub auth: AuthSettings,
    #[garde(dive)]
    pub http: HttpSettings,
    #[garde(dive)]
    pub outbox: OutboxSettings,
    #[garde(dive)]
    pub live: LiveSettings,
    #[garde(dive)]
    pub consumer: ConsumerSettings,
    #[garde(skip)]
    pub log: LogSettings,
    #[garde(dive)]
    pub trace: TraceSettings,
    #[garde(skip)]
    pub metrics: MetricsSettings,
    /// Checked by `validate`, each under its own name (`services.order.url`).
    #[garde(skip)]
    pub services: BTreeMap<ServiceName, ServiceSettings>,
    #[garde(dive)]
    pub gateway: GatewaySettings,
    /// The services' own sections (`[order]`, `[store]`, `[customer]`, `[notification]`,
    /// `[review]`), kept as written: each service's crate reads and checks its own with
    /// [`Settings::section`], and `baedal` checks that every section belongs to a service.
    #[serde(flatten)]
    #[garde(skip)]
    pub sections: BTreeMap<String, figment::value::Value>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// A URL template; `{service}` becomes the service name and `{data_dir}` the data directory.
    /// `sqlite://{data_dir}/{service}.db` (default) or `postgres://user@host:5432/baedal_{service}`.
    #[garde(custom(database_url))]
    pub url: String,
    /// Pool size for PostgreSQL. SQLite always uses one writer connection.
    #[garde(range(min = 1))]
    pub max_connections: u32,
}

#[derive(Serialize, Deserialize, Clone, Debug, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSettings {
    /// `host:port[,host:port]`
    #[garde(custom(not_blank))]
    pub brokers: String,
    /// Each producing context publishes to `<topic_prefix>.<context>` (`baedal.order`, ...), and
    /// each consumer subscribes to the topics of the contexts whose events it takes.
    #[garde(custom(topic_name))]
    pub topic_prefix: String,
    #[garde(custom(topic_name))]
    pub dlq_topic: String,
    #[garde(range(min = 1))]
    pub partitions: i32,
    /// Prepended to each consumer group (the service name); lets isolated tests share a broker.
    #[garde(skip)]
    pub group_prefix: String,
    /// Low for the embedded broker, whose fetches do not wake on new data.
    #[serde(with = "humantime_serde")]
    #[garde(skip)]
    pub fetch_wait_max: Duration,
    /// How long a publish may wait for an unreachable broker before the relay retries it.
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub message_timeout: Duration,
    /// How long the topics baedal creates keep a record (`retention.ms`, with
    /// `cleanup.policy=delete`), so the log does not grow without bound. Topics that exist
    /// already keep their own settings.
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub retention: Duration,
    /// A stable name for this replica (the Kubernetes manifests give each pod's name). With it, consumers join their
    /// groups as static members (`group.instance.id`), so a replica that restarts takes its old
    /// place back at once, even as the group's leader, instead of the group waiting out the dead
    /// process's session and, on the embedded broker, stalling when that was the leader.
    #[serde(default)]
    #[garde(skip)]
    pub instance_id: Option<String>,
}

/// Where the process serves `/metrics` for Prometheus: a listener of its own, never a public
/// port (the gateway's or a service's).
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    pub bind: SocketAddr,
}

/// Where spans go. Every process makes spans (their ids are in the logs and in the `traceparent`
/// it hands on); only with an endpoint are they exported.
#[derive(Serialize, Deserialize, Clone, Debug, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct TraceSettings {
    /// OTLP over HTTP (protobuf), e.g. `http://otel-collector:4318/v1/traces`. None: not exported.
    #[garde(custom(http_endpoint))]
    pub otlp_endpoint: Option<url::Url>,
    /// Share of the traces started here that are exported, 0.0 to 1.0. A trace joined from a
    /// caller follows the caller's choice.
    #[garde(range(min = 0.0, max = 1.0))]
    pub sample_ratio: f64,
    /// `service.name` of the exported spans. None: the one service `serve` runs, else `baedal`.
    #[garde(skip)]
    pub service_name: Option<String>,
}

impl Default for TraceSettings {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            sample_ratio: 1.0,
            service_name: None,
        }
    }
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// HS256 key of user tokens: the gateway signs them at login, every service verifies them.
    /// `up` makes one per data directory; `serve` requires it.
    #[garde(custom(signing_key))]
    pub jwt_secret: Option<Secret>,
    /// HS256 key of service-to-service calls, different from `jwt_secret` so that no user token
    /// can pass for a service. `up` makes one per data directory; `serve` requires it.
    #[garde(custom(signing_key))]
    pub service_secret: Option<Secret>,
    /// How long a user token is valid.
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub token_ttl: Duration,
    /// How long the gateway trusts that an account exists and is enabled before it looks again:
    /// the longest a deleted or disabled account's tokens keep working.
    #[serde(with = "humantime_serde")]
    #[garde(custom(within_a_minute))]
    pub account_check: Duration,
}

impl AuthSettings {
    /// Fills the secrets that are not configured with what `make` gives for their key.
    pub fn fill_missing(
        &mut self,
        mut make: impl FnMut(&str) -> anyhow::Result<Secret>,
    ) -> anyhow::Result<()> {
        if self.jwt_secret.is_none() {
            self.jwt_secret = Some(make("jwt_secret")?);
        }
        if self.service_secret.is_none() {
            self.service_secret = Some(make("service_secret")?);
        }
        Ok(())
    }

    /// For processes that must be configured by hand (`serve`): both keys are set.
    pub fn require_secrets(&self) -> Result<(), ConfigError> {
        for (key, secret) in [
            ("auth.jwt_secret", &self.jwt_secret),
            ("auth.service_secret", &self.service_secret),
        ] {
            if secret.is_none() {
                let variable = format!("BAEDAL_{}", key.to_uppercase().replace('.', "__"));
                return Err(ConfigError::key(
                    key,
                    format!("is required: set {variable} to at least 32 random characters"),
                ));
            }
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Timeout of one synchronous call between services.
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub call_timeout: Duration,
    #[garde(dive)]
    pub breaker: BreakerSettings,
    /// Largest request body a service accepts.
    #[garde(range(min = 1))]
    pub body_limit_bytes: usize,
    /// A client must send a request's headers within this, or its connection is closed (so a
    /// slow client cannot hold a connection open by trickling bytes).
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub header_read_timeout: Duration,
    /// A client must send a request's whole body within this, or gets 408.
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub body_read_timeout: Duration,
    /// Open connections per listener; more wait to be accepted.
    #[garde(range(min = 1))]
    pub max_connections: usize,
}

#[derive(Serialize, Deserialize, Clone, Debug, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSettings {
    /// Share of failed calls in the window that opens the breaker.
    #[garde(custom(share))]
    pub failure_rate: f64,
    #[garde(range(min = 1))]
    pub window: usize,
    /// Calls needed in the window before the rate counts.
    #[garde(range(min = 1))]
    pub min_calls: usize,
    /// How long an open breaker fails fast before letting a trial call through.
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub open_for: Duration,
    #[garde(range(min = 1))]
    pub half_open_calls: usize,
}

#[derive(Serialize, Deserialize, Clone, Debug, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxSettings {
    /// The relay also wakes at once when a service commits events; polling catches the rest
    /// (another replica's rows, rows left by a crash).
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub poll_interval: Duration,
    #[garde(range(min = 1))]
    pub batch_size: i64,
    /// Sent rows are kept this long for inspection, then deleted.
    #[serde(with = "humantime_serde")]
    #[garde(skip)]
    pub retention: Duration,
}

/// The live streams (Server-Sent Events) services serve.
#[derive(Serialize, Deserialize, Clone, Debug, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct LiveSettings {
    /// A comment line this often keeps an idle stream open through proxies and tells a client
    /// its connection is alive.
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub heartbeat: Duration,
    /// On SQLite the follower also reads new changes this often, besides right after each commit.
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub poll_interval: Duration,
    /// Changes are kept this long for clients that resume with `Last-Event-ID`.
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub retention: Duration,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
            retention: Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerSettings {
    /// Attempts before an event that keeps failing goes to the dead-letter topic.
    #[garde(range(min = 1))]
    pub max_attempts: u32,
    /// The wait before the second attempt; each next one waits twice as long.
    #[serde(with = "humantime_serde")]
    #[garde(skip)]
    pub backoff: Duration,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
    /// `tracing` filter directives, e.g. `info,order=debug`
    pub filter: String,
}

/// How log lines are written: for a person at a terminal, or for a collector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Serialize, Deserialize, Clone, Debug, Validate)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    /// Where the service listens.
    #[garde(skip)]
    pub bind: SocketAddr,
    /// How the gateway and other services reach it.
    #[garde(custom(http_url))]
    pub url: url::Url,
    /// Overrides `database.url` for this service.
    #[serde(default)]
    #[garde(custom(optional_database_url))]
    pub database_url: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    #[garde(skip)]
    pub bind: SocketAddr,
    #[garde(custom(optional_database_url))]
    pub database_url: Option<String>,
    /// Upstream timeout for one proxied request.
    #[serde(with = "humantime_serde")]
    #[garde(custom(positive))]
    pub timeout: Duration,
    /// Origins allowed by CORS; `*` allows any.
    #[garde(skip)]
    pub cors_origins: Vec<String>,
    #[garde(skip)]
    pub rate_limit: RateLimitSettings,
    /// Live streams one signed-in caller may hold open at once; zero: no bound.
    #[garde(skip)]
    pub streams_per_client: u32,
}

/// Requests per client address (the peer of the gateway's connection). Zero turns a limit off.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitSettings {
    pub per_second: u32,
    pub burst: u32,
    /// Logins are limited apart and tighter: they are where passwords get guessed.
    pub logins_per_minute: u32,
    pub login_burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            per_second: 200,
            burst: 400,
            logins_per_minute: 60,
            login_burst: 20,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        let services = ServiceName::ALL
            .into_iter()
            .map(|name| {
                let port = name.default_port();
                let settings = ServiceSettings {
                    bind: SocketAddr::from(([127, 0, 0, 1], port)),
                    url: local_url(SocketAddr::from(([127, 0, 0, 1], port))),
                    database_url: None,
                };
                (name, settings)
            })
            .collect();
        Self {
            data_dir: PathBuf::from("data"),
            database: DatabaseSettings::default(),
            kafka: KafkaSettings::default(),
            auth: AuthSettings::default(),
            http: HttpSettings::default(),
            outbox: OutboxSettings::default(),
            live: LiveSettings::default(),
            consumer: ConsumerSettings::default(),
            log: LogSettings::default(),
            trace: TraceSettings::default(),
            metrics: MetricsSettings::default(),
            services,
            gateway: GatewaySettings::default(),
            sections: BTreeMap::new(),
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: "sqlite://{data_dir}/{service}.db".into(),
            max_connections: 10,
        }
    }
}

impl KafkaSettings {
    /// The topic `producer` publishes to.
    pub fn topic_of(&self, producer: Producer) -> String {
        producer.topic(&self.topic_prefix)
    }

    /// Every event topic, one per producing context.
    pub fn event_topics(&self) -> Vec<String> {
        Producer::ALL.iter().map(|p| self.topic_of(*p)).collect()
    }

    /// The topics that carry `types`: what a consumer of them subscribes to.
    pub fn topics_carrying(&self, types: &[EventType]) -> Vec<String> {
        let producers: std::collections::BTreeSet<Producer> =
            types.iter().map(|t| t.producer()).collect();
        producers.into_iter().map(|p| self.topic_of(p)).collect()
    }

    /// The topic an event of type `event_type` (its `type` header) belongs on.
    pub fn topic_for(&self, event_type: &str) -> Result<String, contracts::UnknownEventType> {
        Ok(self.topic_of(event_type.parse::<EventType>()?.producer()))
    }
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            topic_prefix: contracts::DEFAULT_TOPIC_PREFIX.into(),
            dlq_topic: contracts::DEFAULT_DLQ_TOPIC.into(),
            // One partition: on one machine each group has one consumer, so more partitions add no
            // parallelism, and the embedded broker's cost grows with the partitions every fetch
            // names. Scale-out deployments set more (the Kubernetes config: 6).
            partitions: 1,
            group_prefix: String::new(),
            fetch_wait_max: Duration::from_millis(10),
            message_timeout: Duration::from_secs(10),
            retention: Duration::from_secs(7 * 24 * 3600),
            instance_id: None,
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            service_secret: None,
            token_ttl: Duration::from_secs(3600),
            account_check: Duration::from_secs(30),
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_millis(500),
            breaker: BreakerSettings::default(),
            body_limit_bytes: 256 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failure_rate: 0.5,
            window: 20,
            min_calls: 5,
            open_for: Duration::from_secs(10),
            half_open_calls: 1,
        }
    }
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(200),
            batch_size: 200,
            retention: Duration::from_secs(24 * 3600),
        }
    }
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            backoff: Duration::from_millis(200),
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            filter: "info,librdkafka=warn,rdkafka=warn,tansu=warn,sqlx=warn".into(),
        }
    }
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            // Loopback unless told otherwise: `up` is for one machine.
            bind: SocketAddr::from(([127, 0, 0, 1], 8088)),
            database_url: None,
            timeout: Duration::from_secs(10),
            cors_origins: vec!["*".into()],
            rate_limit: RateLimitSettings::default(),
            // A browser holds at most six HTTP/1.1 connections per origin; a few tabs fit.
            streams_per_client: 8,
        }
    }
}

/// A configuration value that cannot work, named by its key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    pub fn key(key: &str, problem: impl fmt::Display) -> Self {
        Self(format!("`{key}` {problem}"))
    }

    /// What `garde` found wrong, each problem named by its key under `prefix` (`""` at the top).
    fn report(prefix: &str, report: &garde::Report) -> Self {
        let problems: Vec<String> = report
            .iter()
            .map(|(path, error)| {
                let key = [prefix.to_owned(), path.to_string()]
                    .into_iter()
                    .filter(|part| !part.is_empty())
                    .collect::<Vec<_>>()
                    .join(".");
                format!("`{key}` {error}")
            })
            .collect();
        Self(problems.join("; "))
    }
}

/// Settings one service owns: its own section of the file (`[order]`, `[store]`, ...), typed and
/// checked by that service's crate (`garde` rules on the fields), never by the platform.
pub trait Section: Serialize + DeserializeOwned + Default + garde::Validate<Context = ()> {
    /// The section's key: `order` for `[order]` and `BAEDAL_ORDER__…`.
    const KEY: &'static str;
}

impl Settings {
    /// A service's section: its defaults, overlaid with what the file and the environment say,
    /// then checked. An error names the key (`order.payment_deadline`).
    pub fn section<T: Section>(&self) -> Result<T, ConfigError> {
        let mut figment = Figment::from(Serialized::default(T::KEY, T::default()));
        if let Some(written) = self.sections.get(T::KEY) {
            figment = figment.merge(Serialized::default(T::KEY, written));
        }
        let section: T = figment
            .extract_inner(T::KEY)
            .map_err(|error| ConfigError(describe_in(T::KEY, error)))?;
        section
            .validate()
            .map_err(|report| ConfigError::report(T::KEY, &report))?;
        Ok(section)
    }

    /// Replaces a service's section (tests and tools that start services with other settings).
    pub fn set_section<T: Section>(&mut self, section: &T) {
        let value = figment::value::Value::serialize(section).expect("a section serializes");
        self.sections.insert(T::KEY.to_owned(), value);
    }

    /// Changes a service's section in place, starting from what it is now (which must be valid).
    pub fn change_section<T: Section>(
        &mut self,
        change: impl FnOnce(&mut T),
    ) -> Result<(), ConfigError> {
        let mut section = self.section::<T>()?;
        change(&mut section);
        self.set_section(&section);
        Ok(())
    }
}

/// A `garde` rule for durations that must be more than zero:
/// `#[garde(custom(platform::config::positive))]`.
pub fn positive(value: &Duration, _: &()) -> garde::Result {
    if value.is_zero() {
        Err(garde::Error::new("must be more than zero"))
    } else {
        Ok(())
    }
}

/// A deleted account must stop working within a minute.
fn within_a_minute(value: &Duration, context: &()) -> garde::Result {
    positive(value, context)?;
    if *value > Duration::from_secs(60) {
        return Err(garde::Error::new(
            "must be at most 1m: a deleted account must stop working within a minute",
        ));
    }
    Ok(())
}

/// A share that is more than none and at most all: (0, 1].
fn share(value: &f64, _: &()) -> garde::Result {
    if *value > 0.0 && *value <= 1.0 {
        Ok(())
    } else {
        Err(garde::Error::new(format!("must be in (0, 1], got {value}")))
    }
}

fn not_blank(value: &str, _: &()) -> garde::Result {
    if value.trim().is_empty() {
        Err(garde::Error::new("must not be empty"))
    } else {
        Ok(())
    }
}

/// A legal Kafka topic name, with room for the `.<context>` a prefix gets.
fn topic_name(value: &str, _: &()) -> garde::Result {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if value.is_empty() || value.len() > 200 || !value.chars().all(legal) {
        return Err(garde::Error::new(format!(
            "{value:?} is not a legal Kafka topic name (letters, digits, `.`, `_`, `-`)"
        )));
    }
    Ok(())
}

fn database_url(url: &str, _: &()) -> garde::Result {
    if url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        Ok(())
    } else {
        Err(garde::Error::new(format!(
            "must start with sqlite: or postgres://, got {url:?}"
        )))
    }
}

fn optional_database_url(url: &Option<String>, context: &()) -> garde::Result {
    url.as_deref()
        .map_or(Ok(()), |url| database_url(url, context))
}

fn http_url(url: &url::Url, _: &()) -> garde::Result {
    if matches!(url.scheme(), "http" | "https") && url.has_host() {
        Ok(())
    } else {
        Err(garde::Error::new(format!(
            "must be an http(s) URL, got {url}"
        )))
    }
}

/// The plain-HTTP URL of a service listening at `addr`.
pub fn local_url(addr: SocketAddr) -> url::Url {
    url::Url::parse(&format!("http://{addr}")).expect("an http URL of a socket address parses")
}

fn http_endpoint(url: &Option<url::Url>, _: &()) -> garde::Result {
    match url {
        Some(url) if !matches!(url.scheme(), "http" | "https") => Err(garde::Error::new(format!(
            "must be an http(s) URL, got {url}"
        ))),
        _ => Ok(()),
    }
}

fn signing_key(secret: &Option<Secret>, _: &()) -> garde::Result {
    match secret {
        Some(secret) if !secret.is_strong() => Err(garde::Error::new(
            "must be at least 32 random characters (for example `openssl rand -hex 32`)",
        )),
        _ => Ok(()),
    }
}

/// `describe` for an error inside a section: its paths start at the section's key.
fn describe_in(key: &str, error: figment::Error) -> String {
    error
        .into_iter()
        .map(|mut e| {
            // `extract_inner` appends the section's key to the path; it belongs in front.
            if e.path.last().map(String::as_str) == Some(key) {
                e.path.pop();
            }
            if e.path.first().map(String::as_str) != Some(key) {
                e.path.insert(0, key.to_owned());
            }
            describe(e)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl Settings {
    /// Defaults, then the file (if given; it must exist), then `BAEDAL_*` variables.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        Self::extract(figment.merge(env_provider()))
    }

    pub fn extract(figment: Figment) -> Result<Self, ConfigError> {
        let settings: Settings = figment
            .extract()
            .map_err(|error| ConfigError(describe(error)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// The rules declared on the fields, then the few that span fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Validate::validate(self).map_err(|report| ConfigError::report("", &report))?;
        for name in ServiceName::ALL {
            let Some(service) = self.services.get(&name) else {
                return Err(ConfigError::key(
                    &format!("services.{name}"),
                    "is missing; every service needs a bind address and url",
                ));
            };
            service
                .validate()
                .map_err(|report| ConfigError::report(&format!("services.{name}"), &report))?;
        }
        if self.kafka.event_topics().contains(&self.kafka.dlq_topic) {
            return Err(ConfigError::key(
                "kafka.dlq_topic",
                "must differ from the event topics (<kafka.topic_prefix>.<context>)",
            ));
        }
        if self.auth.service_secret.is_some() && self.auth.service_secret == self.auth.jwt_secret {
            return Err(ConfigError::key(
                "auth.service_secret",
                "must differ from auth.jwt_secret",
            ));
        }
        Ok(())
    }

    /// The database URL of one service, with the template filled in.
    pub fn database_url(&self, service: ServiceName) -> String {
        let template = self
            .services
            .get(&service)
            .and_then(|s| s.database_url.clone())
            .unwrap_or_else(|| self.database.url.clone());
        self.fill(&template, service.as_str())
    }

    pub fn gateway_database_url(&self) -> String {
        let template = self
            .gateway
            .database_url
            .clone()
            .unwrap_or_else(|| self.database.url.clone());
        self.fill(&template, "gateway")
    }

    fn fill(&self, template: &str, service: &str) -> String {
        template
            .replace("{service}", service)
            .replace("{data_dir}", &self.data_dir.display().to_string())
    }

    pub fn service(&self, name: ServiceName) -> &ServiceSettings {
        // validate() guarantees every service has an entry.
        &self.services[&name]
    }
}

fn env_provider() -> Env {
    // BAEDAL_TEST_* variables steer the test harness and BAEDAL_CONFIG names the file: neither is
    // a setting.
    Env::prefixed("BAEDAL_")
        .filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            // Command-line options that also read the environment.
            !key.starts_with("test_") && key != "config" && key != "broker_bin"
        })
        .split("__")
}

fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            if key.is_empty() {
                format!("{}{source}", e.kind)
            } else {
                format!("`{key}`: {}{source}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_name_reads_the_same_in_config_logs_and_the_command_line() {
        for name in ServiceName::ALL {
            assert_eq!(serde_json::to_value(name).unwrap(), name.as_str());
            assert_eq!(name.as_str().parse::<ServiceName>(), Ok(name));
            assert_eq!(name.to_string(), name.as_str());
        }
        assert!(
            "orders"
                .parse::<ServiceName>()
                .unwrap_err()
                .contains("order, payment")
        );
    }
    use figment::providers::Serialized;

    fn with_toml(toml: &str) -> Result<Settings, ConfigError> {
        Settings::extract(
            Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(toml)),
        )
    }

    #[test]
    fn defaults_are_valid_and_fill_database_templates() {
        let settings = with_toml("").unwrap();
        assert_eq!(
            settings.database_url(ServiceName::Order),
            "sqlite://data/order.db"
        );
        assert_eq!(settings.service(ServiceName::Review).bind.port(), 8087);
        assert_eq!(settings.gateway.bind.port(), 8088);
    }

    #[test]
    fn a_wrong_type_names_the_key() {
        let error = with_toml("[kafka]\npartitions = \"many\"").unwrap_err();
        assert!(error.to_string().contains("`kafka.partitions`"), "{error}");
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let error = with_toml("[kafka]\nbrokerz = \"x:1\"").unwrap_err();
        assert!(error.to_string().contains("brokerz"), "{error}");
    }

    #[test]
    fn a_bad_value_names_the_key() {
        let error = with_toml("[http.breaker]\nfailure_rate = 2.0").unwrap_err();
        assert!(
            error.to_string().contains("`http.breaker.failure_rate`"),
            "{error}"
        );
        let error = with_toml("[database]\nurl = \"mysql://x\"").unwrap_err();
        assert!(error.to_string().contains("`database.url`"), "{error}");
        // The dead letters may not go to one of the event topics.
        let error =
            with_toml("[kafka]\ntopic_prefix = \"t\"\ndlq_topic = \"t.store\"").unwrap_err();
        assert!(error.to_string().contains("`kafka.dlq_topic`"), "{error}");
        let error = with_toml("[kafka]\ntopic_prefix = \"bad topic\"").unwrap_err();
        assert!(
            error.to_string().contains("`kafka.topic_prefix`"),
            "{error}"
        );
        let error = with_toml("[auth]\njwt_secret = \"short\"").unwrap_err();
        assert!(error.to_string().contains("`auth.jwt_secret`"), "{error}");
        // Long enough, but no randomness in it.
        let error = with_toml(&format!("[auth]\njwt_secret = \"{}\"", "a".repeat(40))).unwrap_err();
        assert!(error.to_string().contains("`auth.jwt_secret`"), "{error}");
        let key = Secret::random();
        let same = format!(
            "[auth]\njwt_secret = \"{0}\"\nservice_secret = \"{0}\"",
            key.expose()
        );
        let error = with_toml(&same).unwrap_err();
        assert!(
            error.to_string().contains("`auth.service_secret`"),
            "{error}"
        );
    }

    #[test]
    // figment's Jail closure must return figment's own (large) error type.
    #[allow(clippy::result_large_err)]
    fn environment_overrides_file_and_names_the_variable_source() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BAEDAL_KAFKA__BROKERS", "kafka-0:9092");
            jail.set_env("BAEDAL_TEST_BACKEND", "postgres");
            let settings = Settings::load(None).unwrap();
            assert_eq!(settings.kafka.brokers, "kafka-0:9092");
            jail.set_env("BAEDAL_OUTBOX__BATCH_SIZE", "lots");
            let error = Settings::load(None).unwrap_err().to_string();
            assert!(error.contains("`outbox.batch_size`"), "{error}");
            assert!(error.contains("BAEDAL_"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn secrets_do_not_print() {
        let mut settings = Settings::default();
        let key = Secret::random();
        settings.auth.jwt_secret = Some(key.clone());
        assert!(!format!("{settings:?}").contains(key.expose()));
    }

    #[test]
    fn random_keys_are_strong_and_differ() {
        let (a, b) = (Secret::random(), Secret::random());
        assert_ne!(a, b);
        assert!(a.is_strong());
        assert_eq!(a.expose().len(), 64);
    }

    #[test]
    fn serving_requires_both_keys() {
        let mut auth = AuthSettings::default();
        let error = auth.require_secrets().unwrap_err().to_string();
        assert!(error.contains("BAEDAL_AUTH__JWT_SECRET"), "{error}");
        auth.fill_missing(|_| Ok(Secret::random())).unwrap();
        assert!(auth.require_secrets().is_ok());
    }
}
