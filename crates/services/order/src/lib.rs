//! The order service: takes paid orders (pricing them from its replica of the stores' menus and
//! charging through the payment service), and keeps the customer's mypage read model.

pub mod api;
pub mod commands;
pub mod db;
pub mod jobs;
pub mod order;
pub mod policies;
pub mod settings;
pub mod views;

use std::sync::Arc;

use platform::{RunningService, ServiceContext, ServiceName, peers::Payments};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;

pub use api::{AppState, router};

pub static MIGRATIONS: Migrator = sqlx::migrate!();

pub fn run(mut ctx: ServiceContext, listener: TcpListener) -> anyhow::Result<RunningService> {
    ctx.consume(policies::OrderPolicies);
    let settings: settings::OrderSettings = ctx.settings.section()?;
    let deadlines = jobs::Deadlines {
        payment: settings.payment_deadline,
        store: settings.store_deadline,
    };
    let every = settings.deadline_sweep;
    let (db, work) = (ctx.db.clone(), ctx.work());
    ctx.every("order deadlines", every, move || {
        jobs::settle_overdue(db.clone(), work.clone(), deadlines)
    });
    let stages = Arc::new(jobs::stage_deadlines(&settings));
    let (db, counted) = (ctx.db.clone(), stages.clone());
    ctx.every("stuck sagas", every, move || {
        jobs::count_stuck(db.clone(), counted.clone())
    });
    let state = AppState {
        db: ctx.db.clone(),
        auth: ctx.auth.clone(),
        work: ctx.work(),
        payments: Payments::new(ctx.client(ServiceName::Payment)?),
        stuck: stages,
        live: ctx.live.serve(),
    };
    ctx.serve(listener, router(state))
}
