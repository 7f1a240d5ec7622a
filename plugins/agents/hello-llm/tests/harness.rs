//! hello-llm in the real runtime: mock LLM, in-memory kv, grants enforced.

use djinn_sdk::harness::{Fault, Harness, message};

fn bundled() -> &'static djinn_plugins::Bundled {
    djinn_plugins::get("hello-llm").expect("hello-llm is bundled")
}

#[test]
fn answers_with_the_llm_and_counts_in_kv() {
    let b = bundled();
    let h = Harness::from_bytes(b.wasm, b.manifest).unwrap();
    for expected_seen in 1..=2 {
        let out = h
            .handle(message("hello", r#"{"question":"what is a budget"}"#))
            .outcome
            .unwrap();
        let body: serde_json::Value = serde_json::from_str(&out[0].payload).unwrap();
        assert!(
            body["answer"]
                .as_str()
                .unwrap()
                .contains("what is a budget")
        );
        assert_eq!(body["seen"], expected_seen);
    }
}

#[test]
fn bad_input_is_a_plugin_error_not_a_trap() {
    let b = bundled();
    let h = Harness::from_bytes(b.wasm, b.manifest).unwrap();
    let report = h.handle(message("hello", "not json"));
    assert!(
        matches!(report.outcome, Err(Fault::PluginError { .. })),
        "{:?}",
        report.outcome
    );
}

#[test]
fn refused_without_the_kv_grant() {
    let b = bundled();
    let manifest = b.manifest.replace("[grants.kv]\nmax_bytes = 1024\n", "");
    let err = Harness::from_bytes(b.wasm, &manifest)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("djinn:plugin/kv"), "{err}");
}
