//! The top-level flow: load the runbook, build the plan, dispatch the
//! command, write the output through one writer.

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, ColorArg, Command, LogsArgs, OutputArg, RunbookCommand, Target};
use crate::plan::{LogOptions, Output, Plan, RegionPlan, Steps};
use crate::runbook::{self, Runbook, Source};
use crate::{diagnose, exit, render};

/// A bad flag or value: exit 64.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A hint line for errors we know the fix of.
pub fn hint(err: &anyhow::Error) -> Option<String> {
    if let Some(runbook::RunbookError::Invalid { .. }) = err.downcast_ref::<runbook::RunbookError>() {
        return Some(
            "`keysvc-check runbook validate FILE` checks a runbook; README.md, \"Runbook format\", lists every key"
                .into(),
        );
    }
    None
}

pub async fn run(cli: Cli) -> Result<u8> {
    let g = &cli.global;
    match &cli.command {
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "keysvc-check", &mut buf);
            return write_out(&buf);
        }
        Command::Runbook(RunbookCommand::Show) => {
            let src = Source::load(g.runbook.as_ref())?;
            runbook::parse(&src)?;
            return write_out(src.text.as_bytes());
        }
        Command::Runbook(RunbookCommand::Validate { file }) => {
            let src = Source::load(file.as_ref().or(g.runbook.as_ref()))?;
            let rb = runbook::parse(&src)?;
            let regions: usize = rb.environments.value.values().map(|e| e.regions.value.len()).sum();
            let msg = format!(
                "{}: ok ({} environments: {}; {regions} region entries)\n",
                src.name,
                rb.environments.value.len(),
                rb.env_names().join(", ")
            );
            return write_out(msg.as_bytes());
        }
        _ => {}
    }
    let src = Source::load(g.runbook.as_ref())?;
    let rb = runbook::parse(&src)?;
    let (target, steps, logs_args, verb) = match &cli.command {
        Command::Diagnose(t) => (t, Steps { healthz: true, pods: true, logs: true, evidence: true }, None, "diagnose"),
        Command::Healthz(t) => (t, Steps { healthz: true, pods: false, logs: false, evidence: false }, None, "healthz"),
        Command::Pods(t) => (t, Steps { healthz: false, pods: true, logs: false, evidence: false }, None, "pods"),
        Command::Logs(a) => {
            (&a.target, Steps { healthz: false, pods: true, logs: true, evidence: false }, Some(a), "logs")
        }
        Command::Completions { .. } | Command::Runbook(_) => unreachable!("handled above"),
    };
    let plan = build_plan(&cli, rb, src.name.clone(), target, steps, logs_args, verb)?;
    let plan = Arc::new(plan);
    let outcome = diagnose::execute(plan.clone()).await?;
    let mut buf = Vec::new();
    match plan.output {
        Output::Json => render::json::render(&outcome.report, &mut buf)?,
        Output::Table if plan.quiet => render::table::verdict_line(&outcome.report, plan.color, &mut buf)?,
        Output::Table => match &cli.command {
            Command::Healthz(_) => render::table::healthz(&outcome.report, plan.color, &mut buf)?,
            Command::Pods(_) => render::table::pods(&outcome.report, plan.color, &mut buf)?,
            Command::Logs(_) => render::table::logs(&outcome.report, plan.color, &mut buf)?,
            _ => render::table::diagnose(&outcome.report, plan.color, &mut buf)?,
        },
    }
    write_out(&buf)?;
    if outcome.interrupted {
        return Ok(exit::INTERRUPTED);
    }
    Ok(exit::for_verdict(outcome.report.service.verdict))
}

/// Writes to stdout; a closed pipe (`| head`) ends quietly.
pub fn write_out(bytes: &[u8]) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(exit::HEALTHY),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit::HEALTHY),
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
    verb: &str,
) -> Result<Plan> {
    let g = &cli.global;
    let envs = rb.env_names().join(", ");
    let env_name = target
        .env
        .clone()
        .ok_or_else(|| UsageError(format!("--env is required (or set KEYSVC_ENV); this runbook has: {envs}")))?;
    let env = rb.environments.value.get(&env_name).ok_or_else(|| {
        UsageError(format!("--env {env_name}: no such environment in {runbook_name}; it has: {envs}"))
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
            "--region {r}: environment {env_name} has no such region; it has: {}",
            known.join(", ")
        ))
        .into());
    }
    let regions: Vec<RegionPlan> = env
        .regions
        .value
        .iter()
        .filter(|(name, _)| target.region.as_ref().is_none_or(|r| r == *name))
        .map(|(name, spec)| RegionPlan {
            name: name.clone(),
            context: g
                .contexts
                .iter()
                .rev()
                .find(|(r, _)| r == name)
                .map_or_else(|| spec.context.value.clone(), |(_, c)| c.clone()),
            healthz_url: spec.healthz_url.as_ref().map(|u| u.value.clone()),
        })
        .collect();
    let healthz_url = match &g.healthz_url {
        Some(u) => {
            match reqwest::Url::parse(u) {
                Ok(p) if p.scheme() == "http" || p.scheme() == "https" => {}
                _ => {
                    return Err(UsageError(format!("--healthz-url {u}: not an http or https URL")).into());
                }
            }
            u.clone()
        }
        None => env.healthz_url.value.clone(),
    };
    let color = match g.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    };
    let output = match g.output {
        OutputArg::Table => Output::Table,
        OutputArg::Json => Output::Json,
    };
    let logs = LogOptions {
        since: logs_args.and_then(|a| a.since).unwrap_or(rb.logs.since.0),
        tail: logs_args.and_then(|a| a.tail),
        previous_only: logs_args.is_some_and(|a| a.previous),
        grep: logs_args.and_then(|a| a.grep.clone()),
        stream: logs_args.is_some() && output == Output::Table && !g.quiet,
    };
    let mut rerun = format!("keysvc-check {verb} --env {env_name}");
    if let Some(p) = &g.runbook {
        rerun.push_str(&format!(" --runbook {}", crate::verdict::shell_word(&p.display().to_string())));
    }
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
        logs,
        output,
        color,
        quiet: g.quiet,
        rerun,
    })
}
