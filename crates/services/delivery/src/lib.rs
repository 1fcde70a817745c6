//! The delivery service: opens a delivery when food is cooked, lets riders near the store find
//! it, gives it to exactly one rider, and counts deliveries per rider.

pub mod api;
pub mod commands;
pub mod db;
pub mod delivery;
pub mod policies;
pub mod views;

use platform::{RunningService, ServiceContext};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;

pub use api::{AppState, router};

pub static MIGRATIONS: Migrator = sqlx::migrate!();

pub fn run(mut ctx: ServiceContext, listener: TcpListener) -> anyhow::Result<RunningService> {
    ctx.consume(policies::DeliveryPolicies);
    let state = AppState {
        db: ctx.db.clone(),
        auth: ctx.auth.clone(),
        work: ctx.work(),
        live: ctx.live.serve(),
    };
    ctx.serve(listener, router(state))
}
