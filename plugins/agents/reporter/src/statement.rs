//! The answer to a `report.request`: the statement analysis and the branch
//! results, written as text and echoed as the structured report.

use std::borrow::Cow;

use crate::BRANCHES;
use crate::print::{ObjectWriter, write_array, write_escaped, write_opt, write_strings};
use crate::text::{Text, push_i64, push_u64};
use crate::tree::Json;

/// The sections of a statement report, in the order the text has them.
const SECTIONS: [&str; 8] = [
    "Summary",
    "Top categories",
    "Monthly",
    "Forecast",
    "Anomalies",
    "Recommendations",
    "Data quality",
    "Failed branches",
];

fn int(v: &Json, k: &str) -> i64 {
    v.get(k).and_then(Json::as_i64).unwrap_or(0)
}

fn str<'t>(v: &'t Json, k: &str) -> &'t str {
    v.get(k).and_then(Json::as_str).unwrap_or("")
}

/// The array at `v[k]`, or none.
fn array<'t, 'a>(v: &'t Json<'a>, k: &str) -> &'t [Json<'a>] {
    v.get(k).and_then(Json::as_array).unwrap_or(&[])
}

/// `{"agent": agent, "reason": "no `topic` was received"}`.
fn missing_branch(agent: &'static str, topic: &str) -> Json<'static> {
    let reason = ["no `", topic, "` was received"].concat();
    Json::object(vec![
        ("agent".into(), Json::String(agent.into())),
        ("reason".into(), Json::String(reason.into())),
    ])
}

/// The `answer` payload (JSON text) for a `report.request`.
pub fn answer(req: &Json) -> Result<String, String> {
    let gathered = req
        .get("gathered")
        .ok_or("report.request needs `gathered`")?;
    let a = gathered
        .get("origin")
        .filter(|o| o.is_object())
        .ok_or("report.request needs `gathered.origin` (the analysis)")?;
    let results = gathered
        .get("results")
        .and_then(Json::as_array)
        .ok_or("report.request needs an array `gathered.results`")?;
    for k in ["income_cents", "expense_cents", "net_cents"] {
        if !a.get(k).is_some_and(Json::is_i64) {
            return Err(format!("the analysis has no integer `{k}`"));
        }
    }
    let cur = a.get("currency").and_then(Json::as_str).unwrap_or("INR");
    // The payload of the first result on `topic`, if it is an object.
    let find = |topic: &str| {
        results
            .iter()
            .find(|r| r.get("topic").and_then(Json::as_str) == Some(topic))
            .and_then(|r| r.get("payload"))
            .filter(|p| p.is_object())
    };
    let mut failed: Vec<Cow<Json>> = gathered
        .get("failed")
        .and_then(Json::as_array)
        .unwrap_or(&[])
        .iter()
        .map(Cow::Borrowed)
        .collect();
    for &(topic, agent, _) in BRANCHES {
        let named = failed
            .iter()
            .any(|f| f.get("agent").and_then(Json::as_str) == Some(agent));
        if find(topic).is_none() && !named {
            failed.push(Cow::Owned(missing_branch(agent, topic)));
        }
    }

    // The sample request's text is 3 KB.
    let mut t = Text::with_capacity(4096);
    let period = a.get("period");
    let (from, to, months) = period.map_or(("", "", 0), |p| {
        (str(p, "from"), str(p, "to"), int(p, "months"))
    });
    t.push("Statement analysis (")
        .push(cur)
        .push("), ")
        .push(from)
        .push(" to ")
        .push(to)
        .push(": ")
        .int(int(a, "transaction_count"))
        .push(" transactions over ")
        .int(months)
        .push(" month(s).\n");
    if let Some(q) = req
        .get("question")
        .and_then(Json::as_str)
        .filter(|q| !q.is_empty())
    {
        t.push("Question: ").push(q).push("\n");
    }
    let (income, expense, net) = (
        int(a, "income_cents"),
        int(a, "expense_cents"),
        int(a, "net_cents"),
    );
    t.push("\nSummary\n- Income: ").money(income, cur);
    t.push("\n- Expenses: ").money(expense, cur);
    t.push("\n- Net: ").money(net, cur).push("\n");

    t.push("\nTop categories\n");
    let top = array(a, "top_categories");
    if top.is_empty() {
        t.push("- no spending\n");
    }
    for c in top {
        let share = c.get("share_pct").and_then(Json::as_f64).unwrap_or(0.0);
        t.push("- ")
            .push(str(c, "category"))
            .push(": ")
            .money(int(c, "expense_cents"), cur)
            .push(" (")
            .float(share)
            .push("% of spending)\n");
    }

    t.push("\nMonthly\n");
    let monthly = array(a, "monthly");
    for m in monthly {
        t.push("- ")
            .push(str(m, "month"))
            .push(": income ")
            .money(int(m, "income_cents"), cur)
            .push(", expenses ")
            .money(int(m, "expense_cents"), cur)
            .push(", net ")
            .money(int(m, "net_cents"), cur)
            .push("\n");
    }

    let forecast = find("forecast.result");
    t.push("\nForecast\n");
    match forecast {
        Some(f) => {
            t.push("- Method: ").push(str(f, "method")).push("\n");
            for p in array(f, "forecast") {
                t.push("- ")
                    .push(str(p, "month"))
                    .push(": net ")
                    .opt_money(p.get("net_cents").and_then(Json::as_i64), cur);
                match (
                    p.get("lower_cents").and_then(Json::as_i64),
                    p.get("upper_cents").and_then(Json::as_i64),
                ) {
                    (Some(lo), Some(hi)) => t
                        .push(" (interval ")
                        .money(lo, cur)
                        .push(" to ")
                        .money(hi, cur)
                        .push(")"),
                    _ => t.push(" (no interval: too little history)"),
                };
                t.push("\n");
            }
            for assumption in array(f, "assumptions") {
                t.push("- Assumes: ")
                    .push(assumption.as_str().unwrap_or(""))
                    .push("\n");
            }
        }
        None => {
            t.push("- unavailable (see failed branches)\n");
        }
    }

    let anomalies = find("anomalies.result");
    let anomaly_list = anomalies.map_or(&[][..], |x| array(x, "anomalies"));
    match anomalies {
        Some(_) => {
            t.push("\nAnomalies (")
                .uint(anomaly_list.len() as u64)
                .push(")\n");
            if anomaly_list.is_empty() {
                t.push("- none found\n");
            }
            for x in anomaly_list {
                t.push("- line ")
                    .int(int(x, "line"))
                    .push(" [")
                    .push(str(x, "kind"))
                    .push("]: ")
                    .push(str(x, "reason"))
                    .push("\n");
            }
        }
        None => {
            t.push("\nAnomalies\n- unavailable (see failed branches)\n");
        }
    }

    let recs = find("recommendations.result");
    match recs {
        Some(r) => {
            let phrasing = match str(r, "llm_phrasing") {
                "per_item" => ", rationales phrased by the LLM",
                "summary" => ", rule rationales; the LLM reply did not match item by item",
                _ => "",
            };
            t.push("\nRecommendations (source: ")
                .push(str(r, "source"))
                .push(phrasing)
                .push(")\n");
            let items = array(r, "recommendations");
            if items.is_empty() {
                t.push("- none\n");
            }
            for x in items {
                t.push("- ").push(str(x, "action"));
                let saving = int(x, "estimated_monthly_saving_cents");
                if saving > 0 {
                    t.push(" (saves about ")
                        .money(saving, cur)
                        .push(" a month)");
                }
                t.push(": ").push(str(x, "rationale")).push("\n");
            }
        }
        None => {
            t.push("\nRecommendations\n- unavailable (see failed branches)\n");
        }
    }

    let ingest_errors = array(a, "ingest_errors");
    t.push("\nData quality\n");
    if ingest_errors.is_empty() {
        t.push("- every statement row was read\n");
    }
    for e in ingest_errors {
        t.push("- line ")
            .int(int(e, "line"))
            .push(" skipped: ")
            .push(str(e, "message"))
            .push("\n");
    }

    t.push("\nFailed branches\n");
    if failed.is_empty() {
        t.push("- none\n");
    }
    for f in &failed {
        t.push("- ")
            .push(str(f, "agent"))
            .push(": ")
            .push(str(f, "reason"))
            .push("\n");
    }
    let text = t.into_string();

    // Printed straight from the request's parts (fuel: building a tree for the
    // answer deep-copied them, twice), in the shape and key order of the
    // `Value` this answer used to be.
    // Room for the escaped text and the echoed request (8 KB in the sample).
    let mut out = String::with_capacity(2 * text.len() + 8192);
    let mut answer = ObjectWriter::new(&mut out);
    write_array(answer.key("failed_branches"), failed.iter().map(|f| &**f));
    let mut report = ObjectWriter::new(answer.key("report"));
    write_opt(report.key("anomalies"), anomalies);
    match anomalies {
        Some(_) => push_u64(report.key("anomaly_count"), anomaly_list.len() as u64),
        None => report.key("anomaly_count").push_str("null"),
    }
    write_opt(report.key("category_totals"), a.get("category_totals"));
    write_escaped(report.key("currency"), cur);
    write_opt(report.key("forecast"), forecast);
    write_array(report.key("ingest_errors"), ingest_errors);
    write_escaped(report.key("kind"), "statement_analysis");
    write_array(report.key("monthly"), monthly);
    write_opt(report.key("question"), req.get("question"));
    write_opt(report.key("recommendations"), recs);
    write_strings(report.key("sections"), &SECTIONS);
    let mut summary = ObjectWriter::new(report.key("summary"));
    push_i64(summary.key("expense_cents"), expense);
    push_i64(summary.key("income_cents"), income);
    push_i64(summary.key("net_cents"), net);
    write_opt(summary.key("period"), period);
    push_i64(
        summary.key("transaction_count"),
        int(a, "transaction_count"),
    );
    summary.end();
    write_array(report.key("top_categories"), top);
    report.end();
    write_escaped(answer.key("text"), &text);
    answer.end();
    Ok(out)
}
