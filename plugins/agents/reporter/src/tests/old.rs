//! The reporter as it was before it wrote its answer without a `Value` tree
//! (commit b22ff67), kept verbatim as the definition the new code must match
//! byte for byte. Only `answer` is new: it is the old `handle` without the
//! message around it.

use djinn_sdk::{Message, MessageExt, PluginError};
use serde_json::{Value, json};

use crate::BRANCHES;

/// The old `handle`'s reply payload for a message on `topic`.
pub fn answer(topic: &str, payload: &str) -> Result<String, PluginError> {
    let msg = Message::new(topic, payload);
    let p = msg.json()?;
    let out = match msg.topic.as_str() {
        "report.request" => statement_answer(p),
        t => specialist_answer(t, &p),
    }
    .map_err(PluginError::InvalidInput)?;
    Ok(out.to_string())
}

/// `INR 1234.50`, `INR -12.05`: plain digits so every figure is easy to check.
pub fn money(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.unsigned_abs();
    format!("{currency} {sign}{}.{:02}", c / 100, c % 100)
}

fn i(v: &Value, k: &str) -> i64 {
    v.get(k).and_then(Value::as_i64).unwrap_or(0)
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn opt_money(v: &Value, k: &str, cur: &str) -> String {
    v.get(k)
        .and_then(Value::as_i64)
        .map(|c| money(c, cur))
        .unwrap_or_else(|| "n/a".into())
}

/// The `answer` for a `report.request`.
pub fn statement_answer(mut req: Value) -> Result<Value, String> {
    let gathered = req
        .get("gathered")
        .ok_or("report.request needs `gathered`")?;
    let a = gathered
        .get("origin")
        .filter(|o| o.is_object())
        .ok_or("report.request needs `gathered.origin` (the analysis)")?;
    let results = gathered
        .get("results")
        .and_then(Value::as_array)
        .ok_or("report.request needs an array `gathered.results`")?;
    for k in ["income_cents", "expense_cents", "net_cents"] {
        if !a.get(k).is_some_and(Value::is_i64) {
            return Err(format!("the analysis has no integer `{k}`"));
        }
    }
    let cur = a.get("currency").and_then(Value::as_str).unwrap_or("INR");
    // The first result on `topic`, if its payload is an object.
    let find_index = |topic: &str| {
        results
            .iter()
            .position(|r| r.get("topic").and_then(Value::as_str) == Some(topic))
            .filter(|&i| results[i].get("payload").is_some_and(Value::is_object))
    };
    let find = |topic: &str| find_index(topic).and_then(|i| results[i].get("payload"));
    let mut failed: Vec<Value> = gathered
        .get("failed")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (topic, agent, _) in BRANCHES {
        let named = failed
            .iter()
            .any(|f| f.get("agent").and_then(Value::as_str) == Some(agent));
        if find(topic).is_none() && !named {
            failed.push(json!({"agent": agent, "reason": format!("no `{topic}` was received")}));
        }
    }

    let mut t = String::new();
    let period = a.get("period").cloned().unwrap_or(Value::Null);
    t.push_str(&format!(
        "Statement analysis ({cur}), {} to {}: {} transactions over {} month(s).\n",
        s(&period, "from"),
        s(&period, "to"),
        i(a, "transaction_count"),
        i(&period, "months"),
    ));
    if let Some(q) = req
        .get("question")
        .and_then(Value::as_str)
        .filter(|q| !q.is_empty())
    {
        t.push_str(&format!("Question: {q}\n"));
    }
    t.push_str("\nSummary\n");
    t.push_str(&format!("- Income: {}\n", money(i(a, "income_cents"), cur)));
    t.push_str(&format!(
        "- Expenses: {}\n",
        money(i(a, "expense_cents"), cur)
    ));
    t.push_str(&format!("- Net: {}\n", money(i(a, "net_cents"), cur)));

    t.push_str("\nTop categories\n");
    let top = array(a, "top_categories");
    if top.is_empty() {
        t.push_str("- no spending\n");
    }
    for c in top {
        t.push_str(&format!(
            "- {}: {} ({}% of spending)\n",
            s(c, "category"),
            money(i(c, "expense_cents"), cur),
            c.get("share_pct").and_then(Value::as_f64).unwrap_or(0.0)
        ));
    }

    t.push_str("\nMonthly\n");
    let monthly = array(a, "monthly");
    for m in monthly {
        t.push_str(&format!(
            "- {}: income {}, expenses {}, net {}\n",
            s(m, "month"),
            money(i(m, "income_cents"), cur),
            money(i(m, "expense_cents"), cur),
            money(i(m, "net_cents"), cur)
        ));
    }

    let forecast = find("forecast.result");
    t.push_str("\nForecast\n");
    match forecast {
        Some(f) => {
            t.push_str(&format!("- Method: {}\n", s(f, "method")));
            for p in f
                .get("forecast")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let interval = match (
                    p.get("lower_cents").and_then(Value::as_i64),
                    p.get("upper_cents").and_then(Value::as_i64),
                ) {
                    (Some(lo), Some(hi)) => {
                        format!(" (interval {} to {})", money(lo, cur), money(hi, cur))
                    }
                    _ => " (no interval: too little history)".into(),
                };
                t.push_str(&format!(
                    "- {}: net {}{interval}\n",
                    s(p, "month"),
                    opt_money(p, "net_cents", cur)
                ));
            }
            for assumption in f
                .get("assumptions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                t.push_str(&format!(
                    "- Assumes: {}\n",
                    assumption.as_str().unwrap_or("")
                ));
            }
        }
        None => t.push_str("- unavailable (see failed branches)\n"),
    }

    let anomalies = find("anomalies.result");
    let anomaly_list = anomalies.map_or(&[][..], |x| array(x, "anomalies"));
    match anomalies {
        Some(_) => {
            t.push_str(&format!("\nAnomalies ({})\n", anomaly_list.len()));
            if anomaly_list.is_empty() {
                t.push_str("- none found\n");
            }
            for x in anomaly_list {
                t.push_str(&format!(
                    "- line {} [{}]: {}\n",
                    i(x, "line"),
                    s(x, "kind"),
                    s(x, "reason")
                ));
            }
        }
        None => t.push_str("\nAnomalies\n- unavailable (see failed branches)\n"),
    }

    let recs = find("recommendations.result");
    match recs {
        Some(r) => {
            let phrasing = match s(r, "llm_phrasing") {
                "per_item" => ", rationales phrased by the LLM",
                "summary" => ", rule rationales; the LLM reply did not match item by item",
                _ => "",
            };
            t.push_str(&format!(
                "\nRecommendations (source: {}{phrasing})\n",
                s(r, "source")
            ));
            let items = array(r, "recommendations");
            if items.is_empty() {
                t.push_str("- none\n");
            }
            for x in items {
                let saving = i(x, "estimated_monthly_saving_cents");
                let saves = if saving > 0 {
                    format!(" (saves about {} a month)", money(saving, cur))
                } else {
                    String::new()
                };
                t.push_str(&format!(
                    "- {}{saves}: {}\n",
                    s(x, "action"),
                    s(x, "rationale")
                ));
            }
        }
        None => t.push_str("\nRecommendations\n- unavailable (see failed branches)\n"),
    }

    let ingest_errors = array(a, "ingest_errors");
    t.push_str("\nData quality\n");
    if ingest_errors.is_empty() {
        t.push_str("- every statement row was read\n");
    }
    for e in ingest_errors {
        t.push_str(&format!(
            "- line {} skipped: {}\n",
            i(e, "line"),
            s(e, "message")
        ));
    }

    t.push_str("\nFailed branches\n");
    if failed.is_empty() {
        t.push_str("- none\n");
    }
    for f in &failed {
        t.push_str(&format!("- {}: {}\n", s(f, "agent"), s(f, "reason")));
    }

    // What the report needs from the borrowed request, before its parts are
    // moved into the report (moved, not cloned: they are most of the request).
    let cur = cur.to_owned();
    let summary = json!({
        "income_cents": i(a, "income_cents"), "expense_cents": i(a, "expense_cents"), "net_cents": i(a, "net_cents"),
        "transaction_count": i(a, "transaction_count"), "period": period,
    });
    let anomaly_count = anomalies.map(|_| anomaly_list.len());
    let [forecast, anomalies, recs] = [
        "forecast.result",
        "anomalies.result",
        "recommendations.result",
    ]
    .map(|topic| find_index(topic).map(|i| format!("/gathered/results/{i}/payload")));
    let mut take = |pointer: &str| req.pointer_mut(pointer).map(Value::take);
    let mut take_array = |key: &str| match take(&format!("/gathered/origin/{key}")) {
        Some(v @ Value::Array(_)) => v,
        _ => Value::Array(Vec::new()),
    };
    let (top, monthly, ingest_errors) = (
        take_array("top_categories"),
        take_array("monthly"),
        take_array("ingest_errors"),
    );
    let mut take_result = |pointer: Option<String>| pointer.and_then(|p| take(&p));
    let (forecast, anomalies, recs) = (
        take_result(forecast),
        take_result(anomalies),
        take_result(recs),
    );
    let category_totals = take("/gathered/origin/category_totals").unwrap_or(Value::Null);
    let question = take("/question").unwrap_or(Value::Null);

    let report = json!({
        "kind": "statement_analysis",
        "question": question,
        "currency": cur,
        "summary": summary,
        "top_categories": top,
        "category_totals": category_totals,
        "monthly": monthly,
        "forecast": forecast,
        "anomaly_count": anomaly_count,
        "anomalies": anomalies,
        "recommendations": recs,
        "ingest_errors": ingest_errors,
        "sections": ["Summary", "Top categories", "Monthly", "Forecast", "Anomalies", "Recommendations", "Data quality", "Failed branches"],
    });
    Ok(json!({"text": t, "report": report, "failed_branches": failed}))
}

/// The array at `v[k]`, or none.
fn array<'a>(v: &'a Value, k: &str) -> &'a [Value] {
    v.get(k)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn num(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "n/a".into(),
    }
}

/// The `answer` for a specialist's result.
pub fn specialist_answer(topic: &str, p: &Value) -> Result<Value, String> {
    if !p.is_object() {
        return Err(format!("`{topic}` payload must be a JSON object"));
    }
    let cur = p.get("currency").and_then(Value::as_str).unwrap_or("INR");
    let mut t = String::new();
    let (kind, sections): (&str, &[&str]) = match topic {
        "loan.result" => {
            t.push_str("Loan\n");
            t.push_str(&format!(
                "- EMI: {} a month for {} months\n",
                opt_money(p, "emi_cents", cur),
                num(&p["inputs"], "months")
            ));
            t.push_str(&format!(
                "- Total interest: {}\n",
                opt_money(p, "total_interest_cents", cur)
            ));
            t.push_str(&format!(
                "- Total paid: {}\n",
                opt_money(p, "total_payment_cents", cur)
            ));
            match p.get("dscr").and_then(Value::as_f64) {
                Some(d) => t.push_str(&format!(
                    "- DSCR: {d} (threshold {}): {}\n",
                    num(p, "dscr_threshold"),
                    if p["affordable"] == Value::Bool(true) {
                        "affordable"
                    } else {
                        "not affordable"
                    }
                )),
                None => t.push_str("- DSCR: not computed (no monthly net income given)\n"),
            }
            t.push_str(&format!("- Formula: {}\n", s(p, "formula")));
            ("loan", &["EMI", "Total interest", "DSCR"])
        }
        "var.result" => {
            let h = &p["historical"];
            let m = &p["parametric"];
            t.push_str(&format!(
                "Value at Risk ({} confidence, {} day(s), {} observations)\n",
                num(p, "confidence"),
                num(p, "horizon_days"),
                num(p, "observations")
            ));
            t.push_str(&format!(
                "- Historical VaR: {} ({}% of the portfolio)\n",
                opt_money(h, "var_cents", cur),
                num(h, "var_pct")
            ));
            t.push_str(&format!(
                "- Historical expected shortfall: {} ({}%)\n",
                opt_money(h, "es_cents", cur),
                num(h, "es_pct")
            ));
            t.push_str(&format!(
                "- Parametric VaR: {} ({}%, z = {})\n",
                opt_money(m, "var_cents", cur),
                num(m, "var_pct"),
                num(m, "z")
            ));
            t.push_str(&format!(
                "- Parametric expected shortfall: {} ({}%)\n",
                opt_money(m, "es_cents", cur),
                num(m, "es_pct")
            ));
            (
                "var",
                &["Historical VaR", "Parametric VaR", "expected shortfall"],
            )
        }
        "lcr.result" => {
            t.push_str("Liquidity Coverage Ratio\n");
            t.push_str(&format!(
                "- HQLA: {}\n",
                opt_money(&p["hqla"], "total_cents", cur)
            ));
            t.push_str(&format!(
                "- Net cash outflows: {}\n",
                opt_money(p, "net_outflows_cents", cur)
            ));
            t.push_str(&format!(
                "- LCR: {}% ({})\n",
                num(p, "lcr_pct"),
                if p["compliant"] == Value::Bool(true) {
                    "compliant, at least 100%"
                } else {
                    "NOT compliant, below 100%"
                }
            ));
            ("lcr", &["HQLA", "Net cash outflows", "LCR"])
        }
        "motor-insurance.result" => {
            t.push_str("Motor insurance\n");
            t.push_str(&format!("- No-claim bonus: {}%\n", num(p, "ncb_pct")));
            t.push_str(&format!(
                "- Own-damage premium: {} after a discount of {}\n",
                opt_money(p, "od_premium_cents", cur),
                opt_money(p, "ncb_discount_cents", cur)
            ));
            t.push_str(&format!(
                "- Third-party premium: {}\n",
                opt_money(p, "tp_premium_cents", cur)
            ));
            t.push_str(&format!(
                "- Total premium: {}\n",
                opt_money(p, "total_premium_cents", cur)
            ));
            match p.get("total_loss").and_then(Value::as_bool) {
                Some(tl) => t.push_str(&format!(
                    "- Claim: damage is {}% of IDV: {}\n",
                    num(p, "damage_pct_of_idv"),
                    if tl {
                        "total loss"
                    } else {
                        "repairable (not a total loss)"
                    }
                )),
                None => t.push_str("- Claim: no damage amount given\n"),
            }
            (
                "motor-insurance",
                &["No-claim bonus", "Total premium", "Claim"],
            )
        }
        "kyc.result" => {
            t.push_str(&format!("KYC decision: {}\n", s(p, "decision")));
            t.push_str(&format!("- Risk score: {}\n", num(p, "score")));
            t.push_str(&format!("- Reason: {}\n", s(p, "reason")));
            for f in p
                .get("factors")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if f["applied"] == Value::Bool(true) {
                    t.push_str(&format!(
                        "- Factor {} (+{}): {}\n",
                        s(f, "factor"),
                        num(f, "weight"),
                        s(f, "detail")
                    ));
                }
            }
            ("kyc", &["KYC decision", "Risk score"])
        }
        other => return Err(format!("reporter does not handle topic `{other}`")),
    };
    t.push_str("\nFailed branches\n- none\n");
    let mut all_sections: Vec<&str> = sections.to_vec();
    all_sections.push("Failed branches");
    Ok(json!({
        "text": t,
        "report": {"kind": kind, "result": p, "sections": all_sections},
        "failed_branches": [],
    }))
}
