//! `wss://`: a campaign through TLS against the reference server behind a certificate of its own, trusted by CA file or by `--insecure`, and a clear error when it is not trusted.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use wsfuzz::campaign::{self, Report};
use wsfuzz::case::Layer;
use wsfuzz::target::Target;

/// The reference server behind a TLS endpoint with a self-signed certificate for 127.0.0.1;
/// returns its address and the certificate (PEM).
async fn reference_over_tls() -> (SocketAddr, String) {
    let server = wsfuzz::server::start(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let backend = server.local_addr();
    // The server runs as long as the test.
    std::mem::forget(server);
    over_tls(backend).await
}

/// A TLS endpoint in front of the plain server at `backend`.
async fn over_tls(backend: SocketAddr) -> (SocketAddr, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let pem = certified.cert.pem();
    let key = PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = client.set_nodelay(true);
                let Ok(mut client) = acceptor.accept(client).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = plain.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut plain).await;
            });
        }
    });
    (addr, pem)
}

fn pem_file(pem: &str) -> PathBuf {
    // A file of its own for each call: the tests run side by side, each with its certificate.
    static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let number = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("wsfuzz-tls-{}-{number}.pem", std::process::id()));
    std::fs::write(&path, pem).unwrap();
    path
}

async fn campaign(target: &Target) -> Result<Report, String> {
    let mut settings = support::settings(3, 120);
    // TLS and the proxy's extra hop, in a debug build: a burst of pings takes more than 300 ms.
    settings.timing.timeout = std::time::Duration::from_secs(2);
    settings.layers = vec![
        Layer::Messages,
        Layer::Frames,
        Layer::Handshake,
        Layer::Clients,
    ];
    let mut quiet = |_: &campaign::Event| {};
    campaign::run(target, &settings, &mut quiet)
        .await
        .map_err(|campaign::Unreachable(e)| e)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wss_campaign_trusting_the_server_s_certificate_finds_nothing() {
    let (addr, pem) = reference_over_tls().await;
    let mut target = Target::resolve(&format!("wss://{addr}"), Some(&support::spec())).unwrap();
    target.tls = Some(wsfuzz::tls::config(Some(&pem_file(&pem)), false).unwrap());
    let report = campaign(&target).await.unwrap();
    support::assert_no_findings(&report);
    for layer in [
        Layer::Messages,
        Layer::Frames,
        Layer::Handshake,
        Layer::Clients,
    ] {
        assert!(
            report.stats.layers.contains_key(&layer),
            "{layer:?} ran over TLS"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_a_clear_error_unless_told_to_accept_it() {
    let (addr, _) = reference_over_tls().await;
    let url = format!("wss://{addr}");
    let target = Target::resolve(&url, Some(&support::spec())).unwrap();
    let error = campaign(&target).await.unwrap_err();
    assert!(error.contains("certificate"), "{error}");
    assert!(!error.contains('\n'), "{error}");

    // The command line: refused without a flag, served with --insecure.
    let wsfuzz = |extra: &[&str]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_wsfuzz"));
        command
            .args([
                "fuzz",
                &url,
                "--layers",
                "messages",
                "--cases",
                "20",
                "--no-regressions",
            ])
            .args([
                "--spec",
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/specs/prompt-manager.asyncapi.yaml"
                ),
            ])
            .args(extra);
        command
    };
    let (mut refused, mut served) = (wsfuzz(&[]), wsfuzz(&["--insecure"]));
    let (refused, served) =
        tokio::task::spawn_blocking(move || (refused.output().unwrap(), served.output().unwrap()))
            .await
            .unwrap();
    assert_eq!(refused.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("certificate") && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert_eq!(
        served.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&served.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finding_over_tls_has_a_script_that_replays_it_over_tls() {
    let flawed = support::start(support::Flaw::Close1011OnWrongType).await;
    let (addr, pem) = over_tls(flawed).await;
    let mut target = Target::resolve(&format!("wss://{addr}"), Some(&support::spec())).unwrap();
    target.tls = Some(wsfuzz::tls::config(None, true).unwrap());
    let mut settings = support::settings(3, 100);
    settings.timing.timeout = std::time::Duration::from_secs(2);
    let dir = std::env::temp_dir().join(format!("wsfuzz-tls-saved-{}", std::process::id()));
    let mut saver =
        wsfuzz::regressions::Saver::new(&dir, &target.base, None, &target, settings.timing);
    let report = support::run_with(&target, &settings, &mut saver).await;
    assert_eq!(
        support::checks_of(&report),
        ["no_internal_error"],
        "{}",
        wsfuzz::report::text(&report)
    );
    let script = report.findings[0].standalone.clone().unwrap();
    let ca = pem_file(&pem);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .env("WSFUZZ_CA_FILE", ca)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let shown = String::from_utf8_lossy(&output.stdout);
    assert!(
        shown.contains("<- close 1011"),
        "{shown}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
