//! Kubeconfig files for the local control plane, and clients built from them: the admin (client
//! certificate in `system:masters`) and any ServiceAccount (a TokenRequest token, and nothing else
//! in the file: a kubeconfig holding a certificate too would authenticate as the certificate).

use std::path::Path;

use base64::Engine;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::PostParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde_json::json;

use super::ControlPlaneError;
use super::certs::PkiFiles;

pub enum Credentials<'a> {
    Certificate { cert: &'a Path, key: &'a Path },
    Token(&'a str),
}

fn b64(path: &Path) -> std::io::Result<String> {
    Ok(base64::engine::general_purpose::STANDARD.encode(std::fs::read(path)?))
}

/// Writes a single-context kubeconfig for `server`, trusting `ca`.
pub fn write(
    path: &Path,
    server: &str,
    ca: &Path,
    credentials: Credentials<'_>,
) -> std::io::Result<()> {
    let user = match credentials {
        Credentials::Certificate { cert, key } => json!({
            "client-certificate-data": b64(cert)?,
            "client-key-data": b64(key)?,
        }),
        Credentials::Token(token) => json!({ "token": token }),
    };
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority-data": b64(ca)?}}],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "user"}}],
        "current-context": "local",
    });
    let text = serde_yaml::to_string(&config).map_err(std::io::Error::other)?;
    write_private(path, &text)
}

/// Writes a file readable by its owner only (it holds credentials).
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())
}

pub fn write_admin(path: &Path, server: &str, pki: &PkiFiles) -> std::io::Result<()> {
    write(
        path,
        server,
        &pki.ca_cert,
        Credentials::Certificate {
            cert: &pki.admin_cert,
            key: &pki.admin_key,
        },
    )
}

/// A client from a kubeconfig file.
pub async fn client(path: &Path) -> Result<Client, ControlPlaneError> {
    let kubeconfig =
        Kubeconfig::read_from(path).map_err(|e| ControlPlaneError::Client(e.to_string()))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| ControlPlaneError::Client(e.to_string()))?;
    Client::try_from(config).map_err(|e| ControlPlaneError::Client(e.to_string()))
}

/// Mints a token for a ServiceAccount (TokenRequest, `expiration_seconds` long).
pub async fn service_account_token(
    admin: &Client,
    namespace: &str,
    name: &str,
    expiration_seconds: i64,
) -> Result<String, ControlPlaneError> {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            audiences: Some(Vec::new()),
            expiration_seconds: Some(expiration_seconds),
            ..Default::default()
        }),
        ..Default::default()
    };
    let answer: TokenRequest = accounts
        .create_subresource("token", name, &PostParams::default(), &request)
        .await
        .map_err(|e| {
            ControlPlaneError::Client(format!("TokenRequest for {namespace}/{name}: {e}"))
        })?;
    answer
        .status
        .and_then(|status| status.token)
        .ok_or_else(|| ControlPlaneError::Client("TokenRequest answered without a token".into()))
}

/// Writes a kubeconfig that authenticates as a ServiceAccount only.
pub async fn write_service_account(
    path: &Path,
    admin: &Client,
    server: &str,
    ca: &Path,
    namespace: &str,
    name: &str,
) -> Result<(), ControlPlaneError> {
    let token = service_account_token(admin, namespace, name, 3600).await?;
    write(path, server, ca, Credentials::Token(&token)).map_err(|source| ControlPlaneError::Io {
        path: path.display().to_string(),
        source,
    })
}
