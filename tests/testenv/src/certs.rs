//! A certificate authority made fresh for each environment, and the leaf
//! certificates the API servers, the kubelet stand-ins and the test users need.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};

/// A PEM certificate and its key, written to `dir` as `NAME.crt` / `NAME.key`.
#[derive(Debug, Clone)]
pub struct Pair {
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub cert: PathBuf,
    dir: PathBuf,
}

impl Ca {
    /// Makes a new CA named `name` and writes its certificate to `dir/NAME.crt`.
    pub fn create(dir: &Path, name: &str) -> Result<Ca> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let cert = params.self_signed(&key)?;
        let path = dir.join(format!("{name}.crt"));
        std::fs::write(&path, cert.pem()).with_context(|| format!("writing {}", path.display()))?;
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem())?;
        Ok(Ca { issuer: Issuer::new(params, key), cert: path, dir: dir.to_path_buf() })
    }

    /// Where certificates issued from now on are written.
    pub fn set_dir(&mut self, dir: &Path) {
        self.dir = dir.to_path_buf();
    }

    /// The CA written by [`Ca::create`] to `dir`.
    pub fn load(dir: &Path, name: &str) -> Result<Ca> {
        let cert = dir.join(format!("{name}.crt"));
        let pem = std::fs::read_to_string(&cert).with_context(|| format!("reading {}", cert.display()))?;
        let key = KeyPair::from_pem(&std::fs::read_to_string(dir.join(format!("{name}.key")))?)?;
        Ok(Ca { issuer: Issuer::from_ca_cert_pem(&pem, key)?, cert, dir: dir.to_path_buf() })
    }

    /// A client certificate for `user` that expired in 2021.
    pub fn expired_client(&self, name: &str, user: &str) -> Result<Pair> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, user);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        self.issue(name, params)
    }

    /// A serving certificate for 127.0.0.1 and localhost.
    pub fn server(&self, name: &str) -> Result<Pair> {
        let mut params = CertificateParams::new(vec!["localhost".to_string()])?;
        params.subject_alt_names.push(SanType::IpAddress("127.0.0.1".parse().expect("ip")));
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(name, params)
    }

    /// A client certificate for user `user` in groups `groups`.
    pub fn client(&self, name: &str, user: &str, groups: &[&str]) -> Result<Pair> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, user);
        for g in groups {
            params.distinguished_name.push(DnType::OrganizationName, *g);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(name, params)
    }

    fn issue(&self, name: &str, params: CertificateParams) -> Result<Pair> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let pair = Pair { cert: self.dir.join(format!("{name}.crt")), key: self.dir.join(format!("{name}.key")) };
        std::fs::write(&pair.cert, cert.pem())?;
        std::fs::write(&pair.key, key.serialize_pem())?;
        Ok(pair)
    }
}

/// A bare key pair (for service-account token signing): `private` and `public` PEM files.
pub fn write_key_pair(private: &Path, public: &Path) -> Result<()> {
    let key = KeyPair::generate()?;
    std::fs::write(private, key.serialize_pem())?;
    std::fs::write(public, key.public_key_pem())?;
    Ok(())
}
