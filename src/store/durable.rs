//! Crash-safe file writes: write to a temporary name, fsync, rename, fsync the folder.

use super::error::{StoreError, io};
use std::fs::File;
use std::path::{Path, PathBuf};

/// Suffix of files being written; left-overs of a crash are deleted at start-up.
pub const TEMP_SUFFIX: &str = ".tmp";

pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(TEMP_SUFFIX);
    path.with_file_name(name)
}

/// Writes `path` so that after a crash it holds either the old content or the new, whole.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut File) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let temp = temp_path(path);
    let mut file = File::create(&temp).map_err(io(&temp))?;
    write(&mut file)?;
    file.sync_all().map_err(io(&temp))?;
    drop(file);
    std::fs::rename(&temp, path).map_err(io(path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// fsyncs `files` and the folders that hold them (a new `date=` folder's entry, a new file's
/// name), on a blocking thread.
pub(super) async fn sync_files(files: Vec<PathBuf>) -> Result<(), StoreError> {
    if files.is_empty() {
        return Ok(());
    }
    tokio::task::spawn_blocking(move || {
        let mut folders = std::collections::BTreeSet::new();
        for file in &files {
            std::fs::File::open(file)
                .and_then(|f| f.sync_all())
                .map_err(io(file))?;
            if let Some(folder) = file.parent() {
                folders.insert(folder.to_path_buf());
                // A new `date=` folder is itself an entry of the table's folder.
                if let Some(table) = folder.parent() {
                    folders.insert(table.to_path_buf());
                }
            }
        }
        for folder in folders {
            sync_dir(&folder)?;
        }
        Ok(())
    })
    .await
    .map_err(|panic| StoreError::Io {
        path: PathBuf::new(),
        source: std::io::Error::other(panic),
    })?
}
