// Package testbundle makes OCI bundles for tests: a busybox root filesystem
// from Debian's busybox-static and a config.json from spec.Default.
//
//	b := testbundle.New(t, testbundle.WithArgs("hostname"))
//	out := run(t, "run", "--bundle", b.Dir, id)
//
// The root filesystem is copied from a template built once per test process
// (and cached in the temporary directory across processes), so a bundle costs
// a few milliseconds. Each bundle is removed when the test ends.
package testbundle

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/spec"
)

// Bundle is an OCI bundle on disk.
type Bundle struct {
	// Dir is the bundle directory, holding config.json and rootfs/.
	Dir string
	// Rootfs is the absolute path of the root filesystem.
	Rootfs string
	// Spec is the config; call Save after changing it.
	Spec *specs.Spec

	t testing.TB
}

// Option changes a bundle before its config.json is first written.
type Option func(*Bundle)

// WithArgs sets the container process's arguments.
func WithArgs(args ...string) Option {
	return func(b *Bundle) { b.Spec.Process.Args = args }
}

// WithTerminal gives the process a terminal (process.terminal true); the
// runtime then needs --console-socket.
func WithTerminal() Option {
	return func(b *Bundle) { b.Spec.Process.Terminal = true }
}

// WithEnv adds variables ("NAME=value") to the process environment,
// replacing those of the same name.
func WithEnv(env ...string) Option {
	return func(b *Bundle) {
		for _, kv := range env {
			name, _, _ := strings.Cut(kv, "=")
			b.Spec.Process.Env = slices.DeleteFunc(b.Spec.Process.Env, func(e string) bool {
				return strings.HasPrefix(e, name+"=")
			})
			b.Spec.Process.Env = append(b.Spec.Process.Env, kv)
		}
	}
}

// WithCwd sets the process's working directory.
func WithCwd(dir string) Option {
	return func(b *Bundle) { b.Spec.Process.Cwd = dir }
}

// WithUser sets the process's uid and gid.
func WithUser(uid, gid uint32) Option {
	return func(b *Bundle) { b.Spec.Process.User.UID, b.Spec.Process.User.GID = uid, gid }
}

// WithHostname sets the hostname (the spec's default is "runc").
func WithHostname(name string) Option {
	return func(b *Bundle) { b.Spec.Hostname = name }
}

// WithWritableRootfs makes root.readonly false.
func WithWritableRootfs() Option {
	return func(b *Bundle) { b.Spec.Root.Readonly = false }
}

// WithNamespace adds a namespace of type typ, joined at path if path is
// not empty, replacing one of the same type.
func WithNamespace(typ specs.LinuxNamespaceType, path string) Option {
	return func(b *Bundle) {
		WithoutNamespace(typ)(b)
		b.Spec.Linux.Namespaces = append(b.Spec.Linux.Namespaces, specs.LinuxNamespace{Type: typ, Path: path})
	}
}

// WithoutNamespace removes the namespace of type typ, so the container
// shares the runtime's.
func WithoutNamespace(typ specs.LinuxNamespaceType) Option {
	return func(b *Bundle) {
		b.Spec.Linux.Namespaces = slices.DeleteFunc(b.Spec.Linux.Namespaces, func(ns specs.LinuxNamespace) bool {
			return ns.Type == typ
		})
	}
}

// WithUserNamespace adds a user namespace mapping container ids 0..size-1 to
// host ids hostID..hostID+size-1, for both uids and gids.
func WithUserNamespace(hostID, size uint32) Option {
	return func(b *Bundle) {
		WithNamespace(specs.UserNamespace, "")(b)
		m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: hostID, Size: size}}
		b.Spec.Linux.UIDMappings = m
		b.Spec.Linux.GIDMappings = slices.Clone(m)
		// The tree was written by root: give it to the mapped root, as an
		// engine's id-mapped layers would, so the container owns its files.
		b.chownRootfs(int(hostID))
	}
}

// WithRootless applies spec.Rootless, as `runc spec --rootless` does.
func WithRootless() Option {
	return func(b *Bundle) { spec.Rootless(b.Spec) }
}

// WithMount appends a mount.
func WithMount(m specs.Mount) Option {
	return func(b *Bundle) { b.Spec.Mounts = append(b.Spec.Mounts, m) }
}

// WithFile writes a file into the root filesystem (path is absolute within
// the container).
func WithFile(path, content string, mode fs.FileMode) Option {
	return func(b *Bundle) { b.WriteFile(path, content, mode) }
}

// WithBinary copies a host file (such as a static test helper) into the root
// filesystem at path, executable.
func WithBinary(hostPath, path string) Option {
	return func(b *Bundle) {
		b.t.Helper()
		dst := b.Path(path)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			b.t.Fatal(err)
		}
		os.Remove(dst)
		if err := copyFile(hostPath, dst, 0o755); err != nil {
			b.t.Fatalf("testbundle: %v", err)
		}
	}
}

// WithSpec calls f with the spec, for any change the other options lack.
func WithSpec(f func(*specs.Spec)) Option {
	return func(b *Bundle) { f(b.Spec) }
}

// New makes a bundle in a new temporary directory, removed when the test
// ends. The config is spec.Default() with terminal false, changed by opts in
// order.
func New(t testing.TB, opts ...Option) *Bundle {
	t.Helper()
	tmpl, err := template()
	if err != nil {
		t.Fatalf("testbundle: %v", err)
	}
	// Not t.TempDir: its directories are 0700, and a container in a user
	// namespace must be able to reach its rootfs through them.
	dir, err := os.MkdirTemp("", "hutch-bundle-")
	if err != nil {
		t.Fatalf("testbundle: %v", err)
	}
	t.Cleanup(func() { removeBundle(t, dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("testbundle: %v", err)
	}
	b := &Bundle{Dir: dir, Rootfs: filepath.Join(dir, "rootfs"), Spec: spec.Default(), t: t}
	if err := copyTree(tmpl, b.Rootfs); err != nil {
		t.Fatalf("testbundle: copy rootfs: %v", err)
	}
	b.Spec.Process.Terminal = false
	for _, o := range opts {
		o(b)
	}
	b.Save()
	return b
}

// Save writes b.Spec to config.json.
func (b *Bundle) Save() {
	b.t.Helper()
	data, err := json.MarshalIndent(b.Spec, "", "\t")
	if err != nil {
		b.t.Fatalf("testbundle: %v", err)
	}
	if err := os.WriteFile(filepath.Join(b.Dir, "config.json"), append(data, '\n'), 0o644); err != nil {
		b.t.Fatalf("testbundle: %v", err)
	}
}

// Path returns the host path of path inside the root filesystem. It does not
// resolve symbolic links.
func (b *Bundle) Path(path string) string {
	return filepath.Join(b.Rootfs, filepath.Clean("/"+path))
}

// WriteFile writes a file into the root filesystem, making its parents.
func (b *Bundle) WriteFile(path, content string, mode fs.FileMode) {
	b.t.Helper()
	p := b.Path(path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.t.Fatalf("testbundle: %v", err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		b.t.Fatalf("testbundle: %v", err)
	}
	if err := os.Chmod(p, mode); err != nil {
		b.t.Fatalf("testbundle: %v", err)
	}
}

// ReadFile returns the content of a file in the root filesystem.
func (b *Bundle) ReadFile(path string) string {
	b.t.Helper()
	data, err := os.ReadFile(b.Path(path))
	if err != nil {
		b.t.Fatalf("testbundle: %v", err)
	}
	return string(data)
}

// chownRootfs shifts the owners of every file in the root filesystem by
// hostID (root's files go to hostID, the test user's to hostID+1000).
func (b *Bundle) chownRootfs(hostID int) {
	b.t.Helper()
	if hostID == 0 || os.Geteuid() != 0 {
		return
	}
	err := filepath.WalkDir(b.Rootfs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		return os.Lchown(p, hostID+int(st.Uid), hostID+int(st.Gid))
	})
	if err != nil {
		b.t.Fatalf("testbundle: chown rootfs: %v", err)
	}
}

// removeBundle removes dir, refusing to descend into anything mounted
// below it: a runtime that left a mount in the bundle is a bug the test must
// report, and removing through the mount would delete the mount's source.
func removeBundle(t testing.TB, dir string) {
	if mounts := mountsUnder(dir); len(mounts) > 0 {
		t.Errorf("testbundle: mounts left under the bundle, not removing it: %s", strings.Join(mounts, ", "))
		return
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil {
		return
	}
	if err := removeOneFS(dir, st.Dev); err != nil {
		t.Errorf("testbundle: remove %s: %v", dir, err)
	}
}

// mountsUnder lists the mount points of this mount namespace at or below dir.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	return out
}

// unescapeMountinfo undoes the octal escapes (\040 for space, ...) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%3o", &v); err == nil {
				sb.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

// removeOneFS removes path and everything below it that lies on device dev,
// like rm -rf --one-file-system.
func removeOneFS(path string, dev uint64) error {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	if st.Dev != dev {
		return fmt.Errorf("%s is on another filesystem", path)
	}
	if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		// Make sure we can list and empty it, whatever mode the test left.
		os.Chmod(path, 0o700)
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := removeOneFS(filepath.Join(path, e.Name()), dev); err != nil {
				return err
			}
		}
	}
	return os.Remove(path)
}
