package native

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// overlayXattr tells the xattrs by which overlay marks its own state
// (trusted.overlay.opaque, or user.overlay.* under userxattr); they mean
// something in a diff and nothing in a full tree.
func overlayXattr(name string) bool {
	return strings.HasPrefix(name, "trusted.overlay.") || strings.HasPrefix(name, "user.overlay.")
}

func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

func isOpaque(dir string) bool {
	for _, n := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		if v, err := getXattr(dir, n); err == nil && string(v) == "y" {
			return true
		}
	}
	return false
}

// mergeDiff carries a layer in overlay's form (diff) into the full tree
// dst, so that dst shows what an overlay of diff on dst would show. diff
// is consumed: its files are moved.
func mergeDiff(ctx context.Context, diff, dst string) error {
	var st unix.Stat_t
	if err := unix.Lstat(diff, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: diff, Err: err}
	}
	if err := mergeDir(ctx, diff, dst); err != nil {
		return err
	}
	return setAttrs(diff, dst, &st, overlayXattr)
}

func mergeDir(ctx context.Context, diff, dst string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ents, err := os.ReadDir(diff)
	if err != nil {
		return err
	}
	for _, e := range ents {
		sp, dp := filepath.Join(diff, e.Name()), filepath.Join(dst, e.Name())
		var st unix.Stat_t
		if err := unix.Lstat(sp, &st); err != nil {
			return &os.PathError{Op: "lstat", Path: sp, Err: err}
		}
		var dt unix.Stat_t
		exists := true
		if err := unix.Lstat(dp, &dt); err != nil {
			if !errors.Is(err, unix.ENOENT) {
				return &os.PathError{Op: "lstat", Path: dp, Err: err}
			}
			exists = false
		}
		switch {
		case isWhiteout(&st):
			if exists {
				if err := os.RemoveAll(dp); err != nil {
					return err
				}
			}
		case st.Mode&unix.S_IFMT == unix.S_IFDIR:
			if exists && dt.Mode&unix.S_IFMT == unix.S_IFDIR {
				if isOpaque(sp) {
					if err := emptyDir(dp); err != nil {
						return err
					}
				}
			} else {
				if exists {
					if err := os.RemoveAll(dp); err != nil {
						return err
					}
				}
				if err := os.Mkdir(dp, 0o700); err != nil {
					return err
				}
			}
			if err := mergeDir(ctx, sp, dp); err != nil {
				return err
			}
			if err := setAttrs(sp, dp, &st, overlayXattr); err != nil {
				return err
			}
		default:
			if exists {
				if err := os.RemoveAll(dp); err != nil {
					return err
				}
			}
			// Same file system (both under the snapshot's directory), so
			// the inode moves with all it carries.
			if err := os.Rename(sp, dp); err != nil {
				return err
			}
		}
	}
	return nil
}

func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
