//! keysvc-check in a real terminal: a detached tmux session of a given size
//! (tmux is the Debian package `tmux`; tests/run-all.sh installs it).
//! The binary runs from a script typed into the pane's shell, between two
//! markers, and its screen is read back with `capture-pane`.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Tmux {
    dir: tempfile::TempDir,
    socket: PathBuf,
    runs: usize,
}

/// What the terminal showed for one run.
pub struct Screen {
    /// The lines between the markers, wrapped lines joined (`capture-pane -J`):
    /// a line wider than the terminal shows as one long line.
    pub lines: Vec<String>,
    /// The same with colour escapes (`capture-pane -e`).
    pub escaped: String,
    pub code: i32,
}

impl Screen {
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

impl Tmux {
    /// A session `width` columns wide (50 rows) with a plain `sh`, started
    /// with an environment of its own so nothing of the test's leaks in.
    pub fn start(width: u16) -> Tmux {
        Tmux::start_sized(width, 50)
    }

    /// [`Tmux::start`] with `height` rows.
    pub fn start_sized(width: u16, height: u16) -> Tmux {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("tmux.sock");
        let tmux = Tmux { dir, socket, runs: 0 };
        let ok = tmux
            .command()
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", tmux.dir.path())
            .env("TERM", "xterm-256color")
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                "sh",
            ])
            .status()
            .unwrap_or_else(|e| panic!("tmux: {e} (install the Debian package tmux; tests/run-all.sh does)"))
            .success();
        assert!(ok, "tmux new-session failed");
        tmux
    }

    /// From now on, every byte the pane's programs write (escape sequences
    /// included, before the terminal interprets them) is appended to the
    /// file returned.
    pub fn record_raw(&self) -> PathBuf {
        let path = self.dir.path().join("raw.log");
        let pipe = format!("cat >> {}", keysvc_check::shell::shell_word(&path.display().to_string()));
        let ok = self.command().args(["pipe-pane", "-o", "-t", "t", &pipe]).status().unwrap().success();
        assert!(ok, "tmux pipe-pane failed");
        path
    }

    fn command(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket).stdin(Stdio::null());
        c
    }

    fn capture(&self, colour: bool) -> String {
        let mut c = self.command();
        c.args(["capture-pane", "-p", "-J", "-S", "-", "-t", "t"]);
        if colour {
            c.arg("-e");
        }
        let out = c.output().expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types a script running `words` with `env` set into the pane's shell,
    /// between two markers, and returns them (begin, end); the end marker
    /// is followed by the exit code. The script's shell traps Ctrl-C (the
    /// command gets the default handling) so that it still prints the end
    /// marker when Ctrl-C ends the command.
    fn start_script(&mut self, env: &[(&str, &str)], words: &[String]) -> (String, String) {
        self.runs += 1;
        let n = self.runs;
        let mut script = String::from("unset COLUMNS NO_COLOR KUBECONFIG\ntrap 'true' INT\n");
        for (k, v) in env {
            script.push_str(&format!("export {k}={}\n", keysvc_check::shell::shell_word(v)));
        }
        // Markers of this run only: the pane's history holds the runs before.
        let (begin, end) = markers(n);
        script.push_str(&format!("printf '\\n%s\\n' {begin}\n"));
        script.push_str(&keysvc_check::shell::shell_join(words));
        script.push_str(&format!("\nprintf '%s %s\\n' {end} \"$?\"\n"));
        let path = self.dir.path().join(format!("run{n}.sh"));
        std::fs::write(&path, script).unwrap();
        self.send_keys(&[&format!("sh {}", path.display()), "Enter"]);
        (begin, end)
    }

    /// Whether the pane's terminal has `flag` set in its modes now
    /// (`stty -a` of its tty: `noflsh`, not `-noflsh`).
    pub fn tty_flag(&self, flag: &str) -> bool {
        let out = self.command().args(["display-message", "-p", "-t", "t", "#{pane_tty}"]).output().unwrap();
        let tty = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let out = Command::new("stty").args(["-a", "-F", &tty]).output().expect("stty");
        assert!(out.status.success(), "stty -a -F {tty}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).split_whitespace().any(|w| w == flag)
    }

    /// Sends keys to the pane (`send-keys`), e.g. `["C-c"]`.
    pub fn send_keys(&self, keys: &[&str]) {
        let ok = self.command().args(["send-keys", "-t", "t"]).args(keys).status().unwrap().success();
        assert!(ok, "tmux send-keys failed");
    }

    /// Starts `words` in the pane and returns at once; read the screen with
    /// [`Tmux::visible`] and wait for the end with [`Tmux::wait_end`].
    pub fn spawn(&mut self, env: &[(&str, &str)], words: &[String]) -> String {
        self.start_script(env, words).1
    }

    /// The visible screen only (no history), one string per row, wrapped
    /// lines joined.
    pub fn visible(&self) -> Vec<String> {
        let out = self.command().args(["capture-pane", "-p", "-J", "-t", "t"]).output().expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim_end().to_string()).collect()
    }

    /// Polls until the end marker `end` (from [`Tmux::spawn`]) shows, up to
    /// `limit`, and returns the exit code after it.
    pub fn wait_end(&self, end: &str, limit: Duration) -> i32 {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.capture(false);
            // The terminal echoes Ctrl-C as `^C` before the marker.
            if let Some(code) = text.lines().find_map(|l| l.split_once(end).map(|(_, code)| code)) {
                return code.trim().parse().expect("exit code after the end marker");
            }
            assert!(Instant::now() < deadline, "no end marker after {limit:?}; the screen:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts `words` in the pane without waiting; returns the run's number
    /// for [`Tmux::showing`] and [`Tmux::wait`].
    pub fn start_run(&mut self, env: &[(&str, &str)], words: &[String]) -> usize {
        self.start_script(env, words);
        self.runs
    }

    /// What run `n` shows on the screen now (it may still be running).
    pub fn showing(&self, n: usize) -> Vec<String> {
        let (begin, end) = markers(n);
        between(&self.capture(false), &begin, &end)
    }

    /// Runs `words` (quoted for the shell here) with `env` set, in the pane,
    /// and returns what it printed once it has ended (polled, up to 60 s).
    pub fn run(&mut self, env: &[(&str, &str)], words: &[String]) -> Screen {
        let n = self.start_run(env, words);
        self.wait(n)
    }

    /// Waits for run `n` to end (polled, up to 60 s) and returns what it printed.
    pub fn wait(&self, n: usize) -> Screen {
        let (begin, end) = markers(n);
        let deadline = Instant::now() + Duration::from_secs(60);
        let text = loop {
            let text = self.capture(false);
            // The terminal echoes Ctrl-C as `^C` before the marker.
            if text.lines().any(|l| l.contains(&end)) {
                break text;
            }
            assert!(Instant::now() < deadline, "no end marker after 60 s; the screen:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        };
        let code = text
            .lines()
            .find_map(|l| l.split_once(&end).map(|(_, code)| code))
            .and_then(|c| c.trim().parse().ok())
            .expect("exit code after the end marker");
        let escaped = between(&self.capture(true), &begin, &end).join("\n");
        Screen { lines: between(&text, &begin, &end), escaped, code }
    }
}

fn markers(n: usize) -> (String, String) {
    (format!("---BEGIN-{n}---"), format!("---END-{n}---"))
}

/// The lines of `t` between the markers.
fn between(t: &str, begin: &str, end: &str) -> Vec<String> {
    t.lines()
        .skip_while(|l| !l.ends_with(begin))
        .skip(1)
        .take_while(|l| !l.contains(end))
        .map(|l| l.trim_end().to_string())
        .collect()
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").stderr(Stdio::null()).status();
    }
}
