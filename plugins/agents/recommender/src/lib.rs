//! Suggests actions from the analysis (`analysis.result` → `recommendations.result`).
//!
//! The actions, their evidence and their estimated savings come from fixed rules
//! over the analysis numbers, so they are reproducible and auditable. The LLM is
//! only asked to phrase the rationales; when it errors, is denied or answers in a
//! shape that cannot be matched item by item, the rule text stands and the
//! payload says which happened (`source`, `llm_phrasing`). Every recommendation
//! always carries a `rationale`, as an explainability policy expects.

use std::collections::BTreeMap;

use djinn_sdk::json::{Object, Skip};
use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError, RiskLevel, llm};
use serde::{Deserialize, Serialize};
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

/// What the rules read from an `analysis.result`.
pub struct Inputs<'a> {
    pub income: i64,
    pub net: i64,
    pub expense: i64,
    pub currency: &'a str,
    pub months: i64,
    /// (category, expense cents) of each category total.
    pub categories: Vec<(&'a str, i64)>,
    pub transactions: Vec<TxRow<'a>>,
}

/// The fields of a transaction the duplicate-subscription rule reads.
pub struct TxRow<'a> {
    pub category: &'a str,
    pub merchant: &'a str,
    pub date: &'a str,
    pub amount_cents: i64,
    pub line: i64,
}

/// Reads the rules' inputs from an `analysis.result` value, naming what is missing.
pub fn inputs(analysis: &Value) -> Result<Inputs<'_>, String> {
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
    let categories = analysis
        .get("category_totals")
        .and_then(Value::as_array)
        .ok_or("analysis.result needs an array `category_totals`")?
        .iter()
        .filter_map(|c| {
            Some((
                c.get("category")?.as_str()?,
                c.get("expense_cents")?.as_i64()?,
            ))
        })
        .collect();
    let transactions = analysis
        .get("transactions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some(TxRow {
                category: t.get("category")?.as_str()?,
                merchant: t.get("merchant")?.as_str()?,
                date: t.get("date")?.as_str()?,
                amount_cents: t.get("amount_cents")?.as_i64()?,
                line: t.get("line").and_then(Value::as_i64).unwrap_or(0),
            })
        })
        .collect();
    Ok(Inputs {
        income,
        net,
        expense,
        currency,
        months,
        categories,
        transactions,
    })
}

/// The rule-based recommendations for an `analysis.result` payload.
pub fn rules(analysis: &Value) -> Result<Vec<Rec>, String> {
    inputs(analysis).map(|i| rules_for(&i))
}

/// The rule-based recommendations for the analysis figures.
pub fn rules_for(inputs: &Inputs) -> Vec<Rec> {
    let Inputs {
        income,
        net,
        expense,
        currency,
        months,
        ..
    } = *inputs;
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

    let mut disc: Vec<(&str, i64)> = inputs
        .categories
        .iter()
        .copied()
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
    for t in &inputs.transactions {
        let (cat, m, d, a) = (t.category, t.merchant, t.date, t.amount_cents);
        if cat == "subscriptions" && a < 0 && d.len() >= 7 {
            subs.entry((m.to_owned(), d[..7].to_owned()))
                .or_default()
                .push((t.line, -a));
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
    recs
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

/// How the LLM's reply (or why there is none) is used in the payload.
struct Phrasing<'a> {
    /// The reply's numbered lines, one per recommendation in order.
    per_item: Option<Vec<(usize, String)>>,
    source: &'static str,
    phrasing: &'static str,
    summary: Option<&'a str>,
    note: Option<String>,
}

fn phrasing(n: usize, llm: &Result<String, String>) -> Phrasing<'_> {
    match llm {
        Ok(text) => {
            let lines = numbered_lines(text);
            let in_order =
                lines.len() == n && lines.iter().enumerate().all(|(i, (k, _))| *k == i + 1);
            if n > 0 && in_order {
                Phrasing {
                    per_item: Some(lines),
                    source: "llm",
                    phrasing: "per_item",
                    summary: None,
                    note: None,
                }
            } else if text.trim().is_empty() {
                Phrasing {
                    per_item: None,
                    source: "rules",
                    phrasing: "none",
                    summary: None,
                    note: Some("the LLM returned no text; rule text kept".to_owned()),
                }
            } else {
                Phrasing {
                    per_item: None,
                    source: "llm",
                    phrasing: "summary",
                    summary: Some(text.trim()),
                    note: Some("the LLM reply did not match the items one to one; rule rationales kept and the reply given as a summary".to_owned()),
                }
            }
        }
        Err(why) => Phrasing {
            per_item: None,
            source: "rules",
            phrasing: "none",
            summary: None,
            note: Some(format!("LLM unavailable ({why}); rule text kept")),
        },
    }
}

impl Phrasing<'_> {
    /// The rationale shown for recommendation `i`: the LLM's line or the rule's.
    fn rationale<'r>(&'r self, i: usize, rec: &'r Rec) -> &'r str {
        self.per_item
            .as_ref()
            .and_then(|lines| lines.get(i))
            .map_or(rec.rationale.as_str(), |(_, text)| text.as_str())
    }
}

/// The payload. `llm` is the LLM's reply, or why there is none.
pub fn payload(recs: &[Rec], llm: Result<String, String>) -> Value {
    let p = phrasing(recs.len(), &llm);
    let items: Vec<Value> = recs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            json!({
                "rule": r.rule, "action": r.action, "rationale": p.rationale(i, r), "rule_rationale": r.rationale,
                "evidence": r.evidence, "estimated_monthly_saving_cents": r.estimated_monthly_saving_cents,
            })
        })
        .collect();
    json!({
        "recommendations": items,
        "source": p.source,
        "llm_phrasing": p.phrasing,
        "llm_summary": p.summary,
        "note": p.note,
        "total_estimated_monthly_saving_cents": recs.iter().map(|r| r.estimated_monthly_saving_cents).sum::<i64>(),
    })
}

/// The text of [`payload`], printed straight from borrowed structs: the same
/// bytes as `payload(recs, llm).to_string()` (serde_json's own escaping and
/// number printing, keys in the sorted order a `Value` object prints them in).
/// Why: building the `Value` tree (a `BTreeMap` node and a `String` copy per
/// field) and then printing it cost about 250k fuel on the sample.
pub fn payload_text(recs: &[Rec], llm: Result<String, String>) -> String {
    let p = phrasing(recs.len(), &llm);
    let out = PayloadOut {
        llm_phrasing: p.phrasing,
        llm_summary: p.summary,
        note: p.note.as_deref(),
        recommendations: recs
            .iter()
            .enumerate()
            .map(|(i, r)| ItemOut {
                action: &r.action,
                estimated_monthly_saving_cents: r.estimated_monthly_saving_cents,
                evidence: &r.evidence,
                rationale: p.rationale(i, r),
                rule: r.rule,
                rule_rationale: &r.rationale,
            })
            .collect(),
        source: p.source,
        total_estimated_monthly_saving_cents: recs
            .iter()
            .map(|r| r.estimated_monthly_saving_cents)
            .sum::<i64>(),
    };
    // Serializing borrowed strs, integers and `Value`s into a `Vec` cannot fail.
    serde_json::to_string(&out).unwrap_or_else(|_| payload(recs, llm).to_string())
}

/// [`payload`]'s object. The fields are declared in sorted order because a
/// `Value` object (a `BTreeMap`) prints its keys sorted and a derived
/// `Serialize` prints them in declaration order.
#[derive(Serialize)]
struct PayloadOut<'a> {
    llm_phrasing: &'a str,
    llm_summary: Option<&'a str>,
    note: Option<&'a str>,
    recommendations: Vec<ItemOut<'a>>,
    source: &'a str,
    total_estimated_monthly_saving_cents: i64,
}

/// One recommendation in [`PayloadOut`]; fields sorted as there.
#[derive(Serialize)]
struct ItemOut<'a> {
    action: &'a str,
    estimated_monthly_saving_cents: i64,
    evidence: &'a Value,
    rationale: &'a str,
    rule: &'a str,
    rule_rationale: &'a str,
}

/// The fast path: reads the rules' inputs from the pipeline's own
/// `analysis.result` shape (the analyzer's fields only) into borrowed structs,
/// checking and skipping what the rules do not read. Any other payload gives
/// `None` and is read by [`inputs`] as before, which keeps its leniency and errors.
fn inputs_text(payload: &str) -> Option<Inputs<'_>> {
    let Object(a) = serde_json::from_str::<Object<AnalysisIn>>(payload).ok()?;
    if a.monthly.is_empty() {
        return None;
    }
    Some(Inputs {
        income: a.income_cents,
        net: a.net_cents,
        expense: a.expense_cents,
        currency: a.currency,
        months: a.monthly.len() as i64,
        categories: a
            .category_totals
            .into_iter()
            .map(|Object(c)| (c.category, c.expense_cents))
            .collect(),
        transactions: a
            .transactions
            .into_iter()
            .map(|Object(t)| TxRow {
                category: t.category,
                merchant: t.merchant,
                date: t.date,
                amount_cents: t.amount_cents,
                line: t.line,
            })
            .collect(),
    })
}

/// The analyzer's fields; those the rules do not read are checked and skipped.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalysisIn<'a> {
    #[serde(borrow)]
    category_totals: Vec<Object<CategoryIn<'a>>>,
    currency: &'a str,
    expense_cents: i64,
    income_cents: i64,
    #[serde(default)]
    #[allow(dead_code)]
    ingest_errors: Skip,
    monthly: Vec<Skip>,
    net_cents: i64,
    #[serde(default)]
    #[allow(dead_code)]
    period: Skip,
    #[serde(default)]
    #[allow(dead_code)]
    question: Skip,
    #[serde(default)]
    #[allow(dead_code)]
    top_categories: Skip,
    #[serde(default)]
    #[allow(dead_code)]
    transaction_count: Skip,
    #[serde(borrow)]
    transactions: Vec<Object<TxIn<'a>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryIn<'a> {
    category: &'a str,
    #[serde(default)]
    #[allow(dead_code)]
    count: Skip,
    expense_cents: i64,
    #[serde(default)]
    #[allow(dead_code)]
    income_cents: Skip,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TxIn<'a> {
    amount_cents: i64,
    category: &'a str,
    date: &'a str,
    line: i64,
    merchant: &'a str,
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
        let recs = match inputs_text(&msg.payload) {
            Some(inputs) => rules_for(&inputs),
            None => rules(&msg.json()?).map_err(PluginError::InvalidInput)?,
        };
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
        let out = payload_text(&recs, phrased);
        let mut reply = msg.reply("recommendations.result", out);
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

    /// An `analysis.result` as the analyzer prints it.
    fn printed(income: i64, expense: i64) -> Value {
        let mut a = analysis(income, expense);
        for c in a["category_totals"].as_array_mut().unwrap() {
            c["count"] = json!(2);
            c["income_cents"] = json!(0);
        }
        for (k, v) in [
            ("ingest_errors", json!([])),
            (
                "period",
                json!({"from": "2024-01-01", "months": 2, "to": "2024-02-28"}),
            ),
            ("question", json!("q")),
            ("top_categories", json!([])),
            ("transaction_count", json!(2)),
        ] {
            a[k] = v;
        }
        a["monthly"] = json!([{"count": 1, "expense_cents": 1, "income_cents": 1, "month": "2024-01", "net_cents": 0}, {"count": 1, "expense_cents": 1, "income_cents": 1, "month": "2024-02", "net_cents": 0}]);
        a
    }

    /// Same rules from the fast path as from the `Value` path, or it declines.
    fn same_as_value_path(a: &Value) -> Option<Vec<Rec>> {
        let text = a.to_string();
        let fast = rules_for(&inputs_text(&text)?);
        assert_eq!(fast, rules(a).unwrap());
        Some(fast)
    }

    #[test]
    fn fast_path_gives_the_value_paths_rules() {
        for (income, expense) in [
            (4_000_000, 5_139_800),
            (10_000_000, 9_000_000),
            (10_000_000, 5_000_000),
        ] {
            let recs = same_as_value_path(&printed(income, expense)).expect("the pipeline's shape");
            assert!(!recs.is_empty());
        }
        let recs = same_as_value_path(&printed(4_000_000, 5_139_800)).unwrap();
        assert!(recs.iter().any(|r| r.rule == "duplicate_subscription"));
    }

    #[test]
    fn other_shapes_take_the_value_path() {
        let good = printed(4_000_000, 5_139_800);
        assert!(inputs_text(&good.to_string()).is_some());
        let mut cases = Vec::new();
        for (k, v) in [
            ("currency", json!(7)),
            ("monthly", json!([])),
            ("note", json!(1)),
            ("net_cents", json!(1.5)),
        ] {
            let mut a = good.clone();
            a[k] = v;
            cases.push(a.to_string());
        }
        let mut a = good.clone();
        a["transactions"][0].as_object_mut().unwrap().remove("line");
        cases.push(a.to_string());
        let mut a = good.clone();
        a["category_totals"][0]["expense_cents"] = Value::Null;
        cases.push(a.to_string());
        cases.push(
            good.to_string()
                .replacen(r#""question":"q""#, r#""question":1e400"#, 1),
        );
        cases.push(
            good.to_string()
                .replacen(r#""question":"q""#, r#""question":"\ud800""#, 1),
        );
        for text in cases {
            assert!(inputs_text(&text).is_none(), "{text}");
        }
    }

    /// `payload_text` prints what `payload` builds, byte for byte, for every way
    /// the LLM's reply is used and for strings serde_json must escape.
    #[test]
    fn payload_text_is_the_printed_payload() {
        let mut odd = printed(4_000_000, 5_139_800);
        for t in odd["transactions"].as_array_mut().unwrap() {
            t["merchant"] = json!("NET\"FLIX\\ \u{1}\n\u{7f} é ✓ 😀");
        }
        odd["currency"] = json!("₹\t\"");
        let mut all = vec![
            rules(&printed(4_000_000, 5_139_800)).unwrap(),
            rules(&printed(10_000_000, 9_000_000)).unwrap(),
            rules(&printed(10_000_000, 5_000_000)).unwrap(),
            rules(&odd).unwrap(),
            Vec::new(),
        ];
        // A negative saving and a share that prints with many digits.
        all.push(vec![Rec {
            rule: "net_negative",
            action: "a".into(),
            rationale: "r".into(),
            evidence: json!({"x": 1.0 / 3.0, "y": -0.0, "z": 1e300, "n": null, "l": [1, -2]}),
            estimated_monthly_saving_cents: -5,
        }]);
        for recs in &all {
            let n = recs.len();
            let per_item: String = (1..=n)
                .map(|i| format!("{i}. \"phrased\" {i} ✓\n"))
                .collect();
            for llm in [
                Ok(per_item),
                Ok("  [mock 1a2b] Rewrite…\n\u{2}\t ".to_owned()),
                Ok(" \n ".to_owned()),
                Ok(String::new()),
                Err("Denied(\"model\")".to_owned()),
            ] {
                assert_eq!(
                    payload_text(recs, llm.clone()),
                    payload(recs, llm).to_string()
                );
            }
        }
    }
}
