//! `opsctl dashboard`: the live terminal dashboard, and the data it shows.

pub mod cloudwatch;
pub mod model;
pub mod state;
pub mod terminal;
pub mod view;
