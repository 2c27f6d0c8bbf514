package fs2

import (
	"fmt"

	"github.com/cilium/ebpf/asm"

	"hutch.dev/hutch/cgroups/internal/devices"
)

// The program's context is struct bpf_cgroup_dev_ctx (include/uapi/linux/
// bpf.h): u32 access_type (access << 16 | type), u32 major, u32 minor.
// Types are BPF_DEVCG_DEV_BLOCK = 1 and BPF_DEVCG_DEV_CHAR = 2; the access
// bits BPF_DEVCG_ACC_MKNOD = 1, READ = 2, WRITE = 4 are devices.Access's.
const (
	devBlock = 1
	devChar  = 2
)

// deviceFilter compiles a device state into a program that returns 1
// (allow) or 0 (deny). Registers: R2 type, R3 requested access, R4 major,
// R5 minor. Each exception is a block that falls through to the next one
// on the first mismatch and returns the exception's verdict when all
// fields match; after the last block comes the default.
//
// Matching follows the v1 kernel: an allow-exception (default deny) must
// grant every requested access bit; a deny-exception (default allow)
// denies when it covers any requested bit.
func deviceFilter(st devices.State) asm.Instructions {
	prog := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.And.Imm32(asm.R2, 0xffff),
		asm.LoadMem(asm.R3, asm.R1, 0, asm.Word),
		asm.RSh.Imm32(asm.R3, 16),
		asm.LoadMem(asm.R4, asm.R1, 4, asm.Word),
		asm.LoadMem(asm.R5, asm.R1, 8, asm.Word),
	}
	for i, e := range st.Exceptions {
		next := fmt.Sprintf("rule_%d", i+1)
		var block asm.Instructions
		switch e.Type {
		case devices.Block:
			block = append(block, asm.JNE.Imm(asm.R2, devBlock, next))
		case devices.Char:
			block = append(block, asm.JNE.Imm(asm.R2, devChar, next))
		}
		if e.Access != devices.RWM || st.DefaultAllow {
			block = append(block, asm.Mov.Reg32(asm.R1, asm.R3), asm.And.Imm32(asm.R1, int32(e.Access)))
			if st.DefaultAllow {
				block = append(block, asm.JEq.Imm(asm.R1, 0, next))
			} else {
				block = append(block, asm.JNE.Reg(asm.R1, asm.R3, next))
			}
		}
		if e.Major != devices.Wildcard {
			block = append(block, asm.JNE.Imm(asm.R4, int32(e.Major), next))
		}
		if e.Minor != devices.Wildcard {
			block = append(block, asm.JNE.Imm(asm.R5, int32(e.Minor), next))
		}
		block = append(block, asm.Mov.Imm(asm.R0, verdict(!st.DefaultAllow)), asm.Return())
		block[0] = block[0].WithSymbol(fmt.Sprintf("rule_%d", i))
		prog = append(prog, block...)
	}
	last := asm.Mov.Imm(asm.R0, verdict(st.DefaultAllow)).WithSymbol(fmt.Sprintf("rule_%d", len(st.Exceptions)))
	return append(prog, last, asm.Return())
}

func verdict(allow bool) int32 {
	if allow {
		return 1
	}
	return 0
}
