//! Live streams (Server-Sent Events): what a client following an order, a store's orders or the
//! deliveries near a rider is shown the moment it changes.
//!
//! A change a stream shows is written by [`record`] in the transaction of the change itself, so a
//! stream shows only what committed, and a client that comes back with `Last-Event-ID` is given
//! every change it missed from the table (each stream numbers its own changes). Live delivery
//! inside a process goes through a [`Hub`] of broadcast channels, one per open stream key, fed by
//! the service's follower: on SQLite (one process per database) it reads new rows right after
//! each commit; on PostgreSQL every replica listens for the `NOTIFY` that [`record`] sends, so a
//! change committed by one replica reaches streams open on another.
//!
//! A slow reader never holds anything up: its channel drops what it cannot keep, and the stream
//! reads what it lost back from the table.

use std::{
    collections::{HashMap, VecDeque},
    convert::Infallible,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::FromRequestParts,
    http::{HeaderName, request::Parts},
    response::sse::{Event as SseEvent, KeepAlive, KeepAliveStream, Sse},
};
use futures::{StreamExt, stream::BoxStream};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use crate::{
    ApiError,
    config::LiveSettings,
    db::{Backend, Db, Tx, now_ms},
};

/// The `NOTIFY` channel of a service's database (each service has its own database).
const CHANNEL: &str = "baedal_live";
/// PostgreSQL refuses a payload of 8000 bytes or more; a larger change goes without its data,
/// and the listener reads it from the table.
const MAX_PAYLOAD: usize = 7500;
/// Changes read from the table at once, replaying or following.
const PAGE: i64 = 500;
/// Changes one stream key may have waiting before its slowest reader starts losing them (and
/// reads them back from the table).
const BACKLOG: usize = 64;

pub const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// One change of one stream.
#[derive(Clone, Debug, Serialize, Deserialize, sqlx::FromRow)]
pub struct Change {
    pub feed: String,
    #[sqlx(rename = "stream_key")]
    pub key: String,
    /// The stream's event id: the changes of one stream are numbered 1, 2, 3...
    pub seq: i64,
    /// The SSE event name.
    pub event: String,
    /// The SSE data: JSON, one line. `None` in a notification too big to carry it.
    #[serde(default)]
    pub data: Option<String>,
}

/// Writes a change of the stream `feed`/`key` inside `tx`: streams show it once `tx` commits.
/// Returns its event id.
pub async fn record(
    tx: &mut Tx,
    feed: &str,
    key: &str,
    event: &str,
    data: &impl Serialize,
) -> anyhow::Result<i64> {
    let data = serde_json::to_string(data)?;
    // The counter row stays locked until commit, so the changes of one stream commit in order.
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO live_streams (feed, stream_key, last_seq) VALUES ($1, $2, 1) \
         ON CONFLICT (feed, stream_key) DO UPDATE SET last_seq = live_streams.last_seq + 1 \
         RETURNING last_seq",
    )
    .bind(feed)
    .bind(key)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO live_changes (feed, stream_key, seq, event, data, at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(feed)
    .bind(key)
    .bind(seq)
    .bind(event)
    .bind(&data)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    if tx.backend_name() == "PostgreSQL" {
        let mut change = Change {
            feed: feed.to_owned(),
            key: key.to_owned(),
            seq,
            event: event.to_owned(),
            data: Some(data),
        };
        let mut payload = serde_json::to_string(&change)?;
        if payload.len() > MAX_PAYLOAD {
            change.data = None;
            payload = serde_json::to_string(&change)?;
        }
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
    }
    Ok(seq)
}

/// What a stream is told by the hub.
#[derive(Clone, Debug)]
enum Signal {
    Change(Arc<Change>),
    /// The follower may have missed changes (its connection to PostgreSQL was lost): read the
    /// table again from the last change sent.
    Resync,
}

/// The broadcast channels of the stream keys someone is following in this process.
#[derive(Default)]
struct Hub {
    keys: Mutex<HashMap<(String, String), broadcast::Sender<Signal>>>,
}

impl Hub {
    fn subscribe(&self, feed: &str, key: &str) -> broadcast::Receiver<Signal> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.entry((feed.to_owned(), key.to_owned()))
            .or_insert_with(|| broadcast::channel(BACKLOG).0)
            .subscribe()
    }

    fn route(&self, change: Change) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let id = (change.feed.clone(), change.key.clone());
        if let Some(sender) = keys.get(&id)
            && sender.send(Signal::Change(Arc::new(change))).is_err()
        {
            // Nobody follows it any more.
            keys.remove(&id);
        }
    }

    fn resync(&self) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.retain(|_, sender| sender.send(Signal::Resync).is_ok());
    }
}

/// What one client is shown of a change.
#[derive(Clone, Debug, PartialEq)]
pub enum Shown {
    AsIs,
    /// Not for this client (a delivery far from the rider).
    Hidden,
    /// Shown with other data (with the distance from this rider, say).
    Rewritten(String),
}

/// Where a new stream (one without `Last-Event-ID`) begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// With every change still kept: an order's steps so far.
    Beginning,
    /// With the next change: a store's or a rider's list is read over REST first.
    Now,
}

/// The live streams of one service.
#[derive(Clone)]
pub struct Live(Arc<Inner>);

struct Inner {
    db: Db,
    hub: Hub,
    committed: Arc<Notify>,
    settings: LiveSettings,
    shutdown: CancellationToken,
    /// The follower runs only in services that serve a stream.
    used: AtomicBool,
}

impl Live {
    pub fn new(
        db: Db,
        committed: Arc<Notify>,
        settings: LiveSettings,
        shutdown: CancellationToken,
    ) -> Self {
        Self(Arc::new(Inner {
            db,
            hub: Hub::default(),
            committed,
            settings,
            shutdown,
            used: AtomicBool::new(false),
        }))
    }

    /// Marks the service as serving streams, so [`Live::follow`] runs.
    pub fn serve(&self) -> Self {
        self.0.used.store(true, Ordering::Relaxed);
        self.clone()
    }

    pub fn used(&self) -> bool {
        self.0.used.load(Ordering::Relaxed)
    }

    /// Feeds committed changes to the hub and deletes those past retention, until shutdown.
    pub async fn follow(self) -> anyhow::Result<()> {
        let prune = tokio::spawn(self.clone().prune());
        let followed = match (self.0.db.backend(), self.0.db.url()) {
            (Backend::Postgres, url) => self.listen(url).await,
            (Backend::Sqlite, _) => self.tail().await,
        };
        prune.abort();
        followed
    }

    /// SQLite: one writer, so rows are read in commit order by rowid, right after each commit
    /// (and every poll interval, for safety).
    async fn tail(&self) -> anyhow::Result<()> {
        let inner = &self.0;
        let mut cursor: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(rowid), 0) FROM live_changes")
                .fetch_one(inner.db.reader())
                .await?;
        let poll = inner.settings.poll_interval;
        loop {
            tokio::select! {
                () = inner.shutdown.cancelled() => return Ok(()),
                () = inner.committed.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
            loop {
                let rows = sqlx::query_as::<_, Noticed>(
                    "SELECT rowid, feed, stream_key, seq, event, data FROM live_changes \
                     WHERE rowid > $1 ORDER BY rowid LIMIT $2",
                )
                .bind(cursor)
                .bind(PAGE)
                .fetch_all(inner.db.reader())
                .await;
                let rows = match rows {
                    Ok(rows) => rows,
                    Err(error) => {
                        tracing::warn!(%error, "reading live changes failed");
                        break;
                    }
                };
                let count = rows.len() as i64;
                for noticed in rows {
                    cursor = noticed.rowid;
                    inner.hub.route(noticed.change);
                }
                if count < PAGE {
                    break;
                }
            }
        }
    }

    /// PostgreSQL: every replica hears every change its database commits.
    async fn listen(&self, url: &str) -> anyhow::Result<()> {
        let inner = &self.0;
        loop {
            let mut listener = tokio::select! {
                () = inner.shutdown.cancelled() => return Ok(()),
                connected = sqlx::postgres::PgListener::connect(url) => match connected {
                    Ok(listener) => listener,
                    Err(error) => {
                        tracing::warn!(%error, "live listener cannot connect; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                },
            };
            // Nothing is delivered while no-one listens: changes may have been missed.
            listener.ignore_pool_close_event(true);
            if let Err(error) = listener.listen(CHANNEL).await {
                tracing::warn!(%error, "live listener cannot listen; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            inner.hub.resync();
            loop {
                let notification = tokio::select! {
                    () = inner.shutdown.cancelled() => return Ok(()),
                    notification = listener.try_recv() => notification,
                };
                match notification {
                    Ok(Some(notification)) => {
                        match serde_json::from_str::<Change>(notification.payload()) {
                            Ok(change) => inner.hub.route(change),
                            Err(error) => tracing::warn!(%error, "unreadable live notification"),
                        }
                    }
                    // The connection was lost (and is made again by the next try_recv): what
                    // was committed meanwhile was not heard.
                    Ok(None) => inner.hub.resync(),
                    Err(error) => {
                        tracing::warn!(%error, "live listener failed; reconnecting");
                        break;
                    }
                }
            }
        }
    }

    /// Deletes changes past retention, keeping each stream's counter (a resumed stream older
    /// than that is told to `reset`).
    async fn prune(self) {
        let retention = self.0.settings.retention;
        loop {
            tokio::select! {
                () = self.0.shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(60)) => {}
            }
            let cutoff = now_ms() - retention.as_millis() as i64;
            if let Err(error) = self.forget_before(cutoff).await {
                tracing::warn!(%error, "pruning live changes failed");
            }
        }
    }

    /// Deletes the changes recorded before `cutoff` (epoch ms). The newest row stays, so SQLite
    /// never hands out a rowid the follower has passed.
    async fn forget_before(&self, cutoff: i64) -> sqlx::Result<()> {
        sqlx::query(
            "DELETE FROM live_changes WHERE at < $1 \
             AND at < (SELECT MAX(at) FROM live_changes)",
        )
        .bind(cutoff)
        .execute(self.0.db.pool())
        .await
        .map(drop)
    }

    /// The stream `feed`/`key`, from `resume` (the client's `Last-Event-ID`) or from `start`,
    /// showing each change as `show` says, with heartbeats, until the client leaves or the
    /// service stops.
    pub async fn stream(
        &self,
        feed: &'static str,
        key: String,
        resume: LastEventId,
        start: Start,
        show: impl Fn(&Change) -> Shown + Send + Sync + 'static,
    ) -> Result<Sse<KeepAliveStream<Events>>, ApiError> {
        let state = self
            .following(feed, key, resume, start, Box::new(show))
            .await?;
        let events = futures::stream::unfold(state, |mut state| async move {
            state.next().await.map(|item| (Ok(item.into()), state))
        })
        .boxed();
        Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(self.0.settings.heartbeat)))
    }

    async fn following(
        &self,
        feed: &'static str,
        key: String,
        resume: LastEventId,
        start: Start,
        show: Box<dyn Fn(&Change) -> Shown + Send + Sync>,
    ) -> Result<Following, ApiError> {
        let inner = self.0.clone();
        // Subscribed before reading the table, so nothing falls between the two.
        let receiver = inner.hub.subscribe(feed, &key);
        let pool = inner.db.reader().clone();
        // The stream's last change, and the oldest one still kept.
        let (last_seq, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT \
             (SELECT COALESCE(MAX(last_seq), 0) FROM live_streams \
              WHERE feed = $1 AND stream_key = $2), \
             (SELECT MIN(seq) FROM live_changes WHERE feed = $1 AND stream_key = $2)",
        )
        .bind(feed)
        .bind(&key)
        .fetch_one(&pool)
        .await
        .map_err(ApiError::internal)?;
        let mut pending = VecDeque::new();
        let after = match resume.0 {
            Some(after)
                if after == last_seq
                    || (after < last_seq && oldest.is_some_and(|oldest| after >= oldest - 1)) =>
            {
                after
            }
            // Older than what is kept, or an id this stream never gave: the client must read
            // the state afresh over REST; the stream goes on from now.
            Some(_) => {
                pending.push_back(Item::Reset);
                last_seq
            }
            None if start == Start::Beginning => 0,
            None => last_seq,
        };
        metrics::gauge!("live_streams_open", "feed" => feed).increment(1.0);
        let state = Following {
            feed,
            key,
            pool,
            receiver,
            last: after,
            pending,
            show,
            caught_up: false,
            shutdown: inner.shutdown.clone(),
        };
        Ok(state)
    }
}

/// What a stream sends.
pub type Events = BoxStream<'static, Result<SseEvent, Infallible>>;

/// One client's stream.
struct Following {
    feed: &'static str,
    key: String,
    pool: sqlx::AnyPool,
    receiver: broadcast::Receiver<Signal>,
    /// The last change sent (or hidden).
    last: i64,
    pending: VecDeque<Item>,
    show: Box<dyn Fn(&Change) -> Shown + Send + Sync>,
    caught_up: bool,
    shutdown: CancellationToken,
}

impl Following {
    async fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if !self.caught_up {
                // Replays what the table has after `last`; a failure ends the stream, and the
                // client's reconnect resumes it.
                self.catch_up().await.ok()?;
                self.caught_up = true;
                continue;
            }
            let signal = tokio::select! {
                () = self.shutdown.cancelled() => return None,
                signal = self.receiver.recv() => signal,
            };
            match signal {
                Ok(Signal::Change(change)) => {
                    if change.seq <= self.last {
                        continue;
                    }
                    if change.seq > self.last + 1 || change.data.is_none() {
                        // A gap (or a change too big to notify): the table has it.
                        self.caught_up = false;
                        continue;
                    }
                    self.push(&change);
                }
                Ok(Signal::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.caught_up = false;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    async fn catch_up(&mut self) -> anyhow::Result<()> {
        loop {
            // The stream's feed and key are this follower's own: only the rest is read.
            let rows: Vec<(i64, String, String)> = sqlx::query_as(
                "SELECT seq, event, data FROM live_changes \
                 WHERE feed = $1 AND stream_key = $2 AND seq > $3 ORDER BY seq LIMIT $4",
            )
            .bind(self.feed)
            .bind(&self.key)
            .bind(self.last)
            .bind(PAGE)
            .fetch_all(&self.pool)
            .await?;
            let count = rows.len() as i64;
            for (seq, event, data) in rows {
                let change = Change {
                    feed: self.feed.to_owned(),
                    key: self.key.clone(),
                    seq,
                    event,
                    data: Some(data),
                };
                self.push(&change);
            }
            if count < PAGE {
                return Ok(());
            }
        }
    }

    fn push(&mut self, change: &Change) {
        self.last = change.seq;
        let data = match (self.show)(change) {
            Shown::Hidden => return,
            Shown::AsIs => change.data.clone().unwrap_or_else(|| "null".to_owned()),
            Shown::Rewritten(data) => data,
        };
        self.pending.push_back(Item::Change {
            seq: change.seq,
            event: change.event.clone(),
            data,
        });
    }
}

/// What a stream sends next.
#[derive(Debug, PartialEq)]
enum Item {
    Change {
        seq: i64,
        event: String,
        data: String,
    },
    /// The changes since the client's `Last-Event-ID` are gone: read the state afresh.
    Reset,
}

impl From<Item> for SseEvent {
    fn from(item: Item) -> Self {
        match item {
            Item::Change { seq, event, data } => SseEvent::default()
                .id(seq.to_string())
                .event(event)
                .data(data),
            Item::Reset => SseEvent::default().event("reset").data(
                r#"{"reason":"the changes since that event are no longer kept; read the state again"}"#,
            ),
        }
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        metrics::gauge!("live_streams_open", "feed" => self.feed).decrement(1.0);
    }
}

/// A change as the table holds it, with its place in the table (`rowid`).
#[derive(sqlx::FromRow)]
struct Noticed {
    rowid: i64,
    #[sqlx(flatten)]
    change: Change,
}

/// The `Last-Event-ID` a reconnecting client sends: the last change it was shown.
/// Handlers name it in their `params(...)`, so every stream documents the header alike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, utoipa::IntoParams)]
#[into_params(names("Last-Event-ID"), parameter_in = Header)]
pub struct LastEventId(
    /// The id of the last event seen (browsers send it when they reconnect): the stream goes on
    /// after it. Unusable: 400 `invalid-last-event-id`.
    #[param(minimum = 0)]
    pub Option<i64>,
);

impl<S: Send + Sync> FromRequestParts<S> for LastEventId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(LAST_EVENT_ID) else {
            return Ok(Self(None));
        };
        value
            .to_str()
            .ok()
            .and_then(|value| value.trim().parse::<i64>().ok())
            .filter(|id| *id >= 0)
            .map(|id| Self(Some(id)))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid-last-event-id",
                    "Last-Event-ID must be the id of an event this stream sent",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::NO_MIGRATIONS;

    async fn live() -> (Live, Arc<Notify>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("live.db").display());
        let db = Db::connect(&url, 1, &NO_MIGRATIONS).await.unwrap();
        let committed = Arc::new(Notify::new());
        let live = Live::new(
            db,
            committed.clone(),
            LiveSettings::default(),
            CancellationToken::new(),
        )
        .serve();
        tokio::spawn(live.clone().follow());
        (live, committed, dir)
    }

    async fn change(live: &Live, committed: &Notify, key: &str, n: i64) {
        let mut tx = live.0.db.begin().await.unwrap();
        record(
            &mut tx,
            "test",
            key,
            "changed",
            &serde_json::json!({ "n": n }),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        committed.notify_one();
    }

    /// A client's stream of key `k`, shown everything.
    async fn follow(live: &Live, resume: Option<i64>, start: Start) -> Following {
        live.following(
            "test",
            "k".into(),
            LastEventId(resume),
            start,
            Box::new(|_| Shown::AsIs),
        )
        .await
        .unwrap()
    }

    fn seqs(items: &[Item]) -> Vec<i64> {
        items
            .iter()
            .map(|item| match item {
                Item::Change { seq, .. } => *seq,
                Item::Reset => -1,
            })
            .collect()
    }

    async fn take(following: &mut Following, count: usize) -> Vec<Item> {
        let mut items = Vec::new();
        while items.len() < count {
            let item = tokio::time::timeout(Duration::from_secs(10), following.next())
                .await
                .expect("an item within 10 s")
                .expect("the stream goes on");
            items.push(item);
        }
        items
    }

    #[tokio::test]
    async fn a_reader_that_falls_behind_its_backlog_gets_every_change_in_order_from_the_table() {
        let (live, committed, _dir) = live().await;
        let mut following = follow(&live, None, Start::Now).await;
        // Four times what the channel keeps for a reader that does not read.
        let count = BACKLOG as i64 * 4;
        for n in 1..=count {
            change(&live, &committed, "k", n).await;
        }
        // Another key's changes are not this stream's.
        change(&live, &committed, "other", 0).await;
        let items = take(&mut following, count as usize).await;
        assert_eq!(seqs(&items), (1..=count).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_stream_resumes_after_its_last_event_and_an_unknown_id_is_told_to_reset() {
        let (live, committed, _dir) = live().await;
        for n in 1..=5 {
            change(&live, &committed, "k", n).await;
        }
        let mut beginning = follow(&live, None, Start::Beginning).await;
        assert_eq!(seqs(&take(&mut beginning, 5).await), [1, 2, 3, 4, 5]);

        let mut resumed = follow(&live, Some(3), Start::Now).await;
        change(&live, &committed, "k", 6).await;
        assert_eq!(seqs(&take(&mut resumed, 3).await), [4, 5, 6]);

        let mut unknown = follow(&live, Some(99), Start::Now).await;
        change(&live, &committed, "k", 7).await;
        assert_eq!(seqs(&take(&mut unknown, 2).await), [-1, 7]);
    }

    #[tokio::test]
    async fn a_stream_resumed_from_before_what_is_kept_is_told_to_reset() {
        let (live, committed, _dir) = live().await;
        for n in 1..=3 {
            change(&live, &committed, "k", n).await;
            // Rows are aged by the millisecond: one apart each.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // Everything recorded until now is past retention; the newest row stays.
        live.forget_before(now_ms() + 1).await.unwrap();
        let mut gone = follow(&live, Some(1), Start::Now).await;
        change(&live, &committed, "k", 4).await;
        assert_eq!(seqs(&take(&mut gone, 2).await), [-1, 4]);

        // Right before the oldest change kept is still a place to go on from.
        let mut kept = follow(&live, Some(2), Start::Now).await;
        assert_eq!(seqs(&take(&mut kept, 2).await), [3, 4]);
    }

    #[tokio::test]
    async fn a_hidden_change_moves_the_stream_on_without_being_sent() {
        let (live, committed, _dir) = live().await;
        let mut odd = live
            .following(
                "test",
                "k".into(),
                LastEventId(None),
                Start::Now,
                Box::new(|change| {
                    if change.seq % 2 == 1 {
                        Shown::AsIs
                    } else {
                        Shown::Hidden
                    }
                }),
            )
            .await
            .unwrap();
        for n in 1..=5 {
            change(&live, &committed, "k", n).await;
        }
        let items = take(&mut odd, 3).await;
        assert_eq!(seqs(&items), [1, 3, 5]);
        assert_eq!(
            items[0],
            Item::Change {
                seq: 1,
                event: "changed".into(),
                data: r#"{"n":1}"#.into()
            }
        );
    }
}
