//! Suggests actions from the analysis (`analysis.result` → `recommendations.result`).
//!
//! The actions, their evidence and their estimated savings come from fixed rules
//! over the analysis numbers, so they are reproducible and auditable. The LLM is
//! only asked to phrase the rationales; when it errors, is denied or answers in a
//! shape that cannot be matched item by item, the rule text stands and the
//! payload says which happened (`source`, `llm_phrasing`). Every recommendation
//! always carries a `rationale`, as an explainability policy expects.

use std::collections::BTreeMap;

use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError, RiskLevel, llm};
use serde_json::{Value, json};

/// Categories treated as discretionary (safe to trim).
pub const DISCRETIONARY: &[&str] = &[
    "food_delivery",
    "dining",
    "shopping",
    "entertainment",
    "subscriptions",
    "travel",
    "electronics",
    "personal_care",
    "transport",
];
/// Share of a discretionary category suggested as a cut.
pub const TRIM_PCT: i64 = 15;
/// Target savings rate, percent of income.
pub const TARGET_SAVINGS_PCT: i64 = 20;

/// One rule-based recommendation.
#[derive(Debug, Clone, PartialEq)]
pub struct Rec {
    pub rule: &'static str,
    pub action: String,
    pub rationale: String,
    pub evidence: Value,
    pub estimated_monthly_saving_cents: i64,
}

fn money(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{currency} {sign}{}.{:02}", c / 100, c % 100)
}

/// `a * num / den`, in i128 so large statements cannot overflow.
fn mul_div(a: i64, num: i64, den: i64) -> i64 {
    if den == 0 {
        return 0;
    }
    i64::try_from(i128::from(a) * i128::from(num) / i128::from(den)).unwrap_or(i64::MAX)
}

fn int(v: &Value, k: &str) -> Result<i64, String> {
    v.get(k)
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("analysis.result needs an integer `{k}`"))
}

/// The rule-based recommendations for an `analysis.result` payload.
pub fn rules(analysis: &Value) -> Result<Vec<Rec>, String> {
    let income = int(analysis, "income_cents")?;
    let net = int(analysis, "net_cents")?;
    let expense = int(analysis, "expense_cents")?;
    let currency = analysis
        .get("currency")
        .and_then(Value::as_str)
        .unwrap_or("INR");
    let months = analysis
        .get("monthly")
        .and_then(Value::as_array)
        .map(Vec::len)
        .filter(|n| *n > 0)
        .ok_or("analysis.result needs a non-empty array `monthly`")? as i64;
    let mut recs = Vec::new();

    if net < 0 {
        let monthly = mul_div(-net, 1, months);
        recs.push(Rec {
            rule: "net_negative",
            action: "Close the monthly deficit: spending is higher than income".into(),
            rationale: format!(
                "Over {months} month(s) you spent {} more than you earned ({} a month on average); the gap is funded from savings or credit.",
                money(-net, currency),
                money(monthly, currency)
            ),
            evidence: json!({"net_cents": net, "income_cents": income, "expense_cents": expense, "months": months}),
            estimated_monthly_saving_cents: monthly,
        });
    }

    let cats = analysis
        .get("category_totals")
        .and_then(Value::as_array)
        .ok_or("analysis.result needs an array `category_totals`")?;
    let mut disc: Vec<(&str, i64)> = cats
        .iter()
        .filter_map(|c| {
            Some((
                c.get("category")?.as_str()?,
                c.get("expense_cents")?.as_i64()?,
            ))
        })
        .filter(|(c, e)| DISCRETIONARY.contains(c) && *e > 0)
        .collect();
    disc.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (cat, total) in disc.into_iter().take(3) {
        let monthly_avg = mul_div(total, 1, months);
        let saving = mul_div(monthly_avg, TRIM_PCT, 100);
        let share = if expense > 0 {
            ((total as f64 / expense as f64) * 1000.0).round() / 10.0
        } else {
            0.0
        };
        recs.push(Rec {
            rule: "trim_discretionary",
            action: format!("Trim {cat} spending by {TRIM_PCT}%"),
            rationale: format!(
                "{cat} cost {} over the statement ({} a month, {share}% of spending); a {TRIM_PCT}% cut saves about {} a month.",
                money(total, currency),
                money(monthly_avg, currency),
                money(saving, currency)
            ),
            evidence: json!({"category": cat, "total_expense_cents": total, "monthly_avg_cents": monthly_avg, "share_of_expense_pct": share, "trim_pct": TRIM_PCT}),
            estimated_monthly_saving_cents: saving,
        });
    }

    // The same subscription merchant billed more than once in one month.
    let mut subs: BTreeMap<(String, String), Vec<(i64, i64)>> = BTreeMap::new();
    for t in analysis
        .get("transactions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(cat), Some(m), Some(d), Some(a)) = (
            t.get("category").and_then(Value::as_str),
            t.get("merchant").and_then(Value::as_str),
            t.get("date").and_then(Value::as_str),
            t.get("amount_cents").and_then(Value::as_i64),
        ) else {
            continue;
        };
        if cat == "subscriptions" && a < 0 && d.len() >= 7 {
            let line = t.get("line").and_then(Value::as_i64).unwrap_or(0);
            subs.entry((m.to_owned(), d[..7].to_owned()))
                .or_default()
                .push((line, -a));
        }
    }
    for ((merchant, month), charges) in subs {
        if charges.len() < 2 {
            continue;
        }
        let extra: i64 = charges.iter().skip(1).map(|(_, a)| a).sum();
        recs.push(Rec {
            rule: "duplicate_subscription",
            action: format!("Cancel or dispute the duplicate {merchant} subscription charge"),
            rationale: format!(
                "{merchant} billed you {} times in {month} (lines {}); one plan is enough, so the extra {} can be recovered or stopped.",
                charges.len(),
                charges.iter().map(|(l, _)| l.to_string()).collect::<Vec<_>>().join(", "),
                money(extra, currency)
            ),
            evidence: json!({"merchant": merchant, "month": month, "lines": charges.iter().map(|(l, _)| l).collect::<Vec<_>>(), "extra_cents": extra}),
            estimated_monthly_saving_cents: extra,
        });
    }

    if income > 0 && net >= 0 {
        let rate_pct = ((net as f64 / income as f64) * 1000.0).round() / 10.0;
        if net * 100 < income * TARGET_SAVINGS_PCT {
            let gap = mul_div(mul_div(income, TARGET_SAVINGS_PCT, 100) - net, 1, months);
            recs.push(Rec {
                rule: "savings_rate_low",
                action: format!("Raise your savings rate to {TARGET_SAVINGS_PCT}% of income"),
                rationale: format!(
                    "You kept {rate_pct}% of your income; reaching {TARGET_SAVINGS_PCT}% means saving about {} more a month.",
                    money(gap, currency)
                ),
                evidence: json!({"savings_rate_pct": rate_pct, "target_pct": TARGET_SAVINGS_PCT, "net_cents": net, "income_cents": income}),
                estimated_monthly_saving_cents: gap,
            });
        } else {
            let monthly = mul_div(net, 1, months);
            recs.push(Rec {
                rule: "automate_surplus",
                action: "Move the monthly surplus into a recurring deposit or SIP on payday".into(),
                rationale: format!(
                    "You kept {rate_pct}% of your income ({} a month); sweeping it on payday stops it drifting into spending.",
                    money(monthly, currency)
                ),
                evidence: json!({"savings_rate_pct": rate_pct, "monthly_surplus_cents": monthly}),
                estimated_monthly_saving_cents: 0,
            });
        }
    }
    Ok(recs)
}

/// The prompt asking the LLM to rephrase the rationales, one numbered line each.
pub fn phrasing_prompt(recs: &[Rec]) -> String {
    let mut p = String::from(
        "Rewrite each numbered rationale below as one plain, friendly sentence for a retail banking customer. Keep every number exactly as written. Answer with the same numbering, one line per item, nothing else.\n",
    );
    for (i, r) in recs.iter().enumerate() {
        p.push_str(&format!("{}. {}\n", i + 1, r.rationale));
    }
    p
}

/// Numbered lines (`1. text` or `1) text`) from an LLM reply, in order.
pub fn numbered_lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let digits: String = l.chars().take_while(char::is_ascii_digit).collect();
            let rest = l[digits.len()..].strip_prefix(['.', ')'])?.trim();
            let n = digits.parse().ok()?;
            (!rest.is_empty()).then(|| (n, rest.to_owned()))
        })
        .collect()
}

/// The payload. `llm` is the LLM's reply, or why there is none.
pub fn payload(recs: &[Rec], llm: Result<String, String>) -> Value {
    let n = recs.len();
    let (per_item, source, phrasing, summary, note) = match llm {
        Ok(text) => {
            let lines = numbered_lines(&text);
            let in_order =
                lines.len() == n && lines.iter().enumerate().all(|(i, (k, _))| *k == i + 1);
            if n > 0 && in_order {
                (Some(lines), "llm", "per_item", None, None)
            } else if text.trim().is_empty() {
                (
                    None,
                    "rules",
                    "none",
                    None,
                    Some("the LLM returned no text; rule text kept".to_owned()),
                )
            } else {
                (None, "llm", "summary", Some(text.trim().to_owned()), Some("the LLM reply did not match the items one to one; rule rationales kept and the reply given as a summary".to_owned()))
            }
        }
        Err(why) => (
            None,
            "rules",
            "none",
            None,
            Some(format!("LLM unavailable ({why}); rule text kept")),
        ),
    };
    let items: Vec<Value> = recs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let rationale = per_item.as_ref().map(|l| l[i].1.clone()).unwrap_or_else(|| r.rationale.clone());
            json!({
                "rule": r.rule, "action": r.action, "rationale": rationale, "rule_rationale": r.rationale,
                "evidence": r.evidence, "estimated_monthly_saving_cents": r.estimated_monthly_saving_cents,
            })
        })
        .collect();
    json!({
        "recommendations": items,
        "source": source,
        "llm_phrasing": phrasing,
        "llm_summary": summary,
        "note": note,
        "total_estimated_monthly_saving_cents": recs.iter().map(|r| r.estimated_monthly_saving_cents).sum::<i64>(),
    })
}

struct Recommender;

impl Agent for Recommender {
    fn info() -> AgentInfo {
        AgentInfo::new("recommender", "Recommender")
            .subscribes(["analysis.result"])
            .capabilities(["recommend"])
            .risk(RiskLevel::Medium)
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let recs = rules(&msg.json()?).map_err(PluginError::InvalidInput)?;
        let phrased = if recs.is_empty() {
            Err("nothing to phrase".to_owned())
        } else {
            llm::complete(&llm::Request {
                model: None,
                messages: vec![llm::ChatMessage {
                    role: "user".into(),
                    content: phrasing_prompt(&recs),
                }],
                temperature: Some(0.2),
                max_tokens: Some(256),
            })
            .map(|r| r.text)
            .map_err(|e| format!("{e:?}"))
        };
        if let Err(e) = &phrased {
            djinn_sdk::log::warn(&format!("recommender: falling back to rule text: {e}"));
        }
        let out = payload(&recs, phrased);
        let mut reply = msg.reply("recommendations.result", out.to_string());
        reply.metadata.retain(|(k, _)| k != "djinn-gather");
        Ok(vec![reply])
    }
}

djinn_sdk::export_agent!(Recommender);

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis(income: i64, expense: i64) -> Value {
        json!({
            "currency": "INR", "income_cents": income, "expense_cents": expense, "net_cents": income - expense,
            "monthly": [{"month": "2024-01"}, {"month": "2024-02"}],
            "category_totals": [
                {"category": "rent", "expense_cents": 4_000_000},
                {"category": "food_delivery", "expense_cents": 600_000},
                {"category": "shopping", "expense_cents": 400_000},
                {"category": "subscriptions", "expense_cents": 129_800},
                {"category": "entertainment", "expense_cents": 10_000},
            ],
            "transactions": [
                {"line": 5, "date": "2024-02-05", "merchant": "NETFLIX", "category": "subscriptions", "amount_cents": -64_900},
                {"line": 6, "date": "2024-02-06", "merchant": "NETFLIX", "category": "subscriptions", "amount_cents": -64_900},
            ],
        })
    }

    #[test]
    fn deficit_trims_and_duplicate_subscription() {
        let recs = rules(&analysis(4_000_000, 5_139_800)).unwrap();
        let by_rule: Vec<&str> = recs.iter().map(|r| r.rule).collect();
        assert_eq!(
            by_rule,
            vec![
                "net_negative",
                "trim_discretionary",
                "trim_discretionary",
                "trim_discretionary",
                "duplicate_subscription"
            ]
        );
        assert_eq!(recs[0].estimated_monthly_saving_cents, 569_900);
        // food delivery: 600000 / 2 months = 300000 a month, 15% = 45000
        assert_eq!(recs[1].evidence["category"], "food_delivery");
        assert_eq!(recs[1].estimated_monthly_saving_cents, 45_000);
        assert_eq!(recs[3].evidence["category"], "subscriptions");
        assert_eq!(recs[4].estimated_monthly_saving_cents, 64_900);
        assert!(recs[4].rationale.contains("lines 5, 6"));
        assert!(recs.iter().all(|r| !r.rationale.is_empty()));
    }

    #[test]
    fn savings_rate_rules() {
        // income 100000, expense 90000: 10% kept; 20% needs 10000 more over 2 months = 5000 a month.
        let recs = rules(&analysis(10_000_000, 9_000_000)).unwrap();
        let low = recs.iter().find(|r| r.rule == "savings_rate_low").unwrap();
        assert_eq!(low.estimated_monthly_saving_cents, 500_000);
        assert_eq!(low.evidence["savings_rate_pct"], 10.0);
        let recs = rules(&analysis(10_000_000, 5_000_000)).unwrap();
        assert!(recs.iter().any(|r| r.rule == "automate_surplus"));
        assert!(rules(&json!({"income_cents": 1})).is_err());
    }

    #[test]
    fn llm_phrasing_per_item_summary_or_fallback() {
        let recs = rules(&analysis(4_000_000, 5_139_800)).unwrap();
        let n = recs.len();
        let reply: String = (1..=n).map(|i| format!("{i}. phrased {i}\n")).collect();
        let p = payload(&recs, Ok(reply));
        assert_eq!(p["source"], "llm");
        assert_eq!(p["llm_phrasing"], "per_item");
        assert_eq!(p["recommendations"][0]["rationale"], "phrased 1");
        assert_eq!(
            p["recommendations"][0]["rule_rationale"],
            recs[0].rationale.as_str()
        );

        let p = payload(&recs, Ok("[mock 1a2b] Rewrite each".into()));
        assert_eq!(p["source"], "llm");
        assert_eq!(p["llm_phrasing"], "summary");
        assert_eq!(
            p["recommendations"][0]["rationale"],
            recs[0].rationale.as_str()
        );

        let p = payload(&recs, Err("Denied(\"model\")".into()));
        assert_eq!(p["source"], "rules");
        assert!(p["note"].as_str().unwrap().contains("Denied"));
        assert_eq!(p["recommendations"].as_array().unwrap().len(), n);
        assert_eq!(
            p["total_estimated_monthly_saving_cents"],
            recs.iter()
                .map(|r| r.estimated_monthly_saving_cents)
                .sum::<i64>()
        );
    }

    #[test]
    fn numbered_lines_parse() {
        assert_eq!(
            numbered_lines("1. a\n 2) b\nx\n3.\n"),
            vec![(1, "a".into()), (2, "b".into())]
        );
    }
}
