//! The review service: customers review their completed orders (checked synchronously with the
//! order service), which earns them a coupon; deleting a review takes the coupon back.

pub mod api;
pub mod commands;
pub mod db;
pub mod review;
pub mod settings;
pub mod views;

use platform::{RunningService, ServiceContext, ServiceName, peers::Orders};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;

pub use api::{AppState, router};

pub static MIGRATIONS: Migrator = sqlx::migrate!();

pub fn run(ctx: ServiceContext, listener: TcpListener) -> anyhow::Result<RunningService> {
    let state = AppState {
        db: ctx.db.clone(),
        auth: ctx.auth.clone(),
        work: ctx.work(),
        orders: Orders::new(ctx.client(ServiceName::Order)?),
        max_text_chars: ctx
            .settings
            .section::<settings::ReviewSettings>()?
            .max_text_chars,
    };
    ctx.serve(listener, router(state))
}
