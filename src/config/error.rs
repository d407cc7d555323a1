use std::path::PathBuf;

/// A configuration problem, always tied to the file it was found in.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Syntax errors, unknown keys and values of the wrong type; toml's message names the key
    /// and shows the line.
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    /// A value that parsed but makes no sense (duplicate id, target outside 0..1, ...).
    #[error("{file}: key `{key}`: {problem}")]
    Invalid {
        file: PathBuf,
        key: String,
        problem: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(
        file: &std::path::Path,
        key: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        ConfigError::Invalid {
            file: file.to_path_buf(),
            key: key.into(),
            problem: problem.into(),
        }
    }
}

/// Reads and deserializes one TOML file.
pub(crate) fn read_toml<T: serde::de::DeserializeOwned>(
    file: &std::path::Path,
) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Io {
        file: file.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        file: file.to_path_buf(),
        message: e.to_string().trim_end().to_string(),
    })
}
