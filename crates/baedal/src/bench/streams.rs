//! `baedal bench streams`: how many idle live streams (Server-Sent Events) one `baedal up` holds
//! and what they cost. It starts `up` (a child process, so its memory is its own), opens `count`
//! streams of the demo owner's store orders through the gateway, one connection each as
//! browsers hold them, and measures:
//!
//! - the extra RSS of `up` with the streams open and idle, in all and per stream;
//! - the CPU `up` spends on them while idle (heartbeats) over ten seconds;
//! - fan-out: from a new order's `201` to its arrival on every stream (this includes the event
//!   log's hop from the order service to the store).
//!
//! One caller holds every stream, so the per-caller bound (`gateway.streams_per_client`) is
//! lifted for the run, and the connection limits are raised to fit.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context;
use futures::StreamExt;
use serde_json::{Value, json};

use super::{DemoCrew, percentile};
use crate::child::{UpConfig, UpProcess, cpu_seconds_of, rss_kib_of, write_json};

#[derive(Clone, Debug)]
pub struct StreamsOptions {
    pub count: usize,
    pub json: PathBuf,
    pub broker_bin: PathBuf,
}

pub async fn run(options: StreamsOptions) -> anyhow::Result<()> {
    let mut config = UpConfig::fresh("streams", options.broker_bin.clone())?;
    let connections = (options.count + 1024).to_string();
    config.env.extend(
        [
            ("BAEDAL_GATEWAY__STREAMS_PER_CLIENT", "0"),
            ("BAEDAL_HTTP__MAX_CONNECTIONS", connections.as_str()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let up = UpProcess::start(config).await?;
    let result = measure(&up, &options).await;
    up.stop(true).await;
    let report = result?;
    write_json(&options.json, &report)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn measure(up: &UpProcess, options: &StreamsOptions) -> anyhow::Result<Value> {
    let gateway = up.config.gateway_url();
    let pid = up.pid().context("up is not running")?;
    let http = reqwest::Client::new();
    let crew = DemoCrew::login(&http, &gateway).await?;
    let url = format!("{gateway}/stores/{}/orders/events", crew.store_id);

    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_before = rss_kib_of(pid);

    // When each stream saw the probe order, in ms since the bench started.
    let clock = Instant::now();
    let seen: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::new()));
    let opened = Instant::now();
    let mut streams = Vec::with_capacity(options.count);
    let mut opening = futures::stream::iter(0..options.count)
        .map(|_| {
            // A client per stream: one connection each, as browsers hold them.
            let client = reqwest::Client::builder().http1_only().build();
            let url = url.clone();
            let token = crew.owner.clone();
            async move {
                let response = client?
                    .get(url)
                    .bearer_auth(token)
                    .header("accept", "text/event-stream")
                    .send()
                    .await?
                    .error_for_status()?;
                anyhow::Ok(response)
            }
        })
        .buffer_unordered(256);
    while let Some(response) = opening.next().await {
        let response = response.context("opening a stream")?;
        let seen = seen.clone();
        streams.push(tokio::spawn(async move {
            let mut body = response.bytes_stream();
            while let Some(Ok(chunk)) = body.next().await {
                if chunk.windows(12).any(|w| w == b"event: order") {
                    let at = clock.elapsed();
                    seen.lock().unwrap_or_else(|e| e.into_inner()).push(at);
                }
            }
        }));
    }
    let open_seconds = opened.elapsed().as_secs_f64();
    println!(
        "{} streams open in {open_seconds:.1} s; idling",
        options.count
    );

    tokio::time::sleep(Duration::from_secs(5)).await;
    let cpu_before = cpu_seconds_of(pid);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let idle_cpu = cpu_seconds_of(pid) - cpu_before;
    let rss_open = rss_kib_of(pid);
    let extra_mib = rss_open.saturating_sub(rss_before) as f64 / 1024.0;

    // One new order reaches every stream.
    let sent = clock.elapsed();
    let order = json!({
        "storeId": crew.store_id,
        "items": [{"foodId": "tuna-kimbap", "quantity": 1}],
        "deliveryAddress": {"text": "서울 강남구 테헤란로 1", "lat": 37.501, "lng": 127.037},
        "payment": {"method": "card", "cardToken": "tok_visa"},
    });
    let placed = http
        .post(format!("{gateway}/orders"))
        .bearer_auth(crew.customer(0))
        .json(&order)
        .send()
        .await?;
    anyhow::ensure!(
        placed.status() == 201,
        "placing the probe order: {placed:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.lock().unwrap_or_else(|e| e.into_inner()).len() < options.count
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut delays: Vec<Duration> = seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|at| at.saturating_sub(sent))
        .collect();
    delays.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for stream in &streams {
        stream.abort();
    }

    Ok(json!({
        "machine": super::machine(),
        "streams": options.count,
        "openSeconds": open_seconds,
        "rssBeforeMiB": rss_before as f64 / 1024.0,
        "rssOpenMiB": rss_open as f64 / 1024.0,
        "extraRssMiB": extra_mib,
        "extraKiBPerStream": extra_mib * 1024.0 / options.count.max(1) as f64,
        "idleCpuSecondsPer10s": idle_cpu,
        "fanOut": {
            "reached": delays.len(),
            "firstMs": delays.first().copied().map(ms),
            "p50Ms": ms(percentile(&delays, 50.0)),
            "p99Ms": ms(percentile(&delays, 99.0)),
            "lastMs": delays.last().copied().map(ms),
        },
    }))
}
