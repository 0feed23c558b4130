//! POSIX shell quoting for the commands the tool suggests: each word quoted
//! once, when it needs it, where the command is shown.

/// Words joined into one POSIX shell command line, each quoted when it needs it.
pub fn shell_join<S: AsRef<str>>(words: &[S]) -> String {
    words.iter().map(|w| shell_word(w.as_ref())).collect::<Vec<_>>().join(" ")
}

/// A word that the shell takes from the environment variable `var`, for a
/// value the command needs but the screen must not show (a URL with
/// credentials). Pasted with `var` unset, the shell stops and prints `hint`
/// instead of running the command with an empty value. Kept as a word
/// ([`shell_word`] prints it unquoted): it starts with a NUL byte, which no
/// real argument can hold.
pub fn env_word(var: &str, hint: &str) -> String {
    env_word_after("", var, hint)
}

/// As [`env_word`], after the fixed text `prefix` in the same word: a
/// header whose value is a secret (`"API-Key: ${NEW_RELIC_API_KEY:?…}"`).
pub fn env_word_after(prefix: &str, var: &str, hint: &str) -> String {
    let hint: String = hint.chars().filter(|c| c.is_ascii_alphanumeric() || " ,.-_'()".contains(*c)).collect();
    let prefix: String = prefix.chars().filter(|c| c.is_ascii_alphanumeric() || " :-_".contains(*c)).collect();
    let var: String = var.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    format!("\0\"{prefix}${{{var}:?{hint}}}\"")
}

/// `s` quoted for a POSIX shell when it needs it. A NUL byte cannot be
/// passed in an argument at all; it is dropped (but see [`env_word`]).
pub fn shell_word(s: &str) -> String {
    if let Some(word) = s.strip_prefix('\0')
        && word.starts_with('"')
        && word.contains("${")
    {
        return word.to_string();
    }
    let s = s.replace('\0', "");
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c)) {
        return s;
    }
    match shlex::try_quote(&s) {
        Ok(q) => q.into_owned(),
        Err(_) => format!("'{}'", s.replace('\'', "'\\''")),
    }
}
