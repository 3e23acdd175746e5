//! The sfglue side of `benches/keygen.sh`: makes an RSA key and its self-signed certificate with
//! sfglue's own `crypto::generate` (rcgen on aws-lc-rs, as `sfglue apply` does) and writes them to
//! two files, as `openssl req -x509 -newkey rsa:N -nodes -keyout K -out C -days 365` does.
//! An example of the main package so that it reuses the release build of the tool itself.
//!
//! usage: keygen_bench BITS KEY_FILE CERT_FILE      (prints nothing; the key file is mode 0600)
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, bits, key_file, cert_file] = args.as_slice() else {
        eprintln!("usage: keygen_bench BITS KEY_FILE CERT_FILE");
        return ExitCode::from(2);
    };
    let Ok(bits) = bits.parse::<u32>() else {
        eprintln!("BITS must be a number, such as 2048 or 4096");
        return ExitCode::from(2);
    };
    sfglue::crypto::install_provider();
    let key = match sfglue::crypto::generate("sfglue-bench", bits, 365) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(key_file)
        .and_then(|mut f| f.write_all(key.private_key_pem.expose().as_bytes()))
        .and_then(|()| std::fs::write(cert_file, &key.certificate_pem));
    if let Err(e) = written {
        eprintln!("cannot write the key or certificate: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
