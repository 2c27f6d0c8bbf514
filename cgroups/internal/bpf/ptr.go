package bpf

import "unsafe"

// pointer is an __aligned_u64 of union bpf_attr that holds a user-space
// address. It stores an unsafe.Pointer, not a uintptr, so that the garbage
// collector and stack copying see the reference while the syscall runs:
// one pointer on 64-bit machines, two words (the address in the low one)
// on 32-bit ones.
type pointer [8 / unsafe.Sizeof(uintptr(0))]unsafe.Pointer

func ptrTo[T any](v *T) pointer {
	var p pointer
	if bigEndian {
		p[len(p)-1] = unsafe.Pointer(v)
	} else {
		p[0] = unsafe.Pointer(v)
	}
	return p
}
