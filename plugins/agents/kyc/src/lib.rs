//! KYC risk scoring (`kyc.request` → `kyc.result`).
//!
//! An additive score over eight factors (weights as in Genie's `kyc_orchestrator`),
//! kept in hundredths so 0.70 is exactly 70 and a threshold is never missed by a
//! float rounding. A sanctions hit rejects outright whatever the score. The
//! verdict lists every factor with whether it applied and why, so a reviewer can
//! see what drove the decision: RBI KYC Master Direction 2016 (as amended) asks
//! for risk categorisation with enhanced due diligence for high-risk customers
//! and allows simplified measures for low-risk ones.
//!
//! Screening inputs (PAN, name, sanctions, PEP) are required: a missing screening
//! result must not read as "clear".

use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError, config};
use serde::Deserialize;
use serde_json::{Value, json};

/// FATF "high-risk jurisdictions subject to a call for action" (February 2024 list):
/// DPRK, Iran, Myanmar. Override with config `fatf_high_risk` (comma-separated ISO codes).
pub const FATF_HIGH_RISK: &[&str] = &["KP", "IR", "MM"];

/// Occupations treated as high risk (cash-intensive or commonly abused for laundering).
pub const HIGH_RISK_OCCUPATIONS: &[&str] = &[
    "arms",
    "casino",
    "gambling",
    "money changer",
    "money service",
    "crypto",
    "virtual asset",
    "bullion",
    "jewel",
    "precious metal",
    "precious stone",
    "antique",
    "art dealer",
    "real estate",
    "hawala",
    "pawn",
    "shell company",
];

/// Score (hundredths) at or above which enhanced due diligence applies.
pub const EDD_AT: u32 = 70;
/// Score (hundredths) at or below which simplified due diligence applies.
pub const SDD_AT: u32 = 30;

/// The `kyc.request` payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KycRequest {
    /// The PAN verified against the income-tax database and matches the applicant.
    pub pan_match: bool,
    /// Aadhaar offline e-KYC (XML/QR) was completed.
    #[serde(default)]
    pub aadhaar_offline_kyc: bool,
    pub name_match: bool,
    /// 0–1 similarity of the declared and verified addresses.
    pub address_match_score: f64,
    /// 0–1 liveness check confidence.
    pub liveness_score: f64,
    pub pep: bool,
    pub sanctions_hit: bool,
    /// ISO 3166-1 alpha-2 country of residence or nationality.
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub occupation: Option<String>,
}

/// One factor in the verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Factor {
    pub factor: &'static str,
    pub weight: u32,
    pub applied: bool,
    pub detail: String,
}

fn unit(name: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(())
    } else {
        Err(format!("`{name}` must be between 0 and 1, got {v}"))
    }
}

/// Every factor, applied or not.
pub fn factors(req: &KycRequest, fatf: &[String]) -> Result<Vec<Factor>, String> {
    unit("address_match_score", req.address_match_score)?;
    unit("liveness_score", req.liveness_score)?;
    let country = req
        .country
        .as_deref()
        .map(|c| c.trim().to_ascii_uppercase());
    if let Some(c) = country
        .as_ref()
        .filter(|c| c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()))
    {
        return Err(format!(
            "`country` `{c}` must be an ISO 3166-1 alpha-2 code such as IN"
        ));
    }
    let occupation = req
        .occupation
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty());
    let risky_job = occupation.and_then(|o| {
        let lower = o.to_lowercase();
        HIGH_RISK_OCCUPATIONS.iter().find(|k| lower.contains(*k))
    });
    let fatf_hit = country
        .as_ref()
        .is_some_and(|c| fatf.iter().any(|f| f == c));
    let f = |factor, weight, applied: bool, yes: String, no: String| Factor {
        factor,
        weight,
        applied,
        detail: if applied { yes } else { no },
    };
    Ok(vec![
        f(
            "pan_mismatch",
            30,
            !req.pan_match,
            "PAN did not verify against the applicant".into(),
            "PAN verified".into(),
        ),
        f(
            "no_aadhaar_offline_kyc",
            20,
            !req.aadhaar_offline_kyc,
            "Aadhaar offline e-KYC not completed".into(),
            "Aadhaar offline e-KYC completed".into(),
        ),
        f(
            "name_mismatch",
            20,
            !req.name_match,
            "name differs across documents".into(),
            "name matches".into(),
        ),
        f(
            "address_mismatch",
            10,
            req.address_match_score < 0.8,
            format!("address match {} is below 0.8", req.address_match_score),
            format!("address match {} is at least 0.8", req.address_match_score),
        ),
        f(
            "weak_liveness",
            15,
            req.liveness_score < 0.7,
            format!("liveness {} is below 0.7", req.liveness_score),
            format!("liveness {} is at least 0.7", req.liveness_score),
        ),
        f(
            "pep",
            35,
            req.pep,
            "politically exposed person".into(),
            "not a politically exposed person".into(),
        ),
        f(
            "fatf_high_risk_country",
            20,
            fatf_hit,
            format!(
                "country {} is on the FATF call-for-action list",
                country.clone().unwrap_or_default()
            ),
            format!(
                "country {} is not on the FATF call-for-action list",
                country.clone().unwrap_or_else(|| "not given".into())
            ),
        ),
        f(
            "high_risk_occupation",
            10,
            risky_job.is_some(),
            format!(
                "occupation `{}` matches high-risk `{}`",
                occupation.unwrap_or(""),
                risky_job.unwrap_or(&"")
            ),
            format!(
                "occupation {} is not high-risk",
                occupation
                    .map(|o| format!("`{o}`"))
                    .unwrap_or_else(|| "not given".into())
            ),
        ),
    ])
}

/// The `kyc.result` payload.
pub fn verdict(req: &KycRequest, fatf: &[String]) -> Result<Value, String> {
    let fs = factors(req, fatf)?;
    let hundredths: u32 = fs.iter().filter(|f| f.applied).map(|f| f.weight).sum();
    let score = f64::from(hundredths) / 100.0;
    let (decision, tier, reason) = if req.sanctions_hit {
        (
            "reject",
            "none",
            "sanctions screening hit: rejected regardless of score".to_owned(),
        )
    } else if hundredths >= EDD_AT {
        (
            "edd",
            "enhanced",
            format!("risk score {score:.2} is at or above 0.70: enhanced due diligence"),
        )
    } else if hundredths <= SDD_AT {
        (
            "sdd",
            "simplified",
            format!("risk score {score:.2} is at or below 0.30: simplified due diligence"),
        )
    } else {
        (
            "standard",
            "standard",
            format!("risk score {score:.2} is between 0.30 and 0.70: standard due diligence"),
        )
    };
    let mut listed: Vec<Value> = vec![json!({
        "factor": "sanctions_hit", "weight": Value::Null, "applied": req.sanctions_hit,
        "detail": if req.sanctions_hit { "name matched a sanctions list: immediate reject" } else { "no sanctions match" },
    })];
    listed.extend(fs.iter().map(|f| json!({"factor": f.factor, "weight": f64::from(f.weight) / 100.0, "applied": f.applied, "detail": f.detail})));
    Ok(json!({
        "decision": decision,
        "due_diligence": tier,
        "score": score,
        "reason": reason,
        "sanctions_hit": req.sanctions_hit,
        "factors": listed,
        "thresholds": {"edd_at_or_above": 0.70, "sdd_at_or_below": 0.30},
        "fatf_list": fatf,
        "source": "weights from Genie kyc_orchestrator; RBI KYC Master Direction 2016 (risk categorisation, EDD/simplified measures); FATF high-risk jurisdictions (Feb 2024)",
    }))
}

/// The FATF list from config, or the built-in one.
pub fn fatf_list(configured: Option<String>) -> Vec<String> {
    match configured {
        Some(s) if !s.trim().is_empty() => s
            .split(',')
            .map(|c| c.trim().to_ascii_uppercase())
            .filter(|c| !c.is_empty())
            .collect(),
        _ => FATF_HIGH_RISK.iter().map(|c| (*c).to_owned()).collect(),
    }
}

struct Kyc;

impl Agent for Kyc {
    fn info() -> AgentInfo {
        AgentInfo::new("kyc", "KYC risk scoring")
            .subscribes(["kyc.request"])
            .capabilities(["kyc", "risk-score"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let req: KycRequest = serde_json::from_str(&msg.payload)
            .map_err(|e| PluginError::InvalidInput(format!("kyc.request: {e}")))?;
        let out = verdict(&req, &fatf_list(config::get("fatf_high_risk")))
            .map_err(PluginError::InvalidInput)?;
        let mut reply = msg.reply("kyc.result", out.to_string());
        reply.metadata.retain(|(k, _)| k != "djinn-gather");
        Ok(vec![reply])
    }
}

djinn_sdk::export_agent!(Kyc);

#[cfg(test)]
mod tests {
    use super::*;

    fn clean() -> KycRequest {
        KycRequest {
            pan_match: true,
            aadhaar_offline_kyc: true,
            name_match: true,
            address_match_score: 0.95,
            liveness_score: 0.9,
            pep: false,
            sanctions_hit: false,
            country: Some("IN".into()),
            occupation: Some("software engineer".into()),
        }
    }

    fn fatf() -> Vec<String> {
        fatf_list(None)
    }

    #[test]
    fn clean_applicant_is_simplified_with_every_factor_listed() {
        let v = verdict(&clean(), &fatf()).unwrap();
        assert_eq!(v["decision"], "sdd");
        assert_eq!(v["score"], 0.0);
        assert_eq!(v["factors"].as_array().unwrap().len(), 9);
    }

    #[test]
    fn thresholds_are_exact() {
        // PAN 0.30 alone → exactly 0.30 → SDD
        let mut r = clean();
        r.pan_match = false;
        let v = verdict(&r, &fatf()).unwrap();
        assert_eq!(
            (v["score"].as_f64(), v["decision"].as_str()),
            (Some(0.3), Some("sdd"))
        );
        // + liveness 0.15 → 0.45 → standard
        r.liveness_score = 0.5;
        assert_eq!(verdict(&r, &fatf()).unwrap()["decision"], "standard");
        // PAN 0.30 + name 0.20 + no Aadhaar 0.20 = exactly 0.70 → EDD
        r.liveness_score = 0.9;
        r.name_match = false;
        r.aadhaar_offline_kyc = false;
        let v = verdict(&r, &fatf()).unwrap();
        assert_eq!(
            (v["score"].as_f64(), v["decision"].as_str()),
            (Some(0.7), Some("edd"))
        );
        // PEP 0.35 + FATF 0.20 + address 0.10 = 0.65 → standard; + occupation 0.10 → EDD
        let mut r = clean();
        r.pep = true;
        r.country = Some("ir".into());
        r.address_match_score = 0.79;
        let v = verdict(&r, &fatf()).unwrap();
        assert_eq!(v["score"], 0.65);
        assert_eq!(v["decision"], "standard");
        r.occupation = Some("Bullion trader".into());
        let v = verdict(&r, &fatf()).unwrap();
        assert_eq!(v["score"], 0.75);
        assert_eq!(v["decision"], "edd");
        // name 0.20 + no Aadhaar 0.20 + address 0.10 + occupation 0.10 + liveness 0.15 = 0.75;
        // liveness at exactly 0.7 does not apply (strictly below 0.7)
        let mut r = clean();
        r.name_match = false;
        r.aadhaar_offline_kyc = false;
        r.address_match_score = 0.5;
        r.occupation = Some("casino manager".into());
        r.liveness_score = 0.69;
        let v = verdict(&r, &fatf()).unwrap();
        assert_eq!(v["score"], 0.75);
        r.liveness_score = 0.7;
        let v = verdict(&r, &fatf()).unwrap();
        assert_eq!(v["score"], 0.6);
        r.country = Some("KP".into());
        let v = verdict(&r, &fatf()).unwrap();
        assert_eq!(
            (v["score"].as_f64(), v["decision"].as_str()),
            (Some(0.8), Some("edd"))
        );
    }

    #[test]
    fn sanctions_reject_regardless_of_score() {
        let mut r = clean();
        r.sanctions_hit = true;
        let v = verdict(&r, &fatf()).unwrap();
        assert_eq!(v["decision"], "reject");
        assert_eq!(v["factors"][0]["factor"], "sanctions_hit");
        assert_eq!(v["factors"][0]["applied"], true);
    }

    #[test]
    fn maximum_score_and_config_list() {
        let r = KycRequest {
            pan_match: false,
            aadhaar_offline_kyc: false,
            name_match: false,
            address_match_score: 0.0,
            liveness_score: 0.0,
            pep: true,
            sanctions_hit: false,
            country: Some("XX".into()),
            occupation: Some("arms dealer".into()),
        };
        let v = verdict(&r, &fatf_list(Some("xx, yy".into()))).unwrap();
        assert_eq!(v["score"], 1.6);
        assert_eq!(v["decision"], "edd");
    }

    #[test]
    fn bad_inputs_are_named() {
        let mut r = clean();
        r.liveness_score = 1.5;
        assert!(verdict(&r, &fatf()).unwrap_err().contains("liveness_score"));
        let mut r = clean();
        r.country = Some("India".into());
        assert!(verdict(&r, &fatf()).unwrap_err().contains("country"));
        // screening results are required
        assert!(serde_json::from_str::<KycRequest>(r#"{"pan_match": true, "name_match": true, "address_match_score": 1, "liveness_score": 1, "pep": false}"#).unwrap_err().to_string().contains("sanctions_hit"));
    }
}
