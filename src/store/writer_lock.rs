//! One writer per history. `slacap run` and `slacap recompute` hold the history's writer lock
//! for as long as they run, so the two never rewrite the same history at once (a recompute's
//! rows would be overwritten by the pipeline's next correction, or its removals race the
//! pipeline's compaction), and a second `slacap run` started on the same history by mistake is
//! refused instead of doubling every commit's work.
//!
//! * A **local** history is locked with an advisory lock (`flock`) on `<history>/_writer.lock`:
//!   the kernel releases it when the process ends, however it ends, so a SIGKILL leaves no
//!   stale lock.
//! * In **object storage** nothing dies with the process, so the lock is a lease:
//!   `<history>/_writer.lease` names its holder, the instance it belongs to (host and
//!   `data_dir`) and when it was last renewed. It is created by a conditional put (only if
//!   absent), renewed every [`LEASE_TTL`] / 3 by a conditional put on the version read (only if
//!   unchanged), and taken over once it is older than [`LEASE_TTL`], or at once by the same
//!   instance: the writer also holds the `flock` of its `data_dir` (`<data_dir>/_instance.lock`),
//!   so a lease of its own instance that it does not hold is a killed predecessor's, and a
//!   restart after a SIGKILL need not wait the TTL out. A holder that finds its lease taken
//!   over, or cannot renew it for a whole TTL, has lost it: [`WriterLock::lost`] says so and
//!   `slacap run` stops.

use super::HistoryLocation;
use super::error::StoreError;
use bytes::Bytes;
use object_store::{ObjectStoreExt, PutMode, PutOptions, UpdateVersion};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long a lease in object storage stays valid without renewal.
pub const LEASE_TTL: Duration = Duration::from_secs(30);
const LOCK_FILE: &str = "_writer.lock";
const LEASE_OBJECT: &str = "_writer.lease";
const INSTANCE_LOCK_FILE: &str = "_instance.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the history at {location} is in use by {holder}; only one `slacap run` or `slacap recompute` writes a history at a time"
    )]
    Held { location: String, holder: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The writer lock of a history, held until dropped.
pub struct WriterLock {
    held: Held,
    lost: Arc<AtomicBool>,
}

enum Held {
    Local(#[allow(dead_code)] std::fs::File),
    Lease {
        /// The `flock` of the instance's `data_dir`.
        #[allow(dead_code)]
        instance: std::fs::File,
        stop: std::sync::mpsc::Sender<()>,
        renewer: Option<std::thread::JoinHandle<()>>,
    },
}

impl std::fmt::Debug for WriterLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterLock")
            .field("lost", &self.lost())
            .finish()
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Lease {
    holder: String,
    /// `host:data_dir` of the instance holding it.
    #[serde(default)]
    instance: String,
    renewed_at_ms: i64,
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this host".into())
}

/// `slacap <purpose> (pid N on host, since ...)`.
fn holder(purpose: &str) -> String {
    format!(
        "slacap {purpose} (pid {} on {}, since {})",
        std::process::id(),
        host(),
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    )
}

impl HistoryLocation {
    /// Takes the history's writer lock for `purpose` (`run`, `recompute`) of the instance
    /// whose folder is `data_dir`, or says who holds it. Blocking: a lease in object storage is
    /// a few requests.
    pub fn lock_writer(&self, data_dir: &Path, purpose: &str) -> Result<WriterLock, LockError> {
        match self.local_dir() {
            Some(dir) => lock_local(dir, LOCK_FILE, purpose).map(|file| WriterLock {
                held: Held::Local(file),
                lost: Arc::new(AtomicBool::new(false)),
            }),
            None => {
                let instance = lock_local(data_dir, INSTANCE_LOCK_FILE, purpose)?;
                let data_dir = std::path::absolute(data_dir).unwrap_or(data_dir.to_path_buf());
                let id = format!("{}:{}", host(), data_dir.display());
                lock_lease(self, instance, &id, purpose)
            }
        }
    }
}

impl WriterLock {
    /// True once a lease was taken over by another writer or could not be renewed for a
    /// whole TTL: the holder must stop writing. A local lock is never lost.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        if let Held::Lease { stop, renewer, .. } = &mut self.held {
            let _ = stop.send(());
            if let Some(renewer) = renewer.take() {
                let _ = renewer.join();
            }
        }
    }
}

/// Locks `dir/name` with `flock` and writes who holds it into the file.
fn lock_local(dir: &Path, name: &str, purpose: &str) -> Result<std::fs::File, LockError> {
    std::fs::create_dir_all(dir).map_err(super::error::io(dir))?;
    let path = dir.join(name);
    let io = super::error::io(&path);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(super::error::io(&path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(LockError::Held {
                location: dir.display().to_string(),
                holder: Some(text.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "another process".into()),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e).into()),
    }
    // Who holds it, for the message of whoever is refused.
    let written = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| file.write_all(holder(purpose).as_bytes()));
    written.map_err(super::error::io(&path))?;
    Ok(file)
}

fn lease_bytes(holder: &str, instance: &str) -> Bytes {
    let lease = Lease {
        holder: holder.to_string(),
        instance: instance.to_string(),
        renewed_at_ms: chrono::Utc::now().timestamp_millis(),
    };
    Bytes::from(serde_json::to_vec(&lease).unwrap_or_default())
}

fn object_error(location: &HistoryLocation, source: object_store::Error) -> StoreError {
    StoreError::Io {
        path: location.display(LEASE_OBJECT),
        source: std::io::Error::other(source),
    }
}

fn lock_lease(
    location: &HistoryLocation,
    instance_lock: std::fs::File,
    instance: &str,
    purpose: &str,
) -> Result<WriterLock, LockError> {
    let me = holder(purpose);
    let path = location.object_path(LEASE_OBJECT);
    let objects = location.objects().clone();
    let version = super::history::block_on(async {
        for _ in 0..3 {
            let created = objects
                .put_opts(
                    &path,
                    lease_bytes(&me, instance).into(),
                    PutMode::Create.into(),
                )
                .await;
            match created {
                Ok(put) => return Ok(UpdateVersion::from(put)),
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(object_error(location, e).into()),
            }
            let current = match objects.get(&path).await {
                Ok(current) => current,
                Err(object_store::Error::NotFound { .. }) => continue, // released meanwhile
                Err(e) => return Err(object_error(location, e).into()),
            };
            let seen = UpdateVersion {
                e_tag: current.meta.e_tag.clone(),
                version: current.meta.version.clone(),
            };
            let bytes = current
                .bytes()
                .await
                .map_err(|e| object_error(location, e))?;
            let lease: Option<Lease> = serde_json::from_slice(&bytes).ok();
            let age_ms = lease.as_ref().map_or(i64::MAX, |l| {
                chrono::Utc::now().timestamp_millis() - l.renewed_at_ms
            });
            let ours = lease.as_ref().is_some_and(|l| l.instance == instance);
            if age_ms <= LEASE_TTL.as_millis() as i64 && !ours {
                return Err(LockError::Held {
                    location: location.url().to_string(),
                    holder: lease.map_or_else(|| "another process".into(), |l| l.holder),
                });
            }
            // Expired (its holder stopped renewing: killed, or cut off), or left by this
            // instance's killed predecessor. Take it over, unless someone else did since it was
            // read.
            let options = PutOptions::from(PutMode::Update(seen));
            match objects
                .put_opts(&path, lease_bytes(&me, instance).into(), options)
                .await
            {
                Ok(put) => {
                    tracing::warn!(
                        previous = lease.map_or_else(String::new, |l| l.holder),
                        "took over an expired writer lease"
                    );
                    return Ok(UpdateVersion::from(put));
                }
                Err(object_store::Error::Precondition { .. }) => continue,
                Err(e) => return Err(object_error(location, e).into()),
            }
        }
        Err(LockError::Held {
            location: location.url().to_string(),
            holder: "another process (the lease changed hands while it was read)".into(),
        })
    })?;
    let lost = Arc::new(AtomicBool::new(false));
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let renewer = {
        let (lost, renewing, instance) = (lost.clone(), location.clone(), instance.to_string());
        std::thread::Builder::new()
            .name("slacap-lease".into())
            .spawn(move || renew_until_stopped(&renewing, &me, &instance, version, &stopped, &lost))
            .map_err(|e| StoreError::Io {
                path: location.display(LEASE_OBJECT),
                source: e,
            })?
    };
    Ok(WriterLock {
        held: Held::Lease {
            instance: instance_lock,
            stop,
            renewer: Some(renewer),
        },
        lost,
    })
}

/// Renews the lease every third of its TTL until stopped, then deletes it (unless lost).
fn renew_until_stopped(
    location: &HistoryLocation,
    me: &str,
    instance: &str,
    mut version: UpdateVersion,
    stopped: &std::sync::mpsc::Receiver<()>,
    lost: &AtomicBool,
) {
    let path = location.object_path(LEASE_OBJECT);
    let mut renewed = std::time::Instant::now();
    // Until stopped (a message, or the lock dropped with its sender).
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(LEASE_TTL / 3)
    {
        let options = PutOptions::from(PutMode::Update(version.clone()));
        let put = super::history::block_on(location.objects().put_opts(
            &path,
            lease_bytes(me, instance).into(),
            options,
        ));
        match put {
            Ok(put) => {
                version = UpdateVersion::from(put);
                renewed = std::time::Instant::now();
            }
            Err(object_store::Error::Precondition { .. }) => {
                tracing::error!(
                    "the history's writer lease was taken over by another process; this one stops writing"
                );
                lost.store(true, Ordering::SeqCst);
                return;
            }
            Err(error) => {
                tracing::warn!(%error, "could not renew the history's writer lease");
                if renewed.elapsed() > LEASE_TTL {
                    tracing::error!(
                        "the history's writer lease expired unrenewed; this one stops writing"
                    );
                    lost.store(true, Ordering::SeqCst);
                    return;
                }
            }
        }
    }
    let _ = super::history::block_on(location.objects().delete(&path));
}
