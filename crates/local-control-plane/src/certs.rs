//! The control plane's PKI, made fresh at every start: one CA, the apiserver's serving certificate
//! (SANs 127.0.0.1, localhost and the `kubernetes` Service's cluster IP, which pods on the node
//! dial), client certificates for the test admin (`system:masters`), the controller manager, the
//! scheduler, the kubelet and the apiserver's own calls to the kubelet, the kubelet's serving
//! certificate, and the service-account signing key.

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
    pub kubelet_serving_cert: PathBuf,
    pub kubelet_serving_key: PathBuf,
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

/// The node's address: the gateway of its pod network (the kubelet refuses a loopback one).
pub const NODE_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 88, 0, 1);

/// Name of the node (`--with-node`).
pub const NODE_NAME: &str = "aeo-node";

/// Generates the PKI into `dir`.
pub fn generate(dir: &Path) -> Result<PkiFiles, Box<dyn std::error::Error + Send + Sync>> {
    std::fs::create_dir_all(dir)?;
    let write = |name: &str, text: &str| -> std::io::Result<PathBuf> {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        Ok(path)
    };

    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.distinguished_name.push(
        DnType::CommonName,
        "airbyte-embedded-operator local control plane CA",
    );
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let ca = Issuer::new(ca_params, ca_key);

    let serving_key = KeyPair::generate()?;
    let mut serving = CertificateParams::new(vec![
        "localhost".to_string(),
        "kubernetes".to_string(),
        "kubernetes.default.svc".to_string(),
    ])?;
    for ip in [std::net::Ipv4Addr::LOCALHOST, KUBERNETES_SERVICE_IP] {
        serving
            .subject_alt_names
            .push(SanType::IpAddress(ip.into()));
    }
    serving
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let serving_cert = serving.signed_by(&serving_key, &ca)?;

    let admin_key = KeyPair::generate()?;
    let admin_cert = client_params("admin", Some("system:masters"))?.signed_by(&admin_key, &ca)?;
    let kcm_key = KeyPair::generate()?;
    let kcm_cert =
        client_params("system:kube-controller-manager", None)?.signed_by(&kcm_key, &ca)?;
    let service_account_key = KeyPair::generate()?;
    let client = |cn: &str, org: Option<&str>| -> Result<(String, String), rcgen::Error> {
        let key = KeyPair::generate()?;
        let cert = client_params(cn, org)?.signed_by(&key, &ca)?;
        Ok((cert.pem(), key.serialize_pem()))
    };
    let scheduler = client("system:kube-scheduler", None)?;
    let kubelet = client(&format!("system:node:{NODE_NAME}"), Some("system:nodes"))?;
    let apiserver_kubelet = client("kube-apiserver-kubelet-client", Some("system:masters"))?;
    let kubelet_serving_key = KeyPair::generate()?;
    let mut kubelet_serving = CertificateParams::new(vec![NODE_NAME.to_string()])?;
    for ip in [std::net::Ipv4Addr::LOCALHOST, NODE_IP] {
        kubelet_serving
            .subject_alt_names
            .push(SanType::IpAddress(ip.into()));
    }
    kubelet_serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let kubelet_serving_cert = kubelet_serving.signed_by(&kubelet_serving_key, &ca)?;

    Ok(PkiFiles {
        ca_cert: write("ca.crt", &ca_cert.pem())?,
        serving_cert: write("apiserver.crt", &serving_cert.pem())?,
        serving_key: write("apiserver.key", &serving_key.serialize_pem())?,
        admin_cert: write("admin.crt", &admin_cert.pem())?,
        admin_key: write("admin.key", &admin_key.serialize_pem())?,
        controller_manager_cert: write("kube-controller-manager.crt", &kcm_cert.pem())?,
        controller_manager_key: write("kube-controller-manager.key", &kcm_key.serialize_pem())?,
        scheduler_cert: write("kube-scheduler.crt", &scheduler.0)?,
        scheduler_key: write("kube-scheduler.key", &scheduler.1)?,
        kubelet_cert: write("kubelet.crt", &kubelet.0)?,
        kubelet_key: write("kubelet.key", &kubelet.1)?,
        kubelet_serving_cert: write("kubelet-serving.crt", &kubelet_serving_cert.pem())?,
        kubelet_serving_key: write("kubelet-serving.key", &kubelet_serving_key.serialize_pem())?,
        apiserver_kubelet_client_cert: write("apiserver-kubelet-client.crt", &apiserver_kubelet.0)?,
        apiserver_kubelet_client_key: write("apiserver-kubelet-client.key", &apiserver_kubelet.1)?,
        service_account_key: write("service-account.key", &service_account_key.serialize_pem())?,
        service_account_public_key: write(
            "service-account.pub",
            &service_account_key.public_key_pem(),
        )?,
    })
}
