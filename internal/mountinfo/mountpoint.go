package mountinfo

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// IsMountPoint tells whether path is a mount point: its mount ID differs
// from its parent's (statx STATX_MNT_ID), which also sees a bind mount of
// the same filesystem, without reading the mount table. A missing path is
// not one.
func IsMountPoint(path string) (bool, error) {
	var st, pst unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, &os.PathError{Op: "statx", Path: path, Err: err}
	}
	if err := unix.Statx(unix.AT_FDCWD, filepath.Dir(path), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &pst); err != nil {
		return false, &os.PathError{Op: "statx", Path: filepath.Dir(path), Err: err}
	}
	if st.Mask&unix.STATX_MNT_ID == 0 {
		// Kernels before 5.8: fall back to the device number.
		return st.Dev_major != pst.Dev_major || st.Dev_minor != pst.Dev_minor, nil
	}
	return st.Mnt_id != pst.Mnt_id, nil
}
