//! `Plan::from_cli`: the command line and the runbook resolved into a plan —
//! the environment and regions looked up, `--context` and `--healthz-url`
//! applied, placeholders noted, defaults filled in. Pure: what it needs of
//! the process (is there a kubeconfig?) is given to it.

use anyhow::Result;

use crate::cli::{Global, OutputArg, Run, Verb};
use crate::error::UsageError;
use crate::plan::{ContextFrom, IN_CLUSTER, LogOptions, Output, PeerPlan, Placeholder, Plan, RegionPlan, Rerun, Steps};
use crate::runbook::{self, Environment, Runbook};

/// What a plan is built from besides the command line.
pub struct Found {
    pub runbook: Runbook,
    /// Where the runbook came from, as the report names it.
    pub runbook_name: String,
    /// The runbook file read; `None`: the embedded runbook.
    pub runbook_file: Option<std::path::PathBuf>,
    /// No kubeconfig here, only a pod's service account (`kube::client::in_cluster`).
    pub in_cluster: bool,
    /// The kubeconfig's `current-context`: a region the runbook gives no
    /// context uses it, as kubectl does.
    pub current_context: Option<String>,
    /// The user's runbook file (`runbook::config_path`).
    pub config_file: Option<std::path::PathBuf>,
}

/// The contexts given besides the runbook's: `--context` (resolved to
/// regions) and the kubeconfig's current one.
struct Given<'a> {
    contexts: &'a [(String, String)],
    current: Option<&'a str>,
}

impl Steps {
    /// The steps a command runs.
    pub fn of(verb: Verb) -> Steps {
        let (healthz, pods, logs, evidence) = match verb {
            Verb::Diagnose | Verb::Doctor => (true, true, true, true),
            Verb::Healthz => (true, false, false, false),
            Verb::Pods => (false, true, false, false),
            Verb::Logs => (false, true, true, false),
            Verb::Telemetry => (false, false, false, false),
        };
        let telemetry = matches!(verb, Verb::Diagnose | Verb::Doctor | Verb::Telemetry);
        Steps { healthz, pods, logs, evidence, telemetry }
    }
}

impl Plan {
    /// The plan of `run`, with the global flags `g`, over the runbook `found`.
    pub fn from_cli(g: &Global, run: Run<'_>, found: Found) -> Result<Plan> {
        let Found { runbook: rb, runbook_name, runbook_file, in_cluster, current_context, config_file } = found;
        let steps = Steps::of(run.verb);
        let (env_name, env) = environment(g, run, &rb, &runbook_name)?;
        let known: Vec<&str> = env.regions.value.keys().map(String::as_str).collect();
        let mut placeholders = vec![];
        let only = run.target.region.as_deref();
        let contexts = contexts(g, &env_name, env, only)?;
        let given = Given { contexts: &contexts, current: current_context.as_deref() };
        let mut regions = regions(&given, only, &env_name, env, &mut placeholders);
        // In a pod every context is its service account's: the other
        // regions' say nothing there.
        let env_regions = if in_cluster { vec![] } else { self::regions(&given, None, &env_name, env, &mut vec![]) };
        let (healthz_url, healthz_key) = healthz_url(g, &env_name, env)?;
        let placeholder_healthz = (steps.healthz && runbook::placeholder_url(&healthz_url)).then(|| {
            let value = crate::mask::url(&healthz_url);
            placeholders.insert(0, Placeholder { region: None, key: healthz_key.clone(), value });
            healthz_key
        });
        if !steps.pods {
            placeholders.retain(|p| !p.key.ends_with(".context") && !p.key.starts_with("--context"));
        }
        if !steps.healthz {
            placeholders.retain(|p| !p.key.ends_with("healthz_url") && p.key != "--healthz-url");
        }
        if steps.pods && in_cluster {
            one_region_in_cluster(&mut regions, &mut placeholders, &env_name, &known)?;
        }
        let peers = env
            .peers
            .iter()
            .filter(|p| !runbook::placeholder_url(&p.healthz_url.value))
            .map(|p| PeerPlan { name: p.name.clone(), url: p.healthz_url.value.clone() })
            .collect();
        let output = match g.output {
            OutputArg::Table => Output::Table,
            OutputArg::Json => Output::Json,
            OutputArg::Markdown => Output::Markdown,
            OutputArg::Slack => Output::Slack,
        };
        let logs = log_options(run, &rb, output, g.quiet);
        let (telemetry, placeholder_telemetry) = telemetry(steps, &rb, &env_name, &mut placeholders);
        if run.verb == Verb::Telemetry && telemetry.is_none() {
            return Err(runbook::RunbookError::NoTelemetry { path: runbook_name, env: env_name }.into());
        }
        let rerun = Rerun::from_cli(g, run, &contexts, &env_name, runbook_file.as_deref());
        Ok(Plan {
            runbook: rb,
            runbook_name,
            env: env_name,
            healthz_url,
            regions,
            env_regions,
            all_regions: run.target.region.is_none(),
            steps,
            timeout: g.timeout,
            kubeconfig: g.kubeconfig.clone(),
            peers,
            placeholder_healthz,
            placeholders,
            telemetry,
            placeholder_telemetry,
            logs,
            output,
            quiet: g.quiet,
            rerun,
            config_file,
        })
    }
}

/// Each `--context` as (region, context): a context alone is the one
/// region's checked (`--region`, or the environment's only one), as kubectl
/// takes a context alone.
pub fn contexts(g: &Global, env_name: &str, env: &Environment, only: Option<&str>) -> Result<Vec<(String, String)>> {
    let known: Vec<&str> = env.regions.value.keys().map(String::as_str).collect();
    let mut out = vec![];
    for arg in &g.contexts {
        let region = match (&arg.region, only, known.as_slice()) {
            (Some(r), ..) => r.clone(),
            (None, Some(r), _) => r.to_string(),
            (None, None, [one]) => one.to_string(),
            (None, None, _) => {
                return Err(UsageError(format!(
                    "--context {c}: environment {env_name} has {} regions ({}); say which, --context REGION={c}, or check one with --region",
                    known.len(),
                    known.join(", "),
                    c = arg.context
                ))
                .into());
            }
        };
        if !known.contains(&region.as_str()) {
            return Err(UsageError(format!(
                "--context {region}=…: environment {env_name} has no region {region}; it has: {}",
                known.join(", ")
            ))
            .into());
        }
        out.push((region, arg.context.clone()));
    }
    Ok(out)
}

/// The environment asked for, checked with the region `--region` names.
fn environment<'a>(g: &Global, run: Run<'_>, rb: &'a Runbook, runbook_name: &str) -> Result<(String, &'a Environment)> {
    let envs = rb.env_names().join(", ");
    let env_name = run
        .target
        .env
        .clone()
        .ok_or_else(|| UsageError(format!("--env is required (or set KEYSVC_ENV); this runbook has: {envs}")))?;
    let env = rb.environments.value.get(&env_name).ok_or_else(|| {
        let given = g.given("--env", "KEYSVC_ENV", &env_name);
        UsageError(format!("{given}: no such environment in {runbook_name}; {}", rb.other_envs(&env_name)))
    })?;
    let known: Vec<&str> = env.regions.value.keys().map(String::as_str).collect();
    if let Some(r) = &run.target.region
        && !known.contains(&r.as_str())
    {
        return Err(UsageError(format!(
            "{}: environment {env_name} has no such region; it has: {}",
            g.given("--region", "KEYSVC_REGION", r),
            known.join(", ")
        ))
        .into());
    }
    Ok((env_name, env))
}

/// The regions to check, each with its context (`--context` over the
/// runbook) and regional healthz URL; placeholders are noted, not checked.
fn regions(
    given: &Given<'_>,
    only: Option<&str>,
    env_name: &str,
    env: &Environment,
    placeholders: &mut Vec<Placeholder>,
) -> Vec<RegionPlan> {
    env.regions
        .value
        .iter()
        .filter(|(name, _)| only.is_none_or(|r| r == *name))
        .map(|(name, spec)| {
            let flag = given.contexts.iter().rev().find(|(r, _)| r == name).map(|(_, c)| c.clone());
            let key = format!("environments.{env_name}.regions.{name}.context");
            let (context, key, context_from) = match (flag, &spec.context) {
                (Some(c), _) => (c, format!("--context {name}=…"), ContextFrom::Flag),
                (None, Some(c)) => {
                    let from = ContextFrom::Runbook { key: key.clone(), line: c.defined.line() };
                    (c.value.clone(), key, from)
                }
                // No context in the runbook: the kubeconfig's current one,
                // as kubectl; none there is said when the region is checked.
                (None, None) => {
                    (given.current.unwrap_or_default().to_string(), key.clone(), ContextFrom::Current { key })
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
        .collect()
}

/// The service's healthz URL (`--healthz-url` over the runbook) and the key
/// or flag that gives it.
fn healthz_url(g: &Global, env_name: &str, env: &Environment) -> Result<(String, String)> {
    Ok(match &g.healthz_url {
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
    })
}

/// The environment's telemetry when the step runs and the runbook has
/// one; its URL when that is a placeholder (noted, not asked).
fn telemetry(
    steps: Steps,
    rb: &Runbook,
    env_name: &str,
    placeholders: &mut Vec<Placeholder>,
) -> (Option<runbook::Telemetry>, Option<String>) {
    let t = rb.telemetry_for(env_name).filter(|_| steps.telemetry);
    if !steps.telemetry {
        placeholders.retain(|p| !p.key.ends_with("telemetry.url"));
    }
    let placeholder = t.as_ref().and_then(|t| t.url_key.clone().filter(|_| runbook::placeholder_url(&t.url)));
    if let (Some(key), Some(t)) = (&placeholder, &t) {
        let value = crate::mask::url(&t.url);
        if !placeholders.iter().any(|p| &p.key == key) {
            placeholders.push(Placeholder { region: None, key: key.clone(), value });
        }
    }
    (t, placeholder)
}

/// How to read logs: the `logs` command's flags over the runbook's window.
fn log_options(run: Run<'_>, rb: &Runbook, output: Output, quiet: bool) -> LogOptions {
    let logs_args = run.logs;
    LogOptions {
        since: logs_args.and_then(|a| a.since).unwrap_or(rb.logs.since.0),
        tail: logs_args.and_then(|a| a.tail),
        previous_only: logs_args.is_some_and(|a| a.previous),
        grep: logs_args.and_then(|a| a.grep.clone()),
        stream: logs_args.is_some() && output == Output::Table && !quiet,
        max_streams: run.streams.max_log_streams,
        max_streams_total: run.streams.total(),
    }
}

/// In a pod without a kubeconfig, the service account reaches one cluster:
/// one region, whose context is the service account's.
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
    region.context = IN_CLUSTER.to_string();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn plan(args: &[&str]) -> Result<Plan> {
        plan_from(args, None)
    }

    /// The plan of `args` over the embedded runbook, read from `file` when given.
    fn plan_from(args: &[&str], file: Option<&str>) -> Result<Plan> {
        let cli = Cli::try_parse_from(std::iter::once("keysvc-check").chain(args.iter().copied())).unwrap();
        let run = match cli.command.mode() {
            crate::cli::Mode::Check(r) | crate::cli::Mode::Doctor(r) | crate::cli::Mode::Watch(r, ..) => r,
            other => panic!("not a check: {other:?}"),
        };
        let found = Found {
            runbook: runbook::parse(&runbook::Source::embedded()).unwrap(),
            runbook_name: "rb".into(),
            runbook_file: file.map(std::path::PathBuf::from),
            in_cluster: false,
            current_context: None,
            config_file: None,
        };
        Plan::from_cli(&cli.global, run, found)
    }

    #[test]
    fn each_command_runs_its_steps_over_the_regions_asked_for() {
        let p = plan(&["pods", "--env", "prod", "--region", "us-east"]).unwrap();
        assert_eq!(p.steps, Steps { healthz: false, pods: true, logs: false, evidence: false, telemetry: false });
        assert_eq!(p.regions.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["us-east"]);
        assert!(!p.all_regions);
        assert_eq!(p.rerun.verb, "pods");
        let p = plan(&["diagnose", "--env", "prod", "--context", "eu-de=mine", "--timeout", "5s"]).unwrap();
        assert_eq!(p.steps.names(), ["healthz", "pods", "logs", "events", "rollout"]);
        let eu = p.regions.iter().find(|r| r.name == "eu-de").unwrap();
        assert_eq!((eu.context.as_str(), &eu.context_from), ("mine", &ContextFrom::Flag));
        assert_eq!(p.rerun.args, ["--env", "prod", "--context", "eu-de=mine", "--timeout", "5s"]);
        let p = plan(&["logs", "--env", "prod", "--since", "2m", "--tail", "3"]).unwrap();
        assert_eq!((p.logs.since.as_secs(), p.logs.tail, p.logs.stream), (120, Some(3), true));
        let p = plan(&["logs", "--env", "prod", "-o", "json"]).unwrap();
        assert!(!p.logs.stream);
    }

    #[test]
    fn the_runs_own_command_has_every_flag_in_effect_and_other_commands_only_the_shared_ones() {
        let args = [
            "logs",
            "--env",
            "prod",
            "--region",
            "us-east",
            "--since",
            "2m",
            "--tail",
            "3",
            "--grep",
            "a b",
            "--previous",
            "--max-log-streams",
            "5",
            "-o",
            "slack",
            "--no-mask",
        ];
        let p = plan_from(&args, Some("rb dir/one.yaml")).unwrap();
        let runbook = crate::plan::shell_word(&crate::plan::absolute(std::path::Path::new("rb dir/one.yaml")));
        assert!(runbook.starts_with("'/") && runbook.ends_with("/rb dir/one.yaml'"), "{runbook}");
        assert_eq!(
            crate::plan::shell_join(&p.rerun.this_run()),
            format!(
                "keysvc-check logs --env prod --runbook {runbook} --region us-east --since 2m --tail 3 \
                 --grep 'a b' --previous --max-log-streams 5 -o slack --no-mask"
            )
        );
        // Another verb's command keeps what checks the same environment the same way.
        assert_eq!(
            p.rerun.command("diagnose", None),
            format!("keysvc-check diagnose --env prod --runbook {runbook} --region us-east")
        );
        // The embedded runbook is no file to name.
        let p = plan(&["doctor", "--env", "prod", "-o", "markdown", "--timeout", "5s"]).unwrap();
        assert_eq!(
            p.rerun.this_run(),
            ["keysvc-check", "doctor", "--env", "prod", "--timeout", "5s", "-o", "markdown"]
        );
    }

    #[test]
    fn a_context_alone_is_the_one_region_checked() {
        let p = plan(&["pods", "--env", "prod", "--region", "us-east", "--context", "mine"]).unwrap();
        assert_eq!((p.regions[0].context.as_str(), &p.regions[0].context_from), ("mine", &ContextFrom::Flag));
        // The re-run names the region, whatever the run's --region.
        assert_eq!(p.rerun.args, ["--env", "prod", "--context", "us-east=mine"]);
        let err = plan(&["pods", "--env", "prod", "--context", "mine"]).unwrap_err();
        assert!(err.to_string().contains("environment prod has 3 regions"), "{err}");
    }

    #[test]
    fn an_unknown_environment_or_region_is_a_usage_error() {
        for args in [
            &["pods"][..],
            &["pods", "--env", "nope"],
            &["pods", "--env", "prod", "--region", "mars"],
            &["pods", "--env", "prod", "--context", "mars=x"],
            &["healthz", "--env", "prod", "--healthz-url", "ftp://x"],
        ] {
            let err = plan(args).unwrap_err();
            assert!(err.downcast_ref::<UsageError>().is_some(), "{args:?}: {err:#}");
        }
    }
}
