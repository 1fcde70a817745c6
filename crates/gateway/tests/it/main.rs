//! The gateway against real local servers standing in for the services.

mod login;
mod routing;
mod support;
