//! Next steps: one thing to do, and the command to paste when there is one.
//! A command is kept as its words, unquoted, with whether running it changes
//! the cluster (decided where it is built); it is quoted once, where it is
//! shown. In the JSON it is the quoted command line, as a shell takes it.

use serde::{Serialize, Serializer};

/// One thing to do, with the command to paste when there is one.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NextStep {
    pub region: Option<String>,
    pub text: String,
    #[serde(serialize_with = "quoted")]
    pub command: Option<StepCommand>,
}

/// A suggested command: its words as the program gets them, and whether it
/// changes the cluster (a rollback, a scale) rather than only reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepCommand {
    pub argv: Vec<String>,
    pub changes_cluster: bool,
}

impl StepCommand {
    /// A command that only reads (or runs this tool again).
    pub fn reads<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> StepCommand {
        StepCommand { argv: argv.into_iter().map(Into::into).collect(), changes_cluster: false }
    }

    /// A command that changes the cluster: suggested, never run by the tool.
    pub fn changes<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> StepCommand {
        StepCommand { argv: argv.into_iter().map(Into::into).collect(), changes_cluster: true }
    }

    /// The command line, quoted for a POSIX shell.
    pub fn quoted(&self) -> String {
        crate::shell::shell_join(&self.argv)
    }
}

/// The JSON's `command`: the quoted command line (the schema's string).
fn quoted<S: Serializer>(c: &Option<StepCommand>, s: S) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => s.serialize_some(&c.quoted()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_keeps_the_quoted_command_line_and_an_environment_word_as_the_shell_takes_it() {
        let url = crate::shell::env_word("KEYSVC_HEALTHZ_URL", "set it");
        let step = NextStep {
            region: None,
            text: "what answers".into(),
            command: Some(StepCommand::reads(["curl", "-sS", url.as_str(), "/tmp/a b"])),
        };
        let json = serde_json::to_value(&step).unwrap();
        assert_eq!(json["command"], r#"curl -sS "${KEYSVC_HEALTHZ_URL:?set it}" '/tmp/a b'"#);
        assert_eq!(json.as_object().unwrap().len(), 3, "no field but region, text and command: {json}");
        let none = NextStep { command: None, ..step };
        assert_eq!(serde_json::to_value(&none).unwrap()["command"], serde_json::Value::Null);
    }
}
