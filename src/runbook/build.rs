//! The typed runbook built from the tree of nodes that the lenient checks
//! passed, so that the text is parsed once. Each value goes through its own
//! serde type (a duration, a pattern, a count), so it means what it means in
//! the schema. A tree this cannot build for certain (a number where text is
//! expected, a null, a form it does not know) gives `None`, and the caller
//! leaves the file to the strict serde pass, whose word is final.

use indexmap::IndexMap;
use serde::de::value::Error as ValueError;
use serde::de::{DeserializeOwned, Deserializer, Visitor};
use serde_saphyr::Spanned;

use super::lint::{ENV, GUIDANCE, HEALTHZ, LOGS, PEER, REGION, TELEMETRY, TOP};
use super::node::{N, Node, at};
use super::schema::{
    Environment, Guidance, HealthzSpec, KeyLines, LogsSpec, PeerSpec, RegionSpec, Runbook, TelemetryKeys,
    default_expected_ready, default_not_ready_grace, whole_seconds,
};

/// The typed runbook of `root`, or `None` when it cannot be built for certain.
pub(super) fn runbook(root: &N) -> Option<Runbook> {
    let e = entries(root, Some(TOP))?;
    let get = |key: &str| e.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    Some(Runbook {
        runbook: get("runbook").map_or(Some(None), optional)?,
        service: leaf(get("service")?)?,
        namespace: leaf(get("namespace")?)?,
        selector: leaf(get("selector")?)?,
        container: leaf(get("container")?)?,
        expected_ready: get("expected_ready").map_or_else(|| Some(default_expected_ready()), leaf)?,
        not_ready_grace: get("not_ready_grace").map_or_else(|| Some(default_not_ready_grace()), leaf)?,
        healthz: get("healthz").map_or_else(|| Some(HealthzSpec::default()), healthz)?,
        logs: get("logs").map_or_else(|| Some(LogsSpec::default()), logs)?,
        environments: spanned(get("environments")?, |n| named(n, environment))?,
        guidance: get("guidance").map_or_else(|| Some(Guidance::default()), guidance)?,
        telemetry: get("telemetry").map_or(Some(None), telemetry)?,
        lines: KeyLines::default(),
    })
    .map(|rb| placed(rb, root))
}

/// `rb` with where its keys are written in `root`: what serde does not keep.
pub(super) fn placed(rb: Runbook, root: &N) -> Runbook {
    let guidance = Guidance { places: guidance_places(root), ..rb.guidance };
    Runbook { lines: key_lines(root), guidance, ..rb }
}

/// Where each `guidance` link is written (see [`Guidance::places`]).
fn guidance_places(root: &N) -> IndexMap<String, (u64, u64)> {
    let mut out = IndexMap::new();
    let Some(g) = entries(root, None).and_then(|e| e.into_iter().find(|(k, _)| *k == "guidance")) else { return out };
    for (key, v) in entries(g.1, None).unwrap_or_default() {
        if key == "logs" {
            for (region, link) in entries(v, None).unwrap_or_default() {
                out.insert(format!("logs.{region}"), at(link));
            }
        } else {
            // The older name of `platform` is placed as `platform`.
            let key = if key == "technical_foundation" { "platform" } else { key };
            out.insert(key.to_string(), at(v));
        }
    }
    out
}

/// Where the keys of [`KeyLines`] are written (0: not known).
fn key_lines(root: &N) -> KeyLines {
    let Some(e) = entries(root, None) else { return KeyLines::default() };
    let line = |key: &str| e.iter().find(|(k, _)| *k == key).map_or(0, |(_, v)| v.referenced.line());
    KeyLines { namespace: line("namespace"), selector: line("selector"), container: line("container") }
}

/// A mapping's entries in file order, when every key is text, given once and
/// among `known` (any key when `None`).
fn entries<'n>(n: &'n N, known: Option<&[&str]>) -> Option<Vec<(&'n str, &'n N)>> {
    let Node::Map(pairs) = &n.value else { return None };
    let mut out: Vec<(&str, &N)> = Vec::with_capacity(pairs.len());
    for (k, v) in pairs {
        let Node::Str(key) = &k.value else { return None };
        let unknown = known.is_some_and(|known| !known.contains(&key.as_str()));
        if unknown || out.iter().any(|(seen, _)| seen == key) {
            return None;
        }
        out.push((key.as_str(), v));
    }
    Some(out)
}

/// A scalar read by `T`'s own deserializer.
fn leaf<T: DeserializeOwned>(n: &N) -> Option<T> {
    with(n, T::deserialize)
}

/// A scalar read by a deserializing function (`whole_seconds`, `T::deserialize`).
fn with<'n, T>(n: &'n N, read: impl FnOnce(Scalar<'n>) -> Result<T, ValueError>) -> Option<T> {
    let scalar = match &n.value {
        Node::Str(s) => Scalar::Str(s),
        Node::Int(i) => match u64::try_from(*i) {
            Ok(u) => Scalar::U64(u),
            Err(_) => Scalar::I64(i64::try_from(*i).ok()?),
        },
        Node::Float(f) => Scalar::F64(*f),
        Node::Null | Node::Bool(_) | Node::Seq(_) | Node::Map(_) => return None,
    };
    read(scalar).ok()
}

/// `None` for a null, else the value.
fn optional<T: DeserializeOwned>(n: &N) -> Option<Option<T>> {
    if matches!(n.value, Node::Null) { Some(None) } else { leaf(n).map(Some) }
}

fn spanned<T>(n: &N, build: impl FnOnce(&N) -> Option<T>) -> Option<Spanned<T>> {
    Some(Spanned::new(build(n)?, n.referenced, n.defined))
}

/// A mapping of free names (environments, regions) to what `build` makes of each.
fn named<T>(n: &N, build: fn(&N) -> Option<T>) -> Option<IndexMap<String, T>> {
    entries(n, None)?.into_iter().map(|(k, v)| Some((k.to_string(), build(v)?))).collect()
}

fn list<T>(n: &N, build: impl Fn(&N) -> Option<T>) -> Option<Vec<T>> {
    let Node::Seq(items) = &n.value else { return None };
    items.iter().map(build).collect()
}

fn healthz(n: &N) -> Option<HealthzSpec> {
    let mut h = HealthzSpec::default();
    for (key, v) in entries(n, Some(HEALTHZ))? {
        match key {
            "status" => h.status = leaf(v)?,
            "code" => h.code = leaf(v)?,
            "description" => h.description = leaf(v)?,
            "timeout" => h.timeout = leaf(v)?,
            _ => h.max_body_bytes = leaf(v)?,
        }
    }
    Some(h)
}

fn logs(n: &N) -> Option<LogsSpec> {
    let mut l = LogsSpec::default();
    for (key, v) in entries(n, Some(LOGS))? {
        match key {
            "since" => l.since = with(v, whole_seconds)?,
            "baseline" => l.baseline = with(v, whole_seconds)?,
            "baseline_max_bytes" => l.baseline_max_bytes = leaf(v)?,
            "min_errors" => l.min_errors = leaf(v)?,
            "spike_factor" => l.spike_factor = leaf(v)?,
            "error_patterns" => l.error_patterns = list(v, leaf)?,
            "format" => l.format = leaf(v)?,
            "level_field" => l.level_field = optional(v)?,
            "message_field" => l.message_field = optional(v)?,
            "error_levels" => l.error_levels = list(v, leaf)?,
            _ => l.error_threshold = optional(v)?,
        }
    }
    Some(l)
}

fn environment(n: &N) -> Option<Environment> {
    let e = entries(n, Some(ENV))?;
    let get = |key: &str| e.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    Some(Environment {
        healthz_url: spanned(get("healthz_url")?, leaf)?,
        regions: spanned(get("regions")?, |r| named(r, region))?,
        peers: get("peers").map_or_else(|| Some(vec![]), |p| list(p, peer))?,
        telemetry: get("telemetry").map_or(Some(None), telemetry)?,
    })
}

fn region(n: &N) -> Option<RegionSpec> {
    let e = entries(n, Some(REGION))?;
    let get = |key: &str| e.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let healthz_url = match get("healthz_url") {
        None => None,
        Some(u) if matches!(u.value, Node::Null) => None,
        Some(u) => Some(spanned(u, leaf)?),
    };
    let context = match get("context") {
        None => None,
        Some(c) if matches!(c.value, Node::Null) => None,
        Some(c) => Some(spanned(c, leaf)?),
    };
    let telemetry = get("telemetry").map_or(Some(None), optional)?;
    Some(RegionSpec { context, healthz_url, telemetry })
}

fn peer(n: &N) -> Option<PeerSpec> {
    let e = entries(n, Some(PEER))?;
    let get = |key: &str| e.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    Some(PeerSpec { name: leaf(get("name")?)?, healthz_url: spanned(get("healthz_url")?, leaf)? })
}

fn guidance(n: &N) -> Option<Guidance> {
    let mut g = Guidance::default();
    for (key, v) in entries(n, Some(GUIDANCE))? {
        match key {
            "impact" => g.impact = optional(v)?,
            "dashboard" => g.dashboard = optional(v)?,
            "other_apis" => g.other_apis = optional(v)?,
            "platform" | "technical_foundation" => g.platform = optional(v)?,
            "metrics" => g.metrics = optional(v)?,
            _ => g.logs = named(v, leaf)?,
        }
    }
    Some(g)
}

/// A `telemetry` block (null: none).
fn telemetry(n: &N) -> Option<Option<TelemetryKeys>> {
    if matches!(n.value, Node::Null) {
        return Some(None);
    }
    let mut t = TelemetryKeys::default();
    for (key, v) in entries(n, Some(TELEMETRY))? {
        match key {
            "provider" => t.provider = optional(v)?,
            "since" => t.since = Some(with(v, whole_seconds)?),
            "query" => t.query = optional(v)?,
            "label" => t.label = optional(v)?,
            "account_id" => t.account_id = optional(v)?,
            "region" => t.region = optional(v)?,
            "api_key_env" => t.api_key_env = optional(v)?,
            "token_env" => t.token_env = optional(v)?,
            _ => t.url = Some(spanned(v, leaf)?),
        }
    }
    Some(Some(t))
}

/// One scalar as a serde deserializer.
enum Scalar<'a> {
    Str(&'a str),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl<'de> Deserializer<'de> for Scalar<'_> {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Scalar::Str(s) => visitor.visit_str(s),
            Scalar::U64(n) => visitor.visit_u64(n),
            Scalar::I64(n) => visitor.visit_i64(n),
            Scalar::F64(f) => visitor.visit_f64(f),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}
