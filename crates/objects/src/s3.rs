//! The one S3 client: `object_store`'s for objects (create-only and
//! conditional puts, gets, listings), and requests signed by its
//! `AwsAuthorizer` for the Object Lock calls it does not make (an object's
//! retention, legal holds).
//!
//! Configured as the AWS tools are: `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL` (a non-AWS service), `AWS_ALLOW_HTTP`, and the
//! container, web-identity and instance-metadata credentials that
//! `object_store` reads. Nothing here logs an object's contents.

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Months, SecondsFormat, Utc};
use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, AwsAuthorizer, Checksum};
use object_store::client::HttpRequestBody;
use object_store::path::Path as ObjectPath;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion,
};

use crate::{ObjectError, Result, S3Url};

/// S3 Object Lock retention mode of published objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// No account, root included, can delete or shorten it before it ends.
    Compliance,
    /// Users with `s3:BypassGovernanceRetention` can.
    Governance,
    /// Objects are written without retention (the bucket's default
    /// retention, if any, still applies).
    Off,
}

impl std::str::FromStr for LockMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<LockMode, String> {
        match s {
            "compliance" => Ok(LockMode::Compliance),
            "governance" => Ok(LockMode::Governance),
            "off" => Ok(LockMode::Off),
            _ => Err("the lock mode is compliance, governance or off".into()),
        }
    }
}

/// How published objects are retained.
#[derive(Clone, Copy, Debug)]
pub struct Lock {
    /// Retention mode.
    pub mode: LockMode,
    /// Years from publication until an object may be deleted (HIPAA keeps
    /// documentation six years, 45 CFR 164.316(b)(2)).
    pub retention_years: u32,
}

impl Default for Lock {
    fn default() -> Lock {
        Lock {
            mode: LockMode::Compliance,
            retention_years: 6,
        }
    }
}

/// An object's Object Lock state, as the bucket reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// `COMPLIANCE` or `GOVERNANCE`, if retained.
    pub mode: Option<String>,
    /// When retention ends (RFC 3339), if retained.
    pub until: Option<String>,
    /// Whether a legal hold is on.
    pub legal_hold: bool,
}

/// One listed object.
#[derive(Clone, Debug)]
pub struct Listed {
    /// Its path inside the store (FORMAT.md §1), without the prefix.
    pub rel: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its entity tag, if the service gives one.
    pub e_tag: Option<String>,
}

/// What a create-only put found.
#[derive(Debug)]
pub enum Created {
    /// Written; the new object's entity tag.
    New(Option<String>),
    /// The key already exists (it was not replaced).
    Exists,
}

/// What a conditional replacement found.
#[derive(Debug)]
pub enum Replaced {
    /// Written; the new version's entity tag.
    New(Option<String>),
    /// The object is not the version expected (or exists, when none was).
    Conflict,
}

/// A store prefix in one bucket.
pub struct Bucket {
    url: S3Url,
    store: AmazonS3,
    builder: AmazonS3Builder,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

fn client_options(lock_headers: Option<http::HeaderMap>) -> ClientOptions {
    let mut opts = ClientOptions::new();
    for (k, v) in std::env::vars() {
        if let Some(name) = k.strip_prefix("AWS_")
            && let Ok(AmazonS3ConfigKey::Client(key)) =
                format!("aws_{}", name.to_ascii_lowercase()).parse::<AmazonS3ConfigKey>()
        {
            opts = opts.with_config(key, v);
        }
    }
    match lock_headers {
        Some(h) => opts.with_default_headers(h),
        None => opts,
    }
}

impl Bucket {
    /// The bucket of `url`, configured from the environment.
    pub fn connect(url: &S3Url) -> Result<Bucket> {
        // TLS through rustls with ring, the provider the server's TLS uses
        let _ = rustls::crypto::ring::default_provider().install_default();
        let builder = AmazonS3Builder::from_env()
            .with_bucket_name(&url.bucket)
            .with_checksum_algorithm(Checksum::SHA256)
            .with_conditional_put(object_store::aws::S3ConditionalPut::ETagMatch);
        let store = builder
            .clone()
            .with_client_options(client_options(None))
            .build()
            .map_err(|source| ObjectError::Config {
                bucket: url.bucket.clone(),
                source: Box::new(source),
            })?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ObjectError::Http {
                bucket: url.bucket.clone(),
                key: String::new(),
                what: "starting the S3 client",
                detail: e.to_string(),
            })?;
        Ok(Bucket {
            url: url.clone(),
            store,
            builder,
            http: reqwest::Client::new(),
            rt,
        })
    }

    /// The URL this bucket handle serves.
    pub fn url(&self) -> &S3Url {
        &self.url
    }

    fn path(&self, rel: &str) -> ObjectPath {
        ObjectPath::from(self.url.key(rel))
    }

    fn request_err(
        &self,
        rel: &str,
        what: &'static str,
    ) -> impl FnOnce(object_store::Error) -> ObjectError {
        let bucket = self.url.bucket.clone();
        let key = self.url.key(rel);
        move |source| ObjectError::Request {
            bucket,
            key,
            what,
            source: Box::new(source),
        }
    }

    /// A client whose every put carries the Object Lock headers of `lock`,
    /// retained until `lock.retention_years` from `now` (signed: the
    /// client signs default headers with the request).
    pub fn with_lock(&self, lock: &Lock, now: DateTime<Utc>) -> Result<LockedPuts> {
        let mode = match lock.mode {
            LockMode::Off => return Ok(LockedPuts { store: None }),
            LockMode::Compliance => "COMPLIANCE",
            LockMode::Governance => "GOVERNANCE",
        };
        let until = now
            .checked_add_months(Months::new(12 * lock.retention_years))
            .unwrap_or(now);
        let mut h = http::HeaderMap::new();
        h.insert(
            "x-amz-object-lock-mode",
            http::HeaderValue::from_static(mode),
        );
        // S3 takes a retained upload only with an integrity checksum: the
        // client sends x-amz-checksum-sha256 (with_checksum_algorithm), and
        // this names its algorithm as the AWS SDKs do
        h.insert(
            "x-amz-sdk-checksum-algorithm",
            http::HeaderValue::from_static("SHA256"),
        );
        let until = until.to_rfc3339_opts(SecondsFormat::Secs, true);
        if let Ok(v) = http::HeaderValue::from_str(&until) {
            h.insert("x-amz-object-lock-retain-until-date", v);
        }
        let store = self
            .builder
            .clone()
            .with_client_options(client_options(Some(h)))
            .build()
            .map_err(|source| ObjectError::Config {
                bucket: self.url.bucket.clone(),
                source: Box::new(source),
            })?;
        Ok(LockedPuts { store: Some(store) })
    }

    fn put_store<'a>(&'a self, lock: &'a LockedPuts) -> &'a AmazonS3 {
        lock.store.as_ref().unwrap_or(&self.store)
    }

    /// Writes `bytes` at `rel` unless the key exists (`If-None-Match: *`).
    pub fn put_create(&self, rel: &str, bytes: Bytes, lock: &LockedPuts) -> Result<Created> {
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        let path = self.path(rel);
        match self.rt.block_on(
            self.put_store(lock)
                .put_opts(&path, PutPayload::from(bytes), opts),
        ) {
            Ok(r) => Ok(Created::New(r.e_tag)),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(Created::Exists),
            Err(e) => Err(self.request_err(rel, "create-only put")(e)),
        }
    }

    /// Replaces `rel` only if its current version has entity tag
    /// `expected` (`If-Match`), or creates it only if absent when
    /// `expected` is `None`.
    pub fn put_replace(
        &self,
        rel: &str,
        bytes: Bytes,
        expected: Option<&str>,
        lock: &LockedPuts,
    ) -> Result<Replaced> {
        let mode = match expected {
            Some(e) => PutMode::Update(UpdateVersion {
                e_tag: Some(e.to_string()),
                version: None,
            }),
            None => PutMode::Create,
        };
        let opts = PutOptions {
            mode,
            ..Default::default()
        };
        let path = self.path(rel);
        match self.rt.block_on(
            self.put_store(lock)
                .put_opts(&path, PutPayload::from(bytes), opts),
        ) {
            Ok(r) => Ok(Replaced::New(r.e_tag)),
            Err(object_store::Error::AlreadyExists { .. })
            | Err(object_store::Error::Precondition { .. }) => Ok(Replaced::Conflict),
            Err(e) => Err(self.request_err(rel, "conditional put")(e)),
        }
    }

    /// The object at `rel` and its entity tag, or `None` if absent.
    pub fn get(&self, rel: &str) -> Result<Option<(Bytes, Option<String>)>> {
        let path = self.path(rel);
        let got = self.rt.block_on(async {
            let r = self.store.get(&path).await?;
            let e_tag = r.meta.e_tag.clone();
            Ok::<_, object_store::Error>((r.bytes().await?, e_tag))
        });
        match got {
            Ok(x) => Ok(Some(x)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.request_err(rel, "get")(e)),
        }
    }

    /// Every object under the prefix.
    pub fn list(&self) -> Result<Vec<Listed>> {
        let prefix =
            (!self.url.prefix.is_empty()).then(|| ObjectPath::from(self.url.prefix.as_str()));
        let metas: Vec<object_store::ObjectMeta> = self
            .rt
            .block_on(self.store.list(prefix.as_ref()).try_collect())
            .map_err(self.request_err("", "list"))?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let key = m.location.to_string();
                Some(Listed {
                    rel: self.url.rel(&key)?.to_string(),
                    size: m.size,
                    e_tag: m.e_tag,
                })
            })
            .collect())
    }

    /// Deletes the current version of `rel` (on a versioned bucket: a delete
    /// marker; a retained version stays).
    pub fn delete(&self, rel: &str) -> Result<()> {
        let path = self.path(rel);
        self.rt
            .block_on(self.store.delete(&path))
            .map_err(self.request_err(rel, "delete"))
    }

    fn endpoint(&self) -> String {
        let region = self
            .builder
            .get_config_value(&AmazonS3ConfigKey::Region)
            .unwrap_or_else(|| "us-east-1".into());
        match self.builder.get_config_value(&AmazonS3ConfigKey::Endpoint) {
            Some(e) => e.trim_end_matches('/').to_string(),
            None => format!("https://s3.{region}.amazonaws.com"),
        }
    }

    /// One request outside `object_store`'s API, signed as it signs its own
    /// (path-style URL, SigV4 over every header, payload hash).
    fn signed(
        &self,
        method: http::Method,
        rel: &str,
        query: &str,
        body: Bytes,
        extra: &[(&'static str, String)],
        what: &'static str,
    ) -> Result<reqwest::Response> {
        let key = self.url.key(rel);
        let fail = |detail: String| ObjectError::Http {
            bucket: self.url.bucket.clone(),
            key: key.clone(),
            what,
            detail,
        };
        let encoded: Vec<String> = key
            .split('/')
            .map(|s| {
                percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
            })
            .collect();
        let uri = format!(
            "{}/{}/{}{}",
            self.endpoint(),
            self.url.bucket,
            encoded.join("/"),
            query
        );
        let region = self
            .builder
            .get_config_value(&AmazonS3ConfigKey::Region)
            .unwrap_or_else(|| "us-east-1".into());
        let mut req = http::Request::builder()
            .method(method)
            .uri(&uri)
            .body(HttpRequestBody::from(body.clone()))
            .map_err(|e| fail(e.to_string()))?;
        for (name, value) in extra {
            let v = http::HeaderValue::from_str(value).map_err(|e| fail(e.to_string()))?;
            req.headers_mut().insert(*name, v);
        }
        self.rt.block_on(async {
            let cred = self
                .store
                .credentials()
                .get_credential()
                .await
                .map_err(|e| fail(e.to_string()))?;
            AwsAuthorizer::new(&cred, "s3", &region)
                .try_authorize(&mut req, None)
                .map_err(|e| fail(e.to_string()))?;
            let (parts, _) = req.into_parts();
            let mut out = self
                .http
                .request(parts.method, parts.uri.to_string())
                .body(body);
            for (name, value) in parts.headers.iter() {
                out = out.header(name, value);
            }
            let resp = out.send().await.map_err(|e| fail(e.to_string()))?;
            if !resp.status().is_success() {
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                let code = text
                    .split("<Code>")
                    .nth(1)
                    .and_then(|t| t.split("</Code>").next())
                    .unwrap_or("");
                return Err(fail(format!("HTTP {status} {code}")));
            }
            Ok(resp)
        })
    }

    /// The Object Lock state of the current version of `rel`.
    pub fn retention(&self, rel: &str) -> Result<Retention> {
        let resp = self.signed(
            http::Method::HEAD,
            rel,
            "",
            Bytes::new(),
            &[],
            "reading its retention",
        )?;
        let h = resp.headers();
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        Ok(Retention {
            mode: get("x-amz-object-lock-mode"),
            until: get("x-amz-object-lock-retain-until-date"),
            legal_hold: get("x-amz-object-lock-legal-hold").as_deref() == Some("ON"),
        })
    }

    /// Places (`on`) or lifts a legal hold on the current version of `rel`.
    pub fn set_legal_hold(&self, rel: &str, on: bool) -> Result<()> {
        use base64::Engine as _;
        use md5::Digest as _;
        let body = format!(
            "<LegalHold xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>{}</Status></LegalHold>",
            if on { "ON" } else { "OFF" }
        );
        let md5 =
            base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body.as_bytes()));
        self.signed(
            http::Method::PUT,
            rel,
            "?legal-hold",
            Bytes::from(body),
            &[
                ("content-md5", md5),
                ("content-type", "application/xml".into()),
            ],
            "setting its legal hold",
        )?;
        Ok(())
    }
}

/// A put client carrying Object Lock headers (or none, with the lock off).
pub struct LockedPuts {
    store: Option<AmazonS3>,
}

impl LockedPuts {
    /// Puts without Object Lock headers.
    pub fn unlocked() -> LockedPuts {
        LockedPuts { store: None }
    }
}

/// The shared handle type.
pub type SharedBucket = Arc<Bucket>;
