//! The emulator's certificates: a local certificate authority and a server certificate for
//! `localhost`, `127.0.0.1` and `*.freshdesk.com`, generated with rcgen. With a directory they are
//! written there and reused on the next start, so a client that trusts the CA once keeps trusting it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// PEM material for one emulator.
#[derive(Clone)]
pub struct CertSet {
    pub ca_pem: String,
    pub server_pem: String,
    pub server_key_pem: String,
    /// Where `ca.pem` was written, when a directory was given.
    pub ca_path: Option<PathBuf>,
}

const CA_FILE: &str = "ca.pem";
const CA_KEY_FILE: &str = "ca-key.pem";
const SERVER_FILE: &str = "server.pem";
const SERVER_KEY_FILE: &str = "server-key.pem";
/// Written beside the certificates with [`CHAIN_VERSION`]; certificates from an older chain
/// (version 1 lacked the Authority Key Identifier) are replaced at the next start.
const VERSION_FILE: &str = "chain-version";
const CHAIN_VERSION: &str = "2";

pub fn generate() -> anyhow::Result<(CertSet, KeyPair)> {
    let ca_key = KeyPair::generate().context("generating the CA key")?;
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // A unique name per authority: trust stores that collect several emulator CAs (certifi files
    // appended to by test scripts) pick an issuer by name, and a shared name would make them
    // check the signature against the wrong key.
    let id = uuid::Uuid::new_v4().simple().to_string();
    ca_params.distinguished_name.push(
        DnType::CommonName,
        format!("deskbridge Freshdesk emulator CA {}", &id[..12]),
    );
    ca_params
        .distinguished_name
        .push(DnType::OrganizationName, "deskbridge");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .context("self-signing the CA")?;

    let server_key = KeyPair::generate().context("generating the server key")?;
    let mut params =
        CertificateParams::new(vec!["localhost".to_string(), "*.freshdesk.com".to_string()])
            .context("server certificate names")?;
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::V4(
            std::net::Ipv4Addr::LOCALHOST,
        )));
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::IpAddr::V6(
            std::net::Ipv6Addr::LOCALHOST,
        )));
    params
        .distinguished_name
        .push(DnType::CommonName, "freshdesk emulator");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    // Strict verifiers (Python 3.13's default VERIFY_X509_STRICT, `openssl verify -x509_strict`)
    // refuse a certificate issued by a CA unless it names the CA's key (RFC 5280 4.2.1.1).
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let issuer = Issuer::new(ca_params, &ca_key);
    let server_cert = params
        .signed_by(&server_key, &issuer)
        .context("signing the server certificate")?;
    let set = CertSet {
        ca_pem: ca_cert.pem(),
        server_pem: server_cert.pem(),
        server_key_pem: server_key.serialize_pem(),
        ca_path: None,
    };
    Ok((set, ca_key))
}

/// Loads the certificates from `dir`, or generates and writes them there when any is missing or
/// they come from an older chain version.
pub fn load_or_create(dir: &Path) -> anyhow::Result<CertSet> {
    let read = |name: &str| std::fs::read_to_string(dir.join(name));
    let current = read(VERSION_FILE).is_ok_and(|v| v.trim() == CHAIN_VERSION);
    if let (true, Ok(ca_pem), Ok(server_pem), Ok(server_key_pem)) = (
        current,
        read(CA_FILE),
        read(SERVER_FILE),
        read(SERVER_KEY_FILE),
    ) {
        return Ok(CertSet {
            ca_pem,
            server_pem,
            server_key_pem,
            ca_path: Some(dir.join(CA_FILE)),
        });
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the certificate directory {}", dir.display()))?;
    let (set, ca_key) = generate()?;
    let write = |name: &str, body: &str, secret: bool| -> anyhow::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
        #[cfg(unix)]
        if secret {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        let _ = secret;
        Ok(())
    };
    write(CA_KEY_FILE, &ca_key.serialize_pem(), true)?;
    write(SERVER_KEY_FILE, &set.server_key_pem, true)?;
    write(SERVER_FILE, &set.server_pem, false)?;
    write(CA_FILE, &set.ca_pem, false)?;
    write(VERSION_FILE, CHAIN_VERSION, false)?;
    Ok(CertSet {
        ca_path: Some(dir.join(CA_FILE)),
        ..set
    })
}

pub fn acceptor(set: &CertSet) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let mut certs = Vec::new();
    for pem in [&set.server_pem, &set.ca_pem] {
        for c in rustls_pemfile::certs(&mut pem.as_bytes()) {
            certs.push(c.context("reading a certificate")?);
        }
    }
    let key = rustls_pemfile::private_key(&mut set.server_key_pem.as_bytes())
        .context("reading the server key")?
        .context("no private key in the server key file")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("TLS server certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
