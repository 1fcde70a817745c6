//! `baedal-broker`: the embedded Kafka-protocol broker of `baedal up` and the tests, in a process
//! of its own. It is `tansu-broker` with SQLite storage, started through its builder (its `main()`
//! would take our signals).
//!
//! It lives apart from `baedal` because its storage (libsql) and sqlx's SQLite both bring the
//! `sqlite3_*` symbols, and because a broker that runs alone can be killed alone. So this file must
//! never use the `baedal` library. `up` supervises it: it starts it, restarts it when it dies, and
//! stops it by closing its standard input (`--exit-on-stdin-close`), which also ends it when `up`
//! itself is killed.
//!
//! When it accepts connections it prints one line, `listening on <addr>`, on standard output.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use anyhow::Context;
use clap::Parser;
use tokio::io::AsyncReadExt;
use url::Url;

#[derive(Parser)]
#[command(
    name = "baedal-broker",
    version,
    about = "the embedded Kafka-protocol broker of baedal up"
)]
struct Args {
    /// Address to listen on. The broker cannot pick a port itself, so port 0 is refused.
    #[arg(long, default_value = "127.0.0.1:9092")]
    listen: SocketAddr,
    /// The SQLite file that holds the log; created if missing, kept across restarts.
    #[arg(long, default_value = "data/broker.db")]
    storage: PathBuf,
    /// Stop when standard input closes: a supervisor holds the other end, so the broker never
    /// outlives it, even when it is killed with SIGKILL.
    #[arg(long)]
    exit_on_stdin_close: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("baedal-broker: starting the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args));
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("baedal-broker: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    if args.listen.port() == 0 {
        anyhow::bail!("--listen needs a port: the broker cannot listen on port 0");
    }
    // Say which port is taken before tansu fails with a bare "address in use".
    std::net::TcpListener::bind(args.listen).with_context(|| {
        format!(
            "port {} is in use: cannot listen on {}",
            args.listen.port(),
            args.listen
        )
    })?;
    let storage = storage_url(&args.storage)?;
    let listener = Url::parse(&format!("tcp://{}", args.listen))?;
    let mut broker = tansu_broker::broker::Broker::<
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
    .storage(storage)
    .silent(true)
    .build()
    .await
    .map_err(|error| anyhow::anyhow!("opening the broker's storage: {error:?}"))?;

    let serving = broker.serve(tokio::time::Instant::now());
    tokio::pin!(serving);
    let listening = wait_until_listening(args.listen);
    tokio::select! {
        result = &mut serving => return stopped(result),
        () = listening => println!("listening on {}", args.listen),
    }

    let stdin_closed = async {
        if args.exit_on_stdin_close {
            let mut stdin = tokio::io::stdin();
            let mut buffer = [0u8; 64];
            while matches!(stdin.read(&mut buffer).await, Ok(n) if n > 0) {}
        } else {
            std::future::pending::<()>().await;
        }
    };
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    tokio::select! {
        result = serving => stopped(result),
        () = stdin_closed => Ok(()),
        _ = terminate.recv() => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

fn stopped(result: Result<(), tansu_broker::Error>) -> anyhow::Result<()> {
    match result {
        Ok(()) => anyhow::bail!("the broker stopped serving"),
        Err(error) => Err(anyhow::anyhow!("the broker failed: {error:?}")),
    }
}

/// tansu resolves the URL's path against the working directory after dropping one leading slash;
/// two slashes keep it absolute.
fn storage_url(path: &Path) -> anyhow::Result<Url> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the data directory {}", parent.display()))?;
    }
    let path =
        std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?;
    Url::parse(&format!("sqlite:///{}", path.display()))
        .with_context(|| format!("{} is not a usable storage path", path.display()))
}

async fn wait_until_listening(addr: SocketAddr) {
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
