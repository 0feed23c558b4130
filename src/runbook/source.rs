//! Where the runbook comes from: the embedded key-service runbook, a file
//! named by `--runbook` or `KEYSVC_RUNBOOK`, or the user's config file, and
//! reading it (size limit, UTF-8, an error that says what named the file).

use std::path::{Path, PathBuf};

use super::RunbookError;

/// The key-service runbook shipped in the binary.
pub const EMBEDDED: &str = include_str!("../../runbooks/key-service.yaml");
/// What `--runbook` shows as the source of the embedded runbook.
pub const EMBEDDED_NAME: &str = "<embedded runbooks/key-service.yaml>";
/// Larger runbook files are refused before parsing.
pub const MAX_RUNBOOK_BYTES: u64 = 1024 * 1024;

/// Where a runbook came from, for messages.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

impl Source {
    pub fn embedded() -> Source {
        Source { name: EMBEDDED_NAME.into(), text: EMBEDDED.into() }
    }

    pub fn read(path: &Path) -> Result<Source, RunbookError> {
        Source::read_from(path, None)
    }

    /// [`Source::read`], an error saying what named the file.
    fn read_from(path: &Path, origin: Option<Origin>) -> Result<Source, RunbookError> {
        let name = path.display().to_string();
        let failed = |error| RunbookError::Read { path: name.clone(), origin, error };
        let meta = std::fs::metadata(path).map_err(failed)?;
        if meta.is_dir() {
            return Err(failed(std::io::Error::new(std::io::ErrorKind::IsADirectory, "it is a directory")));
        }
        if meta.len() > MAX_RUNBOOK_BYTES {
            return Err(RunbookError::TooLarge { path: name, size: meta.len() });
        }
        let bytes = std::fs::read(path).map_err(failed)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| failed(std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is not UTF-8 text")))?;
        Ok(Source { name, text })
    }

    /// The runbook in effect: `flag` (from `--runbook` or `KEYSVC_RUNBOOK`),
    /// else the user's config file when it exists, else the embedded one.
    pub fn load(flag: Option<&PathBuf>) -> Result<Source, RunbookError> {
        Source::find(flag).map(|(src, _)| src)
    }

    /// [`Source::load`], saying where the runbook came from.
    pub fn find(flag: Option<&PathBuf>) -> Result<(Source, Origin), RunbookError> {
        if let Some(p) = flag {
            // Clap fills `--runbook` from KEYSVC_RUNBOOK too; the same value
            // in the variable means it most likely came from there.
            let origin =
                if std::env::var_os("KEYSVC_RUNBOOK").is_some_and(|v| v == p.as_os_str()) && !flag_on_command_line() {
                    Origin::EnvVar
                } else {
                    Origin::Flag
                };
            return Ok((Source::read_from(p, Some(origin))?, origin));
        }
        if let Some(p) = config_path() {
            match std::fs::metadata(&p) {
                Ok(_) => return Ok((Source::read_from(&p, Some(Origin::ConfigFile))?, Origin::ConfigFile)),
                // Only a file that is not there falls through: an unreadable
                // one is an error, not a silent switch to the embedded runbook.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(RunbookError::Read {
                        path: p.display().to_string(),
                        origin: Some(Origin::ConfigFile),
                        error,
                    });
                }
            }
        }
        Ok((Source::embedded(), Origin::Embedded))
    }
}

/// `--runbook` is on the command line (clap fills it from KEYSVC_RUNBOOK
/// too, so its value alone does not say which named the file).
fn flag_on_command_line() -> bool {
    std::env::args_os().skip(1).any(|a| a == "--runbook" || a.to_string_lossy().starts_with("--runbook="))
}

/// "cannot read the runbook rb.yaml (from --runbook, relative to /home/me):
/// no such file; …": which file, what named it, why, and what to do.
pub(super) fn read_message(path: &str, origin: Option<Origin>, error: &std::io::Error) -> String {
    let relative = Path::new(path).is_relative();
    let cwd = std::env::current_dir().ok().filter(|_| relative);
    let mut from = match origin {
        Some(Origin::Flag) => vec!["from --runbook".to_string()],
        Some(Origin::EnvVar) => vec!["from KEYSVC_RUNBOOK".to_string()],
        Some(Origin::ConfigFile) => vec!["the config file".to_string()],
        Some(Origin::Embedded) | None => vec![],
    };
    if let Some(d) = cwd {
        from.push(format!("relative to {}", d.display()));
    }
    let from = if from.is_empty() { String::new() } else { format!(" ({})", from.join(", ")) };
    let why = match error.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        // The words are ours ("it is a directory", "not UTF-8 text").
        std::io::ErrorKind::IsADirectory | std::io::ErrorKind::InvalidData => error.to_string(),
        _ => {
            let text = error.to_string();
            // "Not a directory (os error 20)": the OS's words without the number.
            text.split(" (os error").next().unwrap_or(&text).to_lowercase()
        }
    };
    let fix = match (origin, error.kind()) {
        // The path is right: the file is there, this user may not read it.
        (_, std::io::ErrorKind::PermissionDenied) => {
            return format!(
                "cannot read the runbook {path}{from}: permission denied on {path}; \
                 get read access to it (and its directories) or use a copy you may read"
            );
        }
        (Some(Origin::EnvVar), _) => {
            "point KEYSVC_RUNBOOK at a runbook file, or unset it to use the config file or the embedded runbook"
        }
        (Some(Origin::ConfigFile), std::io::ErrorKind::NotFound) => "write one with `keysvc-check runbook init`",
        (Some(Origin::ConfigFile), _) => "fix the file (or its permissions), or remove it to use the embedded runbook",
        (Some(Origin::Flag), _) => "pass --runbook the path of a runbook file",
        _ => "give the path of a runbook file",
    };
    format!("cannot read the runbook {path}{from}: {why}; {fix}")
}

/// Where the runbook in effect was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Flag,
    EnvVar,
    ConfigFile,
    Embedded,
}

impl Origin {
    /// The runbook's name with where it came from, for reports and `runbook show`.
    pub fn describe(self, src: &Source) -> String {
        match self {
            Origin::Flag => format!("{} (--runbook)", src.name),
            Origin::EnvVar => format!("{} (KEYSVC_RUNBOOK)", src.name),
            Origin::ConfigFile => format!("{} (config file)", src.name),
            Origin::Embedded => src.name.clone(),
        }
    }
}

/// The user's runbook file: `$XDG_CONFIG_HOME/keysvc-check/runbook.yaml`, or
/// `~/.config/keysvc-check/runbook.yaml` when XDG_CONFIG_HOME is unset, empty
/// or relative (the XDG spec says to ignore a relative one).
pub fn config_path() -> Option<PathBuf> {
    config_path_from(std::env::var_os("XDG_CONFIG_HOME"), std::env::var_os("HOME"))
}

fn config_path_from(xdg: Option<std::ffi::OsString>, home: Option<std::ffi::OsString>) -> Option<PathBuf> {
    let base = match xdg.map(PathBuf::from) {
        Some(x) if x.is_absolute() => x,
        _ => PathBuf::from(home.filter(|h| !h.is_empty())?).join(".config"),
    };
    Some(base.join("keysvc-check").join("runbook.yaml"))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::{Origin, config_path_from, read_message};

    #[test]
    fn a_runbook_this_user_may_not_read_is_said_to_be_so() {
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        for origin in [Some(Origin::Flag), Some(Origin::EnvVar), Some(Origin::ConfigFile), None] {
            let m = read_message("/etc/rb.yaml", origin, &denied);
            assert!(m.contains(": permission denied on /etc/rb.yaml; get read access to it"), "{m}");
            assert!(!m.contains("path of a runbook file") && !m.contains("remove it"), "{m}");
        }
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let m = read_message("/etc/rb.yaml", Some(Origin::Flag), &missing);
        assert!(m.ends_with(": no such file; pass --runbook the path of a runbook file"), "{m}");
    }

    #[test]
    fn config_path_follows_xdg_then_home() {
        let p = |x: Option<&str>, h: Option<&str>| config_path_from(x.map(Into::into), h.map(Into::into));
        assert_eq!(p(Some("/x"), Some("/h")), Some(PathBuf::from("/x/keysvc-check/runbook.yaml")));
        assert_eq!(p(Some(""), Some("/h")), Some(PathBuf::from("/h/.config/keysvc-check/runbook.yaml")));
        assert_eq!(p(None, Some("/h")), Some(PathBuf::from("/h/.config/keysvc-check/runbook.yaml")));
        assert_eq!(p(Some("relative"), Some("/h")), Some(PathBuf::from("/h/.config/keysvc-check/runbook.yaml")));
        assert_eq!(p(None, None), None);
    }
}
