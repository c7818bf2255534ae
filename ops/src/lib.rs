//! opsctl's library: the embedded CloudFormation templates and the dashboard panel spec.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod dashboards;
pub mod templates;
