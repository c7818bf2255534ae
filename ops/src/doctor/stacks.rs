//! The environment's bootstrap and root stacks: a stack whose first create failed
//! (ROLLBACK_COMPLETE) can only be deleted, one stuck after a failed rollback needs a hand, and
//! one mid-operation must be waited for. Deploy would fail on each; this says so first.

use aws_sdk_cloudformation::Client as Cfn;

use super::{Check, names};
use crate::config::Env;
use crate::stack::{self, StackInfo};

/// The check, and the root stack when it is deployed (its parameters are what a deploy keeps).
pub async fn check(cfn: &Cfn, env: Env) -> (Check, Option<StackInfo>) {
    let mut found = Vec::new();
    let mut root = None;
    for name in [stack::bootstrap_name(env), stack::root_name(env)] {
        let info = match stack::describe(cfn, &name).await {
            Ok(info) => info.filter(StackInfo::is_live),
            Err(e) => {
                let summary = crate::errors::summary(&e);
                let hint = crate::errors::hint(&summary);
                return (Check::fail(names::STACKS, summary, hint), None);
            }
        };
        match info {
            None => found.push(format!("{name} not deployed yet")),
            Some(info) => {
                if let Some(hint) = blocked(&info) {
                    let reason = info.status_reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
                    let detail = format!("{name} is {}{reason}", info.status);
                    return (Check::fail(names::STACKS, detail, Some(hint)), None);
                }
                found.push(format!("{name} {}", info.status));
                if name == stack::root_name(env) {
                    root = Some(info);
                }
            }
        }
    }
    (Check::pass(names::STACKS, found.join(", ")), root)
}

/// What to do about a stack deploy cannot change in its state, or `None` when it can.
pub fn blocked(info: &StackInfo) -> Option<String> {
    let name = &info.name;
    match info.status.as_str() {
        "ROLLBACK_COMPLETE" | "ROLLBACK_FAILED" => Some(format!(
            "its first create failed, and CloudFormation can only delete such a stack: \
             `aws cloudformation delete-stack --stack-name {name}`, then deploy again"
        )),
        "DELETE_FAILED" => Some(format!(
            "finish deleting it (`aws cloudformation delete-stack --stack-name {name}`, retaining what \
             cannot be deleted), then deploy again"
        )),
        "UPDATE_ROLLBACK_FAILED" => Some(format!(
            "run `aws cloudformation continue-update-rollback --stack-name {name}` (skipping resources \
             that cannot roll back), then deploy again"
        )),
        s if s.ends_with("_IN_PROGRESS") => {
            Some(format!("another operation is running on {name}: wait for it to finish, then deploy again"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(status: &str) -> StackInfo {
        StackInfo {
            name: "chatbot-dev".into(),
            id: "id".into(),
            status: status.into(),
            status_reason: None,
            parameters: Default::default(),
            outputs: Default::default(),
            last_updated: None,
        }
    }

    #[test]
    fn only_stacks_deploy_cannot_change_are_blocked() {
        for ok in ["CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"] {
            assert_eq!(blocked(&stack(ok)), None, "{ok}");
        }
        assert!(
            blocked(&stack("ROLLBACK_COMPLETE")).unwrap().contains("delete-stack --stack-name chatbot-dev")
        );
        assert!(blocked(&stack("UPDATE_ROLLBACK_FAILED")).unwrap().contains("continue-update-rollback"));
        assert!(blocked(&stack("UPDATE_IN_PROGRESS")).unwrap().contains("wait for it"));
    }
}
