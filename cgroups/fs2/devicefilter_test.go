package fs2

import (
	"fmt"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/cgroups/internal/bpf"
	"hutch.dev/hutch/cgroups/internal/devices"
)

// run interprets the encoded program on a struct bpf_cgroup_dev_ctx, for
// the instructions the device filter uses; anything else fails the test.
// It checks the assembler's encoding and jump offsets along with the
// program's logic.
func run(t *testing.T, prog []bpf.RawInstruction, typ, access, major, minor uint32) uint64 {
	t.Helper()
	ctx := [3]uint32{access<<16 | typ, major, minor}
	var r [11]uint64
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		dst, src := in.Regs&0xf, in.Regs>>4
		imm := uint64(int64(in.Imm))
		jump := func(cond bool) {
			if cond {
				pc += int(in.Offset)
			}
		}
		switch in.Op {
		case unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W:
			if src != 1 || in.Offset%4 != 0 || in.Offset < 0 || in.Offset >= 12 {
				t.Fatalf("pc %d: load from r%d%+d", pc, src, in.Offset)
			}
			r[dst] = uint64(ctx[in.Offset/4])
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			r[dst] = uint64(uint32(r[dst]) & uint32(in.Imm))
		case unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K:
			r[dst] = uint64(uint32(r[dst]) >> uint32(in.Imm))
		case unix.BPF_ALU | unix.BPF_MOV | unix.BPF_X:
			r[dst] = uint64(uint32(r[src]))
		case unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K:
			r[dst] = imm
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			jump(r[dst] == imm)
		case unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K:
			jump(r[dst] != imm)
		case unix.BPF_JMP | unix.BPF_JNE | unix.BPF_X:
			jump(r[dst] != r[src])
		case unix.BPF_JMP | unix.BPF_EXIT:
			return r[0]
		default:
			t.Fatalf("pc %d: opcode %#x not interpreted", pc, in.Op)
		}
	}
	t.Fatal("ran off the end of the program")
	return 0
}

// allowed is the v1 kernel's decision (security/device_cgroup.c), the
// meaning the program must have.
func allowed(st devices.State, typ devices.Type, acc devices.Access, major, minor int64) bool {
	for _, e := range st.Exceptions {
		if e.Type != typ || (e.Major != devices.Wildcard && e.Major != major) || (e.Minor != devices.Wildcard && e.Minor != minor) {
			continue
		}
		if st.DefaultAllow && e.Access&acc != 0 {
			return false // a deny-exception covering any requested bit
		}
		if !st.DefaultAllow && acc&^e.Access == 0 {
			return true // an allow-exception granting every requested bit
		}
	}
	return st.DefaultAllow
}

func TestDeviceFilterLogic(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	ruleSets := map[string][]specs.LinuxDeviceCgroup{
		"none":      nil,
		"deny all":  {{Allow: false}},
		"allow all": {{Allow: false}, {Allow: true}},
		"runc default": {
			{Allow: false},
			{Allow: true, Type: "c", Major: n(1), Minor: n(3), Access: "rwm"},
			{Allow: true, Type: "c", Major: n(1), Minor: n(5), Access: "rwm"},
			{Allow: true, Type: "c", Major: n(136), Access: "rwm"},
			{Allow: true, Type: "c", Major: n(5), Minor: n(2), Access: "rw"},
			{Allow: true, Type: "c", Access: "m"},
			{Allow: true, Type: "b", Access: "m"},
		},
		"read only block": {
			{Allow: false},
			{Allow: true, Type: "b", Major: n(7), Minor: n(0), Access: "r"},
			{Allow: true, Type: "b", Major: n(7), Minor: n(0), Access: "w"},
			{Allow: false, Type: "b", Major: n(7), Minor: n(0), Access: "w"},
		},
		"deny exceptions": {
			{Allow: true},
			{Allow: false, Type: "b", Major: n(7), Access: "rw"},
			{Allow: false, Type: "c", Major: n(1), Minor: n(5), Access: "m"},
			{Allow: false, Type: "c", Minor: n(3)},
		},
	}
	for name, rs := range ruleSets {
		rules, err := devices.FromSpec(rs)
		if err != nil {
			t.Fatal(err)
		}
		st := devices.AllowAll().Apply(rules)
		prog := deviceFilter(st)
		raw, err := prog.Assemble()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, typ := range []devices.Type{devices.Block, devices.Char} {
			code := uint32(devBlock)
			if typ == devices.Char {
				code = devChar
			}
			for acc := devices.Access(1); acc <= devices.RWM; acc++ {
				for _, major := range []int64{0, 1, 5, 7, 136} {
					for _, minor := range []int64{0, 2, 3, 5, 9} {
						want := allowed(st, typ, acc, major, minor)
						got := run(t, raw, code, uint32(acc), uint32(major), uint32(minor))
						if got != uint64(verdict(want)) {
							t.Errorf("%s: %c %d:%d %s: program returns %d, want allowed=%v\n%v", name, typ, major, minor, acc, got, want, prog)
						}
					}
				}
			}
		}
	}
}

// The program for a small rule set, as a readable fixture.
func TestDeviceFilterListing(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	rules, _ := devices.FromSpec([]specs.LinuxDeviceCgroup{
		{Allow: false},
		{Allow: true, Type: "c", Major: n(1), Minor: n(3), Access: "rwm"},
		{Allow: true, Type: "b", Major: n(7), Access: "r"},
	})
	got := deviceFilter(devices.AllowAll().Apply(rules)).String()
	want := `
	r2 = *(u32 *)(r1 +0)
	w2 &= 0xffff
	r3 = *(u32 *)(r1 +0)
	w3 >>= 16
	r4 = *(u32 *)(r1 +4)
	r5 = *(u32 *)(r1 +8)
rule_0:
	if r2 != 2 goto rule_1
	if r4 != 1 goto rule_1
	if r5 != 3 goto rule_1
	r0 = 1
	exit
rule_1:
	if r2 != 1 goto rule_2
	w1 = w3
	w1 &= 0x2
	if r1 != r3 goto rule_2
	if r4 != 7 goto rule_2
	r0 = 1
	exit
rule_2:
	r0 = 0
	exit
`
	if strings.TrimSpace(got) != strings.TrimSpace(want) {
		t.Errorf("program:\n%s\nwant:\n%s", got, want)
	}
	// And the jump offsets that listing assembles to.
	raw, err := deviceFilter(devices.AllowAll().Apply(rules)).Assemble()
	if err != nil {
		t.Fatal(err)
	}
	var offs []string
	for _, in := range raw {
		if in.Offset != 0 && in.Op&0x07 == unix.BPF_JMP {
			offs = append(offs, fmt.Sprint(in.Offset))
		}
	}
	if s := strings.Join(offs, " "); s != "4 3 2 6 3 2" {
		t.Errorf("jump offsets %s, want 4 3 2 6 3 2", s)
	}
}
