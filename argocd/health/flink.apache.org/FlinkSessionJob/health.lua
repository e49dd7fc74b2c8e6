-- Argo CD health check for FlinkSessionJob (flink.apache.org/v1beta1) managed by flink-lifecycle.
-- Install: docs/argocd.md (argocd-cm key resource.customizations.health.flink.apache.org_FlinkSessionJob).
-- Same reading as the FlinkDeployment check, without JobManager status (a session job has none:
-- its cluster is the FlinkDeployment it names). For statuses without lifecycleState (older
-- writers) it reads status.reconciliationStatus and status.jobStatus.state. Argo CD runs Lua 5.1
-- with string/table/math only. Any status, partial or malformed, gets Progressing or Degraded with
-- a message, never a script error (which Argo CD would show as Unknown).

local function tbl(v)
  if type(v) == "table" then
    return v
  end
  return nil
end

local function text(v)
  if type(v) == "string" and v ~= "" then
    return v
  end
  return nil
end

local function number(v)
  if type(v) == "number" then
    return v
  end
  if type(v) == "string" then
    return tonumber(v)
  end
  return nil
end

-- The table conditions of status (conditions that are not a list of objects are ignored).
local function conditions(status)
  local out = {}
  for _, c in ipairs(tbl(status.conditions) or {}) do
    if type(c) == "table" then
      table.insert(out, c)
    end
  end
  return out
end

local function condition(status, ctype, cstatus)
  for _, c in ipairs(conditions(status)) do
    if c.type == ctype and (cstatus == nil or c.status == cstatus) then
      return c
    end
  end
  return nil
end

-- An error text is either plain text or the reference's JSON {"type": ..., "message": ...}.
local function error_message(err)
  local msg = string.match(err, '"message"%s*:%s*"(.-)"%s*[,}]')
  if msg ~= nil and msg ~= "" then
    return msg
  end
  return err
end

-- Why the resource is in trouble: status.error, else a True Degraded condition (flink-lifecycle),
-- else reconciliationStatus.error (old writers).
local function reason(status)
  local err = text(status.error)
  if err ~= nil then
    return error_message(err)
  end
  local d = condition(status, "Degraded", "True")
  if d ~= nil and text(d.message) ~= nil then
    return d.message
  end
  local rs = tbl(status.reconciliationStatus)
  if rs ~= nil and text(rs.error) ~= nil then
    return error_message(rs.error)
  end
  return nil
end

local function with_reason(msg, status)
  local r = reason(status)
  if r ~= nil then
    return msg .. ": " .. r
  end
  return msg
end

-- Condition reasons that mean "working on it", not "refused".
local in_progress_reasons = {
  Upgrading = true, RollingBack = true, Deleting = true, InProgress = true, Reconciling = true,
  Progressing = true, NotDeployed = true, WaitingForStable = true, Deploying = true,
}

-- Why the operator refused the latest spec generation, or nil when it just has not acted on it
-- yet. A Degraded condition or error written for an older generation is stale, not a refusal.
local function refusal(status, generation)
  local d = condition(status, "Degraded", "True")
  if d ~= nil then
    local g = number(d.observedGeneration)
    if g ~= nil and g < generation then
      return nil
    end
    return text(d.message) or text(d.reason) or "Degraded"
  end
  if text(status.error) ~= nil then
    return error_message(status.error)
  end
  for _, ctype in ipairs({ "Reconciled", "Ready" }) do
    local c = condition(status, ctype, "False")
    if c ~= nil and text(c.reason) ~= nil and not in_progress_reasons[c.reason] then
      local g = number(c.observedGeneration)
      if g ~= nil and g >= generation then
        return text(c.message) or c.reason
      end
    end
  end
  return nil
end

local function check(obj)
  local metadata = tbl(obj.metadata) or {}
  if metadata.deletionTimestamp ~= nil then
    return "Progressing", "Deleting (final savepoint and cancel run before the finalizer is removed)"
  end

  if obj.status ~= nil and (type(obj.status) ~= "table" or obj.status[1] ~= nil) then
    return "Degraded", "Unreadable status (" .. type(obj.status) .. " instead of an object)"
  end
  local status = tbl(obj.status)
  if status == nil or next(status) == nil then
    return "Progressing", "Waiting for flink-lifecycle to observe the resource"
  end

  local generation = number(metadata.generation)
  local observed = number(status.observedGeneration)
  if generation ~= nil and observed ~= nil and observed < generation then
    local refused = refusal(status, generation)
    if refused ~= nil then
      return "Degraded", "Spec generation " .. generation .. " refused (still running generation " .. observed .. "): " .. refused
    end
    return "Progressing", "Spec generation " .. generation .. " not reconciled yet (observed " .. observed .. ")"
  end

  -- The session cluster's REST API stopped answering (flink-lifecycle writes this condition after
  -- 30 s): what status shows of the job is stale.
  for _, c in ipairs(conditions(status)) do
    if c.type == "Degraded" and c.status == "True" and c.reason == "FlinkRestUnanswered" then
      return "Degraded", text(c.message) or "The Flink REST API is not answering"
    end
  end

  local job_spec = tbl((tbl(obj.spec) or {}).job)
  local wants_suspended = job_spec ~= nil and job_spec.state == "suspended"
  local job_state = text((tbl(status.jobStatus) or {}).state)
  local rs = tbl(status.reconciliationStatus) or {}
  local lifecycle = text(status.lifecycleState)

  -- Older writers set no lifecycleState: derive it from reconciliationStatus and the job state,
  -- reading them the way Argo CD's bundled check does, except where that check is wrong
  -- (tests/fixtures/argocd/health-cases.yaml lists where and why).
  if lifecycle == nil then
    if wants_suspended and rs.lastReconciledSpec == nil then
      lifecycle = "CREATED"
    elseif rs.state == "UPGRADING" or rs.state == "ROLLING_BACK" or rs.state == "ROLLED_BACK" then
      lifecycle = rs.state
    elseif rs.state == "DEPLOYED" or rs.success == true or job_state == "RUNNING" or job_state == "FINISHED" then
      lifecycle = "STABLE"
    elseif job_state == "SUSPENDED" or job_state == "CANCELED" then
      lifecycle = "DEPLOYED"
    end
  end

  if lifecycle == "FAILED" then
    return "Degraded", with_reason("Job failed", status)
  end
  if lifecycle == "ROLLED_BACK" then
    return "Degraded", with_reason("Upgrade rolled back to the last stable spec", status)
  end
  if lifecycle == "ROLLING_BACK" then
    return "Progressing", with_reason("Rolling back", status)
  end
  if lifecycle == "UPGRADING" then
    return "Progressing", "Upgrading"
  end
  if job_state == "FAILED" then
    return "Degraded", with_reason("Job failed", status)
  end
  if lifecycle == "DELETING" or lifecycle == "DELETED" then
    return "Progressing", "Deleting"
  end
  -- A suspension the spec asks for is the desired state: Healthy, so that a sync waiting for this
  -- wave's health goes on (Argo CD waits on Suspended as on Progressing).
  if lifecycle == "SUSPENDED" then
    if wants_suspended then
      return "Healthy", "Job is suspended, as the spec asks"
    end
    return "Progressing", "Job is suspended; the spec asks it to run: waiting for it to start"
  end
  if lifecycle == "CREATED" and wants_suspended then
    return "Healthy", "Job is suspended, as the spec asks (never deployed)"
  end
  if lifecycle ~= "DEPLOYED" and lifecycle ~= "STABLE" then
    if reason(status) ~= nil then
      return "Degraded", with_reason("Not deployed", status)
    end
    return "Progressing", "Waiting for the first deployment (lifecycle " .. tostring(lifecycle) .. ")"
  end

  -- RESTARTING: a task failed and Flink restarts the job within its restart strategy; it fails
  -- for good (FAILED) when the strategy gives up. Degraded only when the operator says why.
  if job_state == "RESTARTING" then
    if reason(status) ~= nil then
      return "Degraded", with_reason("Job is RESTARTING", status)
    end
    return "Progressing", "Job is RESTARTING after a task failure (within its restart strategy)"
  end
  if job_state == "FAILING" then
    return "Degraded", with_reason("Job is FAILING", status)
  end
  if job_state == "FINISHED" then
    return "Healthy", "Job finished"
  end
  if job_state == "CANCELED" or job_state == "SUSPENDED" then
    if wants_suspended then
      return "Healthy", "Job is " .. job_state .. ", as the spec asks"
    end
    return "Suspended", "Job is " .. job_state
  end
  if job_state == "RUNNING" and lifecycle == "STABLE" then
    return "Healthy", "Job is running"
  end
  if job_state == "RUNNING" then
    return "Progressing", "Job is running, waiting to be marked stable"
  end
  return "Progressing", "Deploying (job " .. tostring(job_state) .. ")"
end

local hs = {}
local ok, health, message = pcall(check, obj)
if ok then
  hs.status = health
  hs.message = message
else
  hs.status = "Degraded"
  hs.message = "Cannot read the status: " .. tostring(health)
end
return hs
