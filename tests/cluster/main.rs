//! keysvc-check end to end against the real three-region test environment
//! (tests/run-all.sh brings it up), one test binary. Every test builds its
//! case with `common::case::Case`: a namespace of its own in every region, so
//! tests run in parallel without seeing each other's scenarios; a test that
//! stops a region's process holds the regions alone while it does.
//!
//! One module: `cargo test --test cluster -- --include-ignored doctor::`.

#[path = "../common/mod.rs"]
mod common;

mod advice;
mod case_telemetry;
mod contexts;
mod diagnose;
mod doctor;
mod evidence;
mod faults;
mod global;
mod incluster;
mod logformats;
mod mask;
mod other_service;
mod output;
mod pods_kubectl;
mod pushback;
mod reach;
mod regions;
mod runbook;
mod telemetry;
mod watch;
