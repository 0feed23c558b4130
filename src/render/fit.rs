//! Fitting text output to the width it is shown in: which width that is,
//! which table columns to keep and how wide, and prose wrapped at word
//! boundaries. Pure: the width is an argument, so every rule is tested
//! without a terminal.
//!
//! Nothing here ever cuts a word: pod names, statuses, contexts and commands
//! are pasted into other commands, so a line that cannot fit stays whole and
//! overflows rather than lose its words.

use unicode_width::UnicodeWidthStr;

/// The width to lay text out for: the terminal's when stdout is one
/// (`COLUMNS` first, as `ls` does, then the size the terminal reports), and
/// no limit on a pipe, so that every table row stays on one line for `grep`.
pub fn output_width(stdout_is_tty: bool, columns_env: Option<&str>, terminal: Option<u16>) -> Option<usize> {
    if !stdout_is_tty {
        return None;
    }
    let from_env = columns_env.and_then(|c| c.trim().parse::<usize>().ok()).filter(|&c| c > 0);
    // A terminal that reports no size is still a terminal: 80 is the width
    // every terminal has by default.
    Some(from_env.or(terminal.map(usize::from).filter(|&c| c > 0)).unwrap_or(80))
}

/// Columns `s` takes on a terminal, not counting our own colour escapes
/// (outside text never carries an ESC: `sanitize` escapes it).
pub fn display_width(s: &str) -> usize {
    if !s.contains('\u{1b}') {
        return s.width();
    }
    let mut plain = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters… final byte in @..~
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        plain.push(c);
    }
    plain.width()
}

/// Widest word of `s` (words are separated by spaces, as the table wraps them).
fn longest_word(s: &str) -> usize {
    s.lines().flat_map(|l| l.split(' ')).map(display_width).max().unwrap_or(0)
}

/// Widest line of `s`.
fn longest_line(s: &str) -> usize {
    s.lines().map(display_width).max().unwrap_or(0)
}

/// How a table column may give way when the table is too wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnRule {
    /// Its cells may wrap at spaces (prose). Others are kept on one line.
    pub wrap: bool,
    /// It may be left out; lower numbers go first. `None`: always shown.
    pub drop: Option<u8>,
}

impl ColumnRule {
    /// Always shown, never wrapped.
    pub const KEEP: ColumnRule = ColumnRule { wrap: false, drop: None };
    /// Always shown, wrapped at spaces when space is short.
    pub const WRAP: ColumnRule = ColumnRule { wrap: true, drop: None };

    pub const fn drop(order: u8) -> ColumnRule {
        ColumnRule { wrap: false, drop: Some(order) }
    }

    pub const fn wrap_then_drop(order: u8) -> ColumnRule {
        ColumnRule { wrap: true, drop: Some(order) }
    }
}

/// What a table's borders and padding take: `fixed` once plus `per_column`
/// for every column shown, less `trailing` (padding after the last column,
/// trimmed from each line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub fixed: usize,
    pub per_column: usize,
    pub trailing: usize,
}

impl Frame {
    fn total(self, widths: impl Iterator<Item = usize>) -> usize {
        widths.fold(self.fixed, |sum, w| sum + w + self.per_column).saturating_sub(self.trailing)
    }
}

/// `text` cut to at most `width` display columns, ending in `…` when cut.
pub fn cut(text: &str, width: usize) -> String {
    if display_width(text) <= width {
        return text.to_string();
    }
    let mut out = String::new();
    for c in text.chars() {
        if display_width(&out) + display_width(&c.to_string()) + 1 > width {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

/// The content width of each column (`None`: left out) for a table whose
/// column `i` holds `cells[i]` (header included), to fit in `width` columns.
///
/// Without a width every column is as wide as its content. Otherwise, in
/// order: all at full width if that fits; else prose columns wrapped at
/// spaces (never narrower than their longest word); else the next droppable
/// column is left out and the table tried again. When nothing more can go,
/// the table is as narrow as whole words allow, even if that is too wide.
pub fn fit_columns(
    cells: &[Vec<&str>],
    rules: &[ColumnRule],
    frame: Frame,
    width: Option<usize>,
) -> Vec<Option<usize>> {
    let natural: Vec<usize> = cells.iter().map(|c| c.iter().map(|s| longest_line(s)).max().unwrap_or(0)).collect();
    let Some(width) = width else {
        return natural.into_iter().map(Some).collect();
    };
    let least: Vec<usize> = cells
        .iter()
        .zip(rules)
        .zip(&natural)
        .map(|((c, rule), &n)| if rule.wrap { c.iter().map(|s| longest_word(s)).max().unwrap_or(0) } else { n })
        .collect();
    let mut shown = vec![true; cells.len()];
    loop {
        let kept = |ws: &[usize]| -> usize { frame.total(ws.iter().zip(&shown).filter(|(_, s)| **s).map(|(w, _)| *w)) };
        if kept(&natural) <= width {
            return pick(&natural, &shown);
        }
        if kept(&least) <= width {
            // Give the room left to the prose columns, left to right.
            let mut spare = width - kept(&least);
            let mut widths = least.clone();
            for i in (0..cells.len()).filter(|&i| shown[i] && rules[i].wrap) {
                let more = spare.min(natural[i] - least[i]);
                widths[i] += more;
                spare -= more;
            }
            return pick(&widths, &shown);
        }
        // The lowest drop order goes first; among equals, the rightmost.
        let next = (0..cells.len())
            .filter(|&i| shown[i])
            .filter_map(|i| rules.get(i).and_then(|r| r.drop).map(|o| (o, std::cmp::Reverse(i))))
            .min()
            .map(|(_, std::cmp::Reverse(i))| i);
        match next {
            Some(i) => shown[i] = false,
            None => return pick(&least, &shown),
        }
    }
}

fn pick(widths: &[usize], shown: &[bool]) -> Vec<Option<usize>> {
    widths.iter().zip(shown).map(|(w, s)| s.then_some(*w)).collect()
}

/// `text` broken at spaces into lines that fit in `width` after a first-line
/// prefix `first` columns wide and an indent of `indent` columns on the
/// lines after it (a hanging indent). A word longer than a line is kept
/// whole on a line of its own. Without a width, or when it fits, one line.
pub fn wrap(text: &str, first: usize, indent: usize, width: Option<usize>) -> Vec<String> {
    let fits = |w: usize| width.is_none_or(|max| w <= max);
    if fits(first + display_width(text)) {
        return vec![text.to_string()];
    }
    let max = width.unwrap_or(usize::MAX);
    let mut lines = vec![];
    let mut line = String::new();
    let mut used = first;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let w = display_width(word);
        if !line.is_empty() && used + 1 + w > max {
            lines.push(std::mem::take(&mut line));
            used = indent;
        }
        if !line.is_empty() {
            line.push(' ');
            used += 1;
        }
        line.push_str(word);
        used += w;
    }
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOXED: Frame = Frame { fixed: 1, per_column: 3, trailing: 0 };

    #[test]
    fn width_comes_from_the_terminal_and_not_on_a_pipe() {
        assert_eq!(output_width(false, Some("80"), Some(120)), None, "a pipe has no width limit, COLUMNS or not");
        assert_eq!(output_width(true, Some("132"), Some(80)), Some(132), "COLUMNS wins");
        assert_eq!(output_width(true, None, Some(200)), Some(200));
        assert_eq!(output_width(true, Some("junk"), Some(90)), Some(90), "an unusable COLUMNS is ignored");
        assert_eq!(output_width(true, Some("0"), Some(90)), Some(90));
        assert_eq!(output_width(true, None, None), Some(80));
    }

    #[test]
    fn colour_escapes_take_no_columns() {
        assert_eq!(display_width("\u{1b}[1;33mDEGRADED\u{1b}[0m"), 8);
        assert_eq!(display_width("✗ x"), 3);
        assert_eq!(display_width("ключ"), 4);
    }

    fn cols<'a>(rows: &[&[&'a str]]) -> Vec<Vec<&'a str>> {
        (0..rows[0].len()).map(|i| rows.iter().map(|r| r[i]).collect()).collect()
    }

    #[test]
    fn without_a_width_every_column_is_as_wide_as_its_content() {
        let c = cols(&[&["REGION", "NOTE"], &["us-east", "a very long note that would wrap anywhere else"]]);
        let w = fit_columns(&c, &[ColumnRule::KEEP, ColumnRule::wrap_then_drop(0)], BOXED, None);
        assert_eq!(w, [Some(7), Some(46)]);
    }

    #[test]
    fn prose_wraps_at_words_before_anything_is_dropped() {
        let c = cols(&[&["REGION", "NODE", "NOTE"], &["us-east", "node-1", "pod crash looping since noon"]]);
        let rules = [ColumnRule::KEEP, ColumnRule::drop(0), ColumnRule::wrap_then_drop(1)];
        // Full width: 1 + (7+3) + (6+3) + (28+3) = 51.
        assert_eq!(fit_columns(&c, &rules, BOXED, Some(51)), [Some(7), Some(6), Some(28)]);
        // One column short: the note wraps, nothing is left out.
        assert_eq!(fit_columns(&c, &rules, BOXED, Some(50)), [Some(7), Some(6), Some(27)]);
        // The note at its longest word ("crash" / "looping"): 1 + 10 + 9 + 10 = 30.
        assert_eq!(fit_columns(&c, &rules, BOXED, Some(30)), [Some(7), Some(6), Some(7)]);
        // Narrower still: NODE goes first, and the note gets its room back.
        assert_eq!(fit_columns(&c, &rules, BOXED, Some(29)), [Some(7), None, Some(15)]);
    }

    #[test]
    fn columns_drop_in_order_and_the_rightmost_first_among_equals() {
        let c = cols(&[&["POD", "AGE", "NODE"], &["api-key-service-5f6d8-p8w4t", "2h", "node-us-east-1"]]);
        let rules = [ColumnRule::KEEP, ColumnRule::drop(1), ColumnRule::drop(1)];
        assert_eq!(fit_columns(&c, &rules, BOXED, Some(40)), [Some(27), Some(3), None]);
        assert_eq!(fit_columns(&c, &rules, BOXED, Some(31)), [Some(27), None, None]);
    }

    #[test]
    fn words_are_never_cut_even_when_the_table_cannot_fit() {
        let c = cols(&[&["POD", "STATUS"], &["api-key-service-5f6d8-p8w4t", "CrashLoopBackOff"]]);
        let rules = [ColumnRule::KEEP, ColumnRule::WRAP];
        assert_eq!(fit_columns(&c, &rules, BOXED, Some(20)), [Some(27), Some(16)]);
    }

    #[test]
    fn prose_wraps_with_a_hanging_indent_and_keeps_long_words_whole() {
        let text = "us-east: api-key-service-5f6d8-p8w4t CrashLoopBackOff, 7 restarts";
        let lines = wrap(text, 4, 4, Some(30));
        assert_eq!(lines, ["us-east:", "api-key-service-5f6d8-p8w4t", "CrashLoopBackOff, 7", "restarts"]);
        for (i, l) in lines.iter().enumerate() {
            let prefix = 4;
            assert!(prefix + l.len() <= 30 || !l.contains(' '), "line {i} too wide: {l}");
        }
        assert_eq!(wrap(text, 4, 4, None), [text], "no width: one line");
        assert_eq!(wrap("short", 2, 2, Some(80)), ["short"]);
        assert_eq!(wrap("a b", 2, 2, Some(4)), ["a", "b"]);
    }
}
