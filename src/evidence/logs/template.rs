//! Online template mining: lines that are instances of one message template
//! ("connection to <*> refused after <*>") get one [`TemplateId`], learnt as
//! the lines come, with no per-system setting. This module owns the masking
//! of the shapes that are always variable and the Drain-style prefix tree
//! (He et al., ICWS 2017) that finds a line's template.
//!
//! How a line is placed: its tokens (split on whitespace) are masked one by
//! one (a part of a token holding a digit, a UUID, an address, a hex id,
//! base64, an email becomes `<*>`); the tree is keyed by the token count and
//! then by the first few tokens that hold no variable part, so templates
//! that start with a variable (an IP, an instance id) are still told apart by
//! their words; in the leaf, the template sharing most tokens, position by
//! position, takes the line when it shares enough of them, and the positions
//! that differ become `<*>`. Memory is bounded: at most
//! [`MinerConfig::max_templates`] templates, further new shapes are counted
//! as [`TemplateId::OTHER`].

use std::collections::HashMap;

/// What a variable part of a template is shown as.
pub const WILDCARD: &str = "<*>";

/// The miner's settings: one set for every system (the defaults are the
/// ones measured in BENCHMARKS.md).
#[derive(Debug, Clone)]
pub struct MinerConfig {
    /// Tokens without a variable part that key the tree below the token count.
    pub prefix_tokens: usize,
    /// Share of equal tokens from which a line joins a template.
    pub similarity: f64,
    /// Children a tree node may have; lines past that go to a shared child.
    pub max_children: usize,
    /// Templates kept; new shapes past that are counted as other.
    pub max_templates: usize,
    /// Tokens of a line considered; the rest of a longer line is one token.
    pub max_tokens: usize,
}

impl Default for MinerConfig {
    fn default() -> Self {
        MinerConfig { prefix_tokens: 3, similarity: 0.5, max_children: 100, max_templates: 500, max_tokens: 64 }
    }
}

/// A template's number in its miner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TemplateId(pub u32);

impl TemplateId {
    /// Lines whose template could not be kept (the cap was reached).
    pub const OTHER: TemplateId = TemplateId(u32::MAX);
}

/// One learnt template: its tokens (`None` where it varies) and how many
/// lines it took.
#[derive(Debug, Clone)]
struct Template {
    tokens: Vec<Option<Box<str>>>,
    count: u64,
}

/// A node of the prefix tree: children by constant token, a shared child for
/// lines that have fewer constant tokens or when the node is full, and at a
/// leaf the templates it holds.
#[derive(Debug, Default)]
struct Node {
    children: HashMap<Box<str>, Node>,
    rest: Option<Box<Node>>,
    templates: Vec<u32>,
}

/// The online template miner.
#[derive(Debug, Default)]
pub struct Miner {
    cfg: MinerConfig,
    roots: HashMap<usize, Node>,
    templates: Vec<Template>,
    other: u64,
    /// The current line's masked tokens, reused from line to line so that
    /// placing a line allocates nothing once its template is known.
    scratch: Tokens,
}

/// Masked tokens in one buffer: `text[ends[i-1]..ends[i]]` is token `i`.
#[derive(Debug, Default)]
struct Tokens {
    text: String,
    ends: Vec<usize>,
}

impl Tokens {
    fn fill(&mut self, line: &str, max: usize) {
        self.text.clear();
        self.ends.clear();
        let mut words = line.split_whitespace();
        for w in words.by_ref() {
            mask_token_into(w, &mut self.text);
            self.ends.push(self.text.len());
            if self.ends.len() + 1 >= max {
                break;
            }
        }
        if words.next().is_some() {
            self.text.push_str(WILDCARD);
            self.ends.push(self.text.len());
        }
    }

    fn iter(&self) -> impl Iterator<Item = &str> + Clone {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(self.ends.iter().copied()).map(|(a, b)| &self.text[a..b])
    }

    fn len(&self) -> usize {
        self.ends.len()
    }
}

impl Miner {
    pub fn new(cfg: MinerConfig) -> Miner {
        Miner { cfg, ..Miner::default() }
    }

    /// Places `line` in its template, learning or widening one as needed.
    pub fn add(&mut self, line: &str) -> TemplateId {
        let Miner { cfg, roots, templates, other, scratch } = self;
        scratch.fill(line, cfg.max_tokens);
        let tokens = &*scratch;
        let mut node = roots.entry(tokens.len()).or_default();
        for key in tokens.iter().filter(|t| is_key(t)).take(cfg.prefix_tokens) {
            if !node.children.contains_key(key) {
                let full = node.children.len() >= cfg.max_children;
                node = if full {
                    node.rest.get_or_insert_with(Box::default)
                } else {
                    node.children.entry(key.into()).or_default()
                };
                continue;
            }
            node = node.children.get_mut(key).expect("present");
        }
        if let Some(i) = best_match(templates, &node.templates, tokens, cfg.similarity) {
            let t = &mut templates[i as usize];
            t.count += 1;
            for (slot, tok) in t.tokens.iter_mut().zip(tokens.iter()) {
                if slot.as_deref().is_some_and(|s| s != tok) {
                    *slot = None;
                }
            }
            return TemplateId(i);
        }
        if templates.len() >= cfg.max_templates {
            *other += 1;
            return TemplateId::OTHER;
        }
        let id = templates.len() as u32;
        let tokens = tokens.iter().map(|t| if t == WILDCARD { None } else { Some(t.into()) }).collect();
        templates.push(Template { tokens, count: 1 });
        node.templates.push(id);
        TemplateId(id)
    }

    /// The template as text, variable parts as `<*>`; `(other messages)` for
    /// [`TemplateId::OTHER`].
    pub fn template(&self, id: TemplateId) -> String {
        let Some(t) = self.templates.get(id.0 as usize) else {
            return "(other messages)".into();
        };
        let words: Vec<&str> = t.tokens.iter().map(|t| t.as_deref().unwrap_or(WILDCARD)).collect();
        words.join(" ")
    }

    /// Lines a template took (for [`TemplateId::OTHER`], the lines past the cap).
    pub fn count(&self, id: TemplateId) -> u64 {
        match self.templates.get(id.0 as usize) {
            Some(t) => t.count,
            None if id == TemplateId::OTHER => self.other,
            None => 0,
        }
    }

    /// Templates learnt so far.
    pub fn len(&self) -> usize {
        self.templates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }
}

/// Whether a masked token may key the tree: a word; not a path or URL, a
/// host or file name (they vary without digits: `/latest/meta-data/`,
/// `chrome.exe`) nor anything with a variable part. Such tokens still count
/// in the similarity.
fn is_key(token: &str) -> bool {
    let inner = token.trim_end_matches(|c: char| !c.is_alphanumeric());
    !token.contains(WILDCARD) && !token.contains('/') && !inner.contains('.')
}

/// The template of `candidates` most like `tokens`, if like enough: the share
/// of positions where the template has the same constant token. Ties go to
/// the template with more variable positions (the more general one).
fn best_match(all: &[Template], candidates: &[u32], tokens: &Tokens, threshold: f64) -> Option<u32> {
    let mut best: Option<(f64, usize, u32)> = None;
    for &i in candidates {
        let t = &all[i as usize];
        let (mut same, mut wild) = (0usize, 0usize);
        for (slot, tok) in t.tokens.iter().zip(tokens.iter()) {
            match slot.as_deref() {
                None => wild += 1,
                Some(s) if s == tok => same += 1,
                Some(_) => {}
            }
        }
        let sim = if tokens.len() == 0 { 1.0 } else { same as f64 / tokens.len() as f64 };
        if best.is_none_or(|(bs, bw, _)| sim > bs || (sim == bs && wild > bw)) {
            best = Some((sim, wild, i));
        }
    }
    best.filter(|(sim, _, _)| *sim >= threshold).map(|(_, _, i)| i)
}

/// The line's tokens with their variable parts masked; past `max` tokens the
/// rest of the line is one more token.
pub fn masked_tokens(line: &str, max: usize) -> Vec<String> {
    let mut t = Tokens::default();
    t.fill(line, max);
    t.iter().map(str::to_string).collect()
}

/// Characters that separate the parts of a token; `-`, `_` and `.` do not,
/// so a UUID, a dotted address or `blk_-42` is one part.
fn is_separator(c: char) -> bool {
    matches!(
        c,
        '/' | ':'
            | '='
            | ','
            | ';'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '"'
            | '\''
            | '<'
            | '>'
            | '|'
            | '&'
            | '?'
            | '#'
    )
}

/// A token with each variable part as `<*>`: an email address, or an
/// address, UUID, time or MAC (hex digits joined by `.`, `:` or `-`) as a
/// whole (so `10.0.0.1:8080` and `fe80::1` are `<*>`); else each part
/// between separators that holds a digit, or is a long run of hex or base64
/// (ids, hashes, tokens).
pub fn mask_token(token: &str) -> String {
    let mut out = String::with_capacity(token.len());
    mask_token_into(token, &mut out);
    out
}

/// [`mask_token`], appended to `out`.
fn mask_token_into(token: &str, out: &mut String) {
    let start = out.len();
    let core_start = token.find(|c: char| c.is_ascii_alphanumeric()).unwrap_or(token.len());
    let core_end = token.rfind(|c: char| c.is_ascii_alphanumeric()).map_or(core_start, |i| i + 1).max(core_start);
    let core = &token[core_start..core_end];
    if is_email(core) || is_address(core) {
        out.push_str(&token[..core_start]);
        out.push_str(WILDCARD);
        out.push_str(&token[core_end..]);
        return;
    }
    let mut rest = token;
    while !rest.is_empty() {
        let end = rest.find(is_separator).unwrap_or(rest.len());
        let (part, tail) = rest.split_at(end);
        out.push_str(if is_variable(part) { WILDCARD } else { part });
        let Some(sep) = tail.chars().next() else { break };
        out.push(sep);
        rest = &tail[sep.len_utf8()..];
    }
    // A host and its port, or the parts of an IPv6 address, are one value.
    for joined in ["<*>::<*>", "<*>:<*>"] {
        while let Some(i) = out[start..].find(joined) {
            out.replace_range(start + i..start + i + joined.len(), WILDCARD);
        }
    }
}

/// Hex digits joined by `.`, `:` or `-`, with a digit and a joiner: IPv4
/// and IPv6 addresses with or without a port, UUIDs, MACs, times, dates.
fn is_address(core: &str) -> bool {
    let b = core.as_bytes();
    b.iter().any(u8::is_ascii_digit)
        && b.iter().any(|c| matches!(c, b'.' | b':' | b'-'))
        && b.iter().all(|c| c.is_ascii_hexdigit() || matches!(c, b'.' | b':' | b'-'))
}

fn is_variable(part: &str) -> bool {
    let core = part.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if core.is_empty() {
        return false;
    }
    if core.bytes().any(|b| b.is_ascii_digit()) {
        return true;
    }
    let hex = core.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    let base64 = core.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'_'));
    (hex && core.len() >= 16) || (base64 && core.len() >= 32 && has_mixed_case(core))
}

fn has_mixed_case(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_lowercase()) && s.bytes().any(|b| b.is_ascii_uppercase())
}

fn is_email(core: &str) -> bool {
    match core.split_once('@') {
        Some((user, host)) => !user.is_empty() && host.contains('.') && !host.starts_with('.'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_shapes_that_always_vary() {
        let cases = [
            ("b9000564-fe1a-409b-b8cc-1e88b294cd1d", "<*>"),
            ("10.251.73.220:50010", "<*>"),
            ("[fe80::1]:8443", "[<*>]:<*>"),
            ("db-7.internal:5432", "<*>"),
            ("0x7f3a", "<*>"),
            ("a489c868f0c37da93b76227c91bb03908ac0e742", "<*>"),
            ("deadbeefcafebabe", "<*>"),
            ("12ms", "<*>"),
            ("3.5s", "<*>"),
            ("10KB", "<*>"),
            ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "<*>"),
            ("ops@acme.example", "<*>"),
            ("(HWID=1973)", "(HWID=<*>)"),
            ("/var/lib/nova/instances/b9000564-fe1a-409b-b8cc-1e88b294cd1d_del", "/var/lib/nova/instances/<*>"),
            ("terminating", "terminating"),
            ("refused", "refused"),
        ];
        for (token, want) in cases {
            assert_eq!(mask_token(token), want, "{token}");
        }
    }

    #[test]
    fn lines_of_one_template_share_it_and_differences_become_wildcards() {
        let mut m = Miner::new(MinerConfig::default());
        let a = m.add("connection to db-7.internal:5432 refused after 3000ms");
        let b = m.add("connection to db-9.internal:5432 refused after 12ms");
        let c = m.add("key kid-3 not found in cache");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(m.template(a), "connection to <*> refused after <*>");
        assert_eq!(m.count(a), 2);
        // Two templates that start with a variable are told apart by their words.
        let p = m.add("[instance: b9000564-fe1a-409b-b8cc-1e88b294cd1d] VM Paused (Lifecycle Event)");
        let s = m.add("[instance: 96abccce-8d1f-4e07-b6d1-4b2ab87e23b4] VM Started (Lifecycle Event)");
        assert_ne!(p, s);
    }

    #[test]
    fn a_word_that_varies_is_learnt_as_a_wildcard() {
        let mut m = Miner::new(MinerConfig::default());
        let a = m.add("session opened for user root by uid");
        let b = m.add("session opened for user admin by uid");
        assert_eq!(a, b);
        assert_eq!(m.template(a), "session opened for user <*> by uid");
    }

    #[test]
    fn templates_are_capped_and_the_rest_counted() {
        let mut m = Miner::new(MinerConfig { max_templates: 2, ..MinerConfig::default() });
        m.add("alpha beta gamma");
        m.add("one two");
        let other = m.add("x");
        assert_eq!(other, TemplateId::OTHER);
        assert_eq!((m.len(), m.count(TemplateId::OTHER)), (2, 1));
        assert_eq!(m.template(other), "(other messages)");
    }

    #[test]
    fn long_lines_are_cut_to_max_tokens() {
        let toks = masked_tokens("a b c d e f", 4);
        assert_eq!(toks, ["a", "b", "c", "<*>"]);
    }
}
