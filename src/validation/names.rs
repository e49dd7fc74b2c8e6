//! The FlinkDeployment name rule: the name becomes a Kubernetes Service name and a Flink
//! cluster id, so it must be a short DNS-1035 label.

/// Longest FlinkDeployment name the reference accepts.
pub const MAX_NAME_LEN: usize = 45;

/// `[a-z]([-a-z0-9]{0,43}[a-z0-9])?`, fully matched.
pub fn is_valid_cluster_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let Some((&first, rest)) = bytes.split_first() else {
        return false;
    };
    if bytes.len() > MAX_NAME_LEN || !first.is_ascii_lowercase() {
        return false;
    }
    if let Some(&last) = rest.last()
        && !(last.is_ascii_lowercase() || last.is_ascii_digit())
    {
        return false;
    }
    rest.iter()
        .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A Kubernetes object name such as a ServiceAccount's (RFC 1123 subdomain): at most 253
/// characters of lower case alphanumerics, '-' and '.', starting and ending alphanumeric.
pub fn is_dns_subdomain(name: &str) -> bool {
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 253
        && bytes.first().is_some_and(alnum)
        && bytes.last().is_some_and(alnum)
        && bytes.iter().all(|b| alnum(b) || *b == b'-' || *b == b'.')
}

/// What the name must look like, for messages.
pub const NAME_RULE: &str = "must consist of lower case alphanumeric characters or '-', start with a letter, \
     end with a letter or digit, and be at most 45 characters long";

/// A port name as Kubernetes accepts it (an IANA service name): 1 to 15 lower case letters,
/// digits and '-', with at least one letter, no '-' at either end and no "--".
pub fn is_port_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (1..=15).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.iter().any(u8::is_ascii_lowercase)
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
        && !name.contains("--")
}

/// An environment variable name Kubernetes accepts since 1.32: printable ASCII but '=', at
/// least one character. Older clusters also refuse what is not a C identifier (with '-' and
/// '.'); that is left to them, as a newer cluster runs such a name.
pub fn is_env_var_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() || b == b' ') && !name.contains('=')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_names() {
        for ok in ["metrics", "web-ui", "h2c", "8080a", "a1-2b", &"a".repeat(15)] {
            assert!(is_port_name(ok), "{ok}");
        }
        for bad in [
            "",
            "8080",
            "Web",
            "web--ui",
            "-web",
            "web-",
            "web_ui",
            &"a".repeat(16),
        ] {
            assert!(!is_port_name(bad), "{bad}");
        }
    }

    #[test]
    fn environment_variable_names() {
        for ok in ["JAVA_HOME", "my.var-1", "1ST", "with space"] {
            assert!(is_env_var_name(ok), "{ok}");
        }
        for bad in ["", "A=B", "tab\there", "ä"] {
            assert!(!is_env_var_name(bad), "{bad}");
        }
    }

    #[test]
    fn subdomains() {
        for ok in ["flink", "a", "flink-sa.v2", "0", &"a".repeat(253)] {
            assert!(is_dns_subdomain(ok), "{ok}");
        }
        for bad in [
            "",
            "Flink",
            "flink_sa",
            "-flink",
            "flink.",
            "flink sa",
            &"a".repeat(254),
        ] {
            assert!(!is_dns_subdomain(bad), "{bad}");
        }
    }

    #[test]
    fn follows_the_reference_pattern() {
        for ok in ["a", "basic-example", "job1", &"a".repeat(45)] {
            assert!(is_valid_cluster_name(ok), "{ok}");
        }
        for bad in ["", "1job", "Job", "job-", "job_x", "job.x", &"a".repeat(46)] {
            assert!(!is_valid_cluster_name(bad), "{bad}");
        }
    }
}
