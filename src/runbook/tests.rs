//! Reading runbooks: defaults, every kind of problem with its place and
//! words, placeholders, and a runbook written out reading back the same.

use std::time::Duration;

use super::*;
use crate::duration::parse_duration;

fn parse_str(text: &str) -> Result<Runbook, RunbookError> {
    parse(&Source { name: "rb.yaml".into(), text: text.into() })
}

const MINIMAL: &str = "service: S\nnamespace: api\nselector: app=x\ncontainer: c\nenvironments:\n  prod:\n    healthz_url: https://h/healthz\n    regions:\n      us-south: { context: ctx }\n";

#[test]
fn embedded_runbook_parses_with_three_regions_in_order() {
    let rb = parse(&Source::embedded()).unwrap();
    let prod = &rb.environments.value["prod"];
    let regions: Vec<&str> = prod.regions.value.keys().map(String::as_str).collect();
    assert_eq!(regions, ["us-south", "us-east", "eu-de"]);
    assert_eq!(rb.namespace, "api");
    assert_eq!(rb.selector, "app=api-key-service");
    assert_eq!(rb.container, "api-key-service");
    assert_eq!(rb.expected_ready, 3);
    assert_eq!(rb.logs.since.0, Duration::from_secs(300));
    assert_eq!(rb.logs.baseline.0, Duration::from_secs(3600));
    assert_eq!(rb.logs.min_errors, AtLeastOne(5));
    assert_eq!(rb.logs.spike_factor, Factor(3.0));
    // Judged against the baseline, not an absolute count, unless one is set.
    assert_eq!(rb.logs.error_threshold, None);
}

#[test]
fn minimal_runbook_takes_defaults() {
    let rb = parse_str(MINIMAL).unwrap();
    assert_eq!(rb.expected_ready, 3);
    assert_eq!(rb.healthz.status, 200);
    assert_eq!(rb.logs.since.0, Duration::from_secs(300));
    assert_eq!(rb.logs.baseline.0, Duration::from_secs(3600));
    assert_eq!(rb.logs.baseline_max_bytes, AtLeastOne(4 * 1024 * 1024));
    assert_eq!(rb.logs.min_errors, AtLeastOne(5));
    assert_eq!(rb.logs.spike_factor, Factor(3.0));
    assert_eq!(rb.logs.error_threshold, None);
}

#[test]
fn baseline_keys_are_read_and_checked() {
    let rb = parse_str(&format!(
        "{MINIMAL}logs:\n  baseline: 2h\n  baseline_max_bytes: 1024\n  min_errors: 10\n  spike_factor: 2.5\n  error_threshold: 0\n"
    ))
    .unwrap();
    assert_eq!(rb.logs.baseline.0, Duration::from_secs(7200));
    assert_eq!(rb.logs.baseline_max_bytes, AtLeastOne(1024));
    assert_eq!(rb.logs.min_errors, AtLeastOne(10));
    assert_eq!(rb.logs.spike_factor, Factor(2.5));
    assert_eq!(rb.logs.error_threshold, Some(0));
    for (bad, needle) in [
        ("spike_factor: 1", "greater than 1"),
        ("spike_factor: 0.5", "greater than 1"),
        ("spike_factor: .nan", "greater than 1"),
        ("min_errors: 0", "at least 1"),
        ("baseline_max_bytes: 0", "at least 1"),
        ("baseline: 0s", "more than zero"),
        ("min_errors: -1", ""),
    ] {
        let (line, _, msg) = invalid(&format!("{MINIMAL}logs:\n  {bad}\n"));
        assert_eq!(line, 11, "{bad}: {msg}");
        assert!(msg.contains(needle), "{bad}: {msg}");
    }
}

fn invalid(text: &str) -> (u64, u64, String) {
    match parse_str(text) {
        Err(RunbookError::Invalid { line, column, message, .. }) => (line, column, message),
        other => panic!("expected an Invalid error, got {other:?}"),
    }
}

#[test]
fn log_format_keys_are_read() {
    let rb = parse_str(MINIMAL).unwrap();
    assert_eq!(rb.logs.format, LogFormat::Auto);
    assert_eq!((rb.logs.level_field.as_deref(), rb.logs.message_field.as_deref()), (None, None));
    assert_eq!(rb.logs.error_levels, [LevelName::Error, LevelName::Fatal]);
    let rb = parse_str(&format!(
        "{MINIMAL}logs:\n  format: logfmt\n  level_field: sev\n  message_field: text\n  error_levels: [warn, error, fatal]\n"
    ))
    .unwrap();
    assert_eq!(rb.logs.format, LogFormat::Logfmt);
    assert_eq!(rb.logs.level_field.as_deref(), Some("sev"));
    assert_eq!(rb.logs.message_field.as_deref(), Some("text"));
    assert_eq!(rb.logs.error_levels, [LevelName::Warn, LevelName::Error, LevelName::Fatal]);
    // Written out, they read back the same.
    let yaml = serde_saphyr::to_string(&rb).unwrap();
    assert!(yaml.contains("format: logfmt") && yaml.contains("- warn"), "{yaml}");
    let back = parse_str(&yaml).unwrap();
    assert_eq!((back.logs.format, back.logs.error_levels.len()), (LogFormat::Logfmt, 3));
}

#[test]
fn bad_log_format_keys_are_refused_with_key_line_and_what_to_write() {
    for (bad, needle) in [
        ("format: JSON", "`logs.format` must be one of auto, json, logfmt, klog, text, not `JSON`"),
        ("format: [json]", "`logs.format` must be one of"),
        ("level_field: ''", "`logs.level_field` must be the name of a field"),
        ("message_field: [msg]", "`logs.message_field` must be the name of a field"),
        ("error_levels: error", "`logs.error_levels` must be a list of levels, like [error, fatal], not `error`"),
        ("error_levels: []", "`logs.error_levels` is empty"),
        ("error_levels: [error, severe]", "must be one of trace, debug, info, warn, error, fatal, not `severe`"),
        ("formt: json", "did you mean `format`?"),
    ] {
        let (line, _, msg) = invalid(&format!("{MINIMAL}logs:\n  {bad}\n"));
        assert_eq!(line, 11, "{bad}: {msg}");
        assert!(msg.contains(needle), "{bad}: {msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let (line, _, msg) = invalid(&MINIMAL.replace("container: c\n", "container: c\ncontainr: d\n"));
    assert_eq!(line, 5, "{msg}");
    assert!(msg.contains("containr"), "{msg}");
}

#[test]
fn bad_duration_and_regex_and_types_are_rejected_with_location() {
    let (line, _, msg) = invalid(&format!("{MINIMAL}logs:\n  since: five minutes\n"));
    assert_eq!(line, 11, "{msg}");
    assert!(msg.contains("not a duration"), "{msg}");
    let (line, _, msg) = invalid(&format!("{MINIMAL}logs:\n  error_patterns: ['(unclosed']\n"));
    assert_eq!(line, 11, "{msg}");
    assert!(msg.contains("regular expression"), "{msg}");
    let (_, _, msg) = invalid(&MINIMAL.replace("service: S", "service: [1, 2]"));
    assert!(!msg.is_empty());
    let (line, _, _) = invalid(&format!("{MINIMAL}healthz:\n  status: many\n"));
    assert_eq!(line, 11);
}

#[test]
fn a_selector_or_namespace_kubernetes_would_refuse_is_rejected_where_it_is_written() {
    let problems = all_problems(
        &MINIMAL
            .replace("selector: app=x", "selector: app==api key service")
            .replace("namespace: api", "namespace: Key_Service"),
    );
    assert_eq!(problems.len(), 2, "{problems:#?}");
    let (line, column, message, hint) = &problems[0];
    assert_eq!((*line, *column), (2, 12));
    assert_eq!(
        message,
        "`namespace` `Key_Service` is not a namespace name: a namespace name is lower-case letters, digits and `-`, beginning and ending with a letter or digit"
    );
    assert!(hint.as_deref().unwrap().contains("kubectl get ns"), "{hint:?}");
    let (line, column, message, hint) = &problems[1];
    assert_eq!((*line, *column), (3, 11));
    assert_eq!(
        message,
        "`selector` `app==api key service` is not a label selector: `key` where `,` or the end was expected (a value cannot contain spaces)"
    );
    assert!(hint.as_deref().unwrap().ends_with("e.g. app=my-api,tier=web"), "{hint:?}");
    // Loading refuses it too, as every command loads the runbook.
    assert!(parse_str(&MINIMAL.replace("selector: app=x", "selector: app in x")).is_err());
    for ok in ["app=x, tier!=db", "'app in (a, b)'", "app.kubernetes.io/name=x", "'!canary'"] {
        let text = MINIMAL.replace("selector: app=x", &format!("selector: {ok}"));
        assert!(parse_str(&text).is_ok(), "{ok}: {:?}", parse_str(&text).err());
    }
}

#[test]
fn duplicate_regions_and_empty_environments_are_rejected() {
    let dup = MINIMAL.replace(
        "      us-south: { context: ctx }\n",
        "      us-south: { context: a }\n      us-south: { context: b }\n",
    );
    let (line, _, msg) = invalid(&dup);
    assert!(msg.contains("`us-south` appears twice") && msg.contains("first on line 9"), "{msg}");
    assert_eq!(line, 10, "{msg}");
    let (_, _, msg) = invalid("service: S\nnamespace: api\nselector: a=b\ncontainer: c\nenvironments: {}\n");
    assert!(msg.contains("environments"), "{msg}");
    let (line, _, msg) =
        invalid(&MINIMAL.replace("    regions:\n      us-south: { context: ctx }\n", "    regions: {}\n"));
    assert!(msg.contains("no regions"), "{msg}");
    assert_eq!(line, 8);
}

#[test]
fn bad_urls_and_zero_durations_are_rejected() {
    let (line, _, msg) = invalid(&MINIMAL.replace("https://h/healthz", "ftp://h/healthz"));
    assert_eq!(line, 7);
    assert!(msg.contains("http or https"), "{msg}");
    assert!(parse_duration("0s").is_err());
    assert!(parse_duration("5m").is_ok());
}

#[test]
fn durations_take_only_the_documented_units_and_say_what_to_write() {
    use crate::duration::{Units, format_duration, parse_in};
    let ok = |s: &str, u: Units| parse_in(s, u).unwrap_or_else(|e| panic!("{s}: {e}"));
    assert_eq!(ok("5m", Units::Secs), Duration::from_secs(300));
    assert_eq!(ok("1h30m", Units::Secs), Duration::from_secs(5400));
    assert_eq!(ok(" 90s ", Units::Secs), Duration::from_secs(90));
    assert_eq!(ok("1s500ms", Units::Millis), Duration::from_millis(1500));
    for (s, u, said) in [
        (
            "5M",
            Units::Secs,
            "`5M` is not a duration; write 5m for minutes (M is months to some tools) (units: s, m, h, no spaces)",
        ),
        ("1 hour", Units::Secs, "`1 hour` is not a duration; write 1h (units: s, m, h, no spaces)"),
        ("5 m", Units::Millis, "`5 m` is not a duration; write 5m (units: ms, s, m, h, no spaces)"),
        ("1d", Units::Secs, "`1d` is not a duration; write 24h for days (units: s, m, h, no spaces)"),
        (
            "10M",
            Units::Millis,
            "`10M` is not a duration; write 10m for minutes (M is months to some tools) (units: ms, s, m, h, no spaces)",
        ),
        ("1.5h", Units::Secs, "`1.5h` is not a duration; write 1h30m (units: s, m, h, no spaces)"),
        (
            "500ms",
            Units::Secs,
            "`500ms` is not a duration; this is whole seconds, like 1s or 5m (units: s, m, h, no spaces)",
        ),
        (
            "5minuts",
            Units::Secs,
            "`5minuts` is not a duration; write it like 30s, 5m or 1h30m (units: s, m, h, no spaces)",
        ),
    ] {
        assert_eq!(parse_in(s, u).unwrap_err(), said);
    }
    assert!(parse_in("0h0m", Units::Secs).unwrap_err().contains("more than zero"));
    assert!(parse_in("99999999999999999999999h", Units::Secs).is_err());
    for d in [1, 59, 60, 61, 3600, 5400, 86_400 * 3] {
        let d = Duration::from_secs(d);
        assert_eq!(parse_in(&format_duration(d), Units::Secs).unwrap(), d, "{}", format_duration(d));
    }
    assert_eq!(format_duration(Duration::from_millis(90_500)), "1m30s500ms");
    assert_eq!(format_duration(Duration::from_secs(48 * 3600)), "48h");
    // In the runbook: the key, its line and what to write.
    let (line, _, msg) = invalid(&MINIMAL.replace("service: S\n", "service: S\nlogs:\n  since: 5M\n"));
    assert_eq!(line, 3, "{msg}");
    assert!(msg.starts_with("`logs.since`: `5M` is not a duration; write 5m for minutes"), "{msg}");
}

#[test]
fn placeholders_are_reserved_names_only() {
    for p in [
        "example.com",
        "key-service.example.com",
        "x.example.net",
        "EXAMPLE.ORG.",
        "prod-us-south.example",
        "a.invalid",
        "a.test",
    ] {
        assert!(placeholder_name(p), "{p}");
    }
    for real in ["keysvc-prod-us-south", "example.company.com", "myexample.com", "127.0.0.1", "localhost", "testing"] {
        assert!(!placeholder_name(real), "{real}");
    }
    assert!(placeholder_url("https://key-service.example.com/healthz"));
    assert!(!placeholder_url("http://127.0.0.1:8080/healthz"));
    let rb = parse(&Source::embedded()).unwrap();
    let keys: Vec<String> = rb.placeholders().into_iter().map(|p| p.key).collect();
    assert!(keys.contains(&"environments.prod.healthz_url".to_string()), "{keys:?}");
    assert!(keys.contains(&"environments.prod.regions.us-east.context".to_string()), "{keys:?}");
    assert!(parse_str(MINIMAL).unwrap().placeholders().is_empty());
}

#[test]
fn placeholder_guidance_links_are_named_with_their_place() {
    use crate::runbook::Effect::NotShown;
    let text = format!(
        "{MINIMAL}guidance:\n  impact: i\n  dashboard: https://grafana.example.com/d/1\n  metrics: https://metrics.corp/m\n  \
         logs:\n    us-south: https://logs.example/south\n    us-east: https://logs.corp/east\n"
    );
    let rb = parse_str(&text).unwrap();
    let got: Vec<(u64, u64, String, String, Effect)> =
        rb.placeholders().into_iter().map(|p| (p.line, p.column, p.key, p.value, p.effect)).collect();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1;
    assert_eq!(
        got,
        [
            (line_of("grafana"), 14, "guidance.dashboard".into(), "https://grafana.example.com/d/1".into(), NotShown),
            (
                line_of("logs.example"),
                15,
                "guidance.logs.us-south".into(),
                "https://logs.example/south".into(),
                NotShown
            ),
        ]
    );
    // The embedded runbook's links are all placeholders, each named.
    let keys: Vec<String> = parse(&Source::embedded()).unwrap().placeholders().into_iter().map(|p| p.key).collect();
    for key in ["guidance.dashboard", "guidance.other_apis", "guidance.platform", "guidance.logs.eu-de"] {
        assert!(keys.iter().any(|k| k == key), "{key}: {keys:?}");
    }
}

#[test]
fn peers_are_named_urls() {
    let rb = parse_str(&MINIMAL.replace(
        "    regions:\n",
        "    peers:\n      - { name: iam, healthz_url: https://iam/healthz }\n    regions:\n",
    ))
    .unwrap();
    assert_eq!(rb.environments.value["prod"].peers[0].name, "iam");
    let (_, _, msg) = invalid(
        &MINIMAL.replace("    regions:\n", "    peers:\n      - { name: iam, healthz_url: ftp://iam }\n    regions:\n"),
    );
    assert!(msg.contains("peers[0].healthz_url"), "{msg}");
}

#[test]
fn malformed_yaml_and_huge_files_are_one_error() {
    let (line, _, msg) = invalid("service: S\n  bad: [\n");
    assert!(line >= 1 && !msg.is_empty());
    let huge = format!("{MINIMAL}# {}\n", "x".repeat(2 * 1024 * 1024));
    assert!(matches!(parse_str(&huge), Err(RunbookError::TooLarge { .. })));
}

fn all_problems(text: &str) -> Vec<(u64, u64, String, Option<String>)> {
    match parse_all(&Source { name: "rb.yaml".into(), text: text.into() }) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(v) => v
            .into_iter()
            .map(|e| match e {
                RunbookError::Invalid { line, column, message, hint, .. } => (line, column, message, hint),
                other => panic!("{other:?}"),
            })
            .collect(),
    }
}

#[test]
fn every_problem_is_reported_once_with_its_own_place() {
    let text = EMBEDDED
        .replace("expected_ready: 3", "expected_ready: three")
        .replace("  since: 5m", "  sinse: 5m")
        .replace("  spike_factor: 3", "  spike_factor: 1")
        .replace("us-east: { context: prod-us-east.example }", "us-south: { context: again }")
        .replace("'OutOfMemoryError'", "'(Out'");
    let problems = all_problems(&text);
    let messages: Vec<&str> = problems.iter().map(|p| p.2.as_str()).collect();
    assert_eq!(problems.len(), 5, "{messages:#?}");
    let mut places: Vec<(u64, u64)> = problems.iter().map(|p| (p.0, p.1)).collect();
    places.dedup();
    assert_eq!(places.len(), 5, "each at its own place: {places:?}");
    assert_eq!(messages[0], "`expected_ready` must be a whole number of at least 1, like 3, not `three`");
    assert_eq!(messages[1], "unknown key `sinse` under `logs`; did you mean `since`?");
    assert!(messages[2].contains("`logs.spike_factor` must be a number greater than 1"), "{messages:?}");
    assert!(messages[3].contains("`(Out` is not a valid regular expression"), "{messages:?}");
    assert_eq!(problems[3].3, None, "no quoting hint for a pattern without backslashes");
    // Double quotes turned `\b` into a backspace: that is what the hint is for.
    let quoted = all_problems(&EMBEDDED.replace("'OutOfMemoryError'", "\"\\b(Out\""));
    assert!(quoted[0].3.as_deref().is_some_and(|h| h.contains("single quotes")), "{quoted:?}");
    assert!(messages[4].starts_with("`us-south` appears twice under `environments.prod.regions`"), "{messages:?}");
    // The embedded text keeps its lines, so the places are checkable.
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1;
    assert_eq!((problems[0].0, problems[0].1), (line_of("expected_ready: three"), 17));
    assert_eq!((problems[1].0, problems[1].1), (line_of("sinse"), 3));
    assert_eq!(problems[4].0, line_of("us-south: { context: again }"));
    for m in &messages {
        for jargon in ["invalid u32", "DuplicateKeyPolicy", "<input>", "error:", "-->"] {
            assert!(!m.contains(jargon), "{m}");
        }
    }
}

#[test]
fn a_key_far_from_any_known_one_lists_them_instead() {
    let p = all_problems(&format!("{MINIMAL}logs:\n  colour: red\n"));
    assert_eq!(p[0].2, "unknown key `colour` under `logs`");
    assert!(p[0].3.as_deref().unwrap().contains("since, baseline, baseline_max_bytes"), "{p:?}");
    let p = all_problems(&MINIMAL.replace("container: c\n", "container: c\ncontainr: d\n"));
    assert_eq!(p[0].2, "unknown key `containr` at the top level; did you mean `container`?");
    assert_eq!(lint::distance("sinse", "since"), 1);
    assert_eq!(lint::distance("", "abc"), 3);
}

#[test]
fn a_misspelt_environment_is_named_with_the_one_meant() {
    let rb = parse_str(MINIMAL).unwrap();
    assert_eq!(rb.other_envs("prdo"), "did you mean prod, its only one?");
    assert_eq!(rb.other_envs("mars"), "it has: prod");
    let two = parse_str(&format!(
        "{MINIMAL}  stage:\n    healthz_url: https://h/healthz\n    regions:\n      us-south: {{ context: c }}\n"
    ))
    .unwrap();
    assert_eq!(two.other_envs("stgae"), "did you mean stage? it has: prod, stage");
}

#[test]
fn a_misspelt_required_key_is_named_by_its_did_you_mean_alone() {
    for (text, want) in [
        (MINIMAL.replace("selector:", "selctor:"), "unknown key `selctor` at the top level; did you mean `selector`?"),
        (
            MINIMAL.replace("    regions:", "    regoins:"),
            "unknown key `regoins` under `environments.prod`; did you mean `regions`?",
        ),
        (
            MINIMAL.replace("{ context: ctx }", "{ contxt: ctx }"),
            "unknown key `contxt` under `environments.prod.regions.us-south`; did you mean `context`?",
        ),
    ] {
        let p = all_problems(&text);
        let messages: Vec<&str> = p.iter().map(|p| p.2.as_str()).collect();
        assert_eq!(messages, [want]);
        // The first problem is the one every other command stops at.
        let one = parse(&Source { name: "rb.yaml".into(), text }).unwrap_err().to_string();
        assert!(one.ends_with(want), "{one}");
    }
    // A key missing with no look-alike is still said to be missing.
    let p = all_problems(&MINIMAL.replace("selector: app=x\n", "colour: red\n"));
    assert!(p.iter().any(|p| p.2 == "The runbook has no `selector`; it is required"), "{p:?}");
}

#[test]
fn a_mis_indented_regions_names_the_environment_and_the_indentation() {
    let text = MINIMAL.replace("    regions:\n", "  regions:\n");
    let p = all_problems(&text);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert_eq!((p[0].0, p[0].2.as_str()), (6, "environment `prod` has no `regions`"));
    assert!(p[0].3.as_deref().unwrap().contains("indentation"), "{p:?}");
    assert_eq!((p[1].0, p[1].2.as_str()), (8, "`regions` is read as an environment name here"));
    assert!(p[1].3.as_deref().unwrap().contains("indentation"), "{p:?}");
}

#[test]
fn the_strict_pass_still_refuses_what_the_lenient_one_lets_through() {
    // A quoted number passes the first pass (serde decides) and must not
    // slip through unchecked.
    let r = parse_str(&MINIMAL.replace("service: S", "service: S\nexpected_ready: '0'"));
    assert!(matches!(r, Err(RunbookError::Invalid { .. })), "{r:?}");
}

#[test]
fn the_effective_runbook_written_out_reads_back_the_same() {
    let mut rb = parse(&Source::embedded()).unwrap();
    rb.logs.error_threshold = Some(7);
    let yaml = serde_saphyr::to_string(&rb).unwrap();
    let back = parse_str(&yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    assert_eq!(serde_saphyr::to_string(&back).unwrap(), yaml);
    assert_eq!(back.logs.error_threshold, Some(7));
    let patterns: Vec<&str> = back.logs.error_patterns.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(patterns[0], r"\b(ERROR|FATAL|PANIC|CRITICAL)\b");
    // JSON is YAML too.
    let json = serde_json::to_string(&rb).unwrap();
    assert_eq!(serde_saphyr::to_string(&parse_str(&json).unwrap()).unwrap(), yaml);
}

/// The runbook built from the tree is the one serde builds from the text,
/// places included; a tree the builder leaves to serde is not wrongly built.
fn built_as_serde_builds(text: &str) -> bool {
    let root = node::read("rb.yaml", text).unwrap();
    let strict = serde_saphyr::from_str::<Runbook>(text);
    let Some(built) = build::runbook(&root) else { return false };
    let strict = strict.unwrap_or_else(|e| panic!("built what serde refuses ({e}):\n{text}"));
    let strict = build::placed(strict, &root);
    assert_eq!(format!("{built:#?}"), format!("{strict:#?}"), "{text}");
    true
}

#[test]
fn the_runbook_built_from_the_tree_is_the_one_serde_builds() {
    let mut rb = parse(&Source::embedded()).unwrap();
    rb.logs.error_threshold = Some(7);
    let shown = serde_saphyr::to_string(&rb).unwrap();
    let json = serde_json::to_string(&rb).unwrap();
    let peers = MINIMAL.replace(
        "    regions:\n",
        "    peers:\n      - { name: iam, healthz_url: https://iam/healthz }\n    regions:\n",
    );
    let full = format!(
        "runbook: r\n{MINIMAL}not_ready_grace: 1m\nhealthz:\n  status: 204\n  code: -1\n  description: up\n  timeout: 1500ms\n  max_body_bytes: 10\nlogs:\n  since: 10m\n  baseline: 2h\n  baseline_max_bytes: 1024\n  min_errors: 10\n  spike_factor: 2.5\n  error_threshold: ~\n  error_patterns: ['a', \"b\\\\d\"]\n  format: json\n  level_field: sev\n  message_field: ~\n  error_levels: [warn, error]\nguidance:\n  impact: i\n  metrics: ~\n  logs: {{ us-south: 'https://logs' }}\n"
    );
    let anchors = MINIMAL.replace("us-south: { context: ctx }", "us-south: &r { context: ctx }\n      us-east: *r");
    for text in [EMBEDDED, MINIMAL, &shown, &json, &peers, &full, &anchors] {
        assert!(built_as_serde_builds(text), "left to serde:\n{text}");
    }
    // Forms left to serde, which decides as before.
    for text in [
        MINIMAL.replace("service: S", "service: 007"),
        MINIMAL.replace("service: S", "service: true"),
        MINIMAL.replace("service: S", "service: S\nexpected_ready: '3'"),
        MINIMAL.replace("service: S", "service: S\nhealthz:"),
        format!("{MINIMAL}guidance:\n  logs: {{ us-south: 5 }}\n"),
    ] {
        assert!(!built_as_serde_builds(&text), "built:\n{text}");
    }
}

#[test]
fn a_runbook_is_parsed_once() {
    let parses = |text: &str| {
        node::PARSES.with(|p| p.set(0));
        let _ = parse_str(text);
        node::PARSES.with(|p| p.get())
    };
    assert_eq!(parses(EMBEDDED), 1);
    assert_eq!(parses(MINIMAL), 1);
    // A file with problems is read once too, and so is one that is not YAML.
    assert_eq!(parses(&MINIMAL.replace("container: c\n", "container: c\ncontainr: d\n")), 1);
    assert_eq!(parses("service: S\n  bad: [\n"), 1);
    // Only what the tree cannot build for certain is read again, by serde.
    assert_eq!(parses(&MINIMAL.replace("service: S", "service: S\nexpected_ready: '3'")), 2);
}

const TELEMETRY_RUNBOOK: &str = "service: S\nnamespace: api\nselector: app=x\ncontainer: svc\ntelemetry:\n  provider: newrelic\n  account_id: 1234567\nenvironments:\n  prod:\n    healthz_url: https://h/healthz\n    telemetry: { region: eu, since: 5m }\n    regions:\n      us-south: { context: ctx, telemetry: prod-us-south }\n      eu-de: { context: ctx2 }\n  stage:\n    healthz_url: https://h/healthz\n    regions:\n      us-south: { context: ctx }\n";

#[test]
fn telemetry_is_read_with_its_defaults_and_an_environment_overrides_its_keys() {
    let before = super::node::PARSES.with(|p| p.get());
    let rb = parse_str(TELEMETRY_RUNBOOK).unwrap();
    assert_eq!(super::node::PARSES.with(|p| p.get()) - before, 1, "the builder reads telemetry: one parse");
    let prod = rb.telemetry_for("prod").unwrap();
    assert_eq!(prod.provider, Provider::Newrelic);
    assert_eq!((prod.url.as_str(), prod.since.as_secs()), (NERDGRAPH_EU, 300));
    assert_eq!(prod.key_env.as_deref(), Some("NEW_RELIC_API_KEY"));
    assert_eq!(prod.facet("us-south"), "prod-us-south");
    assert_eq!(prod.facet("eu-de"), "eu-de");
    assert_eq!(
        prod.filled_query(),
        "SELECT latest(timestamp), uniqueCount(k8s.podName) FROM Metric WHERE k8s.deploymentName = 'svc' FACET k8s.clusterName SINCE 5 minutes AGO"
    );
    let stage = rb.telemetry_for("stage").unwrap();
    assert_eq!((stage.url.as_str(), stage.since.as_secs()), (NERDGRAPH_US, 600));
    assert!(parse_str(MINIMAL).unwrap().telemetry_for("prod").is_none(), "absent: not configured");
    let prom = parse_str(&format!(
        "{MINIMAL}telemetry:\n  provider: prometheus\n  url: http://127.0.0.1:9090\n  token_env: PROM_TOKEN\n"
    ))
    .unwrap();
    let t = prom.telemetry_for("prod").unwrap();
    assert_eq!(t.filled_query(), "count by (region) (up{job=\"svc\"} == 1)".replace("svc", "c"));
    assert_eq!((t.key_env.as_deref(), t.since_words()), (Some("PROM_TOKEN"), "10m".to_string()));
    // What `runbook show` writes (defaults filled in) reads back the same.
    for mut shown in [rb.clone(), prom.clone()] {
        shown.fill_telemetry_defaults();
        let again = parse_str(&serde_saphyr::to_string(&shown).unwrap()).unwrap();
        assert_eq!(again.telemetry_for("prod"), shown.telemetry_for("prod"));
    }
    let mut shown = prom.clone();
    shown.fill_telemetry_defaults();
    let keys = shown.telemetry.as_ref().unwrap();
    assert_eq!((keys.since.map(|d| d.0.as_secs()), keys.label.as_deref()), (Some(600), Some("region")));
}

#[test]
fn telemetry_problems_are_one_line_each_with_did_you_mean_and_what_each_provider_needs() {
    let p = all_problems(&format!("{MINIMAL}telemetry:\n  provider: prometheus\n  sinse: 5m\n  account_id: 7\n"));
    let messages: Vec<&str> = p.iter().map(|(_, _, m, _)| m.as_str()).collect();
    assert_eq!(
        messages,
        [
            "`telemetry` has no `url` for environment prod; provider prometheus needs it",
            "unknown key `sinse` under `telemetry`; did you mean `since`?",
            "`telemetry.account_id` is read only with provider newrelic; environment prod's provider is prometheus",
        ]
    );
    for (bad, needle) in [
        ("  provider: datadog\n", "`telemetry.provider` must be one of prometheus, newrelic, not `datadog`"),
        ("  provider: newrelic\n", "`telemetry` has no `account_id` for environment prod; provider newrelic needs it"),
        (
            "  provider: newrelic\n  account_id: 1\n  api_key_env: 'NEW RELIC'\n",
            "`telemetry.api_key_env` must be an environment variable's name",
        ),
        ("  provider: prometheus\n  url: ftp://x\n", "telemetry.url: `ftp://x` has scheme `ftp`"),
        (
            "  provider: prometheus\n  url: http://p\n  since: 10 minutes\n",
            "`telemetry.since`: `10 minutes` is not a duration",
        ),
        ("  url: http://p\n", "`telemetry` has no `provider`; it is required"),
    ] {
        let p = all_problems(&format!("{MINIMAL}telemetry:\n{bad}"));
        assert!(p.iter().any(|(_, _, m, _)| m.contains(needle)), "{bad}: {p:?}");
        assert!(p.iter().all(|(_, _, m, _)| !m.contains('\n')), "{p:?}");
    }
    // A misspelt provider: the one meant, as a hint.
    let p = all_problems(&format!("{MINIMAL}telemetry:\n  provider: promethues\n  url: http://p\n"));
    let hints: Vec<Option<&str>> = p.iter().map(|(_, _, _, h)| h.as_deref()).collect();
    assert!(hints.contains(&Some("did you mean prometheus?")), "{p:?}");
}

#[test]
fn a_telemetry_url_on_a_reserved_name_is_a_placeholder() {
    let rb =
        parse_str(&format!("{MINIMAL}telemetry:\n  provider: prometheus\n  url: https://prometheus.example.com\n"))
            .unwrap();
    let keys: Vec<String> = rb.placeholders().into_iter().map(|p| p.key).collect();
    assert!(keys.contains(&"telemetry.url".to_string()), "{keys:?}");
}
