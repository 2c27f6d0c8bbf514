package spec

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

// DefaultPathEnv is the PATH a container gets when neither the image nor
// the options set one (Docker's, and runc's).
const DefaultPathEnv = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// maxHostnameLen is the kernel's HOST_NAME_MAX.
const maxHostnameLen = 64

// Build returns the config.json of one container: Default() changed the
// way Docker's daemon changes its default spec (daemon/oci_linux.go
// createSpec), from the image's config and the options. Every refusal is
// an errdefs.InvalidArgument error naming the flag and the value, except
// failures to read the rootfs or the host's devices.
func Build(o *Options) (*specs.Spec, error) {
	img := o.ImageConfig
	if img == nil {
		img = &v1.Config{}
	}
	s := Default()
	s.Linux.Sysctl = map[string]string{}
	if o.Rootfs != "" {
		s.Root.Path = o.Rootfs
	}
	s.Root.Readonly = o.ReadOnly
	s.Annotations = maps.Clone(o.Annotations)
	s.Linux.CgroupsPath = o.CgroupsPath

	ns := namespaces(o)
	newNS := func(t specs.LinuxNamespaceType) bool { p, ok := ns[t]; return ok && p == "" }
	s.Linux.Namespaces = nsList(ns)

	// Process: command, environment, directory, user.
	p := s.Process
	var err error
	if p.Args, err = command(o, img); err != nil {
		return nil, err
	}
	hostname, err := hostnameOf(o, ns)
	if err != nil {
		return nil, err
	}
	if newNS(specs.UTSNamespace) {
		// Only a new UTS namespace can be given a name: the runtime would
		// rename the host's or another container's otherwise.
		s.Hostname, s.Domainname = hostname, o.Domainname
	} else {
		s.Hostname = ""
	}
	if p.Cwd, err = workingDir(o, img); err != nil {
		return nil, err
	}
	userSpec := o.User
	if userSpec == "" {
		userSpec = img.User
	}
	var home string
	if p.User, home, err = ResolveUser(o.Rootfs, userSpec, o.GroupAdd...); err != nil {
		return nil, err
	}
	p.Env = environment(o, img, hostname, home)
	p.Terminal = o.Terminal
	p.NoNewPrivileges = o.NoNewPrivileges
	if o.OOMScoreAdj < -1000 || o.OOMScoreAdj > 1000 {
		return nil, errdefs.InvalidArgument("spec: --oom-score-adj %d: range for oom score adj is [-1000, 1000]", o.OOMScoreAdj)
	}
	p.OOMScoreAdj = ptr(o.OOMScoreAdj)
	if p.Rlimits, err = rlimits(o.Ulimits); err != nil {
		return nil, err
	}
	caps, err := capabilities(o)
	if err != nil {
		return nil, err
	}
	p.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: slices.Clone(caps), Permitted: slices.Clone(caps)}

	// Linux: resources, devices, sysctls, security.
	if s.Linux.Resources, err = resources(o); err != nil {
		return nil, err
	}
	if err := devices(o, s); err != nil {
		return nil, err
	}
	if err := sysctls(o, ns, s.Linux.Sysctl); err != nil {
		return nil, err
	}
	if len(s.Linux.Sysctl) == 0 {
		s.Linux.Sysctl = nil
	}
	if s.Linux.Seccomp, err = seccompProfile(o, caps); err != nil {
		return nil, err
	}
	s.Linux.MaskedPaths = maskedPaths()
	s.Linux.ReadonlyPaths = []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}

	if err := mounts(o, s, ns); err != nil {
		return nil, err
	}
	if o.Init != "" && newNS(specs.PIDNamespace) {
		// As docker-init: only where the container has a PID namespace of
		// its own to reap in; in the host's or another container's there
		// is an init already.
		p.Args = append([]string{InitPath, "--"}, p.Args...)
		s.Mounts = append(s.Mounts, specs.Mount{Destination: InitPath, Type: "bind", Source: o.Init, Options: []string{"bind", "ro"}})
	}

	if o.Privileged {
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
	}
	return s, nil
}

// command joins Entrypoint and Cmd as Docker's daemon (merge and
// mergeAndVerifyConfig): an entrypoint given by the user replaces the
// image's and drops the image's Cmd (`--entrypoint ""` leaves no
// entrypoint at all); a Cmd given by the user replaces the image's.
func command(o *Options, img *v1.Config) ([]string, error) {
	var ep, cmd []string
	if o.Entrypoint != nil {
		ep = *o.Entrypoint
		if len(ep) == 1 && ep[0] == "" {
			ep = nil
		}
		cmd = o.Cmd
	} else {
		ep = img.Entrypoint
		cmd = o.Cmd
		if len(cmd) == 0 {
			cmd = img.Cmd
		}
	}
	if len(ep) == 0 && len(cmd) == 0 {
		return nil, errdefs.InvalidArgument("spec: no command specified: the image has no ENTRYPOINT or CMD and none was given")
	}
	return append(slices.Clone(ep), cmd...), nil
}

// environment is Docker's CreateDaemonEnvironment over merge(): PATH,
// HOSTNAME and (with a terminal) TERM first, then replaced or extended by
// the user's variables followed by the image's that the user did not name
// (a bare KEY from the user unsets KEY). HOME comes last from /etc/passwd,
// unless set, as the runtime would set it.
func environment(o *Options, img *v1.Config, hostname, home string) []string {
	merged := slices.Clone(o.Env)
	for _, ie := range img.Env {
		k, _, _ := strings.Cut(ie, "=")
		if !slices.ContainsFunc(o.Env, func(ue string) bool { uk, _, _ := strings.Cut(ue, "="); return uk == k }) {
			merged = append(merged, ie)
		}
	}
	env := []string{"PATH=" + DefaultPathEnv, "HOSTNAME=" + hostname}
	if o.Terminal {
		env = append(env, "TERM=xterm")
	}
	env = replaceOrAppendEnv(env, merged)
	if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "HOME=") }) {
		env = append(env, "HOME="+home)
	}
	return env
}

// replaceOrAppendEnv is Docker's ReplaceOrAppendEnvValues: each override
// replaces the default of its key or is appended; a bare KEY removes the
// default KEY.
func replaceOrAppendEnv(defaults, overrides []string) []string {
	index := make(map[string]int, len(defaults)+len(overrides))
	for i, e := range defaults {
		k, _, _ := strings.Cut(e, "=")
		index[k] = i
	}
	removed := false
	for _, v := range overrides {
		k, _, ok := strings.Cut(v, "=")
		i, exists := index[k]
		switch {
		case !ok:
			if exists {
				defaults[i] = ""
				removed = true
			}
		case exists:
			defaults[i] = v
		default:
			index[k] = len(defaults)
			defaults = append(defaults, v)
		}
	}
	if removed {
		defaults = slices.DeleteFunc(defaults, func(e string) bool { return e == "" })
	}
	return defaults
}

func hostnameOf(o *Options, ns map[specs.LinuxNamespaceType]string) (string, error) {
	h := o.Hostname
	if h == "" {
		if _, ok := ns[specs.UTSNamespace]; !ok {
			// The host's UTS namespace: the host's name is the container's.
			h, _ = os.Hostname()
		} else {
			h = o.ID
			if len(h) > 12 {
				h = h[:12]
			}
		}
	}
	if len(h) > maxHostnameLen {
		return "", errdefs.InvalidArgument("spec: --hostname %q: too long (maximum %d bytes)", h, maxHostnameLen)
	}
	return h, nil
}

// workingDir returns the process's cwd: the option's, else the image's,
// else "/". A given directory must be absolute; it is created in the
// rootfs when missing (mode 0755, owned by the runtime's user, which is
// the container's root), as Docker does, resolved inside the root.
func workingDir(o *Options, img *v1.Config) (string, error) {
	wd, flag := o.WorkingDir, "--workdir"
	if wd == "" {
		wd, flag = img.WorkingDir, "the image's WorkingDir"
	}
	if wd == "" {
		return "/", nil
	}
	if !strings.HasPrefix(wd, "/") {
		return "", errdefs.InvalidArgument("spec: %s %q: the working directory needs to be an absolute path", flag, wd)
	}
	clean := filepath.Clean(wd)
	if o.Rootfs == "" || clean == "/" {
		return clean, nil
	}
	rootfd, err := openRoot(o.Rootfs)
	if err != nil {
		return "", fmt.Errorf("spec: %s %q: %w", flag, wd, err)
	}
	defer closeFd(rootfd)
	if err := mkdirAllInRoot(rootfd, clean); err != nil {
		if errors.Is(err, errNotDir) {
			return "", errdefs.InvalidArgument("spec: %s %q: cannot mkdir: not a directory in the image", flag, wd)
		}
		return "", fmt.Errorf("spec: %s %q: mkdir in %s: %w", flag, wd, o.Rootfs, err)
	}
	return clean, nil
}

// namespaces returns the options' namespaces, or Docker's default set, with
// the mount namespace always present.
func namespaces(o *Options) map[specs.LinuxNamespaceType]string {
	ns := maps.Clone(o.Namespaces)
	if ns == nil {
		ns = map[specs.LinuxNamespaceType]string{
			specs.MountNamespace:   "",
			specs.NetworkNamespace: "",
			specs.UTSNamespace:     "",
			specs.PIDNamespace:     "",
			specs.IPCNamespace:     "",
			specs.CgroupNamespace:  "",
		}
	}
	if _, ok := ns[specs.MountNamespace]; !ok {
		ns[specs.MountNamespace] = ""
	}
	return ns
}

// nsOrder is the order namespaces are listed in (Default's, then user and
// time); the runtime does not depend on it, a diff of two specs does.
var nsOrder = []specs.LinuxNamespaceType{
	specs.PIDNamespace, specs.NetworkNamespace, specs.IPCNamespace, specs.UTSNamespace,
	specs.MountNamespace, specs.CgroupNamespace, specs.UserNamespace, specs.TimeNamespace,
}

func nsList(ns map[specs.LinuxNamespaceType]string) []specs.LinuxNamespace {
	out := make([]specs.LinuxNamespace, 0, len(ns))
	for _, t := range nsOrder {
		if p, ok := ns[t]; ok {
			out = append(out, specs.LinuxNamespace{Type: t, Path: p})
		}
	}
	return out
}

// mounts sets Docker's default mounts (withMounts): /proc and /dev/shm
// with Docker's options, each default replaced by a user mount at the same
// destination (all of /dev's by a user /dev), the user's mounts after them
// parents first, "ro" added to the defaults but /proc and /dev's with
// --read-only, and /sys and the cgroup mount writable when privileged.
func mounts(o *Options, s *specs.Spec, ns map[specs.LinuxNamespaceType]string) error {
	user := slices.Clone(o.Mounts)
	dests := make(map[string]bool, len(user))
	for i := range user {
		m := &user[i]
		if !filepath.IsAbs(m.Destination) {
			return errdefs.InvalidArgument("spec: mount %s: destination %q is not absolute", m.Source, m.Destination)
		}
		m.Destination = filepath.Clean(m.Destination)
		dests[m.Destination] = true
	}
	shm := o.ShmSize
	if shm < 0 {
		return errdefs.InvalidArgument("spec: --shm-size %d: SHM size can not be less than 0", shm)
	}
	if shm == 0 {
		shm = DefaultShmSize
	}
	_, ownIPC := ns[specs.IPCNamespace]

	out := make([]specs.Mount, 0, len(s.Mounts)+len(user)+1)
	for _, m := range s.Mounts {
		if dests[m.Destination] || dests["/dev"] && strings.HasPrefix(m.Destination, "/dev/") {
			continue
		}
		switch m.Destination {
		case "/proc":
			m.Options = []string{"nosuid", "noexec", "nodev"}
		case "/dev/shm":
			if !ownIPC {
				// The host's IPC namespace: its /dev/shm too, as Docker's
				// --ipc host.
				m = specs.Mount{Destination: "/dev/shm", Type: "bind", Source: "/dev/shm", Options: []string{"rbind", "nosuid", "noexec", "nodev"}}
				break
			}
			m.Options = []string{"nosuid", "noexec", "nodev", "mode=1777", "size=" + strconv.FormatInt(shm, 10)}
		case "/sys/fs/cgroup":
			m.Options = []string{"ro", "nosuid", "noexec", "nodev"}
		}
		if o.ReadOnly {
			switch m.Destination {
			case "/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev":
			default:
				if !slices.Contains(m.Options, "ro") {
					m.Options = append(slices.Clone(m.Options), "ro")
				}
			}
		}
		if o.Privileged && (m.Destination == "/sys" || m.Type == "cgroup") {
			m.Options = slices.DeleteFunc(slices.Clone(m.Options), func(x string) bool { return x == "ro" })
		}
		out = append(out, m)
	}
	// Parents before children, else a child would be hidden under its
	// parent mounted later (Docker's sortMounts).
	slices.SortStableFunc(user, func(a, b specs.Mount) int { return depth(a.Destination) - depth(b.Destination) })
	s.Mounts = append(out, user...)
	return nil
}

func depth(p string) int {
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// namespacedSysctls are the sysctls Docker's CLI lets through (opts.ValidateSysctl):
// those of the IPC namespace, and with prefixes, net.* of the network
// namespace and fs.mqueue.* of the IPC one.
var ipcSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

// sysctls adds Docker's defaults for a container with a network namespace
// of its own (unprivileged ping and ports below 1024), then the user's,
// which must belong to a namespace the container does not share with the
// host.
func sysctls(o *Options, ns map[specs.LinuxNamespaceType]string, out map[string]string) error {
	_, ownNet := ns[specs.NetworkNamespace]
	_, ownIPC := ns[specs.IPCNamespace]
	_, userNS := ns[specs.UserNamespace]
	if ownNet {
		// ping_group_range names host gids, which a user namespace (this
		// container's, or the one hutch runs in) may not map.
		if !userNS && !inUserNS() && sysctlExists("net/ipv4/ping_group_range") {
			out["net.ipv4.ping_group_range"] = "0 2147483647"
		}
		if sysctlExists("net/ipv4/ip_unprivileged_port_start") {
			out["net.ipv4.ip_unprivileged_port_start"] = "0"
		}
	}
	for k, v := range o.Sysctls {
		switch {
		case ipcSysctls[k] || strings.HasPrefix(k, "fs.mqueue."):
			if !ownIPC {
				return errdefs.InvalidArgument("spec: --sysctl %s=%s: not allowed in the host's IPC namespace", k, v)
			}
		case strings.HasPrefix(k, "net."):
			if !ownNet {
				return errdefs.InvalidArgument("spec: --sysctl %s=%s: not allowed in the host's network namespace", k, v)
			}
		default:
			return errdefs.InvalidArgument("spec: --sysctl %s=%s: not allowed (only namespaced ones: net.*, fs.mqueue.*, kernel.msg*, kernel.sem, kernel.shm*)", k, v)
		}
		out[k] = v
	}
	return nil
}

// sysctlExists reports whether the host's kernel has a sysctl (runc
// refuses unknown ones); it is the same for every container, so asked once.
var sysctlExists = func() func(string) bool {
	var mu sync.Mutex
	known := map[string]bool{}
	return func(rel string) bool {
		mu.Lock()
		defer mu.Unlock()
		ok, seen := known[rel]
		if !seen {
			var st unix.Stat_t
			ok = unix.Stat("/proc/sys/"+rel, &st) == nil
			known[rel] = ok
		}
		return ok
	}
}()

// inUserNS reports whether hutch itself runs in a user namespace (rootless,
// or in a container): anything but the full map "0 0 4294967295".
var inUserNS = sync.OnceValue(func() bool {
	fd, err := unix.Open("/proc/self/uid_map", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	var buf [128]byte
	n, _ := unix.Read(fd, buf[:])
	if n < 0 {
		n = 0
	}
	f := strings.Fields(string(buf[:n]))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
})

// rlimitNames are the resources --ulimit takes (Docker's list: RLIMIT_ and
// the name in capitals).
var rlimitNames = map[string]bool{
	"RLIMIT_AS": true, "RLIMIT_CORE": true, "RLIMIT_CPU": true, "RLIMIT_DATA": true,
	"RLIMIT_FSIZE": true, "RLIMIT_LOCKS": true, "RLIMIT_MEMLOCK": true, "RLIMIT_MSGQUEUE": true,
	"RLIMIT_NICE": true, "RLIMIT_NOFILE": true, "RLIMIT_NPROC": true, "RLIMIT_RSS": true,
	"RLIMIT_RTPRIO": true, "RLIMIT_RTTIME": true, "RLIMIT_SIGPENDING": true, "RLIMIT_STACK": true,
}

// rlimits checks --ulimit values: known names ("nofile" or RLIMIT_NOFILE),
// soft not above hard; a later one of the same name wins. None given
// means none set: the container inherits hutch's limits, as Docker's
// inherit containerd's.
func rlimits(in []specs.POSIXRlimit) ([]specs.POSIXRlimit, error) {
	var out []specs.POSIXRlimit
	for _, r := range in {
		t := strings.ToUpper(r.Type)
		if !strings.HasPrefix(t, "RLIMIT_") {
			t = "RLIMIT_" + t
		}
		if !rlimitNames[t] {
			return nil, errdefs.InvalidArgument("spec: --ulimit %s: invalid ulimit type", r.Type)
		}
		if r.Soft > r.Hard {
			return nil, errdefs.InvalidArgument("spec: --ulimit %s=%d:%d: soft limit must be less than or equal to hard limit", strings.ToLower(strings.TrimPrefix(t, "RLIMIT_")), r.Soft, r.Hard)
		}
		r.Type = t
		if i := slices.IndexFunc(out, func(x specs.POSIXRlimit) bool { return x.Type == t }); i >= 0 {
			out[i] = r
		} else {
			out = append(out, r)
		}
	}
	return out, nil
}

// maskedPaths is Docker's list: /proc and /sys files that tell about or
// act on the host (GHSA-6fw5-f8r9-fgfm added /proc/interrupts and the
// per-CPU thermal_throttle directories, GHSA-jq35-85cj-fj4p powercap).
// Docker stats every possible CPU's thermal_throttle; the driver makes one
// for every CPU or none, so a host whose cpu0 has none (AMD, most VMs) is
// spared the walk of /sys/devices/system/cpu.
var maskedPaths = func() func() []string {
	base := sync.OnceValue(func() []string {
		m := []string{
			"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
			"/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
			"/proc/timer_stats", "/sys/devices/virtual/powercap", "/sys/firmware",
		}
		if _, err := os.Stat("/sys/devices/system/cpu/cpu0/thermal_throttle"); err != nil {
			return m
		}
		dirs, _ := filepath.Glob("/sys/devices/system/cpu/cpu[0-9]*/thermal_throttle")
		slices.SortFunc(dirs, func(a, b string) int { return cpuNum(a) - cpuNum(b) })
		return append(m, dirs...)
	})
	return func() []string { return slices.Clone(base()) }
}()

func cpuNum(p string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(filepath.Base(filepath.Dir(p)), "cpu"))
	return n
}
