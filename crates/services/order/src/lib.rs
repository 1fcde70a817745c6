//! The order service: takes paid orders (pricing them from its replica of the stores' menus and
//! charging through the payment service), and keeps the customer's mypage read model.

pub mod api;
pub mod db;
pub mod domain;
pub mod policies;
pub mod stuck;
pub mod views;

use std::time::Duration;

use platform::{RunningService, ServiceContext, ServiceName};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;

pub use api::{AppState, router};

pub static MIGRATIONS: Migrator = sqlx::migrate!();

pub fn run(mut ctx: ServiceContext, listener: TcpListener) -> anyhow::Result<RunningService> {
    ctx.consume(policies::OrderPolicies);
    let saga = ctx.settings.saga.clone();
    let deadlines = policies::Deadlines {
        payment: Duration::from_secs(saga.payment_deadline_secs),
        store: Duration::from_secs(saga.acceptance_deadline_secs + saga.store_grace_secs),
        interval: Duration::from_millis(saga.deadline_sweep_ms),
    };
    let (db, work) = (ctx.db.clone(), ctx.work());
    ctx.spawn(move |shutdown| policies::deadlines(db, work, deadlines, shutdown));
    let stages = stuck::stage_deadlines(&saga);
    let db = ctx.db.clone();
    let every = Duration::from_millis(saga.deadline_sweep_ms);
    ctx.spawn(move |shutdown| stuck::monitor(db, stages, every, shutdown));
    let state = AppState {
        db: ctx.db.clone(),
        auth: ctx.auth.clone(),
        work: ctx.work(),
        payment: ctx.client(ServiceName::Payment)?,
        stuck: std::sync::Arc::new(stuck::stage_deadlines(&ctx.settings.saga)),
        live: ctx.live.serve(),
    };
    ctx.serve(listener, router(state))
}
