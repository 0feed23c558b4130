//! Renderers: they only format a finished report (no network, no clock).

pub mod json;
pub mod table;
