//! Extended attributes copied from one open file to another: POSIX ACLs
//! (`system.posix_acl_access`), SELinux labels (`security.selinux`), file capabilities and
//! user attributes alike, so a replaced file keeps who may read it.

use std::ffi::OsString;
use std::fs::File;
use xattr::FileExt;

/// Why an attribute could not be copied.
#[derive(Debug)]
pub struct CopyError {
    pub name: OsString,
    pub error: std::io::Error,
}

/// Copies every extended attribute `from` has (that the caller may see) to `to`. A
/// filesystem without extended attributes has none to copy.
pub fn copy_all(from: &File, to: &File) -> Result<usize, CopyError> {
    let names = match from.list_xattr() {
        Ok(names) => names,
        Err(e) if is_unsupported(&e) => return Ok(0),
        Err(error) => {
            return Err(CopyError {
                name: OsString::from("(the list of attributes)"),
                error,
            })
        }
    };
    let mut copied = 0;
    for name in names {
        let value = match from.get_xattr(&name) {
            Ok(Some(v)) => v,
            // Gone since it was listed.
            Ok(None) => continue,
            Err(error) => return Err(CopyError { name, error }),
        };
        to.set_xattr(&name, &value)
            .map_err(|error| CopyError { name, error })?;
        copied += 1;
    }
    Ok(copied)
}

fn is_unsupported(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(nix::errno::Errno::ENOTSUP as i32)
}
