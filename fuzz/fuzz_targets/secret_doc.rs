//! The secret-document parser: `SecretDocument::parse` on any SecretString. A document that
//! parses must survive a round trip (serialise, parse again, same document).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sfglue::secret::Sensitive;
use sfglue::secret_doc::SecretDocument;

fuzz_target!(|data: &[u8]| {
    // Secrets Manager's SecretString is a string; the SDK hands it over as UTF-8.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = SecretDocument::parse("fuzz-secret", &Sensitive::new(text)) else {
        return;
    };
    let again = SecretDocument::parse("fuzz-secret", &doc.to_secret_string())
        .expect("a document sfglue wrote must parse again");
    assert_eq!(doc, again, "round trip changed the document");
    let _ = doc.settings.differing_fields(&again.settings);
    let _ = doc.with_settings(again.settings.clone());
});
