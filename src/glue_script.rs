//! The Glue job's script, built into the binary so that sfglue deploys exactly the script it was
//! built with, wherever it runs.

/// The object's file name under the script prefix.
pub const FILE_NAME: &str = "sfglue_extract.py";

/// The script's source (`glue_scripts/sfglue_extract.py`).
pub const SOURCE: &str = include_str!("../glue_scripts/sfglue_extract.py");

/// The job's pinned runtime modules (`glue_scripts/requirements.txt`), one `name==version` a line.
const REQUIREMENTS: &str = include_str!("../glue_scripts/requirements.txt");

/// What a job with a `format: parquet` query installs as well (`glue_scripts/requirements-parquet.txt`).
const REQUIREMENTS_PARQUET: &str = include_str!("../glue_scripts/requirements-parquet.txt");

/// The value of `--additional-python-modules`: the pinned requirements, comma-separated. The
/// Glue runtime has neither PyJWT nor cryptography, so the job installs them at start; with
/// `parquet` (some query writes Parquet) pyarrow too. Without it the value is exactly the base
/// pins, so a job without Parquet keeps the arguments it always had.
pub fn additional_python_modules(parquet: bool) -> String {
    let extra = if parquet { REQUIREMENTS_PARQUET } else { "" };
    REQUIREMENTS
        .lines()
        .chain(extra.lines())
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn modules_are_pinned() {
        let m = super::additional_python_modules(false);
        assert!(m.to_ascii_lowercase().contains("pyjwt=="), "{m}");
        assert!(m.contains("cryptography=="), "{m}");
        assert!(!m.contains("pyarrow"), "{m}");
        assert!(m.split(',').all(|p| p.contains("==")), "{m}");
        let p = super::additional_python_modules(true);
        assert_eq!(p, format!("{m},pyarrow==21.0.0"));
    }
}
