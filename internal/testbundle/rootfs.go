package testbundle

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// BusyboxPath is the static busybox the root filesystems are made of
// (Debian's busybox-static).
const BusyboxPath = "/bin/busybox"

// layoutVersion names the layout written by buildRootfs; bump it when the
// layout changes so that old cached templates are not reused.
const layoutVersion = "1"

var (
	templateOnce sync.Once
	templateDir  string
	templateErr  error
)

const passwd = `root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
test:x:1000:1000:test user:/home/test:/bin/sh
`

const group = `root:x:0:
tty:x:5:
users:x:100:test
test:x:1000:
nogroup:x:65534:
`

// template returns a directory holding the busybox root filesystem, built
// once per test process. It is cached across processes in the temporary
// directory, keyed by the busybox binary's digest and the layout version,
// because every test binary in `go test ./...` needs the same tree.
func template() (string, error) {
	templateOnce.Do(func() {
		templateDir, templateErr = makeTemplate()
	})
	return templateDir, templateErr
}

func makeTemplate() (string, error) {
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return "", fmt.Errorf("busybox rootfs: %w (install Debian's busybox-static)", err)
	}
	if !isStatic(bb) {
		return "", fmt.Errorf("busybox rootfs: %s is not statically linked (install busybox-static, not busybox)", BusyboxPath)
	}
	sum := sha256.Sum256(bb)
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("hutch-testbundle-v%s-%d-%s", layoutVersion, os.Geteuid(), hex.EncodeToString(sum[:6])))
	if _, err := os.Stat(filepath.Join(dir, "bin", "busybox")); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "hutch-testbundle-new-")
	if err != nil {
		return "", err
	}
	if err := buildRootfs(tmp, bb); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("busybox rootfs: %w", err)
	}
	// Publish atomically; if another test process won the race, use its copy.
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, err := os.Stat(filepath.Join(dir, "bin", "busybox")); err != nil {
			return "", fmt.Errorf("busybox rootfs: publish %s: %w", dir, err)
		}
	}
	return dir, nil
}

// isStatic reports whether the ELF image has no PT_INTERP program header,
// i.e. needs no dynamic loader. Only 64-bit little-endian ELF is handled;
// anything else counts as not static.
func isStatic(b []byte) bool {
	if len(b) < 64 || !bytes.Equal(b[:4], []byte("\x7fELF")) || b[4] != 2 || b[5] != 1 {
		return false
	}
	le := func(o, n int) uint64 {
		var v uint64
		for i := n - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[o+i])
		}
		return v
	}
	phoff, phentsize, phnum := int(le(32, 8)), int(le(54, 2)), int(le(56, 2))
	for i := 0; i < phnum; i++ {
		o := phoff + i*phentsize
		if o+4 > len(b) {
			return false
		}
		if le(o, 4) == 3 { // PT_INTERP
			return false
		}
	}
	return true
}

// buildRootfs writes a busybox root filesystem into dir: the binary at
// /bin/busybox, its applets as symbolic links (what `busybox --install -s`
// does, but computed here so nothing runs as root against the host), users
// root, nobody and test (1000), and the empty mount points a runtime needs.
func buildRootfs(dir string, bb []byte) error {
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	dirs := []struct {
		path string
		mode fs.FileMode
	}{
		{"bin", 0o755}, {"sbin", 0o755}, {"usr/bin", 0o755}, {"usr/sbin", 0o755},
		{"etc", 0o755}, {"dev", 0o755}, {"proc", 0o555}, {"sys", 0o555},
		{"tmp", 0o1777 | fs.ModeSticky}, {"root", 0o700}, {"home/test", 0o755},
		{"var", 0o755}, {"run", 0o755}, {"mnt", 0o755},
	}
	for _, d := range dirs {
		p := filepath.Join(dir, d.path)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
		if err := os.Chmod(p, d.mode); err != nil {
			return err
		}
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(filepath.Join(dir, "home/test"), 1000, 1000); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), bb, 0o755); err != nil {
		return err
	}
	applets, err := listApplets()
	if err != nil {
		return err
	}
	for _, a := range applets {
		if err := os.Symlink("/bin/busybox", filepath.Join(dir, a)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd":      passwd,
		"etc/group":       group,
		"etc/hosts":       "127.0.0.1\tlocalhost\n::1\tlocalhost\n",
		"etc/hostname":    "busybox\n",
		"etc/resolv.conf": "",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// listApplets returns the applet paths of `busybox --list-full` that lie in
// bin, sbin, usr/bin or usr/sbin, relative to the root.
func listApplets() ([]string, error) {
	out, err := exec.Command(BusyboxPath, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list-full: %w", BusyboxPath, err)
	}
	var applets []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		a := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "/")
		switch filepath.Dir(a) {
		case "bin", "sbin", "usr/bin", "usr/sbin":
			if a != "bin/busybox" {
				applets = append(applets, a)
			}
		}
	}
	if len(applets) == 0 {
		return nil, fmt.Errorf("%s --list-full: no applets", BusyboxPath)
	}
	return applets, sc.Err()
}

// copyTree copies the tree at src to dst (which must not exist): directories
// and files with their modes and, as root, owners; symbolic links as links.
// Regular files are copied, never hard-linked, because containers write to
// their root filesystems; io.Copy uses copy_file_range, which reflinks on
// filesystems that can.
func copyTree(src, dst string) error {
	// Directory modes are applied last, so that a read-only directory can
	// still be filled.
	type dirMode struct {
		path string
		mode fs.FileMode
	}
	var modes []dirMode
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.Mkdir(target, 0o700); err != nil && !(rel == "." && os.IsExist(err)) {
				return err
			}
			modes = append(modes, dirMode{target, info.Mode() & (fs.ModePerm | fs.ModeSticky | fs.ModeSetuid | fs.ModeSetgid)})
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			if err := copyFile(p, target, info.Mode().Perm()); err != nil {
				return err
			}
		default:
			return fmt.Errorf("copy %s: unsupported file type %s", p, d.Type())
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
			return os.Lchown(target, int(st.Uid), int(st.Gid))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := len(modes) - 1; i >= 0; i-- {
		if err := os.Chmod(modes[i].path, modes[i].mode); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
