//! The suspended phase: wait for a resume, or redeploy from `initialSavepointPath` on a new
//! `savepointRedeployNonce`.

use super::*;
use crate::lifecycle::explain::describe_restore;

impl Planner<'_> {
    pub(super) fn suspended_phase(&mut self, recorded: &(AnySpec, ResourceMetadata)) -> Next {
        self.observe_jobmanager();
        let (rec, _) = recorded;
        let diff = rec.diff(&self.spec);
        let change = classify(rec.desired_state(), self.spec.desired_state(), &diff);
        match change {
            SpecChange::SavepointRedeploy if self.desired_state() != JobState::Running => {
                // Carried out at the resume: the nonce stays unrecorded until then, so the resume
                // restores the named snapshot whatever the upgrade mode is by then.
                self.why(
                    "a savepoint redeploy asked for while suspended is carried out when the job is resumed",
                );
            }
            SpecChange::SavepointRedeploy | SpecChange::Resume => {
                let restore = if change == SpecChange::SavepointRedeploy {
                    match self.take_redeploy_path() {
                        Ok(_) => RestoreMode::Savepoint,
                        Err(step) => return step.into(),
                    }
                } else {
                    let recorded_mode = rec.job().map(|j| j.upgrade_mode()).unwrap_or_default();
                    resume_restore_mode(recorded_mode, self.user_mode())
                };
                self.event(
                    EventType::Normal,
                    "SpecChanged",
                    "Resuming the job with the latest spec",
                );
                self.why(format!(
                    "resume: {}",
                    describe_restore(restore, self.core.job.upgrade_savepoint_path.as_deref())
                ));
                if self.keeps_recorded_for_ha(rec, Some(restore)) {
                    self.why(RESTORES_WITH_HA_FIRST);
                }
                let rec = self
                    .spec_for_restore(rec, Some(restore))
                    .with_job(Some(JobState::Suspended), Some(restore.recorded()));
                self.set_recorded(&rec, false);
                self.core.recon.state = Some(ReconciliationState::Upgrading);
                self.purpose = Some(if change == SpecChange::SavepointRedeploy {
                    DeployPurpose::SavepointRedeploy
                } else {
                    DeployPurpose::Resume
                });
                return Next::Enter(Phase::Restoring);
            }
            _ => {}
        }
        self.core.observed_generation = Some(self.generation);
        if self.has_cluster() && !self.obs.jobmanager.is_missing() {
            self.why("the job is suspended: its cluster is removed (HA metadata kept unless stateless)");
            return self
                .delete_cluster(rec.job().map(|j| j.upgrade_mode()) == Some(UpgradeMode::Stateless))
                .into();
        }
        self.why("the job is suspended");
        Step::NoOp.into()
    }

    /// Points the restore at the snapshot a new `savepointRedeployNonce` names (records it as the
    /// path to restore, and the deploy as a redeploy); fails if `initialSavepointPath` is empty.
    pub(super) fn take_redeploy_path(&mut self) -> Result<String, Step> {
        match self
            .spec
            .job()
            .and_then(|j| j.initial_savepoint_path.clone())
            .filter(|p| !p.trim().is_empty())
        {
            Some(p) => {
                self.core.job.upgrade_savepoint_path = Some(p.clone());
                self.purpose = Some(DeployPurpose::SavepointRedeploy);
                if self.kind == Kind::Application && self.deploy_written_ahead() {
                    // A deployed job never seen started is abandoned for the redeploy. Restored
                    // from HA, it kept the stopped job's id and checkpoints, which must not pass
                    // for the redeployed job's (`deployed_job_checkpointed`) and override the
                    // snapshot the user named. Its cluster is deleted, and the job with it.
                    self.core.job.job_id = None;
                }
                Ok(p)
            }
            None => Err(self.fail(
                "ValidationError",
                "InitialSavepointPath must not be empty for savepoint redeployment",
            )),
        }
    }
}
