//! pii in the real runtime, under its shipped manifest.

use djinn_sdk::harness::{GateContext, Harness, Stage, Verdict, message};

fn harness(manifest_edit: Option<(&str, &str)>) -> Harness {
    let b = djinn_plugins::get("pii").expect("bundled");
    let manifest = match manifest_edit {
        Some((from, to)) => {
            assert!(b.manifest.contains(from), "manifest has `{from}`");
            b.manifest.replace(from, to)
        }
        None => b.manifest.to_owned(),
    };
    Harness::from_bytes(b.wasm, &manifest).unwrap()
}

fn at(stage: Stage) -> GateContext {
    GateContext {
        stage,
        recipient: None,
        recipient_risk: None,
    }
}

#[test]
fn redacts_by_default_and_reports_its_id() {
    let h = harness(None);
    assert_eq!(h.info().id(), "pii");
    let mut m = message(
        "question",
        r#"{"question":"why?","statement":{"csv":"2024-03-01,card 4111 1111 1111 1111,-10.00"}}"#,
    );
    m.metadata
        .push(("note".into(), "mail bob@example.com".into()));
    let Verdict::Redact(out) = h.evaluate(m, at(Stage::Inbound)).outcome.unwrap() else {
        panic!("expected redact")
    };
    assert!(out.payload.contains("[REDACTED:card]"), "{}", out.payload);
    assert!(!out.payload.contains("4111"));
    assert_eq!(
        out.metadata,
        [("note".to_string(), "mail [REDACTED:email]".to_string())]
    );
}

#[test]
fn deny_when_configured_and_bad_config_fails_closed() {
    let h = harness(Some((r#"inbound = "redact""#, r#"inbound = "deny""#)));
    let m = message("question", r#"{"question":"my ssn is 123-45-6789"}"#);
    let v = h.evaluate(m, at(Stage::Inbound)).outcome.unwrap();
    assert!(
        matches!(&v, Verdict::Deny(r) if r.contains("SSN in payload at /question")),
        "{v:?}"
    );

    let h = harness(Some((r#"outbound = "redact""#, r#"outbound = "mask""#)));
    let v = h
        .evaluate(message("answer", "{}"), at(Stage::Outbound))
        .outcome
        .unwrap();
    assert!(
        matches!(&v, Verdict::Deny(r) if r.contains("`outbound`")),
        "{v:?}"
    );
}

#[test]
fn a_max_size_statement_fits_the_fuel_limit() {
    let h = harness(None);
    let line =
        "2024-03-01,AMAZON MKTP IN*2K4 Amzn.com/bill,-1250.00,UPI/SWIGGY/ref 42061234,85000.00\n";
    let csv = line.repeat(250 * 1024 / line.len());
    let payload =
        serde_json::json!({"question": "Where did my money go?", "statement": {"csv": csv}});
    let r = h.evaluate(
        message("question", &payload.to_string()),
        at(Stage::Inbound),
    );
    eprintln!("pii: fuel for {} bytes: {}", csv.len(), r.fuel_consumed);
    assert!(matches!(r.outcome.unwrap(), Verdict::Allow));

    // With PII in the last row the screen passes it on to the full inspection,
    // which must fit too.
    let csv = format!("{csv}2024-03-02,card 4111 1111 1111 1111,-10.00\n");
    let payload =
        serde_json::json!({"question": "Where did my money go?", "statement": {"csv": csv}});
    let r = h.evaluate(
        message("question", &payload.to_string()),
        at(Stage::Inbound),
    );
    eprintln!(
        "pii: fuel for {} bytes with a card: {}",
        csv.len(),
        r.fuel_consumed
    );
    let Verdict::Redact(out) = r.outcome.unwrap() else {
        panic!("expected redact")
    };
    assert!(out.payload.contains("[REDACTED:card]"));
}

/// The screen in front of the inspection reads 64-byte blocks with wasm SIMD in
/// the component (natively, where the unit tests run, it reads bytes one at a
/// time), so this checks the component itself: each kind of PII at every offset
/// against the blocks, in a statement the screen must otherwise pass.
#[test]
fn pii_is_found_at_every_offset_against_the_screen_blocks() {
    let h = harness(None);
    let row = "2024-07-03,UPI/BIGBASKET/418523657812,2350.40,debit,\n";
    for (pii, kind) in [
        ("bob@example.com", "email"),
        ("ABCPE1234F", "pan"),
        ("4111 1111 1111 1111", "card"),
        ("+91 98765 43210", "phone"),
        ("(415) 555-2671", "phone"),
        ("123-45-6789", "ssn"),
        ("2345 6789 0124", "aadhaar"),
        ("GB82 WEST 1234 5698 7654 32", "iban"),
    ] {
        for offset in 0..=130 {
            let csv = format!("{}{} {pii} {row}{row}", row.repeat(2), "x".repeat(offset));
            let payload = format!(r#"{{"csv":"{csv}"}}"#);
            let r = h.evaluate(message("statement.ingest", &payload), at(Stage::Hop));
            let Verdict::Redact(out) = r.outcome.unwrap() else {
                panic!("{kind} at offset {offset} was not redacted: {payload}")
            };
            assert!(
                out.payload.contains(&format!("[REDACTED:{kind}]")),
                "{kind} at offset {offset}: {}",
                out.payload
            );
        }
    }
    // The same statement without PII passes, at every offset too.
    for offset in 0..=130 {
        let csv = format!("{}{} {row}", row.repeat(3), "x".repeat(offset));
        let payload = format!(r#"{{"csv":"{csv}"}}"#);
        let r = h.evaluate(message("statement.ingest", &payload), at(Stage::Hop));
        assert!(matches!(r.outcome.unwrap(), Verdict::Allow), "{payload}");
    }
}
