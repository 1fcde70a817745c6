//! What every baedal service stands on, each mechanism written once (docs/architecture.md,
//! "Reliability model" and "Runtime shapes").

pub mod auth;
pub mod broker;
pub mod bus;
pub mod client;
pub mod config;
pub mod db;
pub mod dlq;
pub mod http;
pub mod inbox;
pub mod live;
pub mod outbox;
pub mod peers;
pub mod problem;
pub mod ready;
pub mod runtime;
pub mod shutdown;
pub mod telemetry;
pub mod trace;
pub mod unit;

pub use auth::{AuthKeys, Identity, Role};
pub use config::{ServiceName, Settings};
pub use db::{Db, Tx};
pub use problem::{ApiError, ApiResult};
pub use runtime::{RunningService, ServiceContext};
pub use unit::{Aggregate, Decision, UnitOfWork, WorkError};
