//! The notification service: every customer-visible status change becomes one KakaoTalk-style
//! message, sent through the configured channel (log, webhook, kakao) off the order flow.

pub mod api;
pub mod channel;
pub mod db;
pub mod jobs;
pub mod notification;
pub mod policies;
pub mod settings;
pub mod views;

use platform::{RunningService, ServiceContext};
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;

pub use api::{AppState, router};

pub static MIGRATIONS: Migrator = sqlx::migrate!();

pub fn run(mut ctx: ServiceContext, listener: TcpListener) -> anyhow::Result<RunningService> {
    ctx.consume(policies::NotificationPolicy);
    let settings: settings::NotificationSettings = ctx.settings.section()?;
    let dispatcher = jobs::Dispatcher {
        db: ctx.db.clone(),
        channel: channel::Channel::from_settings(&settings)?,
        settings,
    };
    ctx.spawn(move |shutdown| dispatcher.run(shutdown));
    let state = AppState {
        db: ctx.db.clone(),
        auth: ctx.auth.clone(),
    };
    ctx.serve(listener, router(state))
}
