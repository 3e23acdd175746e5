//! The AWS SDK for Rust behind sfglue's AWS traits.
//!
//! Credentials, region and endpoint come from the standard AWS chain (profiles, environment,
//! `AWS_ENDPOINT_URL`), with the config's `aws.region` and `aws.endpoint_url` on top. Errors
//! become [`Failure`]s that name the operation, the resource and, for access denials, the IAM
//! action that was refused.

use super::*;
use crate::call_log::{Answer, CallLog};
use crate::config::AwsSettings;
use crate::error::Failure;
use aws_config::{BehaviorVersion, Region, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_glue::types::{
    Action as TriggerAction, ConnectionsList, ExecutionClass, TriggerType, TriggerUpdate,
    WorkerType,
};
use aws_sdk_glue::types::{ExecutionProperty, JobCommand, JobUpdate};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_sts::config::interceptors::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_sts::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sts::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};

type SdkError<E> = aws_sdk_sts::error::SdkError<E, aws_sdk_sts::config::http::HttpResponse>;
use std::time::Duration;

pub struct Aws {
    /// The caller, read once: ARNs of Glue jobs and triggers need the account and partition.
    identity: tokio::sync::OnceCell<CallerIdentity>,
    region: String,
    endpoint: Option<String>,
    sts: aws_sdk_sts::Client,
    secrets: aws_sdk_secretsmanager::Client,
    s3: aws_sdk_s3::Client,
    iam: aws_sdk_iam::Client,
    glue: aws_sdk_glue::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
}

impl Aws {
    /// Clients for every service sfglue uses; with `calls` on, each call writes a line (`-v`).
    pub async fn connect(settings: &AwsSettings, calls: CallLog) -> Result<Self> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::standard().with_max_attempts(4))
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        let sdk = loader.load().await;
        let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
            Failure::config("aws.no_region", "no AWS region is set").with_fix(
                "set `aws.region` in the config, or AWS_REGION in the environment, or a region in your AWS profile",
            )
        })?;
        let endpoint = sdk.endpoint_url().map(str::to_string);
        refuse_endpoint_credentials(endpoint.as_deref())?;
        // A custom endpoint (an S3-compatible store, a local emulator) rarely has wildcard DNS for
        // virtual-hosted buckets, so address buckets by path there. AWS's own endpoints keep the
        // default addressing.
        let path_style = endpoint.is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        // Each service's config takes the call log when it is on; the same interceptor serves
        // them all.
        macro_rules! client {
            ($krate:ident, $builder:expr) => {{
                let mut builder = $builder;
                if calls.enabled() {
                    builder = builder.interceptor(CallLogInterceptor(calls));
                }
                $krate::Client::from_conf(builder.build())
            }};
        }
        Ok(Aws {
            identity: tokio::sync::OnceCell::new(),
            region,
            endpoint,
            sts: client!(aws_sdk_sts, aws_sdk_sts::config::Builder::from(&sdk)),
            secrets: client!(
                aws_sdk_secretsmanager,
                aws_sdk_secretsmanager::config::Builder::from(&sdk)
            ),
            s3: client!(
                aws_sdk_s3,
                aws_sdk_s3::config::Builder::from(&sdk).force_path_style(path_style)
            ),
            iam: client!(aws_sdk_iam, aws_sdk_iam::config::Builder::from(&sdk)),
            glue: client!(aws_sdk_glue, aws_sdk_glue::config::Builder::from(&sdk)),
            logs: client!(
                aws_sdk_cloudwatchlogs,
                aws_sdk_cloudwatchlogs::config::Builder::from(&sdk)
            ),
        })
    }
}

/// An endpoint URL with a `user:password@` part would be printed (plan, apply and error messages
/// show the endpoint), so it is refused, as `aws.endpoint_url` is in the config. Checks the
/// resolved endpoint and every `AWS_ENDPOINT_URL*` variable; the message names the variable,
/// never its value.
fn refuse_endpoint_credentials(resolved: Option<&str>) -> Result<()> {
    let has_userinfo = |value: &str| {
        url::Url::parse(value.trim())
            .is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
    };
    let mut found: Vec<String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, v)| k.starts_with("AWS_ENDPOINT_URL") && has_userinfo(v))
        .map(|(k, _)| k)
        .collect();
    if found.is_empty() && resolved.is_some_and(has_userinfo) {
        found.push("the endpoint_url of the AWS profile".to_string());
    }
    if found.is_empty() {
        return Ok(());
    }
    found.sort();
    Err(Failure::config(
        "aws.endpoint_credentials",
        format!(
            "{} carries a user name or password, which sfglue would print with the endpoint",
            found.join(", ")
        ),
    )
    .with_fix("remove the `user:password@` part; AWS credentials come from the AWS chain (profile, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, SSO)"))
}

/// Writes one [`CallLog`] line per AWS call (after its retries): the service and operation, the
/// last HTTP status, the time. It reads the operation's name and the answer's status only, never
/// the input or the body, which may hold the secret.
#[derive(Debug)]
struct CallLogInterceptor(CallLog);

/// When the call began, kept in the call's own config bag.
#[derive(Debug, Clone)]
struct CallStarted(std::time::Instant);

impl Storable for CallStarted {
    type Storer = StoreReplace<Self>;
}

impl Intercept for CallLogInterceptor {
    fn name(&self) -> &'static str {
        "sfglue call log"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(CallStarted(std::time::Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map(|m| format!("{}.{}", m.service().replace(' ', ""), m.name()))
            .unwrap_or_else(|| "unknown operation".to_string());
        let answer = match context.response() {
            Some(response) => Answer::Status(response.status().as_u16()),
            None => Answer::None,
        };
        let elapsed = cfg
            .load::<CallStarted>()
            .map(|started| started.0.elapsed())
            .unwrap_or_default();
        self.0.record("aws", &operation, answer, elapsed);
        Ok(())
    }
}

/// Turns an SDK error into a Failure naming the call and the resource.
fn aws_failure<E>(operation: &str, resource: &str, err: &SdkError<E>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let code = e.code().unwrap_or("Unknown");
            let msg = e.message().unwrap_or("");
            let mut f = Failure::runtime(
                format!("aws.{code}"),
                format!("AWS {operation} on {resource} failed: {code}: {msg}"),
            );
            if code.contains("AccessDenied") || code == "UnauthorizedOperation" {
                f = f.with_fix(format!(
                    "the AWS identity in use is not allowed to call {}; grant that action on {resource} (the README lists the permissions sfglue needs)",
                    iam_action(operation)
                ));
            } else if code.contains("Throttl") {
                f = f.with_fix(
                    "AWS is throttling requests: wait a minute and run the command again",
                );
            }
            f
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
            let chain = error_chain(err);
            if chain.contains("credentials") || chain.contains("Credentials") {
                Failure::runtime(
                    "aws.credentials",
                    format!("AWS {operation} could not be sent: no usable AWS credentials ({chain})"),
                )
                .with_fix("configure AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or SSO)")
            } else {
                Failure::runtime(
                    "aws.unreachable",
                    format!("AWS {operation} on {resource} failed: the endpoint did not answer ({chain})"),
                )
                .with_fix("check the network, the region, and any endpoint override (AWS_ENDPOINT_URL or aws.endpoint_url)")
            }
        }
        SdkError::ConstructionFailure(_) => {
            let detail = std::error::Error::source(err)
                .map(|s| s.to_string())
                .unwrap_or_else(|| err.to_string());
            Failure::runtime(
                "aws.credentials",
                format!("AWS {operation} could not be sent: {detail}"),
            )
            .with_fix("configure AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or SSO)")
        }
        other => {
            let detail = std::error::Error::source(other)
                .map(|s| s.to_string())
                .unwrap_or_else(|| other.to_string());
            Failure::runtime(
                "aws.error",
                format!("AWS {operation} on {resource} failed: {detail}"),
            )
        }
    }
}

/// The error and its sources, joined: the SDK's top-level text alone ("dispatch failure") hides
/// the cause.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p == &text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// `secretsmanager:GetSecretValue` for the operation `SecretsManager.GetSecretValue`.
fn iam_action(operation: &str) -> String {
    let (service, op) = operation.split_once('.').unwrap_or(("", operation));
    let prefix = match service {
        "SecretsManager" => "secretsmanager",
        "S3" => "s3",
        "IAM" => "iam",
        "Glue" => "glue",
        "STS" => "sts",
        "Logs" => "logs",
        _ => service,
    };
    format!("{prefix}:{op}")
}

fn code_of<E: ProvideErrorMetadata>(err: &SdkError<E>) -> Option<&str> {
    err.as_service_error().and_then(|e| e.code())
}

fn decode_policy(text: &str) -> Value {
    let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    serde_json::from_str(&decoded).unwrap_or(Value::String(decoded.into_owned()))
}

impl Aws {
    async fn tag_glue(&self, kind: &str, name: &str, tags: &Tags) -> Result<()> {
        let arn = self.glue_arn(kind, name).await?;
        self.glue
            .tag_resource()
            .resource_arn(&arn)
            .set_tags_to_add(Some(tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| aws_failure("Glue.TagResource", &arn, &e))?;
        Ok(())
    }

    async fn glue_arn(&self, kind: &str, name: &str) -> Result<String> {
        let id = self.caller().await?;
        Ok(format!(
            "arn:{}:glue:{}:{}:{kind}/{name}",
            crate::policy::partition_of(&id.arn),
            id.region,
            id.account
        ))
    }
}

fn tag_map<'a>(pairs: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>) -> Tags {
    pairs
        .filter_map(|(k, v)| Some((k?.to_string(), v.unwrap_or("").to_string())))
        .collect()
}

impl Identity for Aws {
    async fn caller(&self) -> Result<CallerIdentity> {
        self.identity
            .get_or_try_init(|| self.read_caller())
            .await
            .cloned()
    }
}

impl Aws {
    async fn read_caller(&self) -> Result<CallerIdentity> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| aws_failure("STS.GetCallerIdentity", "the caller", &e))?;
        Ok(CallerIdentity {
            account: out.account().unwrap_or_default().to_string(),
            arn: out.arn().unwrap_or_default().to_string(),
            region: self.region.clone(),
            endpoint: self.endpoint.clone(),
        })
    }
}

impl SecretStore for Aws {
    async fn describe_secret(&self, name: &str) -> Result<Option<SecretMeta>> {
        match self.secrets.describe_secret().secret_id(name).send().await {
            Ok(out) => Ok(Some(SecretMeta {
                arn: out.arn().unwrap_or_default().to_string(),
                deleted_date: out.deleted_date().map(|d| d.to_string()),
                tags: tag_map(out.tags().iter().map(|t| (t.key(), t.value()))),
            })),
            Err(e) if code_of(&e) == Some("ResourceNotFoundException") => Ok(None),
            Err(e) => Err(aws_failure("SecretsManager.DescribeSecret", name, &e)),
        }
    }

    async fn current_version(&self, name: &str) -> Result<SecretVersion> {
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(name)
            .version_stage("AWSCURRENT")
            .send()
            .await
            .map_err(|e| aws_failure("SecretsManager.GetSecretValue", name, &e))?;
        let text = out.secret_string().ok_or_else(|| {
            Failure::runtime(
                "secret.binary",
                format!("the secret {name} holds binary data, not an sfglue document"),
            )
            .with_fix("choose another `secret.name` in the config")
        })?;
        Ok(SecretVersion {
            arn: out.arn().unwrap_or_default().to_string(),
            version_id: out.version_id().unwrap_or_default().to_string(),
            text: Sensitive::new(text),
        })
    }

    async fn create_secret(
        &self,
        name: &str,
        text: &Sensitive,
        kms_key_id: Option<&str>,
        request_token: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(String, String)> {
        let mut req = self
            .secrets
            .create_secret()
            .name(name)
            .description(
                "Salesforce JWT bearer key and settings for a Glue job (managed by sfglue)",
            )
            .secret_string(text.expose())
            .client_request_token(request_token);
        if let Some(k) = kms_key_id {
            req = req.kms_key_id(k);
        }
        for (k, v) in tags {
            req = req.tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build(),
            );
        }
        let out = req
            .send()
            .await
            .map_err(|e| aws_failure("SecretsManager.CreateSecret", name, &e))?;
        Ok((
            out.arn().unwrap_or_default().to_string(),
            out.version_id().unwrap_or_default().to_string(),
        ))
    }

    async fn put_secret_version(
        &self,
        arn: &str,
        text: &Sensitive,
        request_token: &str,
    ) -> Result<String> {
        let out = self
            .secrets
            .put_secret_value()
            .secret_id(arn)
            .secret_string(text.expose())
            .client_request_token(request_token)
            .send()
            .await
            .map_err(|e| aws_failure("SecretsManager.PutSecretValue", arn, &e))?;
        Ok(out.version_id().unwrap_or_default().to_string())
    }

    async fn tag_secret(&self, arn: &str, tags: &Tags) -> Result<()> {
        let mut req = self.secrets.tag_resource().secret_id(arn);
        for (k, v) in tags {
            req = req.tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build(),
            );
        }
        req.send()
            .await
            .map_err(|e| aws_failure("SecretsManager.TagResource", arn, &e))?;
        Ok(())
    }

    async fn delete_secret(&self, arn: &str, force: bool) -> Result<()> {
        let req = self.secrets.delete_secret().secret_id(arn);
        let req = if force {
            req.force_delete_without_recovery(true)
        } else {
            req.recovery_window_in_days(30)
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(aws_failure("SecretsManager.DeleteSecret", arn, &e)),
        }
    }
    async fn list_versions(&self, name: &str) -> Result<Vec<VersionLabels>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        // Bounded: Secrets Manager keeps at most ~100 versions; 20 pages of 100 is plenty.
        for _ in 0..20 {
            let page = self
                .secrets
                .list_secret_version_ids()
                .secret_id(name)
                .max_results(100)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| aws_failure("SecretsManager.ListSecretVersionIds", name, &e))?;
            for v in page.versions() {
                let stages: Vec<String> = v.version_stages().to_vec();
                if stages.is_empty() {
                    continue;
                }
                let mut unique: Vec<String> = Vec::new();
                for s in stages {
                    // moto can list a label twice on one version; once is the truth.
                    if !unique.contains(&s) {
                        unique.push(s);
                    }
                }
                out.push(VersionLabels {
                    version_id: v.version_id().unwrap_or_default().to_string(),
                    stages: unique,
                });
            }
            token = page
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(out)
    }

    async fn version_by_id(&self, name: &str, version_id: &str) -> Result<LabelledVersion> {
        let out = self
            .secrets
            .get_secret_value()
            .secret_id(name)
            .version_id(version_id)
            .send()
            .await
            .map_err(|e| aws_failure("SecretsManager.GetSecretValue", name, &e))?;
        let text = out.secret_string().ok_or_else(|| {
            Failure::runtime(
                "secret.binary",
                format!("the secret {name} holds a binary value; sfglue writes JSON text"),
            )
        })?;
        Ok(LabelledVersion {
            version_id: out.version_id().unwrap_or(version_id).to_string(),
            stages: out.version_stages().to_vec(),
            created: out.created_date().and_then(|d| {
                d.fmt(aws_sdk_secretsmanager::primitives::DateTimeFormat::DateTime)
                    .ok()
            }),
            text: Sensitive::new(text),
        })
    }

    async fn put_staged_version(
        &self,
        name: &str,
        text: &Sensitive,
        request_token: &str,
        stages: &[&str],
    ) -> Result<String> {
        let mut req = self
            .secrets
            .put_secret_value()
            .secret_id(name)
            .secret_string(text.expose())
            .client_request_token(request_token);
        for s in stages {
            req = req.version_stages(*s);
        }
        let out = req
            .send()
            .await
            .map_err(|e| aws_failure("SecretsManager.PutSecretValue", name, &e))?;
        Ok(out.version_id().unwrap_or_default().to_string())
    }

    async fn move_stage(
        &self,
        name: &str,
        stage: &str,
        to: Option<&str>,
        from: Option<&str>,
    ) -> Result<()> {
        self.secrets
            .update_secret_version_stage()
            .secret_id(name)
            .version_stage(stage)
            .set_move_to_version_id(to.map(str::to_string))
            .set_remove_from_version_id(from.map(str::to_string))
            .send()
            .await
            .map_err(|e| aws_failure("SecretsManager.UpdateSecretVersionStage", name, &e))?;
        Ok(())
    }
}

impl ObjectStore for Aws {
    async fn bucket_exists(&self, bucket: &str) -> Result<bool> {
        match self.s3.head_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(true),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                if status == Some(404) || code_of(&e) == Some("NotFound") {
                    Ok(false)
                } else if status == Some(403) {
                    Err(Failure::runtime(
                        "aws.bucket_forbidden",
                        format!("the S3 bucket {bucket} exists but this AWS identity may not use it (it may belong to another account)"),
                    )
                    .with_fix("choose a bucket name your account owns, or grant s3:ListBucket on it"))
                } else {
                    Err(aws_failure("S3.HeadBucket", bucket, &e))
                }
            }
        }
    }

    async fn create_bucket(&self, bucket: &str, region: &str) -> Result<()> {
        use aws_sdk_s3::types::*;
        let mut req = self.s3.create_bucket().bucket(bucket);
        if region != "us-east-1" {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("BucketAlreadyOwnedByYou") => Ok(()),
            Err(e) if code_of(&e) == Some("BucketAlreadyExists") => Err(Failure::runtime(
                "aws.bucket_taken",
                format!("the S3 bucket name {bucket} is taken by another account"),
            )
            .with_fix("bucket names are global: choose another name in the config")),
            Err(e) => Err(aws_failure("S3.CreateBucket", bucket, &e)),
        }
    }

    async fn tag_bucket(&self, bucket: &str, tags: &Tags) -> Result<()> {
        use aws_sdk_s3::types::*;
        let mut tagging = Tagging::builder();
        for (k, v) in tags {
            tagging = tagging.tag_set(
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(|e| Failure::runtime("aws.build", e.to_string()))?,
            );
        }
        self.s3
            .put_bucket_tagging()
            .bucket(bucket)
            .tagging(
                tagging
                    .build()
                    .map_err(|e| Failure::runtime("aws.build", e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| aws_failure("S3.PutBucketTagging", bucket, &e))?;
        Ok(())
    }

    async fn bucket_secured(&self, bucket: &str) -> Result<bool> {
        // Two independent reads, issued together.
        let (public_access, encryption) = tokio::join!(
            self.s3.get_public_access_block().bucket(bucket).send(),
            self.s3.get_bucket_encryption().bucket(bucket).send()
        );
        let blocked = match public_access {
            Ok(out) => out.public_access_block_configuration().is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            }),
            Err(e) if code_of(&e) == Some("NoSuchPublicAccessBlockConfiguration") => false,
            Err(e) => return Err(aws_failure("S3.GetPublicAccessBlock", bucket, &e)),
        };
        let encrypted = match encryption {
            Ok(out) => out
                .server_side_encryption_configuration()
                .is_some_and(|c| !c.rules().is_empty()),
            Err(e) if code_of(&e) == Some("ServerSideEncryptionConfigurationNotFoundError") => {
                false
            }
            Err(e) => return Err(aws_failure("S3.GetBucketEncryption", bucket, &e)),
        };
        Ok(blocked && encrypted)
    }

    async fn secure_bucket(&self, bucket: &str) -> Result<()> {
        use aws_sdk_s3::types::*;
        self.s3
            .put_public_access_block()
            .bucket(bucket)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws_failure("S3.PutPublicAccessBlock", bucket, &e))?;
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(
                ServerSideEncryptionByDefault::builder()
                    .sse_algorithm(ServerSideEncryption::Aes256)
                    .build()
                    .map_err(|e| Failure::runtime("aws.build", e.to_string()))?,
            )
            .build();
        self.s3
            .put_bucket_encryption()
            .bucket(bucket)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(rule)
                    .build()
                    .map_err(|e| Failure::runtime("aws.build", e.to_string()))?,
            )
            .send()
            .await
            .map_err(|e| aws_failure("S3.PutBucketEncryption", bucket, &e))?;
        Ok(())
    }

    async fn object_state(&self, at: &S3Location) -> Result<ObjectState> {
        match self
            .s3
            .head_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .send()
            .await
        {
            Ok(out) => Ok(ObjectState::Present {
                sha256: out
                    .metadata()
                    .and_then(|m| m.get(OBJECT_SHA256_METADATA))
                    .cloned(),
            }),
            Err(e)
                if e.raw_response().map(|r| r.status().as_u16()) == Some(404)
                    || code_of(&e) == Some("NotFound") =>
            {
                Ok(ObjectState::Missing)
            }
            Err(e) => Err(aws_failure("S3.HeadObject", &at.uri(), &e)),
        }
    }

    async fn put_object(&self, at: &S3Location, body: &[u8], sha256: &str) -> Result<()> {
        self.s3
            .put_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .body(ByteStream::from(body.to_vec()))
            .content_type("text/x-python")
            .metadata(OBJECT_SHA256_METADATA, sha256)
            .send()
            .await
            .map_err(|e| aws_failure("S3.PutObject", &at.uri(), &e))?;
        Ok(())
    }

    async fn bucket_tags(&self, bucket: &str) -> Result<Tags> {
        match self.s3.get_bucket_tagging().bucket(bucket).send().await {
            Ok(out) => Ok(tag_map(
                out.tag_set()
                    .iter()
                    .map(|t| (Some(t.key()), Some(t.value()))),
            )),
            Err(e) if code_of(&e) == Some("NoSuchTagSet") => Ok(Tags::new()),
            Err(e) => Err(aws_failure("S3.GetBucketTagging", bucket, &e)),
        }
    }

    async fn delete_object(&self, at: &S3Location) -> Result<()> {
        self.s3
            .delete_object()
            .bucket(&at.bucket)
            .key(&at.key)
            .send()
            .await
            .map_err(|e| aws_failure("S3.DeleteObject", &at.uri(), &e))?;
        Ok(())
    }

    async fn list_keys(&self, bucket: &str, prefix: &str, limit: usize) -> Result<Vec<String>> {
        let out = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .max_keys(limit.min(1000) as i32)
            .send()
            .await
            .map_err(|e| aws_failure("S3.ListObjectsV2", bucket, &e))?;
        Ok(out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect())
    }

    async fn delete_bucket(&self, bucket: &str) -> Result<()> {
        match self.s3.delete_bucket().bucket(bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("NoSuchBucket") => Ok(()),
            Err(e) => Err(aws_failure("S3.DeleteBucket", bucket, &e)),
        }
    }
}

/// User metadata on the script object: the SHA-256 of its content, to skip identical uploads.
const OBJECT_SHA256_METADATA: &str = "sfglue-sha256";

impl RoleStore for Aws {
    async fn get_role(&self, name: &str) -> Result<Option<RoleInfo>> {
        match self.iam.get_role().role_name(name).send().await {
            Ok(out) => {
                let role = out.role();
                Ok(role.map(|r| RoleInfo {
                    arn: r.arn().to_string(),
                    trust_policy: decode_policy(r.assume_role_policy_document().unwrap_or("")),
                    tags: tag_map(r.tags().iter().map(|t| (Some(t.key()), Some(t.value())))),
                }))
            }
            Err(e) if code_of(&e) == Some("NoSuchEntity") => Ok(None),
            Err(e) => Err(aws_failure("IAM.GetRole", name, &e)),
        }
    }

    async fn create_role(
        &self,
        name: &str,
        trust_policy: &Value,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        let mut req = self
            .iam
            .create_role()
            .role_name(name)
            .description("Role of a Glue job that signs in to Salesforce (managed by sfglue)")
            .assume_role_policy_document(trust_policy.to_string());
        for (k, v) in tags {
            req = req.tags(
                aws_sdk_iam::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(|e| Failure::runtime("aws.build", e.to_string()))?,
            );
        }
        let out = req
            .send()
            .await
            .map_err(|e| aws_failure("IAM.CreateRole", name, &e))?;
        Ok(out.role().map(|r| r.arn().to_string()).unwrap_or_default())
    }

    async fn update_trust_policy(&self, name: &str, trust_policy: &Value) -> Result<()> {
        self.iam
            .update_assume_role_policy()
            .role_name(name)
            .policy_document(trust_policy.to_string())
            .send()
            .await
            .map_err(|e| aws_failure("IAM.UpdateAssumeRolePolicy", name, &e))?;
        Ok(())
    }

    async fn get_inline_policy(&self, role: &str, policy: &str) -> Result<Option<Value>> {
        match self
            .iam
            .get_role_policy()
            .role_name(role)
            .policy_name(policy)
            .send()
            .await
        {
            Ok(out) => Ok(Some(decode_policy(out.policy_document()))),
            Err(e) if code_of(&e) == Some("NoSuchEntity") => Ok(None),
            Err(e) => Err(aws_failure("IAM.GetRolePolicy", role, &e)),
        }
    }

    async fn put_inline_policy(&self, role: &str, policy: &str, document: &Value) -> Result<()> {
        self.iam
            .put_role_policy()
            .role_name(role)
            .policy_name(policy)
            .policy_document(document.to_string())
            .send()
            .await
            .map_err(|e| aws_failure("IAM.PutRolePolicy", role, &e))?;
        Ok(())
    }

    async fn tag_role(&self, name: &str, tags: &Tags) -> Result<()> {
        let mut req = self.iam.tag_role().role_name(name);
        for (k, v) in tags {
            req = req.tags(
                aws_sdk_iam::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(|e| Failure::runtime("aws.build", e.to_string()))?,
            );
        }
        req.send()
            .await
            .map_err(|e| aws_failure("IAM.TagRole", name, &e))?;
        Ok(())
    }

    async fn delete_inline_policy(&self, role: &str, policy: &str) -> Result<()> {
        match self
            .iam
            .delete_role_policy()
            .role_name(role)
            .policy_name(policy)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("NoSuchEntity") => Ok(()),
            Err(e) => Err(aws_failure("IAM.DeleteRolePolicy", role, &e)),
        }
    }

    async fn delete_role(&self, name: &str) -> Result<()> {
        match self.iam.delete_role().role_name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("NoSuchEntity") => Ok(()),
            Err(e) => Err(aws_failure("IAM.DeleteRole", name, &e)),
        }
    }
}

fn job_command(spec: &JobSpec) -> JobCommand {
    JobCommand::builder()
        .name(&spec.command_name)
        .script_location(&spec.script_location)
        .python_version(&spec.python_version)
        .build()
}

fn spec_of(name: &str, j: &aws_sdk_glue::types::Job) -> JobSpec {
    let cmd = j.command();
    JobSpec {
        name: j.name().unwrap_or(name).to_string(),
        role_arn: j.role().unwrap_or_default().to_string(),
        command_name: cmd.and_then(|c| c.name()).unwrap_or_default().to_string(),
        script_location: cmd
            .and_then(|c| c.script_location())
            .unwrap_or_default()
            .to_string(),
        python_version: cmd
            .and_then(|c| c.python_version())
            .unwrap_or_default()
            .to_string(),
        max_capacity: j.max_capacity(),
        glue_version: j.glue_version().map(str::to_string),
        worker_type: j.worker_type().map(|w| w.as_str().to_string()),
        number_of_workers: j.number_of_workers(),
        execution_class: j.execution_class().map(|c| c.as_str().to_string()),
        timeout_minutes: j.timeout().unwrap_or_default(),
        max_retries: j.max_retries(),
        max_concurrent_runs: j
            .execution_property()
            .map(|e| e.max_concurrent_runs())
            .unwrap_or(1),
        connections: j
            .connections()
            .map(|c| c.connections().to_vec())
            .unwrap_or_default(),
        description: j.description().unwrap_or_default().to_string(),
        default_arguments: j
            .default_arguments()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
    }
}

type GlueCallError = (Option<String>, Option<String>, Failure);

fn glue_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    op: &str,
    name: &str,
    e: &SdkError<E>,
) -> GlueCallError {
    (
        code_of(e).map(str::to_string),
        e.as_service_error()
            .and_then(|s| s.message())
            .map(str::to_string),
        aws_failure(op, name, e),
    )
}

impl JobService for Aws {
    async fn get_job(&self, name: &str) -> Result<Option<JobSpec>> {
        match self.glue.get_job().job_name(name).send().await {
            Ok(out) => Ok(out.job().map(|j| spec_of(name, j))),
            Err(e) if code_of(&e) == Some("EntityNotFoundException") => Ok(None),
            Err(e) => Err(aws_failure("Glue.GetJob", name, &e)),
        }
    }

    async fn create_job(&self, spec: &JobSpec, tags: &Tags) -> Result<()> {
        retry_while_role_propagates(|| async {
            let mut req = self
                .glue
                .create_job()
                .name(&spec.name)
                .role(&spec.role_arn)
                .command(job_command(spec))
                .timeout(spec.timeout_minutes)
                .max_retries(spec.max_retries)
                .execution_property(
                    ExecutionProperty::builder()
                        .max_concurrent_runs(spec.max_concurrent_runs)
                        .build(),
                )
                .description(&spec.description)
                .set_default_arguments(Some(spec.default_arguments.clone().into_iter().collect()))
                .set_tags(Some(tags.clone().into_iter().collect()));
            req = req
                .set_max_capacity(spec.max_capacity)
                .set_glue_version(spec.glue_version.clone())
                .set_worker_type(spec.worker_type.as_deref().map(WorkerType::from))
                .set_number_of_workers(spec.number_of_workers)
                .set_execution_class(spec.execution_class.as_deref().map(ExecutionClass::from));
            if !spec.connections.is_empty() {
                req = req.connections(
                    ConnectionsList::builder()
                        .set_connections(Some(spec.connections.clone()))
                        .build(),
                );
            }
            req.send()
                .await
                .map(|_| ())
                .map_err(|e| glue_error("Glue.CreateJob", &spec.name, &e))
        })
        .await
    }

    async fn update_job(&self, spec: &JobSpec) -> Result<()> {
        let existing = self
            .glue
            .get_job()
            .job_name(&spec.name)
            .send()
            .await
            .map_err(|e| aws_failure("Glue.GetJob", &spec.name, &e))?;
        let old = existing.job().cloned().ok_or_else(|| {
            Failure::runtime("aws.glue", format!("Glue returned no job {}", spec.name))
        })?;
        // Start from every field the job has, so that what sfglue does not manage survives
        // UpdateJob's replace-everything semantics, then set sfglue's fields.
        let mut args: BTreeMap<String, String> = old
            .default_arguments()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        args.extend(spec.default_arguments.clone());
        let spark = spec.command_name == "glueetl";
        let update = JobUpdate::builder()
            .set_log_uri(old.log_uri().map(str::to_string))
            .set_non_overridable_arguments(old.non_overridable_arguments().cloned())
            .set_security_configuration(old.security_configuration().map(str::to_string))
            .set_notification_property(old.notification_property().cloned())
            .set_job_mode(old.job_mode().cloned())
            .set_job_run_queuing_enabled(old.job_run_queuing_enabled())
            .set_maintenance_window(old.maintenance_window().map(str::to_string))
            .set_source_control_details(old.source_control_details().cloned())
            .set_glue_version(
                spec.glue_version
                    .clone()
                    .or(old.glue_version().map(str::to_string)),
            )
            .role(&spec.role_arn)
            .command(job_command(spec))
            .timeout(spec.timeout_minutes)
            .max_retries(spec.max_retries)
            .execution_property(
                ExecutionProperty::builder()
                    .max_concurrent_runs(spec.max_concurrent_runs)
                    .build(),
            )
            .description(&spec.description)
            .set_default_arguments(Some(args.into_iter().collect()))
            .connections(
                ConnectionsList::builder()
                    .set_connections(Some(spec.connections.clone()))
                    .build(),
            )
            // Python shell jobs take MaxCapacity, Spark jobs WorkerType and NumberOfWorkers;
            // sending both is refused.
            .set_max_capacity(if spark { None } else { spec.max_capacity })
            .set_worker_type(spec.worker_type.as_deref().map(WorkerType::from))
            .set_number_of_workers(spec.number_of_workers)
            .set_execution_class(spec.execution_class.as_deref().map(ExecutionClass::from))
            .build();
        retry_while_role_propagates(|| async {
            self.glue
                .update_job()
                .job_name(&spec.name)
                .job_update(update.clone())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| glue_error("Glue.UpdateJob", &spec.name, &e))
        })
        .await
    }

    async fn delete_job(&self, name: &str) -> Result<()> {
        self.glue
            .delete_job()
            .job_name(name)
            .send()
            .await
            .map_err(|e| aws_failure("Glue.DeleteJob", name, &e))?;
        Ok(())
    }

    async fn job_tags(&self, name: &str) -> Result<Tags> {
        let arn = self.glue_arn("job", name).await?;
        let out = self
            .glue
            .get_tags()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| aws_failure("Glue.GetTags", &arn, &e))?;
        Ok(out
            .tags()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    async fn tag_job(&self, name: &str, tags: &Tags) -> Result<()> {
        self.tag_glue("job", name, tags).await
    }

    async fn tag_trigger(&self, name: &str, tags: &Tags) -> Result<()> {
        self.tag_glue("trigger", name, tags).await
    }

    async fn get_trigger(&self, name: &str) -> Result<Option<ObservedTrigger>> {
        let out = match self.glue.get_trigger().name(name).send().await {
            Ok(out) => out,
            Err(e) if code_of(&e) == Some("EntityNotFoundException") => return Ok(None),
            Err(e) => return Err(aws_failure("Glue.GetTrigger", name, &e)),
        };
        let Some(t) = out.trigger() else {
            return Ok(None);
        };
        let arn = self.glue_arn("trigger", name).await?;
        let tags = self
            .glue
            .get_tags()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| aws_failure("Glue.GetTags", &arn, &e))?
            .tags()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        Ok(Some(ObservedTrigger {
            spec: TriggerSpec {
                name: name.to_string(),
                job_name: t
                    .actions()
                    .first()
                    .and_then(|a| a.job_name())
                    .unwrap_or_default()
                    .to_string(),
                schedule: t.schedule().unwrap_or_default().to_string(),
            },
            tags,
        }))
    }

    async fn create_trigger(&self, spec: &TriggerSpec, tags: &Tags) -> Result<()> {
        self.glue
            .create_trigger()
            .name(&spec.name)
            .r#type(TriggerType::Scheduled)
            .schedule(&spec.schedule)
            .actions(TriggerAction::builder().job_name(&spec.job_name).build())
            .start_on_creation(true)
            .description("Schedule of an sfglue job (managed by sfglue)")
            .set_tags(Some(tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| aws_failure("Glue.CreateTrigger", &spec.name, &e))?;
        Ok(())
    }

    async fn update_trigger(&self, spec: &TriggerSpec) -> Result<()> {
        self.glue
            .update_trigger()
            .name(&spec.name)
            .trigger_update(
                TriggerUpdate::builder()
                    .schedule(&spec.schedule)
                    .actions(TriggerAction::builder().job_name(&spec.job_name).build())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws_failure("Glue.UpdateTrigger", &spec.name, &e))?;
        Ok(())
    }

    async fn delete_trigger(&self, name: &str) -> Result<()> {
        match self.glue.delete_trigger().name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some("EntityNotFoundException") => Ok(()),
            Err(e) => Err(aws_failure("Glue.DeleteTrigger", name, &e)),
        }
    }

    async fn start_job_run(&self, name: &str) -> Result<String> {
        let out = self
            .glue
            .start_job_run()
            .job_name(name)
            .send()
            .await
            .map_err(|e| aws_failure("Glue.StartJobRun", name, &e))?;
        Ok(out.job_run_id().unwrap_or_default().to_string())
    }

    async fn get_job_run(&self, name: &str, run_id: &str) -> Result<JobRunStatus> {
        let out = self
            .glue
            .get_job_run()
            .job_name(name)
            .run_id(run_id)
            .send()
            .await
            .map_err(|e| aws_failure("Glue.GetJobRun", name, &e))?;
        let run = out.job_run().ok_or_else(|| {
            Failure::runtime("aws.glue", format!("Glue returned no job run {run_id}"))
        })?;
        Ok(JobRunStatus {
            run_id: run_id.to_string(),
            state: run
                .job_run_state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|| "UNKNOWN".into()),
            error_message: run.error_message().map(str::to_string),
            execution_seconds: run.execution_time(),
        })
    }
}

/// Glue may refuse a brand-new role for some seconds ("unable to assume provided role"): retry
/// that case, and only that one, with capped exponential backoff (about two minutes in all).
async fn retry_while_role_propagates<F, Fut>(mut call: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<
            Output = std::result::Result<(), (Option<String>, Option<String>, Failure)>,
        >,
{
    let mut delay = Duration::from_secs(1);
    let mut waited = Duration::ZERO;
    loop {
        match call().await {
            Ok(()) => return Ok(()),
            Err((code, message, failure)) => {
                let message = message.unwrap_or_default().to_ascii_lowercase();
                let propagating = code.as_deref() == Some("InvalidInputException")
                    && (message.contains("assume") || message.contains("trustpolicy"));
                if !propagating || waited >= Duration::from_secs(120) {
                    return Err(failure);
                }
                eprintln!(
                    "  the new IAM role is not usable by Glue yet; retrying in {}s",
                    delay.as_secs()
                );
                tokio::time::sleep(delay).await;
                waited += delay;
                delay = (delay * 2).min(Duration::from_secs(16));
            }
        }
    }
}

impl RunLogs for Aws {
    async fn run_output(&self, log_group: &str, run_id: &str) -> Result<Vec<String>> {
        let mut lines = Vec::new();
        let mut token: Option<String> = None;
        // Bounded: a summary is a few lines; stop after a few pages whatever happens.
        for _ in 0..20 {
            let out = match self
                .logs
                .get_log_events()
                .log_group_name(log_group)
                .log_stream_name(run_id)
                .start_from_head(true)
                .set_next_token(token.clone())
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) if code_of(&e) == Some("ResourceNotFoundException") => return Ok(lines),
                Err(e) => return Err(aws_failure("Logs.GetLogEvents", log_group, &e)),
            };
            let events = out.events();
            for ev in events {
                if let Some(m) = ev.message() {
                    lines.push(m.trim_end().to_string());
                }
            }
            let next = out.next_forward_token().map(str::to_string);
            if events.is_empty() || next == token {
                break;
            }
            token = next;
        }
        Ok(lines)
    }
}
