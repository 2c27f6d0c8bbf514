package bpf

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The parts of union bpf_attr (include/uapi/linux/bpf.h) the commands
// below use, field for field. The kernel accepts an attr shorter than its
// own (the rest reads as zero) and a longer one whose excess is zero, so
// each struct stops after the last field used.

// progLoadAttr is the BPF_PROG_LOAD part.
type progLoadAttr struct {
	progType           uint32
	insnCnt            uint32
	insns              pointer
	license            pointer
	logLevel           uint32
	logSize            uint32
	logBuf             pointer
	kernVersion        uint32
	progFlags          uint32
	progName           [unix.BPF_OBJ_NAME_LEN]byte
	progIfindex        uint32
	expectedAttachType uint32
}

// attachAttr is the BPF_PROG_ATTACH and BPF_PROG_DETACH part.
type attachAttr struct {
	targetFD     uint32
	attachBPFFD  uint32
	attachType   uint32
	attachFlags  uint32
	replaceBPFFD uint32
}

// queryAttr is the BPF_PROG_QUERY part.
type queryAttr struct {
	targetFD    uint32
	attachType  uint32
	queryFlags  uint32
	attachFlags uint32
	progIDs     pointer
	progCnt     uint32
	_           uint32
}

// getIDAttr is the BPF_*_GET_*_ID part.
type getIDAttr struct {
	id        uint32
	nextID    uint32
	openFlags uint32
}

// bpf calls bpf(2), retrying EINTR and, for BPF_PROG_LOAD, EAGAIN: the
// verifier gives up with EAGAIN when a signal arrives (Go's preemption
// sends SIGURG), as cilium/ebpf and libbpf know.
func bpf[T any](cmd int, attr *T) (int, error) {
	for range 100 {
		r, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr))
		runtime.KeepAlive(attr)
		if errno == unix.EINTR || (errno == unix.EAGAIN && cmd == unix.BPF_PROG_LOAD) {
			continue
		}
		if errno != 0 {
			return -1, errno
		}
		return int(r), nil
	}
	return -1, unix.EAGAIN
}

// Program is a loaded program, held by its file descriptor.
type Program struct{ fd int }

// FD is the program's file descriptor.
func (p *Program) FD() int { return p.fd }

// Close releases the program; the kernel frees it once no cgroup holds it.
func (p *Program) Close() error {
	if p.fd < 0 {
		return nil
	}
	err := unix.Close(p.fd)
	p.fd = -1
	return err
}

// ProgramSpec describes a program to load.
type ProgramSpec struct {
	Name    string // up to 15 characters of [A-Za-z0-9_.]; shown by bpftool
	Type    uint32 // unix.BPF_PROG_TYPE_*
	License string
	Insns   Instructions
}

// verifierLogSize bounds the verifier's log, asked for only when a load
// fails; a program of a few hundred instructions needs far less.
const verifierLogSize = 1 << 20

// LoadProgram assembles the program and loads it. It first loads without
// a verifier log; when that fails it loads again with one and puts the
// log in the error.
func LoadProgram(spec ProgramSpec) (*Program, error) {
	insns, err := spec.Insns.Assemble()
	if err != nil {
		return nil, err
	}
	if len(insns) == 0 {
		return nil, errors.New("bpf: empty program")
	}
	if len(spec.Name) >= unix.BPF_OBJ_NAME_LEN {
		return nil, fmt.Errorf("bpf: program name %q longer than %d characters", spec.Name, unix.BPF_OBJ_NAME_LEN-1)
	}
	license := append([]byte(spec.License), 0)
	attr := &progLoadAttr{
		progType: spec.Type,
		insnCnt:  uint32(len(insns)),
		insns:    ptrTo(&insns[0]),
		license:  ptrTo(&license[0]),
	}
	copy(attr.progName[:], spec.Name)

	fd, err := bpf(unix.BPF_PROG_LOAD, attr)
	if err == nil {
		return &Program{fd: fd}, nil
	}
	first := err
	log := make([]byte, verifierLogSize)
	attr.logLevel = 1
	attr.logSize = uint32(len(log))
	attr.logBuf = ptrTo(&log[0])
	fd, err = bpf(unix.BPF_PROG_LOAD, attr)
	if err == nil {
		// Loaded the second time (a transient failure, such as memory).
		return &Program{fd: fd}, nil
	}
	msg := fmt.Sprintf("bpf: load program %q: %v", spec.Name, first)
	if first == unix.EPERM && os.Geteuid() == 0 {
		msg += " (RLIMIT_MEMLOCK too low? kernels before 5.11 charge programs to it)"
	}
	if n := cstrlen(log); n > 0 {
		msg += "; verifier log:\n" + string(log[:n])
		if errors.Is(err, unix.ENOSPC) {
			msg += "\n(log truncated)"
		}
	}
	var errno unix.Errno
	errors.As(first, &errno)
	return nil, &LoadError{msg: msg, Errno: errno}
}

// LoadError is a failed BPF_PROG_LOAD; its message holds the verifier log.
type LoadError struct {
	msg   string
	Errno unix.Errno
}

func (e *LoadError) Error() string { return e.msg }
func (e *LoadError) Unwrap() error { return e.Errno }

func cstrlen(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

// Attach attaches prog to the cgroup whose directory cgroupFD is open,
// for attachType (unix.BPF_CGROUP_*) with flags (unix.BPF_F_ALLOW_MULTI).
func Attach(cgroupFD int, prog *Program, attachType, flags uint32) error {
	_, err := bpf(unix.BPF_PROG_ATTACH, &attachAttr{
		targetFD: uint32(cgroupFD), attachBPFFD: uint32(prog.fd), attachType: attachType, attachFlags: flags,
	})
	if err != nil {
		return fmt.Errorf("bpf: attach program: %w", err)
	}
	return nil
}

// Detach detaches prog from the cgroup. A program attached with
// BPF_F_ALLOW_MULTI must be named by its fd.
func Detach(cgroupFD int, prog *Program, attachType uint32) error {
	_, err := bpf(unix.BPF_PROG_DETACH, &attachAttr{
		targetFD: uint32(cgroupFD), attachBPFFD: uint32(prog.fd), attachType: attachType,
	})
	if err != nil {
		return fmt.Errorf("bpf: detach program: %w", err)
	}
	return nil
}

// Query returns the IDs of the programs attached to the cgroup itself
// (not those it inherits) for attachType.
func Query(cgroupFD int, attachType uint32) ([]uint32, error) {
	// A first call without a buffer returns the count; programs may be
	// attached meanwhile, which ENOSPC reports (with the new count).
	attr := &queryAttr{targetFD: uint32(cgroupFD), attachType: attachType}
	if _, err := bpf(unix.BPF_PROG_QUERY, attr); err != nil {
		return nil, fmt.Errorf("bpf: query programs: %w", err)
	}
	for {
		if attr.progCnt == 0 {
			return nil, nil
		}
		ids := make([]uint32, attr.progCnt)
		attr.progIDs = ptrTo(&ids[0])
		_, err := bpf(unix.BPF_PROG_QUERY, attr)
		if errors.Is(err, unix.ENOSPC) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("bpf: query programs: %w", err)
		}
		return ids[:attr.progCnt], nil
	}
}

// ProgramFromID opens the loaded program with that ID. The error is
// unix.ENOENT (wrapped) when no such program exists any more.
func ProgramFromID(id uint32) (*Program, error) {
	fd, err := bpf(unix.BPF_PROG_GET_FD_BY_ID, &getIDAttr{id: id})
	if err != nil {
		return nil, fmt.Errorf("bpf: open program %d: %w", id, err)
	}
	return &Program{fd: fd}, nil
}
