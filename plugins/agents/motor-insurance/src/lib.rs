//! Motor insurance premium, no-claim bonus and total-loss test
//! (`motor-insurance.request` → `motor-insurance.result`).
//!
//! - NCB ladder 0, 20, 25, 35, 45, 50% (IRDAI India Motor Tariff, GR 27): each
//!   claim-free policy year moves one step up, any claim resets to 0.
//! - Own damage = IDV × OD rate, less the NCB; third party is the IRDAI fixed
//!   premium for private cars (₹2,094 up to 1000 cc, ₹3,416 for 1000–1500 cc,
//!   ₹7,897 above 1500 cc; 2019 schedule) unless given. GST is not included.
//! - A claim is a total loss (constructive total loss) when the damage is at
//!   least 75% of the IDV (India Motor Tariff, GR 8).
//!
//! Integer minor units throughout; the OD rate is read to 1/1000 of a percent.

use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError};
use serde::Deserialize;
use serde_json::{Value, json};

/// NCB steps in percent.
pub const NCB_LADDER: [i64; 6] = [0, 20, 25, 35, 45, 50];
/// Default own-damage rate, percent of IDV (Genie's flat 3%).
pub const DEFAULT_OD_RATE_PCT: f64 = 3.0;
/// Damage at or above this percent of IDV is a total loss.
pub const TOTAL_LOSS_PCT: i64 = 75;

/// The `motor-insurance.request` payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MotorRequest {
    pub idv_cents: i64,
    /// One entry per past policy year, oldest first: `true` if a claim was made.
    #[serde(default)]
    pub claim_history: Vec<bool>,
    #[serde(default)]
    pub od_rate_pct: Option<f64>,
    #[serde(default)]
    pub damage_cents: Option<i64>,
    #[serde(default)]
    pub engine_cc: Option<u32>,
    #[serde(default)]
    pub tp_premium_cents: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
}

/// The NCB step (index into [`NCB_LADDER`]) after the given claim history.
pub fn ncb_step(history: &[bool]) -> usize {
    history.iter().fold(0, |step, claimed| {
        if *claimed {
            0
        } else {
            (step + 1).min(NCB_LADDER.len() - 1)
        }
    })
}

/// The IRDAI third-party premium for a private car, and what it was based on.
pub fn third_party(engine_cc: Option<u32>) -> (i64, String) {
    match engine_cc {
        Some(cc) if cc <= 1000 => (
            209_400,
            format!("IRDAI private car TP, {cc} cc (up to 1000 cc)"),
        ),
        Some(cc) if cc <= 1500 => (
            341_600,
            format!("IRDAI private car TP, {cc} cc (1000–1500 cc)"),
        ),
        Some(cc) => (
            789_700,
            format!("IRDAI private car TP, {cc} cc (above 1500 cc)"),
        ),
        None => (
            341_600,
            "IRDAI private car TP for 1000–1500 cc (no engine_cc given)".into(),
        ),
    }
}

/// The `motor-insurance.result` payload.
pub fn compute(req: &MotorRequest) -> Result<Value, String> {
    if req.idv_cents <= 0 {
        return Err("`idv_cents` must be a positive integer (minor units)".into());
    }
    if req.idv_cents > 1_000_000_000_000 {
        return Err("`idv_cents` is implausibly large".into());
    }
    let rate = req.od_rate_pct.unwrap_or(DEFAULT_OD_RATE_PCT);
    if !rate.is_finite() || rate <= 0.0 || rate > 20.0 {
        return Err("`od_rate_pct` must be above 0 and at most 20 (percent of IDV)".into());
    }
    if req.damage_cents.is_some_and(|d| d < 0) {
        return Err("`damage_cents` must not be negative".into());
    }
    if req.tp_premium_cents.is_some_and(|t| t < 0) {
        return Err("`tp_premium_cents` must not be negative".into());
    }
    if req.claim_history.len() > 100 {
        return Err("`claim_history` has more than 100 years".into());
    }
    let step = ncb_step(&req.claim_history);
    let ncb = NCB_LADDER[step];
    let rate_milli = (rate * 1000.0).round() as i128; // thousandths of a percent
    let idv = i128::from(req.idv_cents);
    let od_before = ((idv * rate_milli + 50_000) / 100_000) as i64;
    let discount = (i128::from(od_before) * i128::from(ncb) + 50) as i64 / 100;
    let od = od_before - discount;
    let (tp, tp_basis) = match req.tp_premium_cents {
        Some(tp) => (tp, "given in the request".to_owned()),
        None => third_party(req.engine_cc),
    };
    let (total_loss, damage_pct) = match req.damage_cents {
        Some(d) => (
            Some(i128::from(d) * 100 >= i128::from(TOTAL_LOSS_PCT) * idv),
            Some(((d as f64 / req.idv_cents as f64) * 10_000.0).round() / 100.0),
        ),
        None => (None, None),
    };
    let claim_free_streak = req.claim_history.iter().rev().take_while(|c| !**c).count();
    Ok(json!({
        "currency": req.currency.clone().unwrap_or_else(|| "INR".into()),
        "idv_cents": req.idv_cents,
        "claim_history_years": req.claim_history.len(),
        "claim_free_streak_years": claim_free_streak,
        "ncb_step": step,
        "ncb_pct": ncb,
        "od_rate_pct": rate,
        "od_premium_before_ncb_cents": od_before,
        "ncb_discount_cents": discount,
        "od_premium_cents": od,
        "tp_premium_cents": tp,
        "tp_basis": tp_basis,
        "total_premium_cents": od + tp,
        "damage_cents": req.damage_cents,
        "damage_pct_of_idv": damage_pct,
        "total_loss": total_loss,
        "total_loss_threshold_pct": TOTAL_LOSS_PCT,
        "formula": "OD = IDV × OD rate × (1 − NCB); total = OD + TP (GST excluded); total loss when damage ≥ 75% of IDV",
        "source": "IRDAI India Motor Tariff GR 27 (NCB ladder 0/20/25/35/45/50) and GR 8 (constructive total loss at 75% of IDV); IRDAI third-party premiums (2019)",
    }))
}

struct MotorInsurance;

impl Agent for MotorInsurance {
    fn info() -> AgentInfo {
        AgentInfo::new("motor-insurance", "Motor insurance")
            .subscribes(["motor-insurance.request"])
            .capabilities(["motor-premium", "ncb", "total-loss"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let req: MotorRequest = serde_json::from_str(&msg.payload)
            .map_err(|e| PluginError::InvalidInput(format!("motor-insurance.request: {e}")))?;
        let out = compute(&req).map_err(PluginError::InvalidInput)?;
        let mut reply = msg.reply("motor-insurance.result", out.to_string());
        reply.metadata.retain(|(k, _)| k != "djinn-gather");
        Ok(vec![reply])
    }
}

djinn_sdk::export_agent!(MotorInsurance);

#[cfg(test)]
mod tests {
    use super::*;

    fn req(idv: i64, history: Vec<bool>) -> MotorRequest {
        MotorRequest {
            idv_cents: idv,
            claim_history: history,
            od_rate_pct: None,
            damage_cents: None,
            engine_cc: None,
            tp_premium_cents: None,
            currency: None,
        }
    }

    #[test]
    fn ncb_ladder_climbs_caps_and_resets() {
        assert_eq!(NCB_LADDER[ncb_step(&[])], 0);
        assert_eq!(NCB_LADDER[ncb_step(&[false])], 20);
        assert_eq!(NCB_LADDER[ncb_step(&[false, false, false])], 35);
        assert_eq!(NCB_LADDER[ncb_step(&[false; 9])], 50);
        assert_eq!(NCB_LADDER[ncb_step(&[false, false, false, true])], 0);
        assert_eq!(NCB_LADDER[ncb_step(&[false, true, false])], 20);
    }

    #[test]
    fn worked_premium_example() {
        // IDV ₹5,00,000, 3 claim-free years → NCB 35%; OD 3% = ₹15,000, discount ₹5,250,
        // OD ₹9,750, TP ₹3,416 → total ₹13,166.
        let v = compute(&req(50_000_000, vec![false, false, false])).unwrap();
        assert_eq!(v["ncb_pct"], 35);
        assert_eq!(v["od_premium_before_ncb_cents"], 1_500_000);
        assert_eq!(v["ncb_discount_cents"], 525_000);
        assert_eq!(v["od_premium_cents"], 975_000);
        assert_eq!(v["tp_premium_cents"], 341_600);
        assert_eq!(v["total_premium_cents"], 1_316_600);
        assert_eq!(v["total_loss"], Value::Null);
    }

    #[test]
    fn custom_rate_engine_and_total_loss_boundary() {
        let mut r = req(80_000_000, vec![false, true]);
        r.od_rate_pct = Some(2.75);
        r.engine_cc = Some(1998);
        r.damage_cents = Some(60_000_000); // exactly 75%
        let v = compute(&r).unwrap();
        assert_eq!(v["ncb_pct"], 0);
        assert_eq!(v["od_premium_cents"], 2_200_000);
        assert_eq!(v["tp_premium_cents"], 789_700);
        assert_eq!(v["total_loss"], true);
        assert_eq!(v["damage_pct_of_idv"], 75.0);
        r.damage_cents = Some(59_999_999);
        assert_eq!(compute(&r).unwrap()["total_loss"], false);
    }

    #[test]
    fn bad_inputs_are_named() {
        assert!(compute(&req(0, vec![])).unwrap_err().contains("idv_cents"));
        let mut r = req(100, vec![]);
        r.od_rate_pct = Some(0.0);
        assert!(compute(&r).unwrap_err().contains("od_rate_pct"));
        let mut r = req(100, vec![]);
        r.damage_cents = Some(-1);
        assert!(compute(&r).unwrap_err().contains("damage_cents"));
        assert!(
            serde_json::from_str::<MotorRequest>(r#"{"idv_cents": 1, "claim_history": [0]}"#)
                .is_err()
        );
    }
}
