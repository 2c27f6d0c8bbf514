package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/mount"
)

// The kernel copies the data argument of mount(2) into one page and cuts
// it there (path_mount sets the page's last byte to NUL). An overlay with
// 150 layers under a root like /var/lib/hutch/snapshots/overlay needs
// about 7 KB of lowerdir.
var pageSize = os.Getpagesize()

// useFsopen lets the tests take the relative-path way on a kernel that has
// lowerdir+.
var useFsopen = true

// MountAt performs m on target like m.Mount, and also when m is an
// overlay whose options do not fit in one page (a long layer chain):
//
//  1. with the file-system context API, fsopen("overlay") and one fsconfig
//     "lowerdir+" per lower layer (kernel 6.8 and later), which has no
//     limit but overlay's own 500 layers;
//  2. on older kernels, with mount(2) and every path made relative to the
//     directory the layers share (for this snapshotter ROOT/snapshots, so
//     a lower costs about 8 bytes: "1234/fs:"), issued from a thread that
//     has its own working directory (unshare CLONE_FS + chdir), so the
//     process's working directory never changes.
//
// Any other mount goes to m.Mount. Engines and tests mount what a
// Snapshotter returns with MountAt; mount.Unmount undoes it.
func MountAt(m mount.Mount, target string) error {
	if m.Type != "overlay" {
		return m.Mount(target)
	}
	data, attrs, flags := splitOptions(m.Options)
	if len(strings.Join(data, ",")) < pageSize {
		return m.Mount(target)
	}
	var errFD error
	if useFsopen {
		errFD = mountFD(data, attrs, target)
		if errFD == nil {
			return nil
		}
		// Only a kernel that lacks the API or lowerdir+ gets the second
		// way; any other failure (a missing layer) is the answer.
		var ce *configError
		if !errors.As(errFD, &ce) {
			return errFD
		}
	}
	if err := mountRelative(data, flags, target); err != nil {
		if errFD != nil {
			return fmt.Errorf("%w (fsopen: %v)", err, errFD)
		}
		return err
	}
	return nil
}

// splitOptions sorts m.Options as mount.Mount does: the few that are mount
// flags (as MOUNT_ATTR_* for fsmount and MS_* for mount(2)) and the file
// system's own options.
func splitOptions(opts []string) (data []string, attrs int, flags uintptr) {
	for _, o := range opts {
		switch o {
		case "ro":
			attrs |= unix.MOUNT_ATTR_RDONLY
			flags |= unix.MS_RDONLY
		case "nosuid":
			attrs |= unix.MOUNT_ATTR_NOSUID
			flags |= unix.MS_NOSUID
		case "nodev":
			attrs |= unix.MOUNT_ATTR_NODEV
			flags |= unix.MS_NODEV
		case "noexec":
			attrs |= unix.MOUNT_ATTR_NOEXEC
			flags |= unix.MS_NOEXEC
		default:
			data = append(data, o)
		}
	}
	return data, attrs, flags
}

// configError is a failure while the overlay is being configured, before
// anything is mounted: on kernels before 6.8 that is how lowerdir+ fails
// (EINVAL, from overlay or from the one-page legacy option buffer).
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }
func (e *configError) Unwrap() error { return e.err }

func mountFD(data []string, attrs int, target string) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return &configError{fmt.Errorf("mount overlay on %s: fsopen: %w", target, err)}
	}
	defer unix.Close(fd)
	set := func(key, value string, flag bool) error {
		var err error
		if flag {
			err = unix.FsconfigSetFlag(fd, key)
		} else {
			err = unix.FsconfigSetString(fd, key, value)
		}
		if err != nil {
			err = fmt.Errorf("mount overlay on %s: fsconfig %s=%s: %w%s", target, key, value, err, fsLog(fd))
			if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.E2BIG) {
				return &configError{err}
			}
		}
		return err
	}
	for _, o := range data {
		k, v, hasValue := strings.Cut(o, "=")
		if k == "lowerdir" && hasValue {
			for _, l := range SplitLowers(v) {
				if err := set("lowerdir+", l, false); err != nil {
					return err
				}
			}
			continue
		}
		if err := set(k, v, !hasValue); err != nil {
			return err
		}
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		err = fmt.Errorf("mount overlay on %s: create: %w%s", target, err, fsLog(fd))
		if errors.Is(err, unix.EINVAL) {
			return &configError{err}
		}
		return err
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return fmt.Errorf("mount overlay on %s: fsmount: %w%s", target, err, fsLog(fd))
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount overlay on %s: move_mount: %w", target, err)
	}
	return nil
}

// fsLog reads what the file system said about a failure into the context
// (lines like "e overlayfs: failed to resolve '...': -2").
func fsLog(fd int) string {
	var msgs []string
	buf := make([]byte, 1024)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil || n <= 0 {
			break
		}
		msgs = append(msgs, string(bytes.TrimSpace(buf[:n])))
	}
	if len(msgs) == 0 {
		return ""
	}
	return " (" + strings.Join(msgs, "; ") + ")"
}

// SplitLowers splits a lowerdir value at the colons that are not escaped
// with a backslash, as overlay does.
func SplitLowers(v string) []string {
	var out []string
	var cur strings.Builder
	for i := 0; i < len(v); i++ {
		switch {
		case v[i] == '\\' && i+1 < len(v):
			i++
			cur.WriteByte(v[i])
		case v[i] == ':':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(v[i])
		}
	}
	return append(out, cur.String())
}

// pathOptions are the overlay options whose values are paths.
var pathOptions = map[string]bool{"lowerdir": true, "upperdir": true, "workdir": true}

// relativize rewrites the path options of data relative to the deepest
// directory that holds all of them.
func relativize(data []string) (base string, out []string, err error) {
	var paths []string
	for _, o := range data {
		k, v, _ := strings.Cut(o, "=")
		if !pathOptions[k] {
			continue
		}
		for _, p := range SplitLowers(v) {
			if !filepath.IsAbs(p) {
				return "", nil, fmt.Errorf("overlay %s=%s: not an absolute path", k, p)
			}
			paths = append(paths, filepath.Clean(p))
		}
	}
	if len(paths) == 0 {
		return "", data, nil
	}
	base = filepath.Dir(paths[0])
	for _, p := range paths {
		for base != "/" && !strings.HasPrefix(p, base+"/") {
			base = filepath.Dir(base)
		}
	}
	rel := func(p string) string {
		p = filepath.Clean(p)
		if base == "/" {
			return p[1:]
		}
		return strings.TrimPrefix(p, base+"/")
	}
	for _, o := range data {
		k, v, _ := strings.Cut(o, "=")
		if !pathOptions[k] {
			out = append(out, o)
			continue
		}
		ls := SplitLowers(v)
		for i := range ls {
			ls[i] = strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(rel(ls[i]))
		}
		out = append(out, k+"="+strings.Join(ls, ":"))
	}
	return base, out, nil
}

func mountRelative(data []string, flags uintptr, target string) error {
	target, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	base, rel, err := relativize(data)
	if err != nil {
		return fmt.Errorf("mount overlay on %s: %w", target, err)
	}
	opts := strings.Join(rel, ",")
	if len(opts) >= pageSize {
		return fmt.Errorf("mount overlay on %s: options relative to %s still %d bytes, over one page: %w", target, base, len(opts), unix.E2BIG)
	}
	errc := make(chan error, 1)
	go func() {
		// This thread gets a working directory of its own. It is never
		// unlocked: Go then ends the thread with the goroutine instead of
		// running other goroutines in a directory they do not expect.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare CLONE_FS: %w", err)
			return
		}
		if err := unix.Chdir(base); err != nil {
			errc <- fmt.Errorf("chdir %s: %w", base, err)
			return
		}
		errc <- unix.Mount("overlay", target, "overlay", flags, opts)
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("mount overlay on %s (paths relative to %s): %w", target, base, err)
	}
	return nil
}

// Supported tells whether overlay snapshots work under root: it mounts a
// tiny overlay in a temporary directory there, deletes a lower file
// through it (the upper file system must hold a whiteout: an overlay
// upper on some file systems cannot), and takes it all down again. The
// engine uses native snapshots where this fails.
func Supported(root string) error {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return fmt.Errorf("overlay on %s: %w", root, err)
	}
	dir, err := os.MkdirTemp(root, ".overlay-check-")
	if err != nil {
		return fmt.Errorf("overlay on %s: %w", root, err)
	}
	merged := filepath.Join(dir, "m")
	mounted := false
	defer func() {
		if mounted && mount.Unmount(merged) != nil {
			return // never remove a tree that still holds a mount
		}
		os.RemoveAll(dir)
	}()
	for _, d := range []string{"l", "u", "w", "m"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			return fmt.Errorf("overlay on %s: %w", root, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "l", "f"), nil, 0o600); err != nil {
		return fmt.Errorf("overlay on %s: %w", root, err)
	}
	m := mount.Mount{Type: "overlay", Source: "overlay", Options: append(options(),
		"upperdir="+filepath.Join(dir, "u"),
		"lowerdir="+filepath.Join(dir, "l"),
		"workdir="+filepath.Join(dir, "w"))}
	if err := m.Mount(merged); err != nil {
		return fmt.Errorf("overlay on %s: %w", root, err)
	}
	mounted = true
	if err := os.Remove(filepath.Join(merged, "f")); err != nil {
		return fmt.Errorf("overlay on %s: whiteout: %w", root, err)
	}
	return nil
}
