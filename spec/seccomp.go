package spec

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/runtime/seccomp"
)

// seccompProfile chooses the filter as Docker's WithSeccomp does:
// "unconfined" none; a privileged container none unless a profile is
// given; the default profile resolved for the container's capabilities
// (a granted CAP_SYS_ADMIN opens mount, unshare, ...); a given profile,
// in Docker's format or the plain OCI one, resolved the same way.
func seccompProfile(o *Options, caps []string) (*specs.LinuxSeccomp, error) {
	switch o.Seccomp {
	case "unconfined":
		return nil, nil
	case "", "builtin":
		if o.Privileged {
			return nil, nil
		}
		return seccomp.DefaultProfileFor(caps), nil
	}
	body := []byte(o.Seccomp)
	if !strings.HasPrefix(strings.TrimSpace(o.Seccomp), "{") {
		b, err := os.ReadFile(o.Seccomp)
		if err != nil {
			return nil, errdefs.InvalidArgument("spec: --security-opt seccomp=%s: %v", o.Seccomp, unwrapPath(err))
		}
		body = b
	}
	p, err := loadProfile(body, caps)
	if err != nil {
		name := o.Seccomp
		if len(body) == len(o.Seccomp) {
			name = "(profile)"
		}
		return nil, errdefs.InvalidArgument("spec: --security-opt seccomp=%s: %v", name, err)
	}
	return p, nil
}

// dockerProfile is Docker's seccomp profile format: the OCI section plus
// archMap (the architectures by the native one) and per-rule
// includes/excludes on capabilities, architectures and kernel versions.
type dockerProfile struct {
	specs.LinuxSeccomp
	ArchMap []struct {
		Arch      specs.Arch   `json:"architecture"`
		SubArches []specs.Arch `json:"subArchitectures"`
	} `json:"archMap,omitempty"`
	Syscalls []dockerSyscall `json:"syscalls"`
}

type dockerSyscall struct {
	specs.LinuxSyscall
	Name     string       `json:"name,omitempty"`
	Comment  string       `json:"comment,omitempty"`
	Includes *seccompCond `json:"includes,omitempty"`
	Excludes *seccompCond `json:"excludes,omitempty"`
}

type seccompCond struct {
	Caps      []string `json:"caps,omitempty"`
	Arches    []string `json:"arches,omitempty"`
	MinKernel string   `json:"minKernel,omitempty"`
}

// goToSeccompArch names this machine in a profile's archMap and
// includes/excludes arches (libseccomp's names, as moby/profiles).
var goToSeccompArch = map[string]struct {
	native string
	arch   specs.Arch
}{
	"386":      {"x86", specs.ArchX86},
	"amd64":    {"amd64", specs.ArchX86_64},
	"arm":      {"arm", specs.ArchARM},
	"arm64":    {"arm64", specs.ArchAARCH64},
	"loong64":  {"loongarch64", specs.ArchLOONGARCH64},
	"mips64":   {"mips64", specs.ArchMIPS64},
	"mips64le": {"mipsel64", specs.ArchMIPSEL64},
	"ppc64le":  {"ppc64le", specs.ArchPPC64LE},
	"riscv64":  {"riscv64", specs.ArchRISCV64},
	"s390x":    {"s390x", specs.ArchS390X},
}

// loadProfile is moby/profiles' LoadProfile + setupSeccomp.
func loadProfile(body []byte, caps []string) (*specs.LinuxSeccomp, error) {
	var p dockerProfile
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("decoding seccomp profile failed: %v", err)
	}
	if p.DefaultAction == "" && len(p.Syscalls) == 0 {
		return nil, nil // an empty profile: no filter, as Docker
	}
	if len(p.Architectures) != 0 && len(p.ArchMap) != 0 {
		return nil, fmt.Errorf("both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'")
	}
	out := p.LinuxSeccomp
	out.Syscalls = nil
	here := goToSeccompArch[runtime.GOARCH]
	for _, a := range p.ArchMap {
		if a.Arch == here.arch {
			out.Architectures = append(append(out.Architectures, a.Arch), a.SubArches...)
			break
		}
	}
rules:
	for _, sc := range p.Syscalls {
		if sc.Name != "" {
			if len(sc.Names) != 0 {
				return nil, fmt.Errorf("both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'")
			}
			sc.Names = []string{sc.Name}
		}
		if x := sc.Excludes; x != nil {
			if slices.Contains(x.Arches, here.native) {
				continue
			}
			for _, c := range x.Caps {
				if slices.Contains(caps, c) {
					continue rules
				}
			}
			if x.MinKernel != "" {
				ok, err := kernelAtLeast(x.MinKernel)
				if err != nil {
					return nil, err
				}
				if ok {
					continue
				}
			}
		}
		if in := sc.Includes; in != nil {
			if len(in.Arches) > 0 && !slices.Contains(in.Arches, here.native) {
				continue
			}
			for _, c := range in.Caps {
				if !slices.Contains(caps, c) {
					continue rules
				}
			}
			if in.MinKernel != "" {
				ok, err := kernelAtLeast(in.MinKernel)
				if err != nil {
					return nil, err
				}
				if !ok {
					continue
				}
			}
		}
		out.Syscalls = append(out.Syscalls, sc.LinuxSyscall)
	}
	return &out, nil
}

var kernelVersion = sync.OnceValues(func() ([2]int, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return [2]int{}, err
	}
	return parseKernel(unix.ByteSliceToString(uts.Release[:]))
})

// parseKernel reads "major.minor" from a release or a minKernel value.
func parseKernel(s string) ([2]int, error) {
	maj, rest, ok := strings.Cut(s, ".")
	if !ok {
		return [2]int{}, fmt.Errorf("invalid kernel version %q, expected \"<kernel>.<major>\"", s)
	}
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(rest[:end])
	if err1 != nil || err2 != nil {
		return [2]int{}, fmt.Errorf("invalid kernel version %q, expected \"<kernel>.<major>\"", s)
	}
	return [2]int{a, b}, nil
}

func kernelAtLeast(min string) (bool, error) {
	want, err := parseKernel(min)
	if err != nil {
		return false, err
	}
	have, err := kernelVersion()
	if err != nil {
		return false, err
	}
	return have[0] > want[0] || have[0] == want[0] && have[1] >= want[1], nil
}
