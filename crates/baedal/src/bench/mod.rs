//! `baedal bench`: places orders through the gateway as customers do and prints figures —
//! throughput, latency percentiles of `POST /orders` (which includes the synchronous payment
//! call), and how long an order takes to reach the store and the customer's mypage through the
//! event log. Against a running platform (`--gateway`) or one it starts for itself.

pub mod lifecycle;
pub mod streams;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::task::JoinSet;

#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub orders: usize,
    pub concurrency: usize,
    /// How many further orders are followed, one at a time, until the store and mypage show them.
    pub follow: usize,
}

pub struct Report {
    pub orders: usize,
    pub failures: usize,
    pub elapsed: Duration,
    /// From the first order until the store had received the last one.
    pub drained: Option<Duration>,
    pub place: Vec<Duration>,
    pub to_store: Vec<Duration>,
    pub to_mypage: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn line(name: &str, samples: &mut [Duration]) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "{name:<22} n={:<5} p50={:>8.1} ms  p95={:>8.1} ms  p99={:>8.1} ms  max={:>8.1} ms",
        samples.len(),
        ms(percentile(samples, 50.0)),
        ms(percentile(samples, 95.0)),
        ms(percentile(samples, 99.0)),
        ms(samples.last().copied().unwrap_or_default()),
    )
}

impl Report {
    pub fn print(&mut self) {
        println!(
            "orders: {} placed, {} failed in {:.2} s — {:.1} orders/s",
            self.orders - self.failures,
            self.failures,
            self.elapsed.as_secs_f64(),
            (self.orders - self.failures) as f64 / self.elapsed.as_secs_f64().max(1e-9),
        );
        if let Some(drained) = self.drained {
            println!(
                "the store received all of them {:.2} s after the first — {:.1} events/s through the log",
                drained.as_secs_f64(),
                (self.orders - self.failures) as f64 / drained.as_secs_f64().max(1e-9),
            );
        }
        println!("{}", line("POST /orders (paid)", &mut self.place));
        println!("{}", line("placed → store sees it", &mut self.to_store));
        println!("{}", line("placed → mypage shows", &mut self.to_mypage));
    }
}

/// The demo accounts a load generator acts as, logged in, and owner1's demo store that their
/// orders go to.
pub(crate) struct DemoCrew {
    pub customers: Vec<String>,
    pub riders: Vec<String>,
    pub owner: String,
    pub store_id: String,
}

impl DemoCrew {
    pub async fn login(http: &reqwest::Client, gateway: &str) -> anyhow::Result<Self> {
        let mut customers = Vec::new();
        for name in ["customer1", "customer2", "customer3"] {
            customers.push(login(http, gateway, name).await?);
        }
        let mut riders = Vec::new();
        for name in ["rider1", "rider2", "rider3"] {
            riders.push(login(http, gateway, name).await?);
        }
        let owner = login(http, gateway, "owner1").await?;
        let stores: Vec<Value> = http
            .get(format!("{gateway}/stores"))
            .bearer_auth(&customers[0])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let owner_id = crate::demo::subject_id("owner1");
        let store_id = stores
            .iter()
            .find(|s| s["ownerId"] == owner_id.as_str())
            .and_then(|s| s["storeId"].as_str())
            .context("the demo store of owner1 is missing; run with demo data")?
            .to_owned();
        Ok(Self {
            customers,
            riders,
            owner,
            store_id,
        })
    }

    /// The customer of the `n`-th order, taking turns.
    pub fn customer(&self, n: usize) -> &str {
        &self.customers[n % self.customers.len()]
    }

    /// The rider of the `n`-th order, taking turns.
    pub fn rider(&self, n: usize) -> &str {
        &self.riders[n % self.riders.len()]
    }
}

/// Whether `url` answers 200 to `token`: the thing waited for is there.
async fn answers_ok(http: &reqwest::Client, url: &str, token: &str) -> anyhow::Result<bool> {
    Ok(http.get(url).bearer_auth(token).send().await?.status() == reqwest::StatusCode::OK)
}

pub(crate) async fn login(
    http: &reqwest::Client,
    gateway: &str,
    username: &str,
) -> anyhow::Result<String> {
    let body: Value = http
        .post(format!("{gateway}/auth/login"))
        .json(&json!({"username": username, "password": crate::demo::PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .context("no token in the login answer")
}

/// Runs the benchmark against the gateway at `gateway`, which must have the demo data.
pub async fn run(gateway: &str, options: &BenchOptions) -> anyhow::Result<Report> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(options.concurrency)
        .build()?;
    let DemoCrew {
        customers,
        owner,
        store_id,
        ..
    } = DemoCrew::login(&http, gateway).await?;
    let body = json!({
        "storeId": store_id,
        "items": [{"foodId": "tuna-kimbap", "quantity": 1}, {"foodId": "tteokbokki", "quantity": 1}],
        "deliveryAddress": {"text": "서울 강남구 테헤란로 1", "lat": 37.501, "lng": 127.036},
        "payment": {"method": "card", "cardToken": "tok_bench"},
    });

    let place = || {
        http.post(format!("{gateway}/orders"))
            .bearer_auth(&customers[0])
            .json(&body)
            .send()
    };
    // Warm up: the first order also waits for the order service's menu replica.
    let warm_deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = place().await?;
        if response.status().as_u16() == 201 {
            break;
        }
        if Instant::now() > warm_deadline {
            bail!(
                "orders are not being taken: {}",
                response.text().await.unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let started = Instant::now();
    let per_worker = options.orders.div_ceil(options.concurrency);
    let mut workers = JoinSet::new();
    for worker in 0..options.concurrency {
        let http = http.clone();
        let token = customers[worker % customers.len()].clone();
        let url = format!("{gateway}/orders");
        let body = body.clone();
        let count = per_worker.min(options.orders.saturating_sub(worker * per_worker));
        workers.spawn(async move {
            let mut placed = Vec::with_capacity(count);
            let mut failures = 0;
            let mut last = None;
            for _ in 0..count {
                let sent = Instant::now();
                match http.post(&url).bearer_auth(&token).json(&body).send().await {
                    Ok(response) if response.status().as_u16() == 201 => {
                        placed.push(sent.elapsed());
                        let order: Value = response.json().await.unwrap_or_default();
                        last = order["orderId"].as_str().map(str::to_owned).or(last);
                    }
                    _ => failures += 1,
                }
            }
            (placed, failures, last)
        });
    }
    let mut placed = Vec::new();
    let mut failures = 0;
    let mut last = None;
    while let Some(result) = workers.join_next().await {
        let (mut p, f, l) = result?;
        placed.append(&mut p);
        failures += f;
        last = l.or(last);
    }
    let elapsed = started.elapsed();

    // The store works through the burst at its own pace: time until it has the last order.
    let mut drained = None;
    if let Some(order_id) = last {
        let url = format!("{gateway}/stores/{store_id}/orders/{order_id}");
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if answers_ok(&http, &url, &owner).await? {
                drained = Some(started.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // Then, one at a time on the quiet platform, follow orders through the event log until the store and the
    // customer's mypage show them.
    let mut to_store = Vec::new();
    let mut to_mypage = Vec::new();
    for _ in 0..options.follow {
        let response = place().await?;
        let placed_at = Instant::now();
        let order: Value = response.error_for_status()?.json().await?;
        let order_id = order["orderId"].as_str().unwrap_or_default();
        let store_url = format!("{gateway}/stores/{store_id}/orders/{order_id}");
        let mypage_url = format!("{gateway}/mypage/orders/{order_id}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut store_seen, mut mypage_seen) = (None, None);
        while (store_seen.is_none() || mypage_seen.is_none()) && Instant::now() < deadline {
            if mypage_seen.is_none() && answers_ok(&http, &mypage_url, &customers[0]).await? {
                mypage_seen = Some(placed_at.elapsed());
            }
            if store_seen.is_none() && answers_ok(&http, &store_url, &owner).await? {
                store_seen = Some(placed_at.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        to_store.extend(store_seen);
        to_mypage.extend(mypage_seen);
    }
    Ok(Report {
        orders: options.orders,
        failures,
        elapsed,
        place: placed,
        drained,
        to_store,
        to_mypage,
    })
}

pub(crate) fn machine() -> Value {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .map(|l| l.trim().to_owned())
        })
        .unwrap_or_default();
    json!({"cpus": cpus, "model": model, "memory": memory})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let samples: Vec<_> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50.0), Duration::from_millis(51));
        assert_eq!(percentile(&samples, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
    }
}
