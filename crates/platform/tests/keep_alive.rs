//! A server closes an idle keep-alive connection after `http.header_read_timeout`. A client that
//! sends a request on a pooled connection just as the server closes it gets no answer at all
//! (`IncompleteMessage`): the gateway turned that into a 502 under load. The platform's client
//! drops idle connections well before the server does, so no request meets a closing connection.

use std::time::Duration;

use platform::config::HttpSettings;
use tokio_util::sync::CancellationToken;

/// The server's settings: it closes a connection idle for 200 ms.
fn settings() -> HttpSettings {
    HttpSettings {
        header_read_timeout: Duration::from_millis(200),
        ..Default::default()
    }
}

/// Sends `rounds` requests spaced around the server's idle close (the timeout, give or take
/// 5 ms) and returns those that failed; with `first_only`, stops at the first failure.
async fn spaced_around_the_idle_close(
    client: reqwest::Client,
    rounds: u64,
    first_only: bool,
) -> Vec<String> {
    let settings = settings();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let router = axum::Router::new().route("/", axum::routing::post(|| async { "ok" }));
    let serving = shutdown.clone();
    tokio::spawn(async move { platform::http::serve(listener, router, serving, &settings).await });
    let mut failures = Vec::new();
    for i in 0..rounds {
        let answer = client
            .post(format!("http://{addr}/"))
            .body("x")
            .send()
            .await;
        if let Err(error) = answer {
            failures.push(format!("{i}: {error:?}"));
            if first_only {
                break;
            }
        }
        tokio::time::sleep(Duration::from_micros(195_000 + (i % 20) * 500)).await;
    }
    shutdown.cancel();
    failures
}

#[tokio::test]
async fn the_platform_client_never_sends_on_a_connection_the_server_is_closing() {
    let client = platform::client::platform_client(&settings())
        .build()
        .unwrap();
    let failures = spaced_around_the_idle_close(client, 80, false).await;
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The race the platform client avoids is real: a client that keeps idle connections longer
/// than the server does meets it (else the test above would prove nothing).
#[tokio::test]
async fn a_client_keeping_idle_connections_longer_than_the_server_meets_the_race() {
    let client = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(90))
        .no_proxy()
        .build()
        .unwrap();
    let failures = spaced_around_the_idle_close(client, 400, true).await;
    assert!(
        !failures.is_empty(),
        "400 requests around the idle close, none failed"
    );
}
