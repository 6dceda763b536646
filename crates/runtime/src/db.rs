//! Database access shared by every service: one URL picks the backend.
//!
//! `postgres://...` is the production backend; `sqlite://path` is the
//! embedded zero-setup default (the file and its directory are created on
//! first start). Services talk to both through sqlx's `Any` driver with one
//! portable dialect: ids as TEXT, times as BIGINT microseconds, `$n`
//! parameters, conditional updates instead of row locks. A service keeps one
//! migrations directory, or one per backend where its DDL differs.

use std::{path::Path, str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};
use sqlx::{
    Any, AnyPool, Executor as _, Transaction,
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::{MigrateDatabase, Migrator},
};

/// The `[database]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// `postgres://user@host:port/db` or `sqlite://path/to/file.db`.
    pub url: String,
    /// Pool size. SQLite serialises writers anyway; PostgreSQL benefits from
    /// a few per core.
    pub max_connections: u32,
    /// How long a request waits for a free connection before `UNAVAILABLE`.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

impl DatabaseConfig {
    /// The embedded default for `service`: `sqlite://data/<service>.db`.
    pub fn sqlite_default(service: &str) -> Self {
        Self {
            url: format!("sqlite://data/{service}.db"),
            ..Self::default()
        }
    }
}

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of_url(url: &str) -> Result<Self, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err(DbError::UnsupportedUrl)
        }
    }
}

/// A service's migrations: one set where its DDL is portable, one per
/// backend only where the two really differ.
#[derive(Debug, Clone, Copy)]
pub enum Migrations {
    Portable(&'static Migrator),
    PerBackend {
        postgres: &'static Migrator,
        sqlite: &'static Migrator,
    },
}

impl Migrations {
    fn for_backend(self, backend: Backend) -> &'static Migrator {
        match (self, backend) {
            (Self::Portable(migrator), _) => migrator,
            (Self::PerBackend { postgres, .. }, Backend::Postgres) => postgres,
            (Self::PerBackend { sqlite, .. }, Backend::Sqlite) => sqlite,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database.url must start with postgres:// or sqlite:")]
    UnsupportedUrl,
    #[error("cannot create the database directory {0}: {1}")]
    Directory(String, std::io::Error),
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// WAL lets readers run beside the writer; the busy timeout makes writers
/// queue instead of failing.
const SQLITE_PRAGMAS: [&str; 4] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA busy_timeout = 10000",
    "PRAGMA foreign_keys = ON",
];

/// A migrated connection pool and the backend behind it.
#[derive(Debug, Clone)]
pub struct Database {
    pool: AnyPool,
    backend: Backend,
}

impl Database {
    /// Connects, creating the database if it does not exist, and applies the
    /// migrations for its backend.
    pub async fn connect(config: &DatabaseConfig, migrations: Migrations) -> Result<Self, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(&config.url)?;
        if backend == Backend::Sqlite {
            create_sqlite_directory(&config.url)?;
        }
        if !Any::database_exists(&config.url).await? {
            tracing::info!(backend = ?backend, "creating database");
            Any::create_database(&config.url).await?;
        }
        let options = AnyConnectOptions::from_str(&config.url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.acquire_timeout)
            // sqlx would ping every connection it hands out: one more round
            // trip per statement run on the pool (10 per checkout). A
            // connection that died since is found by the statement itself,
            // which fails and closes it.
            .test_before_acquire(false)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in SQLITE_PRAGMAS {
                            conn.execute(pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        migrations.for_backend(backend).run(&pool).await?;
        Ok(Self { pool, backend })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Exposes the pool's connections in use and idle, and its size limit,
    /// read at each scrape. (sqlx does not tell how many callers wait; a
    /// pool whose in-use count sits at the limit has them.)
    pub fn register_metrics(&self, metrics: &bazaar_observe::Metrics) {
        metrics.register_collector(PoolCollector(self.pool.clone()));
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock
    /// up front (`BEGIN IMMEDIATE`), so two writers queue on the busy timeout
    /// instead of one failing when it upgrades from reading.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        // sqlx logs no BEGIN (and on SQLite no COMMIT): this line lets a
        // statement census see the round trip.
        tracing::debug!(target: "bazaar_runtime::db::begin", "BEGIN");
        match self.backend {
            Backend::Postgres => self.pool.begin().await,
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `($first, …), (…)`: `rows` groups of `width` numbered placeholders,
/// for a multi-row `VALUES` (both backends read `$n`). Only placeholders
/// are generated; every value is bound.
pub fn values_rows(rows: usize, width: usize, first: usize) -> String {
    let mut sql = String::with_capacity(rows * width * 5);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..width {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(first + row * width + column).to_string());
        }
        sql.push(')');
    }
    sql
}

/// Whether a statement built for `rows` rows is worth a prepared statement
/// on each connection: orders have a few lines; a rare long one should not
/// push the common statements out of sqlx's per-connection cache.
pub fn prepare_rows(rows: usize) -> bool {
    rows <= 8
}

fn create_sqlite_directory(url: &str) -> Result<(), DbError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(dir) = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbError::Directory(dir.display().to_string(), e))?;
    }
    Ok(())
}

/// Maps a store error to what the caller sees: pool exhaustion and lost
/// connections are retryable `UNAVAILABLE`; everything else is internal.
impl From<DbError> for crate::status::ServiceError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Sqlx(e) => e.into(),
            other => Self::internal(other),
        }
    }
}

impl From<sqlx::Error> for crate::status::ServiceError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                tracing::warn!(%error, "database unavailable");
                Self::Unavailable("the database is unavailable; retry later".into())
            }
            other => Self::internal(other),
        }
    }
}

/// True for a unique-constraint violation (on either backend).
pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

/// Microseconds since the Unix epoch: how times are stored.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// A stored time as a protobuf timestamp.
pub fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1_000).unwrap_or(0),
    }
}

#[cfg(feature = "testing")]
pub mod testing {
    //! Fresh databases for tests: every call gets its own, so tests run in
    //! parallel. SQLite always; PostgreSQL too when `TEST_DATABASE_URL` (or
    //! `DATABASE_URL`) names a server whose user may create databases.

    use super::*;

    /// A database that exists for one test and is dropped after it.
    pub struct TestDatabase {
        pub config: DatabaseConfig,
        pub backend: Backend,
        cleanup: Cleanup,
    }

    enum Cleanup {
        Sqlite(#[allow(dead_code)] tempfile::TempDir),
        Postgres { admin_url: String, name: String },
    }

    /// The backends this run tests against. Locally PostgreSQL joins when
    /// `TEST_DATABASE_URL` names one; under CI (`CI` set) it must, so a
    /// missing server fails the run instead of silently halving it.
    pub fn backends() -> Vec<Backend> {
        let mut backends = vec![Backend::Sqlite];
        if postgres_admin_url().is_some() {
            backends.push(Backend::Postgres);
        } else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but TEST_DATABASE_URL names no PostgreSQL server: \
                 the PostgreSQL half of the store tests cannot be skipped"
            );
        }
        backends
    }

    fn postgres_admin_url() -> Option<String> {
        ["TEST_DATABASE_URL", "DATABASE_URL"]
            .iter()
            .filter_map(|k| std::env::var(k).ok())
            .find(|url| url.starts_with("postgres"))
    }

    impl TestDatabase {
        /// A fresh empty database on `backend`.
        pub async fn create(backend: Backend) -> Self {
            sqlx::any::install_default_drivers();
            match backend {
                Backend::Sqlite => {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let url = format!("sqlite://{}", dir.path().join("test.db").display());
                    Self {
                        config: DatabaseConfig {
                            url,
                            ..DatabaseConfig::default()
                        },
                        backend,
                        cleanup: Cleanup::Sqlite(dir),
                    }
                }
                Backend::Postgres => {
                    let admin_url = postgres_admin_url().expect("TEST_DATABASE_URL is set");
                    let name = format!("bazaar_test_{}", uuid::Uuid::new_v4().simple());
                    let (base, _) = admin_url
                        .rsplit_once('/')
                        .expect("TEST_DATABASE_URL names a database");
                    Self {
                        config: DatabaseConfig {
                            url: format!("{base}/{name}"),
                            ..DatabaseConfig::default()
                        },
                        backend,
                        cleanup: Cleanup::Postgres { admin_url, name },
                    }
                }
            }
        }
    }

    impl Drop for TestDatabase {
        fn drop(&mut self) {
            let Cleanup::Postgres { admin_url, name } = &self.cleanup else {
                return;
            };
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // Drop runs outside async; a short-lived runtime on its own
            // thread does the cleanup.
            let dropped = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async {
                    let Ok(pool) = AnyPoolOptions::new()
                        .max_connections(1)
                        .connect(&admin_url)
                        .await
                    else {
                        return;
                    };
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = sqlx::raw_sql(&sql).execute(&pool).await;
                    pool.close().await;
                });
            });
            let _ = dropped.join();
        }
    }
}

#[derive(Debug)]
struct PoolCollector(AnyPool);

impl bazaar_observe::prometheus_client::collector::Collector for PoolCollector {
    fn encode(
        &self,
        mut encoder: bazaar_observe::prometheus_client::encoding::DescriptorEncoder,
    ) -> std::fmt::Result {
        use bazaar_observe::prometheus_client::{
            encoding::EncodeMetric as _,
            metrics::{family::Family, gauge::Gauge},
        };
        let idle = i64::try_from(self.0.num_idle()).unwrap_or(i64::MAX);
        let open = i64::from(self.0.size());
        let connections = Family::<[(&'static str, &'static str); 1], Gauge>::default();
        connections.get_or_create(&[("state", "idle")]).set(idle);
        connections
            .get_or_create(&[("state", "in_use")])
            .set(open.saturating_sub(idle).max(0));
        connections.encode(encoder.encode_descriptor(
            "bazaar_db_pool_connections",
            "Database connections open, by whether a caller holds them",
            None,
            connections.metric_type(),
        )?)?;
        let max = Gauge::<i64>::default();
        max.set(i64::from(self.0.options().get_max_connections()));
        max.encode(encoder.encode_descriptor(
            "bazaar_db_pool_max_connections",
            "The most connections the pool opens",
            None,
            max.metric_type(),
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::values_rows;

    #[test]
    fn values_rows_numbers_every_placeholder_once() {
        assert_eq!(values_rows(1, 3, 1), "($1, $2, $3)");
        assert_eq!(values_rows(2, 2, 4), "($4, $5), ($6, $7)");
        assert_eq!(values_rows(0, 2, 1), "");
    }
}
