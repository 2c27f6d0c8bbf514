package spec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/runtime/specconv"
)

const testID = "0123456789abcdef0123456789abcdef"

func strs(s ...string) *[]string { return &s }

// build runs Build and fails the test on an error.
func build(t *testing.T, o *Options) *specs.Spec {
	t.Helper()
	if o.ID == "" {
		o.ID = testID
	}
	s, err := Build(o)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return s
}

// buildErr runs Build and returns its error, which must be InvalidArgument.
func buildErr(t *testing.T, o *Options) string {
	t.Helper()
	if o.ID == "" {
		o.ID = testID
	}
	_, err := Build(o)
	if err == nil {
		t.Fatalf("Build(%+v) succeeded", o)
	}
	if !errdefs.IsInvalidArgument(err) {
		t.Errorf("%v is not InvalidArgument", err)
	}
	return err.Error()
}

// Docker's documented rules (docs "ENTRYPOINT / CMD interaction", `docker
// run --entrypoint`) and its daemon's merge(): the image's Cmd is kept only
// when neither --entrypoint nor a command is given; --entrypoint "" resets.
func TestCommand(t *testing.T) {
	both := &v1.Config{Entrypoint: []string{"/ep", "-x"}, Cmd: []string{"c1", "c2"}}
	cmdOnly := &v1.Config{Cmd: []string{"sh"}}
	epOnly := &v1.Config{Entrypoint: []string{"/ep"}}
	for _, tc := range []struct {
		name string
		img  *v1.Config
		ep   *[]string
		cmd  []string
		want []string // nil: "no command specified"
	}{
		{"image both", both, nil, nil, []string{"/ep", "-x", "c1", "c2"}},
		{"image both, cmd", both, nil, []string{"a"}, []string{"/ep", "-x", "a"}},
		{"image both, entrypoint drops image cmd", both, strs("/e"), nil, []string{"/e"}},
		{"image both, entrypoint and cmd", both, strs("/e"), []string{"a"}, []string{"/e", "a"}},
		{"image both, entrypoint reset", both, strs(), nil, nil},
		{"image both, entrypoint \"\"", both, strs(""), nil, nil},
		{"image both, entrypoint reset, cmd", both, strs(""), []string{"a", "b"}, []string{"a", "b"}},
		{"image cmd", cmdOnly, nil, nil, []string{"sh"}},
		{"image cmd, cmd", cmdOnly, nil, []string{"ls", "-l"}, []string{"ls", "-l"}},
		{"image cmd, entrypoint", cmdOnly, strs("/e"), nil, []string{"/e"}},
		{"image entrypoint", epOnly, nil, nil, []string{"/ep"}},
		{"image entrypoint, cmd", epOnly, nil, []string{"a"}, []string{"/ep", "a"}},
		{"image entrypoint, empty cmd keeps image's", epOnly, nil, []string{}, []string{"/ep"}},
		{"no image", nil, nil, nil, nil},
		{"no image, cmd", nil, nil, []string{"true"}, []string{"true"}},
		{"entrypoint of several words", nil, strs("/bin/sh", "-c"), []string{"echo hi"}, []string{"/bin/sh", "-c", "echo hi"}},
	} {
		o := &Options{ID: testID, ImageConfig: tc.img, Entrypoint: tc.ep, Cmd: tc.cmd}
		s, err := Build(o)
		if tc.want == nil {
			if err == nil || !strings.Contains(err.Error(), "no command specified") {
				t.Errorf("%s: args %v, err %v; want no command specified", tc.name, s.Process.Args, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !slices.Equal(s.Process.Args, tc.want) {
			t.Errorf("%s: args %q, want %q", tc.name, s.Process.Args, tc.want)
		}
	}
	// Build does not write into the image's config.
	if !slices.Equal(both.Entrypoint, []string{"/ep", "-x"}) || !slices.Equal(both.Cmd, []string{"c1", "c2"}) {
		t.Errorf("image config changed: %+v", both)
	}
}

func TestInit(t *testing.T) {
	s := build(t, &Options{Cmd: []string{"sleep", "1"}, Init: "/usr/libexec/tini"})
	if want := []string{InitPath, "--", "sleep", "1"}; !slices.Equal(s.Process.Args, want) {
		t.Errorf("args %q, want %q", s.Process.Args, want)
	}
	m := s.Mounts[len(s.Mounts)-1]
	if m.Destination != InitPath || m.Source != "/usr/libexec/tini" || m.Type != "bind" || !slices.Equal(m.Options, []string{"bind", "ro"}) {
		t.Errorf("init mount %+v", m)
	}
	// In the host's PID namespace, or another container's, there is an
	// init already.
	for _, pid := range []map[specs.LinuxNamespaceType]string{
		{specs.MountNamespace: ""},
		{specs.MountNamespace: "", specs.PIDNamespace: "/proc/1/ns/pid"},
	} {
		s := build(t, &Options{Cmd: []string{"sleep"}, Init: "/tini", Namespaces: pid})
		if s.Process.Args[0] != "sleep" || slices.ContainsFunc(s.Mounts, func(m specs.Mount) bool { return m.Destination == InitPath }) {
			t.Errorf("init with %v: args %q", pid, s.Process.Args)
		}
	}
}

func TestEnv(t *testing.T) {
	img := &v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/img/bin", "A=1", "LANG=C"}}
	host, _ := os.Hostname()
	for _, tc := range []struct {
		name     string
		img      *v1.Config
		env      []string
		terminal bool
		hostname string
		ns       map[specs.LinuxNamespaceType]string
		want     []string
	}{
		{"no image env", &v1.Config{Cmd: []string{"sh"}}, nil, false, "", nil,
			[]string{"PATH=" + DefaultPathEnv, "HOSTNAME=0123456789ab", "HOME=/"}},
		{"image env", img, nil, false, "", nil,
			[]string{"PATH=/img/bin", "HOSTNAME=0123456789ab", "A=1", "LANG=C", "HOME=/"}},
		// Docker's merge puts the user's first, then the image's it does
		// not name.
		{"user adds", img, []string{"B=2"}, false, "", nil,
			[]string{"PATH=/img/bin", "HOSTNAME=0123456789ab", "B=2", "A=1", "LANG=C", "HOME=/"}},
		{"user overrides", img, []string{"A=9", "PATH=/mine"}, false, "", nil,
			[]string{"PATH=/mine", "HOSTNAME=0123456789ab", "A=9", "LANG=C", "HOME=/"}},
		{"later wins", img, []string{"A=2", "A=3"}, false, "", nil,
			[]string{"PATH=/img/bin", "HOSTNAME=0123456789ab", "A=3", "LANG=C", "HOME=/"}},
		// -e A with A unset in the client: the image's A goes too.
		{"bare key unsets", img, []string{"A"}, false, "", nil,
			[]string{"PATH=/img/bin", "HOSTNAME=0123456789ab", "LANG=C", "HOME=/"}},
		{"bare PATH unsets the default", &v1.Config{Cmd: []string{"sh"}}, []string{"PATH"}, false, "", nil,
			[]string{"HOSTNAME=0123456789ab", "HOME=/"}},
		{"empty value kept", img, []string{"A="}, false, "", nil,
			[]string{"PATH=/img/bin", "HOSTNAME=0123456789ab", "A=", "LANG=C", "HOME=/"}},
		{"terminal", img, nil, true, "", nil,
			[]string{"PATH=/img/bin", "HOSTNAME=0123456789ab", "TERM=xterm", "A=1", "LANG=C", "HOME=/"}},
		{"terminal, user TERM", img, []string{"TERM=vt100"}, true, "", nil,
			[]string{"PATH=/img/bin", "HOSTNAME=0123456789ab", "TERM=vt100", "A=1", "LANG=C", "HOME=/"}},
		{"hostname", img, nil, false, "web", nil,
			[]string{"PATH=/img/bin", "HOSTNAME=web", "A=1", "LANG=C", "HOME=/"}},
		{"user HOSTNAME and HOME", img, []string{"HOSTNAME=x", "HOME=/h"}, false, "", nil,
			[]string{"PATH=/img/bin", "HOSTNAME=x", "HOME=/h", "A=1", "LANG=C"}},
		{"host UTS namespace", img, nil, false, "", map[specs.LinuxNamespaceType]string{specs.MountNamespace: ""},
			[]string{"PATH=/img/bin", "HOSTNAME=" + host, "A=1", "LANG=C", "HOME=/"}},
		{"value with =", nil, []string{"X=a=b"}, false, "", nil,
			[]string{"PATH=" + DefaultPathEnv, "HOSTNAME=0123456789ab", "X=a=b", "HOME=/"}},
	} {
		o := &Options{ImageConfig: tc.img, Env: tc.env, Terminal: tc.terminal, Hostname: tc.hostname, Namespaces: tc.ns}
		if tc.img == nil {
			o.Cmd = []string{"sh"}
		}
		s := build(t, o)
		if !slices.Equal(s.Process.Env, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, s.Process.Env, tc.want)
		}
	}
	if !slices.Equal(img.Env, []string{"PATH=/img/bin", "A=1", "LANG=C"}) {
		t.Errorf("image env changed: %q", img.Env)
	}
}

func TestUserAndHome(t *testing.T) {
	rootfs := fakeRoot(t, map[string]string{"etc/passwd": testPasswd, "etc/group": testGroup})
	img := &v1.Config{Cmd: []string{"sh"}, User: "app"}
	s := build(t, &Options{Rootfs: rootfs, ImageConfig: img})
	if u := s.Process.User; u.UID != 1000 || u.GID != 1000 || !slices.Equal(u.AdditionalGids, []uint32{1000, 10, 44}) {
		t.Errorf("image user: %+v", u)
	}
	if !slices.Contains(s.Process.Env, "HOME=/home/app") {
		t.Errorf("env %q lacks HOME=/home/app", s.Process.Env)
	}
	s = build(t, &Options{Rootfs: rootfs, ImageConfig: img, User: "daemon:video", GroupAdd: []string{"1234"}})
	if u := s.Process.User; u.UID != 2 || u.GID != 44 || !slices.Equal(u.AdditionalGids, []uint32{44, 1234}) {
		t.Errorf("-u daemon:video --group-add 1234: %+v", u)
	}
	if s.Root.Path != rootfs {
		t.Errorf("root.path %q", s.Root.Path)
	}
	msg := buildErr(t, &Options{Rootfs: rootfs, ImageConfig: img, User: "nobody2"})
	if msg != `spec: --user "nobody2": no such user in the image's /etc/passwd` {
		t.Errorf("error %q", msg)
	}
}

func TestWorkingDir(t *testing.T) {
	rootfs := fakeRoot(t, map[string]string{"etc/hosts": "x", "escape": "->../../../outside"})
	host := outside(rootfs)
	os.Mkdir(filepath.Join(host, "outside"), 0o755)
	img := &v1.Config{Cmd: []string{"sh"}, WorkingDir: "/srv/app"}

	s := build(t, &Options{Rootfs: rootfs, ImageConfig: img})
	if s.Process.Cwd != "/srv/app" {
		t.Errorf("cwd %q", s.Process.Cwd)
	}
	if fi, err := os.Stat(filepath.Join(rootfs, "srv/app")); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Errorf("image WorkingDir not made 0755: %v %v", fi, err)
	}
	s = build(t, &Options{Rootfs: rootfs, ImageConfig: img, WorkingDir: "/escape/../escape/w/./"})
	if s.Process.Cwd != "/escape/w" {
		t.Errorf("cwd %q, want the cleaned path", s.Process.Cwd)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "outside/w")); err != nil {
		t.Errorf("-w through a symlink: not made inside the root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(host, "outside/w")); err == nil {
		t.Error("-w through a symlink made a directory outside the root")
	}
	if s := build(t, &Options{Rootfs: rootfs, Cmd: []string{"sh"}}); s.Process.Cwd != "/" {
		t.Errorf("no WorkingDir: cwd %q", s.Process.Cwd)
	}
	if msg := buildErr(t, &Options{Rootfs: rootfs, ImageConfig: img, WorkingDir: "/etc/hosts/x"}); msg != `spec: --workdir "/etc/hosts/x": cannot mkdir: not a directory in the image` {
		t.Errorf("error %q", msg)
	}
	if msg := buildErr(t, &Options{ImageConfig: img, WorkingDir: "rel"}); msg != `spec: --workdir "rel": the working directory needs to be an absolute path` {
		t.Errorf("error %q", msg)
	}
	if msg := buildErr(t, &Options{ImageConfig: &v1.Config{Cmd: []string{"sh"}, WorkingDir: "rel"}}); !strings.Contains(msg, "the image's WorkingDir") {
		t.Errorf("error %q", msg)
	}
}

func TestHostname(t *testing.T) {
	s := build(t, &Options{Cmd: []string{"sh"}, Domainname: "example.org"})
	if s.Hostname != "0123456789ab" || s.Domainname != "example.org" {
		t.Errorf("hostname %q domainname %q", s.Hostname, s.Domainname)
	}
	s = build(t, &Options{Cmd: []string{"sh"}, ID: "abc", Hostname: "web"})
	if s.Hostname != "web" {
		t.Errorf("hostname %q", s.Hostname)
	}
	for _, ns := range []map[specs.LinuxNamespaceType]string{
		{specs.PIDNamespace: ""},
		{specs.UTSNamespace: "/proc/1/ns/uts"},
	} {
		s = build(t, &Options{Cmd: []string{"sh"}, Hostname: "web", Domainname: "d", Namespaces: ns})
		if s.Hostname != "" || s.Domainname != "" {
			t.Errorf("UTS %v: hostname %q domainname %q: the runtime would rename a namespace not the container's", ns, s.Hostname, s.Domainname)
		}
	}
	if msg := buildErr(t, &Options{Cmd: []string{"sh"}, Hostname: strings.Repeat("h", 65)}); !strings.Contains(msg, "too long (maximum 64 bytes)") {
		t.Errorf("error %q", msg)
	}
}

func TestNamespaces(t *testing.T) {
	s := build(t, &Options{Cmd: []string{"sh"}})
	want := []specs.LinuxNamespace{{Type: "pid"}, {Type: "network"}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"}, {Type: "cgroup"}}
	if !slices.Equal(s.Linux.Namespaces, want) {
		t.Errorf("default namespaces %v", s.Linux.Namespaces)
	}
	s = build(t, &Options{Cmd: []string{"sh"}, Namespaces: map[specs.LinuxNamespaceType]string{
		specs.NetworkNamespace: "/run/hutch/netns/x", specs.PIDNamespace: "", specs.UserNamespace: "",
	}})
	want = []specs.LinuxNamespace{{Type: "pid"}, {Type: "network", Path: "/run/hutch/netns/x"}, {Type: "mount"}, {Type: "user"}}
	if !slices.Equal(s.Linux.Namespaces, want) {
		t.Errorf("namespaces %v, want %v", s.Linux.Namespaces, want)
	}
}

func TestCapabilities(t *testing.T) {
	docker := []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
		"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
	}
	all := loadCaps().current
	if len(all) < 38 {
		t.Skipf("only %d capabilities available: run the tests as root", len(all))
	}
	minus := func(list []string, drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(list), func(c string) bool { return slices.Contains(drop, c) })
	}
	for _, tc := range []struct {
		name      string
		add, drop []string
		priv      bool
		want      []string
	}{
		{"default", nil, nil, false, docker},
		{"add and drop, any spelling", []string{"net_admin", "CAP_sys_ptrace"}, []string{"chown", "CAP_KILL"}, false,
			append(minus(docker, "CAP_CHOWN", "CAP_KILL"), "CAP_NET_ADMIN", "CAP_SYS_PTRACE")},
		{"add one already there", []string{"CHOWN"}, nil, false, docker},
		{"add ALL", []string{"all"}, []string{"NET_RAW"}, false, minus(all, "CAP_NET_RAW")},
		{"drop ALL", []string{"CHOWN", "cap_kill"}, []string{"ALL"}, false, []string{"CAP_CHOWN", "CAP_KILL"}},
		{"drop ALL only", nil, []string{"ALL"}, false, nil},
		{"drop then add the same", []string{"KILL"}, []string{"KILL"}, false, append(minus(docker, "CAP_KILL"), "CAP_KILL")},
		{"privileged", nil, []string{"ALL"}, true, all},
	} {
		s := build(t, &Options{Cmd: []string{"sh"}, CapAdd: tc.add, CapDrop: tc.drop, Privileged: tc.priv})
		c := s.Process.Capabilities
		if !slices.Equal(c.Bounding, tc.want) || !slices.Equal(c.Effective, tc.want) || !slices.Equal(c.Permitted, tc.want) ||
			len(c.Inheritable) != 0 || len(c.Ambient) != 0 {
			t.Errorf("%s: caps %+v\nwant %v", tc.name, c, tc.want)
		}
	}
	if msg := buildErr(t, &Options{Cmd: []string{"sh"}, CapAdd: []string{"NET_FOO"}}); msg != `spec: --cap-add "NET_FOO": unknown capability` {
		t.Errorf("error %q", msg)
	}
	if msg := buildErr(t, &Options{Cmd: []string{"sh"}, CapDrop: []string{"bogus"}}); msg != `spec: --cap-drop "bogus": unknown capability` {
		t.Errorf("error %q", msg)
	}
}

func hasSyscall(p *specs.LinuxSeccomp, name string) bool {
	for _, sc := range p.Syscalls {
		if sc.Action == specs.ActAllow && len(sc.Args) == 0 && slices.Contains(sc.Names, name) {
			return true
		}
	}
	return false
}

func TestSeccomp(t *testing.T) {
	s := build(t, &Options{Cmd: []string{"sh"}})
	if p := s.Linux.Seccomp; p == nil || p.DefaultAction != specs.ActErrno || !hasSyscall(p, "read") || hasSyscall(p, "mount") {
		t.Fatalf("default profile: %+v", p)
	}
	// A granted capability opens its syscalls, as Docker's profile does.
	if p := build(t, &Options{Cmd: []string{"sh"}, CapAdd: []string{"SYS_ADMIN"}}).Linux.Seccomp; !hasSyscall(p, "mount") {
		t.Error("--cap-add SYS_ADMIN: mount still filtered")
	}
	for _, o := range []*Options{
		{Cmd: []string{"sh"}, Seccomp: "unconfined"},
		{Cmd: []string{"sh"}, Privileged: true},
		{Cmd: []string{"sh"}, Privileged: true, Seccomp: "builtin"},
	} {
		if p := build(t, o).Linux.Seccomp; p != nil {
			t.Errorf("seccomp %q privileged %v: a profile", o.Seccomp, o.Privileged)
		}
	}

	// A profile in Docker's format, from a file and inline.
	profile := `{
		"defaultAction": "SCMP_ACT_ERRNO",
		"defaultErrnoRet": 1,
		"archMap": [
			{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
			{"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
		],
		"syscalls": [
			{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
			{"name": "mount", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
			{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
			{"names": ["new_one"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "99.0"}},
			{"names": ["old_one"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "3.0"}}
		]
	}`
	path := filepath.Join(t.TempDir(), "profile.json")
	os.WriteFile(path, []byte(profile), 0o644)
	for _, src := range []string{path, profile} {
		p := build(t, &Options{Cmd: []string{"sh"}, Seccomp: src}).Linux.Seccomp
		if p == nil || !hasSyscall(p, "read") || hasSyscall(p, "mount") || !hasSyscall(p, "ptrace") ||
			hasSyscall(p, "new_one") || !hasSyscall(p, "old_one") || len(p.Architectures) == 0 || *p.DefaultErrnoRet != 1 {
			t.Errorf("profile: %+v", p)
		}
		p = build(t, &Options{Cmd: []string{"sh"}, Seccomp: src, CapAdd: []string{"SYS_ADMIN"}}).Linux.Seccomp
		if !hasSyscall(p, "mount") || hasSyscall(p, "ptrace") {
			t.Errorf("profile with SYS_ADMIN: %+v", p.Syscalls)
		}
		// A given profile applies to a privileged container too.
		if p := build(t, &Options{Cmd: []string{"sh"}, Seccomp: src, Privileged: true}).Linux.Seccomp; p == nil {
			t.Error("privileged with a profile: none")
		}
	}
	// The plain OCI format is Docker's without the extras.
	p := build(t, &Options{Cmd: []string{"sh"}, Seccomp: `{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"syscalls":[{"names":["kexec_load"],"action":"SCMP_ACT_ERRNO"}]}`}).Linux.Seccomp
	if p == nil || p.DefaultAction != specs.ActAllow || len(p.Syscalls) != 1 {
		t.Errorf("OCI profile: %+v", p)
	}
	for src, want := range map[string]string{
		"/nonexistent.json": "spec: --security-opt seccomp=/nonexistent.json: no such file or directory",
		`{"defaultAction":`: "spec: --security-opt seccomp=(profile): decoding seccomp profile failed",
		`{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}`: "both 'architectures' and 'archMap'",
		`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ALLOW"}]}`:                    "both 'name' and 'names'",
		`{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"name":"a","action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4"}}]}`:     "invalid kernel version",
	} {
		if msg := buildErr(t, &Options{Cmd: []string{"sh"}, Seccomp: src}); !strings.Contains(msg, want) {
			t.Errorf("seccomp %s: error %q, want %q", src, msg, want)
		}
	}
}

func TestPrivileged(t *testing.T) {
	s := build(t, &Options{Cmd: []string{"sh"}, Privileged: true})
	if s.Linux.MaskedPaths != nil || s.Linux.ReadonlyPaths != nil {
		t.Errorf("masked %v readonly %v", s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	if r := s.Linux.Resources.Devices; len(r) != 1 || !r[0].Allow || r[0].Access != "rwm" || r[0].Type != "" || r[0].Major != nil {
		t.Errorf("device rules %+v, want allow all", r)
	}
	var null bool
	for _, d := range s.Linux.Devices {
		if d.Path == "/dev/null" && d.Type == "c" && d.Major == 1 && d.Minor == 3 {
			null = true
		}
		if d.Path == "/dev/console" || strings.HasPrefix(d.Path, "/dev/pts/") {
			t.Errorf("host device %s given to the container", d.Path)
		}
	}
	if !null {
		t.Errorf("host devices lack /dev/null: %d devices", len(s.Linux.Devices))
	}
	for _, m := range s.Mounts {
		if (m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup") && slices.Contains(m.Options, "ro") {
			t.Errorf("%s read-only in a privileged container: %v", m.Destination, m.Options)
		}
	}
}

func TestReadOnlyAndMounts(t *testing.T) {
	user := []specs.Mount{
		{Destination: "/data/sub/", Type: "bind", Source: "/srv/sub", Options: []string{"rbind"}},
		{Destination: "/data", Type: "bind", Source: "/srv/data", Options: []string{"rbind"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m"}},
	}
	s := build(t, &Options{Cmd: []string{"sh"}, ReadOnly: true, Mounts: user})
	if !s.Root.Readonly {
		t.Error("root not read-only")
	}
	got := map[string]specs.Mount{}
	var order []string
	for _, m := range s.Mounts {
		if _, dup := got[m.Destination]; dup {
			t.Errorf("two mounts at %s", m.Destination)
		}
		got[m.Destination] = m
		order = append(order, m.Destination)
	}
	wantOrder := []string{"/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys", "/sys/fs/cgroup", "/data", "/data/sub", "/dev/shm"}
	if !slices.Equal(order, wantOrder) {
		t.Errorf("mounts %v, want %v", order, wantOrder)
	}
	for dest, want := range map[string][]string{
		"/proc":          {"nosuid", "noexec", "nodev"},
		"/dev":           {"nosuid", "strictatime", "mode=755", "size=65536k"},
		"/sys":           {"nosuid", "noexec", "nodev", "ro"},
		"/sys/fs/cgroup": {"ro", "nosuid", "noexec", "nodev"},
		"/dev/mqueue":    {"nosuid", "noexec", "nodev"},
		"/data":          {"rbind"},
		"/dev/shm":       {"size=1m"},
	} {
		if !slices.Equal(got[dest].Options, want) {
			t.Errorf("%s options %v, want %v", dest, got[dest].Options, want)
		}
	}

	// Docker's /dev/shm, sized; a user /dev replaces every default below it.
	s = build(t, &Options{Cmd: []string{"sh"}, ShmSize: 1 << 30})
	for _, m := range s.Mounts {
		if m.Destination == "/dev/shm" && !slices.Equal(m.Options, []string{"nosuid", "noexec", "nodev", "mode=1777", "size=1073741824"}) {
			t.Errorf("/dev/shm options %v", m.Options)
		}
	}
	if s := build(t, &Options{Cmd: []string{"sh"}}); !slices.ContainsFunc(s.Mounts, func(m specs.Mount) bool {
		return m.Destination == "/dev/shm" && slices.Contains(m.Options, "size=67108864")
	}) {
		t.Errorf("default /dev/shm is not 64m: %v", s.Mounts)
	}
	s = build(t, &Options{Cmd: []string{"sh"}, Mounts: []specs.Mount{{Destination: "/dev", Type: "bind", Source: "/dev", Options: []string{"rbind"}}}})
	for _, m := range s.Mounts {
		if strings.HasPrefix(m.Destination, "/dev/") {
			t.Errorf("default %s kept under a user /dev", m.Destination)
		}
	}
	// The host's IPC namespace brings the host's /dev/shm.
	s = build(t, &Options{Cmd: []string{"sh"}, Namespaces: map[specs.LinuxNamespaceType]string{specs.PIDNamespace: ""}})
	if !slices.ContainsFunc(s.Mounts, func(m specs.Mount) bool {
		return m.Destination == "/dev/shm" && m.Type == "bind" && m.Source == "/dev/shm"
	}) {
		t.Errorf("--ipc host: /dev/shm not the host's: %v", s.Mounts)
	}
	if msg := buildErr(t, &Options{Cmd: []string{"sh"}, ShmSize: -1}); !strings.Contains(msg, "--shm-size -1") {
		t.Errorf("error %q", msg)
	}
	if msg := buildErr(t, &Options{Cmd: []string{"sh"}, Mounts: []specs.Mount{{Destination: "rel", Source: "/x"}}}); !strings.Contains(msg, `destination "rel" is not absolute`) {
		t.Errorf("error %q", msg)
	}
}

func TestSysctlsAndUlimits(t *testing.T) {
	s := build(t, &Options{Cmd: []string{"sh"}, Sysctls: map[string]string{
		"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000", "fs.mqueue.msg_max": "20",
		"net.ipv4.ip_unprivileged_port_start": "1024",
	}})
	for k, v := range map[string]string{
		"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000", "fs.mqueue.msg_max": "20",
		"net.ipv4.ip_unprivileged_port_start": "1024", // the user's wins over Docker's default
	} {
		if s.Linux.Sysctl[k] != v {
			t.Errorf("sysctl %s = %q, want %q", k, s.Linux.Sysctl[k], v)
		}
	}
	if _, err := os.Stat("/proc/sys/net/ipv4/ping_group_range"); err == nil && !inUserNS() && s.Linux.Sysctl["net.ipv4.ping_group_range"] != "0 2147483647" {
		t.Errorf("default ping_group_range missing: %v", s.Linux.Sysctl)
	}
	hostNS := map[specs.LinuxNamespaceType]string{specs.PIDNamespace: ""}
	if s := build(t, &Options{Cmd: []string{"sh"}, Namespaces: hostNS}); len(s.Linux.Sysctl) != 0 {
		t.Errorf("host network: sysctls %v", s.Linux.Sysctl)
	}
	for k, want := range map[string]string{
		"kernel.domainname":  "spec: --sysctl kernel.domainname=x: not allowed (only namespaced ones",
		"vm.swappiness":      "spec: --sysctl vm.swappiness=x: not allowed",
		"net.core.somaxconn": "spec: --sysctl net.core.somaxconn=x: not allowed in the host's network namespace",
		"kernel.sem":         "spec: --sysctl kernel.sem=x: not allowed in the host's IPC namespace",
	} {
		if msg := buildErr(t, &Options{Cmd: []string{"sh"}, Namespaces: hostNS, Sysctls: map[string]string{k: "x"}}); !strings.HasPrefix(msg, want) {
			t.Errorf("sysctl %s: %q, want %q", k, msg, want)
		}
	}

	s = build(t, &Options{Cmd: []string{"sh"}, Ulimits: []specs.POSIXRlimit{
		{Type: "nofile", Soft: 1024, Hard: 4096}, {Type: "RLIMIT_NPROC", Soft: 10, Hard: 10}, {Type: "NOFILE", Soft: 1, Hard: 2},
	}})
	if want := []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1, Hard: 2}, {Type: "RLIMIT_NPROC", Soft: 10, Hard: 10}}; !slices.Equal(s.Process.Rlimits, want) {
		t.Errorf("rlimits %v, want %v", s.Process.Rlimits, want)
	}
	if s := build(t, &Options{Cmd: []string{"sh"}}); s.Process.Rlimits != nil {
		t.Errorf("default rlimits %v: Docker sets none", s.Process.Rlimits)
	}
	if msg := buildErr(t, &Options{Cmd: []string{"sh"}, Ulimits: []specs.POSIXRlimit{{Type: "nofile", Soft: 10, Hard: 5}}}); msg != "spec: --ulimit nofile=10:5: soft limit must be less than or equal to hard limit" {
		t.Errorf("error %q", msg)
	}
	if msg := buildErr(t, &Options{Cmd: []string{"sh"}, Ulimits: []specs.POSIXRlimit{{Type: "bogus"}}}); msg != "spec: --ulimit bogus: invalid ulimit type" {
		t.Errorf("error %q", msg)
	}
}

func TestProcessFlags(t *testing.T) {
	s := build(t, &Options{Cmd: []string{"sh"}})
	if s.Process.NoNewPrivileges || s.Process.Terminal || *s.Process.OOMScoreAdj != 0 || s.Root.Readonly {
		t.Errorf("defaults: nnp %v terminal %v oom %d ro %v", s.Process.NoNewPrivileges, s.Process.Terminal, *s.Process.OOMScoreAdj, s.Root.Readonly)
	}
	s = build(t, &Options{Cmd: []string{"sh"}, NoNewPrivileges: true, Terminal: true, OOMScoreAdj: -500,
		CgroupsPath: "/hutch/x", Annotations: map[string]string{"a": "b"}})
	if !s.Process.NoNewPrivileges || !s.Process.Terminal || *s.Process.OOMScoreAdj != -500 || s.Linux.CgroupsPath != "/hutch/x" || s.Annotations["a"] != "b" {
		t.Errorf("flags not applied: %+v", s.Process)
	}
	if msg := buildErr(t, &Options{Cmd: []string{"sh"}, OOMScoreAdj: 1001}); msg != "spec: --oom-score-adj 1001: range for oom score adj is [-1000, 1000]" {
		t.Errorf("error %q", msg)
	}
	masked := s.Linux.MaskedPaths
	for _, p := range []string{"/proc/kcore", "/proc/interrupts", "/sys/firmware", "/sys/devices/virtual/powercap"} {
		if !slices.Contains(masked, p) {
			t.Errorf("masked paths lack %s", p)
		}
	}
}

// The spec Build writes passes the runtime's own validation.
func TestBuildValidates(t *testing.T) {
	rootfs := fakeRoot(t, map[string]string{"etc/passwd": testPasswd, "etc/group": testGroup})
	for _, o := range []*Options{
		{Rootfs: rootfs, Cmd: []string{"sh"}},
		{Rootfs: rootfs, Cmd: []string{"sh"}, Privileged: true, ReadOnly: true, Terminal: true},
		{Rootfs: rootfs, ImageConfig: &v1.Config{Cmd: []string{"sh"}, User: "app", WorkingDir: "/w"},
			Memory: 64 << 20, NanoCPUs: 1.5e9, PidsLimit: 100, CapAdd: []string{"ALL"}, Init: "/bin/true",
			Devices: []DeviceRequest{{PathOnHost: "/dev/null", PathInContainer: "/dev/xnull"}},
			Ulimits: []specs.POSIXRlimit{{Type: "nofile", Soft: 100, Hard: 100}}},
	} {
		s := build(t, o)
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back specs.Spec
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if err := specconv.Validate(&back); err != nil {
			t.Errorf("%+v: the runtime refuses the spec: %v", o, err)
		}
	}
}
