package devices

import (
	"slices"
	"strings"
)

// State is what a v1 devices cgroup holds: a default and the exceptions
// to it. With DefaultAllow the exceptions deny, otherwise they allow.
type State struct {
	DefaultAllow bool
	Exceptions   []Rule
}

// AllowAll is the state of a cgroup no rule has touched (v1 root, or a v2
// cgroup without a device program).
func AllowAll() State { return State{DefaultAllow: true} }

// Apply plays rules on s in order with the kernel's v1 semantics
// (security/device_cgroup.c): an "a" rule resets the default and drops
// every exception; a rule that agrees with the default removes access
// from the exception with the same type and numbers; one that disagrees
// adds an exception, merging access into an existing one.
func (s State) Apply(rules []Rule) State {
	out := State{DefaultAllow: s.DefaultAllow, Exceptions: slices.Clone(s.Exceptions)}
	for _, r := range rules {
		if r.Type == All {
			out = State{DefaultAllow: r.Allow}
			continue
		}
		i := slices.IndexFunc(out.Exceptions, func(e Rule) bool {
			return e.Type == r.Type && e.Major == r.Major && e.Minor == r.Minor
		})
		if r.Allow == out.DefaultAllow {
			if i >= 0 {
				out.Exceptions[i].Access &^= r.Access
				if out.Exceptions[i].Access == 0 {
					out.Exceptions = slices.Delete(out.Exceptions, i, i+1)
				}
			}
			continue
		}
		if i >= 0 {
			out.Exceptions[i].Access |= r.Access
			continue
		}
		e := r
		e.Allow = !out.DefaultAllow
		out.Exceptions = append(out.Exceptions, e)
	}
	return out
}

// Equal reports whether two states admit the same accesses, ignoring the
// order of exceptions.
func (s State) Equal(o State) bool {
	if s.DefaultAllow != o.DefaultAllow || len(s.Exceptions) != len(o.Exceptions) {
		return false
	}
	for _, e := range s.Exceptions {
		if !slices.Contains(o.Exceptions, e) {
			return false
		}
	}
	return true
}

// ParseList reads devices.list. The kernel prints "a *:* rwm" alone for a
// default-allow cgroup (its deny exceptions are not shown), so ok is false
// then: the state cannot be known and the caller must rewrite the rules.
func ParseList(s string) (st State, ok bool) {
	for line := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
		if line == "" {
			continue
		}
		if line == "a *:* rwm" {
			return State{DefaultAllow: true}, false
		}
		f := strings.Fields(line)
		if len(f) != 3 || len(f[0]) != 1 {
			return State{}, false
		}
		maj, min, _ := strings.Cut(f[1], ":")
		r := Rule{Allow: true, Type: Type(f[0][0]), Major: parseNum(maj), Minor: parseNum(min)}
		for _, c := range f[2] {
			switch c {
			case 'r':
				r.Access |= Read
			case 'w':
				r.Access |= Write
			case 'm':
				r.Access |= Mknod
			}
		}
		st.Exceptions = append(st.Exceptions, r)
	}
	return st, true
}

func parseNum(s string) int64 {
	if s == "*" {
		return Wildcard
	}
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return Wildcard
		}
		n = n*10 + int64(c-'0')
	}
	return n
}
