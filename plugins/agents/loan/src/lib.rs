//! Loan EMI, amortisation schedule and affordability (`loan.request` → `loan.result`).
//!
//! EMI = P·r·(1+r)^n / ((1+r)^n − 1) with r = APR/12 (r = 0 gives P/n); the
//! standard reducing-balance formula (e.g. RBI's and every Indian bank's EMI
//! calculators). The EMI is rounded to the paisa; each month's interest is the
//! balance times r rounded to the paisa, and the last instalment absorbs the
//! rounding so the schedule closes at exactly zero. DSCR = monthly net income /
//! EMI, affordable at 1.25 or more (Genie's `loan_advisor` threshold).

use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError};
use serde::Deserialize;
use serde_json::{Value, json};

/// Minimum debt-service coverage ratio treated as affordable.
pub const DSCR_THRESHOLD: f64 = 1.25;
/// Longest loan accepted, in months (50 years).
pub const MAX_MONTHS: u32 = 600;

/// The `loan.request` payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoanRequest {
    pub principal_cents: i64,
    pub annual_rate_pct: f64,
    pub months: u32,
    #[serde(default)]
    pub monthly_net_income_cents: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
}

/// One instalment.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub month: u32,
    pub payment_cents: i64,
    pub interest_cents: i64,
    pub principal_cents: i64,
    pub balance_cents: i64,
}

/// The EMI in exact (unrounded) currency units of a cent.
pub fn emi_exact(principal_cents: i64, annual_rate_pct: f64, months: u32) -> f64 {
    let p = principal_cents as f64;
    let r = annual_rate_pct / 100.0 / 12.0;
    let n = f64::from(months);
    if r == 0.0 {
        return p / n;
    }
    let g = (1.0 + r).powf(n);
    p * r * g / (g - 1.0)
}

/// Checks the request; the message names the field and the accepted range.
pub fn validate(req: &LoanRequest) -> Result<(), String> {
    if req.principal_cents <= 0 {
        return Err("`principal_cents` must be a positive integer (minor units)".into());
    }
    if req.principal_cents > 1_000_000_000_000_000 {
        return Err("`principal_cents` is implausibly large".into());
    }
    if !req.annual_rate_pct.is_finite() || !(0.0..=100.0).contains(&req.annual_rate_pct) {
        return Err(
            "`annual_rate_pct` must be between 0 and 100 (e.g. 10.5 for 10.5% a year)".into(),
        );
    }
    if req.months == 0 || req.months > MAX_MONTHS {
        return Err(format!("`months` must be between 1 and {MAX_MONTHS}"));
    }
    if req.monthly_net_income_cents.is_some_and(|i| i < 0) {
        return Err("`monthly_net_income_cents` must not be negative".into());
    }
    Ok(())
}

/// The amortisation schedule for a rounded EMI; closes at zero.
pub fn schedule(
    principal_cents: i64,
    annual_rate_pct: f64,
    months: u32,
    emi_cents: i64,
) -> Vec<Row> {
    let r = annual_rate_pct / 100.0 / 12.0;
    let mut balance = principal_cents;
    let mut rows = Vec::with_capacity(months as usize);
    for month in 1..=months {
        let interest = (balance as f64 * r).round() as i64;
        let (payment, principal) = if month == months {
            (balance + interest, balance)
        } else {
            let principal = (emi_cents - interest).min(balance);
            (principal + interest, principal)
        };
        balance -= principal;
        rows.push(Row {
            month,
            payment_cents: payment,
            interest_cents: interest,
            principal_cents: principal,
            balance_cents: balance,
        });
    }
    rows
}

/// The `loan.result` payload.
pub fn compute(req: &LoanRequest) -> Result<Value, String> {
    validate(req)?;
    let emi = emi_exact(req.principal_cents, req.annual_rate_pct, req.months).round() as i64;
    if emi <= 0 {
        return Err("the EMI rounds to zero; the principal is too small".into());
    }
    let rows = schedule(req.principal_cents, req.annual_rate_pct, req.months, emi);
    let total_interest: i64 = rows.iter().map(|r| r.interest_cents).sum();
    let ratio = req
        .monthly_net_income_cents
        .map(|inc| inc as f64 / emi as f64);
    let dscr = ratio.map(|d| (d * 100.0).round() / 100.0);
    Ok(json!({
        "inputs": {
            "principal_cents": req.principal_cents, "annual_rate_pct": req.annual_rate_pct,
            "months": req.months, "monthly_net_income_cents": req.monthly_net_income_cents,
        },
        "currency": req.currency.clone().unwrap_or_else(|| "INR".into()),
        "monthly_rate": req.annual_rate_pct / 100.0 / 12.0,
        "emi_cents": emi,
        "final_payment_cents": rows.last().map(|r| r.payment_cents),
        "total_interest_cents": total_interest,
        "total_payment_cents": req.principal_cents + total_interest,
        "dscr": dscr,
        "dscr_threshold": DSCR_THRESHOLD,
        "affordable": ratio.map(|d| d >= DSCR_THRESHOLD),
        "schedule": rows.iter().map(|r| json!({
            "month": r.month, "payment_cents": r.payment_cents, "interest_cents": r.interest_cents,
            "principal_cents": r.principal_cents, "balance_cents": r.balance_cents,
        })).collect::<Vec<_>>(),
        "formula": "EMI = P·r·(1+r)^n / ((1+r)^n − 1), r = annual rate / 12 (r = 0: P/n); DSCR = monthly net income / EMI",
        "rounding": "EMI rounded to the minor unit; monthly interest = balance × r rounded; the last instalment absorbs rounding so the balance closes at 0",
        "source": "standard reducing-balance amortisation; DSCR threshold 1.25 as in Genie agents/loan/loan.go",
    }))
}

struct Loan;

impl Agent for Loan {
    fn info() -> AgentInfo {
        AgentInfo::new("loan", "Loan calculator")
            .subscribes(["loan.request"])
            .capabilities(["emi", "amortization", "dscr"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let req: LoanRequest = serde_json::from_str(&msg.payload)
            .map_err(|e| PluginError::InvalidInput(format!("loan.request: {e}")))?;
        let out = compute(&req).map_err(PluginError::InvalidInput)?;
        let mut reply = msg.reply("loan.result", out.to_string());
        reply.metadata.retain(|(k, _)| k != "djinn-gather");
        Ok(vec![reply])
    }
}

djinn_sdk::export_agent!(Loan);

#[cfg(test)]
mod tests {
    use super::*;

    fn req(p: i64, rate: f64, n: u32, inc: Option<i64>) -> LoanRequest {
        LoanRequest {
            principal_cents: p,
            annual_rate_pct: rate,
            months: n,
            monthly_net_income_cents: inc,
            currency: None,
        }
    }

    #[test]
    fn emi_matches_worked_examples() {
        // ₹1,00,000 at 10% for 12 months: EMI ₹8,791.59.
        let v = compute(&req(10_000_000, 10.0, 12, None)).unwrap();
        assert_eq!(v["emi_cents"], 879_159);
        // ₹5,00,000 at 8.5% for 60 months: EMI ₹10,258.27.
        let v = compute(&req(50_000_000, 8.5, 60, None)).unwrap();
        assert_eq!(v["emi_cents"], 1_025_827);
    }

    #[test]
    fn schedule_closes_to_zero_and_adds_up() {
        for (p, rate, n) in [
            (10_000_000, 10.0, 12),
            (50_000_000, 8.5, 60),
            (123_457, 13.37, 7),
            (100_000_000, 9.0, 360),
        ] {
            let v = compute(&req(p, rate, n, None)).unwrap();
            let rows = v["schedule"].as_array().unwrap();
            assert_eq!(rows.len(), n as usize);
            assert_eq!(rows.last().unwrap()["balance_cents"], 0);
            let principal: i64 = rows
                .iter()
                .map(|r| r["principal_cents"].as_i64().unwrap())
                .sum();
            assert_eq!(principal, p);
            let paid: i64 = rows
                .iter()
                .map(|r| r["payment_cents"].as_i64().unwrap())
                .sum();
            assert_eq!(paid, v["total_payment_cents"].as_i64().unwrap());
            // the last instalment differs from the EMI by accumulated rounding only
            // (at most half a paisa a month, compounded: ₹6.85 on a 30-year loan)
            let last = v["final_payment_cents"].as_i64().unwrap();
            let emi = v["emi_cents"].as_i64().unwrap();
            assert!((last - emi).abs() * 100 <= emi, "{last} vs {emi}");
        }
        // first month of ₹1,00,000 at 10%: interest ₹833.33, principal ₹7,958.26
        let v = compute(&req(10_000_000, 10.0, 12, None)).unwrap();
        assert_eq!(v["schedule"][0]["interest_cents"], 83_333);
        assert_eq!(v["schedule"][0]["principal_cents"], 795_826);
        assert_eq!(
            v["total_interest_cents"],
            549_908 + (v["final_payment_cents"].as_i64().unwrap() - 879_159)
        );
    }

    #[test]
    fn zero_rate_is_principal_over_months() {
        let v = compute(&req(100_000, 0.0, 3, None)).unwrap();
        assert_eq!(v["emi_cents"], 33_333);
        assert_eq!(v["final_payment_cents"], 33_334);
        assert_eq!(v["total_interest_cents"], 0);
    }

    #[test]
    fn dscr_and_threshold() {
        // EMI 8791.59; income 10,000 → DSCR 1.14 (not affordable); 11,000 → 1.25 (affordable)
        let v = compute(&req(10_000_000, 10.0, 12, Some(1_000_000))).unwrap();
        assert_eq!(v["dscr"], 1.14);
        assert_eq!(v["affordable"], false);
        let v = compute(&req(10_000_000, 10.0, 12, Some(1_100_000))).unwrap();
        assert_eq!(v["dscr"], 1.25);
        assert_eq!(v["affordable"], true);
        let v = compute(&req(10_000_000, 10.0, 12, None)).unwrap();
        assert_eq!(v["dscr"], Value::Null);
    }

    #[test]
    fn bad_inputs_are_named() {
        assert!(
            compute(&req(0, 10.0, 12, None))
                .unwrap_err()
                .contains("principal_cents")
        );
        assert!(
            compute(&req(1, -1.0, 12, None))
                .unwrap_err()
                .contains("annual_rate_pct")
        );
        assert!(
            compute(&req(1, f64::NAN, 12, None))
                .unwrap_err()
                .contains("annual_rate_pct")
        );
        assert!(
            compute(&req(1, 10.0, 0, None))
                .unwrap_err()
                .contains("months")
        );
        assert!(
            compute(&req(1, 10.0, 601, None))
                .unwrap_err()
                .contains("months")
        );
        assert!(
            compute(&req(100, 10.0, 12, Some(-1)))
                .unwrap_err()
                .contains("income")
        );
        assert!(
            serde_json::from_str::<LoanRequest>(
                r#"{"principal_cents": 1, "annual_rate_pct": 1, "months": 1, "extra": 1}"#
            )
            .is_err()
        );
    }
}
