//! The report folder: a run writes into `NAME.partial/` beside the final folder and replaces
//! `NAME/` only when the run is complete, so a failed or interrupted run never leaves a
//! half-written report in place of a good one.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::run_record::RenderedFile;

/// Where copies of the files benchrig rendered for the processes go.
const RENDERED_DIR: &str = "rendered";

/// Files whose presence marks a folder as a benchrig report that may be replaced.
const REPORT_MARKERS: &[&str] = &["report.md", "summary.csv"];

#[derive(Debug)]
pub struct ReportFolder {
    final_dir: PathBuf,
    staging: PathBuf,
}

impl ReportFolder {
    /// The staging folder for `final_dir`: `reports/NAME` → `reports/NAME.partial`.
    pub fn staging_path(final_dir: &Path) -> PathBuf {
        let mut name = final_dir
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_else(|| "report".into());
        name.push(".partial");
        final_dir.with_file_name(name)
    }

    /// Checks, without touching anything, that a run may later replace `final_dir`.
    pub fn check_replaceable(final_dir: &Path) -> Result<(), String> {
        if final_dir.file_name().is_none() {
            return Err(format!(
                "`{}` cannot be a report folder",
                final_dir.display()
            ));
        }
        match fs::read_dir(final_dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("cannot read `{}`: {e}", final_dir.display())),
            Ok(mut entries) => {
                let is_report = REPORT_MARKERS.iter().any(|m| final_dir.join(m).is_file());
                if is_report || entries.next().is_none() {
                    Ok(())
                } else {
                    Err(format!(
                        "`{}` exists and is not a benchrig report folder (no report.md or summary.csv); \
                         refusing to replace it — choose another folder with --out",
                        final_dir.display()
                    ))
                }
            }
        }
    }

    /// Creates a fresh staging folder (with `raw/` and `logs/`), removing a stale one left by
    /// an earlier failed run.
    pub fn create(final_dir: &Path) -> io::Result<ReportFolder> {
        let staging = Self::staging_path(final_dir);
        if staging.exists() {
            fs::remove_dir_all(&staging)?;
        }
        fs::create_dir_all(staging.join("raw"))?;
        fs::create_dir_all(staging.join("logs"))?;
        Ok(ReportFolder {
            final_dir: final_dir.to_owned(),
            staging,
        })
    }

    /// Where files are written while the run goes.
    pub fn path(&self) -> &Path {
        &self.staging
    }

    pub fn final_dir(&self) -> &Path {
        &self.final_dir
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.staging.join("logs")
    }

    pub fn raw_dir(&self) -> PathBuf {
        self.staging.join("raw")
    }

    /// Writes a whole file into the staging folder.
    pub fn write(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        fs::write(self.staging.join(name), bytes)
    }

    /// Keeps a copy of a file benchrig rendered for a process of `owner` (a variant or a
    /// service) as `rendered/OWNER/NAME`, so a reader sees the configuration that ran.
    pub fn keep_rendered(&self, owner: &str, file: &Path) -> io::Result<()> {
        let dir = self.staging.join(RENDERED_DIR).join(owner);
        fs::create_dir_all(&dir)?;
        fs::copy(file, dir.join(file.file_name().unwrap_or_default()))?;
        Ok(())
    }

    /// The files kept by [`Self::keep_rendered`], with their SHA-256, in path order.
    pub fn rendered_files(&self) -> io::Result<Vec<RenderedFile>> {
        let root = self.staging.join(RENDERED_DIR);
        let mut files = Vec::new();
        let owners = match fs::read_dir(&root) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(files),
            other => other?,
        };
        for owner in owners {
            let owner = owner?;
            for file in fs::read_dir(owner.path())? {
                let file = file?;
                let name = format!(
                    "{RENDERED_DIR}/{}/{}",
                    owner.file_name().to_string_lossy(),
                    file.file_name().to_string_lossy()
                );
                files.push(RenderedFile {
                    owner: owner.file_name().to_string_lossy().into_owned(),
                    path: name,
                    sha256: crate::manifest::sha256_hex(&fs::read(file.path())?),
                });
            }
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files)
    }

    /// Moves the complete staging folder into place, replacing the previous report.
    pub fn commit(self) -> io::Result<PathBuf> {
        if self.final_dir.exists() {
            let mut old_name = self
                .final_dir
                .file_name()
                .unwrap_or_default()
                .to_os_string();
            old_name.push(format!(".old-{}", std::process::id()));
            let old = self.final_dir.with_file_name(old_name);
            fs::rename(&self.final_dir, &old)?;
            if let Err(e) = fs::rename(&self.staging, &self.final_dir) {
                // Put the previous report back rather than leave nothing.
                let _ = fs::rename(&old, &self.final_dir);
                return Err(e);
            }
            fs::remove_dir_all(&old)?;
        } else {
            if let Some(parent) = self.final_dir.parent() {
                fs::create_dir_all(parent)?;
            }
            fs::rename(&self.staging, &self.final_dir)?;
        }
        Ok(self.final_dir)
    }
}

/// `path` relative to `workdir` when it is inside it, as benchrig shows paths.
pub fn shown<'a>(path: &'a Path, workdir: &Path) -> &'a Path {
    path.strip_prefix(workdir).unwrap_or(path)
}

/// Where this run's trials keep the files their processes render (`{{ scratch }}`); removed
/// with all it holds when dropped, however the run ends.
pub struct ScratchRoot;

impl ScratchRoot {
    fn path() -> PathBuf {
        std::env::temp_dir().join(format!("benchrig-{}", std::process::id()))
    }

    /// A directory for the files one trial's (or service's) processes render.
    pub fn dir(name: &str) -> PathBuf {
        Self::path().join(name)
    }
}

impl Drop for ScratchRoot {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(Self::path());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_files_are_kept_and_listed_with_their_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let folder = ReportFolder::create(&dir.path().join("reports/x")).unwrap();
        assert_eq!(folder.rendered_files().unwrap(), []);
        let scratch = dir.path().join("scratch");
        fs::create_dir_all(&scratch).unwrap();
        fs::write(scratch.join("front.conf"), "abc").unwrap();
        folder
            .keep_rendered("nginx-b", &scratch.join("front.conf"))
            .unwrap();
        folder
            .keep_rendered("nginx-a", &scratch.join("front.conf"))
            .unwrap();
        let files = folder.rendered_files().unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            ["rendered/nginx-a/front.conf", "rendered/nginx-b/front.conf"]
        );
        assert_eq!(files[0].owner, "nginx-a");
        // SHA-256 of "abc".
        assert!(files[0].sha256.starts_with("ba7816bf8f01cfea"));
        assert_eq!(
            fs::read_to_string(folder.path().join(&files[1].path)).unwrap(),
            "abc"
        );
    }

    #[test]
    fn commit_replaces_the_previous_report_only_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let final_dir = dir.path().join("reports/x");
        fs::create_dir_all(&final_dir).unwrap();
        fs::write(final_dir.join("report.md"), "old").unwrap();

        let folder = ReportFolder::create(&final_dir).unwrap();
        assert_eq!(folder.path(), dir.path().join("reports/x.partial"));
        folder.write("report.md", b"new").unwrap();
        assert_eq!(
            fs::read_to_string(final_dir.join("report.md")).unwrap(),
            "old"
        );

        let committed = folder.commit().unwrap();
        assert_eq!(
            fs::read_to_string(committed.join("report.md")).unwrap(),
            "new"
        );
        assert!(committed.join("raw").is_dir() && committed.join("logs").is_dir());
        let left: Vec<_> = fs::read_dir(dir.path().join("reports")).unwrap().collect();
        assert_eq!(left.len(), 1, "no staging or old folder left behind");
    }

    #[test]
    fn refuses_to_replace_a_folder_that_is_not_a_report() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let err = ReportFolder::check_replaceable(dir.path()).unwrap_err();
        assert!(err.contains("not a benchrig report folder"), "{err}");
        assert!(ReportFolder::check_replaceable(&dir.path().join("new")).is_ok());
    }
}
