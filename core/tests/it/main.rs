//! Integration tests of the store: one binary, one module per subject.

mod cases;
mod common;
mod convergence;
mod encryption;
mod migrations;
mod sealing;
mod store;
mod visits;
