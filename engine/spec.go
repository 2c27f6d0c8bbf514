package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/spec"
)

// buildSpec turns the record into the runtime spec of one start, with
// rootfs (mounted) as its root. The record already holds the image's
// command, environment, working directory and user merged with the
// user's (as Docker's create does), so the image config is not applied a
// second time.
func (e *Engine) buildSpec(r *record, rootfs string) (*specs.Spec, error) {
	h := &r.HostConfig
	entry := append([]string{}, r.Config.Entrypoint...)
	o := &spec.Options{
		ID:                r.ID,
		Rootfs:            rootfs,
		Entrypoint:        &entry,
		Cmd:               r.Config.Cmd,
		Env:               r.Config.Env,
		WorkingDir:        r.Config.WorkingDir,
		User:              r.Config.User,
		GroupAdd:          r.Extra.GroupAdd,
		Hostname:          r.Config.Hostname,
		Domainname:        r.Config.Domainname,
		Terminal:          r.Config.Tty,
		ReadOnly:          h.ReadonlyRootfs,
		Privileged:        h.Privileged,
		CapAdd:            h.CapAdd,
		CapDrop:           h.CapDrop,
		ShmSize:           r.Extra.ShmSize,
		Memory:            h.Memory,
		MemorySwap:        h.MemorySwap,
		MemoryReservation: r.Extra.MemoryReserve,
		NanoCPUs:          h.NanoCpus,
		CPUShares:         uint64(max(h.CpuShares, 0)),
		CpusetCpus:        h.CpusetCpus,
		CpusetMems:        r.Extra.CpusetMems,
		BlkioWeight:       h.BlkioWeight,
		Sysctls:           r.Extra.Sysctls,
		CgroupsPath:       containerCgroupsPath(r.ID),
		Annotations:       map[string]string{"io.hutch.container.name": r.Name},
	}
	if r.Extra.OomScoreAdj != nil {
		o.OOMScoreAdj = *r.Extra.OomScoreAdj
	}
	if h.PidsLimit != nil {
		o.PidsLimit = *h.PidsLimit
		if o.PidsLimit == 0 {
			o.PidsLimit = -1
		}
	}
	for _, opt := range h.SecurityOpt {
		k, v, err := ParseSecurityOpt(opt)
		if err != nil {
			return nil, err
		}
		switch k {
		case "no-new-privileges":
			o.NoNewPrivileges = v == "" || v == "true"
		case "seccomp":
			o.Seccomp = v
		}
	}
	for _, u := range r.Extra.Ulimits {
		o.Ulimits = append(o.Ulimits, specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(u.Name), Soft: u.Soft, Hard: u.Hard})
	}
	for _, d := range r.Extra.Devices {
		o.Devices = append(o.Devices, spec.DeviceRequest{PathOnHost: d.PathOnHost, PathInContainer: d.PathInContainer, Permissions: d.CgroupPermissions})
	}
	ns, err := e.namespaces(r)
	if err != nil {
		return nil, err
	}
	o.Namespaces = ns
	if h.Init {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("--init: find the hutch binary: %w", err)
		}
		o.Init = exe
	}
	mounts, err := e.specMounts(r)
	if err != nil {
		return nil, err
	}
	o.Mounts = mounts
	s, err := spec.Build(o)
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", r.Name, err)
	}
	return s, nil
}

// namespaces maps the record's modes to the spec's: new ones, the host's
// (absent), or another running container's (joined by path).
func (e *Engine) namespaces(r *record) (map[specs.LinuxNamespaceType]string, error) {
	ns := map[specs.LinuxNamespaceType]string{
		specs.MountNamespace: "", specs.PIDNamespace: "", specs.IPCNamespace: "",
		specs.UTSNamespace: "", specs.NetworkNamespace: "", specs.CgroupNamespace: "",
	}
	modes := []struct {
		mode string
		typ  specs.LinuxNamespaceType
		file string
	}{
		{r.HostConfig.PidMode, specs.PIDNamespace, "pid"},
		{r.HostConfig.IpcMode, specs.IPCNamespace, "ipc"},
		{r.HostConfig.UTSMode, specs.UTSNamespace, "uts"},
		{netMode(r.HostConfig.NetworkMode), specs.NetworkNamespace, "net"},
		{r.HostConfig.CgroupnsMode, specs.CgroupNamespace, "cgroup"},
	}
	if usesNetworkManager(r.HostConfig.NetworkMode) {
		ns[specs.NetworkNamespace] = e.netnsPath(r.ID)
	}
	for _, m := range modes {
		switch {
		case m.mode == "host":
			delete(ns, m.typ)
		case strings.HasPrefix(m.mode, "container:"):
			path, err := e.namespaceOf(strings.TrimPrefix(m.mode, "container:"), m.file)
			if err != nil {
				return nil, fmt.Errorf("container %q: %w", r.Name, err)
			}
			ns[m.typ] = path
		case strings.HasPrefix(m.mode, "ns:"):
			ns[m.typ] = strings.TrimPrefix(m.mode, "ns:")
		}
	}
	return ns, nil
}

// namespaceOf is the namespace file of kind of the running container ref.
func (e *Engine) namespaceOf(ref, kind string) (string, error) {
	c, err := e.Inspect(ref)
	if err != nil {
		return "", err
	}
	if !c.State.Running || c.State.Pid <= 0 {
		return "", errdefs.Conflict("cannot join the %s namespace of container %q: it is not running", kind, c.Name)
	}
	return fmt.Sprintf("/proc/%d/ns/%s", c.State.Pid, kind), nil
}

// specMounts are the container's binds, volumes and tmpfs mounts.
func (e *Engine) specMounts(r *record) ([]specs.Mount, error) {
	etc, err := e.etcMounts(r)
	return append(volumeSpecMounts(r), etc...), err
}

// ParseSecurityOpt checks one --security-opt: no-new-privileges[=true|false],
// seccomp=PROFILE|unconfined; label= and apparmor= are accepted and ignored
// (no SELinux or AppArmor on our hosts), as Docker does where they are
// disabled. Docker's old KEY:VALUE form is taken too.
func ParseSecurityOpt(opt string) (key, value string, err error) {
	key, value, ok := strings.Cut(opt, "=")
	if !ok {
		key, value, _ = strings.Cut(opt, ":")
	}
	switch key {
	case "no-new-privileges":
		if value != "" && value != "true" && value != "false" {
			return "", "", errdefs.InvalidArgument("--security-opt %q: no-new-privileges takes true or false", opt)
		}
	case "seccomp":
		if value == "" {
			return "", "", errdefs.InvalidArgument("--security-opt %q: seccomp needs a profile path or unconfined", opt)
		}
	case "label", "apparmor":
		if value == "" {
			return "", "", errdefs.InvalidArgument("--security-opt %q: %s needs a value (%s=...)", opt, key, key)
		}
	default:
		return "", "", errdefs.InvalidArgument("--security-opt %q: want no-new-privileges, seccomp=PROFILE|unconfined", opt)
	}
	return key, value, nil
}

// netMode is the network mode as a namespace mode: bridge networks have
// a namespace of their own, joined by path (set apart).
func netMode(mode string) string {
	if usesNetworkManager(mode) {
		return ""
	}
	return mode
}

// containerCgroupsPath is where every container's cgroups live, in each
// hierarchy: /hutch/ID, as Docker's /docker/ID.
func containerCgroupsPath(id string) string { return filepath.Join("/hutch", id) }
