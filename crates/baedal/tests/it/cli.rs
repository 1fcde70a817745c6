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
