//! The order service: takes paid orders (pricing them from its replica of the stores' menus and
//! charging through the payment service), and keeps the customer's mypage read model.

pub mod api;
pub mod commands;
pub mod db;
pub mod jobs;
pub mod order;
pub mod policies;
pub mod views;

use std::{sync::Arc, time::Duration};

use platform::{RunningService, ServiceContext, ServiceName};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;

pub use api::{AppState, router};

pub static MIGRATIONS: Migrator = sqlx::migrate!();

pub fn run(mut ctx: ServiceContext, listener: TcpListener) -> anyhow::Result<RunningService> {
    ctx.consume(policies::OrderPolicies);
    let saga = ctx.settings.saga.clone();
    let deadlines = jobs::Deadlines {
        payment: Duration::from_secs(saga.payment_deadline_secs),
        store: Duration::from_secs(saga.acceptance_deadline_secs + saga.store_grace_secs),
    };
    let every = Duration::from_millis(saga.deadline_sweep_ms);
    let (db, work) = (ctx.db.clone(), ctx.work());
    ctx.every("order deadlines", every, move || {
        jobs::settle_overdue(db.clone(), work.clone(), deadlines)
    });
    let stages = Arc::new(jobs::stage_deadlines(&saga));
    let (db, counted) = (ctx.db.clone(), stages.clone());
    ctx.every("stuck sagas", every, move || {
        jobs::count_stuck(db.clone(), counted.clone())
    });
    let state = AppState {
        db: ctx.db.clone(),
        auth: ctx.auth.clone(),
        work: ctx.work(),
        payment: ctx.client(ServiceName::Payment)?,
        stuck: stages,
        live: ctx.live.serve(),
    };
    ctx.serve(listener, router(state))
}
