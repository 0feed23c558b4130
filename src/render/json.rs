//! `-o json`: the report as one JSON document (schema `keysvc-check/report/v2`;
//! `doctor`'s is `keysvc-check/doctor/v1`).

use std::io::Write;

use crate::report::Report;

pub fn render(report: &Report, out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}

/// `doctor`'s report.
pub fn doctor(report: &crate::doctor::DoctorReport, out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}
