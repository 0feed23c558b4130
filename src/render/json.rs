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

/// Checks a report, as `-o json` prints it, against the published schema
/// (`schemas/report-v2.json`); panics with every mismatch.
#[cfg(test)]
pub fn check_schema(report: &Report) {
    use std::sync::OnceLock;
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../schemas/report-v2.json")).expect("schemas/report-v2.json is JSON");
        jsonschema::draft202012::new(&schema).expect("schemas/report-v2.json is a JSON Schema")
    });
    let mut out = Vec::new();
    render(report, &mut out).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let errors: Vec<String> = validator.iter_errors(&v).map(|e| format!("at {}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "the report does not match schemas/report-v2.json:\n{}", errors.join("\n"));
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_fixture_report_matches_the_schema() {
        super::check_schema(&super::super::fixture::report());
    }

    #[test]
    fn the_schema_check_catches_a_value_outside_a_closed_list() {
        let mut r = super::super::fixture::report();
        r.steps.push("mystery");
        assert!(std::panic::catch_unwind(|| super::check_schema(&r)).is_err());
    }
}
