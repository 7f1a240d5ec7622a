//! max-length in the real runtime.

use djinn_sdk::harness::{Harness, RiskLevel, Verdict, hop, message};

#[test]
fn denies_oversized_and_allows_small() {
    let b = djinn_plugins::get("max-length").expect("bundled");
    let manifest = b.manifest.replace("max_bytes = 262_144", "max_bytes = 100");
    let h = Harness::from_bytes(b.wasm, &manifest).unwrap();
    let small = h.evaluate(message("question", "{}"), hop("a", RiskLevel::Low));
    assert_eq!(small.outcome.unwrap(), Verdict::Allow);
    let big = h.evaluate(
        message("question", &"x".repeat(101)),
        hop("a", RiskLevel::Low),
    );
    assert!(matches!(big.outcome.unwrap(), Verdict::Deny(r) if r.contains("101 bytes")));
}
