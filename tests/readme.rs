//! Keeps README.md true: its exit-code table matches the binary's, and each
//! row of its failure-mode table names a test that exists and asserts the
//! exit code the row gives (`cli::NAME` is in tests/cli.rs, `cluster::doctor::NAME`
//! in tests/cluster/doctor.rs).

use std::collections::HashMap;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

fn section(text: &str, heading: &str) -> String {
    let start = text.find(heading).unwrap_or_else(|| panic!("README has no {heading}"));
    let rest = &text[start + heading.len()..];
    let end = rest.find("\n## ").unwrap_or(rest.len());
    rest[..end].to_string()
}

fn rows(section: &str) -> Vec<Vec<String>> {
    section
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("| ---"))
        .skip(1)
        .map(|l| l.trim_matches('|').split(" | ").map(|c| c.trim().to_string()).collect())
        .collect()
}

#[test]
fn exit_code_table_matches_the_binary() {
    let table = rows(&section(&readme(), "## Exit codes"));
    let codes: Vec<u8> = table.iter().map(|r| r[0].parse().unwrap()).collect();
    use keysvc_check::error::*;
    assert_eq!(codes, ExitCode::ALL.map(u8::from));
    for code in codes {
        assert!(HELP.contains(&format!("\n  {code} ")), "--help lacks exit code {code}");
    }
}

#[test]
fn failure_mode_rows_are_proven_by_their_tests() {
    let table = rows(&section(&readme(), "## Failure modes"));
    assert!(table.len() >= 25, "the table lost rows");
    let mut sources: HashMap<String, String> = HashMap::new();
    for row in table {
        let (exit, test) = (&row[2], row[3].trim_matches('`'));
        // `BINARY::TEST` is tests/BINARY.rs; `BINARY::MODULE::TEST` is tests/BINARY/MODULE.rs.
        let (path, name) = test.rsplit_once("::").unwrap_or_else(|| panic!("bad test name {test}"));
        let file = path.replace("::", "/");
        let src = sources.entry(file.clone()).or_insert_with(|| {
            std::fs::read_to_string(format!("{}/tests/{file}.rs", env!("CARGO_MANIFEST_DIR")))
                .unwrap_or_else(|e| panic!("tests/{file}.rs for {test}: {e}"))
        });
        let start = src.find(&format!("fn {name}(")).unwrap_or_else(|| panic!("no test {test} for row {row:?}"));
        let body = &src[start..];
        let body = &body[..body[1..].find("\n#[test]").map_or(body.len(), |i| i + 1)];
        let proves = body.contains(&format!("code, {exit}"))
            || body.contains(&format!("Some({exit})"))
            || (exit == "2" && body.contains("assert_fail("))
            || (exit == "3" && body.contains("assert_only_unknown("));
        assert!(proves, "{test} does not assert exit {exit} (row {row:?})");
    }
}
