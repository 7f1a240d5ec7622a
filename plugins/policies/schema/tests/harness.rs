//! schema in the real runtime, with the default schemas from its manifest.

use djinn_sdk::harness::{Harness, RiskLevel, Verdict, hop, message};

#[test]
fn default_question_schema_applies() {
    let b = djinn_plugins::get("schema").expect("bundled");
    let h = Harness::from_bytes(b.wasm, b.manifest).unwrap();
    assert_eq!(h.info().id(), "schema");
    let ok = message(
        "question",
        r#"{"question":"I spent 1,250.00 at Amazon on 2024-03-01","statement":{"csv":"a,b\n1,2"}}"#,
    );
    assert!(matches!(
        h.evaluate(ok, hop("analyzer", RiskLevel::Low))
            .outcome
            .unwrap(),
        Verdict::Allow
    ));
    let bad = message("question", r#"{"question":42}"#);
    let v = h
        .evaluate(bad, hop("analyzer", RiskLevel::Low))
        .outcome
        .unwrap();
    assert!(
        matches!(&v, Verdict::Deny(r) if r.contains("/question: expected string")),
        "{v:?}"
    );
    let other = message("analysis.result", "not json");
    assert!(matches!(
        h.evaluate(other, hop("reporter", RiskLevel::Low))
            .outcome
            .unwrap(),
        Verdict::Allow
    ));
}
