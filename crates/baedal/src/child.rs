//! A `baedal up` run as a child process, on a data directory and ports of its own: what the
//! lifecycle bench measures and the chaos run kills. It can be killed with SIGKILL and started
//! again on the same data and ports, and its (and its broker's) CPU and memory read from /proc.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use crate::broker::free_port;

/// How to start the child, the same every time.
#[derive(Clone, Debug)]
pub struct UpConfig {
    pub dir: PathBuf,
    pub broker_bin: PathBuf,
    pub gateway: String,
    pub metrics: String,
    pub kafka: String,
    /// `BAEDAL_*` settings of the run, beside the ports.
    pub env: Vec<(String, String)>,
    services: Vec<(String, String)>,
}

impl UpConfig {
    /// A fresh data directory under the system's temporary one and free ports.
    pub fn fresh(name: &str, broker_bin: PathBuf) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("baedal-{name}-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir)?;
        let port = || free_port().map(|port| format!("127.0.0.1:{port}"));
        let mut services = Vec::new();
        for service in platform::ServiceName::ALL {
            services.push((service.as_str().to_uppercase(), port()?));
        }
        Ok(Self {
            dir,
            broker_bin,
            gateway: port()?,
            metrics: port()?,
            kafka: port()?,
            env: vec![
                // One machine plays every client: measure and shake the platform, not the limiter.
                ("BAEDAL_GATEWAY__RATE_LIMIT__PER_SECOND".into(), "0".into()),
                (
                    "BAEDAL_GATEWAY__RATE_LIMIT__LOGINS_PER_MINUTE".into(),
                    "0".into(),
                ),
            ],
            services,
        })
    }

    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway)
    }

    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.metrics)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join("up.log")
    }

    /// The settings the child runs with, for tools that read its databases (the audit).
    pub fn settings(&self) -> anyhow::Result<platform::Settings> {
        let mut settings = platform::Settings {
            data_dir: self.data_dir(),
            ..platform::Settings::default()
        };
        settings.kafka.brokers = self.kafka.clone();
        if let Some((_, url)) = self.env.iter().find(|(k, _)| k == "BAEDAL_DATABASE__URL") {
            settings.database.url = url.clone();
        }
        Ok(settings)
    }
}

pub struct UpProcess {
    pub config: UpConfig,
    child: Option<tokio::process::Child>,
}

impl UpProcess {
    /// Starts the child and waits until its `/readyz` says ready.
    pub async fn start(config: UpConfig) -> anyhow::Result<Self> {
        let mut up = Self {
            config,
            child: None,
        };
        up.spawn_ready().await?;
        Ok(up)
    }

    async fn spawn_ready(&mut self) -> anyhow::Result<()> {
        let config = &self.config;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(config.log())?;
        let mut command = tokio::process::Command::new(std::env::current_exe()?);
        command
            .arg("up")
            .arg("--data-dir")
            .arg(config.data_dir())
            .arg("--broker-bin")
            .arg(&config.broker_bin)
            .env("RUST_LOG", "warn")
            .env("BAEDAL_GATEWAY__BIND", &config.gateway)
            .env("BAEDAL_METRICS__BIND", &config.metrics)
            .env("BAEDAL_KAFKA__BROKERS", &config.kafka)
            .envs(config.env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for (key, addr) in &config.services {
            command
                .env(format!("BAEDAL_SERVICES__{key}__BIND"), addr)
                .env(
                    format!("BAEDAL_SERVICES__{key}__URL"),
                    format!("http://{addr}"),
                );
        }
        let mut child = command.spawn().context("starting baedal up")?;
        let ready = format!("{}/readyz", config.gateway_url());
        wait_ready(
            &mut child,
            "baedal up",
            &config.log(),
            Readiness::Http(ready),
            Duration::from_secs(180),
        )
        .await?;
        self.child = Some(child);
        Ok(())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(|c| c.id())
    }

    /// `up` and the broker it runs.
    pub fn pids(&self) -> Vec<u32> {
        let Some(up) = self.pid() else {
            return Vec::new();
        };
        let mut pids = vec![up];
        pids.extend(children_of(up));
        pids
    }

    pub fn broker_pid(&self) -> Option<u32> {
        self.pid().and_then(|up| children_of(up).into_iter().next())
    }

    /// CPU seconds used so far by `up` and its broker.
    pub fn cpu_seconds(&self) -> f64 {
        self.pids().into_iter().map(cpu_seconds_of).sum()
    }

    /// Resident memory of `up` and its broker, in MiB.
    pub fn rss_mib(&self) -> f64 {
        self.pids().into_iter().map(rss_kib_of).sum::<u64>() as f64 / 1024.0
    }

    /// SIGKILL, as a crash: nothing is drained, flushed or committed. The broker goes with it
    /// (its stdin closes).
    pub async fn kill(&mut self) {
        let pids = self.pids();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
        // Wait for the broker to notice and exit, and its port to be free. Its exit, not only the
        // port: a broker killed mid-restart has not listened yet, and would take the port from
        // the next `up` a moment later.
        let deadline = Instant::now() + Duration::from_secs(30);
        while (pids.iter().any(|pid| alive(*pid))
            || crate::broker::ensure_free(self.config.kafka.parse().expect("an address")).is_err())
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts it again on the same data and ports.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await;
        self.spawn_ready().await
    }

    /// SIGTERM and wait; then the data directory goes.
    pub async fn stop(mut self, remove: bool) {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                signal(pid, "-TERM");
            }
            let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
            let _ = child.kill().await;
        }
        if remove {
            let _ = std::fs::remove_dir_all(&self.config.dir);
        }
    }
}

pub fn signal(pid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status();
}

fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat_fields(*pid).and_then(|f| f.get(1)?.parse().ok()) == Some(parent))
        .collect()
}

/// Every process whose command name is `name` (PostgreSQL's server processes, say).
pub(crate) fn processes_named(name: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
        .collect()
}

/// Whether the process runs: a zombie has exited (in a container nobody may reap it).
fn alive(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| f.first().is_some_and(|state| state != "Z"))
}

/// The fields of /proc/<pid>/stat after the command name (which may hold spaces).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime; /proc counts in USER_HZ, 100 on Linux.
pub(crate) fn cpu_seconds_of(pid: u32) -> f64 {
    stat_fields(pid)
        .map(|f| {
            let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            (ticks(11) + ticks(12)) as f64 / 100.0
        })
        .unwrap_or(0.0)
}

pub(crate) fn rss_kib_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

/// Writes `report` as pretty JSON, making the directory.
pub fn write_json(path: &Path, report: &serde_json::Value) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, serde_json::to_string_pretty(report)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// How a started process shows it is ready.
#[derive(Clone, Debug)]
pub(crate) enum Readiness {
    /// `/readyz` (or another URL) answers 2xx.
    Http(String),
    /// It accepts connections (the broker, which has no HTTP).
    Tcp(std::net::SocketAddr),
}

/// Waits until `child` is ready, failing with the end of its `log` when it exits first or is not
/// ready within `timeout`.
pub(crate) async fn wait_ready(
    child: &mut tokio::process::Child,
    name: &str,
    log: &Path,
    readiness: Readiness,
    timeout: Duration,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "{name} exited ({status}); the end of {}:\n{}",
                log.display(),
                tail(log, 30)
            );
        }
        let ready = match &readiness {
            Readiness::Http(url) => http
                .get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success()),
            Readiness::Tcp(addr) => tokio::net::TcpStream::connect(addr).await.is_ok(),
        };
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{name} was not ready within {} s; the end of {}:\n{}",
                timeout.as_secs(),
                log.display(),
                tail(log, 30)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last `lines` lines of a log, so a failure reported elsewhere (CI) carries its cause.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
