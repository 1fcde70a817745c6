//! The binary itself: bad configuration stops it at once with a message naming the key.

use std::process::Command;

fn baedal() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_baedal"));
    command.env_remove("BAEDAL_CONFIG");
    command
}

#[test]
fn bad_configuration_fails_fast_naming_the_key() {
    let output = baedal()
        .args(["migrate"])
        .env("BAEDAL_HTTP__CALL_TIMEOUT_MS", "soon")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`http.call_timeout_ms`"), "{stderr}");

    let output = baedal()
        .args(["migrate"])
        .env("BAEDAL_DATABASE__URL", "mysql://db/baedal")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`database.url`"), "{stderr}");
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
fn serve_refuses_the_development_signing_key() {
    let output = baedal().args(["serve", "order"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("auth.jwt_secret"));
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
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/kubernetes/base/baedal.toml"
    );
    let settings = platform::Settings::load(Some(std::path::Path::new(file)))
        .unwrap_or_else(|error| panic!("{file}: {error}"));
    assert_eq!(
        settings.database_url(platform::ServiceName::Order),
        "postgres://baedal@postgres:5432/baedal_order"
    );
    assert_eq!(
        settings.service(platform::ServiceName::Payment).url,
        "http://payment:8082"
    );
    assert_eq!(settings.gateway.bind.port(), 8088);
}

/// `up` as a user runs it (ports moved aside so it can run next to anything): it comes up with
/// its demo data, answers through the gateway, and stops cleanly on SIGTERM.
#[test]
fn up_serves_the_demo_and_stops_gracefully_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let free = || platform::broker::free_port().unwrap();
    let mut command = baedal();
    command
        .args(["up", "--data-dir"])
        .arg(dir.path())
        .env("BAEDAL_KAFKA__BROKERS", format!("127.0.0.1:{}", free()))
        .env("BAEDAL_GATEWAY__BIND", format!("127.0.0.1:{}", free()))
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped());
    for service in platform::ServiceName::ALL {
        let port = free();
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
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let gateway = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split_once("baedal is up — gateway ").map(|(_, rest)| {
                rest.split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
        })
        .expect("the banner names the gateway");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stores: serde_json::Value = runtime.block_on(async {
        let http = reqwest::Client::new();
        let login: serde_json::Value = http
            .post(format!("{gateway}/auth/login"))
            .json(&serde_json::json!({"username": "customer1", "password": "demo1234"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        http.get(format!("{gateway}/stores"))
            .bearer_auth(login["token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(stores.as_array().unwrap().len(), 2, "the demo stores");

    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "up did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(status.success(), "a graceful stop exits 0: {status}");
}
