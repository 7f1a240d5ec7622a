//! The answer to a specialist's result (loan, VaR, LCR, motor insurance, KYC).

use crate::print::{ObjectWriter, write_escaped, write_strings};
use crate::text::Text;
use crate::tree::Json;

fn str<'t>(v: &'t Json, k: &str) -> &'t str {
    v.get(k).and_then(Json::as_str).unwrap_or("")
}

fn money<'t>(v: &Json, k: &str, t: &'t mut Text, cur: &str) -> &'t mut Text {
    t.opt_money(v.get(k).and_then(Json::as_i64), cur)
}

fn is_true(v: &Json, k: &str) -> bool {
    v.get(k).and_then(Json::as_bool) == Some(true)
}

/// `v[k]` as the text shows a figure: a number as JSON prints it, a boolean, a
/// string as it is, else `n/a`.
fn num<'t>(v: &Json, k: &str, t: &'t mut Text) -> &'t mut Text {
    match v.get(k) {
        // A handful an answer: `Number`'s `Display` stays the one definition
        // of how one prints.
        Some(Json::Number(n)) => t.push(&n.to_string()),
        Some(Json::Bool(b)) => t.push(if *b { "true" } else { "false" }),
        Some(Json::String(s)) => t.push(s),
        _ => t.push("n/a"),
    }
}

/// The `answer` payload (JSON text) for a specialist's result on `topic`.
pub fn answer(topic: &str, p: &Json) -> Result<String, String> {
    if !p.is_object() {
        return Err(format!("`{topic}` payload must be a JSON object"));
    }
    let cur = p.get("currency").and_then(Json::as_str).unwrap_or("INR");
    let mut t = Text::with_capacity(512);
    let (kind, sections): (&str, &[&str]) = match topic {
        "loan.result" => {
            t.push("Loan\n- EMI: ");
            money(p, "emi_cents", &mut t, cur).push(" a month for ");
            num(p.field("inputs"), "months", &mut t).push(" months\n- Total interest: ");
            money(p, "total_interest_cents", &mut t, cur).push("\n- Total paid: ");
            money(p, "total_payment_cents", &mut t, cur).push("\n");
            match p.get("dscr").and_then(Json::as_f64) {
                Some(d) => {
                    t.push("- DSCR: ").float(d).push(" (threshold ");
                    num(p, "dscr_threshold", &mut t).push("): ").push(
                        if is_true(p, "affordable") {
                            "affordable\n"
                        } else {
                            "not affordable\n"
                        },
                    );
                }
                None => {
                    t.push("- DSCR: not computed (no monthly net income given)\n");
                }
            }
            t.push("- Formula: ").push(str(p, "formula")).push("\n");
            (
                "loan",
                &["EMI", "Total interest", "DSCR", "Failed branches"],
            )
        }
        "var.result" => {
            let h = p.field("historical");
            let m = p.field("parametric");
            t.push("Value at Risk (");
            num(p, "confidence", &mut t).push(" confidence, ");
            num(p, "horizon_days", &mut t).push(" day(s), ");
            num(p, "observations", &mut t).push(" observations)\n- Historical VaR: ");
            money(h, "var_cents", &mut t, cur).push(" (");
            num(h, "var_pct", &mut t)
                .push("% of the portfolio)\n- Historical expected shortfall: ");
            money(h, "es_cents", &mut t, cur).push(" (");
            num(h, "es_pct", &mut t).push("%)\n- Parametric VaR: ");
            money(m, "var_cents", &mut t, cur).push(" (");
            num(m, "var_pct", &mut t).push("%, z = ");
            num(m, "z", &mut t).push(")\n- Parametric expected shortfall: ");
            money(m, "es_cents", &mut t, cur).push(" (");
            num(m, "es_pct", &mut t).push("%)\n");
            (
                "var",
                &[
                    "Historical VaR",
                    "Parametric VaR",
                    "expected shortfall",
                    "Failed branches",
                ],
            )
        }
        "lcr.result" => {
            t.push("Liquidity Coverage Ratio\n- HQLA: ");
            money(p.field("hqla"), "total_cents", &mut t, cur).push("\n- Net cash outflows: ");
            money(p, "net_outflows_cents", &mut t, cur).push("\n- LCR: ");
            num(p, "lcr_pct", &mut t).push(if is_true(p, "compliant") {
                "% (compliant, at least 100%)\n"
            } else {
                "% (NOT compliant, below 100%)\n"
            });
            (
                "lcr",
                &["HQLA", "Net cash outflows", "LCR", "Failed branches"],
            )
        }
        "motor-insurance.result" => {
            t.push("Motor insurance\n- No-claim bonus: ");
            num(p, "ncb_pct", &mut t).push("%\n- Own-damage premium: ");
            money(p, "od_premium_cents", &mut t, cur).push(" after a discount of ");
            money(p, "ncb_discount_cents", &mut t, cur).push("\n- Third-party premium: ");
            money(p, "tp_premium_cents", &mut t, cur).push("\n- Total premium: ");
            money(p, "total_premium_cents", &mut t, cur).push("\n");
            match p.get("total_loss").and_then(Json::as_bool) {
                Some(total_loss) => {
                    t.push("- Claim: damage is ");
                    num(p, "damage_pct_of_idv", &mut t).push(if total_loss {
                        "% of IDV: total loss\n"
                    } else {
                        "% of IDV: repairable (not a total loss)\n"
                    });
                }
                None => {
                    t.push("- Claim: no damage amount given\n");
                }
            }
            (
                "motor-insurance",
                &[
                    "No-claim bonus",
                    "Total premium",
                    "Claim",
                    "Failed branches",
                ],
            )
        }
        "kyc.result" => {
            t.push("KYC decision: ")
                .push(str(p, "decision"))
                .push("\n- Risk score: ");
            num(p, "score", &mut t)
                .push("\n- Reason: ")
                .push(str(p, "reason"))
                .push("\n");
            for f in p.get("factors").and_then(Json::as_array).unwrap_or(&[]) {
                if is_true(f, "applied") {
                    t.push("- Factor ").push(str(f, "factor")).push(" (+");
                    num(f, "weight", &mut t)
                        .push("): ")
                        .push(str(f, "detail"))
                        .push("\n");
                }
            }
            ("kyc", &["KYC decision", "Risk score", "Failed branches"])
        }
        other => return Err(format!("reporter does not handle topic `{other}`")),
    };
    t.push("\nFailed branches\n- none\n");
    let text = t.into_string();
    // In the shape and key order of the `Value` this answer used to be.
    let mut out = String::with_capacity(2 * text.len() + 512);
    let mut answer = ObjectWriter::new(&mut out);
    answer.key("failed_branches").push_str("[]");
    let mut report = ObjectWriter::new(answer.key("report"));
    write_escaped(report.key("kind"), kind);
    p.write(report.key("result"));
    write_strings(report.key("sections"), sections);
    report.end();
    write_escaped(answer.key("text"), &text);
    answer.end();
    Ok(out)
}
