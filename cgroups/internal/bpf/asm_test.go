package bpf

import (
	"encoding/hex"
	"strings"
	"testing"
	"unsafe"
)

// The encodings as the kernel's struct bpf_insn holds them on a
// little-endian machine (code, dst | src << 4, off, imm), checked against
// llvm-objdump / bpftool output of the same instructions.
func TestEncoding(t *testing.T) {
	if bigEndian {
		t.Skip("expected bytes are little-endian")
	}
	cases := []struct {
		insn Instruction
		want string
		text string
	}{
		{LoadMem32(R2, R1, 0), "6112000000000000", "r2 = *(u32 *)(r1 +0)"},
		{LoadMem32(R5, R1, 8), "6115080000000000", "r5 = *(u32 *)(r1 +8)"},
		{And32Imm(R2, 0xffff), "54020000ffff0000", "w2 &= 0xffff"},
		{RSh32Imm(R3, 16), "7403000010000000", "w3 >>= 16"},
		{Mov32Reg(R1, R3), "bc31000000000000", "w1 = w3"},
		{MovImm(R0, 1), "b700000001000000", "r0 = 1"},
		{MovImm(R0, -1), "b7000000ffffffff", "r0 = -1"},
		{JNEImm(R2, 2, "x"), "5502030002000000", "if r2 != 2 goto x"},
		{JEqImm(R1, 0, "x"), "1501030000000000", "if r1 == 0 goto x"},
		{JNEReg(R1, R3, "x"), "5d31030000000000", "if r1 != r3 goto x"},
		{Exit(), "9500000000000000", "exit"},
	}
	for _, c := range cases {
		// Three instructions to skip: the jumps land on the label.
		prog := Instructions{c.insn, MovImm(R0, 0), MovImm(R0, 0), MovImm(R0, 0), Exit().WithLabel("x")}
		raw, err := prog.Assemble()
		if err != nil {
			t.Fatal(err)
		}
		got := hex.EncodeToString(unsafe.Slice((*byte)(unsafe.Pointer(&raw[0])), 8))
		if got != c.want {
			t.Errorf("%s: encoded %s, want %s", c.text, got, c.want)
		}
		if c.insn.String() != c.text {
			t.Errorf("String() = %q, want %q", c.insn.String(), c.text)
		}
	}
	if unsafe.Sizeof(RawInstruction{}) != 8 {
		t.Errorf("RawInstruction is %d bytes, want 8", unsafe.Sizeof(RawInstruction{}))
	}
}

func TestAssembleErrors(t *testing.T) {
	cases := []struct {
		prog Instructions
		want string
	}{
		{Instructions{JEqImm(R1, 0, "nowhere"), Exit()}, `undefined label "nowhere"`},
		{Instructions{MovImm(R0, 0).WithLabel("a"), JEqImm(R1, 0, "a"), Exit()}, "jumps backwards"},
		{Instructions{JEqImm(R1, 0, "self").WithLabel("self"), Exit()}, "jumps backwards"},
		{Instructions{MovImm(R0, 0).WithLabel("a"), Exit().WithLabel("a")}, "defined twice"},
	}
	for _, c := range cases {
		if _, err := c.prog.Assemble(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Assemble(\n%v) = %v, want an error containing %q", c.prog, err, c.want)
		}
	}
}

// The attr structs must match union bpf_attr's members byte for byte.
func TestAttrLayout(t *testing.T) {
	var l progLoadAttr
	var a attachAttr
	var q queryAttr
	var g getIDAttr
	cases := []struct {
		name      string
		got, want uintptr
	}{
		{"prog_load.insn_cnt", unsafe.Offsetof(l.insnCnt), 4},
		{"prog_load.insns", unsafe.Offsetof(l.insns), 8},
		{"prog_load.license", unsafe.Offsetof(l.license), 16},
		{"prog_load.log_level", unsafe.Offsetof(l.logLevel), 24},
		{"prog_load.log_size", unsafe.Offsetof(l.logSize), 28},
		{"prog_load.log_buf", unsafe.Offsetof(l.logBuf), 32},
		{"prog_load.kern_version", unsafe.Offsetof(l.kernVersion), 40},
		{"prog_load.prog_flags", unsafe.Offsetof(l.progFlags), 44},
		{"prog_load.prog_name", unsafe.Offsetof(l.progName), 48},
		{"prog_load.prog_ifindex", unsafe.Offsetof(l.progIfindex), 64},
		{"prog_load.expected_attach_type", unsafe.Offsetof(l.expectedAttachType), 68},
		{"sizeof prog_load", unsafe.Sizeof(l), 72},
		{"attach.attach_bpf_fd", unsafe.Offsetof(a.attachBPFFD), 4},
		{"attach.attach_type", unsafe.Offsetof(a.attachType), 8},
		{"attach.attach_flags", unsafe.Offsetof(a.attachFlags), 12},
		{"attach.replace_bpf_fd", unsafe.Offsetof(a.replaceBPFFD), 16},
		{"query.attach_type", unsafe.Offsetof(q.attachType), 4},
		{"query.query_flags", unsafe.Offsetof(q.queryFlags), 8},
		{"query.attach_flags", unsafe.Offsetof(q.attachFlags), 12},
		{"query.prog_ids", unsafe.Offsetof(q.progIDs), 16},
		{"query.prog_cnt", unsafe.Offsetof(q.progCnt), 24},
		{"sizeof query", unsafe.Sizeof(q), 32},
		{"get_id.next_id", unsafe.Offsetof(g.nextID), 4},
		{"get_id.open_flags", unsafe.Offsetof(g.openFlags), 8},
		{"sizeof pointer", unsafe.Sizeof(pointer{}), 8},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s at %d, want %d", c.name, c.got, c.want)
		}
	}
}
