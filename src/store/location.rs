//! Where the history lives: a local directory, or a prefix in an S3 bucket (AWS or any
//! S3-compatible server). The Delta tables, their data files and the SLA-state snapshots are
//! all under it; everything else an instance keeps (its offset checkpoint, outboxes, alerts in
//! flight, the review journal) stays in its local `data_dir`.
//!
//! A local history keeps delta-rs's own file-system log store (commits by atomic
//! link-if-absent) and slacap's fsynced writes. An S3 history goes through object_store's S3
//! client: Delta commits are conditional puts (`If-None-Match: *`), which AWS S3 and the usual
//! S3-compatible servers honour, so no external lock (DynamoDB) is needed.

use super::error::StoreError;
use super::tables::Table;
use bytes::Bytes;
use datafusion::datasource::object_store::ObjectStoreUrl;
use deltalake_core::logstore::{
    LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
};
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use url::Url;

/// S3 settings that are not in the environment's `AWS_*` variables (which object_store's S3
/// client reads: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
/// `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, ...). Set here, they win over the
/// environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Settings {
    /// `http(s)://host:port` of an S3-compatible server; unset for AWS.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Plain `http://` endpoints are refused unless this is set.
    pub allow_http: Option<bool>,
}

#[derive(Clone)]
pub struct HistoryLocation {
    /// The history's root, ending in `/`.
    url: Url,
    /// The store at the root of the URL's authority (the file system's root, or the bucket).
    objects: Arc<dyn ObjectStore>,
    /// The history's root within `objects`.
    prefix: ObjectPath,
    /// The directory, for a local history.
    local: Option<PathBuf>,
}

impl std::fmt::Debug for HistoryLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.url.as_str())
    }
}

impl HistoryLocation {
    /// A history in a local directory (made absolute: file paths handed to DataFusion's local
    /// object store resolve the same whatever the working directory).
    pub fn local(dir: &Path) -> HistoryLocation {
        let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let url = Url::from_directory_path(&dir).unwrap_or_else(|()| {
            Url::parse("file:///").expect("a constant URL") // unreachable: `dir` is absolute
        });
        HistoryLocation {
            prefix: ObjectPath::from_url_path(url.path()).unwrap_or_default(),
            url,
            objects: Arc::new(object_store::local::LocalFileSystem::new()),
            local: Some(dir),
        }
    }

    /// A history at `location`: an `s3://bucket/prefix` URL, or a local directory.
    pub fn parse(location: &str, s3: &S3Settings) -> Result<HistoryLocation, String> {
        if !location.contains("://") {
            return Ok(HistoryLocation::local(Path::new(location)));
        }
        let mut url = Url::parse(location).map_err(|e| format!("`{location}`: {e}"))?;
        match url.scheme() {
            "file" => {
                let dir = url
                    .to_file_path()
                    .map_err(|()| format!("`{location}` is not a local path"))?;
                Ok(HistoryLocation::local(&dir))
            }
            "s3" | "s3a" => {
                let bucket = url
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| format!("`{location}` names no bucket (s3://bucket/prefix)"))?
                    .to_string();
                let mut builder = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(&bucket)
                    .with_conditional_put(object_store::aws::S3ConditionalPut::ETagMatch);
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(region) = &s3.region {
                    builder = builder.with_region(region);
                }
                if let Some(allow) = s3.allow_http {
                    builder = builder.with_allow_http(allow);
                }
                let objects = builder.build().map_err(|e| format!("`{location}`: {e}"))?;
                register_s3_log_store();
                if url.scheme() == "s3a" {
                    let _ = url.set_scheme("s3");
                }
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                Ok(HistoryLocation {
                    prefix: ObjectPath::from_url_path(url.path())
                        .map_err(|e| format!("`{location}`: {e}"))?,
                    url,
                    objects: Arc::new(objects),
                    local: None,
                })
            }
            other => Err(format!(
                "`{location}`: scheme `{other}` is not supported (a directory or s3://bucket/prefix)"
            )),
        }
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The directory of a local history.
    pub fn local_dir(&self) -> Option<&Path> {
        self.local.as_deref()
    }

    /// The store DataFusion reads the data files from, and its URL.
    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }

    pub fn object_store_url(&self) -> ObjectStoreUrl {
        match self.local {
            Some(_) => ObjectStoreUrl::local_filesystem(),
            None => ObjectStoreUrl::parse(format!(
                "{}://{}",
                self.url.scheme(),
                self.url.host_str().unwrap_or_default()
            ))
            .unwrap_or_else(|_| ObjectStoreUrl::local_filesystem()),
        }
    }

    /// True when DataFusion needs the store registered (the local one is there by default).
    pub fn is_remote(&self) -> bool {
        self.local.is_none()
    }

    pub fn table_url(&self, table: Table) -> Url {
        self.url
            .join(&format!("{}/", table.name()))
            .unwrap_or_else(|_| self.url.clone())
    }

    /// A name for messages: the local path, or the URL.
    pub fn display(&self, relative: &str) -> PathBuf {
        match &self.local {
            Some(dir) => dir.join(relative),
            None => PathBuf::from(format!("{}{relative}", self.url)),
        }
    }

    /// The path in [`Self::objects`] of a file `relative` to the history's root.
    pub fn object_path(&self, relative: &str) -> ObjectPath {
        relative
            .split('/')
            .filter(|part| !part.is_empty())
            .fold(self.prefix.clone(), |path, part| path.join(part))
    }

    /// The path in [`Self::objects`] of a table's data file, from its path in the table's log.
    pub fn table_file(&self, table: Table, in_table: &ObjectPath) -> ObjectPath {
        self.prefix
            .parts()
            .chain(std::iter::once(table.name().into()))
            .chain(in_table.parts())
            .collect()
    }

    /// Opens a table's Delta builder: the file-system log store for a local history, the
    /// S3 client (conditional-put commits) for a bucket.
    pub fn delta_builder(
        &self,
        table: Table,
    ) -> Result<deltalake_core::DeltaTableBuilder, deltalake_core::DeltaTableError> {
        let url = self.table_url(table);
        let builder = deltalake_core::DeltaTableBuilder::from_url(url.clone())?;
        Ok(match self.local {
            Some(_) => builder,
            None => builder.with_storage_backend(self.objects.clone(), url),
        })
    }

    /// Reads a whole object.
    pub async fn get(&self, path: &ObjectPath) -> Result<Bytes, StoreError> {
        let io = |source: object_store::Error| StoreError::Io {
            path: PathBuf::from(path.as_ref()),
            source: std::io::Error::other(source),
        };
        self.objects
            .get(path)
            .await
            .map_err(io)?
            .bytes()
            .await
            .map_err(io)
    }

    /// Writes `bytes` to `relative` so that a reader sees all of it or nothing: a temporary
    /// file, fsynced and renamed, locally; one PUT (atomic in S3) in a bucket.
    pub async fn put_whole(&self, relative: &str, bytes: Bytes) -> Result<(), StoreError> {
        if let Some(dir) = &self.local {
            let path = dir.join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(super::error::io(parent))?;
            }
            return super::durable::write_atomically(&path, |file| {
                std::io::Write::write_all(file, &bytes).map_err(super::error::io(&path))
            });
        }
        self.objects
            .put(&self.object_path(relative), bytes.into())
            .await
            .map(|_| ())
            .map_err(|source| StoreError::Io {
                path: self.display(relative),
                source: std::io::Error::other(source),
            })
    }

    /// The names of the objects directly under `relative` (a folder), unordered; none when
    /// the folder does not exist.
    pub async fn list_names(&self, relative: &str) -> Result<Vec<String>, StoreError> {
        let listed = self
            .objects
            .list_with_delimiter(Some(&self.object_path(relative)))
            .await;
        match listed {
            Ok(listed) => Ok(listed
                .objects
                .into_iter()
                .filter_map(|o| o.location.filename().map(str::to_string))
                .collect()),
            Err(object_store::Error::NotFound { .. }) => Ok(Vec::new()),
            Err(source) => Err(StoreError::Io {
                path: self.display(relative),
                source: std::io::Error::other(source),
            }),
        }
    }

    pub async fn delete(&self, relative: &str) -> Result<(), StoreError> {
        match self.objects.delete(&self.object_path(relative)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(StoreError::Io {
                path: self.display(relative),
                source: std::io::Error::other(source),
            }),
        }
    }

    /// True when anything is stored under the history's root.
    pub async fn holds_anything(&self) -> Result<bool, StoreError> {
        if let Some(dir) = &self.local {
            return Ok(dir.exists());
        }
        let mut listing = self.objects.list(Some(&self.prefix));
        listing
            .try_next()
            .await
            .map(|first| first.is_some())
            .map_err(|source| StoreError::Io {
                path: self.display(""),
                source: std::io::Error::other(source),
            })
    }
}

/// delta-rs resolves a table's log store by URL scheme; only `file` and `memory` are known
/// without its AWS crate (which would bring the AWS SDK for a DynamoDB lock slacap does not
/// need). The default log store commits by conditional put, which S3 supports.
fn register_s3_log_store() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        logstore_factories().insert(
            Url::parse("s3://").expect("a constant URL"),
            Arc::new(S3LogStoreFactory),
        );
    });
}

struct S3LogStoreFactory;

impl LogStoreFactory for S3LogStoreFactory {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> deltalake_core::DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}
