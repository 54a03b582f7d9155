//! Loading and reloading certificates from real PEM files made here.

use std::path::Path;
use std::sync::Arc;

use super::TlsFiles;
use super::load::{self, TlsError};
use super::reload::Watched;
use super::resolver::ReloadableCert;

/// A self-signed certificate for `name` and its key, as PEM.
fn pair(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn files(dir: &Path) -> TlsFiles {
    TlsFiles {
        cert_file: dir.join("cert.pem"),
        key_file: dir.join("key.pem"),
        cert_option: "--tls-cert-file",
        key_option: "--tls-key-file",
    }
}

fn write(f: &TlsFiles, cert: &str, key: &str) {
    std::fs::write(&f.cert_file, cert).unwrap();
    std::fs::write(&f.key_file, key).unwrap();
}

fn leaf(c: &ReloadableCert) -> Vec<u8> {
    c.current().cert[0].as_ref().to_vec()
}

#[test]
fn a_good_pair_loads_and_bad_files_name_their_option() {
    let dir = tempfile::tempdir().unwrap();
    let f = files(dir.path());
    let (cert, key) = pair("a.test");
    write(&f, &cert, &key);
    let loaded = load::load(&f).unwrap();
    assert_eq!(loaded.key.cert.len(), 1);

    let (_, other_key) = pair("b.test");
    for (cert_text, key_text, option) in [
        ("not pem at all", key.as_str(), "--tls-cert-file"),
        ("", key.as_str(), "--tls-cert-file"),
        (
            cert.as_str(),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "--tls-key-file",
        ),
        (cert.as_str(), "", "--tls-key-file"),
        (cert.as_str(), other_key.as_str(), "--tls-key-file"),
        (key.as_str(), key.as_str(), "--tls-cert-file"),
    ] {
        write(&f, cert_text, key_text);
        let e = load::load(&f).unwrap_err();
        assert_eq!(e.option(), option, "{e}");
        assert!(e.to_string().starts_with(option), "{e}");
    }
    std::fs::remove_file(&f.cert_file).unwrap();
    assert!(matches!(
        load::load(&f),
        Err(TlsError::Read {
            option: "--tls-cert-file",
            ..
        })
    ));
    let big = vec![b'a'; load::MAX_PEM_FILE_BYTES as usize + 1];
    std::fs::write(&f.cert_file, big).unwrap();
    assert!(matches!(load::load(&f), Err(TlsError::TooLarge { .. })));
}

#[test]
fn the_watch_reloads_changed_files_and_keeps_the_old_certificate_on_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let f = files(dir.path());
    let (cert, key) = pair("a.test");
    write(&f, &cert, &key);
    let initial = load::load(&f).unwrap();
    let resolver = Arc::new(ReloadableCert::new(initial.key.clone()));
    let mut w = Watched::new("client", f.clone(), &initial, resolver.clone());
    let first = leaf(&resolver);

    // Unchanged files: nothing attempted; SIGHUP reloads anyway.
    assert!(w.check(false).is_none());
    assert!(matches!(w.check(true), Some(Ok(()))));
    assert_eq!(leaf(&resolver), first);

    // A new pair is taken.
    let (cert2, key2) = pair("b.test");
    write(&f, &cert2, &key2);
    assert!(matches!(w.check(false), Some(Ok(()))));
    let second = leaf(&resolver);
    assert_ne!(second, first);

    // A broken file: error once, old certificate kept, not counted again
    // until the bytes change or SIGHUP.
    std::fs::write(&f.cert_file, "garbage").unwrap();
    assert!(matches!(w.check(false), Some(Err(_))));
    assert!(w.check(false).is_none());
    assert!(matches!(w.check(true), Some(Err(_))));
    assert_eq!(leaf(&resolver), second);

    // A key of another certificate (a pair caught half-replaced).
    let (cert3, _) = pair("c.test");
    write(&f, &cert3, &key2);
    assert!(matches!(w.check(false), Some(Err(TlsError::BadKey { .. }))));
    assert_eq!(leaf(&resolver), second);

    // Missing files: error once.
    std::fs::remove_file(&f.key_file).unwrap();
    assert!(matches!(w.check(false), Some(Err(_))));
    assert!(w.check(false).is_none());
    assert_eq!(leaf(&resolver), second);
}
