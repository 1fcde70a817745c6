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
    /// How often the log is maintained: records older than their topic's `retention.ms` are
    /// deleted (topics with `cleanup.policy=delete`), and free pages returned.
    #[arg(long, default_value = "5m")]
    maintenance_interval: String,
}

/// Indexes tansu 0.6's SQLite schema lacks. Without them the fetch path looks up each record's
/// headers by scanning every header (four per record), and the produce path scans the
/// watermarks, so the broker slows as the log grows. Created at every start, so data files made
/// before them get them too; the plans are checked by this file's tests.
const INDEXES: [&str; 3] = [
    "CREATE INDEX IF NOT EXISTS baedal_header_by_record ON header (topition, offset_id)",
    "CREATE INDEX IF NOT EXISTS baedal_watermark_by_topition ON watermark (topition)",
    "CREATE INDEX IF NOT EXISTS baedal_consumer_offset_by_topition ON consumer_offset (topition)",
];

/// A connection to the broker's storage file beside tansu's own, for fixing up its schema.
async fn connect(path: &Path) -> anyhow::Result<libsql::Connection> {
    let db = libsql::Builder::new_local(path)
        .build()
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    Ok(db.connect()?)
}

async fn add_indexes(path: &Path) -> anyhow::Result<()> {
    let connection = connect(path).await?;
    for index in INDEXES {
        connection
            .execute(index, ())
            .await
            .with_context(|| format!("{index} on {}", path.display()))?;
    }
    Ok(())
}

/// Forgets the consumer groups' membership of the previous broker process: its members are gone
/// with it. tansu 0.6 otherwise keeps such a group `Formed` around the old member with no
/// assignments, and a consumer that joins it after a restart gets no partitions and reads
/// nothing, for good (found by the chaos run). Committed offsets are kept (`consumer_offset`),
/// so every group goes on where it stopped.
async fn forget_group_members(path: &Path) -> anyhow::Result<()> {
    connect(path)
        .await?
        .execute("DELETE FROM consumer_group_detail", ())
        .await
        .with_context(|| format!("resetting group membership in {}", path.display()))?;
    Ok(())
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
    let result = runtime.block_on(run_until_stopped(args));
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

/// Runs the broker until it fails or is asked to stop. The stop is watched from the first moment,
/// not only once it listens: a supervisor killed while its broker was starting must not leave it
/// behind to take the port from the next one.
async fn run_until_stopped(args: Args) -> anyhow::Result<()> {
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
        result = run(&args) => result,
        () = stdin_closed => Ok(()),
        _ = terminate.recv() => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
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
    let path = storage_path(&args.storage)?;
    let mut storage = Url::parse(&format!("sqlite:///{}", path.display()))
        .with_context(|| format!("{} is not a usable storage path", path.display()))?;
    storage
        .query_pairs_mut()
        .append_pair("maintenance_interval", &args.maintenance_interval);
    let mut broker = build(args.listen, storage).await?;
    // The builder has created tansu's tables; they are fixed up before anything is served.
    add_indexes(&path).await?;
    forget_group_members(&path).await?;

    let serving = broker.serve(tokio::time::Instant::now());
    tokio::pin!(serving);
    let listening = wait_until_listening(args.listen);
    tokio::select! {
        result = &mut serving => return stopped(result),
        () = listening => println!("listening on {}", args.listen),
    }
    stopped(serving.await)
}

type TansuBroker = tansu_broker::broker::Broker<
    tansu_broker::coordinator::group::administrator::Controller<tansu_storage::StorageContainer>,
    tansu_storage::StorageContainer,
>;

/// tansu's broker on `listen` over `storage`; building it creates tansu's tables.
async fn build(listen: SocketAddr, storage: Url) -> anyhow::Result<TansuBroker> {
    let listener = Url::parse(&format!("tcp://{listen}"))?;
    TansuBroker::builder()
        .node_id(tansu_broker::NODE_ID)
        .cluster_id("baedal")
        .incarnation_id(uuid::Uuid::now_v7())
        .advertised_listener(listener.clone())
        .listener(listener)
        .storage(storage)
        .silent(true)
        .build()
        .await
        .map_err(|error| anyhow::anyhow!("opening the broker's storage: {error:?}"))
}

fn stopped(result: Result<(), tansu_broker::Error>) -> anyhow::Result<()> {
    match result {
        Ok(()) => anyhow::bail!("the broker stopped serving"),
        Err(error) => Err(anyhow::anyhow!("the broker failed: {error:?}")),
    }
}

/// The storage file as an absolute path, its directory created. (tansu resolves the URL's path
/// against the working directory after dropping one leading slash; `sqlite:///` plus an
/// absolute path keeps it absolute.)
fn storage_path(path: &Path) -> anyhow::Result<PathBuf> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the data directory {}", parent.display()))?;
    }
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

async fn wait_until_listening(addr: SocketAddr) {
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tansu's own queries, read from its sources in the cargo registry (they are not public).
    fn tansu_queries() -> Vec<(String, String)> {
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
            .expect("CARGO_HOME or HOME");
        let registry = home.join("registry/src");
        let mut queries = Vec::new();
        for index in std::fs::read_dir(&registry)
            .expect("the cargo registry")
            .flatten()
        {
            for krate in std::fs::read_dir(index.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let name = krate.file_name().to_string_lossy().into_owned();
                if !name.starts_with("tansu-storage-0.6.") {
                    continue;
                }
                for dir in ["src/sql", "src/lite"] {
                    for file in std::fs::read_dir(krate.path().join(dir))
                        .into_iter()
                        .flatten()
                    {
                        let path = file.unwrap().path();
                        if path.extension().is_some_and(|e| e == "sql") {
                            let sql = std::fs::read_to_string(&path).unwrap();
                            queries.push((path.display().to_string(), sql));
                        }
                    }
                }
            }
        }
        assert!(
            queries.len() > 50,
            "tansu-storage 0.6's queries not found under {}",
            registry.display()
        );
        queries
    }

    /// Deleting a topic, transactions and maintenance are not on the produce, fetch, offset or
    /// group paths; they may scan.
    fn off_the_hot_paths(file: &str) -> bool {
        [
            "delete_by_topic",
            "/txn_",
            "producer_",
            "policy_",
            "maintain",
            "freelist",
            "vacuum",
        ]
        .iter()
        .any(|part| file.contains(part))
    }

    /// `$1` → `?1`, as tansu's SQLite engine rewrites them; returns the highest parameter.
    fn sqlite_parameters(sql: &str) -> (String, usize) {
        let mut out = String::with_capacity(sql.len());
        let mut highest = 0;
        let mut chars = sql.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                out.push('?');
                let mut digits = String::new();
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    digits.push(d);
                    chars.next();
                }
                highest = highest.max(digits.parse().unwrap_or(0));
                out.push_str(&digits);
            } else {
                out.push(c);
            }
        }
        (out, highest)
    }

    /// Every query tansu runs on the produce, fetch, offset and group paths finds its rows
    /// through an index once ours are in: no step of its plan scans a table that grows with the
    /// log.
    #[tokio::test]
    async fn no_hot_query_of_the_broker_scans_a_growing_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker.db");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let storage = Url::parse(&format!("sqlite:///{}", path.display())).unwrap();
        let _broker = build(([127, 0, 0, 1], port).into(), storage).await.unwrap();
        add_indexes(&path).await.unwrap();
        add_indexes(&path)
            .await
            .expect("again, on a file that has them");

        let connection = connect(&path).await.unwrap();
        // The tables that grow with the log, and the aliases tansu's queries give them.
        let growing = [
            "header",
            "h",
            "record",
            "r",
            "consumer_offset",
            "co",
            "watermark",
            "w",
        ];
        let mut planned = 0;
        let mut scans = Vec::new();
        for (file, sql) in tansu_queries() {
            if off_the_hot_paths(&file) {
                continue;
            }
            let (sql, parameters) = sqlite_parameters(&sql);
            let nulls = vec![libsql::Value::Null; parameters];
            let Ok(mut rows) = connection
                .query(&format!("EXPLAIN QUERY PLAN {sql}"), nulls)
                .await
            else {
                continue; // PostgreSQL-only text, not run by the SQLite engine
            };
            planned += 1;
            while let Some(row) = rows.next().await.unwrap() {
                let detail: String = row.get(3).unwrap();
                let table = detail
                    .strip_prefix("SCAN ")
                    .and_then(|rest| rest.split_whitespace().next());
                if table.is_some_and(|table| growing.contains(&table)) {
                    scans.push(format!("{file}: {detail}"));
                }
            }
        }
        assert!(planned > 20, "only {planned} queries could be planned");
        assert!(
            scans.is_empty(),
            "scans of growing tables:\n{}",
            scans.join("\n")
        );
    }
}
