//! The order service: takes paid orders (pricing them from its replica of the stores' menus and
//! charging through the payment service), and keeps the customer's mypage read model.

pub mod api;
pub mod db;
pub mod domain;
pub mod policies;
pub mod views;

use platform::{RunningService, ServiceContext, ServiceName};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;

pub use api::{AppState, router};

pub static MIGRATIONS: Migrator = sqlx::migrate!();

pub fn run(mut ctx: ServiceContext, listener: TcpListener) -> anyhow::Result<RunningService> {
    ctx.consume(policies::OrderPolicies);
    let state = AppState {
        db: ctx.db.clone(),
        auth: ctx.auth.clone(),
        outbox: ctx.outbox.clone(),
        payment: ctx.client(ServiceName::Payment)?,
    };
    ctx.serve(listener, router(state))
}
