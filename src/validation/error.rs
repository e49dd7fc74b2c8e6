//! The one error every validation rule returns: what is wrong, where, and how to fix it.

use super::keys::conf_location;
use std::fmt;

/// A rejected spec. `location` is a JSON path (`spec.job.upgradeMode`) or a Flink config key
/// (`spec.flinkConfiguration[execution.checkpointing.dir]`); `problem` says what is wrong and
/// `fix` what to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationError {
    pub location: String,
    pub problem: String,
    pub fix: String,
}

impl ValidationError {
    pub fn new(location: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.problem)?;
        if !self.fix.is_empty() {
            write!(f, ". {}", self.fix)?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationError {}

/// Shorthand for the result of one rule group.
pub type Rule = Result<(), ValidationError>;

/// Builds the error of a rule: `reject(location, problem, fix)`.
pub(crate) fn reject(
    location: impl Into<String>,
    problem: impl Into<String>,
    fix: impl Into<String>,
) -> Rule {
    Err(ValidationError::new(location, problem, fix))
}

/// An unreadable operator override in a resource's configuration, as a rejection.
pub(crate) fn config_error(e: crate::config::ConfigError) -> ValidationError {
    match e {
        crate::config::ConfigError::InvalidValue { key, value, expected } => ValidationError::new(
            conf_location(&key),
            format!("'{value}' is not a valid value"),
            format!("Write {expected}"),
        ),
        other => ValidationError::new("spec.flinkConfiguration", other.to_string(), ""),
    }
}
