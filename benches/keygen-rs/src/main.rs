//! usage: sfglue-keygen-bench BITS KEY_FILE CERT_FILE
//! Writes a new RSA key (PKCS#8 PEM) and its self-signed certificate (365 days). Prints nothing.
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, bits, key_file, cert_file] = args.as_slice() else {
        eprintln!("usage: sfglue-keygen-bench BITS KEY_FILE CERT_FILE");
        return ExitCode::from(2);
    };
    let Ok(bits) = bits.parse::<u32>() else {
        eprintln!("BITS must be a number");
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
    let written = std::fs::write(key_file, key.private_key_pem.expose())
        .and_then(|()| std::fs::write(cert_file, &key.certificate_pem));
    if let Err(e) = written {
        eprintln!("cannot write: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
