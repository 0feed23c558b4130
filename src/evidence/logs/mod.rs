//! Reading container logs as services really write them, with no I/O here:
//! what a line is (its format, level, message, error, stack: `format`),
//! which lines make one entry (a stack trace, a panic: `entry`), and which
//! template a message is an instance of (`template`). The steps that fetch
//! logs feed lines in and take these facts out.

pub mod entry;
pub mod format;
pub mod template;
