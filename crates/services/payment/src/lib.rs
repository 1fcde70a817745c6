//! The payment service: charges customers for orders, synchronously and idempotently on the order
//! id (no payment, no order).

pub mod api;
pub mod commands;
pub mod db;
pub mod payment;
pub mod policies;
pub mod views;

use platform::{RunningService, ServiceContext};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;

pub use api::{AppState, router};

pub static MIGRATIONS: Migrator = sqlx::migrate!();

pub fn run(mut ctx: ServiceContext, listener: TcpListener) -> anyhow::Result<RunningService> {
    ctx.consume(policies::PaymentPolicies);
    let state = AppState {
        db: ctx.db.clone(),
        auth: ctx.auth.clone(),
        work: ctx.work(),
    };
    ctx.serve(listener, router(state))
}
