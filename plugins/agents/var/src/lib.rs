//! Value at Risk and expected shortfall (`var.request` → `var.result`).
//!
//! Two estimates from the same return series, so their disagreement is visible:
//! - historical: the nearest-rank (1 − c) quantile of the returns, VaR = −q, and
//!   ES = −mean of the returns at or below q;
//! - parametric (normal): VaR = −(μ − z·σ) = z·σ − μ with z = 1.645 (95%) or
//!   2.326 (99%), ES = σ·φ(z)/(1 − c) − μ.
//!
//! Both are 1-day figures scaled by √horizon (the square-root-of-time rule, which
//! assumes i.i.d. returns). Returns are fractions (−0.012 is −1.2%).
//! Source: Jorion, *Value at Risk* (3rd ed.), ch. 5; Basel MAR33 for ES.

use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError};
use serde::Deserialize;
use serde_json::{Value, json};

/// Fewest returns accepted.
pub const MIN_RETURNS: usize = 10;

/// The `var.request` payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VarRequest {
    pub returns: Vec<f64>,
    pub confidence: f64,
    #[serde(default = "one")]
    pub horizon_days: u32,
    pub portfolio_value_cents: i64,
    #[serde(default)]
    pub currency: Option<String>,
}

fn one() -> u32 {
    1
}

/// The one-sided normal quantile for a supported confidence.
pub fn z_for(confidence: f64) -> Option<f64> {
    if (confidence - 0.95).abs() < 1e-9 {
        Some(1.645)
    } else if (confidence - 0.99).abs() < 1e-9 {
        Some(2.326)
    } else {
        None
    }
}

/// The standard normal density.
pub fn phi(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

/// 1-day (VaR, ES) as positive loss fractions from the historical method.
pub fn historical(returns: &[f64], confidence: f64) -> (f64, f64) {
    let mut r = returns.to_vec();
    r.sort_by(f64::total_cmp);
    let k = (((1.0 - confidence) * r.len() as f64) - 1e-9)
        .ceil()
        .max(1.0) as usize;
    let q = r[k - 1];
    let tail = &r[..k];
    (-q, -(tail.iter().sum::<f64>() / k as f64))
}

/// Sample mean and standard deviation (n − 1).
pub fn mean_sd(returns: &[f64]) -> (f64, f64) {
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let var = returns.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Checks the request and returns z.
pub fn validate(req: &VarRequest) -> Result<f64, String> {
    let z = z_for(req.confidence).ok_or("`confidence` must be 0.95 or 0.99")?;
    if req.returns.len() < MIN_RETURNS {
        return Err(format!(
            "`returns` needs at least {MIN_RETURNS} observations, got {}",
            req.returns.len()
        ));
    }
    if let Some(i) = req
        .returns
        .iter()
        .position(|r| !r.is_finite() || *r <= -1.0 || *r > 10.0)
    {
        return Err(format!(
            "`returns[{i}]` = {} is not a plausible return; give fractions (−0.012 for −1.2%), each > −1",
            req.returns[i]
        ));
    }
    if req.horizon_days == 0 || req.horizon_days > 250 {
        return Err("`horizon_days` must be between 1 and 250".into());
    }
    if req.portfolio_value_cents <= 0 {
        return Err("`portfolio_value_cents` must be a positive integer (minor units)".into());
    }
    Ok(z)
}

fn pct(x: f64) -> f64 {
    (x * 100.0 * 10_000.0).round() / 10_000.0
}

/// The `var.result` payload.
pub fn compute(req: &VarRequest) -> Result<Value, String> {
    let z = validate(req)?;
    let scale = f64::from(req.horizon_days).sqrt();
    let value = req.portfolio_value_cents as f64;
    let cents = |frac: f64| (frac * value).round() as i64;
    let (h_var, h_es) = historical(&req.returns, req.confidence);
    let (mu, sd) = mean_sd(&req.returns);
    let p_var = z * sd - mu;
    let p_es = sd * phi(z) / (1.0 - req.confidence) - mu;
    let (h_var, h_es, p_var, p_es) = (h_var * scale, h_es * scale, p_var * scale, p_es * scale);
    Ok(json!({
        "confidence": req.confidence,
        "horizon_days": req.horizon_days,
        "portfolio_value_cents": req.portfolio_value_cents,
        "currency": req.currency.clone().unwrap_or_else(|| "INR".into()),
        "observations": req.returns.len(),
        "horizon_scale": scale,
        "historical": {"var_pct": pct(h_var), "var_cents": cents(h_var), "es_pct": pct(h_es), "es_cents": cents(h_es)},
        "parametric": {
            "mean_daily_return": mu, "sd_daily_return": sd, "z": z,
            "var_pct": pct(p_var), "var_cents": cents(p_var), "es_pct": pct(p_es), "es_cents": cents(p_es),
        },
        "method": "historical: VaR = −(nearest-rank (1−c) quantile of returns), ES = −mean of returns at or below it; parametric normal: VaR = z·σ − μ, ES = σ·φ(z)/(1−c) − μ; both ×√horizon",
        "assumptions": [
            "returns are daily, i.i.d. and representative of the horizon",
            "√horizon scaling also scales the mean term (small for daily returns)",
            "parametric figures assume normal returns and understate fat tails",
            "a negative VaR means the quantile return is a gain: no loss at that confidence",
        ],
        "source": "Jorion, Value at Risk (3rd ed.), ch. 5; Basel Committee MAR33 (expected shortfall)",
    }))
}

struct Var;

impl Agent for Var {
    fn info() -> AgentInfo {
        AgentInfo::new("var", "Value at Risk")
            .subscribes(["var.request"])
            .capabilities(["var", "expected-shortfall"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let req: VarRequest = serde_json::from_str(&msg.payload)
            .map_err(|e| PluginError::InvalidInput(format!("var.request: {e}")))?;
        let out = compute(&req).map_err(PluginError::InvalidInput)?;
        let mut reply = msg.reply("var.result", out.to_string());
        reply.metadata.retain(|(k, _)| k != "djinn-gather");
        Ok(vec![reply])
    }
}

djinn_sdk::export_agent!(Var);

#[cfg(test)]
mod tests {
    use super::*;

    /// −0.009, −0.008, …, 0.010: mean 0.0005, sample sd = √35/1000.
    fn ladder() -> Vec<f64> {
        (1..=20).map(|i| (i as f64 - 10.0) / 1000.0).collect()
    }

    fn req(returns: Vec<f64>, c: f64, h: u32) -> VarRequest {
        VarRequest {
            returns,
            confidence: c,
            horizon_days: h,
            portfolio_value_cents: 100_000_000,
            currency: None,
        }
    }

    #[test]
    fn historical_is_the_nearest_rank_quantile() {
        // n = 20, c = 0.95: rank ⌈1⌉ = 1 → worst return −0.009.
        let (v, es) = historical(&ladder(), 0.95);
        assert!((v - 0.009).abs() < 1e-12 && (es - 0.009).abs() < 1e-12);
        // n = 100 returns −0.05..0.049: rank 5 → −0.046; ES = mean of 5 worst = 0.048.
        let r: Vec<f64> = (0..100).map(|i| (i as f64 - 50.0) / 1000.0).collect();
        let (v, es) = historical(&r, 0.95);
        assert!((v - 0.046).abs() < 1e-12, "{v}");
        assert!((es - 0.048).abs() < 1e-12, "{es}");
    }

    #[test]
    fn parametric_matches_the_formula() {
        let v = compute(&req(ladder(), 0.95, 1)).unwrap();
        // 1.645 · 0.0059160798 − 0.0005 = 0.0092319513 → 0.9232%, ₹10 lakh × that = ₹9,231.95
        assert_eq!(v["parametric"]["var_pct"], 0.9232);
        assert_eq!(v["parametric"]["var_cents"], 923_195);
        // ES: 0.0059160798 · φ(1.645)/0.05 − 0.0005 = 0.0117008
        let es = v["parametric"]["es_pct"].as_f64().unwrap();
        assert!((es - 1.1701).abs() < 0.0002, "{es}");
        assert_eq!(v["historical"]["var_cents"], 900_000);
    }

    #[test]
    fn horizon_scales_by_square_root_of_time() {
        let one = compute(&req(ladder(), 0.99, 1)).unwrap();
        let ten = compute(&req(ladder(), 0.99, 10)).unwrap();
        let ratio = ten["parametric"]["var_cents"].as_f64().unwrap()
            / one["parametric"]["var_cents"].as_f64().unwrap();
        assert!((ratio - 10f64.sqrt()).abs() < 1e-4, "{ratio}");
        assert_eq!(one["parametric"]["z"], 2.326);
    }

    #[test]
    fn bad_inputs_are_named() {
        assert!(
            compute(&req(ladder(), 0.9, 1))
                .unwrap_err()
                .contains("confidence")
        );
        assert!(
            compute(&req(vec![0.01; 3], 0.95, 1))
                .unwrap_err()
                .contains("at least")
        );
        let mut r = ladder();
        r[4] = -5.0;
        assert!(
            compute(&req(r, 0.95, 1))
                .unwrap_err()
                .contains("returns[4]")
        );
        assert!(
            compute(&req(ladder(), 0.95, 0))
                .unwrap_err()
                .contains("horizon_days")
        );
        let mut bad = req(ladder(), 0.95, 1);
        bad.portfolio_value_cents = 0;
        assert!(compute(&bad).unwrap_err().contains("portfolio_value_cents"));
    }
}
