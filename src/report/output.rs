//! Writing a run folder without ever leaving a half-written or mixed one.
//!
//! All files go into a fresh staging folder beside the target (`.<name>.staging-<pid>`); only when
//! every file is written and synced to disk is the staging folder renamed into place. An earlier
//! run folder at the target is first renamed aside and removed only after the swap. A target that
//! exists and is not a syncsim run folder (no `summary.json`) and not empty is never touched.

use super::RunFiles;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a run folder could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The target exists and does not look like a run folder.
    #[error(
        "{0}: refusing to replace a folder that is not a syncsim run folder (it has no summary.json); choose another --out"
    )]
    NotARunDir(PathBuf),
    /// The target exists and is a file.
    #[error("{0}: exists and is not a folder; choose another --out")]
    NotADir(PathBuf),
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes one file atomically: the bytes go to a temporary file beside it, which is synced and
/// renamed over `path`, so a reader (or a kill) sees the old file or the new one, never half.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Checks that `dir` may be (re)written, without writing anything.
pub fn check_target(dir: &Path) -> Result<(), OutputError> {
    match fs::metadata(dir) {
        Err(_) => Ok(()),
        Ok(m) if !m.is_dir() => Err(OutputError::NotADir(dir.to_path_buf())),
        Ok(_) => {
            let empty = fs::read_dir(dir).map_err(io(dir))?.next().is_none();
            if empty || dir.join("summary.json").is_file() {
                Ok(())
            } else {
                Err(OutputError::NotARunDir(dir.to_path_buf()))
            }
        }
    }
}

/// Writes `files` as the run folder `dir`, replacing an earlier run folder atomically.
pub fn write_run_dir(dir: &Path, files: &RunFiles) -> Result<(), OutputError> {
    write_run_dir_with(dir, files, &mut |_| Ok(()))
}

/// A run folder being made, for files rendered while it is written (see
/// [`write_run_dir_with`]): each file is written whole, or streamed by a function that writes its
/// contents, and then synced in the background.
pub struct Folder<'a> {
    staging: &'a Path,
    synced: &'a std::sync::mpsc::SyncSender<(PathBuf, fs::File)>,
}

/// Buffer of a streamed file (see [`Folder::stream`]).
const STREAM_BUFFER: usize = 256 << 10;

impl Folder<'_> {
    /// Writes the file at `rel` (a `/`-separated path in the folder) with `bytes`.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> Result<(), OutputError> {
        let (path, mut f) = self.create(rel)?;
        f.write_all(bytes).map_err(io(&path))?;
        self.sync(path, f);
        Ok(())
    }

    /// Writes the file at `rel` with what `fill` writes into it (through a buffer of
    /// 256 KiB), so that a file too large to hold in memory is never held whole.
    pub fn stream(
        &self,
        rel: &str,
        fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<(), OutputError> {
        let (path, f) = self.create(rel)?;
        let mut w = std::io::BufWriter::with_capacity(STREAM_BUFFER, f);
        fill(&mut w).map_err(io(&path))?;
        let f = w.into_inner().map_err(|e| io(&path)(e.into_error()))?;
        self.sync(path, f);
        Ok(())
    }

    fn create(&self, rel: &str) -> Result<(PathBuf, fs::File), OutputError> {
        let path = self.staging.join(rel);
        if let Some(p) = path.parent() {
            fs::create_dir_all(p).map_err(io(p))?;
        }
        let f = fs::File::create(&path).map_err(io(&path))?;
        Ok((path, f))
    }

    /// Hands a written file to the sync threads.
    fn sync(&self, path: PathBuf, f: fs::File) {
        self.synced
            .send((path, f))
            .expect("the sync threads run until the writer is done");
    }
}

/// [`write_run_dir`] with more files made while the folder is written: `more` is called once,
/// after `files` are written, with the [`Folder`] to write them into (so files too large to
/// hold all at once can be rendered one by one, or streamed). Nothing replaces `dir` unless
/// every file was written.
pub fn write_run_dir_with<E: From<OutputError>>(
    dir: &Path,
    files: &RunFiles,
    more: &mut dyn FnMut(&Folder<'_>) -> Result<(), E>,
) -> Result<(), E> {
    check_target(dir)?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(io(&parent))?;
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "run".into());
    let pid = std::process::id();
    let staging = parent.join(format!(".{base}.staging-{pid}"));
    let old = parent.join(format!(".{base}.old-{pid}"));
    let _ = fs::remove_dir_all(&staging);
    remove_stale_staging(&parent, &base);
    let result = (|| {
        write_synced(&staging, files, more)?;
        let replacing = dir.exists();
        if replacing {
            fs::rename(dir, &old).map_err(io(dir))?;
        }
        if let Err(e) = fs::rename(&staging, dir) {
            if replacing {
                let _ = fs::rename(&old, dir);
            }
            return Err(io(dir)(e).into());
        }
        if replacing {
            let _ = fs::remove_dir_all(&old);
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result
}

/// Removes the staging folders of `base` (`.<base>.staging-<pid>`) that runs killed mid-way left
/// in `parent`: those of processes no longer running. Only where the running processes can be
/// told (Linux's `/proc`); elsewhere they stay, for the user to remove.
fn remove_stale_staging(parent: &Path, base: &str) {
    if !cfg!(target_os = "linux") || !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{base}.staging-");
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Threads that sync written files to disk while the next ones are written: each mostly waits
/// on the disk, and the file system commits several files' syncs at once.
const SYNC_THREADS: usize = 4;
/// Written files waiting for a sync thread, at most (each an open file).
const SYNC_QUEUE: usize = 64;

/// Writes `files`, then what `more` writes, into `staging`, and returns once every file is on
/// disk (synced) or with the first error. Files are synced by [`SYNC_THREADS`] threads while the
/// next ones are written, instead of each in turn before the next (about 8 s of a `large`
/// run's 48).
fn write_synced<E: From<OutputError>>(
    staging: &Path,
    files: &RunFiles,
    more: &mut dyn FnMut(&Folder<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<(PathBuf, fs::File)>(SYNC_QUEUE);
    let rx = std::sync::Mutex::new(rx);
    let sync_error: std::sync::Mutex<Option<OutputError>> = std::sync::Mutex::new(None);
    let written = std::thread::scope(|scope| {
        for _ in 0..SYNC_THREADS {
            scope.spawn(|| {
                loop {
                    let next = rx.lock().expect("no sync thread panics").recv();
                    let Ok((path, f)) = next else {
                        return; // the writer is done
                    };
                    if let Err(e) = f.sync_all() {
                        let mut first = sync_error.lock().expect("no sync thread panics");
                        first.get_or_insert_with(|| io(&path)(e));
                    }
                }
            });
        }
        let tx = tx; // dropped when the writing is done, which ends the sync threads
        let folder = Folder {
            staging,
            synced: &tx,
        };
        for (rel, bytes) in files {
            folder.write(rel, bytes)?;
        }
        more(&folder)
    });
    written?;
    match sync_error.into_inner().expect("no sync thread panics") {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Reads every file of a run folder into memory (paths relative to `dir`, `/`-separated).
pub fn read_run_dir(dir: &Path) -> Result<RunFiles, OutputError> {
    fn walk(root: &Path, dir: &Path, out: &mut RunFiles) -> Result<(), OutputError> {
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            if path.is_dir() {
                walk(root, &path, out)?;
            } else {
                let rel = path
                    .strip_prefix(root)
                    .expect("under root")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, fs::read(&path).map_err(io(&path))?);
            }
        }
        Ok(())
    }
    let mut files = RunFiles::new();
    walk(dir, dir, &mut files)?;
    Ok(files)
}

/// Writes the plots (`plots/…`) and `report.html` among `files` into the existing run folder
/// `dir`: the new `plots/` folder is written beside the old one and swapped in, `report.html`
/// through a temporary file and a rename, so a reader never sees a mix.
pub fn write_pictures(dir: &Path, files: &RunFiles) -> Result<(), OutputError> {
    let pid = std::process::id();
    let staging = dir.join(format!(".plots.staging-{pid}"));
    let old = dir.join(format!(".plots.old-{pid}"));
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).map_err(io(&staging))?;
    for (rel, bytes) in files.iter().filter(|(p, _)| p.starts_with("plots/")) {
        let path = staging.join(rel.trim_start_matches("plots/"));
        fs::write(&path, bytes).map_err(io(&path))?;
    }
    let plots = dir.join("plots");
    if plots.exists() {
        fs::rename(&plots, &old).map_err(io(&plots))?;
    }
    fs::rename(&staging, &plots).map_err(io(&plots))?;
    let _ = fs::remove_dir_all(&old);
    if let Some(html) = files.get("report.html") {
        let tmp = dir.join(format!(".report.html.tmp-{pid}"));
        fs::write(&tmp, html).map_err(io(&tmp))?;
        fs::rename(&tmp, dir.join("report.html")).map_err(io(dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nothing but `run-s1` in `parent`: no staging or old folder left behind.
    fn only_the_run_folder_is_left(parent: &Path) {
        let leftovers: Vec<_> = fs::read_dir(parent)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("run-s1")]);
    }

    fn files(content: &str) -> RunFiles {
        let mut f = RunFiles::new();
        f.insert("summary.json".into(), content.as_bytes().to_vec());
        f.insert("sync_state/A.txt".into(), b"table".to_vec());
        f
    }

    #[test]
    fn writes_then_replaces_a_run_folder_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run-s1");
        write_run_dir(&dir, &files("one")).unwrap();
        fs::write(dir.join("stale.txt"), "from before").unwrap();
        write_run_dir(&dir, &files("two")).unwrap();
        assert_eq!(fs::read_to_string(dir.join("summary.json")).unwrap(), "two");
        assert!(!dir.join("stale.txt").exists());
        only_the_run_folder_is_left(tmp.path());
    }

    #[test]
    fn files_made_while_writing_land_in_the_folder_and_a_failure_there_replaces_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run-s1");
        write_run_dir_with(&dir, &files("one"), &mut |folder| {
            folder.write("sync_state/B.txt", b"made late")?;
            folder.stream("sync_state/B.csv", |w| {
                w.write_all(b"t")?;
                w.write_all(b"oo")
            })
        })
        .unwrap();
        assert_eq!(
            fs::read_to_string(dir.join("sync_state/B.txt")).unwrap(),
            "made late"
        );
        assert_eq!(
            fs::read_to_string(dir.join("sync_state/B.csv")).unwrap(),
            "too"
        );
        assert_eq!(
            fs::read_to_string(dir.join("sync_state/A.txt")).unwrap(),
            "table"
        );
        let err = write_run_dir_with(&dir, &files("two"), &mut |folder| {
            folder.write("sync_state/B.txt", b"half")?;
            Err(OutputError::NotADir(PathBuf::from("render failed")))
        })
        .unwrap_err();
        assert!(matches!(err, OutputError::NotADir(_)));
        // The earlier folder is untouched and no staging folder is left behind.
        assert_eq!(fs::read_to_string(dir.join("summary.json")).unwrap(), "one");
        assert_eq!(
            fs::read_to_string(dir.join("sync_state/B.txt")).unwrap(),
            "made late"
        );
        only_the_run_folder_is_left(tmp.path());
    }

    #[test]
    fn a_streamed_file_that_fails_half_way_names_its_path_and_replaces_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run-s1");
        write_run_dir(&dir, &files("one")).unwrap();
        let err = write_run_dir_with(&dir, &files("two"), &mut |folder| {
            folder.stream("deliveries.csv", |w| {
                w.write_all(&[b'x'; 3 * STREAM_BUFFER])?;
                Err(std::io::Error::other("disk full"))
            })
        })
        .unwrap_err();
        assert!(
            matches!(&err, OutputError::Io { path, .. } if path.ends_with("deliveries.csv")),
            "{err}"
        );
        assert!(err.to_string().contains("disk full"), "{err}");
        assert_eq!(fs::read_to_string(dir.join("summary.json")).unwrap(), "one");
        assert!(!dir.join("deliveries.csv").exists());
        only_the_run_folder_is_left(tmp.path());
    }

    #[test]
    fn many_files_synced_in_the_background_all_land_and_a_late_failure_replaces_nothing() {
        // Far more files than the sync queue holds, so the writer waits on the sync threads.
        let n = SYNC_QUEUE * 8;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run-s1");
        write_run_dir_with::<OutputError>(&dir, &files("one"), &mut |folder| {
            for i in 0..n {
                folder.write(
                    &format!("sync_state/n-{i}.csv"),
                    format!("row {i}").as_bytes(),
                )?;
            }
            Ok(())
        })
        .unwrap();
        let back = read_run_dir(&dir).unwrap();
        assert_eq!(back.len(), n + 2);
        for i in [0, 1, SYNC_QUEUE, n - 1] {
            assert_eq!(
                back[&format!("sync_state/n-{i}.csv")],
                format!("row {i}").as_bytes()
            );
        }
        // A failure after hundreds of files are queued: the error comes back (no thread left
        // waiting), the earlier folder stays, no staging folder is left.
        let err = write_run_dir_with(&dir, &files("two"), &mut |folder| {
            for i in 0..n {
                folder.write(&format!("sync_state/n-{i}.csv"), b"new")?;
            }
            // A file where the next one needs a folder: the file system refuses.
            folder.write("sync_state/n-0.csv/inside", b"x")
        })
        .unwrap_err();
        assert!(
            matches!(&err, OutputError::Io { path, .. } if path.ends_with("sync_state/n-0.csv")),
            "{err}"
        );
        assert_eq!(read_run_dir(&dir).unwrap(), back);
        only_the_run_folder_is_left(tmp.path());
    }

    #[test]
    #[cfg(unix)]
    fn staging_folders_left_by_dead_runs_are_removed_and_a_live_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("run-s1");
        // A pid above Linux's largest (2^22) runs nowhere; the parent of this test runs.
        let dead = tmp.path().join(".run-s1.staging-4294967295");
        let live = tmp.path().join(format!(
            ".run-s1.staging-{}",
            std::os::unix::process::parent_id()
        ));
        let other = tmp.path().join(".other-s1.staging-4294967295");
        for d in [&dead, &live, &other] {
            fs::create_dir_all(d.join("sync_state")).unwrap();
            fs::write(d.join("sync_state/A.csv"), "x").unwrap();
        }
        write_run_dir(&dir, &files("one")).unwrap();
        assert_eq!(fs::read(dir.join("summary.json")).unwrap(), b"one");
        if cfg!(target_os = "linux") {
            assert!(!dead.exists(), "a dead run's staging folder is removed");
        }
        assert!(live.exists(), "a running process's staging folder is kept");
        assert!(
            other.exists(),
            "another run folder's staging is not touched"
        );
    }

    #[test]
    fn refuses_to_replace_a_folder_that_is_not_a_run() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("precious.txt"), "keep").unwrap();
        let err = write_run_dir(tmp.path(), &files("x")).unwrap_err();
        assert!(matches!(err, OutputError::NotARunDir(_)));
        assert_eq!(
            fs::read_to_string(tmp.path().join("precious.txt")).unwrap(),
            "keep"
        );
    }
}
