//! W3C trace context (`traceparent`) carried from an HTTP request or a consumed event to the events
//! it causes and the calls it makes, so one order's path through every service shares a trace id.
//! Kept as a task-local so the outbox and the HTTP client find it without threading it through
//! every function.

use std::future::Future;

use rand::RngCore;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: String,
    pub parent_id: String,
    pub flags: String,
}

tokio::task_local! {
    static CURRENT: TraceContext;
}

impl TraceContext {
    /// A new trace, for work that did not arrive with one.
    pub fn root() -> Self {
        Self {
            trace_id: random_hex(16),
            parent_id: random_hex(8),
            flags: "01".into(),
        }
    }

    /// Parses `00-<32 hex>-<16 hex>-<2 hex>`; anything else is ignored, as the spec asks.
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let (version, trace_id, parent_id, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let hex = |s: &str, len: usize| {
            s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        };
        let valid = hex(version, 2)
            && version != "ff"
            && hex(trace_id, 32)
            && trace_id.bytes().any(|b| b != b'0')
            && hex(parent_id, 16)
            && parent_id.bytes().any(|b| b != b'0')
            && hex(flags, 2)
            && (version != "00" || parts.next().is_none());
        valid.then(|| Self {
            trace_id: trace_id.into(),
            parent_id: parent_id.into(),
            flags: flags.into(),
        })
    }

    /// The same trace, with a new span of ours as the parent of what comes next.
    pub fn child(&self) -> Self {
        Self {
            trace_id: self.trace_id.clone(),
            parent_id: random_hex(8),
            flags: self.flags.clone(),
        }
    }

    pub fn header(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.parent_id, self.flags)
    }

    /// The context of the running task, if one was set.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Clone::clone).ok()
    }

    /// Runs `future` with this context as the current one.
    pub async fn scope<F: Future>(self, future: F) -> F::Output {
        CURRENT.scope(self, future).await
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trips_a_valid_header() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(TraceContext::parse(header).unwrap().header(), header);
    }

    #[test]
    fn rejects_invalid_headers() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn current_is_scoped_to_the_task() {
        assert_eq!(TraceContext::current(), None);
        let root = TraceContext::root();
        let seen = root.clone().scope(async { TraceContext::current() }).await;
        assert_eq!(seen, Some(root));
    }

    proptest! {
        #[test]
        fn generated_contexts_always_parse(_seed in 0u8..8) {
            let root = TraceContext::root();
            prop_assert_eq!(TraceContext::parse(&root.header()), Some(root.clone()));
            let child = root.child();
            prop_assert_eq!(&child.trace_id, &root.trace_id);
        }

        #[test]
        fn parsing_never_panics(input in ".{0,80}") {
            let _ = TraceContext::parse(&input);
        }
    }
}
