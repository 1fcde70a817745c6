//! Storage: one pool per service, SQLite (default) or PostgreSQL chosen by URL, and migrations that
//! run on both. Queries are written once in the portable subset of SQL both engines share
//! (`$1` placeholders, TEXT/BIGINT columns, `ON CONFLICT`), so a service has one set of queries and
//! one set of migrations; concurrency control is optimistic (`version` columns, conditional
//! updates), which both engines support without row-lock syntax.

use std::{str::FromStr, time::Duration};

use anyhow::Context;
use sqlx::{
    Any, AnyPool, Executor,
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::{MigrateDatabase, Migrator},
};

pub type Tx = sqlx::Transaction<'static, Any>;
pub type Conn = sqlx::AnyConnection;

/// The platform's own tables (outbox, processed events), versions below 1000. Each service's
/// migrations start at 1000, so both sets share one history table without colliding.
pub static PLATFORM_MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    /// Connections for queries that only read. On SQLite these are separate read-only
    /// connections beside the one writer: in WAL mode readers neither wait for the writer nor
    /// hold it up, so requests that only read do not queue behind event handling. On PostgreSQL
    /// the same pool.
    reader: AnyPool,
    backend: Backend,
    /// Where it is, for a connection of its own (PostgreSQL's `LISTEN`).
    url: String,
}

/// Read-only connections beside SQLite's writer.
const SQLITE_READERS: u32 = 4;

impl Db {
    /// Connects (creating the database or SQLite file if missing) and runs the platform's and the
    /// service's migrations.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        migrations: &Migrator,
    ) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let url = match backend {
            Backend::Sqlite => prepare_sqlite(url)?,
            Backend::Postgres => url.to_owned(),
        };
        if !Any::database_exists(&url)
            .await
            .with_context(|| format!("checking database {}", redact(&url)))?
        {
            // Two replicas may race to create it; losing that race is fine.
            if let Err(error) = Any::create_database(&url).await
                && !Any::database_exists(&url).await.unwrap_or(false)
            {
                return Err(error).with_context(|| format!("creating database {}", redact(&url)));
            }
        }
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("parsing database url {}", redact(&url)))?;
        let pool = AnyPoolOptions::new()
            // SQLite allows one writer; a single connection serializes transactions instead of
            // failing them with SQLITE_BUSY when two try to upgrade a read lock at once.
            .max_connections(match backend {
                Backend::Sqlite => 1,
                Backend::Postgres => max_connections,
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await
            .with_context(|| format!("connecting to {}", redact(&url)))?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let reader = match backend {
            // An in-memory database exists only on its one connection.
            Backend::Sqlite if !in_memory => AnyPoolOptions::new()
                .max_connections(SQLITE_READERS)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")
                            .await?;
                        Ok(())
                    })
                })
                .connect_lazy_with(options),
            _ => pool.clone(),
        };
        let db = Self {
            pool,
            reader,
            backend,
            url: url.clone(),
        };
        db.migrate(&PLATFORM_MIGRATIONS).await?;
        db.migrate(migrations).await?;
        Ok(db)
    }

    /// Connections for reading only (see [`Db`]); a write through one fails.
    pub fn reader(&self) -> &AnyPool {
        &self.reader
    }

    async fn migrate(&self, migrations: &Migrator) -> anyhow::Result<()> {
        let mut migrator = Migrator {
            migrations: migrations.migrations.clone(),
            ..Migrator::DEFAULT
        };
        // The other set's versions are in the same history table.
        migrator.set_ignore_missing(true);
        migrator
            .run(&self.pool)
            .await
            .context("running database migrations")
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn begin(&self) -> sqlx::Result<Tx> {
        self.pool.begin().await
    }

    /// For `/readyz`.
    pub async fn ping(&self) -> sqlx::Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(drop)
    }

    pub async fn close(&self) {
        self.reader.close().await;
        self.pool.close().await;
    }
}

fn prepare_sqlite(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = rest.split('?').next().unwrap_or(rest);
    if path != ":memory:"
        && let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating directory {}", parent.display()))?;
    }
    Ok(url.to_owned())
}

/// A database URL fit for logs: no password.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Unix epoch milliseconds; every timestamp in storage and on the wire uses it.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// True when PostgreSQL failed a transaction to break a deadlock or a serialization conflict: it
/// can be run again as it is.
pub fn is_lock_conflict(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(cause.downcast_ref::<sqlx::Error>(), Some(sqlx::Error::Database(db))
            if matches!(db.code().as_deref(), Some("40P01" | "40001")))
    })
}

/// True when an insert failed on a unique or primary key: the row is there already.
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// An insert's outcome as "was it written": a unique violation means the row is there already.
pub fn inserted<T>(result: sqlx::Result<T>) -> sqlx::Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(error) if is_unique_violation(&error) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Runs an optimistic save: `update` ends `WHERE <key column> = $n AND version = $n+1` and is
/// bound up to those two, which are bound here. True when the row was still at `version` (so this
/// change is saved and the row's version moved on); false when another change won.
pub async fn save_over_version<'q>(
    conn: &mut Conn,
    update: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    key: &'q str,
    version: i64,
) -> sqlx::Result<bool> {
    let updated = update.bind(key).bind(version).execute(&mut *conn).await?;
    Ok(updated.rows_affected() == 1)
}

/// Saves an aggregate whose status is its version: every change moves it on from one status
/// (`from`), so the row moves to `to`, with `stamped` set to now, only if it is still `from`.
/// False when another transaction moved it first. Table and columns are the caller's constants.
pub async fn move_status(
    conn: &mut Conn,
    table: &'static str,
    key_column: &'static str,
    key: &str,
    (from, to): (&str, &str),
    stamped: &'static str,
) -> sqlx::Result<bool> {
    let moved = sqlx::query(&format!(
        "UPDATE {table} SET status = $1, {stamped} = $2 WHERE {key_column} = $3 AND status = $4"
    ))
    .bind(to)
    .bind(now_ms())
    .bind(key)
    .bind(from)
    .execute(&mut *conn)
    .await?;
    Ok(moved.rows_affected() == 1)
}

/// For services with no tables of their own yet: only the platform's run.
pub static NO_MIGRATIONS: Migrator = Migrator {
    migrations: std::borrow::Cow::Borrowed(&[]),
    ..Migrator::DEFAULT
};

#[cfg(test)]
mod tests {
    use super::*;

    /// A request that only reads does not wait for a transaction that writes, and sees what
    /// was committed before it started; the read connections cannot write.
    #[tokio::test]
    async fn sqlite_reads_do_not_wait_for_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/readers.db", dir.path().display());
        let db = Db::connect(&url, 1, &NO_MIGRATIONS).await.unwrap();
        sqlx::query("CREATE TABLE t (v BIGINT)")
            .execute(db.pool())
            .await
            .unwrap();
        sqlx::query("INSERT INTO t (v) VALUES (1)")
            .execute(db.pool())
            .await
            .unwrap();

        let mut writing = db.begin().await.unwrap();
        sqlx::query("INSERT INTO t (v) VALUES (2)")
            .execute(&mut *writing)
            .await
            .unwrap();
        let read = tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM t").fetch_one(db.reader()),
        )
        .await
        .expect("the read did not wait for the open write")
        .unwrap();
        assert_eq!(read, 1, "only what was committed");
        writing.commit().await.unwrap();
        let read: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM t")
            .fetch_one(db.reader())
            .await
            .unwrap();
        assert_eq!(read, 2);
        assert!(
            sqlx::query("INSERT INTO t (v) VALUES (3)")
                .execute(db.reader())
                .await
                .is_err(),
            "readers are read-only"
        );
        db.close().await;
    }

    /// Of two changes made from one version, the first is saved and the second is told it lost;
    /// the row keeps the first.
    #[tokio::test]
    async fn a_save_over_a_stale_version_is_refused() {
        let db = Db::connect("sqlite::memory:", 1, &NO_MIGRATIONS)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE t (id TEXT PRIMARY KEY, v TEXT NOT NULL, version BIGINT)")
            .execute(db.pool())
            .await
            .unwrap();
        sqlx::query("INSERT INTO t (id, v, version) VALUES ('a', 'first', 1)")
            .execute(db.pool())
            .await
            .unwrap();
        let mut conn = db.pool().acquire().await.unwrap();
        let update = |v: &'static str| {
            sqlx::query("UPDATE t SET v = $1, version = version + 1 WHERE id = $2 AND version = $3")
                .bind(v)
        };
        assert!(
            save_over_version(&mut conn, update("second"), "a", 1)
                .await
                .unwrap()
        );
        assert!(
            !save_over_version(&mut conn, update("lost"), "a", 1)
                .await
                .unwrap()
        );
        assert!(
            !save_over_version(&mut conn, update("nobody"), "b", 1)
                .await
                .unwrap()
        );
        let row: (String, i64) = sqlx::query_as("SELECT v, version FROM t WHERE id = 'a'")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(row, ("second".to_owned(), 2));
    }

    /// A place is read from its two columns and checked as it is read.
    #[tokio::test]
    async fn a_place_decodes_from_lat_and_lng_and_off_the_map_is_refused() {
        let db = Db::connect("sqlite::memory:", 1, &NO_MIGRATIONS)
            .await
            .unwrap();
        let place: contracts::GeoPoint = sqlx::query_as("SELECT 37.5 AS lat, 127.0 AS lng")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(place, contracts::GeoPoint::known(37.5, 127.0));
        let off = sqlx::query_as::<_, contracts::GeoPoint>("SELECT 91.0 AS lat, 0.0 AS lng")
            .fetch_one(db.pool())
            .await;
        assert!(matches!(off, Err(sqlx::Error::Decode(_))), "{off:?}");
    }
}
