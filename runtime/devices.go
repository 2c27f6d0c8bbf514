package runtime

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// deviceRules is the cgroup device list the container gets: the spec's
// own rules, then the devices every container needs (and mknod of any
// node, which the kernel still limits to the allowed ones on open), then the
// spec's linux.devices, which the spec says must be usable. runc builds
// the same list, so a deny-all default spec still gets a working /dev.
func deviceRules(spec *specs.Spec) []specs.LinuxDeviceCgroup {
	var rules []specs.LinuxDeviceCgroup
	if r := spec.Linux.Resources; r != nil {
		rules = append(rules, r.Devices...)
	}
	i64 := func(v int64) *int64 { return &v }
	wild := i64(-1)
	allow := func(typ string, major, minor *int64, access string) {
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: major, Minor: minor, Access: access})
	}
	allow("c", wild, wild, "m")
	allow("b", wild, wild, "m")
	for _, d := range defaultDevices {
		allow(d.Type, i64(d.Major), i64(d.Minor), "rwm")
	}
	allow("c", i64(5), i64(1), "rwm") // /dev/console
	allow("c", i64(5), i64(2), "rwm") // /dev/ptmx
	allow("c", i64(136), wild, "rwm") // /dev/pts/*
	// A device the spec's own rules name is left to them: `docker run
	// --device /dev/sdb:/dev/xvdb:r` lists the node and allows "r" for it,
	// and an "rwm" added here would make it writable after all.
	ruled := map[[3]int64]bool{}
	if r := spec.Linux.Resources; r != nil {
		for _, rule := range r.Devices {
			if rule.Major != nil && rule.Minor != nil {
				t := rule.Type
				if t == "" || t == "a" {
					continue
				}
				ruled[[3]int64{int64(t[0]), *rule.Major, *rule.Minor}] = true
			}
		}
	}
	for _, d := range spec.Linux.Devices {
		t := d.Type
		if t == "u" {
			t = "c"
		}
		if t == "p" || ruled[[3]int64{int64(t[0]), d.Major, d.Minor}] {
			continue
		}
		allow(t, i64(d.Major), i64(d.Minor), "rwm")
	}
	return rules
}
