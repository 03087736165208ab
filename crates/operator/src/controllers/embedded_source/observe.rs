//! What an EmbeddedSource's plan is decided from: its workspace and template (watch caches),
//! other sources claiming the same name, the configuration with Secret values, the workspace's
//! token, and only the Airbyte reads the plan needs.

use std::future::Future;
use std::time::SystemTime;

use kube::runtime::reflector::ObjectRef;
use kube::{Resource, ResourceExt};

use super::plan::Desired;
use super::workspace_token::workspace_token;
use crate::controllers::claim_index::source_key;
use crate::controllers::context::Context;
use crate::controllers::embedded_workspace::naming::{self, Claim};
use crate::controllers::error::Error;
use crate::controllers::external::{Lookup, Reader, look_up};
use crate::controllers::intent;
use crate::controllers::organization::OrganizationKey;
use crate::controllers::organization::registry::Organization;
use crate::controllers::secret_values::{cached_versions, config_hash, resolve};
use crate::controllers::wiring::hash_of;
use airbyte_client::models::Source;
use airbyte_client::{AirbyteApi, ApiError, BearerToken};
use embedded_crds::conditions::{self, Reason};
use embedded_crds::{
    ConnectionTemplate, EXTERNAL_ID, EmbeddedSource, EmbeddedWorkspace, RECONCILE_REQUESTED_AT,
    SourceTemplate,
};

/// What a source waits for.
#[derive(Clone, Debug, PartialEq)]
pub struct Wait {
    pub reason: Reason,
    pub message: String,
    /// The dependency exists and has not been reconciled yet: it is queued behind others (a
    /// rollout), not failing, and its own status tells; the source writes no condition for it.
    pub queued: bool,
}

/// Where the source stands before anything is written.
#[derive(Debug)]
pub enum Observation {
    /// Something it needs is not there yet (in progress).
    Waiting(Wait),
    /// The spec is wrong (stalled).
    Invalid {
        reason: Reason,
        message: String,
    },
    /// Synced by this process from these very inputs and Ready: nothing to read or write.
    Steady {
        id: String,
        inputs: u64,
    },
    Seen(Box<Seen>),
}

#[derive(Debug)]
pub struct Seen {
    pub desired: Desired,
    pub config_hash: String,
    pub changed: bool,
    pub requested: Option<String>,
    pub intent: Option<SystemTime>,
    pub now: SystemTime,
    pub inputs: Option<u64>,
    /// The ConnectionTemplates whose tags the source's filter selects, by name.
    pub connection_templates: Vec<String>,
    pub external: Lookup<Source>,
    /// The token the reads were made with (acting uses it too).
    pub token: Option<BearerToken>,
}

/// The workspace and template a source needs, Ready.
struct Dependencies {
    workspace: std::sync::Arc<EmbeddedWorkspace>,
    workspace_id: String,
    template_id: String,
}

pub async fn observe<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
    organization: &Organization<A>,
) -> Result<Observation, Error> {
    let dependencies = match dependencies(source, ctx, &organization.key) {
        Ok(found) => found,
        Err(observation) => return Ok(*observation),
    };
    if let Some(problem) = duplicate_name(source, ctx) {
        return Ok(problem);
    }
    let namespace = source.namespace().unwrap_or_default();
    let uid = source.uid().unwrap_or_default();
    let status = source.status.clone().unwrap_or_default();
    let matched = super::plan::selected_templates(
        source,
        &ctx.stores.of::<ConnectionTemplate>(),
        &organization.key,
    );
    let inputs = ctx
        .stores
        .secrets_in(&namespace)
        .and_then(|cache| {
            cached_versions(cache, &namespace, &source.spec.source_config_secret_refs)
        })
        .map(|versions| {
            hash_of((
                versions,
                source.meta().generation,
                &dependencies.workspace_id,
                &dependencies.template_id,
                source.annotations().get(EXTERNAL_ID),
                source.annotations().get(RECONCILE_REQUESTED_AT),
                &matched,
            ))
        });
    ctx.ensure_drift_scheduled(&uid);
    if let (Some(inputs), Some(id)) = (inputs, &status.source_id)
        && ctx.memory.synced_from(&uid, inputs)
        && status.observed_generation == source.meta().generation
        && conditions::is_ready(&status.conditions)
        && !ctx.drift_due(&uid)
    {
        return Ok(Observation::Steady {
            id: id.clone(),
            inputs,
        });
    }
    let mut seen = seen(source, ctx, &organization.airbyte, dependencies, inputs).await?;
    seen.connection_templates = matched;
    Ok(Observation::Seen(Box::new(seen)))
}

async fn seen<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
    airbyte: &A,
    dependencies: Dependencies,
    inputs: Option<u64>,
) -> Result<Seen, Error> {
    let uid = source.uid().unwrap_or_default();
    let status = source.status.clone().unwrap_or_default();
    let (desired, hash) = declared(source, ctx, &dependencies).await?;
    let requested = source.annotations().get(RECONCILE_REQUESTED_AT).cloned();
    let request_pending = requested.is_some() && requested != status.last_handled_reconcile_at;
    let changed = status.observed_generation != source.meta().generation
        || status.config_hash.as_deref() != Some(hash.as_str());
    let same_workspace = status.workspace_id.as_deref() == Some(dependencies.workspace_id.as_str());
    let intent = intent::recorded(source);
    let mut seen = Seen {
        desired,
        config_hash: hash,
        changed,
        requested,
        intent,
        now: ctx.clock.now(),
        inputs,
        connection_templates: Vec::new(),
        external: Lookup::Absent,
        token: None,
    };
    if let Some(id) = status.source_id.clone().filter(|_| same_workspace)
        && !(changed || request_pending || ctx.drift_due(&uid))
    {
        seen.external = Lookup::Unread { id };
        return Ok(seen);
    }
    let _routine = if changed || request_pending || status.source_id.is_none() {
        None
    } else {
        ctx.routine.acquire().await.ok()
    };
    let token = workspace_token(
        ctx,
        airbyte,
        &dependencies.workspace,
        &dependencies.workspace_id,
    )
    .await?;
    let known = status.source_id.clone().filter(|_| same_workspace);
    seen.external = read_external(source, airbyte, &token, known, &seen).await?;
    seen.token = Some(token);
    ctx.drift_checked(&uid);
    Ok(seen)
}

/// The declared source with its Secret values, and the hash status records of it.
async fn declared<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
    dependencies: &Dependencies,
) -> Result<(Desired, String), Error> {
    let base = source.spec.source_config.clone().unwrap_or_default();
    let (config, versions) = resolve(
        &ctx.client,
        ctx.stores
            .secrets_in(&source.namespace().unwrap_or_default()),
        &source.namespace().unwrap_or_default(),
        &base,
        &source.spec.source_config_secret_refs,
        "spec.sourceConfigSecretRefs",
    )
    .await?;
    let desired = Desired::new(
        source,
        &dependencies.workspace_id,
        &dependencies.template_id,
        config,
    );
    let hash = config_hash(&(desired.declared(), &base), &versions);
    Ok((desired, hash))
}

async fn read_external<A: AirbyteApi>(
    source: &EmbeddedSource,
    airbyte: &A,
    token: &BearerToken,
    known: Option<String>,
    seen: &Seen,
) -> Result<Lookup<Source>, Error> {
    let reader = Sources {
        airbyte,
        token,
        workspace_id: &seen.desired.workspace_id,
        name: &seen.desired.name,
    };
    let adopt = source.annotations().get(EXTERNAL_ID).cloned();
    look_up(&reader, known, adopt, seen.intent).await
}

/// A workspace's sources, read with its token, as a source of `name` sees them.
pub(super) struct Sources<'a, A> {
    pub airbyte: &'a A,
    pub token: &'a BearerToken,
    pub workspace_id: &'a str,
    pub name: &'a str,
}

impl<A: AirbyteApi> Reader for Sources<'_, A> {
    type Object = Source;

    fn get(&self, id: &str) -> impl Future<Output = Result<Source, ApiError>> + Send {
        self.airbyte.get_source(self.token, id)
    }

    fn list(&self) -> impl Future<Output = Result<Vec<Source>, ApiError>> + Send {
        self.airbyte.list_sources(self.token, self.workspace_id)
    }

    fn fits(&self, source: &Source) -> bool {
        source.name == self.name
    }
}

/// The workspace (same namespace only) and the template, both Ready; otherwise why the source
/// waits or cannot work.
fn dependencies<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
    organization: &OrganizationKey,
) -> Result<Dependencies, Box<Observation>> {
    let (workspace, workspace_id) = workspace_dependency(source, ctx)?;
    let acts_for = OrganizationKey::of(
        workspace.spec.organization_ref.as_ref(),
        workspace.metadata.namespace.as_deref(),
    );
    let named = source
        .spec
        .organization_ref
        .as_ref()
        .map(|own| OrganizationKey::of(Some(own), source.metadata.namespace.as_deref()));
    if let Some(named) = named.filter(|named| *named != acts_for) {
        return Err(Box::new(Observation::Invalid {
            reason: Reason::OrganizationMismatch,
            message: format!(
                "spec.organizationRef names {}, but EmbeddedWorkspace {} acts for {}: an EmbeddedSource acts for its workspace's organization; remove spec.organizationRef, or make it name that one",
                named.describe(),
                source.spec.workspace_ref.name,
                acts_for.describe()
            ),
        }));
    }
    let template_id = template_dependency(source, ctx, organization)?;
    Ok(Dependencies {
        workspace,
        workspace_id,
        template_id,
    })
}

fn waiting(reason: Reason, message: String) -> Box<Observation> {
    Box::new(Observation::Waiting(Wait {
        reason,
        message,
        queued: false,
    }))
}

fn queued(reason: Reason, message: String) -> Box<Observation> {
    Box::new(Observation::Waiting(Wait {
        reason,
        message,
        queued: true,
    }))
}

fn workspace_dependency<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
) -> Result<(std::sync::Arc<EmbeddedWorkspace>, String), Box<Observation>> {
    let namespace = source.namespace().unwrap_or_default();
    let name = &source.spec.workspace_ref.name;
    let Some(workspace) = ctx
        .stores
        .of::<EmbeddedWorkspace>()
        .get(&ObjectRef::new(name).within(&namespace))
    else {
        return Err(waiting(
            Reason::WorkspaceNotReady,
            format!("EmbeddedWorkspace {namespace}/{name} does not exist yet"),
        ));
    };
    let status = workspace.status.clone().unwrap_or_default();
    match (
        &status.workspace_id,
        conditions::is_ready(&status.conditions),
    ) {
        (Some(id), true) => Ok((workspace.clone(), id.clone())),
        _ => match conditions::ready(&status.conditions) {
            Some(c) => Err(waiting(
                Reason::WorkspaceNotReady,
                format!(
                    "EmbeddedWorkspace {namespace}/{name} is not Ready ({}: {})",
                    c.reason, c.message
                ),
            )),
            None => Err(queued(
                Reason::WorkspaceNotReady,
                format!("EmbeddedWorkspace {namespace}/{name} is not Ready (not reconciled yet)"),
            )),
        },
    }
}

fn template_dependency<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
    organization: &OrganizationKey,
) -> Result<String, Box<Observation>> {
    let reference = match (
        &source.spec.source_template_ref,
        &source.spec.source_template_id,
    ) {
        (Some(reference), _) => reference,
        (None, Some(id)) => return Ok(id.to_lowercase()),
        (None, None) => {
            return Err(Box::new(Observation::Invalid {
                reason: Reason::InvalidConfig,
                message: "set spec.sourceTemplateRef or spec.sourceTemplateId".into(),
            }));
        }
    };
    let Some(template) = ctx
        .stores
        .of::<SourceTemplate>()
        .get(&ObjectRef::new(&reference.name))
    else {
        return Err(waiting(
            Reason::TemplateNotReady,
            format!("SourceTemplate {} does not exist yet", reference.name),
        ));
    };
    let belongs_to = OrganizationKey::of(template.spec.organization_ref.as_ref(), None);
    if belongs_to != *organization {
        return Err(Box::new(Observation::Invalid {
            reason: Reason::OrganizationMismatch,
            message: format!(
                "SourceTemplate {} belongs to {}, not to {} that this source acts for: use a template of the same organization",
                reference.name,
                belongs_to.describe(),
                organization.describe()
            ),
        }));
    }
    let status = template.status.clone().unwrap_or_default();
    match (
        &status.template_id,
        conditions::is_ready(&status.conditions),
    ) {
        (Some(id), true) => Ok(id.clone()),
        _ if status.conditions.is_empty() => Err(queued(
            Reason::TemplateNotReady,
            format!(
                "SourceTemplate {} is not Ready (not reconciled yet)",
                reference.name
            ),
        )),
        _ => Err(waiting(
            Reason::TemplateNotReady,
            format!("SourceTemplate {} is not Ready", reference.name),
        )),
    }
}

/// Another EmbeddedSource of this workspace that claims the same display name first.
fn duplicate_name<A: AirbyteApi>(source: &EmbeddedSource, ctx: &Context<A>) -> Option<Observation> {
    let namespace = source.namespace().unwrap_or_default();
    let workspace_name = &source.spec.workspace_ref.name;
    let name = super::source_name(source);
    let store = ctx.stores.of::<EmbeddedSource>();
    let rivals: Vec<Claim> = ctx
        .stores
        .source_names
        .claimants(&source_key(&namespace, workspace_name, &name))
        .iter()
        .filter_map(|candidate| store.get(candidate))
        .filter(|s| {
            &s.spec.workspace_ref.name == workspace_name
                && s.meta().namespace.as_deref() == Some(namespace.as_str())
                && s.spec.name.as_deref().or(s.meta().name.as_deref()) == Some(name.as_str())
                && s.meta().deletion_timestamp.is_none()
                && s.uid() != source.uid()
        })
        .map(|s| claim(&s))
        .collect();
    naming::winner(&claim(source), &rivals).map(|winner| Observation::Invalid {
        reason: Reason::DuplicateSourceName,
        message: format!(
            "source name {name:?} is already used in workspace {workspace_name} by EmbeddedSource {namespace}/{}; set a distinct spec.name",
            winner.name
        ),
    })
}

fn claim(source: &EmbeddedSource) -> Claim {
    Claim {
        namespace: source.namespace().unwrap_or_default(),
        name: source.name_any(),
        uid: source.uid().unwrap_or_default(),
        bound: source
            .status
            .as_ref()
            .and_then(|s| s.source_id.as_ref())
            .is_some(),
        created: source
            .meta()
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_default(),
    }
}
