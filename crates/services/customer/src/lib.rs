//! The customer service: customers' grades and coupons.
//!
//! Its domain arrives with the delivery, notification, coupon and review work (issue 4); until
//! then it runs on the common runtime (its own database, the event log, health, readiness and
//! metrics) so deployments and the gateway's route table already have it in place.

use axum::Router;
use platform::{RunningService, ServiceContext};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;

pub static MIGRATIONS: &Migrator = &platform::db::NO_MIGRATIONS;

pub fn router() -> Router {
    Router::new()
}

pub fn run(ctx: ServiceContext, listener: TcpListener) -> anyhow::Result<RunningService> {
    ctx.serve(listener, router())
}
