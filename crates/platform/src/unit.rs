//! The unit of work every command and policy changes state through: begin → load → decide → save
//! → enqueue the events the decision caused → commit → wake the relay. Saving is optimistic: an
//! aggregate is saved over the version it was loaded at, and a lost race is decided again on
//! fresh state. The domain decides synchronously on the loaded aggregate; storage, events and
//! retries are done here, once.
//!
//! A command runs [`UnitOfWork::change`] (its own transaction). A policy runs [`change_in`] inside
//! the consumer's transaction, which also holds the inbox rows and commits the batch; a lost race
//! there fails the event, and the consumer takes it again.

use std::future::Future;

use contracts::Event;

use crate::{
    ApiError,
    db::{Db, Tx},
    outbox::{self, OutboxSignal},
};

/// How many times a command is decided on fresh state after losing a version race.
const ATTEMPTS: usize = 3;

/// An aggregate kept in a service's database.
pub trait Aggregate: Sized + Send + Sync {
    type Id: ?Sized + Sync + std::fmt::Display;

    /// The problem `code` and `detail` when there is no aggregate with the id asked for.
    const NOT_FOUND: (&'static str, &'static str);

    fn load(
        tx: &mut Tx,
        id: &Self::Id,
    ) -> impl Future<Output = anyhow::Result<Option<Self>>> + Send;

    /// Writes a new aggregate, with what its creation keeps in step; false when one with its id
    /// exists already.
    fn insert(
        &self,
        tx: &mut Tx,
        caused: &[Event],
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;

    /// Saves over the version it was loaded at, with what the change keeps in step in the same
    /// transaction (counts, a menu's history), and moves its version on; false when another
    /// transaction saved it first.
    fn save(
        &mut self,
        tx: &mut Tx,
        caused: &[Event],
    ) -> impl Future<Output = anyhow::Result<bool>> + Send;
}

/// What deciding did to an aggregate.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Nothing to save: the command asked for what already is.
    Unchanged,
    /// Save it, and publish these events with it (possibly none).
    Changed(Vec<Event>),
}

impl Decision {
    /// Changed, publishing `event`.
    pub fn publish(event: impl Into<Event>) -> Self {
        Self::Changed(vec![event.into()])
    }

    /// Changed, publishing nothing.
    pub fn quiet() -> Self {
        Self::Changed(Vec::new())
    }

    /// Changed, publishing what there is (maybe nothing).
    pub fn changed<E: Into<Event>>(events: impl IntoIterator<Item = E>) -> Self {
        Self::Changed(events.into_iter().map(Into::into).collect())
    }
}

/// Changed with `Some` event, unchanged with `None`: what a domain method that may have nothing
/// to do returns.
impl<T: Into<Event>> From<Option<T>> for Decision {
    fn from(event: Option<T>) -> Self {
        event.map_or(Self::Unchanged, Self::publish)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkError<E> {
    /// No aggregate has that id: its `NOT_FOUND` problem.
    #[error("{}", .0.1)]
    NotFound((&'static str, &'static str)),
    /// The domain refused the command.
    #[error(transparent)]
    Refused(E),
    /// Still losing the version race after every attempt.
    #[error("it kept changing concurrently")]
    Conflict,
    #[error(transparent)]
    Storage(#[from] anyhow::Error),
}

impl<E> From<sqlx::Error> for WorkError<E> {
    fn from(error: sqlx::Error) -> Self {
        Self::Storage(error.into())
    }
}

/// The answer for an aggregate nobody has, or that is not the caller's to see (the same one, so
/// ids are not a way to probe): its `NOT_FOUND` problem.
pub fn not_found<A: Aggregate>() -> ApiError {
    let (code, detail) = A::NOT_FOUND;
    ApiError::not_found(code, detail)
}

impl<E: Into<ApiError>> From<WorkError<E>> for ApiError {
    fn from(error: WorkError<E>) -> Self {
        match error {
            WorkError::NotFound((code, detail)) => ApiError::not_found(code, detail),
            WorkError::Refused(refusal) => refusal.into(),
            WorkError::Conflict => {
                ApiError::conflict("concurrent-change", "it is changing right now; try again")
            }
            WorkError::Storage(error) => ApiError::internal(error),
        }
    }
}

/// A new aggregate collided with one that exists.
#[derive(Debug, thiserror::Error)]
#[error("it exists already")]
pub struct Exists;

impl From<Exists> for ApiError {
    fn from(_: Exists) -> Self {
        ApiError::conflict("already-exists", "it exists already")
    }
}

/// Commands' transactions: the database and the relay to wake after a commit.
#[derive(Clone)]
pub struct UnitOfWork {
    db: Db,
    outbox: OutboxSignal,
}

impl UnitOfWork {
    pub fn new(db: Db, outbox: OutboxSignal) -> Self {
        Self { db, outbox }
    }

    /// Loads the aggregate `id`, lets `decide` change it, saves it with the events it caused and
    /// commits; decides again on fresh state when another transaction saved it first. Returns
    /// the aggregate as saved (or as loaded, when unchanged).
    pub async fn change<A: Aggregate, E>(
        &self,
        id: &A::Id,
        mut decide: impl FnMut(&mut A) -> Result<Decision, E> + Send,
    ) -> Result<A, WorkError<E>> {
        for _ in 0..ATTEMPTS {
            let mut tx = self.db.begin().await?;
            match change_in(&mut tx, id, &mut decide).await {
                Ok(aggregate) => {
                    tx.commit().await?;
                    // Even a change that publishes nothing may be shown on a live stream.
                    self.outbox.wake();
                    return Ok(aggregate);
                }
                Err(WorkError::Conflict) => continue,
                // PostgreSQL broke a lock cycle (two writers of one live stream and one
                // aggregate, say) by failing this transaction: a lost race too.
                Err(WorkError::Storage(error)) if crate::db::is_lock_conflict(&error) => continue,
                Err(error) => return Err(error),
            }
        }
        Err(WorkError::Conflict)
    }

    /// Writes a new aggregate with the events its creation caused, and commits. Refused with
    /// [`Exists`] when one with its id (or another unique key of it) is there already.
    pub async fn create<A: Aggregate>(
        &self,
        aggregate: &A,
        caused: impl IntoIterator<Item = Event> + Send,
    ) -> Result<(), WorkError<Exists>> {
        let caused: Vec<Event> = caused.into_iter().collect();
        let mut tx = self.db.begin().await?;
        if !aggregate.insert(&mut tx, &caused).await? {
            return Err(WorkError::Refused(Exists));
        }
        outbox::enqueue(&mut tx, caused).await?;
        tx.commit().await?;
        self.outbox.wake();
        Ok(())
    }
}

/// The same steps as [`UnitOfWork::change`] inside `tx`, without committing or retrying: for
/// policies, whose transaction is the consumer's. Returns the aggregate as saved (or as loaded,
/// when unchanged).
pub async fn change_in<A: Aggregate, E>(
    tx: &mut Tx,
    id: &A::Id,
    mut decide: impl FnMut(&mut A) -> Result<Decision, E> + Send,
) -> Result<A, WorkError<E>> {
    let mut aggregate = A::load(tx, id)
        .await?
        .ok_or(WorkError::NotFound(A::NOT_FOUND))?;
    let events = match decide(&mut aggregate).map_err(WorkError::Refused)? {
        Decision::Unchanged => return Ok(aggregate),
        Decision::Changed(events) => events,
    };
    if !aggregate.save(tx, &events).await? {
        return Err(WorkError::Conflict);
    }
    outbox::enqueue(tx, events).await?;
    Ok(aggregate)
}

/// Writes a new aggregate with the events its creation caused inside `tx`, without committing:
/// for policies. False when one with its id exists already (the event was seen before).
pub async fn create_in<A: Aggregate>(
    tx: &mut Tx,
    aggregate: &A,
    caused: impl IntoIterator<Item = Event> + Send,
) -> anyhow::Result<bool> {
    let caused: Vec<Event> = caused.into_iter().collect();
    if !aggregate.insert(tx, &caused).await? {
        return Ok(false);
    }
    outbox::enqueue(tx, caused).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use contracts::OrderCanceled;

    use super::*;
    use crate::db::NO_MIGRATIONS;

    /// A counter that knows its version.
    #[derive(Debug)]
    struct Counter {
        id: String,
        value: i64,
        version: i64,
    }

    impl Aggregate for Counter {
        type Id = str;
        const NOT_FOUND: (&'static str, &'static str) = ("counter-not-found", "no counter");

        async fn load(tx: &mut Tx, id: &str) -> anyhow::Result<Option<Self>> {
            let row: Option<(i64, i64)> =
                sqlx::query_as("SELECT value, version FROM counters WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut **tx)
                    .await?;
            Ok(row.map(|(value, version)| Counter {
                id: id.to_owned(),
                value,
                version,
            }))
        }

        async fn insert(&self, tx: &mut Tx, _: &[Event]) -> anyhow::Result<bool> {
            let inserted = sqlx::query(
                "INSERT INTO counters (id, value, version) VALUES ($1, $2, 1) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(&self.id)
            .bind(self.value)
            .execute(&mut **tx)
            .await?;
            Ok(inserted.rows_affected() == 1)
        }

        async fn save(&mut self, tx: &mut Tx, _: &[Event]) -> anyhow::Result<bool> {
            let updated = sqlx::query(
                "UPDATE counters SET value = $1, version = version + 1 \
                 WHERE id = $2 AND version = $3",
            )
            .bind(self.value)
            .bind(&self.id)
            .bind(self.version)
            .execute(&mut **tx)
            .await?;
            self.version += 1;
            Ok(updated.rows_affected() == 1)
        }
    }

    fn event() -> Event {
        OrderCanceled {
            order_id: "c".into(),
            customer_id: "c".into(),
            store_id: "s".into(),
            amount: contracts::Krw::new(1),
            reason: None,
        }
        .into()
    }

    async fn work() -> (UnitOfWork, Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/unit.db", dir.path().display());
        let db = Db::connect(&url, 1, &NO_MIGRATIONS).await.unwrap();
        sqlx::query("CREATE TABLE counters (id TEXT PRIMARY KEY, value BIGINT, version BIGINT)")
            .execute(db.pool())
            .await
            .unwrap();
        (
            UnitOfWork::new(db.clone(), OutboxSignal::default()),
            db,
            dir,
        )
    }

    async fn outbox_rows(db: &Db) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
            .fetch_one(db.pool())
            .await
            .unwrap()
    }

    /// The decision, its save and its events commit together; a refusal or an unchanged
    /// decision leaves nothing behind; an id nobody has is not found.
    #[tokio::test]
    async fn a_change_commits_with_its_events_and_a_refusal_leaves_nothing() {
        let (work, db, _dir) = work().await;
        let counter = Counter {
            id: "c".into(),
            value: 0,
            version: 1,
        };
        work.create(&counter, [event()]).await.unwrap();
        assert!(matches!(
            work.create(&counter, []).await,
            Err(WorkError::Refused(Exists))
        ));
        let changed = work
            .change::<Counter, &str>("c", |c| {
                c.value += 1;
                Ok(Decision::publish(event()))
            })
            .await
            .unwrap();
        assert_eq!((changed.value, changed.version), (1, 2));
        assert_eq!(outbox_rows(&db).await, 2);

        let refused = work
            .change::<Counter, &str>("c", |c| {
                c.value += 100;
                Err("no")
            })
            .await;
        assert!(matches!(refused, Err(WorkError::Refused("no"))));
        let unchanged = work
            .change::<Counter, &str>("c", |c| {
                c.value += 100;
                Ok(Decision::Unchanged)
            })
            .await
            .unwrap();
        assert_eq!(unchanged.version, 2, "nothing saved");
        let missing = work
            .change::<Counter, &str>("nobody", |_| Ok(Decision::quiet()))
            .await;
        assert!(matches!(
            missing,
            Err(WorkError::NotFound(("counter-not-found", _)))
        ));
        let stored: i64 = sqlx::query_scalar("SELECT value FROM counters WHERE id = 'c'")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!((stored, outbox_rows(&db).await), (1, 2));
    }

    /// A save that loses the version race is decided again on what the winner saved, so no
    /// increment is lost; one that keeps losing gives up with `Conflict`.
    #[tokio::test]
    async fn a_lost_race_is_decided_again_on_fresh_state() {
        let (work, db, _dir) = work().await;
        let counter = Counter {
            id: "c".into(),
            value: 0,
            version: 1,
        };
        work.create(&counter, []).await.unwrap();
        let mut attempts = 0;
        let done = work
            .change::<Counter, &str>("c", |c| {
                attempts += 1;
                if attempts == 1 {
                    // Another writer gets there first: this attempt's version is stale.
                    c.version -= 1;
                }
                c.value += 1;
                Ok(Decision::quiet())
            })
            .await
            .unwrap();
        assert_eq!((attempts, done.value), (2, 1));

        let mut attempts = 0;
        let lost = work
            .change::<Counter, &str>("c", |c| {
                attempts += 1;
                c.version -= 1;
                Ok(Decision::publish(event()))
            })
            .await;
        assert!(matches!(lost, Err(WorkError::Conflict)));
        assert_eq!(attempts, ATTEMPTS);
        assert_eq!(outbox_rows(&db).await, 0, "a lost race publishes nothing");
    }
}
