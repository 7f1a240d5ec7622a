//! The `djinn` binary end to end: inspect, run, and a scaffolded plugin that builds and loads.

use std::path::Path;
use std::process::{Command, Output};

fn djinn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_djinn"))
        .args(args)
        .env("DJINN_LOG", "error")
        .output()
        .expect("run djinn")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn wasm(name: &str) -> &'static str {
    djinn_plugins::get(name).expect("bundled").wasm_path
}

#[test]
fn inspect_lists_imports_and_needed_grants() {
    let out = djinn(&["plugin", "inspect", wasm("hostile"), "--json"]);
    assert!(out.status.success(), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["world"], "djinn:plugin/agent-plugin");
    assert_eq!(doc["grants_needed"], serde_json::json!(["llm", "kv"]));
    assert!(
        doc["imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == "djinn:plugin/kv@0.1.0")
    );
}

#[test]
fn inspect_with_a_manifest_that_grants_too_little_exits_2_naming_the_interface() {
    let echo_manifest = Path::new(djinn_plugins::get("echo").unwrap().dir).join("djinn.toml");
    let out = djinn(&[
        "plugin",
        "inspect",
        wasm("hostile"),
        "--manifest",
        echo_manifest.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stdout(&out).contains("REFUSED"), "{}", stdout(&out));
    assert!(stdout(&out).contains("djinn:plugin/kv@0.1.0"));
}

#[test]
fn inspect_rejects_a_non_component_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.wasm");
    std::fs::write(&bogus, b"\0asm\x01\0\0\0").unwrap();
    let out = djinn(&["plugin", "inspect", bogus.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("core WebAssembly module"),
        "{out:?}"
    );
}

#[test]
fn run_reports_outcome_fuel_and_time() {
    let out = djinn(&[
        "run",
        "echo",
        "--message",
        r#"{"topic":"echo","payload":{"hi":1}}"#,
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["outcome"], "ok");
    assert_eq!(doc["result"][0]["payload"]["hi"], 1);
    assert!(doc["fuel_consumed"].as_u64().unwrap() > 0);
    assert!(doc["duration_us"].is_u64());
}

#[test]
fn run_reports_a_fault_with_exit_code_3() {
    let out = djinn(&["run", "hostile", "--message", r#"{"topic":"spin"}"#]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(stdout(&out).contains("outcome: out_of_fuel"));
}

#[test]
fn run_rejects_bad_message_json_clearly() {
    let out = djinn(&["run", "echo", "--message", "{not json"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--message must be JSON"),
        "{out:?}"
    );
}

#[test]
fn run_judges_with_a_policy() {
    let out = djinn(&[
        "run",
        "max-length",
        "--message",
        r#"{"topic":"question","payload":"hi"}"#,
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["result"]["verdict"], "allow");
}

/// `djinn plugin new` writes a standalone crate that builds for wasm32-wasip2
/// and loads under its own manifest, for both kinds.
#[test]
fn scaffolded_plugins_build_and_load() {
    let dir = tempfile::tempdir().unwrap();
    // Share one target dir across runs so the SDK's dependencies build once.
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/scaffold-test");
    for (name, kind) in [("my-agent", "agent"), ("my-policy", "policy")] {
        let crate_dir = dir.path().join(name);
        let out = djinn(&[
            "plugin",
            "new",
            name,
            "--kind",
            kind,
            "--dir",
            crate_dir.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{out:?}");
        assert!(stdout(&out).contains("standalone crate"));
        let status = Command::new(env!("CARGO"))
            .current_dir(&crate_dir)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--target-dir",
            ])
            .arg(&target)
            .env_remove("CARGO_TARGET_DIR")
            .status()
            .unwrap();
        assert!(status.success(), "{name} builds");
        let wasm = target.join(format!(
            "wasm32-wasip2/release/{}.wasm",
            name.replace('-', "_")
        ));
        let manifest = crate_dir.join("djinn.toml");
        let out = djinn(&[
            "plugin",
            "inspect",
            wasm.to_str().unwrap(),
            "--manifest",
            manifest.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stdout(&out));
        assert!(stdout(&out).contains("manifest: OK"));
    }
    // A second `new` into a non-empty folder writes nothing.
    let again = djinn(&[
        "plugin",
        "new",
        "my-agent",
        "--dir",
        dir.path().join("my-agent").to_str().unwrap(),
    ]);
    assert!(!again.status.success());
}

#[test]
fn audit_verify_and_tail_on_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("audit.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = djinn_store::Store::open(&url).await.unwrap();
        for i in 0..3 {
            let rec = djinn_store::NewAuditRecord::new(
                djinn_store::AuditKind::PolicyVerdict,
                "test",
                serde_json::json!({ "n": i }),
            )
            .plugin("pii");
            store.audit().append(rec).await.unwrap();
        }
    });
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_djinn"))
            .args(args)
            .env("DJINN_DATABASE_URL", &url)
            .env("DJINN_LOG", "error")
            .output()
            .unwrap()
    };
    let out = run(&["audit", "verify"]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains("intact: 3 records"),
        "{}",
        stdout(&out)
    );
    let out = run(&["audit", "tail", "-n", "2", "--json"]);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["seq"], 3);
    assert_eq!(lines[1]["plugin"], "pii");
}

#[test]
fn a_bad_config_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("djinn.config.toml");
    std::fs::write(&cfg, "databse_url = \"x\"\n").unwrap();
    let out = djinn(&["--config", cfg.to_str().unwrap(), "audit", "verify"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("databse_url"), "{err}");
}
