package seccomp

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Program is a compiled filter: classic BPF ready for seccomp(2) and the
// SECCOMP_FILTER_FLAG_* to load it with. libseccomp spends milliseconds
// building a big profile (Docker's default one takes about 15 ms on amd64,
// mostly for the x86 and x32 architectures), while loading a Program takes
// microseconds; so a runtime can compile on the host while it sets up the
// container, or keep Programs in a cache (CompileCached), and have the
// container's init only call Load.
type Program struct {
	Filter []unix.SockFilter
	// Flags for seccomp(SECCOMP_SET_MODE_FILTER); Load adds TSYNC.
	Flags uint
}

// Compile checks cfg like Validate and builds its filter without loading
// it. A nil cfg gives a nil Program.
func Compile(cfg *specs.LinuxSeccomp) (*Program, error) {
	if cfg == nil {
		return nil, nil
	}
	def, err := convertAction(-1, cfg.DefaultAction, cfg.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	filter, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, fmt.Errorf("seccomp: new filter: %w", err)
	}
	defer filter.Release()

	flags, err := compile(cfg, def, filter)
	if err != nil {
		return nil, err
	}
	bpf, err := exportBPF(filter)
	if err != nil {
		return nil, fmt.Errorf("seccomp: export filter: %w", err)
	}
	p, err := programFromBPF(bpf)
	if err != nil {
		return nil, err
	}
	p.Flags = flags
	return p, nil
}

// exportBPF returns the filter's BPF, from memory where libseccomp (>= 2.6)
// can, else through a memfd.
func exportBPF(filter *libseccomp.ScmpFilter) ([]byte, error) {
	if b, err := filter.ExportBPFMem(); err == nil {
		return b, nil
	}
	fd, err := unix.MemfdCreate("hutch-seccomp-bpf", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	f := os.NewFile(uintptr(fd), "hutch-seccomp-bpf")
	defer f.Close()
	if err := filter.ExportBPF(f); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// sizeofSockFilter is the kernel's struct sock_filter: u16 code, u8 jt,
// u8 jf, u32 k, in host byte order.
const sizeofSockFilter = 8

func programFromBPF(b []byte) (*Program, error) {
	if len(b) == 0 || len(b)%sizeofSockFilter != 0 {
		return nil, fmt.Errorf("seccomp: filter of %d bytes is not a BPF program", len(b))
	}
	if len(b)/sizeofSockFilter > unix.BPF_MAXINSNS {
		return nil, fmt.Errorf("seccomp: filter of %d instructions: the kernel takes at most %d", len(b)/sizeofSockFilter, unix.BPF_MAXINSNS)
	}
	insns := make([]unix.SockFilter, len(b)/sizeofSockFilter)
	for i := range insns {
		in := b[i*sizeofSockFilter:]
		insns[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(in[0:]),
			Jt:   in[2],
			Jf:   in[3],
			K:    binary.NativeEndian.Uint32(in[4:]),
		}
	}
	return &Program{Filter: insns}, nil
}

// Load installs the program in the calling process, in all its threads
// (TSYNC), and returns the listener fd when the program has SCMP_ACT_NOTIFY
// rules, else -1. Like the package's Load it does not set no_new_privs.
func (p *Program) Load() (notifyFd int, err error) {
	if p == nil {
		return -1, nil
	}
	if len(p.Filter) == 0 {
		return -1, errors.New("seccomp: load: empty filter")
	}
	flags := p.Flags | unix.SECCOMP_FILTER_FLAG_TSYNC
	listener := flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0
	if listener {
		// Without TSYNC_ESRCH the kernel refuses TSYNC with a listener:
		// a failed sync would return a thread id where the fd goes.
		flags |= unix.SECCOMP_FILTER_FLAG_TSYNC_ESRCH
	}
	prog := unix.SockFprog{Len: uint16(len(p.Filter)), Filter: &p.Filter[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, uintptr(flags), uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(p)
	if errno != 0 {
		return -1, fmt.Errorf("seccomp: load filter: %w", os.NewSyscallError("seccomp", errno))
	}
	if listener {
		return int(r), nil
	}
	if r != 0 {
		// With TSYNC the kernel names the thread it could not give the
		// filter to (one with a different filter, or no_new_privs
		// where the caller lacks it).
		return -1, fmt.Errorf("seccomp: load filter: thread %d cannot take it (TSYNC)", r)
	}
	return -1, nil
}

// MarshalBinary encodes the program for the trip from the runtime to the
// container's init: the flags as a little-endian uint64, then the
// instructions as the kernel lays them out.
func (p *Program) MarshalBinary() ([]byte, error) {
	b := make([]byte, 8, 8+len(p.Filter)*sizeofSockFilter)
	binary.LittleEndian.PutUint64(b, uint64(p.Flags))
	for _, in := range p.Filter {
		b = binary.NativeEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.NativeEndian.AppendUint32(b, in.K)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary encoded.
func (p *Program) UnmarshalBinary(b []byte) error {
	if len(b) < 8 {
		return fmt.Errorf("seccomp: program of %d bytes: too short", len(b))
	}
	q, err := programFromBPF(b[8:])
	if err != nil {
		return err
	}
	q.Flags = uint(binary.LittleEndian.Uint64(b))
	*p = *q
	return nil
}

// CompileCached is Compile with a cache in dir (for instance under the
// runtime's state root, on tmpfs so that a reboot into another kernel
// empties it). The key covers the config, the libseccomp version and what
// it and the kernel support, so a change of either compiles anew. A cache
// that cannot be read or written only costs the compile. dir must be
// writable by the runtime alone: a program read from it is loaded as the
// container's filter without further checks.
func CompileCached(cfg *specs.LinuxSeccomp, dir string) (*Program, error) {
	if cfg == nil {
		return nil, nil
	}
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("seccomp: encode config: %w", err)
	}
	maj, min, mic := libseccomp.GetLibraryVersion()
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	h := sha256.New()
	fmt.Fprintf(h, "hutch-seccomp-1 %s libseccomp %d.%d.%d api %d kernel %s\n",
		runtime.GOARCH, maj, min, mic, apiLevel(), unix.ByteSliceToString(uts.Release[:]))
	h.Write(data)
	path := filepath.Join(dir, hex.EncodeToString(h.Sum(nil))+".bpf")

	if b, err := os.ReadFile(path); err == nil {
		var p Program
		if err := p.UnmarshalBinary(b); err == nil {
			return &p, nil
		}
	}
	p, err := Compile(cfg)
	if err != nil {
		return nil, err
	}
	if b, err := p.MarshalBinary(); err == nil {
		writeCache(dir, path, b)
	}
	return p, nil
}

// writeCache writes through a temporary file and a rename so that a
// concurrent reader sees the whole program or none.
func writeCache(dir, path string, b []byte) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if werr != nil || cerr != nil || os.Rename(f.Name(), path) != nil {
		os.Remove(f.Name())
	}
}
