// Package specconv is the runtime's only reader of the OCI runtime spec: it
// loads a bundle's config.json, fills in what the spec leaves to the
// runtime, and refuses what it cannot honour with an error naming the field.
package specconv

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

// LoadBundle reads bundle/config.json, validates it and returns the spec
// with root.path made absolute.
func LoadBundle(bundle string) (*specs.Spec, error) {
	abs, err := filepath.Abs(bundle)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(abs, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, errdefs.NotFound("bundle %s: config.json not found", abs)
		}
		return nil, fmt.Errorf("bundle %s: %w", abs, err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			// Valid JSON, wrong type: name the field.
			return nil, errdefs.InvalidArgument("%s: %s: a JSON %s where %s is expected", path, te.Field, te.Value, te.Type)
		}
		return nil, errdefs.InvalidArgument("%s: not valid JSON: %v", path, err)
	}
	if s.Root == nil || s.Root.Path == "" {
		return nil, errdefs.InvalidArgument("%s: root.path is required", path)
	}
	if !filepath.IsAbs(s.Root.Path) {
		s.Root.Path = filepath.Join(abs, s.Root.Path)
	}
	if err := Validate(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// NamespaceTypes maps the spec's namespace names to clone flags and to the
// names of /proc/PID/ns entries.
var NamespaceTypes = map[specs.LinuxNamespaceType]struct {
	Flag   uintptr
	ProcNS string
}{
	specs.PIDNamespace:     {unix.CLONE_NEWPID, "pid"},
	specs.NetworkNamespace: {unix.CLONE_NEWNET, "net"},
	specs.MountNamespace:   {unix.CLONE_NEWNS, "mnt"},
	specs.IPCNamespace:     {unix.CLONE_NEWIPC, "ipc"},
	specs.UTSNamespace:     {unix.CLONE_NEWUTS, "uts"},
	specs.UserNamespace:    {unix.CLONE_NEWUSER, "user"},
	specs.CgroupNamespace:  {unix.CLONE_NEWCGROUP, "cgroup"},
	specs.TimeNamespace:    {unix.CLONE_NEWTIME, "time"},
}

// HasNamespace reports whether the spec lists a namespace of type t, and
// whether it is a new one (no path).
func HasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) (has, isNew bool) {
	if s.Linux == nil {
		return false, false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return true, ns.Path == ""
		}
	}
	return false, false
}

// Validate checks the parts of the spec that the runtime relies on.
func Validate(s *specs.Spec) error {
	if s.Root == nil || s.Root.Path == "" {
		return errdefs.InvalidArgument("root.path is required")
	}
	st, err := os.Stat(s.Root.Path)
	if err != nil {
		return errdefs.InvalidArgument("root.path %q: %v", s.Root.Path, unwrapPathErr(err))
	}
	if !st.IsDir() {
		return errdefs.InvalidArgument("root.path %q: not a directory", s.Root.Path)
	}
	if s.Process == nil {
		return errdefs.InvalidArgument("process is required")
	}
	if err := ValidateProcess(s.Process); err != nil {
		return err
	}
	if s.Linux == nil {
		return errdefs.InvalidArgument("linux section is required on Linux")
	}
	seen := map[specs.LinuxNamespaceType]bool{}
	for i, ns := range s.Linux.Namespaces {
		if _, ok := NamespaceTypes[ns.Type]; !ok {
			return errdefs.InvalidArgument("linux.namespaces[%d].type %q: unknown namespace type", i, ns.Type)
		}
		if seen[ns.Type] {
			return errdefs.InvalidArgument("linux.namespaces[%d].type %q: listed twice", i, ns.Type)
		}
		seen[ns.Type] = true
		if ns.Path != "" {
			if !filepath.IsAbs(ns.Path) {
				return errdefs.InvalidArgument("linux.namespaces[%d].path %q: must be absolute", i, ns.Path)
			}
			if _, err := os.Stat(ns.Path); err != nil {
				return errdefs.InvalidArgument("linux.namespaces[%d].path %q: %v", i, ns.Path, unwrapPathErr(err))
			}
		}
	}
	_, newUser := HasNamespace(s, specs.UserNamespace)
	if (len(s.Linux.UIDMappings) > 0 || len(s.Linux.GIDMappings) > 0) && !newUser {
		return errdefs.InvalidArgument("linux.uidMappings: given without a new user namespace")
	}
	if newUser && (len(s.Linux.UIDMappings) == 0 || len(s.Linux.GIDMappings) == 0) {
		return errdefs.InvalidArgument("linux.uidMappings and linux.gidMappings are required with a new user namespace")
	}
	if hasUTS, _ := HasNamespace(s, specs.UTSNamespace); !hasUTS {
		if s.Hostname != "" {
			return errdefs.InvalidArgument("hostname %q: needs a uts namespace of the container's own", s.Hostname)
		}
		if s.Domainname != "" {
			return errdefs.InvalidArgument("domainname %q: needs a uts namespace of the container's own", s.Domainname)
		}
	}
	if _, newTime := HasNamespace(s, specs.TimeNamespace); !newTime && len(s.Linux.TimeOffsets) > 0 {
		return errdefs.InvalidArgument("linux.timeOffsets: needs a new time namespace")
	}
	for clock := range s.Linux.TimeOffsets {
		if clock != "monotonic" && clock != "boottime" {
			return errdefs.InvalidArgument("linux.timeOffsets: unknown clock %q (monotonic or boottime)", clock)
		}
	}
	if err := validateSysctls(s); err != nil {
		return err
	}
	for i, m := range s.Mounts {
		if err := validateMount(i, m); err != nil {
			return err
		}
	}
	for i, d := range s.Linux.Devices {
		switch d.Type {
		case "c", "b", "u", "p":
		default:
			return errdefs.InvalidArgument("linux.devices[%d].type %q: must be c, b, u or p", i, d.Type)
		}
		if !filepath.IsAbs(d.Path) || hasDotDot(d.Path) {
			return errdefs.InvalidArgument("linux.devices[%d].path %q: must be absolute, without '..'", i, d.Path)
		}
	}
	if p := s.Linux.RootfsPropagation; p != "" {
		if _, ok := PropagationFlags[p]; !ok {
			return errdefs.InvalidArgument("linux.rootfsPropagation %q: unknown propagation", p)
		}
	}
	for _, p := range append(append([]string{}, s.Linux.MaskedPaths...), s.Linux.ReadonlyPaths...) {
		if !filepath.IsAbs(p) {
			return errdefs.InvalidArgument("linux.maskedPaths/readonlyPaths %q: must be absolute", p)
		}
	}
	if s.Hooks != nil {
		for kind, hooks := range map[string][]specs.Hook{
			"prestart": s.Hooks.Prestart, "createRuntime": s.Hooks.CreateRuntime,
			"createContainer": s.Hooks.CreateContainer, "startContainer": s.Hooks.StartContainer,
			"poststart": s.Hooks.Poststart, "poststop": s.Hooks.Poststop,
		} {
			for i, h := range hooks {
				if !filepath.IsAbs(h.Path) {
					return errdefs.InvalidArgument("hooks.%s[%d].path %q: must be absolute", kind, i, h.Path)
				}
				if h.Timeout != nil && *h.Timeout <= 0 {
					return errdefs.InvalidArgument("hooks.%s[%d].timeout %d: must be positive", kind, i, *h.Timeout)
				}
			}
		}
	}
	return nil
}

// ValidateProcess checks a process section (also used for exec).
func ValidateProcess(p *specs.Process) error {
	if len(p.Args) == 0 && p.CommandLine == "" {
		return errdefs.InvalidArgument("process.args must not be empty")
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	if !filepath.IsAbs(p.Cwd) {
		return errdefs.InvalidArgument("process.cwd %q: must be absolute", p.Cwd)
	}
	for i, r := range p.Rlimits {
		if _, ok := Rlimits[r.Type]; !ok {
			return errdefs.InvalidArgument("process.rlimits[%d].type %q: unknown resource", i, r.Type)
		}
		if r.Soft > r.Hard {
			return errdefs.InvalidArgument("process.rlimits[%d] %s: soft limit %d is above the hard limit %d", i, r.Type, r.Soft, r.Hard)
		}
	}
	if c := p.Capabilities; c != nil {
		for set, list := range map[string][]string{
			"bounding": c.Bounding, "effective": c.Effective, "inheritable": c.Inheritable,
			"permitted": c.Permitted, "ambient": c.Ambient,
		} {
			for _, name := range list {
				if _, err := CapabilityValue(name); err != nil {
					return errdefs.InvalidArgument("process.capabilities.%s: %v", set, err)
				}
			}
		}
	}
	if p.ApparmorProfile != "" && !apparmorEnabled() {
		return errdefs.InvalidArgument("process.apparmorProfile %q: AppArmor is not enabled on this host", p.ApparmorProfile)
	}
	if p.SelinuxLabel != "" && !selinuxEnabled() {
		return errdefs.InvalidArgument("process.selinuxLabel %q: SELinux is not enabled on this host", p.SelinuxLabel)
	}
	if p.ConsoleSize != nil && !p.Terminal {
		p.ConsoleSize = nil
	}
	return nil
}

// ipcSysctls are the kernel.* sysctls that belong to the IPC namespace.
var ipcSysctls = map[string]bool{
	"kernel.msgmax": true, "kernel.msgmnb": true, "kernel.msgmni": true, "kernel.sem": true,
	"kernel.shmall": true, "kernel.shmmax": true, "kernel.shmmni": true, "kernel.shm_rmid_forced": true,
}

// validateSysctls accepts only sysctls of a namespace the container has:
// any other would change the host (runc refuses them the same way).
func validateSysctls(s *specs.Spec) error {
	for k := range s.Linux.Sysctl {
		var need specs.LinuxNamespaceType
		switch {
		case ipcSysctls[k] || strings.HasPrefix(k, "fs.mqueue."):
			need = specs.IPCNamespace
		case strings.HasPrefix(k, "net."):
			need = specs.NetworkNamespace
		case k == "kernel.hostname" || k == "kernel.domainname":
			need = specs.UTSNamespace
		default:
			return errdefs.InvalidArgument("linux.sysctl %q: not namespaced: it would change the host", k)
		}
		if has, _ := HasNamespace(s, need); !has {
			return errdefs.InvalidArgument("linux.sysctl %q: needs a %s namespace of the container's own", k, need)
		}
	}
	return nil
}

func validateMount(i int, m specs.Mount) error {
	if m.Destination == "" {
		return errdefs.InvalidArgument("mounts[%d].destination is required", i)
	}
	if hasDotDot(m.Destination) {
		return errdefs.InvalidArgument("mounts[%d].destination %q: must not contain '..'", i, m.Destination)
	}
	if !filepath.IsAbs(m.Destination) {
		// runtime-spec 1.0 allowed relative destinations; treat them as
		// relative to the root, as runc does.
		return nil
	}
	return nil
}

func apparmorEnabled() bool {
	b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	return err == nil && strings.HasPrefix(string(b), "Y")
}

func selinuxEnabled() bool {
	_, err := os.Stat("/sys/fs/selinux/enforce")
	return err == nil
}

func hasDotDot(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
