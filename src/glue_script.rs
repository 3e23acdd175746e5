//! The Glue job's script, built into the binary so that sfglue deploys exactly the script it was
//! built with, wherever it runs.

/// The object's file name under the script prefix.
pub const FILE_NAME: &str = "sfglue_extract.py";

/// The script's source (`glue_scripts/sfglue_extract.py`).
pub const SOURCE: &str = include_str!("../glue_scripts/sfglue_extract.py");

/// The job's pinned runtime modules (`glue_scripts/requirements.txt`), one `name==version` a line.
const REQUIREMENTS: &str = include_str!("../glue_scripts/requirements.txt");

/// The value of `--additional-python-modules`: the pinned requirements, comma-separated. The
/// Glue runtime has neither PyJWT nor cryptography, so the job installs them at start.
pub fn additional_python_modules() -> String {
    REQUIREMENTS
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn modules_are_pinned() {
        let m = super::additional_python_modules();
        assert!(m.to_ascii_lowercase().contains("pyjwt=="), "{m}");
        assert!(m.contains("cryptography=="), "{m}");
        assert!(m.split(',').all(|p| p.contains("==")), "{m}");
    }
}
