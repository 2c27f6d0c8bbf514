package volume

import (
	"regexp"
	"strconv"
	"strings"

	"hutch.dev/hutch/errdefs"
)

// Filters select volumes for List and Prune, as `docker volume ls
// --filter` and `docker volume prune --filter`.
type Filters struct {
	Names     []string // name=REGEXP: the name matches any of them (Docker matches a regular expression anywhere in the name)
	Labels    []string // label=KEY or label=KEY=VALUE: all must match
	NotLabels []string // label!=KEY or label!=KEY=VALUE (prune): none may match
	Drivers   []string // driver=local
	Dangling  *bool    // dangling=true|false: no container uses it
	All       bool     // prune only: named volumes too, not only anonymous ones

	// InUse names volumes the caller knows to be in use besides the
	// store's own references (for dangling=).
	InUse map[string]bool
}

// ParseFilters parses --filter values: name=, label=, label!=, driver=,
// dangling= (true, false, 1 or 0) and all= (prune's --all).
func ParseFilters(args []string) (Filters, error) {
	var f Filters
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if ok && strings.HasSuffix(k, "!") {
			k = k + "="
		}
		switch {
		case !ok:
			return Filters{}, errdefs.InvalidArgument("bad format of filter (expected name=value): %s", a)
		case k == "name":
			if _, err := regexp.Compile(v); err != nil {
				return Filters{}, errdefs.InvalidArgument("invalid filter 'name=%s': %v", v, err)
			}
			f.Names = append(f.Names, v)
		case k == "label":
			f.Labels = append(f.Labels, v)
		case k == "label!=":
			f.NotLabels = append(f.NotLabels, v)
		case k == "driver":
			f.Drivers = append(f.Drivers, v)
		case k == "dangling", k == "all":
			b, err := strconv.ParseBool(v)
			if err != nil || v != "true" && v != "false" && v != "1" && v != "0" {
				return Filters{}, errdefs.InvalidArgument("invalid filter '%s=%s'", k, v)
			}
			if k == "all" {
				f.All = b
			} else {
				f.Dangling = &b
			}
		default:
			return Filters{}, errdefs.InvalidArgument("invalid filter '%s'", strings.TrimSuffix(k, "="))
		}
	}
	return f, nil
}

func (f Filters) match(v *Volume) bool {
	if len(f.Names) > 0 {
		ok := false
		for _, n := range f.Names {
			if m, _ := regexp.MatchString(n, v.Name); m {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, l := range f.Labels {
		if !hasLabel(v.Labels, l) {
			return false
		}
	}
	for _, l := range f.NotLabels {
		if hasLabel(v.Labels, l) {
			return false
		}
	}
	if len(f.Drivers) > 0 {
		ok := false
		for _, d := range f.Drivers {
			ok = ok || d == v.Driver
		}
		if !ok {
			return false
		}
	}
	if f.Dangling != nil {
		dangling := len(v.UsedBy) == 0 && len(v.MountedBy) == 0 && !f.InUse[v.Name]
		if dangling != *f.Dangling {
			return false
		}
	}
	return true
}

// hasLabel matches KEY (present, any value) or KEY=VALUE.
func hasLabel(labels map[string]string, l string) bool {
	k, want, withValue := strings.Cut(l, "=")
	got, ok := labels[k]
	return ok && (!withValue || got == want)
}
