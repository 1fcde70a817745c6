//! The `serve` shape on one machine, for the chaos run: the broker, every service and the gateway
//! each in a process of its own (`baedal serve <name>`, as one pod each), on PostgreSQL, with two
//! replicas of order. The replicas sit behind a round-robin TCP balancer that skips one refusing
//! connections: what the Kubernetes Service in front of a Deployment does (k8s/ has the real
//! manifests). Any process can be killed with SIGKILL and started again with the same command.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use platform::{ServiceName, Settings, config::Secret};
use tokio::{
    net::{TcpListener, TcpStream},
    process::{Child, ChildStdin, Command},
    task::JoinHandle,
};

use crate::{
    broker::free_port,
    child::{Readiness, wait_ready},
};

/// One process of the cluster and how to start it again.
struct Member {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    /// Where it answers `/readyz`; the broker has none and is ready once it accepts connections.
    ready: Readiness,
    /// Where it serves `/metrics` (the broker: nowhere).
    metrics: Option<SocketAddr>,
    running: Option<(Child, Option<ChildStdin>)>,
}

pub struct ServeCluster {
    pub dir: PathBuf,
    pub gateway: String,
    settings: Settings,
    members: Vec<Member>,
    balancer: JoinHandle<()>,
}

impl ServeCluster {
    /// Migrates every database, then starts the broker, every service (order twice) and the
    /// gateway, and waits until each is ready. `database_url` is a PostgreSQL template with
    /// `{service}`; `env` are further `BAEDAL_*` settings for every process.
    pub async fn start(
        database_url: &str,
        broker_bin: &Path,
        env: &[(String, String)],
    ) -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("baedal-serve-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir)?;
        let addr = || -> anyhow::Result<SocketAddr> { Ok(([127, 0, 0, 1], free_port()?).into()) };
        let kafka = addr()?;
        let gateway = addr()?;
        let order_replicas = [addr()?, addr()?];
        let order_service = TcpListener::bind(addr()?).await?;

        let mut common: Vec<(String, String)> = vec![
            ("BAEDAL_DATABASE__URL".into(), database_url.into()),
            // Nine processes on one PostgreSQL (100 connections by default), beside whatever
            // else uses it: a small pool each.
            ("BAEDAL_DATABASE__MAX_CONNECTIONS".into(), "4".into()),
            ("BAEDAL_KAFKA__BROKERS".into(), kafka.to_string()),
            ("BAEDAL_GATEWAY__BIND".into(), gateway.to_string()),
            (
                "BAEDAL_DATA_DIR".into(),
                dir.join("data").display().to_string(),
            ),
            (
                "BAEDAL_AUTH__JWT_SECRET".into(),
                Secret::random().expose().into(),
            ),
            (
                "BAEDAL_AUTH__SERVICE_SECRET".into(),
                Secret::random().expose().into(),
            ),
            ("RUST_LOG".into(), "warn".into()),
        ];
        let mut binds = Vec::new();
        for service in ServiceName::ALL {
            let key = service.as_str().to_uppercase();
            let url = if service == ServiceName::Order {
                format!("http://{}", order_service.local_addr()?)
            } else {
                let bind = addr()?;
                binds.push((service, bind));
                format!("http://{bind}")
            };
            common.push((format!("BAEDAL_SERVICES__{key}__URL"), url));
        }
        common.extend(env.iter().cloned());

        let mut settings = Settings {
            data_dir: dir.join("data"),
            ..Settings::default()
        };
        settings.database.url = database_url.to_owned();
        settings.kafka.brokers = kafka.to_string();
        crate::migrate(&settings, &ServiceName::ALL)
            .await
            .context("migrating the cluster's databases")?;

        let exe = std::env::current_exe()?;
        let serve = |name: String, service: ServiceName, bind: SocketAddr| {
            let metrics = addr()?;
            let mut env = common.clone();
            let key = service.as_str().to_uppercase();
            env.push((format!("BAEDAL_SERVICES__{key}__BIND"), bind.to_string()));
            env.push(("BAEDAL_METRICS__BIND".into(), metrics.to_string()));
            // As a StatefulSet pod's name: the restarted replica is the same group member.
            env.push(("BAEDAL_KAFKA__INSTANCE_ID".into(), name.clone()));
            anyhow::Ok(Member {
                name,
                program: exe.clone(),
                args: vec!["serve".into(), service.as_str().into()],
                env,
                ready: Readiness::Http(format!("http://{bind}/readyz")),
                metrics: Some(metrics),
                running: None,
            })
        };
        let mut members = vec![Member {
            name: "broker".into(),
            program: broker_bin.to_owned(),
            args: vec![
                "--listen".into(),
                kafka.to_string(),
                "--storage".into(),
                dir.join("data/broker.db").display().to_string(),
                "--exit-on-stdin-close".into(),
            ],
            env: vec![("RUST_LOG".into(), "warn".into())],
            ready: Readiness::Tcp(kafka),
            metrics: None,
            running: None,
        }];
        for (i, replica) in order_replicas.iter().enumerate() {
            members.push(serve(
                format!("order-{}", i + 1),
                ServiceName::Order,
                *replica,
            )?);
        }
        for (service, bind) in binds {
            members.push(serve(service.as_str().into(), service, bind)?);
        }
        let gateway_metrics = addr()?;
        let mut gateway_env = common.clone();
        gateway_env.push(("BAEDAL_METRICS__BIND".into(), gateway_metrics.to_string()));
        members.push(Member {
            name: "gateway".into(),
            program: exe.clone(),
            args: vec!["serve".into(), "gateway".into()],
            env: gateway_env,
            ready: Readiness::Http(format!("http://{gateway}/readyz")),
            metrics: Some(gateway_metrics),
            running: None,
        });

        let balancer = tokio::spawn(balance(order_service, order_replicas.to_vec()));
        let mut cluster = Self {
            dir,
            gateway: format!("http://{gateway}"),
            settings,
            members,
            balancer,
        };
        for i in 0..cluster.members.len() {
            let dir = cluster.dir.clone();
            cluster.members[i].start(&dir).await?;
        }
        Ok(cluster)
    }

    /// The settings tools that read the cluster's databases (the audit) need.
    pub fn settings(&self) -> Settings {
        self.settings.clone()
    }

    /// Names of the processes, the broker first.
    pub fn names(&self) -> Vec<String> {
        self.members.iter().map(|m| m.name.clone()).collect()
    }

    /// Where each process serves `/metrics`.
    pub fn metrics_urls(&self) -> Vec<String> {
        self.members
            .iter()
            .filter_map(|m| m.metrics.map(|addr| format!("http://{addr}/metrics")))
            .collect()
    }

    /// The running processes' ids.
    pub fn pids(&self) -> Vec<u32> {
        self.members.iter().filter_map(Member::pid).collect()
    }

    /// The id of the named process, while it runs.
    pub fn pid_of(&self, name: &str) -> Option<u32> {
        self.members.iter().find(|m| m.name == name)?.pid()
    }

    /// The broker's address.
    pub fn kafka(&self) -> &str {
        &self.settings.kafka.brokers
    }

    /// SIGKILLs the named process, waits for it to exit, and starts it again until it is ready.
    pub async fn kill_and_restart(&mut self, name: &str) -> anyhow::Result<()> {
        let dir = self.dir.clone();
        let member = self
            .members
            .iter_mut()
            .find(|m| m.name == name)
            .with_context(|| format!("no process {name} in the cluster"))?;
        member.kill().await;
        // As a pod is restarted: again after a moment while it fails (a port in TIME_WAIT).
        let mut attempt = 1;
        loop {
            match member.start(&dir).await {
                Ok(()) => return Ok(()),
                Err(error) if attempt < 5 => {
                    eprintln!("restarting {name} failed, trying again: {error:#}");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Stops every process, the gateway first and the broker last.
    pub async fn stop(mut self, remove: bool) {
        for member in self.members.iter_mut().rev() {
            member.stop().await;
        }
        self.balancer.abort();
        if remove {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Member {
    fn pid(&self) -> Option<u32> {
        self.running.as_ref()?.0.id()
    }

    async fn start(&mut self, dir: &Path) -> anyhow::Result<()> {
        let log_path = dir.join(format!("{}.log", self.name));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.name))?;
        // The broker stops when this closes; the services ignore it.
        let stdin = child.stdin.take();
        let ready = self.ready.clone();
        wait_ready(
            &mut child,
            &self.name,
            &log_path,
            ready,
            Duration::from_secs(120),
        )
        .await?;
        self.running = Some((child, stdin));
        Ok(())
    }

    async fn kill(&mut self) {
        if let Some((mut child, _)) = self.running.take() {
            let _ = child.kill().await;
        }
    }

    async fn stop(&mut self) {
        if let Some((mut child, stdin)) = self.running.take() {
            drop(stdin);
            if let Some(pid) = child.id() {
                crate::child::signal(pid, "-TERM");
            }
            if tokio::time::timeout(Duration::from_secs(30), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
    }
}

/// Round robin over `backends` per connection, skipping one that refuses (a killed replica).
async fn balance(listener: TcpListener, backends: Vec<SocketAddr>) {
    let next = Arc::new(AtomicUsize::new(0));
    while let Ok((mut inbound, _)) = listener.accept().await {
        let (backends, next) = (backends.clone(), next.clone());
        tokio::spawn(async move {
            let first = next.fetch_add(1, Ordering::Relaxed);
            for i in 0..backends.len() {
                let backend = backends[(first + i) % backends.len()];
                if let Ok(mut outbound) = TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    return;
                }
            }
        });
    }
}
