//! The customer service: grades that rise with completed orders, and coupons earned by reviews
//! (taken back when the review is deleted).

pub mod api;
pub mod coupon;
pub mod customer;
pub mod db;
pub mod policies;
pub mod settings;
pub mod views;

use platform::{RunningService, ServiceContext};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;

pub use api::{AppState, router};

pub static MIGRATIONS: Migrator = sqlx::migrate!();

pub fn run(mut ctx: ServiceContext, listener: TcpListener) -> anyhow::Result<RunningService> {
    let grades = ctx.settings.section::<settings::CustomerSettings>()?.grades;
    ctx.consume(policies::CustomerPolicies {
        grades: grades.clone(),
    });
    let state = AppState {
        db: ctx.db.clone(),
        auth: ctx.auth.clone(),
        grades: std::sync::Arc::new(grades),
    };
    ctx.serve(listener, router(state))
}
