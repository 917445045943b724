//! Where a store is: a directory, or a key prefix in an S3 bucket.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::ObjectError;

/// `s3://bucket/prefix`: the store's objects are `prefix/<FORMAT.md §1 path>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Url {
    /// Bucket name (a DNS name, as S3 requires).
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (may be empty).
    pub prefix: String,
}

impl S3Url {
    /// The object key of a store path such as `segments/<name>`.
    pub fn key(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    /// The store path of an object key under this prefix.
    pub fn rel<'a>(&self, key: &'a str) -> Option<&'a str> {
        if self.prefix.is_empty() {
            Some(key)
        } else {
            key.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
        }
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// The value of `--store`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreLocation {
    /// A store directory (FORMAT.md §1).
    Dir(PathBuf),
    /// A store on an S3-compatible bucket.
    S3(S3Url),
}

impl StoreLocation {
    /// The directory, when the store is one.
    pub fn as_dir(&self) -> Option<&Path> {
        match self {
            StoreLocation::Dir(d) => Some(d),
            StoreLocation::S3(_) => None,
        }
    }
}

impl std::fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Dir(d) => write!(f, "{}", d.display()),
            StoreLocation::S3(u) => u.fmt(f),
        }
    }
}

impl FromStr for StoreLocation {
    type Err = ObjectError;

    fn from_str(s: &str) -> Result<StoreLocation, ObjectError> {
        let Some(rest) = s.strip_prefix("s3://") else {
            if s.contains("://") {
                return Err(ObjectError::Location(
                    "only directories and s3://bucket/prefix stores are supported".into(),
                ));
            }
            return Ok(StoreLocation::Dir(PathBuf::from(s)));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let dns = bucket.len() >= 3
            && bucket.len() <= 63
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            && !bucket.starts_with(['-', '.'])
            && !bucket.ends_with(['-', '.']);
        if !dns {
            return Err(ObjectError::Location(
                "the bucket in s3://bucket/prefix must be 3 to 63 lower-case letters, digits, '-' or '.'".into(),
            ));
        }
        let prefix = prefix.trim_matches('/');
        let safe = prefix.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
        if !prefix.is_empty() && !safe {
            return Err(ObjectError::Location(
                "the prefix in s3://bucket/prefix must be '/'-separated names of letters, digits, '-', '_' or '.'".into(),
            ));
        }
        Ok(StoreLocation::S3(S3Url {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_directories_and_s3_urls() {
        assert_eq!(
            "store".parse::<StoreLocation>().unwrap(),
            StoreLocation::Dir("store".into())
        );
        let u = match "s3://ev-bucket/site-a/log/"
            .parse::<StoreLocation>()
            .unwrap()
        {
            StoreLocation::S3(u) => u,
            other => panic!("{other:?}"),
        };
        assert_eq!(u.bucket, "ev-bucket");
        assert_eq!(u.key("checkpoint"), "site-a/log/checkpoint");
        assert_eq!(u.rel("site-a/log/segments/x"), Some("segments/x"));
        assert_eq!(u.rel("site-a/logx/segments/x"), None);
        assert_eq!(u.to_string(), "s3://ev-bucket/site-a/log");
        for bad in [
            "s3://A",
            "s3://b",
            "s3://ev-bucket/../x",
            "s3://ev-bucket/a b",
            "gs://x/y",
        ] {
            assert!(bad.parse::<StoreLocation>().is_err(), "{bad}");
        }
    }
}
