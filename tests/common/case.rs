//! One test case against the three-region test environment: a namespace of
//! its own in every region, a healthz stand-in, a runbook (one per user when
//! asked) and the environment's kubeconfig. The cluster tests build every
//! case with [`Case::new`]:
//!
//! ```ignore
//! let c = Case::new("t-crash").scenario("us-east", Scenario::CrashLoop).user("nologs").build();
//! let r = c.line(&["diagnose", "-o", "json"]).run();
//! ```
//!
//! Cases share the regions' processes. A test that stops one (an API
//! server, a kubelet stand-in) builds its case with [`CaseBuilder::exclusive`]:
//! it waits until no other case is alive, and no other case starts until it
//! ends. So does a test that changes a region's telemetry exporter (shared
//! by every case): [`CaseBuilder::exporter`] makes the case exclusive, and the
//! exporter is restored when the case ends.

use std::cell::RefCell;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use keysvc_testenv::{Behavior, Exporter, HealthzServer, REGIONS, Scenario, Telemetry, TestEnv};

use super::{Run, cmd, run_within, runbook_text, write};

/// How long a run of the binary may take before the test fails, unless the
/// test says otherwise.
pub const LIMIT: Duration = Duration::from_secs(40);

/// A case, alive until dropped: the namespace's scenarios stay as set, the
/// healthz stand-in answers, the runbooks exist.
pub struct Case {
    pub env: TestEnv,
    /// Holds the runbooks; tests write more files here.
    pub dir: tempfile::TempDir,
    pub ns: String,
    /// The healthz stand-in (healthy unless the builder said otherwise).
    /// The runbook names it unless [`CaseBuilder::healthz_url`] gave a URL.
    pub healthz: HealthzServer,
    /// The runbook of the case's user.
    pub runbook: PathBuf,
    /// A runbook per user, the case's user first (see [`CaseBuilder::users`]).
    pub runbooks: Vec<(String, PathBuf)>,
    pub kubeconfig: PathBuf,
    /// The pod names per region, in [`REGIONS`] order (empty without scenarios).
    pub pods: Vec<Vec<String>>,
    /// The user of the runbook's contexts (`admin`: the bare region names).
    pub user: String,
    /// The telemetry provider the runbook names, if any.
    pub telemetry: Option<Provider>,
    /// Regions whose exporter the case changed, restored when it ends.
    exporters_changed: ExportersChanged,
    _use: RegionsInUse,
}

/// The telemetry provider of a case's runbook (see [`CaseBuilder::telemetry`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// The environment's Prometheus.
    Prometheus,
    /// The environment's NerdGraph stand-in.
    NewRelic,
}

/// The variable a New Relic runbook reads its API key from; the case's
/// command lines set it to the stand-in's key.
pub const API_KEY_ENV: &str = "NEW_RELIC_API_KEY";

/// The runbook's `telemetry:` block for `provider` in the environment.
pub fn telemetry_block(provider: Provider, t: &Telemetry) -> String {
    match provider {
        Provider::Prometheus => {
            let url = t.prometheus_url().expect("Prometheus (tests/run-all.sh installs it)");
            format!("telemetry:\n  provider: prometheus\n  url: {url}\n")
        }
        Provider::NewRelic => format!(
            "telemetry:\n  provider: newrelic\n  url: {}\n  account_id: {}\n  api_key_env: {API_KEY_ENV}\n",
            t.nerdgraph_url, t.account_id
        ),
    }
}

/// A region's context in the runbook, by region.
type Contexts = Box<dyn Fn(&str) -> String>;

/// What a case is made of; [`CaseBuilder::build`] makes it.
pub struct CaseBuilder {
    ns: String,
    scenarios: Vec<(String, Scenario)>,
    apply: bool,
    users: Vec<String>,
    contexts: Option<Contexts>,
    extra: String,
    healthz: Behavior,
    healthz_url: Option<String>,
    replace: Option<(String, String)>,
    exclusive: bool,
    telemetry: Option<Provider>,
    exporters: Vec<(String, Exporter)>,
}

impl Case {
    /// A case in namespace `ns`, read as `oncall`, every region healthy,
    /// unless the builder says otherwise.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(ns: &str) -> CaseBuilder {
        CaseBuilder {
            ns: ns.to_string(),
            scenarios: vec![],
            apply: true,
            users: vec!["oncall".to_string()],
            contexts: None,
            extra: String::new(),
            healthz: Behavior::Healthy,
            healthz_url: None,
            replace: None,
            exclusive: false,
            telemetry: None,
            exporters: vec![],
        }
    }

    /// The runbook whose contexts are `user`'s.
    pub fn runbook_for(&self, user: &str) -> &Path {
        &self.runbooks.iter().find(|(u, _)| u == user).unwrap_or_else(|| panic!("no runbook for {user}")).1
    }

    /// `keysvc-check BEFORE… --env test [FLAGS…] --runbook RUNBOOK
    /// --kubeconfig KUBECONFIG [AFTER…]`, the case's runbook and kubeconfig
    /// unless changed.
    pub fn line(&self, before: &[&str]) -> Line {
        let mut envs = vec![];
        if self.telemetry == Some(Provider::NewRelic) {
            envs.push((API_KEY_ENV.into(), Some(self.telemetry_env().api_key.clone().into())));
        }
        Line {
            before: before.iter().map(OsString::from).collect(),
            flags: vec![],
            runbook: self.runbook.clone(),
            kubeconfig: Some(self.kubeconfig.clone()),
            after: vec![],
            envs,
        }
    }

    /// The environment's telemetry: URLs, API key, exporters.
    pub fn telemetry_env(&self) -> &Telemetry {
        self.env.telemetry().expect("the test environment's telemetry")
    }

    /// Puts `region`'s exporter into `to` (and waits until Prometheus shows
    /// it); restored when the case ends. The case must be exclusive (see
    /// [`CaseBuilder::exclusive`] or [`CaseBuilder::exporter`]).
    pub fn exporter(&self, region: &str, to: Exporter) {
        assert!(self._use.alone, "a case that changes an exporter is exclusive (CaseBuilder::exclusive)");
        self.exporters_changed.0.borrow_mut().push(region.to_string());
        self.env.set_exporter(region, to).unwrap();
    }

    /// `diagnose -o json` with the case's runbook and kubeconfig, parsed.
    pub fn diagnose_json(&self) -> (Run, serde_json::Value) {
        let r = self.line(&["diagnose", "-o", "json"]).run();
        let j = r.json();
        (r, j)
    }

    /// Gives every pod of every region the same log spec.
    pub fn all_logs(&self, spec: &keysvc_testenv::LogSpec) {
        for (i, name) in REGIONS.iter().enumerate() {
            for pod in &self.pods[i] {
                self.env.set_logs(name, &self.ns, pod, spec).unwrap();
            }
        }
    }
}

impl CaseBuilder {
    /// Puts `region` into `scenario` (the regions not named are healthy).
    pub fn scenario(mut self, region: &str, scenario: Scenario) -> Self {
        self.scenarios.push((region.to_string(), scenario));
        self
    }

    pub fn scenarios(mut self, set: &[(&str, Scenario)]) -> Self {
        for (region, scenario) in set {
            self = self.scenario(region, *scenario);
        }
        self
    }

    /// Sets no scenario: the test puts its own pods in the namespace.
    pub fn no_scenarios(mut self) -> Self {
        self.apply = false;
        self
    }

    /// The runbook's contexts are `{user}@{region}` (`admin`: `{region}`).
    pub fn user(mut self, user: &str) -> Self {
        self.users[0] = user.to_string();
        self
    }

    /// A runbook for each of `users` (the first is the case's user).
    pub fn users(mut self, users: &[&str]) -> Self {
        self.users = users.iter().map(|u| u.to_string()).collect();
        self
    }

    /// The runbook's contexts are `contexts(region)`.
    pub fn contexts(mut self, contexts: impl Fn(&str) -> String + 'static) -> Self {
        self.contexts = Some(Box::new(contexts));
        self
    }

    /// Runbook keys before `environments:` (e.g. a `logs:` section).
    pub fn extra(mut self, extra: &str) -> Self {
        self.extra = extra.to_string();
        self
    }

    /// The runbook names `url` as the healthz URL instead of the stand-in.
    pub fn healthz_url(mut self, url: &str) -> Self {
        self.healthz_url = Some(url.to_string());
        self
    }

    /// The runbook text with the first `from` replaced by `to` (it must be there).
    pub fn replace(mut self, from: &str, to: &str) -> Self {
        self.replace = Some((from.to_string(), to.to_string()));
        self
    }

    /// The runbook has a `telemetry:` block naming the environment's
    /// `provider`; with [`Provider::NewRelic`], the case's command lines set
    /// [`API_KEY_ENV`] to the stand-in's key.
    pub fn telemetry(mut self, provider: Provider) -> Self {
        self.telemetry = Some(provider);
        self
    }

    /// Puts `region`'s telemetry exporter into `to` for the case's life
    /// (restored when it ends); the case is exclusive.
    pub fn exporter(mut self, region: &str, to: Exporter) -> Self {
        self.exporters.push((region.to_string(), to));
        self.exclusive = true;
        self
    }

    /// The case stops a region's processes: no other case is alive meanwhile.
    pub fn exclusive(mut self) -> Self {
        self.exclusive = true;
        self
    }

    pub fn build(self) -> Case {
        let in_use = if self.exclusive { RegionsInUse::alone() } else { RegionsInUse::shared() };
        let env = TestEnv::load().expect("the test cluster (tests/run-all.sh)");
        let set: Vec<(&str, Scenario)> = self.scenarios.iter().map(|(r, s)| (r.as_str(), *s)).collect();
        let pods = if self.apply { env.scenarios(&self.ns, &set).unwrap() } else { vec![] };
        let mut extra = self.extra.clone();
        if let Some(p) = self.telemetry {
            extra.push_str(&telemetry_block(p, env.telemetry().expect("the test environment's telemetry")));
        }
        let healthz = HealthzServer::start(self.healthz);
        let url = self.healthz_url.clone().unwrap_or_else(|| healthz.url.clone());
        let dir = tempfile::tempdir().unwrap();
        let runbooks: Vec<(String, PathBuf)> = self
            .users
            .iter()
            .map(|user| {
                let ctx = |r: &str| match &self.contexts {
                    Some(f) => f(r),
                    None if user == "admin" => r.to_string(),
                    None => format!("{user}@{r}"),
                };
                let mut text = runbook_text(&self.ns, &url, &ctx, &extra);
                if let Some((from, to)) = &self.replace {
                    assert!(text.contains(from.as_str()), "{from} not in {text}");
                    text = text.replacen(from.as_str(), to, 1);
                }
                let name = if self.users.len() == 1 { "runbook.yaml".to_string() } else { format!("{user}.yaml") };
                (user.clone(), write(dir.path(), &name, &text))
            })
            .collect();
        let kubeconfig = env.kubeconfig().to_path_buf();
        // Restored even if setting one fails.
        let exporters_changed = ExportersChanged(RefCell::new(self.exporters.iter().map(|(r, _)| r.clone()).collect()));
        for (region, to) in &self.exporters {
            env.set_exporter(region, *to).unwrap();
        }
        Case {
            env,
            dir,
            ns: self.ns,
            healthz,
            runbook: runbooks[0].1.clone(),
            runbooks,
            kubeconfig,
            pods,
            user: self.users[0].clone(),
            telemetry: self.telemetry,
            exporters_changed,
            _use: in_use,
        }
    }
}

/// The regions whose exporter a case changed. Dropped before the case's
/// hold on the regions, it restores them while the case is still alone.
struct ExportersChanged(RefCell<Vec<String>>);

impl Drop for ExportersChanged {
    fn drop(&mut self) {
        let mut changed = self.0.take();
        if changed.is_empty() {
            return;
        }
        changed.sort();
        changed.dedup();
        let env = TestEnv::load().expect("the test cluster (tests/run-all.sh)");
        for region in changed {
            if let Err(e) = env.set_exporter(&region, Exporter::Up) {
                // Not a panic while unwinding: the next case would fail on it.
                eprintln!("restoring the {region} exporter: {e:#}");
            }
        }
    }
}

/// A command line against a case; see [`Case::line`].
pub struct Line {
    before: Vec<OsString>,
    flags: Vec<OsString>,
    runbook: PathBuf,
    kubeconfig: Option<PathBuf>,
    after: Vec<OsString>,
    /// Variables set (`Some`) or removed (`None`) for the run.
    envs: Vec<(OsString, Option<OsString>)>,
}

impl Line {
    /// Flags between `--env test` and `--runbook`.
    pub fn flags(mut self, flags: &[&str]) -> Self {
        self.flags.extend(flags.iter().map(OsString::from));
        self
    }

    /// Arguments after `--kubeconfig`.
    pub fn after(mut self, after: &[&str]) -> Self {
        self.after.extend(after.iter().map(OsString::from));
        self
    }

    pub fn runbook(mut self, runbook: &Path) -> Self {
        self.runbook = runbook.to_path_buf();
        self
    }

    pub fn kubeconfig(mut self, kubeconfig: &Path) -> Self {
        self.kubeconfig = Some(kubeconfig.to_path_buf());
        self
    }

    /// Sets a variable for the run.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.envs.push((key.into(), Some(value.into())));
        self
    }

    /// Runs without the variable (e.g. [`API_KEY_ENV`], which a New Relic case sets).
    pub fn env_remove(mut self, key: &str) -> Self {
        self.envs.push((key.into(), None));
        self
    }

    /// No `--kubeconfig` (e.g. as in a pod, with its service account).
    pub fn no_kubeconfig(mut self) -> Self {
        self.kubeconfig = None;
        self
    }

    /// The words after the program's name.
    pub fn words(&self) -> Vec<String> {
        let mut w: Vec<OsString> = self.before.clone();
        w.extend(["--env".into(), "test".into()]);
        w.extend(self.flags.iter().cloned());
        w.extend(["--runbook".into(), self.runbook.clone().into_os_string()]);
        if let Some(k) = &self.kubeconfig {
            w.extend(["--kubeconfig".into(), k.clone().into_os_string()]);
        }
        w.extend(self.after.iter().cloned());
        w.into_iter().map(|s| s.to_string_lossy().into_owned()).collect()
    }

    /// The binary (see [`cmd`]) with these words.
    pub fn command(&self) -> Command {
        let mut c = cmd();
        c.args(self.words());
        for (k, v) in &self.envs {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        c
    }

    /// Runs it within [`LIMIT`].
    pub fn run(&self) -> Run {
        self.run_within(LIMIT)
    }

    pub fn run_within(&self, limit: Duration) -> Run {
        run_within(self.command(), limit)
    }
}

/// The regions' processes as used by the live cases: by any number of
/// cases, or by one alone.
#[derive(Default)]
struct InUse {
    shared: usize,
    alone: bool,
    waiting_alone: usize,
}

static IN_USE: Mutex<InUse> = Mutex::new(InUse { shared: 0, alone: false, waiting_alone: 0 });
static CHANGED: Condvar = Condvar::new();

thread_local! {
    /// Shared uses held by this test's thread: a second case in one test
    /// never waits for a case that waits for the first.
    static HELD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

struct RegionsInUse {
    alone: bool,
}

impl RegionsInUse {
    fn lock() -> std::sync::MutexGuard<'static, InUse> {
        IN_USE.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn shared() -> RegionsInUse {
        let mut u = Self::lock();
        let held = HELD.get();
        while u.alone || (u.waiting_alone > 0 && held == 0) {
            u = CHANGED.wait(u).unwrap_or_else(|e| e.into_inner());
        }
        u.shared += 1;
        HELD.set(held + 1);
        RegionsInUse { alone: false }
    }

    fn alone() -> RegionsInUse {
        assert_eq!(HELD.get(), 0, "an exclusive case is the test's only case");
        let mut u = Self::lock();
        u.waiting_alone += 1;
        while u.alone || u.shared > 0 {
            u = CHANGED.wait(u).unwrap_or_else(|e| e.into_inner());
        }
        u.waiting_alone -= 1;
        u.alone = true;
        RegionsInUse { alone: true }
    }
}

impl Drop for RegionsInUse {
    fn drop(&mut self) {
        let mut u = Self::lock();
        if self.alone {
            u.alone = false;
        } else {
            u.shared -= 1;
            HELD.set(HELD.get().saturating_sub(1));
        }
        CHANGED.notify_all();
    }
}
