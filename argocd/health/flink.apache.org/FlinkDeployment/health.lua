-- Argo CD health check for FlinkDeployment (flink.apache.org/v1beta1) managed by flink-lifecycle.
-- Install: docs/argocd.md (argocd-cm key resource.customizations.health.flink.apache.org_FlinkDeployment).
-- Reads: metadata.generation vs status.observedGeneration, status.lifecycleState,
-- status.jobStatus.state, status.jobManagerDeploymentStatus, the Running condition and
-- status.error. Argo CD runs Lua 5.1 with string/table/math only (no JSON library).
local hs = {}

-- status.error is either plain text or the reference's JSON {"type": ..., "message": ...}.
local function reason(status)
  local err = status.error
  if err == nil or err == "" then
    -- No error text: a Degraded condition (written by flink-lifecycle) may still say why.
    if status.conditions ~= nil then
      for _, c in ipairs(status.conditions) do
        if c.type == "Degraded" and c.status == "True" and c.message ~= nil and c.message ~= "" then
          return c.message
        end
      end
    end
    return nil
  end
  local msg = string.match(err, '"message"%s*:%s*"(.-)"%s*[,}]')
  if msg ~= nil and msg ~= "" then
    return msg
  end
  return err
end

local function with_reason(text, status)
  local r = reason(status)
  if r ~= nil then
    return text .. ": " .. r
  end
  return text
end

local function running_condition(status)
  if status.conditions ~= nil then
    for _, c in ipairs(status.conditions) do
      if c.type == "Running" then
        return c
      end
    end
  end
  return nil
end

if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Deleting (final savepoint and cleanup run before the finalizer is removed)"
  return hs
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for flink-lifecycle to observe the resource"
  return hs
end

local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Spec generation " .. generation .. " not reconciled yet (observed " .. status.observedGeneration .. ")"
  return hs
end

-- The JobManager is up but its REST API stopped answering (flink-lifecycle writes this condition
-- after 30 s): what status shows of the job is stale.
if status.conditions ~= nil then
  for _, c in ipairs(status.conditions) do
    if c.type == "Degraded" and c.status == "True" and c.reason == "FlinkRestUnanswered" then
      hs.status = "Degraded"
      hs.message = c.message or "The Flink REST API is not answering"
      return hs
    end
  end
end

local spec = obj.spec or {}
local job_spec = spec.job
local lifecycle = status.lifecycleState
local job_state = status.jobStatus and status.jobStatus.state
local jm = status.jobManagerDeploymentStatus
local reconciliation = status.reconciliationStatus and status.reconciliationStatus.state

-- Older writers set no lifecycleState: derive the same buckets from reconciliationStatus.
if lifecycle == nil then
  if reconciliation == "UPGRADING" or reconciliation == "ROLLING_BACK" or reconciliation == "ROLLED_BACK" then
    lifecycle = reconciliation
  elseif reconciliation == "DEPLOYED" then
    lifecycle = "DEPLOYED"
  end
end

if lifecycle == "FAILED" then
  hs.status = "Degraded"
  hs.message = with_reason("Job failed", status)
  return hs
end
if lifecycle == "ROLLED_BACK" then
  hs.status = "Degraded"
  hs.message = with_reason("Upgrade rolled back to the last stable spec", status)
  return hs
end
if lifecycle == "ROLLING_BACK" then
  hs.status = "Progressing"
  hs.message = with_reason("Rolling back", status)
  return hs
end
if lifecycle == "UPGRADING" then
  hs.status = "Progressing"
  hs.message = "Upgrading"
  return hs
end
-- While upgrading or rolling back the job and JobManager states are transitional; after that a
-- failed job or a broken JobManager is the truth.
if job_state == "FAILED" then
  hs.status = "Degraded"
  hs.message = with_reason("Job failed", status)
  return hs
end
if jm == "ERROR" then
  hs.status = "Degraded"
  hs.message = with_reason("JobManager deployment error", status)
  return hs
end
if lifecycle == "DELETING" or lifecycle == "DELETED" then
  hs.status = "Progressing"
  hs.message = "Deleting"
  return hs
end
if lifecycle == "SUSPENDED" or (lifecycle == "CREATED" and job_spec ~= nil and job_spec.state == "suspended") then
  hs.status = "Suspended"
  hs.message = "Job is suspended"
  return hs
end
if lifecycle == "CREATED" or lifecycle == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the first deployment"
  return hs
end

-- DEPLOYED (spec deployed, not yet proven stable) or STABLE.
if job_spec == nil then
  -- Session cluster: healthy once the JobManager is ready.
  if jm == "READY" then
    if lifecycle == "STABLE" then
      hs.status = "Healthy"
      hs.message = "Session cluster ready"
    else
      hs.status = "Progressing"
      hs.message = "Session cluster ready, waiting to be marked stable"
    end
  elseif jm == "MISSING" then
    hs.status = "Degraded"
    hs.message = with_reason("JobManager deployment missing", status)
  else
    hs.status = "Progressing"
    hs.message = "Waiting for the JobManager (" .. tostring(jm) .. ")"
  end
  return hs
end

if job_state == "RESTARTING" or job_state == "FAILING" then
  hs.status = "Degraded"
  hs.message = with_reason("Job is " .. job_state, status)
  return hs
end
if job_state == "FINISHED" then
  hs.status = "Healthy"
  hs.message = "Job finished"
  return hs
end
if job_state == "CANCELED" or job_state == "SUSPENDED" then
  hs.status = "Suspended"
  hs.message = "Job is " .. job_state
  return hs
end
if jm == "MISSING" and lifecycle == "STABLE" then
  hs.status = "Degraded"
  hs.message = with_reason("JobManager deployment missing", status)
  return hs
end
if job_state == "RUNNING" and lifecycle == "STABLE" then
  hs.status = "Healthy"
  hs.message = "Job is running"
  return hs
end

hs.status = "Progressing"
if job_state == "RUNNING" then
  hs.message = "Job is running, waiting to be marked stable"
else
  local cond = running_condition(status)
  if cond ~= nil and cond.message ~= nil then
    hs.message = "Deploying: " .. cond.message
  else
    hs.message = "Deploying (job " .. tostring(job_state) .. ", JobManager " .. tostring(jm) .. ")"
  end
end
return hs
