//! Errors of the Flink REST client: every variant names the endpoint it came from.

use std::time::Duration;

/// Why a call never got an HTTP answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnreachableKind {
    /// TCP connect failed: refused, no route, DNS failure.
    Connect,
    /// No complete answer within the client timeout.
    Timeout,
    /// The connection broke after it was established (reset, truncated body).
    Transport,
}

impl std::fmt::Display for UnreachableKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Connect => "connection failed",
            Self::Timeout => "timed out",
            Self::Transport => "connection broken",
        })
    }
}

/// An error from one Flink REST call. `endpoint` is `"<METHOD> <path>"`, e.g. `GET /jobs/<id>`.
#[derive(Debug, thiserror::Error)]
pub enum FlinkError {
    /// The REST endpoint could not be reached at all (JobManager down, not yet started, wrong URL).
    #[error("Flink REST unreachable at {base_url} ({endpoint}): {kind} after {elapsed:?}: {reason}")]
    Unreachable {
        base_url: String,
        endpoint: String,
        kind: UnreachableKind,
        elapsed: Duration,
        reason: String,
    },
    /// Flink answered with an error status; `message` is Flink's own error text, trimmed to its
    /// meaningful lines (first line of the trace and its root cause).
    #[error("{endpoint} failed with HTTP {status}: {message}")]
    Http {
        endpoint: String,
        status: u16,
        message: String,
    },
    /// Flink answered 2xx but the body is not what this endpoint returns.
    #[error("{endpoint} returned an unexpected body (HTTP {status}): {reason}")]
    Decode {
        endpoint: String,
        status: u16,
        reason: String,
    },
    /// The request could not be built (bad base URL, unreadable jar file, ...).
    #[error("{endpoint}: cannot send request: {reason}")]
    Request { endpoint: String, reason: String },
    /// A polled asynchronous operation (savepoint, disposal) did not finish in time.
    #[error("{operation} still in progress after {waited:?}")]
    StillInProgress { operation: String, waited: Duration },
}

impl FlinkError {
    /// The endpoint (`"<METHOD> <path>"`) or operation the error belongs to.
    pub fn endpoint(&self) -> &str {
        match self {
            Self::Unreachable { endpoint, .. }
            | Self::Http { endpoint, .. }
            | Self::Decode { endpoint, .. }
            | Self::Request { endpoint, .. } => endpoint,
            Self::StillInProgress { operation, .. } => operation,
        }
    }

    /// The HTTP status Flink answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Http { status, .. } | Self::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    /// 404: unknown job, jar or trigger id.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// Flink's error text from an error response body.
///
/// Flink answers errors with `{"errors":["<text>", ...]}` where a text is often a whole Java
/// stack trace (sometimes wrapped in `<Exception on server side: ... End of exception on server
/// side>`). Each text is reduced to [`summarize_java_error`]; the generic "Internal server
/// error." is dropped when a more specific text follows. A body that is not this JSON is kept
/// verbatim (truncated).
pub fn flink_error_text(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        errors: Vec<String>,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(parsed) if !parsed.errors.is_empty() => {
            let specific: Vec<String> = parsed
                .errors
                .iter()
                .filter(|e| e.trim() != "Internal server error.")
                .map(|e| summarize_java_error(e))
                .filter(|e| !e.is_empty())
                .collect();
            if specific.is_empty() {
                parsed.errors.join("; ")
            } else {
                specific.join("; ")
            }
        }
        _ => truncate(String::from_utf8_lossy(body).trim(), MAX_TEXT),
    }
}

const MAX_TEXT: usize = 1000;

/// The meaningful part of a Java stack trace: its first line, plus the last `Caused by:` line
/// (the root cause) when that adds information. Frames (`at ...`, `... N more`) are dropped.
pub fn summarize_java_error(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !is_trace_noise(l))
        .collect();
    let Some(first) = lines.first() else {
        return String::new();
    };
    let first = first.trim_start_matches("<Exception on server side:").trim();
    let root = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("Caused by:"))
        .map(str::trim);
    let summary = match root {
        Some(root) if !first.contains(root) => {
            format!("{first} (root cause: {root})")
        }
        _ => first.to_string(),
    };
    truncate(&summary, MAX_TEXT)
}

/// Stack frames, "... N more" and the server-side wrapper lines.
fn is_trace_noise(line: &str) -> bool {
    line.is_empty()
        || line.starts_with("at ")
        || (line.starts_with("...") && line.ends_with("more"))
        || line == "<Exception on server side:"
        || line == "End of exception on server side>"
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_first_line_and_root_cause_of_a_trace() {
        let body = br#"{"errors":["org.apache.flink.runtime.rest.handler.RestHandlerException: Could not execute application.\n\tat org.apache.flink.X.y(X.java:1)\nCaused by: java.util.concurrent.CompletionException: boom\n\t... 3 more\nCaused by: java.io.FileNotFoundException: Cannot find checkpoint or savepoint file/directory 'file:/nope' on file system 'file'.\n\tat a.b(C.java:2)\n"]}"#;
        assert_eq!(
            flink_error_text(body),
            "org.apache.flink.runtime.rest.handler.RestHandlerException: Could not execute application. \
             (root cause: java.io.FileNotFoundException: Cannot find checkpoint or savepoint file/directory 'file:/nope' on file system 'file'.)"
        );
    }

    #[test]
    fn drops_generic_internal_error_and_server_side_wrapper() {
        let body = br#"{"errors":["Internal server error.","<Exception on server side:\norg.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job (abc)\n\tat x.y(Z.java:1)\n\nEnd of exception on server side>"]}"#;
        assert_eq!(
            flink_error_text(body),
            "org.apache.flink.runtime.messages.FlinkJobNotFoundException: Could not find Flink job (abc)"
        );
    }

    #[test]
    fn keeps_generic_text_when_it_is_all_there_is_and_non_json_bodies() {
        assert_eq!(
            flink_error_text(br#"{"errors":["Internal server error."]}"#),
            "Internal server error."
        );
        assert_eq!(flink_error_text(b"  Bad Gateway \n"), "Bad Gateway");
        assert_eq!(flink_error_text(&[b'x'; 5000]).len(), MAX_TEXT + 3);
    }

    #[test]
    fn root_cause_already_in_first_line_is_not_repeated() {
        let text = "java.util.concurrent.CompletionException: java.io.IOException: disk\nCaused by: java.io.IOException: disk";
        assert_eq!(
            summarize_java_error(text),
            "java.util.concurrent.CompletionException: java.io.IOException: disk"
        );
    }
}
