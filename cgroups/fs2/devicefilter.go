package fs2

import (
	"fmt"

	"hutch.dev/hutch/cgroups/internal/bpf"
	"hutch.dev/hutch/cgroups/internal/devices"
)

// The program's context is struct bpf_cgroup_dev_ctx (include/uapi/linux/
// bpf.h): u32 access_type (access << 16 | type), u32 major, u32 minor.
// Types are BPF_DEVCG_DEV_BLOCK = 1 and BPF_DEVCG_DEV_CHAR = 2; the access
// bits BPF_DEVCG_ACC_MKNOD = 1, READ = 2, WRITE = 4 are devices.Access's.
const (
	devBlock = 1
	devChar  = 2

	ctxAccessType = 0
	ctxMajor      = 4
	ctxMinor      = 8
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
func deviceFilter(st devices.State) bpf.Instructions {
	prog := bpf.Instructions{
		bpf.LoadMem32(bpf.R2, bpf.R1, ctxAccessType),
		bpf.And32Imm(bpf.R2, 0xffff),
		bpf.LoadMem32(bpf.R3, bpf.R1, ctxAccessType),
		bpf.RSh32Imm(bpf.R3, 16),
		bpf.LoadMem32(bpf.R4, bpf.R1, ctxMajor),
		bpf.LoadMem32(bpf.R5, bpf.R1, ctxMinor),
	}
	for i, e := range st.Exceptions {
		next := fmt.Sprintf("rule_%d", i+1)
		var block bpf.Instructions
		switch e.Type {
		case devices.Block:
			block = append(block, bpf.JNEImm(bpf.R2, devBlock, next))
		case devices.Char:
			block = append(block, bpf.JNEImm(bpf.R2, devChar, next))
		}
		if e.Access != devices.RWM || st.DefaultAllow {
			block = append(block, bpf.Mov32Reg(bpf.R1, bpf.R3), bpf.And32Imm(bpf.R1, int32(e.Access)))
			if st.DefaultAllow {
				block = append(block, bpf.JEqImm(bpf.R1, 0, next))
			} else {
				block = append(block, bpf.JNEReg(bpf.R1, bpf.R3, next))
			}
		}
		if e.Major != devices.Wildcard {
			block = append(block, bpf.JNEImm(bpf.R4, int32(e.Major), next))
		}
		if e.Minor != devices.Wildcard {
			block = append(block, bpf.JNEImm(bpf.R5, int32(e.Minor), next))
		}
		block = append(block, bpf.MovImm(bpf.R0, verdict(!st.DefaultAllow)), bpf.Exit())
		block[0] = block[0].WithLabel(fmt.Sprintf("rule_%d", i))
		prog = append(prog, block...)
	}
	last := bpf.MovImm(bpf.R0, verdict(st.DefaultAllow)).WithLabel(fmt.Sprintf("rule_%d", len(st.Exceptions)))
	return append(prog, last, bpf.Exit())
}

func verdict(allow bool) int32 {
	if allow {
		return 1
	}
	return 0
}
