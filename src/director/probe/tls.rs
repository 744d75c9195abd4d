//! TLS for HTTPS checks. Real servers are addressed by IP, so a certificate could never match
//! the name dialled: like ldirectord (`verify_hostname => 0`) the check does not verify the
//! certificate, it checks that the service answers. `virtualhost` is sent as the server name
//! (SNI), so a server with several sites answers with the right one.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

/// Accepts any certificate; signatures are still checked against it (a broken handshake fails).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// One configuration shared by every HTTPS check, or why there is none.
pub fn client_config() -> Result<Arc<ClientConfig>, String> {
    // ring's provider lacks the post-quantum key exchange (hence the deprecation); a health
    // check carries no secret worth it, and ring builds without cmake, unlike aws-lc.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyCertificate(provider.clone()));
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| {
            Arc::new(
                b.dangerous()
                    .with_custom_certificate_verifier(verifier)
                    .with_no_client_auth(),
            )
        })
        .map_err(|e| format!("tls: {e}"))
}

/// A client connection for a check: the name from `host` (a `virtualhost`) when it is one, else
/// the server's address (no SNI is sent for an address).
pub fn connection(
    config: &Arc<ClientConfig>,
    host: &str,
    ip: IpAddr,
) -> Result<ClientConnection, String> {
    let name_part = if host.starts_with('[') {
        ""
    } else {
        host.split(':').next().unwrap_or("")
    };
    let name = match ServerName::try_from(name_part.to_string()) {
        Ok(ServerName::DnsName(d)) => ServerName::DnsName(d),
        _ => ServerName::IpAddress(ip.into()),
    };
    ClientConnection::new(config.clone(), name).map_err(|e| format!("tls: {e}"))
}
