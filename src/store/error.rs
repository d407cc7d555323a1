use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: parquet: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("building a record batch: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    #[error("{path}: bad checkpoint: {message}")]
    Checkpoint { path: PathBuf, message: String },
    #[error(transparent)]
    Query(#[from] datafusion::error::DataFusionError),
    #[error("history table {table}: {source}")]
    Delta {
        table: &'static str,
        #[source]
        source: Box<deltalake_core::DeltaTableError>,
    },
    /// Another process wrote a source partition this one had claimed.
    #[error(transparent)]
    Fenced(Box<super::fence::Fenced>),
    /// The history's writer lock is held by another process (its message names it).
    #[error("{0}")]
    InUse(String),
    #[error("unknown named query `{0}`")]
    UnknownQuery(String),
    #[error("query parameter `{name}`: {problem}")]
    Parameter { name: String, problem: String },
}

pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}
