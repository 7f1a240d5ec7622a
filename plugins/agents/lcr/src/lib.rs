//! Liquidity Coverage Ratio (`lcr.request` → `lcr.result`), Basel III LCR (BCBS 238,
//! January 2013; consolidated as LCR30–LCR40) as adopted by the RBI in 2014.
//!
//! HQLA: Level 1 at 100%, Level 2A at 85%, Level 2B at 50% of market value, then
//! the caps (Level 2 ≤ 40%, Level 2B ≤ 15% of HQLA) applied with the Basel
//! adjustment formula (BCBS 238 Annex 1 / LCR30.45):
//!
//! `HQLA = L1 + L2A + L2B − max(L2A + L2B − 2/3·L1, L2B − 15/85·(L1 + L2A), 0)`
//!
//! Genie clipped each level against a cap computed from the uncapped total, which
//! overstates HQLA; the formula above is the one that makes the shares come out
//! at exactly 40% and 15%. (Secured-funding unwinds, which Basel applies before
//! the formula, are not modelled: the stock is taken as given.)
//!
//! Everything is integer minor units. Rounding is conservative: haircuts and
//! inflows round down, run-offs and the cap adjustment round up.

use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError};
use serde::Deserialize;
use serde_json::{Value, json};

/// HQLA stock at market value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hqla {
    #[serde(default)]
    pub level1_cents: i64,
    #[serde(default)]
    pub level2a_cents: i64,
    #[serde(default)]
    pub level2b_cents: i64,
}

/// 30-day outflow balances before run-off rates.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outflows {
    #[serde(default)]
    pub stable_retail_cents: i64,
    #[serde(default)]
    pub less_stable_retail_cents: i64,
    #[serde(default)]
    pub operational_deposits_cents: i64,
    #[serde(default)]
    pub non_operational_deposits_cents: i64,
    #[serde(default)]
    pub unsecured_wholesale_cents: i64,
    #[serde(default)]
    pub undrawn_facilities_cents: i64,
}

/// 30-day contractual inflows before inflow rates.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inflows {
    #[serde(default)]
    pub retail_cents: i64,
    #[serde(default)]
    pub wholesale_non_financial_cents: i64,
    #[serde(default)]
    pub other_cents: i64,
}

/// The `lcr.request` payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LcrRequest {
    pub hqla: Hqla,
    pub outflows: Outflows,
    #[serde(default)]
    pub inflows: Inflows,
    #[serde(default)]
    pub currency: Option<String>,
}

/// (field name, balance, rate in percent) for the outflow run-offs.
pub fn outflow_lines(o: &Outflows) -> [(&'static str, i64, i64); 6] {
    [
        ("stable_retail", o.stable_retail_cents, 5),
        ("less_stable_retail", o.less_stable_retail_cents, 10),
        ("operational_deposits", o.operational_deposits_cents, 25),
        (
            "non_operational_deposits",
            o.non_operational_deposits_cents,
            40,
        ),
        ("unsecured_wholesale", o.unsecured_wholesale_cents, 75),
        ("undrawn_facilities", o.undrawn_facilities_cents, 10),
    ]
}

/// (field name, balance, rate in percent) for inflows.
pub fn inflow_lines(i: &Inflows) -> [(&'static str, i64, i64); 3] {
    [
        ("retail", i.retail_cents, 50),
        (
            "wholesale_non_financial",
            i.wholesale_non_financial_cents,
            50,
        ),
        ("other", i.other_cents, 20),
    ]
}

fn div_floor(a: i128, b: i128) -> i128 {
    a.div_euclid(b)
}

fn div_ceil(a: i128, b: i128) -> i128 {
    -((-a).div_euclid(b))
}

/// Post-haircut levels and the cap adjustment, in minor units:
/// (l1, l2a, l2b, adjustment, hqla).
pub fn hqla(h: &Hqla) -> (i128, i128, i128, i128, i128) {
    let l1 = i128::from(h.level1_cents);
    let l2a = div_floor(i128::from(h.level2a_cents) * 85, 100);
    let l2b = div_floor(i128::from(h.level2b_cents) * 50, 100);
    // Both cap terms over the common denominator 255 = 3 · 85.
    let t40 = 85 * (3 * (l2a + l2b) - 2 * l1);
    let t15 = 3 * (85 * l2b - 15 * (l1 + l2a));
    let adjustment = div_ceil(t40.max(t15).max(0), 255);
    (l1, l2a, l2b, adjustment, l1 + l2a + l2b - adjustment)
}

/// Checks that every balance is non-negative.
pub fn validate(req: &LcrRequest) -> Result<(), String> {
    let h = &req.hqla;
    let mut all: Vec<(String, i64)> = vec![
        ("hqla.level1_cents".into(), h.level1_cents),
        ("hqla.level2a_cents".into(), h.level2a_cents),
        ("hqla.level2b_cents".into(), h.level2b_cents),
    ];
    all.extend(
        outflow_lines(&req.outflows)
            .iter()
            .map(|(n, v, _)| (format!("outflows.{n}_cents"), *v)),
    );
    all.extend(
        inflow_lines(&req.inflows)
            .iter()
            .map(|(n, v, _)| (format!("inflows.{n}_cents"), *v)),
    );
    if let Some((n, v)) = all.iter().find(|(_, v)| *v < 0) {
        return Err(format!("`{n}` = {v} must not be negative"));
    }
    Ok(())
}

/// The `lcr.result` payload.
pub fn compute(req: &LcrRequest) -> Result<Value, String> {
    validate(req)?;
    let (l1, l2a, l2b, adj, total) = hqla(&req.hqla);
    let outs: Vec<(&str, i64, i64, i128)> = outflow_lines(&req.outflows)
        .iter()
        .map(|(n, v, r)| (*n, *v, *r, div_ceil(i128::from(*v) * i128::from(*r), 100)))
        .collect();
    let ins: Vec<(&str, i64, i64, i128)> = inflow_lines(&req.inflows)
        .iter()
        .map(|(n, v, r)| (*n, *v, *r, div_floor(i128::from(*v) * i128::from(*r), 100)))
        .collect();
    let out_total: i128 = outs.iter().map(|o| o.3).sum();
    if out_total == 0 {
        return Err("total weighted outflows are zero, so the LCR is undefined; give at least one outflow balance".into());
    }
    let in_total: i128 = ins.iter().map(|i| i.3).sum();
    let cap = div_floor(out_total * 75, 100);
    let in_capped = in_total.min(cap);
    let net = out_total - in_capped;
    let lcr_pct = ((total as f64 / net as f64) * 100.0 * 100.0).round() / 100.0;
    let to_i64 = |v: i128| i64::try_from(v).map_err(|_| "amounts overflow 64 bits".to_owned());
    let share = |part: i128| {
        if total > 0 {
            ((part as f64 / total as f64) * 10_000.0).round() / 100.0
        } else {
            0.0
        }
    };
    // The cap falls on Level 2B first (LCR30.45), then on Level 2A.
    let l2b_after = l2b - adj.min(l2b);
    let l2a_after = l2a - (adj - adj.min(l2b));
    Ok(json!({
        "currency": req.currency.clone().unwrap_or_else(|| "INR".into()),
        "hqla": {
            "level1_cents": to_i64(l1)?, "level2a_after_haircut_cents": to_i64(l2a)?, "level2b_after_haircut_cents": to_i64(l2b)?,
            "cap_adjustment_cents": to_i64(adj)?, "total_cents": to_i64(total)?,
            "level2_share_pct": share(l2a_after + l2b_after), "level2b_share_pct": share(l2b_after),
        },
        "outflows": {
            "lines": outs.iter().map(|(n, v, r, w)| json!({"item": n, "balance_cents": v, "run_off_pct": r, "weighted_cents": *w as i64})).collect::<Vec<_>>(),
            "total_cents": to_i64(out_total)?,
        },
        "inflows": {
            "lines": ins.iter().map(|(n, v, r, w)| json!({"item": n, "balance_cents": v, "inflow_pct": r, "weighted_cents": *w as i64})).collect::<Vec<_>>(),
            "gross_cents": to_i64(in_total)?, "cap_cents": to_i64(cap)?, "capped_cents": to_i64(in_capped)?,
            "cap_binding": in_total > cap,
        },
        "net_outflows_cents": to_i64(net)?,
        "lcr_pct": lcr_pct,
        "compliant": total >= net,
        "minimum_pct": 100,
        "formula": "HQLA = L1 + 0.85·L2A + 0.50·L2B − max(L2A + L2B − 2/3·L1, L2B − 15/85·(L1 + L2A), 0) (post-haircut values); net outflows = Σ run-offs − min(Σ inflows, 75% of Σ run-offs); LCR = HQLA / net outflows × 100",
        "source": "BCBS 238 (Basel III LCR, Jan 2013) paras 49–54, 73–111 and Annex 1; RBI Basel III LCR guidelines (2014)",
        "assumptions": ["secured-funding unwinds are not modelled: the HQLA stock is taken as given", "run-off rates are the Basel minimums for each category"],
    }))
}

struct Lcr;

impl Agent for Lcr {
    fn info() -> AgentInfo {
        AgentInfo::new("lcr", "Liquidity Coverage Ratio")
            .subscribes(["lcr.request"])
            .capabilities(["lcr"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let req: LcrRequest = serde_json::from_str(&msg.payload)
            .map_err(|e| PluginError::InvalidInput(format!("lcr.request: {e}")))?;
        let out = compute(&req).map_err(PluginError::InvalidInput)?;
        let mut reply = msg.reply("lcr.result", out.to_string());
        reply.metadata.retain(|(k, _)| k != "djinn-gather");
        Ok(vec![reply])
    }
}

djinn_sdk::export_agent!(Lcr);

#[cfg(test)]
mod tests {
    use super::*;

    fn h(l1: i64, l2a: i64, l2b: i64) -> Hqla {
        Hqla {
            level1_cents: l1,
            level2a_cents: l2a,
            level2b_cents: l2b,
        }
    }

    #[test]
    fn no_cap_binds_for_a_level1_heavy_stock() {
        // L1 100, L2A 20 → 17, L2B 10 → 5: L2 = 22/122 = 18%, L2B = 4%: no adjustment.
        assert_eq!(
            hqla(&h(10_000, 2_000, 1_000)),
            (10_000, 1_700, 500, 0, 12_200)
        );
    }

    #[test]
    fn the_40_percent_cap_binds() {
        // L1 100, L2A 60 → 51, L2B 40 → 20: adj = 71 − 66.67 = 4.33 → HQLA 166.67 = L1 / 0.6.
        let (_, _, _, adj, total) = hqla(&h(100_000_000, 60_000_000, 40_000_000));
        assert_eq!(adj, 4_333_334);
        assert_eq!(total, 166_666_666);
    }

    #[test]
    fn the_15_percent_cap_binds() {
        // L1 100, L2B 100 → 50: adj = 50 − 15/85·100 = 32.35 → HQLA 117.65 = L1 / 0.85.
        let (_, _, _, adj, total) = hqla(&h(100_000_000, 0, 100_000_000));
        assert_eq!(adj, 32_352_942);
        assert_eq!(total, 117_647_058);
        let r = compute(&LcrRequest {
            hqla: h(100_000_000, 0, 100_000_000),
            outflows: Outflows {
                unsecured_wholesale_cents: 100_000_000,
                ..Default::default()
            },
            inflows: Inflows::default(),
            currency: None,
        })
        .unwrap();
        assert_eq!(r["hqla"]["level2b_share_pct"], 15.0);
    }

    #[test]
    fn worked_example_with_inflow_cap() {
        let req = LcrRequest {
            hqla: h(100_000_000, 60_000_000, 40_000_000),
            outflows: Outflows {
                stable_retail_cents: 1_000_000_000,          // 5%  → 50,000,000
                less_stable_retail_cents: 500_000_000,       // 10% → 50,000,000
                operational_deposits_cents: 200_000_000,     // 25% → 50,000,000
                non_operational_deposits_cents: 100_000_000, // 40% → 40,000,000
                unsecured_wholesale_cents: 100_000_000,      // 75% → 75,000,000
                undrawn_facilities_cents: 200_000_000,       // 10% → 20,000,000
            },
            inflows: Inflows {
                retail_cents: 400_000_000,
                wholesale_non_financial_cents: 100_000_000,
                other_cents: 100_000_000,
            },
            currency: None,
        };
        let r = compute(&req).unwrap();
        assert_eq!(r["outflows"]["total_cents"], 285_000_000);
        // inflows 200 + 50 + 20 = 270 > cap 213.75
        assert_eq!(r["inflows"]["gross_cents"], 270_000_000);
        assert_eq!(r["inflows"]["capped_cents"], 213_750_000);
        assert_eq!(r["inflows"]["cap_binding"], true);
        assert_eq!(r["net_outflows_cents"], 71_250_000);
        // 166,666,666 / 71,250,000 = 233.92%
        assert_eq!(r["lcr_pct"], 233.92);
        assert_eq!(r["compliant"], true);
        assert_eq!(r["hqla"]["level2_share_pct"], 40.0);
    }

    #[test]
    fn below_100_is_not_compliant_and_bad_input_is_named() {
        let req = LcrRequest {
            hqla: h(50, 0, 0),
            outflows: Outflows {
                unsecured_wholesale_cents: 100,
                ..Default::default()
            },
            inflows: Inflows::default(),
            currency: None,
        };
        let r = compute(&req).unwrap();
        assert_eq!(r["lcr_pct"], 66.67);
        assert_eq!(r["compliant"], false);
        let bad = LcrRequest {
            hqla: h(-1, 0, 0),
            outflows: Outflows::default(),
            inflows: Inflows::default(),
            currency: None,
        };
        assert!(compute(&bad).unwrap_err().contains("hqla.level1_cents"));
        let none = LcrRequest {
            hqla: h(1, 0, 0),
            outflows: Outflows::default(),
            inflows: Inflows::default(),
            currency: None,
        };
        assert!(compute(&none).unwrap_err().contains("outflows"));
        assert!(
            serde_json::from_str::<LcrRequest>(r#"{"hqla": {"level3_cents": 1}, "outflows": {}}"#)
                .is_err()
        );
    }
}
