-- Argo CD health check for every embedded.airbyte.ai kind (EmbeddedWorkspace, SourceTemplate,
-- EmbeddedSource, ConnectionTemplate, ClusterAirbyteOrganization, AirbyteOrganization),
-- following kstatus: being deleted or not yet reconciled -> Progressing, Stalled=True ->
-- Degraded, Reconciling=True -> Progressing, Ready=True -> Healthy.
local hs = {}
if obj.metadata ~= nil and obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "being deleted"
  return hs
end
local generation = 0
if obj.metadata ~= nil and obj.metadata.generation ~= nil then
  generation = obj.metadata.generation
end
if obj.status == nil or obj.status.observedGeneration == nil or obj.status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to reconcile this generation"
  return hs
end
local ready = nil
local conditions = obj.status.conditions or {}
for _, condition in ipairs(conditions) do
  if condition.type == "Stalled" and condition.status == "True" then
    hs.status = "Degraded"
    hs.message = (condition.reason or "") .. ": " .. (condition.message or "")
    return hs
  end
  if condition.type == "Ready" then
    ready = condition
  end
end
for _, condition in ipairs(conditions) do
  if condition.type == "Reconciling" and condition.status == "True" then
    hs.status = "Progressing"
    hs.message = (condition.reason or "") .. ": " .. (condition.message or "")
    return hs
  end
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or ""
  return hs
end
hs.status = "Progressing"
if ready ~= nil then
  hs.message = (ready.reason or "") .. ": " .. (ready.message or "")
else
  hs.message = "no Ready condition yet"
end
return hs
