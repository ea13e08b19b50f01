//! Claims: assertions that carry a sentence (`claim:` in the manifest). The report states each
//! with ✅ when its expression held on every variant × phase it covers and ❌ (contradicted)
//! otherwise, beside the measured values that decided it, so no sentence reads as true after
//! the numbers turned against it.

use serde::Serialize;

use crate::results::AssertionOutcome;

/// One claim as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimView {
    /// The sentence, whitespace collapsed (a YAML block scalar may fold it over lines).
    pub claim: String,
    pub expect: String,
    /// Held on every variant × phase in scope.
    pub holds: bool,
    /// The measured values that decided it, per variant × phase: "gunicorn-1 / users-50:
    /// rps = 3.96".
    pub evidence: String,
}

/// The claims among `outcomes`, in manifest order: one per claim sentence and expression,
/// however many variant × phase checks it took.
pub fn claims(outcomes: &[AssertionOutcome]) -> Vec<ClaimView> {
    let mut views: Vec<(ClaimView, Vec<String>)> = Vec::new();
    for outcome in outcomes {
        let Some(claim) = &outcome.claim else {
            continue;
        };
        let claim = claim.split_whitespace().collect::<Vec<_>>().join(" ");
        let evidence = format!(
            "{} / {}: {}",
            outcome.variant, outcome.phase, outcome.detail
        );
        match views
            .iter_mut()
            .find(|(v, _)| v.claim == claim && v.expect == outcome.expect)
        {
            Some((view, lines)) => {
                view.holds &= outcome.passed;
                lines.push(evidence);
            }
            None => views.push((
                ClaimView {
                    claim,
                    expect: outcome.expect.clone(),
                    holds: outcome.passed,
                    evidence: String::new(),
                },
                vec![evidence],
            )),
        }
    }
    views
        .into_iter()
        .map(|(view, lines)| ClaimView {
            evidence: lines.join("; "),
            ..view
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(claim: Option<&str>, variant: &str, passed: bool, detail: &str) -> AssertionOutcome {
        AssertionOutcome {
            expect: "rps <= 4.1".into(),
            variant: variant.into(),
            phase: "users-50".into(),
            passed,
            detail: detail.into(),
            claim: claim.map(str::to_owned),
        }
    }

    #[test]
    fn a_claim_holds_only_where_every_check_passed() {
        let sentence = "One sync worker serves at most\n  1 / 0.25 s = 4 req/s";
        let outcomes = [
            outcome(Some(sentence), "sync-1", true, "rps = 3.96"),
            outcome(None, "sync-1", false, "rps = 3.96"),
            outcome(Some(sentence), "sync-1b", false, "rps = 7.9"),
        ];
        let views = claims(&outcomes);
        assert_eq!(views.len(), 1, "{views:?}");
        let view = &views[0];
        assert_eq!(
            view.claim,
            "One sync worker serves at most 1 / 0.25 s = 4 req/s"
        );
        assert!(
            !view.holds,
            "one check failed, so the claim is contradicted"
        );
        assert_eq!(
            view.evidence,
            "sync-1 / users-50: rps = 3.96; sync-1b / users-50: rps = 7.9"
        );
        let held = claims(&outcomes[..1]);
        assert!(held[0].holds);
    }

    #[test]
    fn assertions_without_a_claim_make_no_claims() {
        assert!(claims(&[outcome(None, "a", true, "rps = 1")]).is_empty());
    }
}
