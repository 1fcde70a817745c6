//! The embedded broker as a supervised child process: `up`, `bench` and the tests run
//! `baedal-broker` (see `src/bin/baedal-broker.rs`) on a chosen port, wait until it listens,
//! restart it when it dies, and stop it by closing its standard input.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, bail};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, ChildStdin, Command},
    sync::mpsc,
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

/// The broker binary's name, next to `baedal`.
pub const PROGRAM: &str = "baedal-broker";

/// How long a broker may take to open its storage and listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What `up` needs to run a broker: the program, where it listens and where it keeps its log.
#[derive(Clone, Debug)]
pub struct BrokerPlan {
    pub program: PathBuf,
    pub listen: SocketAddr,
    pub storage: PathBuf,
    /// How often the broker deletes records past their topic's retention.
    pub maintenance_interval: Duration,
}

impl BrokerPlan {
    /// The broker of `up`: maintained every five minutes.
    pub fn new(program: PathBuf, listen: SocketAddr, storage: PathBuf) -> Self {
        Self {
            program,
            listen,
            storage,
            maintenance_interval: Duration::from_secs(300),
        }
    }
}

/// A running broker process, restarted whenever it dies until [`BrokerProcess::stop`].
pub struct BrokerProcess {
    addr: SocketAddr,
    kill: mpsc::UnboundedSender<()>,
    stop: CancellationToken,
    supervisor: Option<JoinHandle<()>>,
}

impl BrokerProcess {
    /// Starts the broker and waits until it accepts connections. Fails at once, naming the port,
    /// when something else listens there.
    pub async fn start(plan: BrokerPlan) -> anyhow::Result<Self> {
        ensure_free(plan.listen)?;
        let running = spawn(&plan).await?;
        let (kill, killed) = mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let supervisor = tokio::spawn(supervise(plan.clone(), running, killed, stop.clone()));
        Ok(Self {
            addr: plan.listen,
            kill,
            stop,
            supervisor: Some(supervisor),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Kills the broker with SIGKILL, as a crash would; the supervisor starts it again.
    pub fn kill(&self) {
        let _ = self.kill.send(());
    }

    /// Stops the broker gracefully (closing its standard input) and waits for it to exit.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(supervisor) = self.supervisor.take() {
            let _ = supervisor.await;
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        // The child is spawned with kill_on_drop, so even a dropped runtime takes it down.
        self.stop.cancel();
    }
}

/// A broker process and the pipe whose closing stops it.
struct Running {
    child: Child,
    stdin: ChildStdin,
}

async fn supervise(
    plan: BrokerPlan,
    mut running: Running,
    mut killed: mpsc::UnboundedReceiver<()>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = stop.cancelled() => {
                drop(running.stdin);
                if tokio::time::timeout(Duration::from_secs(10), running.child.wait()).await.is_err() {
                    tracing::warn!("the embedded broker did not stop within 10 s; killing it");
                    let _ = running.child.kill().await;
                }
                return;
            }
            Some(()) = killed.recv() => {
                let _ = running.child.start_kill();
                continue;
            }
            status = running.child.wait() => {
                tracing::error!(status = ?status.ok(), "the embedded broker exited; restarting it");
                metrics::counter!("broker_restarts_total").increment(1);
            }
        }
        // Restart until it comes back or we are asked to stop; its port may still be in
        // TIME_WAIT for a moment, and its storage survives.
        running = loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            match spawn(&plan).await {
                Ok(running) => {
                    tracing::info!(addr = %plan.listen, "the embedded broker is back");
                    break running;
                }
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "restarting the embedded broker failed; retrying");
                }
            }
        };
    }
}

async fn spawn(plan: &BrokerPlan) -> anyhow::Result<Running> {
    let mut child = Command::new(&plan.program)
        .arg("--listen")
        .arg(plan.listen.to_string())
        .arg("--storage")
        .arg(&plan.storage)
        .arg("--exit-on-stdin-close")
        .arg("--maintenance-interval")
        .arg(format!("{}ms", plan.maintenance_interval.as_millis()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Its own process group: a Ctrl-C in the terminal goes to `up`, which stops the services
        // before the broker they flush to.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting the embedded broker {}", plan.program.display()))?;
    let stdin = child.stdin.take().context("the broker's stdin")?;
    let stdout = child.stdout.take().context("the broker's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let listening = async {
        loop {
            match lines.next_line().await {
                Ok(Some(line)) if line.starts_with("listening on ") => return Ok(()),
                Ok(Some(_)) => {}
                Ok(None) => {
                    let status = child.wait().await?;
                    bail!(
                        "the embedded broker exited before it listened on {} ({status}); its error is above",
                        plan.listen
                    )
                }
                Err(error) => return Err(error.into()),
            }
        }
    };
    match tokio::time::timeout(START_TIMEOUT, listening).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(error),
        Err(_) => bail!(
            "the embedded broker did not listen on {} within {} s",
            plan.listen,
            START_TIMEOUT.as_secs()
        ),
    }
    // Whatever else it prints goes nowhere rather than filling a pipe nobody reads.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Running { child, stdin })
}

/// Fails naming the port when something already listens on `addr`.
pub fn ensure_free(addr: SocketAddr) -> anyhow::Result<()> {
    std::net::TcpListener::bind(addr)
        .map(drop)
        .map_err(|error| bind_error("the embedded broker", addr, error))
}

/// Why a listener could not bind, naming the port when it is taken.
pub fn bind_error(what: &str, addr: SocketAddr, error: std::io::Error) -> anyhow::Error {
    let message = if error.kind() == std::io::ErrorKind::AddrInUse {
        format!(
            "port {} is in use: {what} cannot listen on {addr}",
            addr.port()
        )
    } else {
        format!("{what} cannot listen on {addr}")
    };
    anyhow::Error::new(error).context(message)
}

/// Where `baedal-broker` is: `explicit` (`--broker-bin`), or next to this executable. Under
/// `cargo run` it is built first, because `cargo run` builds only the binary it runs.
pub fn locate(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(program) = explicit {
        return Ok(program);
    }
    let exe = std::env::current_exe().context("finding this executable")?;
    let dir = exe.parent().context("this executable has no directory")?;
    let program = dir.join(PROGRAM);
    if let Some(cargo) = std::env::var_os("CARGO") {
        build_with_cargo(Path::new(&cargo), dir)?;
    }
    if !program.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release --bin {PROGRAM}`, pass \
             --broker-bin, or use an external Kafka with --kafka",
            program.display()
        );
    }
    Ok(program)
}

/// Builds `baedal-broker` into the directory `baedal` was built into (no-op when it is fresh).
fn build_with_cargo(cargo: &Path, exe_dir: &Path) -> anyhow::Result<()> {
    // `cargo run` names the checkout it runs from; the one baked in at compile time may be
    // another checkout's when a build cache is shared.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    let manifest = manifest_dir.join("Cargo.toml");
    let (Some(target_dir), Some(profile)) = (exe_dir.parent(), exe_dir.file_name()) else {
        return Ok(());
    };
    if !manifest.exists() {
        return Ok(());
    }
    let profile = match profile.to_str() {
        Some("debug") => "dev",
        Some(profile) => profile,
        None => return Ok(()),
    };
    eprintln!("baedal: building the embedded broker ({PROGRAM}) with cargo");
    let mut command = std::process::Command::new(cargo);
    command
        .args([
            "build",
            "--package",
            "baedal",
            "--bin",
            PROGRAM,
            "--profile",
            profile,
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target_dir);
    // `cargo run` gave this process the variables it gives a crate (CARGO_PKG_NAME,
    // CARGO_MANIFEST_DIR, ...). Build scripts such as ring's rerun when those change, so passed
    // on they would make this build recompile half the tree; the build is the user's, as if typed.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if is_crate_variable(&name) {
            command.env_remove(name.as_ref());
        }
    }
    let status = command
        .status()
        .with_context(|| format!("running {}", cargo.display()))?;
    if !status.success() {
        bail!("building {PROGRAM} failed ({status})");
    }
    Ok(())
}

/// Whether `name` is one of the variables cargo sets for a crate it builds or runs, rather than
/// one of the user's settings (CARGO_HOME, CARGO_TARGET_DIR, CARGO_BUILD_*, ...).
fn is_crate_variable(name: &str) -> bool {
    [
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_CRATE_",
        "CARGO_BIN_",
        "CARGO_CFG_",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
        || matches!(name, "CARGO_PRIMARY_PACKAGE" | "OUT_DIR")
}

/// A port nobody listens on right now (the broker cannot bind port 0 itself). It is picked below
/// Linux's ephemeral range (32768 and up), where the kernel never hands it to someone's outgoing
/// connection before our listener binds it, as a port-0 pick could be. A port is handed out once
/// per process: between this check and the listener's bind, a second pick could otherwise name it
/// again (two tests starting side by side did, and one platform found its gateway port taken).
pub fn free_port() -> std::io::Result<u16> {
    use std::hash::{BuildHasher, Hasher};
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for _ in 0..1000 {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(std::process::id().into());
        let port = 20_000 + (hasher.finish() % 12_000) as u16;
        if !handed_out.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed_out.push(port);
            return Ok(port);
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0").map(|l| l.local_addr().map(|a| a.port()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_variables_cargo_sets_for_a_crate_are_dropped() {
        for name in [
            "CARGO_PKG_NAME",
            "CARGO_MANIFEST_DIR",
            "CARGO_CRATE_NAME",
            "OUT_DIR",
        ] {
            assert!(is_crate_variable(name), "{name}");
        }
        for name in [
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_JOBS",
            "CARGO",
            "PATH",
        ] {
            assert!(!is_crate_variable(name), "{name}");
        }
    }
}
