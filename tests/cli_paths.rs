//! Files named by a flag or an environment variable, without any cluster:
//! a runbook or kubeconfig that is not there is said in one line naming the
//! path and what named it, and the commands suggested name files by
//! absolute paths, so they work pasted in another directory.

mod common;

use common::{cmd, run, write};

const RUNBOOK: &str = "service: Key Service API\nnamespace: api\nselector: app=api-key-service\ncontainer: api-key-service\nenvironments:\n  prod:\n    healthz_url: http://127.0.0.1:9/healthz\n    regions:\n      us-south: { context: ctx-south }\n      us-east: { context: ctx-east }\n";

/// A kubeconfig with one cluster (nothing listens there) and no context of the runbook's.
const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: { server: \"https://127.0.0.1:9\" }\nusers:\n- name: u\n  user: { token: t }\ncontexts:\n- name: other\n  context: { cluster: c, user: u }\n";

#[test]
fn a_runbook_that_is_not_there_is_one_line_naming_the_path_and_what_named_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cmd();
    c.current_dir(dir.path()).args(["diagnose", "--env", "prod", "--runbook", "rb-ev.yaml"]);
    let r = run(c);
    assert_eq!(r.code, 78, "{}", r.stderr);
    let cwd = dir.path().canonicalize().unwrap();
    assert_eq!(
        r.stderr,
        format!(
            "keysvc-check: error: cannot read the runbook rb-ev.yaml (from --runbook, relative to {}): no such file; pass --runbook the path of a runbook file\n",
            cwd.display()
        )
    );

    // Exported by a shell for a test environment that is gone since.
    let gone = dir.path().join("gone/runbook.yaml");
    let mut c = cmd();
    c.env("KEYSVC_RUNBOOK", &gone).args(["pods", "--env", "prod"]);
    let r = run(c);
    assert_eq!(r.code, 78, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        format!(
            "keysvc-check: error: cannot read the runbook {} (from KEYSVC_RUNBOOK): no such file; point KEYSVC_RUNBOOK at a runbook file, or unset it to use the config file or the embedded runbook\n",
            gone.display()
        )
    );
    // The flag wins over the variable, and says so.
    let mut c = cmd();
    c.env("KEYSVC_RUNBOOK", &gone).args(["pods", "--env", "prod", "--runbook"]).arg(&gone);
    let r = run(c);
    assert!(r.stderr.contains("(from --runbook)"), "{}", r.stderr);

    // A directory, and `runbook validate FILE`, which names the file itself.
    let mut c = cmd();
    c.args(["runbook", "validate"]).arg(dir.path());
    let r = run(c);
    assert_eq!(r.code, 78, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        format!(
            "keysvc-check: error: cannot read the runbook {}: it is a directory; give the path of a runbook file\n",
            dir.path().display()
        )
    );
}

#[test]
fn a_kubeconfig_that_is_not_there_says_what_named_it() {
    let dir = tempfile::tempdir().unwrap();
    let rb = write(dir.path(), "rb.yaml", RUNBOOK);
    let cwd = dir.path().canonicalize().unwrap();
    let message = |c: &mut std::process::Command| {
        c.args(["pods", "--env", "prod", "-o", "json", "--runbook"]).arg(&rb);
        let r = run(std::mem::replace(c, cmd()));
        assert_eq!(r.code, 3, "{}", r.stderr);
        let j = r.json();
        j["regions"][0]["pods"]["error"]["message"].as_str().unwrap().to_string()
    };
    let mut c = cmd();
    c.current_dir(dir.path()).args(["--kubeconfig", "kc.yaml"]);
    assert_eq!(
        message(&mut c),
        format!(
            "kubeconfig kc.yaml (from --kubeconfig, relative to {}) does not exist; pass --kubeconfig the path of your kubeconfig",
            cwd.display()
        )
    );
    let mut c = cmd();
    c.env("KUBECONFIG", "/nonexistent/kubeconfig");
    assert_eq!(
        message(&mut c),
        "kubeconfig /nonexistent/kubeconfig (from KUBECONFIG) does not exist; point KUBECONFIG at your kubeconfig, or unset it to use ~/.kube/config"
    );
    let mut c = cmd();
    c.env("KUBECONFIG", "/nonexistent/a:/nonexistent/b");
    assert_eq!(
        message(&mut c),
        "kubeconfig /nonexistent/a, /nonexistent/b (from KUBECONFIG): none of these files exists; point KUBECONFIG at your kubeconfig, or unset it to use ~/.kube/config"
    );
}

#[test]
fn suggested_commands_name_files_by_absolute_paths() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "rb.yaml", RUNBOOK);
    write(dir.path(), "kc.yaml", KUBECONFIG);
    let cwd = dir.path().canonicalize().unwrap();
    let mut c = cmd();
    c.current_dir(dir.path()).args([
        "diagnose",
        "--env",
        "prod",
        "-o",
        "json",
        "--runbook",
        "rb.yaml",
        "--kubeconfig",
        "./kc.yaml",
        "--context",
        "us-east=other",
        "--timeout",
        "3s",
    ]);
    let r = run(c);
    // Nothing answers from here (nothing listens on port 9, for healthz
    // nor for the cluster): unknown.
    assert_eq!(r.code, 3, "{}", r.stderr);
    let j = r.json();
    let commands: Vec<&str> =
        j["next_steps"].as_array().unwrap().iter().filter_map(|s| s["command"].as_str()).collect();
    let (rb, kc) = (cwd.join("rb.yaml"), cwd.join("kc.yaml"));
    let rerun = commands.iter().find(|c| c.starts_with("keysvc-check ")).unwrap_or_else(|| panic!("{commands:?}"));
    assert!(rerun.contains(&format!(" --runbook {} ", rb.display())), "{rerun}");
    assert!(rerun.contains(&format!(" --kubeconfig {} ", kc.display())), "{rerun}");
    let kubectl: Vec<&&str> = commands.iter().filter(|c| c.starts_with("kubectl ")).collect();
    assert!(!kubectl.is_empty(), "{commands:?}");
    for k in kubectl {
        assert!(k.starts_with(&format!("kubectl --kubeconfig {} ", kc.display())), "{k}");
    }

    // A runbook that does not parse: the hint's command names it absolutely too.
    write(dir.path(), "bad.yaml", "service: [\n");
    let mut c = cmd();
    c.current_dir(dir.path()).args(["pods", "--env", "prod", "--runbook", "bad.yaml"]);
    let r = run(c);
    assert_eq!(r.code, 78, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("`keysvc-check runbook validate {}`", cwd.join("bad.yaml").display())),
        "{}",
        r.stderr
    );
}

/// A runbook this user may not read: the path was right, so the message
/// says permission denied on it and never asks for the path. As root
/// (where the mode bits do not stop a read) the command runs as `nobody`.
#[test]
fn a_runbook_this_user_may_not_read_says_permission_denied_on_its_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let rb = write(dir.path(), "secret.yaml", RUNBOOK);
    std::fs::set_permissions(&rb, std::fs::Permissions::from_mode(0o000)).unwrap();
    let root = std::process::Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    let mut c = if root {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "nobody", "--", common::BIN]);
        c
    } else {
        cmd()
    };
    c.env_remove("KEYSVC_RUNBOOK").args(["diagnose", "--env", "prod", "--runbook"]).arg(&rb);
    let r = run(c);
    assert_eq!(r.code, 78, "{}", r.stderr);
    let path = rb.display();
    assert_eq!(
        r.stderr,
        format!(
            "keysvc-check: error: cannot read the runbook {path} (from --runbook): permission denied on {path}; \
             get read access to it (and its directories) or use a copy you may read\n"
        )
    );
}
