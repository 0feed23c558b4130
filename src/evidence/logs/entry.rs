//! Multi-line entries as one entry: a log line and the lines that continue it
//! (indented stack frames, a Java exception's head line, `Caused by:` and `... N more`, a Python
//! traceback up to its final `XxxError: msg`, a Go panic with its goroutine
//! dump). This module owns where one entry ends and the next begins, as a
//! stream: lines go in, completed entries come out, and an entry keeps at
//! most [`Limits`] of its text (the rest is counted), so one endless stack
//! cannot hold the reader's memory.

use super::format::java_exception_head;

/// How much of one entry is kept.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_lines: usize,
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_lines: 200, max_bytes: 16 * 1024 }
    }
}

/// One completed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The line that says what happened: the first line, or for an entry
    /// that starts with `Traceback (most recent call last):`, the exception
    /// line that ends it.
    pub head: String,
    /// The kept lines, joined with `\n`.
    pub text: String,
    /// Lines the entry had, kept or not.
    pub lines: usize,
    /// Whether lines were left out for the limits.
    pub cut: bool,
}

/// What the lines after the current one may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Indented lines and Java's markers continue the entry.
    Plain,
    /// Inside a Python traceback: until the unindented exception line.
    Traceback,
    /// Inside a Go panic: the goroutine dump, unindented function lines too.
    Panic,
}

/// Assembles entries from lines.
#[derive(Debug)]
pub struct Assembler {
    limits: Limits,
    /// The entry in progress when it is kept.
    current: Option<Block>,
    /// Whether an entry is in progress, kept or not.
    open: bool,
    mode: Mode,
    /// The current entry started with the traceback, so its exception line
    /// becomes its head.
    head_from_end: bool,
}

impl Assembler {
    pub fn new(limits: Limits) -> Assembler {
        Assembler { limits, current: None, open: false, mode: Mode::Plain, head_from_end: false }
    }

    /// Feeds one line (no newline); returns the entry it completed, if any.
    pub fn push(&mut self, line: &str) -> Option<Block> {
        if self.continues(line) { None } else { self.start(line, true) }
    }

    /// Whether `line` continues the entry in progress; a kept entry takes
    /// it. When not, the caller starts an entry with it ([`Assembler::start`]).
    pub fn continues(&mut self, line: &str) -> bool {
        if !self.open || !self.follows(line) {
            return false;
        }
        self.append(line);
        true
    }

    /// Starts an entry with `line`, its text gathered only when `keep` (an
    /// entry that is not kept is still followed, so that its continuation
    /// lines are told apart, but costs nothing); returns the kept entry it
    /// completed, if any.
    pub fn start(&mut self, line: &str, keep: bool) -> Option<Block> {
        let done = self.current.take();
        self.open = true;
        self.head_from_end = false;
        self.mode = Mode::Plain;
        if line.starts_with(TRACEBACK) {
            self.mode = Mode::Traceback;
            self.head_from_end = true;
        } else if opens_panic(line) {
            self.mode = Mode::Panic;
        }
        if keep {
            let mut text = String::new();
            push_capped(&mut text, line, self.limits.max_bytes);
            let cut = text.len() < line.len();
            self.current = Some(Block { head: line.to_string(), text, lines: 1, cut });
        }
        done
    }

    /// The entry in progress, at the end of the stream.
    pub fn finish(&mut self) -> Option<Block> {
        self.mode = Mode::Plain;
        self.open = false;
        self.current.take()
    }

    /// The head of the kept entry in progress.
    pub fn head(&self) -> Option<&str> {
        self.current.as_ref().map(|b| b.head.as_str())
    }

    /// Whether `line` follows the current entry, updating the mode.
    fn follows(&mut self, line: &str) -> bool {
        let indented = line.starts_with([' ', '\t']);
        match self.mode {
            Mode::Traceback => {
                if !indented && !line.is_empty() && !is_traceback_glue(line) {
                    // The exception line closes the traceback.
                    self.mode = Mode::Plain;
                    if self.head_from_end
                        && let Some(b) = self.current.as_mut()
                    {
                        b.head = line.to_string();
                    }
                }
                true
            }
            Mode::Panic => indented || line.is_empty() || is_goroutine_dump(line) || self.enter(line),
            Mode::Plain => indented || is_java_continuation(line) || java_exception_head(line) || self.enter(line),
        }
    }

    /// A line that opens a traceback or panic inside the current entry
    /// (a log line followed by the stack it caused).
    fn enter(&mut self, line: &str) -> bool {
        if line.starts_with(TRACEBACK) {
            self.mode = Mode::Traceback;
            return true;
        }
        if line.starts_with("goroutine ") && self.mode == Mode::Panic {
            return true;
        }
        false
    }

    fn append(&mut self, line: &str) {
        let Some(b) = self.current.as_mut() else { return };
        b.lines += 1;
        if b.lines > self.limits.max_lines || b.text.len() + 1 + line.len() > self.limits.max_bytes {
            b.cut = true;
            return;
        }
        b.text.push('\n');
        b.text.push_str(line);
    }
}

const TRACEBACK: &str = "Traceback (most recent call last):";

/// Whether `line` opens an entry that is a stack (a Python traceback or a Go
/// panic): an error whatever the rest of the log's conventions say.
pub fn opens_stack(line: &str) -> bool {
    line.starts_with(TRACEBACK) || opens_panic(line)
}

fn opens_panic(line: &str) -> bool {
    line.starts_with("panic: ") || line.starts_with("fatal error: ")
}

/// Appends at most `max` bytes of `line`, cut at a character boundary.
fn push_capped(out: &mut String, line: &str, max: usize) {
    let mut end = line.len().min(max);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    out.push_str(&line[..end]);
}

/// Java's unindented continuation lines.
fn is_java_continuation(line: &str) -> bool {
    line.starts_with("Caused by: ") || line.starts_with("Suppressed: ") || is_more(line)
}

/// `... 12 more`
fn is_more(line: &str) -> bool {
    line.strip_prefix("... ")
        .and_then(|r| r.strip_suffix(" more"))
        .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
}

/// Lines between the parts of a chained Python traceback.
fn is_traceback_glue(line: &str) -> bool {
    line.starts_with(TRACEBACK)
        || line.starts_with("During handling of the above exception")
        || line.starts_with("The above exception was the direct cause")
}

/// Unindented lines of a Go goroutine dump: `goroutine 1 [running]:`,
/// `main.main()`, `created by main.start in goroutine 1`, `[signal …]`,
/// `exit status 2`, a repeated `panic:`.
fn is_goroutine_dump(line: &str) -> bool {
    if ["goroutine ", "created by ", "[signal ", "exit status ", "panic: ", "fatal error: "]
        .iter()
        .any(|p| line.starts_with(p))
    {
        return true;
    }
    // A function frame: `pkg/path.(*T).Method(0xc000010000, 0x1)`, no
    // space before its argument list.
    match line.find('(') {
        Some(open) => !line[..open].contains(' ') && line.ends_with(')') && open > 0,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assemble(lines: &[&str]) -> Vec<Block> {
        let mut a = Assembler::new(Limits::default());
        let mut out: Vec<Block> = lines.iter().filter_map(|l| a.push(l)).collect();
        out.extend(a.finish());
        out
    }

    #[test]
    fn java_stack_with_caused_by_is_one_entry() {
        let lines = [
            "2026-11-26 03:04:05 ERROR [main] Keys: load failed",
            "java.lang.IllegalStateException: no keys",
            "\tat com.acme.Keys.load(Keys.java:12)",
            "Caused by: java.net.ConnectException: refused",
            "\tat java.net.Socket.connect(Socket.java:1)",
            "\t... 12 more",
            "... 3 more",
            "2026-11-26 03:04:06 INFO [main] Keys: retry",
        ];
        let blocks = assemble(&lines);
        // The exception's head line, unindented, is the logged error's exception.
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].lines, 7);
        assert_eq!(blocks[0].head, "2026-11-26 03:04:05 ERROR [main] Keys: load failed");
        assert_eq!(blocks[1].head, "2026-11-26 03:04:06 INFO [main] Keys: retry");
        // Alone, with no log line before it, it is an entry of its own.
        let alone = assemble(&lines[1..]);
        assert_eq!((alone.len(), alone[0].lines), (2, 6));
        assert_eq!(alone[0].head, "java.lang.IllegalStateException: no keys");
    }

    #[test]
    fn python_traceback_ends_at_the_exception_line() {
        let lines = [
            "Traceback (most recent call last):",
            "  File \"app.py\", line 3, in <module>",
            "    load()",
            "ValueError: no keys",
            "INFO next line",
        ];
        let blocks = assemble(&lines);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].head, "ValueError: no keys");
        assert_eq!(blocks[0].lines, 4);
        let after_log = assemble(&[
            "ERROR handler failed",
            "Traceback (most recent call last):",
            "  File \"a.py\", line 1, in f",
            "KeyError: 'kid'",
            "During handling of the above exception, another exception occurred:",
            "Traceback (most recent call last):",
            "  File \"a.py\", line 2, in g",
            "RuntimeError: bad",
            "INFO ok",
        ]);
        assert_eq!(after_log.len(), 3, "{after_log:?}");
        assert_eq!(after_log[0].head, "ERROR handler failed");
        assert_eq!(after_log[0].lines, 4);
    }

    #[test]
    fn go_panic_with_goroutine_dump_is_one_entry() {
        let lines = [
            "panic: runtime error: invalid memory address or nil pointer dereference",
            "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x49a1b2]",
            "",
            "goroutine 1 [running]:",
            "main.(*Loader).load(0x0)",
            "\t/src/keys/load.go:88 +0x12",
            "main.main()",
            "\t/src/main.go:12 +0x1d",
            "exit status 2",
            "{\"level\":\"info\",\"msg\":\"restarted\"}",
        ];
        let blocks = assemble(&lines);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].lines, 9);
        assert!(blocks[0].head.starts_with("panic: runtime error"));
    }

    #[test]
    fn indented_lines_continue_and_limits_cap_memory() {
        let mut a = Assembler::new(Limits { max_lines: 3, max_bytes: 1024 });
        assert_eq!(a.push("ERROR boom"), None);
        for _ in 0..10 {
            assert_eq!(a.push("    at frame"), None);
        }
        let b = a.push("INFO next").unwrap();
        assert_eq!((b.lines, b.cut), (11, true));
        assert_eq!(b.text.lines().count(), 3);
        let b = a.finish().unwrap();
        assert_eq!((b.head.as_str(), b.lines, b.cut), ("INFO next", 1, false));
        assert_eq!(a.finish(), None);
    }
}
