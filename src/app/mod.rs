//! The top-level flow: load the runbook, build the plan, dispatch the
//! command, write the output through one writer.

pub mod watch;

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::cli::{Cli, ColorArg, Command, DiagnoseArgs, LogsArgs, OutputArg, RunbookCommand, Target, UntilArg};
use crate::error;
use crate::execute;
use crate::plan::{ContextFrom, LogOptions, Output, PeerPlan, Placeholder, Plan, RegionPlan, Rerun, Steps};
use crate::render;
use crate::render::{Layout, View};
use crate::runbook::{self, Runbook, Source};

/// A bad flag or value: exit 64.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A hint line for errors we know the fix of. `runbook validate` prints its
/// own problems and hints, so this is for the other commands only.
pub fn hint(err: &anyhow::Error) -> Option<String> {
    if let Some(runbook::RunbookError::Invalid { path, hint, .. }) = err.downcast_ref::<runbook::RunbookError>() {
        let all = format!(
            "`keysvc-check runbook validate {}` lists every problem in the file",
            crate::plan::shell_word(&if path.starts_with('<') {
                path.clone()
            } else {
                crate::plan::absolute(std::path::Path::new(path))
            })
        );
        return Some(match hint {
            Some(h) => format!("{h}\nhint: {all}"),
            None => all,
        });
    }
    None
}

pub async fn run(cli: Cli) -> Result<u8> {
    let g = &cli.global;
    match &cli.command {
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            crate::complete::registration(*shell, &mut buf)?;
            return write_out(&buf);
        }
        Command::Man => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::shown()).render(&mut buf)?;
            return write_out(&buf);
        }
        Command::Runbook(RunbookCommand::Show { env }) => return runbook_show(g, env.as_deref()),
        Command::Runbook(RunbookCommand::Validate { file }) => return runbook_validate(file.as_ref(), g),
        Command::Runbook(RunbookCommand::Init { path, force }) => return runbook_init(path.as_ref(), *force),
        _ => {}
    }
    let (src, origin) = Source::find(g.runbook.as_ref())?;
    let rb = runbook::parse(&src)?;
    if let Command::Doctor(target) = &cli.command {
        return doctor(&cli, rb, src.name, target).await;
    }
    let (target, steps, logs_args, verb) = match &cli.command {
        Command::Diagnose(d) => {
            (&d.target, Steps { healthz: true, pods: true, logs: true, evidence: true }, None, "diagnose")
        }
        Command::Healthz(t) => (t, Steps { healthz: true, pods: false, logs: false, evidence: false }, None, "healthz"),
        Command::Pods(t) => (t, Steps { healthz: false, pods: true, logs: false, evidence: false }, None, "pods"),
        Command::Logs(a) => {
            (&a.target, Steps { healthz: false, pods: true, logs: true, evidence: false }, Some(a), "logs")
        }
        Command::Completions { .. } | Command::Man | Command::Runbook(_) | Command::Doctor(_) => {
            unreachable!("handled above")
        }
    };
    let plan = build_plan(&cli, rb, origin.describe(&src), target, steps, logs_args, verb)?;
    let plan = Arc::new(plan);
    if let Command::Diagnose(DiagnoseArgs { watch: Some(interval), until, .. }) = &cli.command {
        return watch(plan, *interval, *until).await;
    }
    let live = start_progress(&plan, g);
    let sink = live.as_ref().map_or_else(crate::execute::progress::Sink::none, |l| l.sink());
    let color = plan.color;
    let mut stdout = std::io::stdout();
    let mut print = |line: &crate::evidence::region::LogLine| render::table::log_line(line, color, &mut stdout);
    let outcome = check(plan.clone(), sink, Some(&mut print)).await;
    let _ = std::io::stdout().flush();
    if let Some(live) = live {
        live.finish().await;
    }
    let outcome = outcome?;
    let view = match &cli.command {
        Command::Healthz(_) => View::Healthz,
        Command::Pods(_) => View::Pods,
        Command::Logs(_) => View::Logs,
        _ => View::Diagnose,
    };
    let report = &outcome.report;
    let layout = Layout { color: plan.color, width: output_width() };
    let mut buf = Vec::new();
    match plan.output {
        Output::Json => render::json::render(report, &mut buf)?,
        Output::Markdown => render::markdown::render(
            report,
            view,
            &user_command(std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned())),
            &mut buf,
        )?,
        Output::Table if plan.quiet => render::table::verdict_line(report, layout, &mut buf)?,
        Output::Table => match view {
            View::Healthz => render::table::healthz(report, layout, &mut buf)?,
            View::Pods => render::table::pods(report, layout, &mut buf)?,
            View::Logs => render::table::logs(report, layout, &mut buf)?,
            View::Diagnose => render::table::diagnose(report, layout, &mut buf)?,
        },
    }
    write_out(&buf)?;
    if outcome.interrupted {
        return Ok(error::INTERRUPTED);
    }
    Ok(error::for_report(&outcome.report))
}

/// Gathers the facts of `plan`, judges them and words the advice: the one
/// way a run goes, facts → judgement → advice.
pub async fn check(
    plan: Arc<Plan>,
    progress: execute::progress::Sink,
    lines: Option<execute::LineSink<'_>>,
) -> Result<execute::Outcome> {
    let mut outcome = execute::execute(plan.clone(), progress, lines).await?;
    crate::judge::run(&plan, &mut outcome.report);
    crate::advice::advise(&plan, &mut outcome.report);
    Ok(outcome)
}

/// `diagnose --watch`: the screen redrawn on a terminal, a line per run on
/// a pipe or with `-q`, JSON Lines with `-o json`.
async fn watch(plan: Arc<Plan>, interval: std::time::Duration, until: Option<UntilArg>) -> Result<u8> {
    let form = match plan.output {
        Output::Json => crate::app::watch::Form::Json,
        Output::Table if !plan.quiet && std::io::stdout().is_terminal() => {
            crate::app::watch::Form::Screen { color: plan.color, size: screen_size }
        }
        Output::Table => crate::app::watch::Form::Lines,
        Output::Markdown => {
            return Err(UsageError(
                "--watch shows a table or, with -o json, JSON Lines; -o markdown is one report to paste".into(),
            )
            .into());
        }
    };
    let until = until.map(|u| match u {
        UntilArg::Healthy => crate::app::watch::Until::Healthy,
        UntilArg::NotDown => crate::app::watch::Until::NotDown,
    });
    crate::app::watch::run(plan, crate::app::watch::Options { interval, until, form }).await
}

/// `doctor`: the plan of a full run, whose contexts, permissions and URLs
/// are checked instead of used. Exit 0 when every required check passed.
async fn doctor(cli: &Cli, rb: Runbook, runbook_name: String, target: &Target) -> Result<u8> {
    let g = &cli.global;
    let steps = Steps { healthz: true, pods: true, logs: true, evidence: true };
    let plan = Arc::new(build_plan(cli, rb, runbook_name.clone(), target, steps, None, "doctor")?);
    let flag_given = std::env::args_os().any(|a| a == "--runbook" || a.to_string_lossy().starts_with("--runbook="));
    let env_runbook = std::env::var_os("KEYSVC_RUNBOOK");
    let info = crate::doctor::RunbookInfo::new(g.runbook.as_deref(), runbook_name, env_runbook.as_deref(), flag_given);
    let generated_at =
        jiff::Timestamp::now().round(jiff::Unit::Second).map_or_else(|_| String::new(), |t| t.to_string());
    let urls = crate::doctor::url_targets(&plan, g.healthz_url.is_some());
    let facts = crate::doctor::fetch(plan.clone(), info, urls).await;
    let report = crate::doctor::judge(&facts, generated_at);
    let layout = Layout { color: plan.color, width: output_width() };
    let mut buf = Vec::new();
    match plan.output {
        Output::Json => render::json::doctor(&report, &mut buf)?,
        Output::Markdown => render::markdown::doctor(
            &report,
            &user_command(std::env::args_os().skip(1).map(|a| a.to_string_lossy().into_owned())),
            &mut buf,
        )?,
        Output::Table if plan.quiet => render::table::doctor_line(&report, layout, &mut buf)?,
        Output::Table => render::table::doctor(&report, layout, &mut buf)?,
    }
    write_out(&buf)?;
    Ok(report.exit_code())
}

/// `runbook show`: the runbook in effect with the command line's overrides
/// applied and every default filled in, so what is printed is what a run
/// would use; the YAML loads again with `--runbook`.
fn runbook_show(g: &crate::cli::Global, env: Option<&str>) -> Result<u8> {
    let (src, origin) = Source::find(g.runbook.as_ref())?;
    let mut rb = runbook::parse(&src)?;
    let applied = apply_overrides(&mut rb, g, env)?;
    let source = origin.describe(&src);
    let text = match g.output {
        OutputArg::Json => {
            let doc = serde_json::json!({
                "schema": "keysvc-check/runbook/v1",
                "source": source,
                "overrides": applied,
                "runbook": rb,
            });
            format!("{}\n", serde_json::to_string_pretty(&doc)?)
        }
        OutputArg::Markdown => {
            return Err(UsageError(
                "runbook show -o markdown: the runbook is YAML (the default) or JSON (-o json)".into(),
            )
            .into());
        }
        OutputArg::Table => {
            let mut out = format!("# The effective runbook, from {}", source.replace('\n', " "));
            if !applied.is_empty() {
                out.push_str(&format!(", with {}", applied.join(", ")));
            }
            out.push_str("; every default filled in.\n");
            out.push_str(&serde_saphyr::to_string(&rb).context("writing the runbook as YAML")?);
            out
        }
    };
    write_out(text.as_bytes())
}

/// Applies `--healthz-url` and `--context` to `env` (every environment when
/// None); returns the overrides applied, as flags, for the header.
fn apply_overrides(rb: &mut Runbook, g: &crate::cli::Global, env: Option<&str>) -> Result<Vec<String>> {
    if let Some(e) = env
        && !rb.environments.value.contains_key(e)
    {
        return Err(UsageError(format!(
            "{}: no such environment; it has: {}",
            g.given("--env", "KEYSVC_ENV", e),
            rb.env_names().join(", ")
        ))
        .into());
    }
    let mut applied = vec![];
    let targets = |name: &str| env.is_none_or(|e| e == name);
    if let Some(u) = &g.healthz_url {
        match reqwest::Url::parse(u) {
            Ok(p) if p.scheme() == "http" || p.scheme() == "https" => {}
            _ => {
                let given = g.given("--healthz-url", "KEYSVC_HEALTHZ_URL", &crate::mask::url(u));
                return Err(UsageError(format!("{given}: not an http or https URL")).into());
            }
        }
        for (_, e) in rb.environments.value.iter_mut().filter(|(n, _)| targets(n)) {
            e.healthz_url.value = u.clone();
        }
        applied.push(format!("--healthz-url {}", crate::mask::url(u)));
    }
    for (region, context) in &g.contexts {
        let mut found = false;
        for (_, e) in rb.environments.value.iter_mut().filter(|(n, _)| targets(n)) {
            if let Some(r) = e.regions.value.get_mut(region) {
                r.context.value = context.clone();
                found = true;
            }
        }
        if !found {
            return Err(UsageError(format!("--context {region}=…: no environment shown has a region {region}")).into());
        }
        applied.push(format!("--context {region}={context}"));
    }
    Ok(applied)
}

/// `runbook validate`: every problem, one per line as `FILE:LINE:COL:
/// message` with an indented hint, on stderr; then the placeholders.
fn runbook_validate(file: Option<&std::path::PathBuf>, g: &crate::cli::Global) -> Result<u8> {
    // A FILE argument names the file itself; else the lookup, which says
    // whether --runbook or KEYSVC_RUNBOOK named it.
    let src = match file {
        Some(f) => Source::read(f)?,
        None => Source::load(g.runbook.as_ref())?,
    };
    let rb = match runbook::parse_all(&src) {
        Ok(rb) => rb,
        Err(problems) => {
            let mut msg = String::new();
            for p in &problems {
                msg.push_str(&crate::sanitize::clean(&p.to_string(), 2000));
                msg.push('\n');
                if let runbook::RunbookError::Invalid { hint: Some(h), .. } = p {
                    msg.push_str(&format!("  hint: {h}\n"));
                }
            }
            let n = problems.len();
            msg.push_str(&format!(
                "keysvc-check: {n} problem{} in {}; README.md, \"Runbook format\", lists every key\n",
                if n == 1 { "" } else { "s" },
                src.name
            ));
            let _ = std::io::stderr().write_all(msg.as_bytes());
            return Ok(error::CONFIG);
        }
    };
    let regions: usize = rb.environments.value.values().map(|e| e.regions.value.len()).sum();
    let envs = rb.environments.value.len();
    let mut msg = format!(
        "{}: ok ({envs} environment{}: {}; {regions} region entries)\n",
        src.name,
        if envs == 1 { "" } else { "s" },
        rb.env_names().join(", ")
    );
    for (line, column, key, value) in rb.placeholders() {
        msg.push_str(&format!(
            "{}:{line}:{column}: warning: {key} is the placeholder `{value}`; it will not be checked until you set the real one\n",
            src.name
        ));
    }
    write_out(msg.as_bytes())
}

/// `runbook init`: the embedded runbook (already commented) as a starter, at
/// PATH or the config file the lookup reads.
fn runbook_init(path: Option<&std::path::PathBuf>, force: bool) -> Result<u8> {
    let path = match path {
        Some(p) => p.clone(),
        None => runbook::config_path()
            .ok_or_else(|| UsageError("HOME is not set: give the PATH to write the runbook to".into()))?,
    };
    if path.exists() && !force {
        return Err(UsageError(format!("{} already exists; keeping it (--force replaces it)", path.display())).into());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&path, runbook::EMBEDDED).with_context(|| format!("writing {}", path.display()))?;
    let rb = runbook::parse(&Source::embedded())?;
    let shown = path.display().to_string();
    // The commands suggested work from any directory.
    let absolute = crate::plan::absolute(&path);
    let mut msg = format!("Wrote a starter runbook to {shown}\n");
    if runbook::config_path().as_ref() == Some(&path) {
        msg.push_str("keysvc-check reads it when neither --runbook nor KEYSVC_RUNBOOK is given.\n");
    } else {
        msg.push_str(&format!(
            "Use it with --runbook {0} or KEYSVC_RUNBOOK={0}.\n",
            crate::plan::shell_word(&absolute)
        ));
    }
    msg.push_str("Next, replace these placeholders with your real values:\n");
    for (line, _, key, value) in rb.placeholders() {
        msg.push_str(&format!("  line {line}: {key} = {value}\n"));
    }
    msg.push_str(&format!("Then check it: keysvc-check runbook validate {}\n", crate::plan::shell_word(&absolute)));
    write_out(msg.as_bytes())
}

/// The live progress lines on stderr, when wanted (`render::progress::wanted`)
/// and the command has regions to show.
fn start_progress(plan: &Plan, g: &crate::cli::Global) -> Option<render::progress::Live> {
    let stderr = std::io::stderr();
    let streams_to_tty = plan.logs.stream && std::io::stdout().is_terminal();
    if !plan.steps.pods || !render::progress::wanted(stderr.is_terminal(), g.quiet, g.verbose, streams_to_tty) {
        return None;
    }
    let regions: Vec<String> = plan.regions.iter().map(|r| r.name.clone()).collect();
    let width = terminal_size::terminal_size_of(&stderr).map_or(80, |(terminal_size::Width(w), _)| usize::from(w));
    Some(render::progress::Live::start(&regions, width, Box::new(stderr)))
}

/// The width tables and prose are fitted to (`render::fit::output_width`).
fn output_width() -> Option<usize> {
    let stdout = std::io::stdout();
    let columns = std::env::var("COLUMNS").ok();
    let size = terminal_size::terminal_size_of(&stdout).map(|(terminal_size::Width(w), _)| w);
    render::fit::output_width(stdout.is_terminal(), columns.as_deref(), size)
}

/// The command line as the user typed it (`args` after the program), for
/// the Markdown report: the program's name rather than its path, and no
/// credentials from a URL.
fn user_command(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut words = vec!["keysvc-check".to_string()];
    let mut after_url_flag = false;
    for arg in args {
        let word = if after_url_flag {
            crate::mask::url(&arg)
        } else if let Some(url) = arg.strip_prefix("--healthz-url=") {
            format!("--healthz-url={}", crate::mask::url(url))
        } else {
            arg.clone()
        };
        after_url_flag = arg == "--healthz-url";
        words.push(word);
    }
    words
}

/// The width to fit and the rows there are, for each redraw of a watch.
fn screen_size() -> (Option<usize>, Option<usize>) {
    let height = terminal_size::terminal_size_of(std::io::stdout()).map(|(_, terminal_size::Height(h))| h.into());
    (output_width(), height)
}

/// Writes to stdout; a closed pipe (`| head`) ends quietly.
pub fn write_out(bytes: &[u8]) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(error::HEALTHY),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(error::HEALTHY),
        Err(e) => Err(e).context("writing to stdout"),
    }
}

fn build_plan(
    cli: &Cli,
    rb: Runbook,
    runbook_name: String,
    target: &Target,
    steps: Steps,
    logs_args: Option<&LogsArgs>,
    verb: &'static str,
) -> Result<Plan> {
    let g = &cli.global;
    let envs = rb.env_names().join(", ");
    let env_name = target
        .env
        .clone()
        .ok_or_else(|| UsageError(format!("--env is required (or set KEYSVC_ENV); this runbook has: {envs}")))?;
    let env = rb.environments.value.get(&env_name).ok_or_else(|| {
        let given = g.given("--env", "KEYSVC_ENV", &env_name);
        UsageError(format!("{given}: no such environment in {runbook_name}; it has: {envs}"))
    })?;
    let known: Vec<&str> = env.regions.value.keys().map(String::as_str).collect();
    for (region, _) in &g.contexts {
        if !known.contains(&region.as_str()) {
            return Err(UsageError(format!(
                "--context {region}=…: environment {env_name} has no region {region}; it has: {}",
                known.join(", ")
            ))
            .into());
        }
    }
    if let Some(r) = &target.region
        && !known.contains(&r.as_str())
    {
        return Err(UsageError(format!(
            "{}: environment {env_name} has no such region; it has: {}",
            g.given("--region", "KEYSVC_REGION", r),
            known.join(", ")
        ))
        .into());
    }
    let mut placeholders = vec![];
    let mut regions: Vec<RegionPlan> = env
        .regions
        .value
        .iter()
        .filter(|(name, _)| target.region.as_ref().is_none_or(|r| r == *name))
        .map(|(name, spec)| {
            let flag = g.contexts.iter().rev().find(|(r, _)| r == name).map(|(_, c)| c.clone());
            let (context, key, context_from) = match flag {
                Some(c) => (c, format!("--context {name}=…"), ContextFrom::Flag),
                None => {
                    let key = format!("environments.{env_name}.regions.{name}.context");
                    let from = ContextFrom::Runbook { key: key.clone(), line: spec.context.defined.line() };
                    (spec.context.value.clone(), key, from)
                }
            };
            let placeholder_context = runbook::placeholder_name(&context).then(|| {
                placeholders.push(Placeholder { region: Some(name.clone()), key: key.clone(), value: context.clone() });
                key
            });
            let healthz_url = spec.healthz_url.as_ref().map(|u| u.value.clone()).filter(|u| {
                let p = runbook::placeholder_url(u);
                if p {
                    placeholders.push(Placeholder {
                        region: Some(name.clone()),
                        key: format!("environments.{env_name}.regions.{name}.healthz_url"),
                        value: u.clone(),
                    });
                }
                !p
            });
            RegionPlan { name: name.clone(), context, healthz_url, placeholder_context, context_from }
        })
        .collect();
    let (healthz_url, healthz_key) = match &g.healthz_url {
        Some(u) => {
            match reqwest::Url::parse(u) {
                Ok(p) if p.scheme() == "http" || p.scheme() == "https" => {}
                _ => {
                    let given = g.given("--healthz-url", "KEYSVC_HEALTHZ_URL", &crate::mask::url(u));
                    return Err(UsageError(format!("{given}: not an http or https URL")).into());
                }
            }
            (u.clone(), "--healthz-url".to_string())
        }
        None => (env.healthz_url.value.clone(), format!("environments.{env_name}.healthz_url")),
    };
    let placeholder_healthz = (steps.healthz && runbook::placeholder_url(&healthz_url)).then(|| {
        placeholders
            .insert(0, Placeholder { region: None, key: healthz_key.clone(), value: crate::mask::url(&healthz_url) });
        healthz_key
    });
    if !steps.pods {
        placeholders.retain(|p| !p.key.ends_with(".context") && !p.key.starts_with("--context"));
    }
    if !steps.healthz {
        placeholders.retain(|p| !p.key.ends_with("healthz_url") && p.key != "--healthz-url");
    }
    if steps.pods && crate::kube::client::in_cluster(g.kubeconfig.as_deref()) {
        one_region_in_cluster(&mut regions, &mut placeholders, &env_name, &known)?;
    }
    let peers = env
        .peers
        .iter()
        .filter(|p| !runbook::placeholder_url(&p.healthz_url.value))
        .map(|p| PeerPlan { name: p.name.clone(), url: p.healthz_url.value.clone() })
        .collect();
    let color = match g.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    let output = match g.output {
        OutputArg::Table => Output::Table,
        OutputArg::Json => Output::Json,
        OutputArg::Markdown => Output::Markdown,
    };
    let streams = match &cli.command {
        Command::Diagnose(d) => d.streams,
        Command::Logs(a) => a.streams,
        _ => crate::cli::Streams::default(),
    };
    let logs = LogOptions {
        since: logs_args.and_then(|a| a.since).unwrap_or(rb.logs.since.0),
        tail: logs_args.and_then(|a| a.tail),
        previous_only: logs_args.is_some_and(|a| a.previous),
        grep: logs_args.and_then(|a| a.grep.clone()),
        stream: logs_args.is_some() && output == Output::Table && !g.quiet,
        max_streams: streams.max_log_streams,
        max_streams_total: streams.total(),
    };
    let rerun = Rerun { verb, args: rerun_args(g, &env_name), region: target.region.clone() };
    Ok(Plan {
        runbook: rb,
        runbook_name,
        env: env_name,
        healthz_url,
        regions,
        all_regions: target.region.is_none(),
        steps,
        timeout: g.timeout,
        kubeconfig: g.kubeconfig.clone(),
        peers,
        placeholder_healthz,
        placeholders,
        logs,
        output,
        color,
        quiet: g.quiet,
        rerun,
    })
}

/// In a pod with no kubeconfig the service account reaches the pod's own
/// cluster only, so the run must be of one region, the one that cluster is
/// (`--region`, unless the environment has one region): one cluster is never
/// checked as every region. The region's context is not used there, so a
/// placeholder context is no placeholder.
fn one_region_in_cluster(
    regions: &mut [RegionPlan],
    placeholders: &mut Vec<Placeholder>,
    env: &str,
    known: &[&str],
) -> Result<()> {
    let [region] = regions else {
        return Err(UsageError(format!(
            "no kubeconfig here, only this pod's service account, which reaches this pod's cluster alone: \
             pass --region REGION (or set KEYSVC_REGION) to say which region of {env} it is ({})",
            known.join(", ")
        ))
        .into());
    };
    if region.placeholder_context.take().is_some() {
        placeholders.retain(|p| p.region.as_deref() != Some(&region.name) || !p.key.contains("context"));
    }
    // The runbook's context is not the one used: the report and the
    // commands it suggests say so.
    region.context = crate::kube::client::IN_CLUSTER.to_string();
    Ok(())
}

/// The user's flags, so that a suggested `keysvc-check …` command checks the
/// same thing the same way (everything but the verb and `--region`).
fn rerun_args(g: &crate::cli::Global, env: &str) -> Vec<String> {
    let mut args = vec!["--env".to_string(), env.to_string()];
    // Absolute: a command pasted in another directory reads the same files.
    if let Some(p) = &g.runbook {
        args.extend(["--runbook".into(), crate::plan::absolute(p)]);
    }
    if let Some(k) = &g.kubeconfig {
        args.extend(["--kubeconfig".into(), crate::plan::absolute(k)]);
    }
    for (region, context) in &g.contexts {
        args.extend(["--context".into(), format!("{region}={context}")]);
    }
    if let Some(u) = &g.healthz_url {
        // A URL with credentials is not shown, so the command takes it from
        // the environment variable the flag reads anyway.
        let word = if crate::mask::url_has_secret(u) {
            crate::plan::env_word("KEYSVC_HEALTHZ_URL", crate::plan::HEALTHZ_URL_HINT)
        } else {
            u.clone()
        };
        args.extend(["--healthz-url".into(), word]);
    }
    if g.timeout != crate::cli::DEFAULT_TIMEOUT {
        args.extend(["--timeout".into(), crate::plan::duration_word(g.timeout)]);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_shown_keeps_every_word_but_url_credentials() {
        let args = ["diagnose", "--healthz-url", "https://me:s3cret@h.example/healthz", "-o", "markdown"];
        assert_eq!(
            user_command(args.iter().map(|s| s.to_string())),
            ["keysvc-check", "diagnose", "--healthz-url", "https://[masked]@h.example/healthz", "-o", "markdown"]
        );
        let joined = ["--healthz-url=https://me:s3cret@h.example/healthz", "--runbook", "my rb.yaml"];
        assert_eq!(
            user_command(joined.iter().map(|s| s.to_string())),
            ["keysvc-check", "--healthz-url=https://[masked]@h.example/healthz", "--runbook", "my rb.yaml"]
        );
    }
}
