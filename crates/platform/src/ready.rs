//! Readiness gates: a gate opens once something an instance needs before it takes traffic has
//! happened (its consumers joined their groups; for `up`, the demo data is in). `/readyz` answers
//! 503 until every gate of the instance is open; `/healthz` only says the process is alive.

use std::sync::Arc;

use tokio::sync::watch;

/// Opens once and stays open; cheap to clone and to wait on.
#[derive(Clone, Debug)]
pub struct Gate(Arc<watch::Sender<bool>>);

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}

impl Gate {
    pub fn new() -> Self {
        Self(Arc::new(watch::Sender::new(false)))
    }

    /// A gate that is open from the start.
    pub fn opened() -> Self {
        let gate = Self::new();
        gate.open();
        gate
    }

    pub fn open(&self) {
        self.0.send_replace(true);
    }

    pub fn is_open(&self) -> bool {
        *self.0.borrow()
    }

    /// Returns once the gate is open.
    pub async fn wait(&self) {
        let mut open = self.0.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = open.wait_for(|open| *open).await;
    }

    /// A gate that opens when all of `gates` are open.
    pub fn all(gates: Vec<Gate>) -> Self {
        let all = Self::new();
        let opener = all.clone();
        tokio::spawn(async move {
            for gate in gates {
                gate.wait().await;
            }
            opener.open();
        });
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_gate_of_gates_opens_with_the_last_one() {
        let (a, b) = (Gate::new(), Gate::new());
        let all = Gate::all(vec![a.clone(), b.clone()]);
        a.open();
        tokio::task::yield_now().await;
        assert!(!all.is_open());
        b.open();
        tokio::time::timeout(std::time::Duration::from_secs(1), all.wait())
            .await
            .expect("opens");
        assert!(all.is_open());
    }

    #[tokio::test]
    async fn a_gate_of_no_gates_opens() {
        tokio::time::timeout(
            std::time::Duration::from_secs(1),
            Gate::all(Vec::new()).wait(),
        )
        .await
        .expect("opens");
    }
}
