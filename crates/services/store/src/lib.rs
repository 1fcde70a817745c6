//! The store service: stores and menus (published to the order service's replica), and the orders
//! each store receives.

pub mod api;
pub mod commands;
pub mod db;
pub mod jobs;
pub mod policies;
pub mod settings;
pub mod store;
pub mod store_order;
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
    let settings: settings::StoreSettings = ctx.settings.section()?;
    let deadline = settings.acceptance_deadline;
    ctx.every("acceptance deadline", settings.deadline_sweep, move || {
        jobs::reject_overdue(db.clone(), work.clone(), deadline)
    });
    let state = AppState {
        db: ctx.db.clone(),
        auth: ctx.auth.clone(),
        work: ctx.work(),
        live: ctx.live.serve(),
    };
    ctx.serve(listener, router(state))
}
