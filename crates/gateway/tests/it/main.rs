//! The gateway against real local servers standing in for the services.

mod asyncapi_doc;
mod docs;
mod events_md;
mod limits;
mod login;
mod routing;
mod support;
