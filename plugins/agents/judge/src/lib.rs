//! Scores every final answer in the background (`answer` → `judge.score`).
//!
//! Genie's LLM auditor listened for a message type nothing ever sent, so no answer
//! was ever judged. This judge subscribes to `answer` itself and combines two
//! kinds of evidence:
//! - deterministic checks that need no model: groundedness (the share of figures
//!   in the text that also appear in the structured report, allowing minor units
//!   ↔ currency units and fraction ↔ percent) and completeness (the report's
//!   declared sections present in the text, failed branches named, minus one
//!   point per failed branch);
//! - an LLM grade (`SCORE: n`) when the model returns one. The deterministic
//!   mock never does, so under the mock the score is the deterministic one and
//!   the payload says so.

use djinn_sdk::{Agent, AgentInfo, AgentInfoExt, Message, MessageExt, PluginError, llm};
use serde_json::{Value, json};

/// Numbers in free text: `-12.05`, `1,234.5`, `2024` and `07` from `2024-07`.
pub fn numbers_in(text: &str) -> Vec<(f64, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        if i > 0 && (chars[i - 1].is_alphabetic() || chars[i - 1] == '_') {
            // digits inside a word (`x86`, `sha256`) are part of a name
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            continue;
        }
        let negative = i > 0 && chars[i - 1] == '-' && (i < 2 || !(chars[i - 2].is_alphanumeric()));
        let mut s = String::new();
        let mut decimals = 0usize;
        let mut seen_dot = false;
        while i < chars.len() {
            let c = chars[i];
            let next_digit = chars.get(i + 1).is_some_and(char::is_ascii_digit);
            if c.is_ascii_digit() {
                s.push(c);
                if seen_dot {
                    decimals += 1;
                }
            } else if c == '.' && !seen_dot && next_digit {
                seen_dot = true;
                s.push('.');
            } else if c == ','
                && !seen_dot
                && next_digit
                && chars.get(i + 2).is_some_and(char::is_ascii_digit)
            {
                // thousands separator
            } else {
                break;
            }
            i += 1;
        }
        // A token glued to letters (`x86`, `3rd`) is a name, not a figure.
        if chars.get(i).is_some_and(|c| c.is_alphabetic() && *c != 'x') {
            continue;
        }
        if let Ok(v) = s.parse::<f64>() {
            out.push((if negative { -v } else { v }, decimals));
        }
    }
    out
}

/// Every number in a JSON value, including those inside its strings.
pub fn numbers_in_json(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Number(n) => out.extend(n.as_f64()),
        Value::String(s) => out.extend(numbers_in(s).into_iter().map(|(n, _)| n)),
        Value::Array(a) => a.iter().for_each(|x| numbers_in_json(x, out)),
        Value::Object(o) => o.values().for_each(|x| numbers_in_json(x, out)),
        _ => {}
    }
}

fn round_to(v: f64, decimals: usize) -> f64 {
    let p = 10f64.powi(decimals.min(10) as i32);
    (v * p).round() / p
}

/// Whether a report form `a` matches a text figure `b` (relative to `a`).
fn eq(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9 * a.abs().max(1.0)
}

/// The forms of a report value a text figure may show: as is, as minor units
/// shown in currency units, or as a fraction shown as a percent.
fn forms(v: f64) -> [f64; 3] {
    [v, v / 100.0, v * 100.0]
}

/// Whether a text figure with `decimals` places matches a report value: as is,
/// as minor units shown in currency units, or as a fraction shown as a percent.
pub fn grounded(x: f64, decimals: usize, report: &[f64]) -> bool {
    report.iter().any(|&v| {
        forms(v)
            .iter()
            .any(|c| eq(round_to(*c, decimals), x) || eq(round_to(c.abs(), decimals), x.abs()))
    })
}

/// The report's values in every form [`grounded`] compares, rounded and sorted once
/// per number of decimal places, so each text figure is a binary search instead
/// of a pass over the whole report (an answer has ~100 figures, its report ~240
/// numbers). Gives exactly [`grounded`]'s result.
pub struct Grounding<'a> {
    report: &'a [f64],
    /// Indexed by `decimals.min(10)`, the precision `round_to` uses.
    by_decimals: Vec<Option<Rounded>>,
}

/// One precision's rounded forms: `round_to(c)` (compared with the figure) and
/// `round_to(|c|)` (compared with the figure's magnitude), finite ones only, sorted.
struct Rounded {
    signed: Vec<f64>,
    magnitude: Vec<f64>,
}

impl Rounded {
    fn new(report: &[f64], decimals: usize) -> Rounded {
        let mut signed = Vec::with_capacity(report.len() * 3);
        let mut magnitude = Vec::with_capacity(report.len() * 3);
        for &v in report {
            for c in forms(v) {
                signed.push(round_to(c, decimals));
                magnitude.push(round_to(c.abs(), decimals));
            }
        }
        // A non-finite form never equals a finite figure (see `Grounding::contains`).
        for list in [&mut signed, &mut magnitude] {
            list.retain(|a| a.is_finite());
            list.sort_by(f64::total_cmp);
        }
        Rounded { signed, magnitude }
    }
}

/// Whether some `a` in `sorted` (finite, ascending) has `eq(a, x)`, for a finite `x`.
///
/// `eq(a, x)` means `|a − x| < 1e-9·max(|a|, 1)`, which implies
/// `|a − x| < 2e-9·max(|x|, 1)`; the window below is twice that, so it holds every
/// match, and `eq` itself decides within it.
fn any_eq(sorted: &[f64], x: f64) -> bool {
    let w = 4e-9 * x.abs().max(1.0);
    let (lo, hi) = (x - w, x + w);
    let start = sorted.partition_point(|&a| a < lo);
    sorted[start..]
        .iter()
        .take_while(|&&a| a <= hi)
        .any(|&a| eq(a, x))
}

impl<'a> Grounding<'a> {
    pub fn new(report: &'a [f64]) -> Grounding<'a> {
        Grounding {
            report,
            by_decimals: (0..=10).map(|_| None).collect(),
        }
    }

    /// `grounded(x, decimals, report)`.
    pub fn contains(&mut self, x: f64, decimals: usize) -> bool {
        if !x.is_finite() {
            return grounded(x, decimals, self.report);
        }
        let d = decimals.min(10);
        let report = self.report;
        let r = self.by_decimals[d].get_or_insert_with(|| Rounded::new(report, d));
        any_eq(&r.signed, x) || any_eq(&r.magnitude, x.abs())
    }
}

/// The deterministic checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Checks {
    pub numbers_total: usize,
    pub numbers_grounded: usize,
    pub ungrounded: Vec<f64>,
    pub sections_expected: usize,
    pub sections_missing: Vec<String>,
    pub failed_branches: Vec<String>,
    pub failed_not_named: Vec<String>,
    pub groundedness: f64,
    pub completeness: f64,
}

fn one_decimal(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Runs the deterministic checks on an `answer` payload.
pub fn check(answer: &Value) -> Result<Checks, String> {
    let text = answer
        .get("text")
        .and_then(Value::as_str)
        .ok_or("answer needs a string `text`")?;
    let report = answer.get("report").unwrap_or(&Value::Null);
    let mut report_numbers = Vec::new();
    numbers_in_json(report, &mut report_numbers);
    let failed: Vec<String> = answer
        .get("failed_branches")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("agent").and_then(Value::as_str).map(str::to_owned))
        .collect();
    numbers_in_json(
        answer.get("failed_branches").unwrap_or(&Value::Null),
        &mut report_numbers,
    );
    let figures = numbers_in(text);
    let mut grounding = Grounding::new(&report_numbers);
    let ungrounded: Vec<f64> = figures
        .iter()
        .filter(|(x, d)| !grounding.contains(*x, *d))
        .map(|(x, _)| *x)
        .collect();
    let numbers_grounded = figures.len() - ungrounded.len();
    let groundedness = if figures.is_empty() {
        if text.trim().is_empty() { 0.0 } else { 5.0 }
    } else {
        10.0 * numbers_grounded as f64 / figures.len() as f64
    };
    let lower = text.to_lowercase();
    let sections: Vec<String> = report
        .get("sections")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    let missing: Vec<String> = sections
        .iter()
        .filter(|s| !lower.contains(&s.to_lowercase()))
        .cloned()
        .collect();
    let not_named: Vec<String> = failed
        .iter()
        .filter(|f| !text.contains(f.as_str()))
        .cloned()
        .collect();
    let mut completeness = if text.trim().is_empty() {
        0.0
    } else if sections.is_empty() {
        5.0
    } else {
        10.0 * (sections.len() - missing.len()) as f64 / sections.len() as f64
    };
    completeness -= failed.len() as f64;
    if !not_named.is_empty() {
        completeness -= 3.0;
    }
    Ok(Checks {
        numbers_total: figures.len(),
        numbers_grounded,
        ungrounded: ungrounded.into_iter().take(10).collect(),
        sections_expected: sections.len(),
        sections_missing: missing,
        failed_branches: failed,
        failed_not_named: not_named,
        groundedness: one_decimal(groundedness.clamp(0.0, 10.0)),
        completeness: one_decimal(completeness.clamp(0.0, 10.0)),
    })
}

/// The prompt for the LLM grade.
pub fn prompt(text: &str) -> String {
    format!(
        "Grade the financial answer below for groundedness and completeness. \
         Answer with one line `SCORE: ` followed by an integer from 0 to 10, then one line `REASONING: ` with a short reason.\n\nANSWER:\n{text}"
    )
}

/// `SCORE: n` from an LLM reply, if present and in range.
pub fn parse_score(reply: &str) -> Option<f64> {
    reply.lines().find_map(|l| {
        let idx = l.to_ascii_uppercase().find("SCORE:")?;
        let rest = l[idx + 6..].trim_start();
        let num: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        num.parse::<f64>().ok().filter(|s| (0.0..=10.0).contains(s))
    })
}

/// The `judge.score` payload from the checks and the LLM's reply (or why there is none).
pub fn score(c: &Checks, llm: Result<String, String>) -> Value {
    let det = one_decimal((c.groundedness + c.completeness) / 2.0);
    let (llm_score, note) = match &llm {
        Ok(reply) => match parse_score(reply) {
            Some(s) => (Some(s), "LLM grade combined 50/50 with the deterministic checks".to_owned()),
            None => (None, "the LLM reply had no `SCORE:` line (the mock never has one); deterministic checks only".to_owned()),
        },
        Err(e) => (None, format!("LLM unavailable ({e}); deterministic checks only")),
    };
    let final_score = one_decimal(llm_score.map_or(det, |s| (s + det) / 2.0));
    let mut reasoning = format!(
        "{} of {} figures in the text appear in the structured report; {} of {} report sections are present",
        c.numbers_grounded,
        c.numbers_total,
        c.sections_expected - c.sections_missing.len(),
        c.sections_expected
    );
    if !c.sections_missing.is_empty() {
        reasoning.push_str(&format!(" (missing: {})", c.sections_missing.join(", ")));
    }
    if c.failed_branches.is_empty() {
        reasoning.push_str("; no failed branches");
    } else {
        reasoning.push_str(&format!(
            "; failed branches: {}",
            c.failed_branches.join(", ")
        ));
        if !c.failed_not_named.is_empty() {
            reasoning.push_str(&format!(
                " (not named in the text: {})",
                c.failed_not_named.join(", ")
            ));
        }
    }
    if !c.ungrounded.is_empty() {
        reasoning.push_str(&format!("; unmatched figures: {:?}", c.ungrounded));
    }
    reasoning.push_str(&format!(". {note}."));
    let llm_reasoning = llm.ok().and_then(|r| {
        r.lines().find_map(|l| {
            l.trim()
                .strip_prefix("REASONING:")
                .map(|x| x.trim().to_owned())
        })
    });
    json!({
        "groundedness": c.groundedness,
        "completeness": c.completeness,
        "score": final_score,
        "deterministic_score": det,
        "llm_score": llm_score,
        "llm_reasoning": llm_reasoning,
        "reasoning": reasoning,
        "checks": {
            "numbers_total": c.numbers_total, "numbers_grounded": c.numbers_grounded, "ungrounded": c.ungrounded,
            "sections_expected": c.sections_expected, "sections_missing": c.sections_missing,
            "failed_branches": c.failed_branches, "failed_not_named": c.failed_not_named,
        },
    })
}

struct Judge;

impl Agent for Judge {
    fn info() -> AgentInfo {
        AgentInfo::new("judge", "Answer judge")
            .subscribes(["answer"])
            .capabilities(["evaluate"])
    }

    fn handle(msg: Message) -> Result<Vec<Message>, PluginError> {
        let answer = msg.json()?;
        let checks = check(&answer).map_err(PluginError::InvalidInput)?;
        let text = answer.get("text").and_then(Value::as_str).unwrap_or("");
        let reply = llm::complete(&llm::Request {
            model: None,
            messages: vec![llm::ChatMessage {
                role: "user".into(),
                content: prompt(text),
            }],
            temperature: Some(0.0),
            max_tokens: Some(256),
        })
        .map(|r| r.text)
        .map_err(|e| format!("{e:?}"));
        let out = score(&checks, reply);
        let mut m = msg.reply("judge.score", out.to_string());
        m.metadata.retain(|(k, _)| k != "djinn-gather");
        Ok(vec![m])
    }
}

djinn_sdk::export_agent!(Judge);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_extracted_like_a_reader_would() {
        let n: Vec<f64> =
            numbers_in("Net: INR -12.05 on 2024-07-01, 1,234.5 total; x86 3rd line 47.")
                .into_iter()
                .map(|x| x.0)
                .collect();
        assert_eq!(n, vec![-12.05, 2024.0, 7.0, 1.0, 1234.5, 47.0]);
    }

    #[test]
    fn grounding_allows_units_and_percent() {
        let report = vec![123_450.0, 0.95, 96.27];
        assert!(grounded(1234.5, 2, &report)); // minor units shown in currency units
        assert!(grounded(95.0, 0, &report)); // fraction shown as percent
        assert!(grounded(96.3, 1, &report)); // rounded for display
        assert!(!grounded(999.0, 0, &report));
    }

    /// The sorted lookup must give `grounded`'s answer for every figure, including
    /// the edge cases of its tolerance, rounding and sign handling.
    #[test]
    fn grounding_index_agrees_with_the_pairwise_check() {
        // A small deterministic generator (no dev-dependency for randomness).
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> 11
        };
        let mut report: Vec<f64> = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            0.005,
            0.015,
            12.345,
            2024.0,
            7.0,
            1e-9,
            3e-10,
            1e300,
            -1e300,
            1e306,
            f64::MAX,
            123_450.0,
            -30_000.0,
            95.5,
            0.955,
            1.0 + 1e-9,
        ];
        for _ in 0..200 {
            let cents = (next() % 20_000_000) as f64 - 10_000_000.0;
            report.push(match next() % 4 {
                0 => cents,
                1 => cents / 100.0,
                2 => ((next() % 1000) as f64) / 10.0,
                _ => (next() % 100) as f64 / 1000.0,
            });
        }
        let mut figures: Vec<f64> = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            1.0 + 1e-9,
            1.0 - 2e-9,
            0.01,
            0.02,
            0.5,
            50.0,
            1234.5,
            -300.0,
            95.5,
            2024.0,
            1e300,
            1e304,
            1e308,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e-12,
        ];
        for &v in report.iter().take(120) {
            figures.extend([v, -v, v / 100.0, v * 100.0, (v / 100.0).round(), v + 0.004]);
        }
        for _ in 0..300 {
            figures.push(((next() % 2_000_000) as f64 - 1_000_000.0) / 100.0);
        }
        let mut index = Grounding::new(&report);
        let mut matched = 0;
        for &x in &figures {
            for decimals in [0, 1, 2, 3, 10, 12] {
                let expected = grounded(x, decimals, &report);
                assert_eq!(
                    index.contains(x, decimals),
                    expected,
                    "figure {x} with {decimals} decimals"
                );
                matched += usize::from(expected);
            }
        }
        // Both outcomes are exercised.
        assert!(
            matched > 100 && matched < figures.len() * 6 - 100,
            "{matched}"
        );
        let mut empty = Grounding::new(&[]);
        assert!(!empty.contains(1.0, 0));
    }

    fn answer(text: &str) -> Value {
        json!({"text": text, "report": {"summary": {"net_cents": 123_450}, "sections": ["Summary", "Forecast"]}, "failed_branches": []})
    }

    #[test]
    fn a_grounded_complete_answer_scores_high() {
        let c = check(&answer("Summary\n- Net: INR 1234.50\nForecast\n- none")).unwrap();
        assert_eq!((c.groundedness, c.completeness), (10.0, 10.0));
        let s = score(&c, Err("Denied".into()));
        assert_eq!(s["score"], 10.0);
        assert!(
            s["reasoning"]
                .as_str()
                .unwrap()
                .contains("deterministic checks only")
        );
    }

    #[test]
    fn invented_numbers_and_missing_sections_score_low() {
        let c = check(&answer("Summary\n- Net: INR 9999.00, up 42%")).unwrap();
        assert_eq!(c.numbers_total, 2);
        assert_eq!(c.groundedness, 0.0);
        assert_eq!(c.completeness, 5.0);
        assert_eq!(c.sections_missing, vec!["Forecast".to_owned()]);
    }

    #[test]
    fn failed_branches_cost_completeness_and_must_be_named() {
        let mut a = answer("Summary 1234.50 Forecast");
        a["failed_branches"] = json!([{"agent": "forecaster", "reason": "trap"}]);
        let c = check(&a).unwrap();
        assert_eq!(c.completeness, 6.0);
        assert_eq!(c.failed_not_named, vec!["forecaster".to_owned()]);
    }

    #[test]
    fn llm_score_is_combined_when_present() {
        let c = check(&answer("Summary\n- Net: INR 1234.50\nForecast")).unwrap();
        let s = score(&c, Ok("SCORE: 6\nREASONING: fine".into()));
        assert_eq!(s["llm_score"], 6.0);
        assert_eq!(s["score"], 8.0);
        assert_eq!(s["llm_reasoning"], "fine");
        // the mock echoes the prompt, which has no number after `SCORE:`
        assert_eq!(
            parse_score(&format!("[mock 1a2b3c4d] {}", prompt("x"))),
            None
        );
        assert_eq!(parse_score("score: 11"), None);
        assert!(check(&json!({"report": {}})).is_err());
    }
}
