package spec

import (
	"slices"
	"strings"
	"sync"

	"github.com/moby/sys/capability"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/runtime/seccomp"
)

// capInfo is what the capability names are checked against, found once per
// process: every capability this build knows, and which of them the
// current process holds (a container cannot get more than its runtime has,
// e.g. under Docker-in-Docker with fewer capabilities). Docker takes the
// same two lists from containerd's pkg/cap.
type capInfo struct {
	known   map[string]bool // name -> available here
	current []string        // available, in capability order: what "ALL" means
}

var loadCaps = sync.OnceValue(func() capInfo {
	ci := capInfo{known: map[string]bool{}}
	last, lerr := capability.LastCap()
	var effective func(capability.Cap) bool
	if c, err := capability.NewPid2(0); err == nil && c.Load() == nil {
		effective = func(x capability.Cap) bool { return c.Get(capability.EFFECTIVE, x) }
	}
	for _, c := range capability.ListKnown() {
		name := "CAP_" + strings.ToUpper(c.String())
		ok := lerr != nil || c <= last
		if ok && effective != nil {
			ok = effective(c)
		}
		ci.known[name] = ok
		if ok {
			ci.current = append(ci.current, name)
		}
	}
	return ci
})

// normalizeCaps upper-cases names and adds the CAP_ prefix, keeping "ALL",
// and refuses unknown or unavailable capabilities, as Docker's
// NormalizeLegacyCapabilities.
func normalizeCaps(flag string, names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		c := strings.ToUpper(strings.TrimSpace(n))
		if c == "ALL" {
			out = append(out, c)
			continue
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		avail, known := loadCaps().known[c]
		switch {
		case !known:
			return nil, errdefs.InvalidArgument("spec: %s %q: unknown capability", flag, n)
		case !avail:
			return nil, errdefs.InvalidArgument("spec: %s %q: capability not supported by the kernel or not available to hutch", flag, n)
		}
		out = append(out, c)
	}
	return out, nil
}

// capabilities is Docker's TweakCapabilities: privileged gets every
// capability the runtime holds; --cap-add ALL is all of them but the
// dropped ones; --cap-drop ALL leaves only the added ones; otherwise the
// default set minus the dropped plus the added.
func capabilities(o *Options) ([]string, error) {
	if o.Privileged {
		return slices.Clone(loadCaps().current), nil
	}
	if len(o.CapAdd) == 0 && len(o.CapDrop) == 0 {
		return slices.Clone(seccomp.DefaultCaps), nil
	}
	drop, err := normalizeCaps("--cap-drop", o.CapDrop)
	if err != nil {
		return nil, err
	}
	add, err := normalizeCaps("--cap-add", o.CapAdd)
	if err != nil {
		return nil, err
	}
	var caps []string
	switch {
	case slices.Contains(add, "ALL"):
		for _, c := range loadCaps().current {
			if !slices.Contains(drop, c) {
				caps = append(caps, c)
			}
		}
		return caps, nil
	case slices.Contains(drop, "ALL"):
		// Docker keeps add as given; only drop its duplicates.
	default:
		for _, c := range seccomp.DefaultCaps {
			if !slices.Contains(drop, c) {
				caps = append(caps, c)
			}
		}
	}
	for _, c := range add {
		if !slices.Contains(caps, c) {
			caps = append(caps, c)
		}
	}
	return caps, nil
}
