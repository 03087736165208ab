//! `--apply`: reads YAML files and folders and applies every object by server-side apply, CRDs
//! first (waiting until they are served), then Namespaces, then everything else.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery::{Scope, pinned_kind};
use kube::{Client, ResourceExt};
use serde::Deserialize;

/// One object from the files, with where it came from.
#[derive(Clone, Debug)]
pub struct Manifest {
    pub object: DynamicObject,
    pub gvk: GroupVersionKind,
    pub source: PathBuf,
}

impl Manifest {
    pub fn label(&self) -> String {
        match self.object.namespace() {
            Some(ns) => format!("{}/{}/{}", self.gvk.kind, ns, self.object.name_any()),
            None => format!("{}/{}", self.gvk.kind, self.object.name_any()),
        }
    }
}

fn files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let entry = entry?.path();
        if entry.is_dir() {
            found.extend(files(&entry)?);
        } else if entry
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            found.push(entry);
        }
    }
    found.sort();
    Ok(found)
}

/// Parses every document of every file under `paths`.
pub fn read(paths: &[PathBuf]) -> Result<Vec<Manifest>, String> {
    let mut manifests = Vec::new();
    for path in paths {
        for file in files(path).map_err(|e| format!("{}: {e}", path.display()))? {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            manifests.extend(parse(&text, &file)?);
        }
    }
    let rank = |m: &Manifest| match m.gvk.kind.as_str() {
        "CustomResourceDefinition" => 0,
        "Namespace" => 1,
        "Secret" | "ConfigMap" | "ServiceAccount" => 2,
        _ => 3,
    };
    manifests.sort_by_key(rank);
    Ok(manifests)
}

/// Every object of a YAML text (documents separated by `---`), read from `source`.
pub fn parse(text: &str, source: &Path) -> Result<Vec<Manifest>, String> {
    let mut manifests = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(document)
            .map_err(|e| format!("{}: {e}", source.display()))?;
        if value.is_null() {
            continue;
        }
        let object: DynamicObject =
            serde_yaml::from_value(value).map_err(|e| format!("{}: {e}", source.display()))?;
        let types = object
            .types
            .clone()
            .ok_or_else(|| format!("{}: an object without apiVersion/kind", source.display()))?;
        let gvk =
            GroupVersionKind::try_from(&types).map_err(|e| format!("{}: {e}", source.display()))?;
        manifests.push(Manifest {
            object,
            gvk,
            source: source.to_path_buf(),
        });
    }
    Ok(manifests)
}

/// Applies the manifests in order. Discovery is retried briefly, so a CRD applied a moment ago
/// (or by the sandbox itself) is found.
pub async fn apply(client: &Client, manifests: &[Manifest]) -> Result<(), String> {
    let params = PatchParams::apply("airbyte-embedded-operator-sandbox").force();
    for manifest in manifests {
        let mut discovered = None;
        for _ in 0..30 {
            match pinned_kind(client, &manifest.gvk).await {
                Ok(found) => {
                    discovered = Some(found);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
        let (resource, capabilities) = discovered.ok_or_else(|| {
            format!(
                "{}: the cluster does not serve {:?}",
                manifest.source.display(),
                manifest.gvk
            )
        })?;
        let api: Api<DynamicObject> = match capabilities.scope {
            Scope::Namespaced => Api::namespaced_with(
                client.clone(),
                &manifest
                    .object
                    .namespace()
                    .unwrap_or_else(|| "default".into()),
                &resource,
            ),
            Scope::Cluster => Api::all_with(client.clone(), &resource),
        };
        api.patch(
            &manifest.object.name_any(),
            &params,
            &Patch::Apply(&manifest.object),
        )
        .await
        .map_err(|e| format!("{} ({}): {e}", manifest.label(), manifest.source.display()))?;
    }
    Ok(())
}
