//! `GET /jobs/<id>/exceptions`: 1.x has `root-exception` plus `exceptionHistory`; 2.x only
//! `exceptionHistory`.

use serde::Deserialize;

use super::error::summarize_java_error;
use super::wire;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct JobExceptions {
    /// 1.x only: the stack trace of the latest root exception.
    #[serde(default, rename = "root-exception", deserialize_with = "wire::opt_string")]
    pub root_exception: Option<String>,
    /// 1.x only.
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub timestamp: Option<i64>,
    #[serde(default, rename = "exceptionHistory")]
    pub history: ExceptionHistory,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ExceptionHistory {
    /// Newest first.
    #[serde(default, deserialize_with = "wire::vec_or_null")]
    pub entries: Vec<ExceptionEntry>,
    #[serde(default)]
    pub truncated: bool,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ExceptionEntry {
    #[serde(default, rename = "exceptionName")]
    pub exception_name: String,
    #[serde(default)]
    pub stacktrace: String,
    #[serde(default, deserialize_with = "wire::opt_i64")]
    pub timestamp: Option<i64>,
    #[serde(default, rename = "taskName", deserialize_with = "wire::opt_string")]
    pub task_name: Option<String>,
    #[serde(default, rename = "taskManagerId", deserialize_with = "wire::opt_string")]
    pub task_manager_id: Option<String>,
}

impl ExceptionEntry {
    /// First line and root cause of the stack trace.
    pub fn summary(&self) -> String {
        let s = summarize_java_error(&self.stacktrace);
        if s.is_empty() {
            self.exception_name.clone()
        } else {
            s
        }
    }
}

impl JobExceptions {
    /// The newest failure, summarised: the newest history entry, else the 1.x root exception.
    pub fn latest_summary(&self) -> Option<String> {
        self.history
            .entries
            .first()
            .map(ExceptionEntry::summary)
            .or_else(|| self.root_exception.as_deref().map(summarize_java_error))
            .filter(|s| !s.is_empty())
    }
}
