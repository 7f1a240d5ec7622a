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

/// The policy keeps its parsed config in module state for a reused instance's life
/// (`pool = 4` in its manifest). A fresh instance per call (`pool = 0`) must judge
/// every message exactly as a reused one does, and a config error must deny every
/// call, not only the one that parsed it.
#[test]
fn reused_and_fresh_instances_judge_alike() {
    let b = djinn_plugins::get("schema").expect("bundled");
    assert!(
        b.manifest.contains("pool = 4"),
        "the bundled manifest pools"
    );
    let pooled = Harness::from_bytes(b.wasm, b.manifest).unwrap();
    let fresh = Harness::from_bytes(b.wasm, &b.manifest.replace("pool = 4", "pool = 0")).unwrap();
    let messages = [
        (
            "question",
            r#"{"question":"how am I doing?","statement":{"csv":"a,b\n1,2"}}"#,
        ),
        ("question", r#"{"question":42}"#),
        ("question", r#"{"statement":{}}"#),
        ("question", "not json"),
        ("analysis.result", "not json"),
    ];
    let mut denied = 0;
    for _round in 0..3 {
        for (topic, payload) in messages {
            let ctx = || hop("analyzer", RiskLevel::Low);
            let reused = pooled
                .evaluate(message(topic, payload), ctx())
                .outcome
                .unwrap();
            let once = fresh
                .evaluate(message(topic, payload), ctx())
                .outcome
                .unwrap();
            assert_eq!(
                format!("{reused:?}"),
                format!("{once:?}"),
                "{topic}: {payload}"
            );
            denied += usize::from(matches!(reused, Verdict::Deny(_)));
        }
    }
    assert_eq!(
        denied, 9,
        "three of the five messages are denied, every round"
    );

    let broken = b.manifest.replace(r#""minLength": 1"#, r#""pattern": "x""#);
    assert_ne!(broken, b.manifest, "the edit reached the schema");
    let h = Harness::from_bytes(b.wasm, &broken).unwrap();
    for _ in 0..3 {
        let v = h
            .evaluate(
                message("question", r#"{"question":"hi"}"#),
                hop("analyzer", RiskLevel::Low),
            )
            .outcome
            .unwrap();
        assert!(
            matches!(&v, Verdict::Deny(r) if r.contains("`pattern`")),
            "{v:?}"
        );
    }
}
