//! Atomic, permission-aware file writes (temp file + fsync + rename, so nothing is ever half-written),
//! and by-descriptor access to directories a container can write, which never follows its links.

use std::fs;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag};
use nix::unistd::{Gid, Uid};

use crate::diagnostic::Diagnostic;
use crate::i18n::{messages, phrase, tr};

messages! {
    Cannot => "cannot {0} {1}", "无法{0}：{1}";
    RefusedHint => "a container can write there and put this in place: see what replaced it (a compromised container?); matrixbox never follows links or reads special files inside a container's data",
        "容器可以写入该位置并放置了此文件：请查明是什么替换了它（容器是否已被入侵？）；matrixbox 从不跟随容器数据中的链接，也不读取其中的特殊文件";
    DeniedHint => "run as root, or choose paths you own with --config / --state-dir",
        "请以 root 身份运行，或用 --config / --state-dir 选择你有权限的路径";
    DamagedHint => "the file is damaged: move it aside and run again (matrixbox writes a new one)",
        "文件已损坏：将其移到别处后重试（matrixbox 会写入一个新文件）";
    FullHint => "the disk is full: free some space and run the command again; the previous file is intact",
        "磁盘已满：请释放一些空间后重新运行命令；原有文件完好无损";
    DirHint => "check that the directory exists and is writable", "请确认该目录存在且可写";
    SymLink => "it is a symbolic link, which matrixbox does not follow", "它是符号链接，matrixbox 不会跟随";
    NotADir => "it is not a directory", "它不是目录";
    TooBig => "it holds {0} bytes, more than the {1} expected", "它有 {0} 字节，超过预期的 {1} 字节";
    Grew => "it grew while being read", "读取时它在变大";
    NotRegular => "it is not a regular file", "它不是普通文件";
}

#[derive(Debug, thiserror::Error)]
#[error("{}", tr(M::Cannot, &[&phrase(action), &path.display()]))]
pub struct FsError {
    pub action: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl Diagnostic for FsError {
    fn hint(&self) -> Option<String> {
        Some(match self.source.kind() {
            _ if self.is_refusal() => tr(M::RefusedHint, &[]),
            io::ErrorKind::PermissionDenied => tr(M::DeniedHint, &[]),
            io::ErrorKind::InvalidData => tr(M::DamagedHint, &[]),
            _ if self.source.raw_os_error() == Some(nix::libc::ENOSPC) => tr(M::FullHint, &[]),
            _ => tr(M::DirHint, &[]),
        })
    }
}

fn err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FsError + 'a {
    move |source| FsError {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (and parents) if missing and sets its mode.
pub fn ensure_dir(dir: &Path, mode: u32) -> Result<(), FsError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(dir)
        .map_err(err("create directory", dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))
        .map_err(err("set permissions on", dir))
}

/// Writes `contents` to `path` atomically with `mode`; readers see the old or the new file, never a mix.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), FsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".matrixbox-")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(err("create a temporary file in", dir))?;
    // The umask (systemd's UMask=0077) narrows the mode given at creation: set it exactly.
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(err("set permissions on", path))?;
    tmp.write_all(contents).map_err(err("write", path))?;
    tmp.as_file().sync_all().map_err(err("sync", path))?;
    tmp.persist(path).map_err(|e| FsError {
        action: "replace",
        path: path.to_path_buf(),
        source: e.error,
    })?;
    // The rename is durable only once the directory entry is.
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err("sync directory", dir))
}

/// Like `write_atomic` but leaves the file alone when it already has these contents, so callers
/// can tell whether anything changed.
pub fn write_if_changed(path: &Path, contents: &[u8], mode: u32) -> Result<bool, FsError> {
    if fs::read(path).is_ok_and(|old| old == contents) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(err("set permissions on", path))?;
        return Ok(false);
    }
    write_atomic(path, contents, mode)?;
    Ok(true)
}

/// Gives `path` to the uid/gid a container runs as.
pub fn chown(path: &Path, uid: u32, gid: u32) -> Result<(), FsError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(err("change the owner of", path))
}

/// What root refuses to touch inside a directory a container can write: links, special files and
/// files too large to be what they claim.
fn refused(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, Refused(what.to_string()))
}

/// The cause of an error that is a refusal (see `refused`), not a damaged file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

impl FsError {
    /// Whether root refused a path a container could have put in its way.
    pub fn is_refusal(&self) -> bool {
        self.source.get_ref().is_some_and(|e| e.is::<Refused>())
    }
}

fn errno(e: Errno) -> io::Error {
    match e {
        // O_NOFOLLOW on a symbolic link; O_DIRECTORY on anything else.
        Errno::ELOOP => refused(&tr(M::SymLink, &[])),
        Errno::ENOTDIR => refused(&tr(M::NotADir, &[])),
        e => io::Error::from(e),
    }
}

/// A directory held open by descriptor. Names inside it are resolved relative to it, one component
/// at a time and never through a symbolic link, so a container that owns the directory's contents
/// cannot redirect what root does to a path outside it.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

const NOFOLLOW_DIR: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

impl Dir {
    /// Opens a directory that only root can change (the state dir); links on the way are the
    /// administrator's and are followed.
    pub fn open_trusted(path: &Path) -> Result<Dir, FsError> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(path, flags, Mode::empty())
            .map_err(|e| err("open directory", path)(errno(e)))?;
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The subdirectory `name`, refused when it is a link or not a directory; `None` if absent.
    pub fn open_dir(&self, name: &str) -> Result<Option<Dir>, FsError> {
        let path = self.path.join(name);
        match nix::fcntl::openat(&self.fd, name, NOFOLLOW_DIR, Mode::empty()) {
            Ok(fd) => Ok(Some(Dir { fd, path })),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(err("open directory", &path)(errno(e))),
        }
    }

    /// The subdirectory `name`, made with `mode` and given to `uid`:`gid` when missing. An existing
    /// one gets the same owner and mode through its descriptor, never through its path.
    pub fn ensure_dir(&self, name: &str, mode: u32, uid: u32, gid: u32) -> Result<Dir, FsError> {
        let path = self.path.join(name);
        let dir = match self.open_dir(name)? {
            Some(dir) => dir,
            None => {
                match nix::sys::stat::mkdirat(&self.fd, name, Mode::from_bits_truncate(mode)) {
                    Ok(()) | Err(Errno::EEXIST) => {}
                    Err(e) => return Err(err("create directory", &path)(errno(e))),
                }
                self.open_dir(name)?
                    .ok_or_else(|| err("open directory", &path)(io::ErrorKind::NotFound.into()))?
            }
        };
        let stat = nix::sys::stat::fstat(&dir.fd).map_err(|e| err("inspect", &path)(errno(e)))?;
        if (stat.st_uid, stat.st_gid) != (uid, gid) {
            nix::unistd::fchown(&dir.fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                .map_err(|e| err("change the owner of", &path)(errno(e)))?;
        }
        if stat.st_mode & 0o7777 != mode {
            nix::sys::stat::fchmod(&dir.fd, Mode::from_bits_truncate(mode))
                .map_err(|e| err("set permissions on", &path)(errno(e)))?;
        }
        Ok(dir)
    }

    /// Reads the regular file `name` when it holds at most `limit` bytes; `None` if absent. A link,
    /// a FIFO, a device or a larger file is refused without blocking or reading it.
    pub fn read_small(&self, name: &str, limit: usize) -> Result<Option<Vec<u8>>, FsError> {
        let path = self.path.join(name);
        let Some((file, size)) = self.open_regular(name)? else {
            return Ok(None);
        };
        if size > limit as u64 {
            return Err(err("read", &path)(refused(&tr(
                M::TooBig,
                &[&size, &limit],
            ))));
        }
        // Bounded even if the file grows between fstat and read.
        let mut buf = Vec::with_capacity(limit + 1);
        io::Read::read_to_end(&mut io::Read::take(file, limit as u64 + 1), &mut buf)
            .map_err(err("read", &path))?;
        if buf.len() > limit {
            return Err(err("read", &path)(refused(&tr(M::Grew, &[]))));
        }
        Ok(Some(buf))
    }

    /// The names in this directory (without `.` and `..`), read through its descriptor.
    pub fn entries(&self) -> Result<Vec<String>, FsError> {
        let fail = |e| err("list", &self.path)(errno(e));
        let mut dir = nix::dir::Dir::openat(
            &self.fd,
            ".",
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(fail)?;
        let mut names = Vec::new();
        for entry in dir.iter() {
            let name = entry
                .map_err(fail)?
                .file_name()
                .to_string_lossy()
                .into_owned();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Whether `name` is a directory (not a link to one); `None` if absent.
    pub fn is_dir(&self, name: &str) -> Result<Option<bool>, FsError> {
        match nix::sys::stat::fstatat(&self.fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(
                SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR,
            )),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(err("inspect", &self.path.join(name))(errno(e))),
        }
    }

    /// Opens the regular file `name` for reading, with its size; a link, a FIFO, a device or a
    /// directory is refused without blocking. `None` if absent.
    pub fn open_regular(&self, name: &str) -> Result<Option<(fs::File, u64)>, FsError> {
        let path = self.path.join(name);
        let flags = OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC;
        let fd = match nix::fcntl::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(err("read", &path)(errno(e))),
        };
        let stat = nix::sys::stat::fstat(&fd).map_err(|e| err("inspect", &path)(errno(e)))?;
        if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(err("read", &path)(refused(&tr(M::NotRegular, &[]))));
        }
        Ok(Some((fs::File::from(fd), stat.st_size as u64)))
    }

    /// Creates (or truncates) the regular file `name` with `mode`, owned by `uid`:`gid`; a link in
    /// its place is refused, never followed.
    pub fn create_file(
        &self,
        name: &str,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<fs::File, FsError> {
        let path = self.path.join(name);
        let flags = OFlag::O_WRONLY
            | OFlag::O_CREAT
            | OFlag::O_TRUNC
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::openat(&self.fd, name, flags, Mode::from_bits_truncate(mode))
            .map_err(|e| err("create", &path)(errno(e)))?;
        let stat = nix::sys::stat::fstat(&fd).map_err(|e| err("inspect", &path)(errno(e)))?;
        if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(err("create", &path)(refused(&tr(M::NotRegular, &[]))));
        }
        nix::unistd::fchown(&fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
            .map_err(|e| err("change the owner of", &path)(errno(e)))?;
        nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(mode))
            .map_err(|e| err("set permissions on", &path)(errno(e)))?;
        Ok(fs::File::from(fd))
    }

    /// Removes the entry `name` if it is not a directory; a link is removed, never its target.
    /// Returns whether something was removed.
    pub fn remove_file(&self, name: &str) -> Result<bool, FsError> {
        match nix::unistd::unlinkat(&self.fd, name, nix::unistd::UnlinkatFlags::NoRemoveDir) {
            Ok(()) => Ok(true),
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(err("remove", &self.path.join(name))(errno(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_both_languages_with_the_same_placeholders() {
        crate::i18n::assert_complete(M::ALL);
    }

    #[test]
    fn a_damaged_file_is_not_mistaken_for_a_refusal() {
        let damaged = FsError {
            action: "parse",
            path: "/x".into(),
            source: io::Error::new(io::ErrorKind::InvalidData, "not JSON"),
        };
        assert!(!damaged.is_refusal());
        assert!(damaged.hint().unwrap().contains("damaged"));
        let refusal = FsError {
            source: refused("a link"),
            ..damaged
        };
        assert!(refusal.is_refusal());
        assert!(refusal.hint().unwrap().contains("never follows links"));
    }
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn atomic_write_sets_mode_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secret");
        write_atomic(&file, b"one", 0o600).unwrap();
        assert_eq!(fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
        assert!(write_if_changed(&file, b"two", 0o600).unwrap());
        assert!(!write_if_changed(&file, b"two", 0o600).unwrap());
        assert_eq!(fs::read(&file).unwrap(), b"two");
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left behind");
    }

    #[test]
    fn failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("missing-dir").join("f");
        assert!(write_atomic(&file, b"x", 0o600).is_err());
        assert!(!file.exists());
    }

    /// Listing, reading and writing inside a container's directory never goes through a link.
    #[test]
    fn listing_and_files_by_descriptor_refuse_links() {
        let base = tempfile::tempdir().unwrap();
        let outside = base.path().join("outside");
        fs::write(&outside, "host file").unwrap();
        let state = Dir::open_trusted(base.path()).unwrap();
        let data = state.ensure_dir("data", 0o700, 0, 0).unwrap();
        fs::write(data.path().join("b"), "media").unwrap();
        fs::create_dir(data.path().join("a")).unwrap();
        std::os::unix::fs::symlink(&outside, data.path().join("c")).unwrap();
        assert_eq!(data.entries().unwrap(), ["a", "b", "c"]);
        assert_eq!(data.is_dir("a").unwrap(), Some(true));
        assert_eq!(
            data.is_dir("c").unwrap(),
            Some(false),
            "a link is not followed"
        );
        assert_eq!(data.is_dir("missing").unwrap(), None);
        let (mut file, size) = data.open_regular("b").unwrap().unwrap();
        let mut text = String::new();
        io::Read::read_to_string(&mut file, &mut text).unwrap();
        assert_eq!((text.as_str(), size), ("media", 5));
        assert!(data.open_regular("c").unwrap_err().is_refusal());
        assert!(data.open_regular("a").unwrap_err().is_refusal());
        assert!(data.open_regular("missing").unwrap().is_none());
        assert!(data.create_file("c", 0o640, 0, 0).unwrap_err().is_refusal());
        assert_eq!(fs::read_to_string(&outside).unwrap(), "host file");
        let mut new = data.create_file("d", 0o640, 0, 0).unwrap();
        new.write_all(b"restored").unwrap();
        assert_eq!(
            fs::metadata(data.path().join("d")).unwrap().mode() & 0o777,
            0o640
        );
    }

    /// What a container could put in its writable mount, and what root must do with each.
    #[test]
    fn dir_never_follows_what_a_container_planted() {
        let base = tempfile::tempdir().unwrap();
        let victim = base.path().join("victim");
        fs::create_dir(&victim).unwrap();
        fs::write(victim.join("PG_VERSION"), "15\n").unwrap();
        let victim_mode = fs::metadata(&victim).unwrap().mode();
        let state = Dir::open_trusted(base.path()).unwrap();
        let data = state.ensure_dir("data", 0o700, 0, 0).unwrap();
        assert_eq!(fs::metadata(data.path()).unwrap().mode() & 0o7777, 0o700);

        fs::write(data.path().join("PG_VERSION"), "15\n").unwrap();
        assert_eq!(
            data.read_small("PG_VERSION", 64).unwrap().as_deref(),
            Some(&b"15\n"[..])
        );
        assert_eq!(data.read_small("missing", 64).unwrap(), None);

        let refused = |name: &str| {
            let e = data.read_small(name, 64).unwrap_err();
            assert_eq!(e.source.kind(), io::ErrorKind::InvalidData, "{name}: {e:?}");
            assert!(e.hint().unwrap().contains("never follows links"));
        };
        std::os::unix::fs::symlink(victim.join("PG_VERSION"), data.path().join("link")).unwrap();
        refused("link");
        std::os::unix::fs::symlink("/dev/zero", data.path().join("zero")).unwrap();
        refused("zero");
        nix::unistd::mkfifo(&data.path().join("fifo"), Mode::from_bits_truncate(0o600)).unwrap();
        refused("fifo");
        fs::write(data.path().join("big"), vec![b'1'; 65]).unwrap();
        refused("big");
        fs::create_dir(data.path().join("dir")).unwrap();
        refused("dir");

        std::os::unix::fs::symlink(&victim, data.path().join("media")).unwrap();
        assert_eq!(
            data.open_dir("media").unwrap_err().source.kind(),
            io::ErrorKind::InvalidData
        );
        assert!(data.ensure_dir("media", 0o700, 0, 0).is_err());
        assert!(data.remove_file("link").unwrap(), "the link goes");
        assert!(!data.remove_file("link").unwrap());
        assert!(data.remove_file("media").unwrap());
        assert!(victim.join("PG_VERSION").exists(), "never the target");
        assert_eq!(fs::metadata(&victim).unwrap().mode(), victim_mode);
    }
}
