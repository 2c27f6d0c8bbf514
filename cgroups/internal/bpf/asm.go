// Package bpf is the little eBPF support the cgroup v2 device filter needs:
// an assembler for a handful of instructions and the bpf(2) commands that
// load a BPF_PROG_TYPE_CGROUP_DEVICE program and attach it to, query and
// detach it from a cgroup. It replaces github.com/cilium/ebpf, whose
// package initialisation cost every start of the hutch binary about 2 ms.
//
// The instruction set is documented in the kernel's
// Documentation/bpf/standardization/instruction-set.rst; the encodings
// come from include/uapi/linux/bpf_common.h and bpf.h (the constants are
// golang.org/x/sys/unix's).
package bpf

import (
	"encoding/binary"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Register is one of the eBPF registers R0 to R10. R0 holds the return
// value, R1 the program's context pointer on entry.
type Register uint8

const (
	R0 Register = iota
	R1
	R2
	R3
	R4
	R5
	R6
	R7
	R8
	R9
	R10
)

func (r Register) String() string { return fmt.Sprintf("r%d", uint8(r)) }

// Instruction is one eBPF instruction before assembly. A jump names its
// target by Target, the Label of a later instruction; Assemble turns that
// into the relative offset.
type Instruction struct {
	Op     uint8 // class | operation | source, as in struct bpf_insn's code
	Dst    Register
	Src    Register
	Offset int16 // memory offset; for jumps, filled in by Assemble
	Imm    int32
	Label  string // name of this instruction, for jumps to it
	Target string // for jumps: Label of the instruction to jump to
}

// WithLabel names the instruction so that jumps can target it.
func (i Instruction) WithLabel(name string) Instruction {
	i.Label = name
	return i
}

// Operation codes. BPF_ALU operations work on the low 32 bits and zero
// the upper half of the destination; BPF_ALU64 ones on all 64. BPF_JMP
// compares 64-bit values, the immediate sign-extended.
const (
	opLoadWord = unix.BPF_LDX | unix.BPF_MEM | unix.BPF_W   // dst = *(u32 *)(src + off)
	opAnd32Imm = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K   // dst = u32(dst & imm)
	opRsh32Imm = unix.BPF_ALU | unix.BPF_RSH | unix.BPF_K   // dst = u32(dst >> imm)
	opMov32Reg = unix.BPF_ALU | unix.BPF_MOV | unix.BPF_X   // dst = u32(src)
	opMov64Imm = unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K // dst = imm
	opJEqImm   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K   // if dst == imm goto
	opJNEImm   = unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K   // if dst != imm goto
	opJNEReg   = unix.BPF_JMP | unix.BPF_JNE | unix.BPF_X   // if dst != src goto
	opExit     = unix.BPF_JMP | unix.BPF_EXIT               // return r0
)

// LoadMem32 loads the 32-bit word at src+off into dst (zero-extended).
func LoadMem32(dst, src Register, off int16) Instruction {
	return Instruction{Op: opLoadWord, Dst: dst, Src: src, Offset: off}
}

// And32Imm is dst = uint32(dst) & imm.
func And32Imm(dst Register, imm int32) Instruction {
	return Instruction{Op: opAnd32Imm, Dst: dst, Imm: imm}
}

// RSh32Imm is dst = uint32(dst) >> imm.
func RSh32Imm(dst Register, imm int32) Instruction {
	return Instruction{Op: opRsh32Imm, Dst: dst, Imm: imm}
}

// Mov32Reg is dst = uint32(src).
func Mov32Reg(dst, src Register) Instruction {
	return Instruction{Op: opMov32Reg, Dst: dst, Src: src}
}

// MovImm is dst = imm (64-bit, sign-extended).
func MovImm(dst Register, imm int32) Instruction {
	return Instruction{Op: opMov64Imm, Dst: dst, Imm: imm}
}

// JEqImm jumps to target if dst == imm.
func JEqImm(dst Register, imm int32, target string) Instruction {
	return Instruction{Op: opJEqImm, Dst: dst, Imm: imm, Target: target}
}

// JNEImm jumps to target if dst != imm.
func JNEImm(dst Register, imm int32, target string) Instruction {
	return Instruction{Op: opJNEImm, Dst: dst, Imm: imm, Target: target}
}

// JNEReg jumps to target if dst != src.
func JNEReg(dst, src Register, target string) Instruction {
	return Instruction{Op: opJNEReg, Dst: dst, Src: src, Target: target}
}

// Exit returns R0 to the kernel.
func Exit() Instruction { return Instruction{Op: opExit} }

// RawInstruction is struct bpf_insn: u8 code, u8 dst_reg:4 and src_reg:4,
// s16 off, s32 imm, 8 bytes in the machine's byte order.
type RawInstruction struct {
	Op     uint8
	Regs   uint8
	Offset int16
	Imm    int32
}

// bigEndian: the C bitfields put dst_reg in the low nibble on
// little-endian machines and in the high one on big-endian ones.
var bigEndian = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

func (i Instruction) raw() RawInstruction {
	regs := uint8(i.Dst)&0xf | uint8(i.Src)<<4
	if bigEndian {
		regs = uint8(i.Dst)<<4 | uint8(i.Src)&0xf
	}
	return RawInstruction{Op: i.Op, Regs: regs, Offset: i.Offset, Imm: i.Imm}
}

// Instructions is a program.
type Instructions []Instruction

// Assemble resolves the jump targets and encodes the program. Jumps may
// only go forward (the verifier refuses loops in these programs anyway)
// and every target must name an instruction of the program.
func (p Instructions) Assemble() ([]RawInstruction, error) {
	at := make(map[string]int, len(p))
	for n, i := range p {
		if i.Label == "" {
			continue
		}
		if _, dup := at[i.Label]; dup {
			return nil, fmt.Errorf("bpf: label %q defined twice", i.Label)
		}
		at[i.Label] = n
	}
	out := make([]RawInstruction, len(p))
	for n, i := range p {
		if i.Target != "" {
			t, ok := at[i.Target]
			if !ok {
				return nil, fmt.Errorf("bpf: instruction %d (%v) jumps to undefined label %q", n, i, i.Target)
			}
			if t <= n {
				return nil, fmt.Errorf("bpf: instruction %d (%v) jumps backwards to %q", n, i, i.Target)
			}
			if t-n-1 > 1<<15-1 {
				return nil, fmt.Errorf("bpf: instruction %d (%v): jump too far", n, i)
			}
			i.Offset = int16(t - n - 1)
		}
		out[n] = i.raw()
	}
	return out, nil
}

// String is the program in the kernel verifier's notation, one
// instruction a line, labels on lines of their own.
func (p Instructions) String() string {
	var b strings.Builder
	for _, i := range p {
		if i.Label != "" {
			fmt.Fprintf(&b, "%s:\n", i.Label)
		}
		fmt.Fprintf(&b, "\t%v\n", i)
	}
	return b.String()
}

func (i Instruction) String() string {
	target := i.Target
	if target == "" {
		target = fmt.Sprintf("%+d", i.Offset)
	}
	switch i.Op {
	case opLoadWord:
		return fmt.Sprintf("%v = *(u32 *)(%v %+d)", i.Dst, i.Src, i.Offset)
	case opAnd32Imm:
		return fmt.Sprintf("w%d &= %#x", i.Dst, uint32(i.Imm))
	case opRsh32Imm:
		return fmt.Sprintf("w%d >>= %d", i.Dst, i.Imm)
	case opMov32Reg:
		return fmt.Sprintf("w%d = w%d", i.Dst, i.Src)
	case opMov64Imm:
		return fmt.Sprintf("%v = %d", i.Dst, i.Imm)
	case opJEqImm:
		return fmt.Sprintf("if %v == %d goto %s", i.Dst, i.Imm, target)
	case opJNEImm:
		return fmt.Sprintf("if %v != %d goto %s", i.Dst, i.Imm, target)
	case opJNEReg:
		return fmt.Sprintf("if %v != %v goto %s", i.Dst, i.Src, target)
	case opExit:
		return "exit"
	}
	return fmt.Sprintf("op %#02x dst %v src %v off %d imm %d", i.Op, i.Dst, i.Src, i.Offset, i.Imm)
}
