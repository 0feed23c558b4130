//! The runbook's YAML as a tree of plain nodes, each with its place in the
//! file (line and column): the one parse of a runbook's text. The lenient
//! checks read the tree, and the typed runbook is built from it.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::{RunbookError, one_line, saphyr_message};

/// A YAML value without a schema.
#[derive(Debug)]
pub(super) enum Node {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Node, E> {
        Ok(i128::try_from(v).map_or(Node::Float(v as f64), Node::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
        let mut v = vec![];
        while let Some(item) = a.next_element::<Spanned<Node>>()? {
            v.push(item);
        }
        Ok(Node::Seq(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Node, A::Error> {
        let mut v = vec![];
        while let Some(k) = a.next_key::<Spanned<Node>>()? {
            v.push((k, a.next_value::<Spanned<Node>>()?));
        }
        Ok(Node::Map(v))
    }
}

pub(super) type N = Spanned<Node>;

pub(super) fn at(n: &N) -> (u64, u64) {
    (n.referenced.line(), n.referenced.column())
}

/// A scalar as the text it was written as (near enough for messages).
pub(super) fn text(n: &N) -> Option<String> {
    match &n.value {
        Node::Str(s) => Some(s.clone()),
        Node::Int(i) => Some(i.to_string()),
        Node::Float(f) => Some(f.to_string()),
        Node::Bool(b) => Some(b.to_string()),
        Node::Null | Node::Seq(_) | Node::Map(_) => None,
    }
}

pub(super) fn shape(n: &N) -> &'static str {
    match &n.value {
        Node::Null => "empty",
        Node::Seq(_) => "a list",
        Node::Map(_) => "a mapping",
        _ => "a single value",
    }
}

/// Reads the runbook text into a tree of nodes: the one parse of the text.
/// A YAML syntax error is the one problem then.
pub(super) fn read(path: &str, text: &str) -> Result<N, RunbookError> {
    count_parse();
    // Duplicates reach the visitor so that each is reported with its place;
    // `.nan` and `.inf` stay text so that a number check can name them.
    let options = serde_saphyr::options! {
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::PassThrough,
        non_finite_float_policy: serde_saphyr::options::NonFiniteFloatPolicy::AsString,
    };
    serde_saphyr::from_str_with_options(text, options)
        .map_err(|e| RunbookError::at(path, e.location(), syntax_message(&e)))
}

/// A YAML syntax error in plain words.
fn syntax_message(e: &serde_saphyr::Error) -> String {
    let m = saphyr_message(e);
    if m.is_empty() { "this is not valid YAML here".into() } else { format!("not valid YAML: {}", one_line(&m)) }
}

#[cfg(test)]
thread_local! {
    /// How many times this thread parsed runbook text (see [`count_parse`]).
    pub(super) static PARSES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Counts a parse of runbook text, for the tests that check a runbook is
/// parsed once.
pub(super) fn count_parse() {
    #[cfg(test)]
    PARSES.with(|p| p.set(p.get() + 1));
}
