//! Runs the built component in the real djinn runtime.

use djinn_sdk::harness::{Harness, RiskLevel, Verdict, hop, message};

#[test]
fn denies_forbidden_and_allows_the_rest() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let wasm = djinn_sdk::harness::build(dir).expect("component builds");
    let h = Harness::from_files(wasm, format!("{dir}/djinn.toml")).expect("loads under its manifest");
    let ok = h.evaluate(message("question", "fine"), hop("a", RiskLevel::Low));
    assert_eq!(ok.outcome.unwrap(), Verdict::Allow);
    let bad = h.evaluate(message("question", "forbidden"), hop("a", RiskLevel::Low));
    assert!(matches!(bad.outcome.unwrap(), Verdict::Deny(_)));
}
