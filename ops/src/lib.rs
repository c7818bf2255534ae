//! opsctl: the chatbot's control plane. The binary in `main.rs` only parses and dispatches
//! ([`commands::run`]); each subcommand in [`commands`] turns its arguments into a call on a
//! capability module (`stack`, `token`, `docs`, `export`, `chat`, `browser`, `cost`, `alarms`, `logs`,
//! `smoke`, `package`, `local`, `dashboard`, `doctor`) and renders the result. Capabilities take
//! typed values, never command-line structs, and talk to the person only through [`interact`].

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod alarms;
pub mod aws;
pub mod browser;
pub mod chat;
pub mod cli;
pub mod commands;
pub mod config;
pub mod cost;
pub mod ctx;
pub mod dashboard;
pub mod dashboards;
pub mod deployed;
pub mod docs;
pub mod doctor;
pub mod errors;
pub mod export;
pub mod functions;
pub mod interact;
pub mod local;
pub mod logging;
pub mod logs;
pub mod output;
pub mod package;
pub mod printable;
pub mod smoke;
pub mod stack;
pub mod templates;
pub mod token;
pub mod vector_store;
