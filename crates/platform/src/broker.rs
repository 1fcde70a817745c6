//! The embedded Kafka-protocol broker for `up` and tests: `tansu-broker` with SQLite storage, run
//! on a thread of its own so it outlives any one async runtime (each test has its own).
//! Production points `kafka.brokers` at a real cluster and builds without this module.

use std::{net::SocketAddr, path::Path, thread, time::Duration};

use anyhow::Context;
use tokio::sync::oneshot;
use url::Url;

pub struct EmbeddedBroker {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl EmbeddedBroker {
    /// Starts a broker listening on `addr` (it cannot pick a port itself: pass a free one) that
    /// keeps its log in the SQLite file `storage`, and waits until it accepts connections.
    pub fn start(addr: SocketAddr, storage: &Path) -> anyhow::Result<Self> {
        if let Some(parent) = storage.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let storage = std::path::absolute(storage)?;
        // tansu resolves the URL path against the working directory after dropping one leading
        // slash; two slashes keep the path absolute.
        let storage_url = Url::parse(&format!("sqlite:///{}", storage.display()))?;
        let listener = Url::parse(&format!("tcp://{addr}"))?;
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .map(|rt| rt.block_on(init_sqlite()))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("initializing SQLite panicked"))??;
        let (stop_tx, stop_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = thread::Builder::new()
            .name("embedded-broker".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("broker")
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready_tx.send(Err(anyhow::Error::from(error)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let broker = tansu_broker::broker::Broker::<
                        tansu_broker::coordinator::group::administrator::Controller<
                            tansu_storage::StorageContainer,
                        >,
                        tansu_storage::StorageContainer,
                    >::builder()
                    .node_id(tansu_broker::NODE_ID)
                    .cluster_id("baedal")
                    .incarnation_id(uuid::Uuid::now_v7())
                    .advertised_listener(listener.clone())
                    .listener(listener)
                    .storage(storage_url)
                    .silent(true)
                    .build()
                    .await;
                    let mut broker = match broker {
                        Ok(broker) => broker,
                        Err(error) => {
                            let _ =
                                ready_tx.send(Err(anyhow::anyhow!("starting broker: {error:?}")));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    tokio::select! {
                        result = broker.serve(tokio::time::Instant::now()) => {
                            if let Err(error) = result {
                                tracing::error!(?error, "embedded broker stopped");
                            }
                        }
                        _ = stop_rx => {}
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(2));
            })?;
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .context("embedded broker did not start")??;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if std::time::Instant::now() > deadline {
                anyhow::bail!("embedded broker is not listening on {addr}");
            }
            thread::sleep(Duration::from_millis(50));
        }
        Ok(Self {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the broker and waits for its thread; its storage stays for a restart.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The broker's storage and sqlx share one SQLite library in this binary (libsql's), and libsql
/// insists on configuring it before anyone else initializes it. Every SQLite user in the process
/// calls this first.
pub async fn init_sqlite() {
    static INIT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    INIT.get_or_init(|| async {
        if let Err(error) = libsql::Builder::new_local(":memory:").build().await {
            tracing::warn!(%error, "initializing libsql");
        }
    })
    .await;
}

/// A port nobody listens on right now (the broker cannot bind port 0 itself).
pub fn free_port() -> std::io::Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0").map(|l| l.local_addr().map(|a| a.port()))?
}
