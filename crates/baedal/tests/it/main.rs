//! Integration and end-to-end tests of baedal on real parts: an embedded Kafka-protocol broker,
//! SQLite or PostgreSQL, and HTTP between services. One test binary, since linking dominates.

mod audit;
mod authorization;
mod chaos;
mod cli;
mod client;
mod harness;
mod live;
mod reliability;
mod reorder;
mod saga;
mod scenario;
mod thin_slice;
mod trace;
