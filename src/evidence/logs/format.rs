//! Each log line read for what it is, without configuration: its format
//! (JSON, logfmt, klog, or text), its level, message, error and stack. This
//! module owns the level conventions of the common loggers (zap, logrus,
//! slog, bunyan, pino, Serilog, log4j, logback, JUL, Python logging, Rails,
//! klog/glog, logcat, Apache and nginx) and the rule that a line's own level
//! decides whether it is an error: an `info` line whose message says "error"
//! is not one. Lines with no level are judged by the runbook's error
//! patterns, as before. Lines reach [`Reader::read`] without the kubelet's
//! timestamp (`logs::split_timestamp` cuts it first); one that still has an
//! RFC 3339 time in front is read past it all the same.

use regex::RegexSet;
use serde_json::{Map, Value};

/// How a line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Json,
    Logfmt,
    Klog,
    Text,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Logfmt => "logfmt",
            Format::Klog => "klog",
            Format::Text => "text",
        }
    }

    /// The runbook's spelling (`json`, `logfmt`, `klog`, `text`).
    pub fn parse(name: &str) -> Option<Format> {
        match name.to_ascii_lowercase().as_str() {
            "json" => Some(Format::Json),
            "logfmt" => Some(Format::Logfmt),
            "klog" | "glog" => Some(Format::Klog),
            "text" => Some(Format::Text),
            _ => None,
        }
    }
}

/// A line's severity, the loggers' many names folded into one scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
    /// The line states no level (plain text, or JSON without a level field).
    Unknown,
}

impl Level {
    /// A level name in any case, long or short (`error`, `ERR`, `eror`, `E`,
    /// `SEVERE`, `crit`, `warning`, `W` …); `None` when it names no level.
    pub fn parse(name: &str) -> Option<Level> {
        // Lower-cased on the stack: this runs on every structured line.
        let name = name.trim().as_bytes();
        let mut buf = [0u8; 16];
        let lower = buf.get_mut(..name.len())?;
        for (d, s) in lower.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        Some(match &*lower {
            b"trace" | b"trc" | b"finest" | b"finer" | b"t" | b"verbose" | b"v" => Level::Trace,
            b"debug" | b"dbg" | b"debu" | b"d" | b"fine" | b"config" => Level::Debug,
            b"info" | b"inf" | b"i" | b"information" | b"informational" | b"notice" | b"note" => Level::Info,
            b"warn" | b"warning" | b"wrn" | b"w" => Level::Warn,
            b"error" | b"err" | b"eror" | b"erro" | b"e" | b"severe" => Level::Error,
            b"fatal" | b"ftl" | b"f" | b"crit" | b"critical" | b"crt" | b"alert" | b"emerg" | b"emergency"
            | b"panic" | b"dpanic" => Level::Fatal,
            _ => return None,
        })
    }

    /// bunyan and pino numbers (10 trace … 50 error, 60 fatal).
    pub fn from_number(n: f64) -> Level {
        match n {
            n if n >= 60.0 => Level::Fatal,
            n if n >= 50.0 => Level::Error,
            n if n >= 40.0 => Level::Warn,
            n if n >= 30.0 => Level::Info,
            n if n >= 20.0 => Level::Debug,
            _ => Level::Trace,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
            Level::Unknown => "unknown",
        }
    }
}

/// What one line says.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub format: Format,
    pub level: Level,
    /// The message: the JSON or logfmt message field, else the text after
    /// the level (the whole line when there is none).
    pub message: String,
    /// The error a structured line carries apart from its message.
    pub error: Option<String>,
    /// A stack carried in a field of the line (multi-line stacks are
    /// joined by `entry`).
    pub stack: Option<String>,
}

/// The runbook's overrides of what is found by itself; the default finds
/// everything.
#[derive(Debug, Clone)]
pub struct Overrides {
    /// Read every line as this format (`logs.format`, `None` for `auto`).
    pub format: Option<Format>,
    /// The JSON or logfmt field with the level, tried before the usual ones.
    pub level_field: Option<String>,
    /// The JSON or logfmt field with the message, tried before the usual ones.
    pub message_field: Option<String>,
    /// Levels that make an error line.
    pub error_levels: Vec<Level>,
}

impl Default for Overrides {
    fn default() -> Self {
        Overrides {
            format: None,
            level_field: None,
            message_field: None,
            error_levels: vec![Level::Error, Level::Fatal],
        }
    }
}

/// Reads lines and says which are errors.
#[derive(Debug, Clone)]
pub struct Reader {
    overrides: Overrides,
    patterns: RegexSet,
}

const LEVEL_KEYS: &[&str] = &["level", "lvl", "severity", "log.level", "levelname", "@l", "loglevel", "level_name"];
const MESSAGE_KEYS: &[&str] = &["msg", "message", "@m", "@mt", "event"];
const ERROR_KEYS: &[&str] = &["error", "err", "exception", "error.message", "@x", "exc_info"];
const STACK_KEYS: &[&str] = &["stacktrace", "stack", "stack_trace", "exception.stacktrace", "error.stack"];
const LOGFMT_LEVEL_KEYS: &[&str] = &["level", "lvl", "severity", "loglevel"];
/// What a logfmt line with a level holds somewhere: lines without it are
/// not parsed as logfmt (most text lines).
const LOGFMT_LEVELS: &[&str] = &["level=", "lvl=", "severity=", "LEVEL=", "Level="];

impl Reader {
    /// `patterns` are the runbook's error patterns, for lines with no level.
    pub fn new(overrides: Overrides, patterns: RegexSet) -> Reader {
        Reader { overrides, patterns }
    }

    /// What `line` says.
    pub fn read(&self, line: &str) -> Entry {
        let line = strip_rfc3339(line.trim_end());
        match self.overrides.format {
            Some(Format::Json) => self.json(line).unwrap_or_else(|| text(line)),
            Some(Format::Logfmt) => self.logfmt(line, true).unwrap_or_else(|| text(line)),
            Some(Format::Klog) => klog(line).unwrap_or_else(|| text(line)),
            Some(Format::Text) => text(line),
            None => self
                .json(line)
                .or_else(|| self.logfmt(line, false))
                .or_else(|| klog(line))
                .unwrap_or_else(|| text(line)),
        }
    }

    /// Whether an entry is an error: its level when it has one, else the
    /// error patterns on the line.
    pub fn is_error(&self, entry: &Entry) -> bool {
        match entry.level {
            Level::Unknown => {
                self.patterns.is_match(&entry.message)
                    || entry.error.as_deref().is_some_and(|e| self.patterns.is_match(e))
            }
            level => self.overrides.error_levels.contains(&level),
        }
    }

    /// Reads and judges a line at once.
    pub fn classify(&self, line: &str) -> (Entry, bool) {
        let entry = self.read(line);
        let error = self.is_error(&entry);
        (entry, error)
    }

    /// The line's format and whether it is an error, without reading its
    /// message: the fast path every line takes. A structured line's level
    /// decides when the quick scan finds it; a text line's level header, or
    /// the error patterns when it has none. Anything the quick scan cannot
    /// settle (a JSON line without a top-level level, an escaped level) is
    /// read in full. Agrees with [`Reader::classify`], except on a malformed
    /// JSON object the quick scan still follows (a bare word as a value, a
    /// key twice), whose level is taken as written.
    pub fn judge(&self, line: &str) -> (Format, bool) {
        let trimmed = strip_rfc3339(line.trim_end());
        match self.quick(trimmed) {
            Some((format, Level::Unknown)) if format == Format::Text => (format, self.patterns.is_match(trimmed)),
            Some((format, level)) if level != Level::Unknown => (format, self.overrides.error_levels.contains(&level)),
            _ => {
                let (entry, error) = self.classify(line);
                (entry.format, error)
            }
        }
    }

    /// Format and level by a scan that allocates nothing; `None` (or an
    /// unknown level of a structured line) when the full read must decide.
    fn quick(&self, line: &str) -> Option<(Format, Level)> {
        let forced = self.overrides.format;
        let may = |f: Format| forced.is_none_or(|g| g == f);
        if may(Format::Json) && line.starts_with('{') && line.ends_with('}') {
            return self.quick_json(line).map(|l| (Format::Json, l));
        }
        if may(Format::Logfmt) {
            match self.quick_logfmt(line, forced.is_some()) {
                Some(level) => return Some((Format::Logfmt, level)),
                None if forced.is_some() => return None,
                None => {}
            }
        }
        if may(Format::Klog) {
            match klog_level(line) {
                Some(level) => return Some((Format::Klog, level)),
                None if forced.is_some() => return None,
                None => {}
            }
        }
        Some((Format::Text, text_level(line).map_or(Level::Unknown, |(l, _)| l)))
    }

    /// The level of a JSON object from its top-level fields.
    fn quick_json(&self, line: &str) -> Option<Level> {
        let preferred = self.overrides.level_field.as_deref();
        let keys = || preferred.into_iter().chain(LEVEL_KEYS.iter().copied());
        let mut best: Option<(usize, &str)> = None;
        json_pairs(line, |key, value| {
            if let Some(rank) = keys().position(|k| k.eq_ignore_ascii_case(key))
                && best.is_none_or(|(r, _)| rank < r)
            {
                best = Some((rank, value));
            }
        })?;
        let (_, raw) = best?;
        match raw.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(text) if !text.contains('\\') => Some(Level::parse(text).unwrap_or(Level::Unknown)),
            Some(_) => None,
            None => raw.parse::<f64>().ok().map(Level::from_number),
        }
    }

    /// The level of a logfmt line (`forced`: read as logfmt whatever it has).
    fn quick_logfmt(&self, line: &str, forced: bool) -> Option<Level> {
        let preferred = self.overrides.level_field.as_deref();
        if !forced && preferred.is_none() && !LOGFMT_LEVELS.iter().any(|k| line.contains(k)) {
            return None;
        }
        let keys = || preferred.into_iter().chain(LOGFMT_LEVEL_KEYS.iter().copied());
        let (mut pairs, mut best) = (0, None::<(usize, &str)>);
        for (key, value, _) in Pairs::new(line) {
            pairs += 1;
            if let Some(rank) = keys().position(|k| k.eq_ignore_ascii_case(key))
                && best.is_none_or(|(r, _)| rank < r)
            {
                best = Some((rank, value));
            }
        }
        match best {
            Some((_, value)) if forced || pairs >= 2 => Some(Level::parse(value).unwrap_or(Level::Unknown)),
            None if forced => Some(Level::Unknown),
            _ => None,
        }
    }

    fn json(&self, line: &str) -> Option<Entry> {
        if !(line.starts_with('{') && line.ends_with('}')) {
            return None;
        }
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line) else {
            return None;
        };
        let level =
            self.field(&obj, self.overrides.level_field.as_deref(), LEVEL_KEYS).map_or(Level::Unknown, level_of);
        let message = self.field(&obj, self.overrides.message_field.as_deref(), MESSAGE_KEYS).map(value_text);
        let error = self.field(&obj, None, ERROR_KEYS).map(error_text);
        let stack = self.field(&obj, None, STACK_KEYS).map(value_text);
        let message = message.unwrap_or_else(|| line.to_string());
        Some(Entry { format: Format::Json, level, message, error, stack })
    }

    /// The first of `preferred` then `keys` the object has: a key in any
    /// case, a dotted key (`"log.level"`) or a nested one (`{"log":{"level"}}`).
    fn field<'v>(&self, obj: &'v Map<String, Value>, preferred: Option<&str>, keys: &[&str]) -> Option<&'v Value> {
        preferred.into_iter().chain(keys.iter().copied()).find_map(|k| lookup(obj, k))
    }

    fn logfmt(&self, line: &str, forced: bool) -> Option<Entry> {
        // Most text lines have no level pair: skip parsing them (throughput).
        let maybe = LOGFMT_LEVELS.iter().any(|k| line.contains(k));
        if !forced && !maybe && self.overrides.level_field.is_none() {
            return None;
        }
        let pairs = logfmt_pairs(line);
        let get = |preferred: Option<&str>, keys: &[&str]| {
            preferred
                .into_iter()
                .chain(keys.iter().copied())
                .find_map(|k| pairs.iter().find(|(pk, _)| pk.eq_ignore_ascii_case(k)).map(|(_, v)| v.clone()))
        };
        let level_text = get(self.overrides.level_field.as_deref(), LOGFMT_LEVEL_KEYS);
        if !forced && (pairs.len() < 2 || level_text.is_none()) {
            return None;
        }
        let level = level_text.as_deref().and_then(Level::parse).unwrap_or(Level::Unknown);
        let message =
            get(self.overrides.message_field.as_deref(), &["msg", "message"]).unwrap_or_else(|| line.to_string());
        let error = get(None, &["error", "err", "exception"]);
        let stack = get(None, &["stacktrace", "stack"]);
        Some(Entry { format: Format::Logfmt, level, message, error, stack })
    }
}

fn lookup<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    if let Some(v) = obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v) {
        return Some(v);
    }
    let (head, rest) = key.split_once('.')?;
    match obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(head)).map(|(_, v)| v) {
        Some(Value::Object(inner)) => lookup(inner, rest),
        _ => None,
    }
}

fn level_of(v: &Value) -> Level {
    match v {
        Value::String(s) => Level::parse(s).unwrap_or(Level::Unknown),
        Value::Number(n) => n.as_f64().map_or(Level::Unknown, Level::from_number),
        _ => Level::Unknown,
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An error field as text: an error object's message, else the value.
fn error_text(v: &Value) -> String {
    match v {
        Value::Object(o) => lookup(o, "message").or_else(|| lookup(o, "msg")).map_or_else(|| v.to_string(), value_text),
        other => value_text(other),
    }
}

/// `key=value` pairs of a logfmt line; values may be quoted with `\"`
/// escapes. Words that are not pairs are skipped.
pub fn logfmt_pairs(line: &str) -> Vec<(&str, String)> {
    Pairs::new(line).map(|(k, v, quoted)| (k, if quoted { unescape(v) } else { v.to_string() })).collect()
}

/// The pairs of a logfmt line as they are written: the key, the value (a
/// quoted one without its quotes, escapes left in) and whether it was quoted.
struct Pairs<'a> {
    rest: &'a str,
}

impl<'a> Pairs<'a> {
    fn new(line: &'a str) -> Pairs<'a> {
        Pairs { rest: line }
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a str, &'a str, bool);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let rest = self.rest.trim_start();
            if rest.is_empty() {
                self.rest = rest;
                return None;
            }
            let word_end = rest.find([' ', '=']).unwrap_or(rest.len());
            let key = &rest[..word_end];
            if key.is_empty() {
                // A stray `=` or space: step over it.
                self.rest = &rest[1..];
                continue;
            }
            if !rest[word_end..].starts_with('=') {
                self.rest = &rest[word_end..];
                continue;
            }
            let after = &rest[word_end + 1..];
            if let Some(q) = after.strip_prefix('"') {
                let end = closing_quote(q);
                self.rest = q.get(end + 1..).unwrap_or("");
                return Some((key, &q[..end], true));
            }
            let end = after.find(' ').unwrap_or(after.len());
            self.rest = &after[end..];
            return Some((key, &after[..end], false));
        }
    }
}

/// Where the quoted value `q` (after its opening quote) ends: its closing
/// quote, or the end of the line.
fn closing_quote(q: &str) -> usize {
    let b = q.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i,
            _ => i += 1,
        }
    }
    q.len()
}

/// A quoted value with its `\x` escapes read as `x`.
fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// Calls `each` with the top-level fields of a JSON object, each value as
/// its raw text (a string with its quotes); `None` when the scan cannot
/// follow the line (the full parser then decides). Allocates nothing.
fn json_pairs<'a>(line: &'a str, mut each: impl FnMut(&'a str, &'a str)) -> Option<()> {
    let mut s = Scan { b: line.as_bytes(), i: 0 };
    s.ws();
    s.eat(b'{')?;
    s.ws();
    if s.eat(b'}').is_some() {
        return Some(());
    }
    loop {
        s.ws();
        let key = s.string()?;
        s.ws();
        s.eat(b':')?;
        s.ws();
        let value = s.value()?;
        each(&line[key.0 + 1..key.1 - 1], &line[value.0..value.1]);
        s.ws();
        if s.eat(b',').is_none() {
            s.eat(b'}')?;
            return Some(());
        }
    }
}

/// A cursor over a JSON text.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    fn ws(&mut self) {
        while self.b.get(self.i).is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    /// A string, quotes included: its byte range.
    fn string(&mut self) -> Option<(usize, usize)> {
        let start = self.i;
        self.eat(b'"')?;
        while let Some(&c) = self.b.get(self.i) {
            self.i += if c == b'\\' { 2 } else { 1 };
            if c == b'"' {
                return Some((start, self.i));
            }
        }
        None
    }

    /// Any value: its byte range.
    fn value(&mut self) -> Option<(usize, usize)> {
        let start = self.i;
        match *self.b.get(self.i)? {
            b'"' => return self.string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                while let Some(&c) = self.b.get(self.i) {
                    match c {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => depth -= 1,
                        _ => {}
                    }
                    self.i += 1;
                    if depth == 0 {
                        return Some((start, self.i));
                    }
                }
                return None;
            }
            _ => {}
        }
        while self.b.get(self.i).is_some_and(|c| !matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
        (self.i > start).then_some((start, self.i))
    }
}

/// klog/glog: `Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg`.
fn klog(line: &str) -> Option<Entry> {
    let level = klog_level(line)?;
    let message = line.split_once("] ").map_or(line, |(_, m)| m).to_string();
    Some(Entry { format: Format::Klog, level, message, error: None, stack: None })
}

/// The level of a klog/glog line; `None` for another shape.
fn klog_level(line: &str) -> Option<Level> {
    let b = line.as_bytes();
    let shape = b.len() > 22
        && matches!(b[0], b'I' | b'W' | b'E' | b'F')
        && b[1..5].iter().all(u8::is_ascii_digit)
        && b[5] == b' '
        && b[8] == b':'
        && b[14] == b'.';
    if !shape {
        return None;
    }
    Level::parse(&line[..1])
}

/// A plain-text line: a level where a logger puts one, else `Unknown`.
fn text(line: &str) -> Entry {
    let (level, message) = text_level(line).unwrap_or((Level::Unknown, line));
    Entry { format: Format::Text, level, message: message.to_string(), error: None, stack: None }
}

/// Header tokens searched for a level word: loggers put it within the
/// first dozen (timestamps, hosts, pids, components come first).
const HEADER_TOKENS: usize = 12;

/// The level of a text line and the text after it. Conventions: Rails
/// (`E, [`), Python (`ERROR:name:msg`), logcat (`… pid tid E Tag: msg`),
/// brackets (`[error]`, `[ERROR]`, `[warn]` — Apache, nginx), and an
/// upper-case level word in the header (log4j, logback, JUL, Python's
/// `- ERROR -`, Go's `log`, syslog-like layouts). The first one wins, so a
/// message that says ERROR after an INFO header stays info.
fn text_level(line: &str) -> Option<(Level, &str)> {
    if let Some(found) = rails(line).or_else(|| uncaught(line)) {
        return Some(found);
    }
    let mut prev_digits = 0;
    for (i, (start, word)) in words(line).take(HEADER_TOKENS).enumerate() {
        let after = line[start + word.len()..].trim_start();
        // logcat: `MM-DD hh:mm:ss.mmm pid tid L Tag: msg`.
        if prev_digits >= 2 && i >= 4 && word.len() == 1 && matches!(word, "V" | "D" | "I" | "W" | "E" | "F" | "A") {
            return Some((Level::parse(word).unwrap_or(Level::Fatal), after));
        }
        prev_digits = if word.bytes().all(|b| b.is_ascii_digit()) { prev_digits + 1 } else { 0 };
        if let Some(inner) = word.strip_prefix('[').and_then(|w| w.strip_suffix(']'))
            && let Some(level) = Level::parse(inner).filter(|_| inner.len() > 1)
        {
            return Some((level, after));
        }
        let head = word.split(':').next().unwrap_or(word);
        let bare = head.trim_matches(|c: char| matches!(c, '[' | ']' | '<' | '>' | '(' | ')' | ',' | '|'));
        if is_level_word(bare) {
            let rest = if head.len() < word.len() { &line[start + head.len() + 1..] } else { after };
            return Some((Level::parse(bare).unwrap_or(Level::Unknown), rest.trim_start()));
        }
    }
    None
}

/// Whitespace-separated words with their byte offsets.
fn words(line: &str) -> impl Iterator<Item = (usize, &str)> {
    line.split_whitespace().map(move |w| (w.as_ptr() as usize - line.as_ptr() as usize, w))
}

/// An upper-case level name as loggers print it in a header; lower case and
/// single letters are prose or ids in free text, so they do not count here.
fn is_level_word(w: &str) -> bool {
    matches!(
        w,
        "TRACE"
            | "DEBUG"
            | "INFO"
            | "NOTICE"
            | "WARN"
            | "WARNING"
            | "ERROR"
            | "ERR"
            | "FATAL"
            | "SEVERE"
            | "CRITICAL"
            | "CRIT"
            | "ALERT"
            | "EMERG"
            | "PANIC"
            | "FINE"
            | "FINER"
            | "FINEST"
            | "CONFIG"
    )
}

/// An exception nothing caught, as the runtime prints it with no logger
/// header: Java's `Exception in thread "main" java.lang.X: msg`, or a bare
/// `java.lang.IllegalStateException: msg` / `pkg.SomeError` head line. The
/// frames that follow belong to it (`entry`).
fn uncaught(line: &str) -> Option<(Level, &str)> {
    if let Some(rest) = line.strip_prefix("Exception in thread \"") {
        let message = rest.split_once("\" ").map_or(rest, |(_, m)| m);
        return Some((Level::Error, message));
    }
    java_exception_head(line).then_some((Level::Error, line))
}

/// A Java exception's head line as a stack trace starts, unindented:
/// `java.lang.IllegalStateException: msg`, `pkg.SomeError`. After a log
/// line it is that line's exception (`entry`); alone, an uncaught one.
pub fn java_exception_head(line: &str) -> bool {
    let Some(head) = line.split([':', ' ']).next() else { return false };
    let Some((package, class)) = head.rsplit_once('.') else { return false };
    let java_name = !package.is_empty()
        && package.split('.').all(|p| p.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
        && class.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && class.chars().all(|c| c.is_ascii_alphanumeric() || c == '$')
        && (class.ends_with("Exception") || class.ends_with("Error"));
    java_name && (line.len() == head.len() || line[head.len()..].starts_with(": "))
}

/// Rails/Ruby Logger: `E, [2026-11-26T03:04:05.123 #1] ERROR -- : msg`.
fn rails(line: &str) -> Option<(Level, &str)> {
    let b = line.as_bytes();
    if b.len() < 4 || b[1] != b',' || b[2] != b' ' || b[3] != b'[' {
        return None;
    }
    let level = match b[0] {
        b'A' => Level::Fatal,
        b'D' | b'I' | b'W' | b'E' | b'F' => Level::parse(&line[..1])?,
        _ => return None,
    };
    let message = line.split_once(" -- ").map_or(line, |(_, m)| m.trim_start_matches([':', ' ']));
    Some((level, message))
}

/// The line without a leading RFC 3339 time and the space after it.
fn strip_rfc3339(line: &str) -> &str {
    let b = line.as_bytes();
    let looks = b.len() > 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[..4].iter().all(u8::is_ascii_digit);
    if !looks {
        return line;
    }
    match line.split_once(' ') {
        Some((_, rest)) => rest,
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader() -> Reader {
        Reader::new(Overrides::default(), RegexSet::new([r"\b(ERROR|FATAL|PANIC|CRITICAL)\b"]).unwrap())
    }

    /// The level `line` is read at, and whether it is an error.
    fn level(line: &str) -> (Level, bool) {
        let (e, err) = reader().classify(line);
        (e.level, err)
    }

    #[test]
    fn json_level_fields_in_any_case_and_spelling() {
        for line in [
            r#"{"level":"error","msg":"x"}"#,
            r#"{"lvl":"ERR","msg":"x"}"#,
            r#"{"severity":"ERROR","message":"x"}"#,
            r#"{"log.level":"error","message":"x"}"#,
            r#"{"log":{"level":"error"},"message":"x"}"#,
            r#"{"levelname":"ERROR","message":"x"}"#,
            r#"{"@l":"Error","@mt":"x"}"#,
            r#"{"LogLevel":"eror","msg":"x"}"#,
            r#"{"level":"E","msg":"x"}"#,
            r#"{"level":50,"msg":"x"}"#,
        ] {
            assert_eq!(level(line), (Level::Error, true), "{line}");
        }
        for line in [r#"{"level":"crit","msg":"x"}"#, r#"{"level":"F","msg":"x"}"#, r#"{"level":60,"msg":"x"}"#] {
            assert_eq!(level(line), (Level::Fatal, true), "{line}");
        }
        assert_eq!(level(r#"{"level":"warn","msg":"x"}"#), (Level::Warn, false));
        assert_eq!(level(r#"{"level":"W","msg":"x"}"#), (Level::Warn, false));
        assert_eq!(level(r#"{"level":30,"msg":"x"}"#), (Level::Info, false));
    }

    #[test]
    fn an_info_line_that_says_error_is_not_an_error() {
        assert_eq!(level(r#"{"level":"info","msg":"ERROR budget at 3%"}"#), (Level::Info, false));
        assert_eq!(level(r#"level=info msg="retrying after ERROR""#), (Level::Info, false));
        assert_eq!(level("2026-11-26 03:04:05,123 INFO [main] c.a.Keys: FATAL is a word"), (Level::Info, false));
        assert_eq!(level("I1204 12:00:00.123456 1 file.go:88] ERROR in the message"), (Level::Info, false));
    }

    #[test]
    fn json_message_error_and_stack_fields() {
        let e = reader().read(
            r#"{"level":"error","msg":"load keys","error":"connection refused","stacktrace":"main.load\n\tkeys.go:12"}"#,
        );
        assert_eq!(e.format, Format::Json);
        assert_eq!(e.message, "load keys");
        assert_eq!(e.error.as_deref(), Some("connection refused"));
        assert_eq!(e.stack.as_deref(), Some("main.load\n\tkeys.go:12"));
        let e = reader().read(r#"{"@l":"Error","@m":"boom","exception":{"message":"db down","stacktrace":"at X"}}"#);
        assert_eq!((e.message.as_str(), e.error.as_deref()), ("boom", Some("db down")));
        assert_eq!(e.stack.as_deref(), Some("at X"));
        let e = reader().read(r#"{"level":"error","event":"refresh failed","error.message":"timeout"}"#);
        assert_eq!((e.message.as_str(), e.error.as_deref()), ("refresh failed", Some("timeout")));
    }

    #[test]
    fn logfmt_with_quoted_values() {
        let e =
            reader().read(r#"ts=2026-11-26T03:04:05Z level=error msg="load \"keys\" failed" err="dial tcp: refused""#);
        assert_eq!((e.format, e.level), (Format::Logfmt, Level::Error));
        assert_eq!(e.message, r#"load "keys" failed"#);
        assert_eq!(e.error.as_deref(), Some("dial tcp: refused"));
        assert_eq!(level("lvl=warn msg=slow"), (Level::Warn, false));
        assert_eq!(level("severity=CRITICAL msg=down"), (Level::Fatal, true));
        // Stray `=` signs end, and are no pairs.
        assert_eq!(logfmt_pairs("= a==b =c"), [("a", "=b".to_string())]);
    }

    #[test]
    fn klog_and_glog() {
        let e = reader().read("E1204 12:00:00.123456       1 file.go:88] failed to sync: timeout");
        assert_eq!((e.format, e.level, e.message.as_str()), (Format::Klog, Level::Error, "failed to sync: timeout"));
        assert_eq!(level("F1204 12:00:00.123456 1 main.go:1] bye"), (Level::Fatal, true));
        assert_eq!(level("W1204 12:00:00.123456 1 main.go:1] slow"), (Level::Warn, false));
    }

    #[test]
    fn text_conventions() {
        let cases = [
            ("12-04 12:00:00.123  1234  1250 E ActivityManager: ANR in com.x", Level::Error),
            ("12-04 12:00:00.123  1234  1250 I ActivityManager: Start proc", Level::Info),
            ("[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6", Level::Error),
            ("[Sun Dec 04 04:47:44 2005] [notice] jk2_init() Found child 6725", Level::Info),
            ("2023/01/01 12:00:00 [error] 123#0: *1 connect() failed (111: Connection refused)", Level::Error),
            ("2023/01/01 12:00:00 [warn] 123#0: an upstream response is buffered", Level::Warn),
            ("ERROR:keys.loader:could not load keys", Level::Error),
            ("2026-11-26 03:04:05,123 - keys.loader - ERROR - could not load keys", Level::Error),
            ("2026-11-26 03:04:05.123 ERROR 1 --- [main] c.a.Keys : boom", Level::Error),
            ("03:04:05.123 [main] ERROR com.acme.Keys - boom", Level::Error),
            ("SEVERE: could not bind port 8443", Level::Error),
            ("Nov 26, 2026 3:04:05 AM org.apache.catalina.Foo start SEVERE: boom", Level::Error),
            ("E, [2026-11-26T03:04:05.123456 #1] ERROR -- : boom", Level::Error),
            ("F, [2026-11-26T03:04:05.123456 #1] FATAL -- : boom", Level::Fatal),
            ("I, [2026-11-26T03:04:05.123456 #1]  INFO -- : fine", Level::Info),
            (
                "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02 RAS KERNEL INFO cache parity error corrected",
                Level::Info,
            ),
            ("081109 203615 148 WARN dfs.DataNode: slow", Level::Warn),
        ];
        for (line, want) in cases {
            assert_eq!(reader().read(line).level, want, "{line}");
        }
    }

    #[test]
    fn an_uncaught_java_exception_is_an_error() {
        for line in [
            "Exception in thread \"pool-1\" java.lang.IllegalStateException: signer closed (id=0)",
            "java.lang.IllegalStateException: signer closed",
            "com.example.keys.SignerError",
        ] {
            assert_eq!(level(line), (Level::Error, true), "{line}");
            assert!(reader().judge(line).1, "{line}");
        }
        for line in ["java.version: 17", "see com.example.Foo for details", "Exception handling is on"] {
            assert!(!level(line).1, "{line}");
        }
    }

    #[test]
    fn text_without_a_level_uses_the_patterns() {
        assert_eq!(level("something FATAL happened"), (Level::Fatal, true));
        assert_eq!(level("connection refused"), (Level::Unknown, false));
        assert_eq!(level("an error happened"), (Level::Unknown, false));
    }

    #[test]
    fn kubelet_timestamp_prefix_is_read_past() {
        let e = reader().read(r#"2026-11-26T03:04:05.123456789Z {"level":"error","msg":"x"}"#);
        assert_eq!((e.format, e.level), (Format::Json, Level::Error));
    }

    #[test]
    fn the_quick_judgement_agrees_with_the_full_read() {
        let lines = [
            r#"{"level":"error","msg":"x"}"#,
            r#"{"msg":"x","severity":"info","level":"error"}"#,
            r#"{"lvl":"ERR","nested":{"level":"info"},"msg":"x"}"#,
            r#"{"log":{"level":"error"},"message":"x"}"#,
            r#"{"level":"info","msg":"ERROR budget"}"#,
            r#"{"level":50,"msg":"x"}"#,
            r#"{"level":"e\u0072ror","msg":"x"}"#,
            r#"{"msg":"FATAL without a level"}"#,
            r#"{"level":"error","msg":"unclosed"#,
            r#"{not json} ERROR"#,
            r#"{"a":[1,{"b":"}"}],"level":"warn"}"#,
            "level=error msg=x",
            "level=info msg=\"ERROR in \\\"quotes\\\"\"",
            "lvl=ERROR",
            "time=x level=bogus msg=\"FATAL\"",
            "E1204 12:00:00.123456 1 f.go:1] x",
            "I1204 12:00:00.123456 1 f.go:1] ERROR",
            "2026-11-26T03:04:05Z ERROR [main] boom",
            "[error] mod_jk",
            "plain FATAL text",
            "plain text",
            "",
        ];
        let r = reader();
        for line in lines {
            let (e, err) = r.classify(line);
            assert_eq!(r.judge(line), (e.format, err), "{line}");
        }
        let forced = Reader::new(
            Overrides { format: Some(Format::Logfmt), ..Overrides::default() },
            RegexSet::new(["FATAL"]).unwrap(),
        );
        for line in lines {
            let (e, err) = forced.classify(line);
            assert_eq!(forced.judge(line), (e.format, err), "{line}");
        }
    }

    #[test]
    fn json_scan_follows_nesting_and_strings() {
        let mut seen = vec![];
        let line = r#"{"a": {"b": "}"}, "c" : [1, "]"], "d":"x\"y", "e":true}"#;
        assert!(json_pairs(line, |k, v| seen.push((k, v))).is_some());
        assert_eq!(seen, [("a", r#"{"b": "}"}"#), ("c", r#"[1, "]"]"#), ("d", r#""x\"y""#), ("e", "true")]);
        assert!(json_pairs(r#"{"a":}"#, |_, _| {}).is_none());
        assert!(json_pairs(r#"{"a":1"#, |_, _| {}).is_none());
        assert_eq!(Level::parse("a-level-name-longer-than-sixteen"), None);
    }

    #[test]
    fn overrides() {
        let o = Overrides {
            level_field: Some("sev".into()),
            message_field: Some("text".into()),
            error_levels: vec![Level::Warn, Level::Error, Level::Fatal],
            ..Overrides::default()
        };
        let r = Reader::new(o, RegexSet::empty());
        let (e, err) = r.classify(r#"{"sev":"warning","text":"slow disk","msg":"other"}"#);
        assert_eq!((e.level, e.message.as_str(), err), (Level::Warn, "slow disk", true));
        let forced = Reader::new(Overrides { format: Some(Format::Text), ..Overrides::default() }, RegexSet::empty());
        assert_eq!(forced.read(r#"{"level":"error"}"#).format, Format::Text);
    }
}
