//! The lenient checks: the tree of nodes checked against the schema here,
//! every problem collected. They never refuse what the schema accepts (a value
//! they are unsure of passes on to the typed runbook's own types, and to serde
//! when the builder leaves it), so a file they pass is judged by the schema
//! alone. Also the typo finder that suggests the name meant (`did you mean`).

use std::collections::HashMap;

use serde_saphyr::Spanned;

use super::node::{N, Node, at, shape, text};
use super::schema::{LevelName, LogFormat};
use super::validate::check_url;
use super::{RunbookError, one_line};
use crate::duration::{Units, parse_in};

mod telemetry;

/// The one of `names` that `name` is most likely a typo of, if any is close
/// enough: `oncall@us-east` for `oncall-us-east`, `api` for `apii`.
pub fn did_you_mean<'n>(name: &str, names: &'n [String]) -> Option<&'n str> {
    let (best, d) = names.iter().filter(|n| *n != name).map(|n| (n, distance(name, n))).min_by_key(|(_, d)| *d)?;
    let len = name.chars().count();
    (d <= 2.max(len / 4) && d < len).then_some(best.as_str())
}

struct Lint<'a> {
    path: &'a str,
    problems: Vec<RunbookError>,
}

/// One mapping's entries by key, after duplicates and unknown keys were reported.
struct Entries<'n> {
    /// (key node, key, value) in file order, the first of duplicates only.
    list: Vec<(&'n N, String, &'n N)>,
    /// The known keys an unknown key was taken for (`selctor`: `selector`):
    /// already named by its did-you-mean, so not said again to be missing.
    meant: Vec<String>,
}

impl<'n> Entries<'n> {
    fn get(&self, key: &str) -> Option<&'n N> {
        self.list.iter().find(|(_, k, _)| k == key).map(|(_, _, v)| *v)
    }

    /// `key` is absent and no misspelling of it was reported.
    fn missing(&self, key: &str) -> bool {
        self.get(key).is_none() && !self.meant.iter().any(|m| m == key)
    }
}

impl<'a> Lint<'a> {
    fn problem(&mut self, (line, column): (u64, u64), message: String, hint: Option<String>) {
        self.problems.push(RunbookError::Invalid {
            path: self.path.to_string(),
            line: line.max(1),
            column: column.max(1),
            message,
            hint,
        });
    }

    /// `node` as a mapping named `name` (`logs`, `environments.prod`; empty at
    /// the top level). `known`: the keys it may have, or None for free keys.
    /// A null counts as an empty mapping (serde's defaults apply).
    fn map<'n>(&mut self, node: &'n N, name: &str, known: Option<&[&str]>) -> Option<Entries<'n>> {
        let pairs = match &node.value {
            Node::Map(p) => p,
            Node::Null => return Some(Entries { list: vec![], meant: vec![] }),
            _ => {
                let what = if name.is_empty() { "The runbook".to_string() } else { format!("`{name}`") };
                self.problem(
                    at(node),
                    format!("{what} must be a mapping of keys, but it is {}", shape(node)),
                    Some("write each key on its own line, `key: value`, indented under its section".into()),
                );
                return None;
            }
        };
        let under = if name.is_empty() { "at the top level".to_string() } else { format!("under `{name}`") };
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut list = vec![];
        let mut meant = vec![];
        for (k, v) in pairs {
            let Some(key) = text(k) else {
                self.problem(at(k), format!("a key {under} must be a name, not {}", shape(k)), None);
                continue;
            };
            if let Some(first) = seen.get(&key) {
                self.problem(
                    at(k),
                    format!("`{key}` appears twice {under} (first on line {first})"),
                    Some("keep one of them: a key can be given only once".into()),
                );
                continue;
            }
            seen.insert(key.clone(), k.referenced.line());
            if let Some(known) = known
                && !known.contains(&key.as_str())
            {
                let (message, hint) = match nearest(&key, known) {
                    Some(s) => {
                        meant.push(s.to_string());
                        (format!("unknown key `{key}` {under}; did you mean `{s}`?"), None)
                    }
                    None => (
                        format!("unknown key `{key}` {under}"),
                        Some(format!("the keys {under} are: {}", known.join(", "))),
                    ),
                };
                self.problem(at(k), message, hint);
                continue;
            }
            list.push((k, key, v));
        }
        Some(Entries { list, meant })
    }

    /// A required key: reported at `owner` (the key of the mapping) when absent.
    fn required<'n>(&mut self, e: &Entries<'n>, key: &str, owner: (u64, u64), what: &str) -> Option<&'n N> {
        let v = e.get(key);
        if e.missing(key) {
            self.problem(owner, format!("{what} has no `{key}`; it is required"), None);
        }
        v
    }

    fn text_value(&mut self, v: &N, key: &str, required: bool) {
        match (&v.value, text(v)) {
            (_, Some(t)) if required && t.trim().is_empty() => {
                self.problem(at(v), format!("`{key}` is empty; give a value"), None)
            }
            (Node::Null, _) if required => self.problem(at(v), format!("`{key}` is empty; give a value"), None),
            (Node::Seq(_) | Node::Map(_), _) => self.problem(
                at(v),
                format!("`{key}` must be a single value, not {}", shape(v)),
                Some("quote the value if it contains `: ` or starts with `[`, `{` or `-`".into()),
            ),
            _ => {}
        }
    }

    /// A whole number within `min..=max`; `example` shows one.
    fn whole(&mut self, v: &N, key: &str, min: i128, max: i128, example: &str) {
        let ok = match &v.value {
            Node::Int(i) => *i >= min && *i <= max,
            // A quoted number may still pass serde; leave it to serde.
            Node::Str(s) => s.trim().parse::<i128>().is_ok_and(|i| i >= min && i <= max),
            _ => false,
        };
        if !ok {
            let range = if min > 0 { format!(" of at least {min}") } else { String::new() };
            let got = text(v).map_or_else(|| format!(", not {}", shape(v)), |t| format!(", not `{t}`"));
            self.problem(at(v), format!("`{key}` must be a whole number{range}, like {example}{got}"), None);
        }
    }

    fn duration(&mut self, v: &N, key: &str, units: Units) {
        let t = text(v).unwrap_or_default();
        if let Err(m) = parse_in(&t, units) {
            self.problem(at(v), format!("`{key}`: {m}"), None);
        }
    }

    fn url(&mut self, v: &N, key: &str) {
        match text(v) {
            Some(t) => {
                let spanned = Spanned { value: t, referenced: v.referenced, defined: v.defined };
                if let Err(m) = check_url(&spanned, key) {
                    self.problem(at(v), m, None);
                }
            }
            None => self.problem(
                at(v),
                format!("`{key}` must be a URL like https://host/healthz, but it is {}", shape(v)),
                None,
            ),
        }
    }
}

/// A value as a message names it: `E` in backticks, or its shape.
fn got(v: &N) -> String {
    text(v).map_or_else(|| shape(v).to_string(), |t| format!("`{t}`"))
}

/// The nearest known key by edit distance, when it is close enough to be a typo.
fn nearest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let (best, d) = known.iter().map(|k| (*k, distance(key, k))).min_by_key(|(_, d)| *d)?;
    (d <= 2.max(key.chars().count() / 4) && d < key.chars().count()).then_some(best)
}

/// Levenshtein distance.
pub(super) fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

pub(super) const TOP: &[&str] = &[
    "runbook",
    "service",
    "namespace",
    "selector",
    "container",
    "expected_ready",
    "not_ready_grace",
    "healthz",
    "logs",
    "environments",
    "guidance",
    "telemetry",
];
pub(super) const HEALTHZ: &[&str] = &["status", "code", "description", "timeout", "max_body_bytes"];
pub(super) const LOGS: &[&str] = &[
    "since",
    "baseline",
    "baseline_max_bytes",
    "min_errors",
    "spike_factor",
    "error_patterns",
    "error_threshold",
    "format",
    "level_field",
    "message_field",
    "error_levels",
];
pub(super) const ENV: &[&str] = &["healthz_url", "regions", "peers", "telemetry"];
pub(super) const REGION: &[&str] = &["context", "healthz_url", "telemetry"];
pub(super) const TELEMETRY: &[&str] =
    &["provider", "since", "query", "label", "account_id", "region", "api_key_env", "token_env", "url"];
pub(super) const PEER: &[&str] = &["name", "healthz_url"];
pub(super) const GUIDANCE: &[&str] =
    &["impact", "dashboard", "other_apis", "platform", "technical_foundation", "metrics", "logs"];

/// Every problem of the runbook read into `root`, in file order.
pub(super) fn lint(path: &str, root: &N) -> Vec<RunbookError> {
    let mut l = Lint { path, problems: vec![] };
    l.top(root);
    let mut problems = l.problems;
    problems.sort_by_key(|p| match p {
        RunbookError::Invalid { line, column, .. } => (*line, *column),
        _ => (0, 0),
    });
    problems
}

impl<'a> Lint<'a> {
    fn top(&mut self, root: &N) {
        if matches!(root.value, Node::Null) {
            self.problem(
                at(root),
                "the runbook is empty".into(),
                Some("`keysvc-check runbook init` writes a starter".into()),
            );
            return;
        }
        let Some(e) = self.map(root, "", Some(TOP)) else { return };
        let start = (1, 1);
        for key in ["service", "namespace", "selector", "container"] {
            if let Some(v) = self.required(&e, key, start, "The runbook") {
                self.text_value(v, key, true);
            }
        }
        // What the API server would refuse, said here with its place
        // rather than as a bad request from every region.
        type Check = fn(&str) -> Result<(), String>;
        let names: [(&str, Check, &str, &str); 2] = [
            (
                "namespace",
                crate::runbook::labels::check_namespace,
                "a namespace name",
                "the namespace the service's pods run in, as `kubectl get ns` lists it, e.g. api",
            ),
            (
                "selector",
                crate::runbook::labels::check_selector,
                "a label selector",
                "a label selector is terms separated by commas: key=value, key!=value, key in (a,b), \
                 key notin (a,b), key or !key, as `kubectl get pods -l` takes it; e.g. app=my-api,tier=web",
            ),
        ];
        for (key, check, what, hint) in names {
            let Some(v) = e.get(key) else { continue };
            let Some(t) = text(v).filter(|t| !t.trim().is_empty()) else { continue };
            if let Err(why) = check(&t) {
                self.problem(at(v), format!("`{key}` `{t}` is not {what}: {why}"), Some(hint.into()));
            }
        }
        if let Some(v) = e.get("runbook") {
            self.text_value(v, "runbook", false);
        }
        if let Some(v) = e.get("expected_ready") {
            self.whole(v, "expected_ready", 1, u32::MAX.into(), "3");
        }
        if let Some(v) = e.get("not_ready_grace") {
            self.duration(v, "not_ready_grace", Units::Millis);
        }
        if let Some(v) = e.get("healthz") {
            self.healthz(v);
        }
        if let Some(v) = e.get("logs") {
            self.logs(v);
        }
        let top_telemetry = e
            .list
            .iter()
            .find(|(_, k, v)| k == "telemetry" && !matches!(v.value, Node::Null))
            .map(|(k, _, v)| self.telemetry(at(k), v, "telemetry"));
        if let Some(v) = self.required(&e, "environments", start, "The runbook") {
            let envs = self.environments(v);
            self.telemetry_needs(top_telemetry.as_ref(), &envs);
        }
        if let Some(v) = e.get("guidance") {
            self.guidance(v);
        }
    }

    fn healthz(&mut self, node: &N) {
        let Some(e) = self.map(node, "healthz", Some(HEALTHZ)) else { return };
        for (_, key, v) in &e.list {
            let name = format!("healthz.{key}");
            match key.as_str() {
                "status" => self.whole(v, &name, 100, 599, "200"),
                "code" => self.whole(v, &name, i64::MIN.into(), i64::MAX.into(), "0"),
                "max_body_bytes" => self.whole(v, &name, 0, u64::MAX.into(), "65536"),
                "timeout" => self.duration(v, &name, Units::Millis),
                _ => self.text_value(v, &name, false),
            }
        }
    }

    fn logs(&mut self, node: &N) {
        let Some(e) = self.map(node, "logs", Some(LOGS)) else { return };
        for (_, key, v) in &e.list {
            let name = format!("logs.{key}");
            match key.as_str() {
                "since" | "baseline" => self.duration(v, &name, Units::Secs),
                "baseline_max_bytes" => self.whole(v, &name, 1, u64::MAX.into(), "4194304"),
                "min_errors" => self.whole(v, &name, 1, u64::MAX.into(), "5"),
                "error_threshold" if matches!(v.value, Node::Null) => {}
                "error_threshold" => self.whole(v, &name, 0, u64::MAX.into(), "50"),
                "format" => self.one_of(v, &name, LogFormat::NAMES),
                "level_field" | "message_field" => self.field_name(v, &name),
                "error_levels" => self.levels(v),
                "spike_factor" => {
                    let f = match &v.value {
                        Node::Int(i) => Some(*i as f64),
                        Node::Float(f) => Some(*f),
                        _ => None,
                    };
                    if !f.is_some_and(|f| f.is_finite() && f > 1.0) {
                        let got = text(v).unwrap_or_else(|| shape(v).into());
                        self.problem(
                            at(v),
                            format!("`{name}` must be a number greater than 1, like 3, not `{got}`"),
                            None,
                        );
                    }
                }
                _ => self.patterns(v),
            }
        }
    }

    /// A word from `names`, as written there.
    fn one_of(&mut self, v: &N, key: &str, names: &[&str]) {
        let value = text(v);
        if !value.as_ref().is_some_and(|t| names.contains(&t.as_str())) {
            let owned: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            let near = value.as_deref().and_then(|t| did_you_mean(t, &owned));
            let hint = near.map(|n| format!("did you mean {n}?"));
            self.problem(at(v), format!("`{key}` must be one of {}, not {}", names.join(", "), got(v)), hint);
        }
    }

    /// A field name of a JSON or logfmt line (null: the usual fields).
    fn field_name(&mut self, v: &N, key: &str) {
        match &v.value {
            Node::Null => {}
            Node::Str(s) if !s.trim().is_empty() && s.trim() == s => {}
            _ => self.problem(
                at(v),
                format!("`{key}` must be the name of a field of the log lines, like `severity`, not {}", got(v)),
                Some("leave it out to try the usual fields (level, lvl, severity, msg, message, …)".into()),
            ),
        }
    }

    fn levels(&mut self, v: &N) {
        let key = "logs.error_levels";
        let names = LevelName::NAMES.join(", ");
        let Node::Seq(items) = &v.value else {
            self.problem(
                at(v),
                format!("`{key}` must be a list of levels, like [error, fatal], not {}", got(v)),
                Some(format!("the levels are: {names}")),
            );
            return;
        };
        if items.is_empty() {
            self.problem(at(v), format!("`{key}` is empty; name at least one level, like [error, fatal]"), None);
        }
        for item in items {
            if text(item).is_none_or(|t| LevelName::parse(&t).is_none()) {
                self.problem(at(item), format!("each of `{key}` must be one of {names}, not {}", got(item)), None);
            }
        }
    }

    fn patterns(&mut self, v: &N) {
        let Node::Seq(items) = &v.value else {
            self.problem(
                at(v),
                format!("`logs.error_patterns` must be a list of regular expressions, not {}", shape(v)),
                Some("write each pattern on its own line as `- 'ERROR'`".into()),
            );
            return;
        };
        for item in items {
            let Some(p) = text(item) else {
                self.problem(at(item), "each of `logs.error_patterns` must be a regular expression".into(), None);
                continue;
            };
            if let Err(e) = regex::RegexBuilder::new(&p).size_limit(1 << 20).build() {
                // The regex crate draws the pattern with a caret; its last
                // line says what is wrong.
                let full = e.to_string();
                let what = full.lines().last().unwrap_or_default().trim();
                let what = what.strip_prefix("error: ").unwrap_or(what);
                // Double quotes turn `\b` into a control character: the
                // hint is for a pattern with backslashes or such characters.
                let quoting = p.contains('\\') || p.chars().any(char::is_control);
                self.problem(
                    at(item),
                    format!("`{p}` is not a valid regular expression: {}", one_line(what)),
                    quoting.then(|| "quote patterns with single quotes so that backslashes stay as written".into()),
                );
            }
        }
    }

    /// Every environment checked; each one's name and `telemetry` block.
    fn environments(&mut self, node: &N) -> Vec<(String, Option<telemetry::Block>)> {
        let mut out = vec![];
        let Some(e) = self.map(node, "environments", None) else { return out };
        if e.list.is_empty() {
            self.problem(at(node), "`environments` is empty; define at least one environment".into(), None);
        }
        for (k, env, v) in &e.list {
            if ENV.contains(&env.as_str()) {
                self.problem(
                    at(k),
                    format!("`{env}` is read as an environment name here"),
                    Some(format!(
                        "indentation may be the cause: `{env}:` belongs inside an environment such as `prod:`, indented as deep as its `healthz_url:`"
                    )),
                );
                continue;
            }
            out.push((env.clone(), self.environment(k, env, v)));
        }
        out
    }

    fn environment(&mut self, k: &N, env: &str, v: &N) -> Option<telemetry::Block> {
        let name = format!("environments.{env}");
        let e = self.map(v, &name, Some(ENV))?;
        let indent = format!(
            "indentation may be the cause: it must be indented under `{env}:`, as deep as the environment's other keys"
        );
        for key in ["healthz_url", "regions"] {
            if e.missing(key) {
                self.problem(at(k), format!("environment `{env}` has no `{key}`"), Some(indent.clone()));
            }
        }
        if let Some(u) = e.get("healthz_url") {
            self.url(u, &format!("{name}.healthz_url"));
        }
        if let Some(r) = e.get("regions") {
            self.regions(r, env);
        }
        if let Some(p) = e.get("peers") {
            self.peers(p, env);
        }
        let t = e.list.iter().find(|(_, key, v)| key == "telemetry" && !matches!(v.value, Node::Null))?;
        Some(self.telemetry(at(t.0), t.2, &format!("{name}.telemetry")))
    }

    fn regions(&mut self, node: &N, env: &str) {
        let name = format!("environments.{env}.regions");
        let Some(e) = self.map(node, &name, None) else { return };
        if e.list.is_empty() {
            self.problem(
                at(node),
                format!("environment `{env}` has no regions; list at least one"),
                Some("each region goes on its own line, indented under `regions:`, like `us-south: { context: CONTEXT }`".into()),
            );
        }
        for (_, region, v) in &e.list {
            let rname = format!("{name}.{region}");
            if !matches!(v.value, Node::Map(_)) {
                self.problem(
                    at(v),
                    format!(
                        "region `{region}` of `{env}` must be a mapping like `{{ context: CONTEXT }}`, but it is {}",
                        shape(v)
                    ),
                    None,
                );
                continue;
            }
            let Some(re) = self.map(v, &rname, Some(REGION)) else { continue };
            // Optional: without one, the kubeconfig's current context, as
            // kubectl; `runbook show` writes an absent one as null.
            if let Some(c) = re.get("context").filter(|c| !matches!(c.value, Node::Null)) {
                self.text_value(c, &format!("{rname}.context"), true);
            }
            // Optional: `runbook show` writes an absent one as null.
            if let Some(u) = re.get("healthz_url").filter(|u| !matches!(u.value, Node::Null)) {
                self.url(u, &format!("{rname}.healthz_url"));
            }
            if let Some(t) = re.get("telemetry") {
                self.text_value(t, &format!("{rname}.telemetry"), true);
            }
        }
    }

    fn peers(&mut self, node: &N, env: &str) {
        let name = format!("environments.{env}.peers");
        let items = match &node.value {
            Node::Seq(items) => items,
            Node::Null => return,
            _ => {
                self.problem(
                    at(node),
                    format!("`{name}` must be a list, not {}", shape(node)),
                    Some("write each peer as `- { name: iam-api, healthz_url: URL }`".into()),
                );
                return;
            }
        };
        for (i, item) in items.iter().enumerate() {
            let pname = format!("{name}[{i}]");
            let Some(e) = self.map(item, &pname, Some(PEER)) else { continue };
            if let Some(n) = self.required(&e, "name", at(item), &format!("`{pname}`")) {
                self.text_value(n, &format!("{pname}.name"), true);
            }
            if let Some(u) = self.required(&e, "healthz_url", at(item), &format!("`{pname}`")) {
                self.url(u, &format!("{pname}.healthz_url"));
            }
        }
    }

    fn guidance(&mut self, node: &N) {
        let Some(e) = self.map(node, "guidance", Some(GUIDANCE)) else { return };
        for (_, key, v) in &e.list {
            if key == "logs" {
                let Some(logs) = self.map(v, "guidance.logs", None) else { continue };
                for (_, region, link) in &logs.list {
                    self.text_value(link, &format!("guidance.logs.{region}"), false);
                }
            } else {
                self.text_value(v, &format!("guidance.{key}"), false);
            }
        }
    }
}
