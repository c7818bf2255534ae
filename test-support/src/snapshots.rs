//! Whether a test that found a generated file stale may rewrite it instead of failing.

/// Whether `variable` (`UPDATE_TEMPLATES`) asks this run to rewrite what it checks. Refused in
/// CI (`CI` set and not empty): the rewrite would land in a checkout nobody commits, and the
/// test would pass over the stale file it exists to catch.
pub fn update_requested(variable: &str) -> Result<bool, String> {
    let requested = std::env::var_os(variable).is_some();
    let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    decide(variable, requested, in_ci)
}

/// [`update_requested`] without the environment, so that it can be tested.
pub fn decide(variable: &str, requested: bool, in_ci: bool) -> Result<bool, String> {
    if requested && in_ci {
        return Err(format!(
            "{variable} is set in CI (CI is set): a snapshot rewritten here is never committed. \
             Update it locally with {variable}=1, commit the result, and unset {variable} in CI."
        ));
    }
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use super::decide;

    #[test]
    fn ci_refuses_an_update_and_says_to_update_locally_and_commit() {
        let refusal = decide("UPDATE_TEMPLATES", true, true).expect_err("CI must not rewrite snapshots");
        assert!(refusal.contains("UPDATE_TEMPLATES") && refusal.contains("locally"), "{refusal}");
        assert!(refusal.contains("commit"), "{refusal}");
    }

    #[test]
    fn an_update_is_made_only_when_asked_and_outside_ci() {
        assert_eq!(decide("UPDATE_TEMPLATES", true, false), Ok(true));
        assert_eq!(decide("UPDATE_TEMPLATES", false, false), Ok(false));
        assert_eq!(decide("UPDATE_TEMPLATES", false, true), Ok(false));
    }
}
