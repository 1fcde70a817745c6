//! The binary itself: bad configuration stops it at once with a message naming the key.

use std::{process::Command, time::Duration};
use testkit::Sent as _;

fn baedal() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_baedal"));
    command
        .env_remove("BAEDAL_CONFIG")
        .env("BAEDAL_BROKER_BIN", crate::harness::BROKER_PROGRAM);
    command
}

#[test]
fn bad_configuration_fails_fast_naming_the_key() {
    // The platform's settings, and the services' own sections, checked by their crates.
    for (key, value, named) in [
        ("BAEDAL_HTTP__CALL_TIMEOUT", "soon", "`http.call_timeout`"),
        ("BAEDAL_HTTP__CALL_TIMEOUT", "0s", "`http.call_timeout`"),
        ("BAEDAL_AUTH__ACCOUNT_CHECK", "5m", "`auth.account_check`"),
        ("BAEDAL_LOG__FORMAT", "xml", "`log.format`"),
        (
            "BAEDAL_SERVICES__ORDER__URL",
            "ftp://order",
            "`services.order.url`",
        ),
        (
            "BAEDAL_SERVICES__ORDER__URL",
            "order",
            "`services.order.url`",
        ),
        (
            "BAEDAL_DATABASE__URL",
            "mysql://db/baedal",
            "`database.url`",
        ),
        (
            "BAEDAL_ORDER__PAYMENT_DEADLINE",
            "soon",
            "`order.payment_deadline`",
        ),
        (
            "BAEDAL_STORE__ACCEPTANCE_DEADLINE",
            "0s",
            "`store.acceptance_deadline`",
        ),
        (
            "BAEDAL_STORE__ACCEPTANCE_DEADLINE",
            "1h",
            "`order.store_deadline`",
        ),
        (
            "BAEDAL_REVIEW__MAX_TEXT_CHARS",
            "0",
            "`review.max_text_chars`",
        ),
        (
            "BAEDAL_NOTIFICATION__CHANNEL__KIND",
            "webhook",
            "`notification.channel",
        ),
        ("BAEDAL_ORDERS__PAYMENT_DEADLINE", "1s", "`orders`"),
    ] {
        let output = baedal().args(["migrate"]).env(key, value).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{key}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{key}={value}: {stderr}");
    }
}

#[test]
fn a_missing_config_file_is_named() {
    let output = baedal()
        .args(["--config", "/nonexistent/baedal.toml", "migrate"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/baedal.toml"));
}

#[test]
fn serve_requires_strong_signing_keys() {
    let output = baedal().args(["serve", "order"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("auth.jwt_secret"), "{stderr}");
    assert!(stderr.contains("BAEDAL_AUTH__JWT_SECRET"), "{stderr}");

    // 16 characters, or 40 that are all the same, are not keys.
    for weak in ["0123456789abcdef", &"a".repeat(40)] {
        let output = baedal()
            .args(["serve", "order"])
            .env("BAEDAL_AUTH__JWT_SECRET", weak)
            .env(
                "BAEDAL_AUTH__SERVICE_SECRET",
                "9f2c41e8b7d05a63c1f4e8a2b6d9073e5c1a8f4b",
            )
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{weak}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("`auth.jwt_secret`"));
    }
}

#[test]
fn migrate_prepares_every_database() {
    let dir = tempfile::tempdir().unwrap();
    let output = baedal()
        .args(["migrate"])
        .env(
            "BAEDAL_DATABASE__URL",
            format!("sqlite://{}/{{service}}.db", dir.path().display()),
        )
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for service in ["order", "payment", "store", "review", "gateway"] {
        assert!(
            dir.path().join(format!("{service}.db")).exists(),
            "{service}"
        );
    }
}

#[test]
fn the_kubernetes_configuration_is_valid() {
    // Compiled in, so a build cache shared between checkouts never reads another one's copy.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("baedal.toml");
    std::fs::write(
        &file,
        include_str!("../../../../deploy/kubernetes/base/baedal.toml"),
    )
    .unwrap();
    let settings = platform::Settings::load(Some(&file))
        .unwrap_or_else(|error| panic!("deploy/kubernetes/base/baedal.toml: {error}"));
    assert_eq!(
        settings.database_url(platform::ServiceName::Order),
        "postgres://baedal@postgres:5432/baedal_order"
    );
    assert_eq!(
        settings
            .service(platform::ServiceName::Payment)
            .url
            .as_str(),
        "http://payment:8082/"
    );
    assert_eq!(settings.gateway.bind.port(), 8088);
}

/// `baedal up` as a user runs it, with every port moved aside so it can run next to anything.
struct Up {
    child: std::process::Child,
    gateway: String,
    broker: std::net::SocketAddr,
    stderr: std::path::PathBuf,
}

fn free_port() -> u16 {
    baedal::broker::free_port().unwrap()
}

impl Up {
    /// Starts `up` on `data_dir` with free ports, adjusted by `configure`.
    fn spawn(data_dir: &std::path::Path, configure: impl FnOnce(&mut Command)) -> Self {
        let broker = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
        let gateway_port = free_port();
        // Logs go to stdout and errors to stderr; the tests read both, in one file.
        let stderr = data_dir.with_extension("output");
        let output = std::fs::File::create(&stderr).unwrap();
        let mut command = baedal();
        command
            .args(["up", "--data-dir"])
            .arg(data_dir)
            .env("BAEDAL_KAFKA__BROKERS", broker.to_string())
            .env("BAEDAL_GATEWAY__BIND", format!("127.0.0.1:{gateway_port}"))
            .env("BAEDAL_METRICS__BIND", format!("127.0.0.1:{}", free_port()))
            .env("RUST_LOG", "warn")
            .stdout(output.try_clone().unwrap())
            .stderr(output);
        for service in platform::ServiceName::ALL {
            let port = free_port();
            let key = service.as_str().to_uppercase();
            command
                .env(
                    format!("BAEDAL_SERVICES__{key}__BIND"),
                    format!("127.0.0.1:{port}"),
                )
                .env(
                    format!("BAEDAL_SERVICES__{key}__URL"),
                    format!("http://127.0.0.1:{port}"),
                );
        }
        configure(&mut command);
        Self {
            child: command.spawn().unwrap(),
            gateway: format!("http://127.0.0.1:{gateway_port}"),
            broker,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for `/readyz` to answer 200, failing if `up` exits first.
    async fn ready(&mut self) {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("up exited with {status}: {}", self.stderr());
            }
            if let Ok(response) = http.get(format!("{}/readyz", self.gateway)).send().await
                && response.status() == 200
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "up never became ready: {}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits for `up` to exit, failing after `seconds`.
    fn exited_within(&mut self, seconds: u64) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "up did not exit within {seconds} s: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pid of the broker listening on `addr`, from its command line.
fn broker_pid(addr: std::net::SocketAddr) -> Option<u32> {
    let output = Command::new("pgrep")
        .args(["-f", &format!("baedal-broker --listen {addr} ")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .and_then(|pid| pid.trim().parse().ok())
}

async fn login(http: &reqwest::Client, gateway: &str, username: &str) -> String {
    let login: serde_json::Value = http
        .post(format!("{gateway}/auth/login"))
        .json(&serde_json::json!({"username": username, "password": "demo1234"}))
        .sent()
        .await
        .json()
        .await
        .unwrap();
    login["token"].as_str().unwrap().to_owned()
}

/// Places an order at owner1's demo store and returns (status, body).
async fn place_order(http: &reqwest::Client, gateway: &str) -> (u16, serde_json::Value) {
    let token = login(http, gateway, "customer1").await;
    let stores: serde_json::Value = http
        .get(format!("{gateway}/stores"))
        .bearer_auth(&token)
        .sent()
        .await
        .json()
        .await
        .unwrap();
    let owner1 = baedal::demo::subject_id("owner1");
    let store = stores
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["ownerId"] == owner1.as_str())
        .unwrap_or_else(|| panic!("the demo stores: {stores}"));
    let response = http
        .post(format!("{gateway}/orders"))
        .bearer_auth(&token)
        .json(&crate::harness::order_body(
            store["storeId"].as_str().unwrap(),
            serde_json::json!([{"foodId": "tuna-kimbap", "quantity": 1}]),
            "tok_visa",
        ))
        .sent()
        .await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// Ready means ready: the moment `/readyz` says so, the demo is there and an order goes through.
/// SIGTERM then stops everything cleanly, the broker included.
#[tokio::test(flavor = "multi_thread")]
async fn up_is_ready_with_its_demo_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut up = Up::spawn(&dir.path().join("data"), |_| {});
    up.ready().await;
    let (status, order) = place_order(&reqwest::Client::new(), &up.gateway).await;
    assert_eq!(status, 201, "{order}");
    let broker = broker_pid(up.broker).expect("the broker runs in its own process");

    up.signal("-TERM");
    let status = up.exited_within(30);
    assert!(status.success(), "a graceful stop exits 0: {status}");
    assert!(
        broker_pid(up.broker).is_none(),
        "the broker {broker} stopped with up"
    );
}

/// A `kill -9` of `up` leaves no broker behind (it stops when its stdin closes), so the next
/// `up` starts on the same data and has the same demo.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_up_leaves_nothing_listening_and_restarts_on_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut up = Up::spawn(&data, |_| {});
    up.ready().await;
    let broker = up.broker;
    up.signal("-KILL");
    up.exited_within(10);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while broker_pid(broker).is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the orphaned broker kept running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(up);

    let mut again = Up::spawn(&data, |_| {});
    again.ready().await;
    let http = reqwest::Client::new();
    let (status, order) = place_order(&http, &again.gateway).await;
    assert_eq!(status, 201, "{order}");
    // And the event log works again: the store gets the order (consumer groups of the killed
    // process must not hold on to their partitions).
    store_receives(&http, &again, order["orderId"].as_str().unwrap()).await;
}

/// Waits until owner1's store has the order.
async fn store_receives(http: &reqwest::Client, up: &Up, order_id: &str) {
    let owner = login(http, &up.gateway, "owner1").await;
    let owner1 = baedal::demo::subject_id("owner1");
    let stores: serde_json::Value = http
        .get(format!("{}/stores", up.gateway))
        .bearer_auth(&owner)
        .sent()
        .await
        .json()
        .await
        .unwrap();
    let store_id = stores
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["ownerId"] == owner1.as_str())
        .unwrap()["storeId"]
        .as_str()
        .unwrap()
        .to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let response = http
            .get(format!(
                "{}/stores/{store_id}/orders/{order_id}",
                up.gateway
            ))
            .bearer_auth(&owner)
            .sent()
            .await;
        if response.status() == 200 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the store never got {order_id}: {}",
            up.stderr()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The broker is its own process: killed alone, `up` starts it again and events flow again.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_broker_is_restarted_and_events_flow_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut up = Up::spawn(&dir.path().join("data"), |_| {});
    up.ready().await;
    let first = broker_pid(up.broker).expect("broker pid");
    assert!(
        Command::new("kill")
            .args(["-KILL", &first.to_string()])
            .status()
            .unwrap()
            .success()
    );

    let http = reqwest::Client::new();
    let (status, order) = place_order(&http, &up.gateway).await;
    assert_eq!(
        status, 201,
        "orders are taken while the broker is away: {order}"
    );
    let order_id = order["orderId"].as_str().unwrap().to_owned();
    // Published while the broker was away: it reaches the store once the broker is back.
    store_receives(&http, &up, &order_id).await;
    let second = broker_pid(up.broker).expect("a broker runs again");
    assert_ne!(first, second, "a new broker process");
    let stderr = up.stderr();
    assert!(
        stderr.contains("the embedded broker exited; restarting it"),
        "{stderr}"
    );
}

/// Every port `up` needs is checked first: a taken one stops it within seconds, naming the port,
/// with every cause of the error on a line that says something.
#[test]
fn a_port_in_use_fails_fast_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    for (what, key) in [
        ("the store service", "BAEDAL_SERVICES__STORE__BIND"),
        ("the gateway", "BAEDAL_GATEWAY__BIND"),
        ("the embedded broker", "BAEDAL_KAFKA__BROKERS"),
    ] {
        let data = dir.path().join(key);
        let mut up = Up::spawn(&data, |command| {
            command.env(key, format!("127.0.0.1:{port}"));
        });
        let status = up.exited_within(15);
        let stderr = up.stderr();
        assert!(!status.success(), "{what}: {stderr}");
        assert!(
            stderr.contains(&format!("port {port} is in use")),
            "{what}: {stderr}"
        );
        assert!(stderr.contains(what), "{what}: {stderr}");
        for line in stderr.lines() {
            let trimmed = line.trim();
            assert!(
                trimmed != "caused by:" && trimmed != "Caused by:",
                "{what}: an empty cause in {stderr}"
            );
        }
    }
    drop(taken);
}

/// A signal while `up` is still starting (here: waiting for a Kafka that is not there) stops it.
#[test]
fn sigterm_and_ctrl_c_during_startup_stop_up() {
    for signal in ["-TERM", "-INT"] {
        let dir = tempfile::tempdir().unwrap();
        let nobody = format!("127.0.0.1:{}", free_port());
        let mut up = Up::spawn(&dir.path().join("data"), |command| {
            command.args(["--kafka", &nobody]);
        });
        std::thread::sleep(Duration::from_millis(1500));
        assert!(
            up.child.try_wait().unwrap().is_none(),
            "still starting: {}",
            up.stderr()
        );
        up.signal(signal);
        let status = up.exited_within(10);
        assert!(status.success(), "{signal}: {status} {}", up.stderr());
        assert!(
            up.stderr().contains("stopped while starting"),
            "{}",
            up.stderr()
        );
    }
}

/// An `up` started fresh signs with a key of its own, kept in its data directory: a token forged
/// with a key from the source (the old development key) is refused, a real one survives a
/// restart, and the key file is the owner's alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_up_refuses_tokens_forged_with_a_published_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut up = Up::spawn(&data, |_| {});
    up.ready().await;
    let http = reqwest::Client::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({"sub": baedal::demo::subject_id("admin"), "role": "admin",
        "name": "admin", "iat": now, "nbf": now, "exp": now + 600});
    for published in ["baedal-dev-secret-do-not-use-in-production", "secret"] {
        let forged = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(published.as_bytes()),
        )
        .unwrap();
        let response = http
            .get(format!("{}/payments?limit=5", up.gateway))
            .bearer_auth(forged)
            .sent()
            .await;
        assert_eq!(response.status(), 401, "forged with {published:?}");
    }
    let key = data.join("secrets/jwt_secret.key");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "{key:?} is readable by others: {mode:o}");
    assert!(data.join("secrets/service_secret.key").exists());

    let admin = login(&http, &up.gateway, "admin").await;
    up.signal("-TERM");
    up.exited_within(30);
    drop(up);
    let mut again = Up::spawn(&data, |_| {});
    again.ready().await;
    let response = http
        .get(format!("{}/payments?limit=5", again.gateway))
        .bearer_auth(&admin)
        .sent()
        .await;
    assert_eq!(response.status(), 200, "the same key after a restart");
}

/// `up` is for one machine: it listens on loopback unless told otherwise, and says so loudly
/// when told otherwise.
#[tokio::test(flavor = "multi_thread")]
async fn up_warns_when_the_gateway_listens_beyond_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut up = Up::spawn(&dir.path().join("data"), |command| {
        command.env("BAEDAL_GATEWAY__BIND", format!("0.0.0.0:{port}"));
    });
    up.gateway = format!("http://127.0.0.1:{port}");
    up.ready().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !up.stderr().contains("reachable from other machines") {
        assert!(
            std::time::Instant::now() < deadline,
            "no warning: {}",
            up.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Client text in the log cannot forge a line or an escape sequence: a login with a newline and
/// a fake log line in the username shows up escaped.
#[tokio::test(flavor = "multi_thread")]
async fn client_text_cannot_forge_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut up = Up::spawn(&dir.path().join("data"), |command| {
        command.env("RUST_LOG", "info");
    });
    up.ready().await;
    let forged =
        "mallory\n2026-12-02T00:00:00.000000Z  INFO FORGED: logged in username=admin\u{1b}[2J";
    let response = reqwest::Client::new()
        .post(format!("{}/auth/login", up.gateway))
        .json(&serde_json::json!({"username": forged, "password": "x"}))
        .sent()
        .await;
    assert_eq!(response.status(), 401);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !up.stderr().contains("mallory") {
        assert!(
            std::time::Instant::now() < deadline,
            "the refusal is logged"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = up.stderr();
    assert!(
        !output
            .lines()
            .any(|line| line.contains("INFO FORGED") && !line.contains("mallory")),
        "a forged line: {output}"
    );
    let raw: Vec<&str> = output
        .lines()
        .filter(|line| line.contains('\u{1b}'))
        .collect();
    assert!(
        raw.is_empty(),
        "a raw escape sequence reached the log: {raw:?}"
    );
}
