//! The control plane's PKI, made fresh at every start: one CA, the apiserver's serving certificate
//! (SANs 127.0.0.1, localhost and the `kubernetes` Service's cluster IP, which pods on the node
//! dial), client certificates for the test admin (`system:masters`), the controller manager, the
//! scheduler, the kubelet and the apiserver's own calls to the kubelet, and the service-account
//! signing key. (The kubelet signs its own serving certificate, for the address its node gets.)

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// PEM files written into the control plane's folder.
#[derive(Clone, Debug)]
pub struct PkiFiles {
    pub ca_cert: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
    pub controller_manager_cert: PathBuf,
    pub controller_manager_key: PathBuf,
    pub scheduler_cert: PathBuf,
    pub scheduler_key: PathBuf,
    /// The node's client identity (`system:node:<name>` in `system:nodes`).
    pub kubelet_cert: PathBuf,
    pub kubelet_key: PathBuf,
    /// The apiserver's identity towards the kubelet (logs, exec).
    pub apiserver_kubelet_client_cert: PathBuf,
    pub apiserver_kubelet_client_key: PathBuf,
    pub service_account_key: PathBuf,
    /// The public half, for `--service-account-key-file` (which wants public keys).
    pub service_account_public_key: PathBuf,
}

fn client_params(
    common_name: &str,
    organization: Option<&str>,
) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    if let Some(organization) = organization {
        name.push(DnType::OrganizationName, organization);
    }
    params.distinguished_name = name;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    Ok(params)
}

/// The `kubernetes` Service's cluster IP (first address of `--service-cluster-ip-range`).
pub const KUBERNETES_SERVICE_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 0, 0, 1);

/// Name of the node (`--with-node`).
pub const NODE_NAME: &str = "aeo-node";

type Pem = (String, String);

/// The CA: its certificate's PEM and the issuer that signs the rest.
fn authority() -> Result<(String, Issuer<'static, KeyPair>), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(
        DnType::CommonName,
        "airbyte-embedded-operator local control plane CA",
    );
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), Issuer::new(params, key)))
}

/// A serving certificate for `names` and `ips`, and its key.
fn serving(
    ca: &Issuer<'_, KeyPair>,
    common_name: &str,
    names: &[&str],
    ips: &[std::net::Ipv4Addr],
) -> Result<Pem, rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())?;
    for ip in ips {
        params
            .subject_alt_names
            .push(SanType::IpAddress((*ip).into()));
    }
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    Ok((params.signed_by(&key, ca)?.pem(), key.serialize_pem()))
}

/// A client certificate (`common_name` in `organization`), and its key.
fn client(
    ca: &Issuer<'_, KeyPair>,
    common_name: &str,
    organization: Option<&str>,
) -> Result<Pem, rcgen::Error> {
    let key = KeyPair::generate()?;
    let cert = client_params(common_name, organization)?.signed_by(&key, ca)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Generates the PKI into `dir`.
pub fn generate(dir: &Path) -> Result<PkiFiles, Box<dyn std::error::Error + Send + Sync>> {
    std::fs::create_dir_all(dir)?;
    let write = |name: &str, text: &str| -> std::io::Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        Ok(path)
    };
    let (ca_cert, ca) = authority()?;
    let localhost = std::net::Ipv4Addr::LOCALHOST;
    let apiserver = serving(
        &ca,
        "kube-apiserver",
        &["localhost", "kubernetes", "kubernetes.default.svc"],
        &[localhost, KUBERNETES_SERVICE_IP],
    )?;
    let admin = client(&ca, "admin", Some("system:masters"))?;
    let kcm = client(&ca, "system:kube-controller-manager", None)?;
    let scheduler = client(&ca, "system:kube-scheduler", None)?;
    let kubelet = client(
        &ca,
        &format!("system:node:{NODE_NAME}"),
        Some("system:nodes"),
    )?;
    let apiserver_kubelet = client(&ca, "kube-apiserver-kubelet-client", Some("system:masters"))?;
    let service_account_key = KeyPair::generate()?;

    Ok(PkiFiles {
        ca_cert: write("ca.crt", &ca_cert)?,
        serving_cert: write("apiserver.crt", &apiserver.0)?,
        serving_key: write("apiserver.key", &apiserver.1)?,
        admin_cert: write("admin.crt", &admin.0)?,
        admin_key: write("admin.key", &admin.1)?,
        controller_manager_cert: write("kube-controller-manager.crt", &kcm.0)?,
        controller_manager_key: write("kube-controller-manager.key", &kcm.1)?,
        scheduler_cert: write("kube-scheduler.crt", &scheduler.0)?,
        scheduler_key: write("kube-scheduler.key", &scheduler.1)?,
        kubelet_cert: write("kubelet.crt", &kubelet.0)?,
        kubelet_key: write("kubelet.key", &kubelet.1)?,
        apiserver_kubelet_client_cert: write("apiserver-kubelet-client.crt", &apiserver_kubelet.0)?,
        apiserver_kubelet_client_key: write("apiserver-kubelet-client.key", &apiserver_kubelet.1)?,
        service_account_key: write("service-account.key", &service_account_key.serialize_pem())?,
        service_account_public_key: write(
            "service-account.pub",
            &service_account_key.public_key_pem(),
        )?,
    })
}
