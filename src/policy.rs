//! IAM documents for the job's role: the trust policy and the least-privilege inline policy.
//!
//! Pure. The inline policy names exactly the resources the job touches: this one secret (its full
//! ARN), the KMS key when one is configured, the script object, the output prefix, and Glue's log
//! groups. No `*` resource other than the log groups' names.

use crate::config::S3Location;
use serde_json::{Value, json};

/// Name of the inline policy sfglue puts on the role.
pub const INLINE_POLICY_NAME: &str = "sfglue-least-privilege";

/// What the job may do with its secret: read a version, and find the versions of a rotation.
pub const SECRET_ACTIONS: [&str; 3] = [
    "secretsmanager:GetSecretValue",
    "secretsmanager:ListSecretVersionIds",
    "secretsmanager:DescribeSecret",
];

pub fn trust_policy() -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "glue.amazonaws.com"},
            "Action": "sts:AssumeRole"
        }]
    })
}

pub struct RolePolicyInputs<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub secret_arn: &'a str,
    pub kms_key_id: Option<&'a str>,
    pub script: &'a S3Location,
    pub output: &'a S3Location,
}

pub fn role_policy(i: &RolePolicyInputs) -> Value {
    let p = i.partition;
    let mut statements = vec![json!({
        "Sid": "ReadSalesforceJwtSecret",
        "Effect": "Allow",
        // The listing and describing let the job find the AWSPENDING and AWSPREVIOUS versions
        // when a rotation is under way (the script's fallback), on this one secret only.
        "Action": SECRET_ACTIONS,
        "Resource": i.secret_arn
    })];
    if let Some(key) = i.kms_key_id {
        statements.push(json!({
            "Sid": "DecryptSecretWithCmk",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": kms_key_arn(p, i.region, i.account, key),
            "Condition": {"StringEquals": {"kms:ViaService": format!("secretsmanager.{}.amazonaws.com", i.region)}}
        }));
    }
    statements.push(json!({
        "Sid": "ReadJobScript",
        "Effect": "Allow",
        "Action": "s3:GetObject",
        "Resource": format!("arn:{p}:s3:::{}/{}", i.script.bucket, i.script.key)
    }));
    statements.push(json!({
        "Sid": "WriteOutput",
        "Effect": "Allow",
        "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
        "Resource": format!("arn:{p}:s3:::{}/{}*", i.output.bucket, i.output.key)
    }));
    statements.push(json!({
        "Sid": "ListOutput",
        "Effect": "Allow",
        "Action": "s3:ListBucket",
        "Resource": format!("arn:{p}:s3:::{}", i.output.bucket),
        "Condition": {"StringLike": {"s3:prefix": [format!("{}*", i.output.key)]}}
    }));
    statements.push(json!({
        "Sid": "GlueLogs",
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": format!("arn:{p}:logs:{}:{}:log-group:/aws-glue/*", i.region, i.account)
    }));
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// A KMS key id or ARN as an ARN.
pub fn kms_key_arn(partition: &str, region: &str, account: &str, key: &str) -> String {
    if key.starts_with("arn:") {
        key.to_string()
    } else {
        format!("arn:{partition}:kms:{region}:{account}:key/{key}")
    }
}

/// The partition of an ARN such as `arn:aws-cn:sts::…` (`aws` when it cannot be read).
pub fn partition_of(arn: &str) -> &str {
    arn.split(':')
        .nth(1)
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(doc: &Value) -> Vec<String> {
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Resource"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn only_named_resources_and_the_log_groups() {
        let script = S3Location {
            bucket: "b".into(),
            key: "scripts/x/sfglue_extract.py".into(),
        };
        let output = S3Location {
            bucket: "o".into(),
            key: "sf/".into(),
        };
        let arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:x/jwt-AbCdEf";
        let doc = role_policy(&RolePolicyInputs {
            partition: "aws",
            region: "eu-west-1",
            account: "111122223333",
            secret_arn: arn,
            kms_key_id: None,
            script: &script,
            output: &output,
        });
        let r = resources(&doc);
        assert_eq!(
            r,
            vec![
                arn.to_string(),
                "arn:aws:s3:::b/scripts/x/sfglue_extract.py".into(),
                "arn:aws:s3:::o/sf/*".into(),
                "arn:aws:s3:::o".into(),
                "arn:aws:logs:eu-west-1:111122223333:log-group:/aws-glue/*".into(),
            ]
        );
        for res in &r {
            assert!(!res.ends_with(":*") && res != "*", "{res}");
        }
        // The secret statement: the three read actions the script's rotation fallback needs,
        // on the one secret, and no write action.
        let secret_statement = &doc["Statement"][0];
        assert_eq!(
            secret_statement["Action"],
            serde_json::json!([
                "secretsmanager:GetSecretValue",
                "secretsmanager:ListSecretVersionIds",
                "secretsmanager:DescribeSecret"
            ])
        );
        assert_eq!(secret_statement["Resource"], arn);
        let with_kms = role_policy(&RolePolicyInputs {
            partition: "aws",
            region: "eu-west-1",
            account: "111122223333",
            secret_arn: arn,
            kms_key_id: Some("1234abcd-12ab"),
            script: &script,
            output: &output,
        });
        assert!(
            resources(&with_kms)
                .contains(&"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab".to_string())
        );
        assert!(!doc.to_string().contains("kms:"));
    }

    #[test]
    fn partition_is_read_from_the_caller_arn() {
        assert_eq!(partition_of("arn:aws-cn:sts::1:assumed-role/x"), "aws-cn");
        assert_eq!(partition_of("garbage"), "aws");
    }
}
