//! The local target (DESIGN §9): the chat API on one machine, served by the same handlers as the
//! Lambdas, over the emulator and the local development doubles.

pub mod gateway;
pub mod metrics;
pub mod openai;
pub mod process;
pub mod state;
pub mod wiring;
