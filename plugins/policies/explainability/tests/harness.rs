//! explainability in the real runtime, under its shipped manifest.

use djinn_sdk::harness::{Harness, RiskLevel, Verdict, hop, message};

#[test]
fn recommendations_need_rationale_and_evidence() {
    let b = djinn_plugins::get("explainability").expect("bundled");
    let h = Harness::from_bytes(b.wasm, b.manifest).unwrap();
    assert_eq!(h.info().id(), "explainability");
    let ok = message(
        "recommendations.result",
        r#"{"recommendations":[{"rationale":"Dining doubled","evidence":[{"merchant":"Swiggy"}]}]}"#,
    );
    assert!(matches!(
        h.evaluate(ok, hop("reporter", RiskLevel::Low))
            .outcome
            .unwrap(),
        Verdict::Allow
    ));
    let bad = message(
        "recommendations.result",
        r#"{"recommendations":[{"rationale":"trust me"}]}"#,
    );
    let v = h
        .evaluate(bad, hop("reporter", RiskLevel::Low))
        .outcome
        .unwrap();
    assert!(
        matches!(&v, Verdict::Deny(r) if r.contains("item 0") && r.contains("`evidence`")),
        "{v:?}"
    );
}
