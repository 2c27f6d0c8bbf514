package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Load installs the filter into the calling process for good, so each case
// runs in a child: the test binary itself, started again with these
// variables set. The child loads the config, then runs the probes (raw
// syscalls, printing "name=errno" lines) or execs a command.
const (
	envConfig = "HUTCH_SECCOMP_TEST_CONFIG" // path of the JSON linux.seccomp
	envProbes = "HUTCH_SECCOMP_TEST_PROBES" // comma-separated probe names
	envExec   = "HUTCH_SECCOMP_TEST_EXEC"   // JSON argv to exec after Load
	envDir    = "HUTCH_SECCOMP_TEST_DIR"    // scratch directory for probes
	envAgent  = "HUTCH_SECCOMP_TEST_AGENT"  // listener socket to send the notify fd to
	envSplit  = "HUTCH_SECCOMP_TEST_SPLIT"  // Compile first, time only Program.Load
)

func TestMain(m *testing.M) {
	if path := os.Getenv(envConfig); path != "" {
		os.Exit(child(path))
	}
	os.Exit(m.Run())
}

func child(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Println("read config:", err)
		return 3
	}
	var cfg specs.LinuxSeccomp
	if err := json.Unmarshal(data, &cfg); err != nil {
		fmt.Println("decode config:", err)
		return 3
	}

	// A thread that exists before Load must get the filter too (TSYNC).
	threadProbe := make(chan string)
	threadResult := make(chan string)
	go func() {
		runtime.LockOSThread()
		for name := range threadProbe {
			threadResult <- probe(name)
		}
	}()

	var fd int
	var elapsed time.Duration
	if os.Getenv(envSplit) != "" {
		p, err := Compile(&cfg)
		if err != nil {
			fmt.Println("compile:", err)
			return 3
		}
		start := time.Now()
		fd, err = p.Load()
		elapsed = time.Since(start)
	} else {
		start := time.Now()
		fd, err = Load(&cfg)
		elapsed = time.Since(start)
	}
	if err != nil {
		fmt.Println("load:", err)
		return 3
	}
	fmt.Printf("load_ns=%d\nnotify_fd=%d\n", elapsed.Nanoseconds(), fd)

	if agent := os.Getenv(envAgent); agent != "" {
		state, _ := json.Marshal(specs.ContainerProcessState{
			Version:  specs.Version,
			Fds:      []string{specs.SeccompFdName},
			Pid:      os.Getpid(),
			Metadata: cfg.ListenerMetadata,
			State:    specs.State{Version: specs.Version, ID: "test", Status: specs.StateCreating, Pid: os.Getpid(), Bundle: "/"},
		})
		if err := SendListenerFd(agent, fd, state); err != nil {
			fmt.Println("send listener fd:", err)
			return 3
		}
		unix.Close(fd)
	}

	if argv := os.Getenv(envExec); argv != "" {
		var args []string
		if err := json.Unmarshal([]byte(argv), &args); err != nil {
			fmt.Println("decode argv:", err)
			return 3
		}
		err := unix.Exec(args[0], args, os.Environ())
		fmt.Println("exec:", err)
		return 3
	}
	for _, name := range strings.Split(os.Getenv(envProbes), ",") {
		if thread, ok := strings.CutPrefix(name, "thread:"); ok {
			threadProbe <- thread
			fmt.Printf("%s=%s\n", name, <-threadResult)
			continue
		}
		fmt.Printf("%s=%s\n", name, probe(name))
	}
	return 0
}

// probe makes one syscall by number, so no libc or Go wrapper changes it,
// and returns its errno (0 on success). name is "syscall" or "syscall:arg".
func probe(name string) string {
	call, arg, _ := strings.Cut(name, ":")
	var a0 uint64
	if arg != "" {
		var err error
		if a0, err = strconv.ParseUint(arg, 0, 64); err != nil {
			return "bad-arg"
		}
	}
	dir := os.Getenv(envDir)
	ptr := func(s string) uintptr {
		p, _ := unix.BytePtrFromString(s)
		return uintptr(unsafe.Pointer(p))
	}
	var r uintptr
	var errno syscall.Errno
	fdcwd, keyring := unix.AT_FDCWD, unix.KEY_SPEC_PROCESS_KEYRING
	switch call {
	case "getpid":
		_, _, errno = unix.RawSyscall(unix.SYS_GETPID, 0, 0, 0)
	case "mkdir":
		// Raw mkdir (not mkdirat, which os.Mkdir uses): the rules name it.
		_, _, errno = unix.Syscall(unix.SYS_MKDIR, ptr(filepath.Join(dir, "d"+strconv.Itoa(os.Getpid())+arg)), 0o755, 0)
	case "mkdirat":
		_, _, errno = unix.Syscall(unix.SYS_MKDIRAT, uintptr(fdcwd), ptr(filepath.Join(dir, "at"+strconv.Itoa(os.Getpid()))), 0o755)
	case "personality":
		_, _, errno = unix.RawSyscall(unix.SYS_PERSONALITY, uintptr(a0), 0, 0)
	case "socket":
		r, _, errno = unix.RawSyscall(unix.SYS_SOCKET, uintptr(a0), unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if errno == 0 {
			unix.Close(int(r))
		}
	case "socket-stream":
		r, _, errno = unix.RawSyscall(unix.SYS_SOCKET, uintptr(a0), unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if errno == 0 {
			unix.Close(int(r))
		}
	case "unshare":
		// unshare(0) changes nothing and succeeds when allowed.
		_, _, errno = unix.RawSyscall(unix.SYS_UNSHARE, 0, 0, 0)
	case "mount":
		// Remounting a path that does not exist fails with ENOENT when
		// allowed, so the probe never mounts anything on the host.
		_, _, errno = unix.Syscall6(unix.SYS_MOUNT, 0, ptr(filepath.Join(dir, "missing")), 0, unix.MS_REMOUNT, 0, 0)
	case "keyctl":
		_, _, errno = unix.RawSyscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(keyring), 0)
	case "clone3":
		// A NULL clone_args of size 0 is EINVAL when allowed.
		_, _, errno = unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0)
	case "setns":
		_, _, errno = unix.RawSyscall(unix.SYS_SETNS, ^uintptr(0), 0, 0)
	default:
		return "unknown-probe"
	}
	return strconv.Itoa(int(errno))
}

type childResult struct {
	out    map[string]string
	stdout string
	stderr string
	state  *os.ProcessState
}

// runChild loads cfg in a child, runs probes or execs argv, and returns
// what it printed.
func runChild(t *testing.T, cfg *specs.LinuxSeccomp, probes []string, argv []string, env ...string) childResult {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading a filter without no_new_privs needs CAP_SYS_ADMIN: run as root")
	}
	dir := t.TempDir()
	data, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "seccomp.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envConfig+"="+path, envDir+"="+dir, envProbes+"="+strings.Join(probes, ","))
	cmd.Env = append(cmd.Env, env...)
	if argv != nil {
		a, _ := json.Marshal(argv)
		cmd.Env = append(cmd.Env, envExec+"="+string(a))
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatal(err)
	}
	res := childResult{out: map[string]string{}, stdout: stdout.String(), stderr: stderr.String(), state: cmd.ProcessState}
	for _, line := range strings.Split(stdout.String(), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			res.out[k] = v
		}
	}
	if _, ok := res.out["load_ns"]; !ok {
		t.Fatalf("child did not load the filter: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	return res
}

func (r childResult) expect(t *testing.T, want map[string]syscall.Errno) {
	t.Helper()
	if !r.state.Success() {
		t.Fatalf("child: %v\nstdout: %s\nstderr: %s", r.state, r.stdout, r.stderr)
	}
	for k, e := range want {
		got, ok := r.out[k]
		if !ok {
			t.Errorf("probe %s: no result\n%s", k, r.stdout)
			continue
		}
		if got != strconv.Itoa(int(e)) {
			n, _ := strconv.Atoi(got)
			t.Errorf("probe %s: errno %s (%v), want %d (%v)", k, got, syscall.Errno(n), int(e), e)
		}
	}
}

func keys(m map[string]syscall.Errno) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func check(t *testing.T, cfg *specs.LinuxSeccomp, want map[string]syscall.Errno) childResult {
	t.Helper()
	r := runChild(t, cfg, keys(want), nil)
	r.expect(t, want)
	return r
}

func TestLoadErrnoRet(t *testing.T) {
	check(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.ENOSYS))}},
	}, map[string]syscall.Errno{
		"mkdir":   unix.ENOSYS,
		"mkdirat": 0,
		"getpid":  0,
		// Filters hold for threads that existed before Load.
		"thread:mkdir": unix.ENOSYS,
	})
}

func TestLoadErrnoDefaultsToEPERM(t *testing.T) {
	check(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}},
	}, map[string]syscall.Errno{"mkdir": unix.EPERM, "mkdirat": 0})
}

func TestLoadDefaultErrnoRet(t *testing.T) {
	// An allow list: everything not named fails with defaultErrnoRet.
	// The Go runtime of the child needs these to print and exit, and the
	// runtime may start a thread at any time: the test binary uses cgo, so
	// that is glibc's pthread_create, which tries clone3 first and only falls
	// back to clone on ENOSYS (EXDEV made it abort), then sets up the thread
	// with mprotect, set_robust_list and rseq.
	allowed := []string{
		"write", "exit", "exit_group", "futex", "getpid", "gettid", "tgkill", "rt_sigaction",
		"rt_sigprocmask", "rt_sigreturn", "sigaltstack", "mmap", "munmap", "madvise", "nanosleep",
		"sched_yield", "clock_gettime", "clone", "clone3", "mprotect", "set_robust_list", "rseq",
		"sched_getaffinity", "getrandom", "epoll_pwait", "epoll_ctl", "read", "close",
	}
	check(t, &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: uintp(uint(unix.EXDEV)),
		Syscalls:        []specs.LinuxSyscall{{Names: allowed, Action: specs.ActAllow}},
	}, map[string]syscall.Errno{"getpid": 0, "mkdir": unix.EXDEV, "mkdirat": unix.EXDEV})
}

func TestLoadArgCondition(t *testing.T) {
	check(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"personality"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EACCES)),
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x0040000, Op: specs.OpEqualTo}}},
			{Names: []string{"socket"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EAFNOSUPPORT)),
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: unix.AF_INET, Op: specs.OpEqualTo}}},
		},
	}, map[string]syscall.Errno{
		"personality:0x0040000":  unix.EACCES, // ADDR_NO_RANDOMIZE
		"personality:0xffffffff": 0,           // query
		"socket:2":               unix.EAFNOSUPPORT,
		"socket:1":               0, // AF_UNIX
		"socket:10":              0, // AF_INET6
	})
}

func TestLoadArgsSameIndexAreORed(t *testing.T) {
	// Two conditions on argument 0: one rule each, so either matches.
	check(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{
			Names: []string{"socket"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EACCES)),
			Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: unix.AF_INET, Op: specs.OpEqualTo},
				{Index: 0, Value: unix.AF_INET6, Op: specs.OpEqualTo},
			},
		}},
	}, map[string]syscall.Errno{"socket:2": unix.EACCES, "socket:10": unix.EACCES, "socket:1": 0})
}

func TestLoadArgsDifferentIndexesAreANDed(t *testing.T) {
	// domain == AF_INET and type masked to SOCK_STREAM: only TCP sockets.
	check(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{
			Names: []string{"socket"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.EACCES)),
			Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: unix.AF_INET, Op: specs.OpEqualTo},
				{Index: 1, Value: 0xf, ValueTwo: unix.SOCK_STREAM, Op: specs.OpMaskedEqual},
			},
		}},
	}, map[string]syscall.Errno{
		"socket-stream:2":  unix.EACCES,
		"socket:2":         0, // AF_INET, SOCK_DGRAM
		"socket-stream:10": 0, // AF_INET6, SOCK_STREAM
	})
}

func TestLoadLogAllows(t *testing.T) {
	check(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Flags:         []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow, FlagTsync},
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActLog}},
	}, map[string]syscall.Errno{"mkdir": 0})
}

func TestLoadKillProcess(t *testing.T) {
	r := runChild(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActKillProcess}},
	}, []string{"getpid", "mkdir"}, nil)
	ws, ok := r.state.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != unix.SIGSYS {
		t.Fatalf("child: %v, want killed by SIGSYS\n%s", r.state, r.stdout)
	}
	if r.out["getpid"] != "0" {
		t.Errorf("getpid before the killing call: %q", r.out["getpid"])
	}
}

func TestLoadUnknownSyscallSkipped(t *testing.T) {
	check(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"no_such_syscall_hutch", "mkdir"}, Action: specs.ActErrno},
			// Same action as the default: a no-op libseccomp would refuse.
			{Names: []string{"getpid"}, Action: specs.ActAllow},
		},
	}, map[string]syscall.Errno{"mkdir": unix.EPERM, "getpid": 0})
}

func TestLoadExec(t *testing.T) {
	busybox := busyboxPath(t)
	r := runChild(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.ENOSYS))}},
	}, nil, []string{busybox, "sh", "-c", "echo hello; mkdir /tmp/hutch-seccomp-test-$$ 2>&1; echo rc=$?"})
	if !r.state.Success() || !strings.Contains(r.stdout, "hello\n") || !strings.Contains(r.stdout, "rc=1") {
		t.Fatalf("child: %v\nstdout: %s\nstderr: %s", r.state, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "Function not implemented") {
		t.Errorf("mkdir after exec did not fail with ENOSYS:\n%s", r.stdout)
	}
}

func TestLoadNotify(t *testing.T) {
	if apiLevel() < 6 {
		t.Skip("libseccomp or kernel without user notification")
	}
	r := runChild(t, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		ListenerPath:  "/run/hutch-test-agent.sock",
		Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}},
	}, []string{"getpid"}, nil)
	r.expect(t, map[string]syscall.Errno{"getpid": 0})
	if fd, _ := strconv.Atoi(r.out["notify_fd"]); fd < 0 {
		t.Errorf("notify fd %q, want an fd", r.out["notify_fd"])
	}
}

func TestLoadNoNotifyFd(t *testing.T) {
	r := check(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno}}},
		map[string]syscall.Errno{"getpid": 0})
	if r.out["notify_fd"] != "-1" {
		t.Errorf("notify fd %q without SCMP_ACT_NOTIFY, want -1", r.out["notify_fd"])
	}
}

func TestLoadDefaultProfile(t *testing.T) {
	r := check(t, DefaultProfile(), map[string]syscall.Errno{
		"getpid":        0,
		"mkdir":         0,
		"socket:1":      0,
		"socket:38":     unix.EPERM, // AF_ALG
		"socket:40":     unix.EPERM, // AF_VSOCK
		"personality:8": 0,
		// ADDR_NO_RANDOMIZE
		"personality:0x0040000": unix.EPERM,
		"unshare":               unix.EPERM,
		"mount":                 unix.EPERM,
		"keyctl":                unix.EPERM,
		"setns":                 unix.EPERM,
		"clone3":                unix.ENOSYS,
		"thread:unshare":        unix.EPERM,
	})
	t.Logf("Load of the default profile (%d rule blocks, architectures %v): %sns", len(DefaultProfile().Syscalls), DefaultProfile().Architectures, r.out["load_ns"])
}

func TestProgramLoadDefaultProfile(t *testing.T) {
	r := runChild(t, DefaultProfile(), []string{"getpid", "mkdir", "unshare", "clone3", "thread:unshare"}, nil, envSplit+"=1")
	r.expect(t, map[string]syscall.Errno{"getpid": 0, "mkdir": 0, "unshare": unix.EPERM, "clone3": unix.ENOSYS, "thread:unshare": unix.EPERM})
	t.Logf("Program.Load of the compiled default profile: %sns", r.out["load_ns"])
}

func TestLoadDefaultProfileExec(t *testing.T) {
	busybox := busyboxPath(t)
	r := runChild(t, DefaultProfile(), nil, []string{busybox, "sh", "-c", "ls / >/dev/null && echo ok; busybox unshare -m true 2>&1; echo rc=$?"})
	if !r.state.Success() || !strings.Contains(r.stdout, "ok\n") {
		t.Fatalf("child: %v\nstdout: %s\nstderr: %s", r.state, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "Operation not permitted") || !strings.Contains(r.stdout, "rc=1") {
		t.Errorf("unshare under the default profile did not fail with EPERM:\n%s", r.stdout)
	}
}

func busyboxPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("no busybox (apt-get install busybox-static)")
	return ""
}

// TestLoadNotifyAgent plays the seccomp agent: it listens at listenerPath,
// gets the state and the listener fd from the child (SendListenerFd), and
// answers the child's mkdir with ENOTTY, which the child sees.
func TestLoadNotifyAgent(t *testing.T) {
	if apiLevel() < 6 {
		t.Skip("libseccomp or kernel without user notification")
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	type agentResult struct {
		state specs.ContainerProcessState
		nr    string
		err   error
	}
	done := make(chan agentResult, 1)
	go func() {
		var res agentResult
		defer func() { done <- res }()
		conn, err := ln.AcceptUnix()
		if err != nil {
			res.err = err
			return
		}
		defer conn.Close()
		buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
		n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
		if err != nil {
			res.err = err
			return
		}
		if res.err = json.Unmarshal(buf[:n], &res.state); res.err != nil {
			return
		}
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil || len(msgs) != 1 {
			res.err = fmt.Errorf("control messages %v: %v", msgs, err)
			return
		}
		fds, err := unix.ParseUnixRights(&msgs[0])
		if err != nil || len(fds) != 1 {
			res.err = fmt.Errorf("rights %v: %v", fds, err)
			return
		}
		fd := libseccomp.ScmpFd(fds[0])
		defer unix.Close(fds[0])
		req, err := libseccomp.NotifReceive(fd)
		if err != nil {
			res.err = err
			return
		}
		res.nr, _ = req.Data.Syscall.GetName()
		res.err = libseccomp.NotifRespond(fd, &libseccomp.ScmpNotifResp{ID: req.ID, Error: int32(unix.ENOTTY)})
	}()

	r := runChild(t, &specs.LinuxSeccomp{
		DefaultAction:    specs.ActAllow,
		ListenerPath:     sock,
		ListenerMetadata: "hello agent",
		Flags:            []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv},
		Syscalls:         []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}},
	}, []string{"getpid", "mkdir"}, nil, envAgent+"="+sock)
	res := <-done
	if res.err != nil {
		t.Fatalf("agent: %v", res.err)
	}
	r.expect(t, map[string]syscall.Errno{"getpid": 0, "mkdir": unix.ENOTTY})
	if res.nr != "mkdir" {
		t.Errorf("agent got syscall %q, want mkdir", res.nr)
	}
	st := res.state
	if st.Version != specs.Version || len(st.Fds) != 1 || st.Fds[0] != specs.SeccompFdName || st.Metadata != "hello agent" || st.Pid == 0 || st.State.ID != "test" {
		t.Errorf("agent got state %+v", st)
	}
}

func TestProgramMarshal(t *testing.T) {
	p, err := Compile(DefaultProfile())
	if err != nil {
		t.Fatal(err)
	}
	if p.Flags&unix.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
		t.Errorf("flags %#x: listener without SCMP_ACT_NOTIFY", p.Flags)
	}
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var q Program
	if err := q.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if q.Flags != p.Flags || !slices.Equal(q.Filter, p.Filter) {
		t.Fatal("program changed through MarshalBinary and UnmarshalBinary")
	}
	if err := q.UnmarshalBinary(b[:len(b)-3]); err == nil {
		t.Error("UnmarshalBinary took a truncated program")
	}
	t.Logf("default profile: %d BPF instructions, flags %#x", len(p.Filter), p.Flags)
}

func TestCompileCached(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	cfg := DefaultProfile()
	start := time.Now()
	p1, err := CompileCached(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	cold := time.Since(start)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("cache has %d entries, want 1", len(entries))
	}
	start = time.Now()
	p2, err := CompileCached(cfg, dir)
	if err != nil {
		t.Fatal(err)
	}
	warm := time.Since(start)
	if p1.Flags != p2.Flags || !slices.Equal(p1.Filter, p2.Filter) {
		t.Fatal("cached program differs")
	}
	t.Logf("default profile: compile %v, from cache %v", cold, warm)

	// Another config is another entry; an invalid one is refused, not
	// looked up.
	cfg.Syscalls = cfg.Syscalls[1:]
	if _, err := CompileCached(cfg, dir); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("cache has %d entries, want 2", len(entries))
	}
	cfg.DefaultAction = "SCMP_ACT_FOO"
	if _, err := CompileCached(cfg, dir); err == nil {
		t.Error("CompileCached took an invalid config")
	}
}
