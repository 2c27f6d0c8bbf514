// Package devices turns the OCI device cgroup rules into the state the
// kernel ends up in: a default (allow or deny all) plus exceptions. v1
// writes the rules to devices.allow/devices.deny; v2 has no device files
// and compiles that state into an eBPF program instead.
package devices

import (
	"fmt"
	"math"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/errdefs"
)

// Type is a device type as the v1 devices files spell it.
type Type byte

const (
	All   Type = 'a'
	Block Type = 'b'
	Char  Type = 'c'
)

// Access bits use the values of the kernel's BPF_DEVCG_ACC_* so that the v2
// program can test them directly.
type Access uint8

const (
	Mknod Access = 1 << iota
	Read
	Write

	RWM = Mknod | Read | Write
)

func (a Access) String() string {
	var b strings.Builder
	if a&Read != 0 {
		b.WriteByte('r')
	}
	if a&Write != 0 {
		b.WriteByte('w')
	}
	if a&Mknod != 0 {
		b.WriteByte('m')
	}
	return b.String()
}

// Wildcard is the major or minor number that matches every device ("*").
const Wildcard int64 = -1

// Rule is one validated device rule.
type Rule struct {
	Allow  bool
	Type   Type
	Major  int64
	Minor  int64
	Access Access
}

// String is the rule as devices.allow and devices.deny take it: "c 1:3 rwm".
func (r Rule) String() string {
	num := func(n int64) string {
		if n == Wildcard {
			return "*"
		}
		return fmt.Sprint(n)
	}
	if r.Type == All {
		return "a"
	}
	return fmt.Sprintf("%c %s:%s %s", r.Type, num(r.Major), num(r.Minor), r.Access)
}

// FromSpec validates the OCI rules and converts them. An empty type means
// all devices and an empty access means rwm, as the runtime spec's
// defaults and runc read them.
func FromSpec(in []specs.LinuxDeviceCgroup) ([]Rule, error) {
	out := make([]Rule, 0, len(in))
	for i, d := range in {
		field := fmt.Sprintf("linux.resources.devices[%d]", i)
		r := Rule{Allow: d.Allow, Type: All, Major: Wildcard, Minor: Wildcard, Access: RWM}
		switch d.Type {
		case "", "a":
		case "b":
			r.Type = Block
		case "c":
			r.Type = Char
		default:
			return nil, errdefs.InvalidArgument("%s.type %q: must be a, b or c", field, d.Type)
		}
		var err error
		if r.Major, err = number(field+".major", d.Major); err != nil {
			return nil, err
		}
		if r.Minor, err = number(field+".minor", d.Minor); err != nil {
			return nil, err
		}
		if d.Access != "" {
			r.Access = 0
			for _, c := range d.Access {
				switch c {
				case 'r':
					r.Access |= Read
				case 'w':
					r.Access |= Write
				case 'm':
					r.Access |= Mknod
				default:
					return nil, errdefs.InvalidArgument("%s.access %q: %q is not one of r, w, m", field, d.Access, c)
				}
			}
		}
		out = append(out, r)
	}
	return out, nil
}

func number(field string, p *int64) (int64, error) {
	if p == nil || *p == Wildcard {
		return Wildcard, nil
	}
	// The eBPF program compares against a signed 32-bit immediate; real
	// device numbers are far smaller (12-bit major, 20-bit minor).
	if *p < 0 || *p > math.MaxInt32 {
		return 0, errdefs.InvalidArgument("%s %d: must be -1 (any) or between 0 and %d", field, *p, math.MaxInt32)
	}
	return *p, nil
}
