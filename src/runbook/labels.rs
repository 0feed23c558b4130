//! The runbook's Kubernetes names checked as the API server checks them: the
//! pods' label selector (the grammar of apimachinery's `labels.Parse`) and
//! the namespace (a DNS-1123 label). A runbook that passes here is never
//! refused by the API server as a bad request, and one that fails says why
//! where it is written, before any cluster is asked.

/// A token of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    /// `!` not followed by `=`.
    Not,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
    End,
}

impl Token {
    fn shown(&self) -> String {
        let s = match self {
            Token::Ident(s) => s,
            Token::Not => "!",
            Token::Eq => "=",
            Token::DoubleEq => "==",
            Token::NotEq => "!=",
            Token::Gt => ">",
            Token::Lt => "<",
            Token::Open => "(",
            Token::Close => ")",
            Token::Comma => ",",
            Token::End => return "the end".into(),
        };
        format!("`{s}`")
    }
}

fn special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn tokens(s: &str) -> Vec<Token> {
    let mut out = vec![];
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            chars.next();
            continue;
        }
        if special(c) {
            chars.next();
            let two = chars.peek() == Some(&'=');
            out.push(match c {
                '=' if two => Token::DoubleEq,
                '!' if two => Token::NotEq,
                '=' => Token::Eq,
                '!' => Token::Not,
                '>' => Token::Gt,
                '<' => Token::Lt,
                '(' => Token::Open,
                ')' => Token::Close,
                _ => Token::Comma,
            });
            if two && matches!(c, '=' | '!') {
                chars.next();
            }
            continue;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if special(c) || matches!(c, ' ' | '\t' | '\r' | '\n') {
                break;
            }
            word.push(c);
            chars.next();
        }
        out.push(Token::Ident(word));
    }
    out.push(Token::End);
    out
}

/// Checks a label selector as the API server parses it: requirements
/// separated by commas, each `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
/// `k notin (a,b)`, `k`, `!k` (or `k>N`, `k<N`). The error says what is
/// wrong in plain words.
pub fn check_selector(selector: &str) -> Result<(), String> {
    let toks = tokens(selector);
    let mut i = 0;
    let unexpected = |t: &Token, expected: &str| Err(format!("{} where {expected} was expected", t.shown()));
    loop {
        match &toks[i] {
            Token::End => return Ok(()),
            Token::Ident(_) | Token::Not => {}
            t => return unexpected(t, "a label key or `!`"),
        }
        i = requirement(&toks, i)?;
        match &toks[i] {
            Token::End => return Ok(()),
            Token::Comma => {
                i += 1;
                if !matches!(toks[i], Token::Ident(_) | Token::Not) {
                    return unexpected(&toks[i], "a label key after `,`");
                }
            }
            t => {
                let hint = if matches!(t, Token::Ident(_)) { " (a value cannot contain spaces)" } else { "" };
                return Err(format!("{} where `,` or the end was expected{hint}", t.shown()));
            }
        }
    }
}

/// One requirement starting at `i`; returns the index after it.
fn requirement(toks: &[Token], mut i: usize) -> Result<usize, String> {
    let not = toks[i] == Token::Not;
    if not {
        i += 1;
    }
    let Token::Ident(key) = &toks[i] else {
        return Err(format!("{} where a label key was expected", toks[i].shown()));
    };
    check_key(key)?;
    i += 1;
    if not || matches!(toks[i], Token::End | Token::Comma) {
        return Ok(i);
    }
    let op = &toks[i];
    i += 1;
    match op {
        Token::Ident(w) if w == "in" || w == "notin" => {
            if toks[i] != Token::Open {
                return Err(format!("{} where `(` was expected after `{w}`", toks[i].shown()));
            }
            i += 1;
            let mut values = vec![];
            let mut want_value = true;
            loop {
                match &toks[i] {
                    Token::Close => break,
                    Token::Comma => want_value = true,
                    Token::Ident(v) if want_value => {
                        values.push(v.clone());
                        want_value = false;
                    }
                    t => return Err(format!("{} where a value, `,` or `)` was expected", t.shown())),
                }
                i += 1;
            }
            for v in &values {
                check_value(v)?;
            }
            Ok(i + 1)
        }
        Token::Eq | Token::DoubleEq | Token::NotEq | Token::Gt | Token::Lt => {
            let value = match &toks[i] {
                Token::End | Token::Comma => String::new(),
                Token::Ident(v) => {
                    i += 1;
                    v.clone()
                }
                t => return Err(format!("{} where a value was expected after {}", t.shown(), op.shown())),
            };
            if matches!(op, Token::Gt | Token::Lt) && value.parse::<i64>().is_err() {
                return Err(format!("`{value}` after {} must be a whole number", op.shown()));
            }
            check_value(&value)?;
            Ok(i)
        }
        t => Err(format!("{} after `{key}` where an operator (=, ==, !=, in, notin) was expected", t.shown())),
    }
}

/// A label name or value: alphanumerics first and last, `-_.` between.
fn label_chars(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    s.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.')) && s.starts_with(alnum) && s.ends_with(alnum)
}

/// A label key: `[prefix/]name`, the prefix a DNS-1123 subdomain.
fn check_key(key: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("`{key}` is not a label key: {why}"));
    let (prefix, name) = match key.split('/').collect::<Vec<_>>().as_slice() {
        [name] => (None, *name),
        [prefix, name] => (Some(*prefix), *name),
        _ => return bad("it may have one `/`, between a prefix and the name"),
    };
    if let Some(p) = prefix
        && !dns1123_subdomain(p)
    {
        return bad("its prefix must be a DNS subdomain (lower case, like example.com)");
    }
    if name.is_empty() || name.len() > 63 {
        return bad("its name must be 1 to 63 characters");
    }
    if !label_chars(name) {
        return bad("its name must be letters, digits, `-`, `_` or `.`, beginning and ending with a letter or digit");
    }
    Ok(())
}

fn check_value(value: &str) -> Result<(), String> {
    if value.len() > 63 {
        return Err(format!("`{value}` is not a label value: it is longer than 63 characters"));
    }
    if !value.is_empty() && !label_chars(value) {
        return Err(format!(
            "`{value}` is not a label value: letters, digits, `-`, `_` or `.`, beginning and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
fn dns1123_label(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| alnum(c) || c == '-')
        && s.starts_with(alnum)
        && s.ends_with(alnum)
}

fn dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(dns1123_label)
}

/// Checks a namespace name: a DNS-1123 label.
pub fn check_namespace(ns: &str) -> Result<(), String> {
    if ns.len() > 63 {
        return Err("a namespace name is at most 63 characters".into());
    }
    if !dns1123_label(ns) {
        return Err(
            "a namespace name is lower-case letters, digits and `-`, beginning and ending with a letter or digit"
                .into(),
        );
    }
    Ok(())
}

/// The requirements of a selector, split at the commas between them (not
/// those inside `in (a,b)`), trimmed.
fn terms(selector: &str) -> Vec<&str> {
    let mut terms = vec![];
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(selector[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(selector[start..].trim());
    terms
}

/// `key=value` of an equality requirement (`k=v`, `k==v`); none for the
/// others (`k!=v`, `k in (…)`, `k`, `!k`).
fn equality(term: &str) -> Option<String> {
    let (key, value) = term.split_once("==").or_else(|| term.split_once('='))?;
    let (key, value) = (key.trim(), value.trim());
    let plain = |s: &str| !s.is_empty() && !s.contains(['!', '=', '(', ')', ' ']);
    (plain(key) && (value.is_empty() || plain(value))).then(|| format!("{key}={value}"))
}

/// The selector `selector` is most likely a typo of, given the labels the
/// namespace's pods have on its keys (`app=ledger`, `tier=api`): each
/// equality requirement the pods lack is replaced by the label it is a typo
/// of, the others kept (`app=ledgr,tier=api` → `app=ledger,tier=api`).
/// None when a requirement the pods lack has no near label, or when none
/// was replaced.
pub fn selector_did_you_mean(selector: &str, labels: &[String]) -> Option<String> {
    let mut replaced = false;
    let mut out = vec![];
    for term in terms(selector) {
        match equality(term) {
            Some(label) if labels.contains(&label) => out.push(label),
            Some(label) => {
                out.push(super::did_you_mean(&label, labels)?.to_string());
                replaced = true;
            }
            None => out.push(term.to_string()),
        }
    }
    replaced.then(|| out.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Selectors, each with whether the API server takes it (a cluster
    /// test asks the API server about the same list).
    pub(crate) fn samples() -> impl Iterator<Item = (bool, &'static str)> {
        include_str!("../../tests/data/selectors.txt").lines().filter_map(|l| match l.split_once(' ') {
            Some(("ok", s)) => Some((true, s)),
            Some(("bad", s)) => Some((false, s)),
            _ => None,
        })
    }

    #[test]
    fn selectors_are_checked_as_the_api_server_parses_them() {
        for (ok, s) in samples() {
            assert_eq!(check_selector(s).is_ok(), ok, "{s}: {:?}", check_selector(s));
        }
        let bad = [
            ("app==api key service", "`key` where `,` or the end was expected (a value cannot contain spaces)"),
            ("app=a,", "the end where a label key after `,` was expected"),
            ("app in a", "`a` where `(` was expected after `in`"),
            ("app=-x", "`-x` is not a label value"),
            ("-app=x", "`-app` is not a label key"),
            ("a/b/c=x", "may have one `/`"),
            ("Example.com/app=x", "prefix must be a DNS subdomain"),
            ("!app=x", "`=` where `,` or the end was expected"),
            ("rev>x", "must be a whole number"),
            ("app=x)", "`)` where `,` or the end was expected"),
            ("=x", "`=` where a label key or `!` was expected"),
        ];
        for (s, want) in bad {
            let got = check_selector(s).unwrap_err();
            assert!(got.contains(want), "{s}: {got}");
        }
        assert!(check_selector(&format!("app={}", "v".repeat(64))).unwrap_err().contains("longer than 63"));
    }

    #[test]
    fn a_typo_in_any_term_of_a_selector_gets_the_selector_meant() {
        let labels: Vec<String> = ["app=ledger", "tier=api", "app=ledger-worker"].map(String::from).to_vec();
        let meant = |s: &str| selector_did_you_mean(s, &labels);
        assert_eq!(meant("app=ledgr").as_deref(), Some("app=ledger"));
        assert_eq!(meant("app=ledgr,tier=api").as_deref(), Some("app=ledger,tier=api"));
        assert_eq!(meant("tier=api, app==ledgr").as_deref(), Some("tier=api,app=ledger"));
        assert_eq!(meant("app=ledgr,tier=apj").as_deref(), Some("app=ledger,tier=api"), "each typo");
        assert_eq!(
            meant("app=ledgr,track notin (canary, beta)").as_deref(),
            Some("app=ledger,track notin (canary, beta)")
        );
        // Nothing to say: every term is a label the pods have, or one has no near label.
        assert_eq!(meant("app=ledger,tier=api"), None);
        assert_eq!(meant("app=ledgr,tier=web"), None);
        assert_eq!(meant("app in (ledgr)"), None);
    }

    #[test]
    fn namespaces_are_dns_labels() {
        for ok in ["api", "key-service", "a1", &"n".repeat(63)] {
            assert_eq!(check_namespace(ok), Ok(()), "{ok}");
        }
        for bad in ["API", "key_service", "-api", "api-", "a.b", "key service", &"n".repeat(64)] {
            assert!(check_namespace(bad).is_err(), "{bad}");
        }
    }
}
