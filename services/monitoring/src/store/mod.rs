//! Postgres access: the event log and the dead-letter index.
//!
//! Queries are checked at run time (`sqlx::query_as` and `QueryBuilder`): the
//! search filters are dynamic, and committed offline data for `query!` would
//! need `cargo sqlx prepare` and a live database in every build.

pub mod breakers;
pub mod calls;
pub mod dead_letters;
pub mod events;
pub mod incidents;
pub mod stats;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// Migrations embedded in the binary, run at start-up.
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Connecting failed.
    #[error("cannot connect to Postgres: {0}")]
    Connect(#[source] sqlx::Error),
    /// A migration failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Connects (lazily retrying is the pool's job) and runs the migrations.
/// `acquire_timeout` bounds every wait for a connection, including the ping
/// that checks an idle one, so a frozen server fails a request after it.
pub async fn connect_and_migrate(
    url: &str,
    max_connections: u32,
    acquire_timeout: std::time::Duration,
) -> Result<PgPool, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .connect(url)
        .await
        .map_err(StoreError::Connect)?;
    MIGRATIONS.run(&pool).await?;
    Ok(pool)
}
