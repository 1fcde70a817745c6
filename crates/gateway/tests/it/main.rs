//! The gateway against real local servers standing in for the services.

mod docs;
mod limits;
mod login;
mod routing;
mod support;
