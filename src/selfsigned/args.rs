//! Command-line flags (each with its environment variable) for `run --self-signed`.

use super::SelfSignedConfig;
use std::time::Duration;

fn duration(text: &str) -> Result<Duration, String> {
    crate::config::parse_flink_duration(text).ok_or_else(|| {
        format!(
            "invalid duration '{text}': expected {}",
            crate::config::DURATION_FORMS
        )
    })
}

/// Flags of the self-signed certificate manager; flatten into the `run` command.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct SelfSignedArgs {
    /// Issue and rotate the webhook certificate and keep the webhook configurations' caBundle
    /// current (installs without cert-manager).
    #[arg(long, env = "FLINK_LIFECYCLE_SELF_SIGNED")]
    pub self_signed: bool,
    /// Secret holding the self-signed CA and serving certificate.
    #[arg(long, env = "FLINK_LIFECYCLE_SELF_SIGNED_SECRET", default_value = crate::rbac::SELF_SIGNED_SECRET_NAME)]
    pub self_signed_secret: String,
    /// The webhook Service (its DNS names go into the serving certificate).
    #[arg(
        long,
        env = "FLINK_LIFECYCLE_WEBHOOK_SERVICE",
        default_value = "flink-lifecycle-webhook"
    )]
    pub webhook_service: String,
    /// Name of the Validating and Mutating WebhookConfiguration whose caBundle to keep current.
    #[arg(long, env = "FLINK_LIFECYCLE_WEBHOOK_CONFIGURATION", default_value = crate::rbac::WEBHOOK_CONFIGURATION_NAME)]
    pub webhook_configuration: String,
    /// Lifetime of an issued CA and serving certificate.
    #[arg(long, env = "FLINK_LIFECYCLE_SELF_SIGNED_VALIDITY", default_value = "90 d", value_parser = duration)]
    pub self_signed_validity: Duration,
    /// Reissue when less than this is left.
    #[arg(long, env = "FLINK_LIFECYCLE_SELF_SIGNED_RENEW_BEFORE", default_value = "30 d", value_parser = duration)]
    pub self_signed_renew_before: Duration,
}

impl SelfSignedArgs {
    /// The manager's configuration, or None when `--self-signed` is off. `cert_dir` is where the
    /// webhook server reads `tls.crt`/`tls.key` from (the parent of `--tls-cert`).
    pub fn config(&self, namespace: &str, cert_dir: Option<std::path::PathBuf>) -> Option<SelfSignedConfig> {
        self.self_signed.then(|| SelfSignedConfig {
            namespace: namespace.to_string(),
            secret_name: self.self_signed_secret.clone(),
            service_name: self.webhook_service.clone(),
            webhook_configuration: self.webhook_configuration.clone(),
            validity: self.self_signed_validity,
            renew_before: self.self_signed_renew_before.min(self.self_signed_validity / 2),
            cert_dir,
            check_interval: Duration::from_secs(300),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SelfSignedArgs,
    }

    #[test]
    fn defaults_match_the_manifests_and_flag_turns_it_on() {
        let off = Cli::try_parse_from(["x"]).unwrap().args;
        assert!(!off.self_signed);
        assert!(off.config("ns", None).is_none());
        let on = Cli::try_parse_from(["x", "--self-signed", "--self-signed-validity", "10 d"])
            .unwrap()
            .args;
        let cfg = on.config("flink-lifecycle", None).unwrap();
        assert_eq!(cfg.secret_name, "flink-lifecycle-webhook-tls");
        assert_eq!(cfg.webhook_configuration, "flink-lifecycle");
        assert_eq!(cfg.validity, Duration::from_secs(10 * 86_400));
        // The renewal margin never exceeds half the lifetime (else every check would reissue).
        assert_eq!(cfg.renew_before, Duration::from_secs(5 * 86_400));
        assert!(
            cfg.dns_names()
                .contains(&"flink-lifecycle-webhook.flink-lifecycle.svc".to_string())
        );
    }

    #[test]
    fn bad_duration_is_a_clear_error() {
        let err = Cli::try_parse_from(["x", "--self-signed-validity", "soon"])
            .err()
            .unwrap();
        assert!(err.to_string().contains("invalid duration 'soon'"));
    }
}
