//! A TLS front for the test Postgres.
//!
//! The embedded Postgres wheel is built without OpenSSL, so a TLS-only server
//! is emulated: this front speaks Postgres's own TLS negotiation (the client
//! sends an `SSLRequest`, the server answers `S` and the TLS handshake
//! follows), presents a certificate for `127.0.0.1` signed by a throwaway CA,
//! and forwards the decrypted stream to the plaintext server. A client that
//! starts without TLS is refused, as a `hostnossl ... reject` rule would.
//! What is under test is our client side: sqlx's TLS and certificate check.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Postgres protocol code of an `SSLRequest`.
const SSL_REQUEST: u32 = 80_877_103;
/// Postgres protocol code of a `GSSENCRequest` (answered `N`: not offered).
const GSSENC_REQUEST: u32 = 80_877_104;

/// A running TLS front; stops when dropped.
pub struct PostgresTls {
    addr: SocketAddr,
    ca_cert: PathBuf,
    refused_plaintext: Arc<AtomicU64>,
    accept_loop: tokio::task::JoinHandle<()>,
}

impl Drop for PostgresTls {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

impl PostgresTls {
    /// Listens on a free loopback port in front of the plaintext server on
    /// `upstream_port`, writing the CA certificate into `dir`.
    pub async fn start(dir: &Path, upstream_port: u16) -> anyhow::Result<Self> {
        let (config, ca_pem) = server_config()?;
        let ca_cert = dir.join("postgres-ca.crt");
        std::fs::write(&ca_cert, ca_pem)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let refused_plaintext = Arc::new(AtomicU64::new(0));
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let refused = refused_plaintext.clone();
        let accept_loop = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (acceptor, refused) = (acceptor.clone(), refused.clone());
                // A failed handshake or a closed connection ends that connection only.
                tokio::spawn(async move {
                    let _ = serve(client, acceptor, upstream_port, &refused).await;
                });
            }
        });
        Ok(Self {
            addr,
            ca_cert,
            refused_plaintext,
            accept_loop,
        })
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The CA certificate (PEM) that signed the front's certificate.
    pub fn ca_cert(&self) -> &Path {
        &self.ca_cert
    }

    /// Connections refused because they started without TLS.
    pub fn refused_plaintext(&self) -> u64 {
        self.refused_plaintext.load(Ordering::Relaxed)
    }
}

async fn serve(
    mut client: TcpStream,
    acceptor: TlsAcceptor,
    upstream_port: u16,
    refused: &AtomicU64,
) -> anyhow::Result<()> {
    loop {
        let mut header = [0_u8; 8];
        client.read_exact(&mut header).await?;
        let code = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
        match code {
            GSSENC_REQUEST => client.write_all(b"N").await?,
            SSL_REQUEST => {
                client.write_all(b"S").await?;
                let mut tls = acceptor.accept(client).await?;
                let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port)).await?;
                tokio::io::copy_bidirectional(&mut tls, &mut upstream).await?;
                return Ok(());
            }
            _ => {
                refused.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
        }
    }
}

/// A server configuration with a fresh CA and a certificate for `127.0.0.1`
/// and `localhost`, and the CA as PEM.
fn server_config() -> anyhow::Result<(ServerConfig, String)> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "crmerp test CA");
    let ca = ca_params.self_signed(&ca_key)?;
    let key = KeyPair::generate()?;
    let params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    let cert = params.signed_by(&key, &Issuer::new(ca_params, ca_key))?;
    let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone(), ca.der().clone()];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok((config, ca.pem()))
}
