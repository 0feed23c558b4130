//! Report dumps, for comparing what the binary printed before and after a
//! change: with `KEYSVC_REPORT_DUMP=DIR`, every JSON document a test reads
//! from the binary (see `Run::json` and `json`) is also written to
//! `DIR/BINARY.TEST-N.json`, and the stdout of every `diagnose` run in text
//! or markdown to `DIR/BINARY.TEST-N.txt`: BINARY is the test binary
//! (`cluster`, `cli`…), TEST the test's name (`doctor::evidence_user_…`
//! with `::` as `__`), N counts the test's dumps from 1. Compare two dumps
//! with `tests/bench/compare-reports.py BEFORE AFTER`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// The environment variable naming the directory to dump into.
pub const VAR: &str = "KEYSVC_REPORT_DUMP";

fn dir() -> Option<PathBuf> {
    std::env::var_os(VAR).filter(|d| !d.is_empty()).map(PathBuf::from)
}

/// Dumps `text`, a JSON document the binary printed.
pub fn json(text: &str) {
    write("json", text);
}

/// Dumps `text`, a report the binary printed in text or markdown.
pub fn text(text: &str) {
    write("txt", text);
}

/// Whether `c` runs `diagnose` with a report in text or markdown on stdout.
pub fn is_text_diagnose(c: &Command) -> bool {
    let args: Vec<String> = c.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    let json = args.windows(2).any(|w| (w[0] == "-o" || w[0] == "--output") && w[1] == "json")
        || args.iter().any(|a| a == "-ojson" || a == "--output=json");
    args.first().is_some_and(|a| a == "diagnose") && !json
}

fn write(ext: &str, text: &str) {
    let Some(dir) = dir() else { return };
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{VAR}={}: {e}", dir.display()));
    let name = format!("{}.{}", binary(), sanitise(std::thread::current().name().unwrap_or("unnamed")));
    let n = {
        static COUNTS: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);
        let mut counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.get_or_insert_with(HashMap::new).entry(name.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let path = dir.join(format!("{name}-{n}.{ext}"));
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// The test binary's name without cargo's hash (`cluster-0123abcd…` → `cluster`).
fn binary() -> String {
    let exe = std::env::current_exe().ok();
    let stem = exe.as_deref().and_then(|p| p.file_stem()).map(|s| s.to_string_lossy().into_owned());
    let stem = stem.unwrap_or_else(|| "tests".to_string());
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_string(),
        _ => stem,
    }
}

fn sanitise(test: &str) -> String {
    test.replace("::", "__")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .collect()
}
