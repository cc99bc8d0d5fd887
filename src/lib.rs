//! matrixbox: a Matrix homeserver (PostgreSQL + Synapse on Docker) from one binary.

pub mod acme;
pub mod cli;
pub mod commands;
pub mod config;
pub mod disk;
pub mod dns;
pub mod docker;
pub mod doctor;
pub mod embedded;
pub mod fsio;
#[cfg(test)]
mod golden;
pub mod i18n;
pub mod logging;
pub mod notify;
pub mod paths;
pub mod preflight;
pub mod proxy;
pub mod report;
pub mod secrets;
pub mod service;
pub mod stack;
pub mod synapse;
pub mod throttle;
pub mod tls;
pub mod tuning;
pub mod unit;
pub mod wellknown;
pub mod yaml;
