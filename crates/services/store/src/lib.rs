//! The store service: stores and menus (published to the order service's replica), and the orders
//! each store receives.

pub mod api;
pub mod db;
pub mod domain;
pub mod policies;
pub mod views;

use platform::{RunningService, ServiceContext};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;

pub use api::{AppState, router};

pub static MIGRATIONS: Migrator = sqlx::migrate!();

/// Serves the store API and receives placed orders until the context's shutdown.
pub fn run(mut ctx: ServiceContext, listener: TcpListener) -> anyhow::Result<RunningService> {
    ctx.consume(policies::StorePolicies);
    let (db, work) = (ctx.db.clone(), ctx.work());
    let deadline = std::time::Duration::from_secs(ctx.settings.saga.acceptance_deadline_secs);
    let interval = std::time::Duration::from_millis(ctx.settings.saga.deadline_sweep_ms);
    ctx.spawn(move |shutdown| {
        policies::acceptance_deadline(db, work, deadline, interval, shutdown)
    });
    let state = AppState {
        db: ctx.db.clone(),
        auth: ctx.auth.clone(),
        work: ctx.work(),
        live: ctx.live.serve(),
    };
    ctx.serve(listener, router(state))
}
