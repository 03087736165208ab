//! The live table of applied objects: Ready state and reason, redrawn in place on a terminal and
//! printed as plain lines (one per change) otherwise, until every object is Ready or one is
//! Stalled.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use kube::api::{Api, DynamicObject};
use kube::discovery::{Scope, pinned_kind};
use kube::{Client, ResourceExt};

use super::apply::Manifest;
use embedded_crds::GROUP;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub object: String,
    pub ready: String,
    pub reason: String,
    pub message: String,
    pub stalled: bool,
}

/// Reads the current Ready/Stalled state of an operator-managed object.
async fn row(client: &Client, manifest: &Manifest) -> Row {
    let mut row = Row {
        object: manifest.label(),
        ready: "-".into(),
        reason: String::new(),
        message: String::new(),
        stalled: false,
    };
    if manifest.gvk.group != GROUP {
        row.ready = "applied".into();
        return row;
    }
    let Ok((resource, capabilities)) = pinned_kind(client, &manifest.gvk).await else {
        return row;
    };
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
    let Ok(Some(object)) = api.get_opt(&manifest.object.name_any()).await else {
        row.ready = "missing".into();
        return row;
    };
    let conditions = object.data["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for condition in conditions {
        let field = |key: &str| condition[key].as_str().unwrap_or_default().to_string();
        match field("type").as_str() {
            "Ready" => {
                row.ready = field("status");
                row.reason = field("reason");
                row.message = field("message");
            }
            "Stalled" if field("status") == "True" => row.stalled = true,
            _ => {}
        }
    }
    row
}

/// Whether the table is finished: every object is Ready or Stalled (nothing is in progress).
pub fn settled(rows: &[Row]) -> bool {
    rows.iter()
        .all(|r| r.stalled || r.ready == "True" || r.ready == "applied")
}

fn render(rows: &[Row]) -> Vec<String> {
    let width = rows
        .iter()
        .map(|r| r.object.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let mut lines = vec![format!(
        "{:<width$}  {:<7}  {}",
        "OBJECT", "READY", "REASON"
    )];
    for r in rows {
        let mut line = format!("{:<width$}  {:<7}  {}", r.object, r.ready, r.reason);
        if r.stalled {
            line.push_str(&format!(" (Stalled: {})", r.message));
        }
        lines.push(line);
    }
    lines
}

/// Shows the table until it settles; returns the final rows.
pub async fn watch(client: &Client, manifests: &[Manifest], timeout: Duration) -> Vec<Row> {
    let terminal = std::io::stdout().is_terminal();
    let mut previous: BTreeMap<String, Row> = BTreeMap::new();
    let mut drawn = 0usize;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut rows = Vec::with_capacity(manifests.len());
        for manifest in manifests {
            rows.push(row(client, manifest).await);
        }
        let mut out = std::io::stdout().lock();
        if terminal {
            if drawn > 0 {
                let _ = write!(out, "\x1b[{drawn}A");
            }
            let lines = render(&rows);
            for line in &lines {
                let _ = writeln!(out, "\x1b[2K{line}");
            }
            drawn = lines.len();
        } else {
            for r in &rows {
                if previous.get(&r.object) != Some(r) {
                    let stalled = if r.stalled {
                        format!(" Stalled: {}", r.message)
                    } else {
                        String::new()
                    };
                    let _ = writeln!(
                        out,
                        "{}  ready={} reason={}{stalled}",
                        r.object, r.ready, r.reason
                    );
                }
            }
        }
        let _ = out.flush();
        previous = rows.iter().map(|r| (r.object.clone(), r.clone())).collect();
        if settled(&rows) || tokio::time::Instant::now() >= deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ready: &str, stalled: bool) -> Row {
        Row {
            object: "o".into(),
            ready: ready.into(),
            reason: String::new(),
            message: String::new(),
            stalled,
        }
    }

    #[test]
    fn settles_when_nothing_is_in_progress() {
        assert!(settled(&[row("True", false), row("applied", false)]));
        assert!(settled(&[row("True", false), row("False", true)]));
        assert!(!settled(&[row("True", false), row("False", false)]));
        assert!(!settled(&[row("False", true), row("-", false)]));
    }
}
