// Package monitor is the per-container supervisor, Hutch's daemonless
// stand-in for conmon or containerd-shim. One monitor process (the hidden
// `hutch monitor ID`, in its own session) lives as long as its container:
// it creates and starts the container through the runtime library, so it
// is the parent of the container's init (and, as a subreaper, of every
// orphan in it), holds the container's stdio or pty, copies the output to
// the log and to attached clients, and at exit hands the status to the
// engine's hooks, which record it, tear down, and may ask for a restart.
//
// The monitor knows nothing of records, images or networks: the engine
// gives it Hooks.
package monitor

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/internal/fdpass"
	"hutch.dev/hutch/runtime"
)

// LogSink receives the container's output.
type LogSink interface {
	// Stream returns the writer for "stdout" or "stderr".
	Stream(name string) io.Writer
	// Detach flushes and hands over the live log file (still locked) for
	// the relay; the sink is not written to afterwards.
	Detach() (*os.File, error)
}

// Config describes one container to supervise.
type Config struct {
	ID          string
	RuntimeRoot string
	Bundle      string
	Tty         bool
	Stdin       bool // keep the container's stdin open (-i)
	Log         LogSink
	// AttachSocket is where `hutch attach` connects ("" for none).
	AttachSocket string
	// Sync receives one line when the first start succeeded ("ok PID") or
	// failed ("error MESSAGE"), then is closed.
	Sync *os.File
	// Attach is an already connected first client (foreground `run`):
	// it sees the output from the first byte.
	Attach *os.File
	// ConsoleSize (rows, cols) is set on a Tty container's pty before it
	// starts, so its first output already fits the caller's terminal.
	ConsoleSize [2]uint16
	// HealthInterval, when set, runs Hooks.HealthCheck that often while
	// the container runs, one check at a time.
	HealthInterval time.Duration

	// RelayArgs, when set, is the argv that resumes this monitor in Go
	// after the container's init exited (`hutch ... monitor --resume ID`).
	// Once the container runs, the monitor then hands its stdio, log and
	// clients to the C relay (monitor/relay) by exec'ing itself, which
	// keeps an idle container's monitor small; the relay execs RelayArgs
	// at the end. Without it the monitor relays in Go.
	RelayArgs []string
	// LogPath, LogMaxSize and LogMaxFiles tell the relay how to go on
	// with the log (logfile's rotation).
	LogPath     string
	LogMaxSize  int64
	LogMaxFiles int
}

// ExitStatus is how the container's init ended.
type ExitStatus struct {
	Code      int // exit code, or 128+signal
	OOMKilled bool
	At        time.Time
}

// Hooks are the engine's part of supervision.
type Hooks struct {
	// Prepare makes the bundle ready before each start (mount the root
	// filesystem, write config.json, set up the network).
	Prepare func() error
	// Started records the running container.
	Started func(pid int) error
	// Failed undoes Prepare after a start that failed.
	Failed func(err error)
	// Exited records the end and tears down; restart asks for another
	// start after delay.
	Exited func(st ExitStatus) (restart bool, delay time.Duration)
	// Done runs once when the monitor ends for good, after the clients
	// got the exit code (marks the log finished).
	Done func()
	// KeepRestarting is asked while waiting to restart; false (the
	// container was stopped meanwhile) ends the monitor instead.
	KeepRestarting func() bool
	// HealthCheck starts one check as a child process and returns its
	// pid; the monitor reaps it. The check records its own result.
	HealthCheck func() (int, error)
}

type monitor struct {
	cfg   Config
	hooks Hooks

	mu      sync.Mutex
	clients map[*client]struct{}
	stdin   *os.File // write end of the container's stdin, or the pty master
	master  *os.File // pty master when Tty
	initPid int
	c       *runtime.Container
	// healthPid is the running check (0 for none); the reaper clears it.
	healthPid atomic.Int64
	sigchld   chan os.Signal
	listener  net.Listener
}

type client struct {
	conn net.Conn
	fw   *FrameWriter
}

// Run supervises the container until it ends for good and returns its
// last exit code.
func Run(cfg Config, hooks Hooks) (int, error) {
	m, err := newMonitor(cfg, hooks)
	if err != nil {
		return 0, err
	}
	if cfg.Attach != nil {
		conn, err := net.FileConn(cfg.Attach)
		cfg.Attach.Close()
		if err == nil {
			m.addClient(conn)
		}
	}
	if cfg.AttachSocket != "" {
		if l, err := listenUnix(cfg.AttachSocket); err == nil {
			m.serve(l)
		}
	}
	return m.loop(nil)
}

// Resume takes over from the relay once the container's init exited with
// code: the clients and the attach socket come back as the inherited
// descriptors the relay names in the environment.
func Resume(cfg Config, hooks Hooks, code int) (int, error) {
	m, err := newMonitor(cfg, hooks)
	if err != nil {
		return 0, err
	}
	for _, fd := range envFds("_HUTCH_RELAY_CLIENTS") {
		f := os.NewFile(uintptr(fd), "client")
		if conn, err := net.FileConn(f); err == nil {
			m.addClient(conn)
		}
		f.Close()
	}
	if fds := envFds("_HUTCH_RELAY_LISTEN"); len(fds) == 1 {
		f := os.NewFile(uintptr(fds[0]), "attach")
		if l, err := net.FileListener(f); err == nil {
			m.serve(l)
		}
		f.Close()
	}
	st := ExitStatus{Code: code, At: time.Now().UTC()}
	if c, err := runtime.Load(cfg.RuntimeRoot, cfg.ID); err == nil {
		m.c = c
		if n, err := c.OOMKillCount(); err == nil && n > 0 {
			st.OOMKilled = true
		}
		c.Delete(true)
	}
	return m.loop(&st)
}

func newMonitor(cfg Config, hooks Hooks) (*monitor, error) {
	m := &monitor{cfg: cfg, hooks: hooks, clients: map[*client]struct{}{}}
	// Orphans of the container (its init in a shared pid namespace, or
	// processes exec'd through us) are reparented here and reaped.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	// The monitor has no terminal; hangups and the signals of a dying
	// session must not end it.
	signal.Ignore(unix.SIGHUP, unix.SIGPIPE, unix.SIGINT, unix.SIGQUIT, unix.SIGTTIN, unix.SIGTTOU)
	m.sigchld = make(chan os.Signal, 16)
	signal.Notify(m.sigchld, unix.SIGCHLD)
	return m, nil
}

// loop starts the container (or, with exited, begins with the end of a
// run the relay saw) and restarts it as the hooks say.
func (m *monitor) loop(exited *ExitStatus) (int, error) {
	code := 0
	first := exited == nil
	for {
		var st ExitStatus
		var err error
		if exited != nil {
			st, exited = *exited, nil
		} else {
			st, err = m.runOnce(m.sigchld, first)
			if first && err != nil {
				m.report("error " + err.Error())
				m.broadcast(FrameError, []byte(err.Error()))
				m.closeClients()
				return 125, err
			}
			first = false
		}
		if err != nil {
			// A restart failed: there is nothing left to supervise.
			st = ExitStatus{Code: 125, At: time.Now()}
		}
		code = st.Code
		restart, delay := m.hooks.Exited(st)
		if !restart || err != nil {
			break
		}
		m.broadcast(FrameExit, Uint32s(uint32(int32(code))))
		if !m.backoff(delay) {
			break
		}
	}
	m.broadcast(FrameExit, Uint32s(uint32(int32(code))))
	m.closeClients()
	if m.listener != nil {
		m.listener.Close()
	}
	if m.hooks.Done != nil {
		m.hooks.Done()
	}
	return code, nil
}

// envFds reads a comma-separated list of descriptors from the environment.
func envFds(name string) []int {
	var fds []int
	for _, f := range strings.Split(os.Getenv(name), ",") {
		if n, err := strconv.Atoi(f); err == nil && n >= 0 {
			fds = append(fds, n)
		}
	}
	return fds
}

// backoff waits delay before a restart, asking Hooks.KeepRestarting every
// tenth of a second, so that a stop during the wait ends it at once.
func (m *monitor) backoff(delay time.Duration) bool {
	deadline := time.Now().Add(delay)
	for {
		if m.hooks.KeepRestarting != nil && !m.hooks.KeepRestarting() {
			return false
		}
		left := time.Until(deadline)
		if left <= 0 {
			return true
		}
		time.Sleep(min(left, 100*time.Millisecond))
	}
}

// report writes the first start's outcome to Sync once.
func (m *monitor) report(line string) {
	if m.cfg.Sync == nil {
		return
	}
	m.cfg.Sync.WriteString(line + "\n")
	m.cfg.Sync.Close()
	m.cfg.Sync = nil
}

// runOnce prepares, creates and starts the container, relays its output
// until its init exits, and deletes it from the runtime.
func (m *monitor) runOnce(sigchld chan os.Signal, first bool) (ExitStatus, error) {
	if err := m.hooks.Prepare(); err != nil {
		return ExitStatus{}, err
	}
	pid, readers, err := m.create()
	if err != nil {
		if m.hooks.Failed != nil {
			m.hooks.Failed(err)
		}
		return ExitStatus{}, err
	}
	if err := m.hooks.Started(pid); err != nil {
		m.c.Kill(unix.SIGKILL, true)
		m.waitInit(sigchld)
		m.c.Delete(true)
		if m.hooks.Failed != nil {
			m.hooks.Failed(err)
		}
		return ExitStatus{}, err
	}
	if first {
		m.report(fmt.Sprintf("ok %d", pid))
	}
	if len(m.cfg.RelayArgs) > 0 {
		err := m.handoff(pid, readers)
		// Only a failed exec returns: relay in Go after all.
		runtime.Tracef("monitor: relay handoff failed: %v", err)
	}
	outputs := m.copyOutputs(readers)
	stopHealth := m.scheduleHealth()
	code := m.waitInit(sigchld)
	runtime.Tracef("monitor: init exited")
	stopHealth()
	// Output written just before the end is still in the pipes: read it
	// all before telling anyone the container is gone. A process that
	// escaped the container's end (shared pid namespace) may hold a pipe
	// open: do not wait for it forever.
	select {
	case <-outputs:
	case <-time.After(2 * time.Second):
	}
	oom := false
	if n, err := m.c.OOMKillCount(); err == nil && n > 0 {
		oom = true
	}
	m.c.Delete(true)
	runtime.Tracef("monitor: runtime container deleted")
	m.mu.Lock()
	if m.stdin != nil {
		m.stdin.Close()
		m.stdin = nil
	}
	m.master = nil
	m.mu.Unlock()
	return ExitStatus{Code: code, OOMKilled: oom, At: time.Now().UTC()}, nil
}

// create makes the container with fresh stdio and starts it. outputs is
// closed when every output stream reached its end.
func (m *monitor) create() (int, []output, error) {
	opts := runtime.CreateOptions{Bundle: m.cfg.Bundle}
	var closeAfter []*os.File
	var readers []output
	devnull, err := os.OpenFile("/dev/null", os.O_RDWR, 0)
	if err != nil {
		return 0, nil, err
	}
	closeAfter = append(closeAfter, devnull)
	var consoleLocal *os.File
	if m.cfg.Tty {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return 0, nil, err
		}
		consoleLocal = os.NewFile(uintptr(fds[0]), "console")
		remote := os.NewFile(uintptr(fds[1]), "console-remote")
		opts.ConsoleConn = remote
		closeAfter = append(closeAfter, remote)
		defer consoleLocal.Close()
	} else {
		opts.Stdin = devnull
		var stdinW *os.File
		if m.cfg.Stdin {
			r, w, err := os.Pipe()
			if err != nil {
				return 0, nil, err
			}
			opts.Stdin, stdinW = r, w
			closeAfter = append(closeAfter, r)
		}
		for _, stream := range []string{"stdout", "stderr"} {
			r, w, err := os.Pipe()
			if err != nil {
				return 0, nil, err
			}
			if stream == "stdout" {
				opts.Stdout = w
			} else {
				opts.Stderr = w
			}
			closeAfter = append(closeAfter, w)
			readers = append(readers, output{r, stream})
		}
		m.mu.Lock()
		m.stdin = stdinW
		m.mu.Unlock()
	}
	c, err := runtime.Create(m.cfg.RuntimeRoot, m.cfg.ID, opts)
	for _, f := range closeAfter {
		f.Close()
	}
	if err != nil {
		for _, r := range readers {
			r.f.Close()
		}
		m.closeStdin()
		return 0, nil, err
	}
	m.c = c
	if m.cfg.Tty {
		master, err := fdpass.Recv(consoleLocal)
		if err != nil {
			c.Delete(true)
			return 0, nil, fmt.Errorf("receive the container's pty: %w", err)
		}
		if sz := m.cfg.ConsoleSize; sz[0] > 0 && sz[1] > 0 {
			unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: sz[0], Col: sz[1]})
		}
		m.mu.Lock()
		m.master, m.stdin = master, master
		m.mu.Unlock()
		readers = append(readers, output{master, "stdout"})
	}
	if err := c.Start(); err != nil {
		for _, r := range readers {
			r.f.Close()
		}
		c.Delete(true)
		return 0, nil, err
	}
	m.initPid = c.State.InitPid
	return c.State.InitPid, readers, nil
}

// scheduleHealth starts a check every HealthInterval until the returned
// stop is called; a check still running at the next tick skips it.
func (m *monitor) scheduleHealth() (stop func()) {
	if m.cfg.HealthInterval <= 0 || m.hooks.HealthCheck == nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(m.cfg.HealthInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			if m.healthPid.Load() != 0 {
				continue
			}
			if pid, err := m.hooks.HealthCheck(); err == nil {
				m.healthPid.Store(int64(pid))
			}
		}
	}()
	return func() { close(done) }
}

func (m *monitor) closeStdin() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stdin != nil && m.stdin != m.master {
		m.stdin.Close()
	}
	m.stdin = nil
}

// output is one stream of the container, read by the monitor.
type output struct {
	f      *os.File
	stream string
}

// copyOutputs copies every stream in Go; the channel closes when all
// reached their end.
func (m *monitor) copyOutputs(readers []output) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.copyOutput(r.f, r.stream)
		}()
	}
	go func() { wg.Wait(); close(done) }()
	return done
}

// handoff execs the C relay with the container's streams, the log, the
// attach socket and the clients; it returns only when the exec failed.
func (m *monitor) handoff(pid int, readers []output) error {
	var keep []*os.File
	env := []string{"_HUTCH_RELAY=1", "_HUTCH_RELAY_PID=" + strconv.Itoa(pid)}
	for _, r := range readers {
		name := "_HUTCH_RELAY_OUT="
		if r.stream == "stderr" {
			name = "_HUTCH_RELAY_ERR="
		}
		env = append(env, name+strconv.Itoa(int(r.f.Fd())))
		keep = append(keep, r.f)
	}
	m.mu.Lock()
	if m.stdin != nil {
		env = append(env, "_HUTCH_RELAY_IN="+strconv.Itoa(int(m.stdin.Fd())))
		keep = append(keep, m.stdin)
	}
	m.mu.Unlock()
	if m.cfg.Tty {
		env = append(env, "_HUTCH_RELAY_TTY=1")
	}
	if m.cfg.Log != nil && m.cfg.LogPath != "" {
		f, err := m.cfg.Log.Detach()
		if err != nil {
			return err
		}
		env = append(env, "_HUTCH_RELAY_LOG="+strconv.Itoa(int(f.Fd())), "_HUTCH_RELAY_LOG_PATH="+m.cfg.LogPath,
			"_HUTCH_RELAY_LOG_MAX="+strconv.FormatInt(m.cfg.LogMaxSize, 10), "_HUTCH_RELAY_LOG_FILES="+strconv.Itoa(m.cfg.LogMaxFiles))
		keep = append(keep, f)
	}
	if m.listener != nil {
		if f, err := m.listener.(*net.UnixListener).File(); err == nil {
			env = append(env, "_HUTCH_RELAY_LISTEN="+strconv.Itoa(int(f.Fd())))
			keep = append(keep, f)
		}
	}
	var clients []string
	m.mu.Lock()
	for cl := range m.clients {
		if f, err := cl.conn.(*net.UnixConn).File(); err == nil {
			clients = append(clients, strconv.Itoa(int(f.Fd())))
			keep = append(keep, f)
		}
	}
	m.mu.Unlock()
	env = append(env, "_HUTCH_RELAY_CLIENTS="+strings.Join(clients, ","))
	if m.cfg.HealthInterval > 0 {
		env = append(env, "_HUTCH_RELAY_HEALTH_MS="+strconv.FormatInt(m.cfg.HealthInterval.Milliseconds(), 10))
	}
	for _, f := range keep {
		if _, err := unix.FcntlInt(f.Fd(), unix.F_SETFD, 0); err != nil {
			return err
		}
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "_HUTCH_RELAY") {
			env = append(env, kv)
		}
	}
	runtime.Tracef("monitor: handing over to the relay")
	return unix.Exec("/proc/self/exe", m.cfg.RelayArgs, env)
}

// copyOutput reads one stream to its end, into the log and to clients.
func (m *monitor) copyOutput(f *os.File, stream string) {
	defer f.Close()
	kind := FrameStdout
	if stream == "stderr" {
		kind = FrameStderr
	}
	var log io.Writer
	if m.cfg.Log != nil {
		log = m.cfg.Log.Stream(stream)
	}
	buf := make([]byte, 32*1024)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if log != nil {
				log.Write(buf[:n])
			}
			m.broadcast(kind, buf[:n])
		}
		if err != nil {
			// EIO is how a pty master reports that its last slave closed.
			return
		}
	}
}

// waitInit reaps children until the init exits and returns its status in
// the shell's convention (128+signal).
func (m *monitor) waitInit(sigchld chan os.Signal) int {
	for {
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
			if err == unix.EINTR {
				continue
			}
			if err != nil || pid <= 0 {
				break
			}
			if int64(pid) == m.healthPid.Load() {
				m.healthPid.Store(0)
			}
			if pid == m.initPid {
				if ws.Signaled() {
					return 128 + int(ws.Signal())
				}
				return ws.ExitStatus()
			}
		}
		select {
		case <-sigchld:
		case <-time.After(time.Second):
			// The init may not be our child (a pid namespace shared with
			// the host makes it so when create forks twice): poll it.
			if unix.Kill(m.initPid, 0) == unix.ESRCH {
				return 255
			}
		}
	}
}

func (m *monitor) addClient(conn net.Conn) *client {
	cl := &client{conn: conn, fw: NewFrameWriter(conn)}
	m.mu.Lock()
	m.clients[cl] = struct{}{}
	m.mu.Unlock()
	go m.readClient(cl)
	return cl
}

func (m *monitor) dropClient(cl *client) {
	m.mu.Lock()
	delete(m.clients, cl)
	m.mu.Unlock()
	cl.conn.Close()
}

func (m *monitor) broadcast(kind byte, p []byte) {
	m.mu.Lock()
	cls := make([]*client, 0, len(m.clients))
	for cl := range m.clients {
		cls = append(cls, cl)
	}
	m.mu.Unlock()
	for _, cl := range cls {
		// A client that does not read within a while is dropped rather
		// than let it stall the container's output.
		cl.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := cl.fw.Write(kind, p); err != nil {
			m.dropClient(cl)
		}
	}
}

func (m *monitor) closeClients() {
	m.mu.Lock()
	cls := m.clients
	m.clients = map[*client]struct{}{}
	m.mu.Unlock()
	for cl := range cls {
		cl.conn.Close()
	}
}

// readClient applies what one client sends.
func (m *monitor) readClient(cl *client) {
	var buf []byte
	for {
		kind, p, err := ReadFrame(cl.conn, &buf)
		if err != nil {
			m.dropClient(cl)
			return
		}
		switch kind {
		case FrameStdin:
			m.mu.Lock()
			w := m.stdin
			m.mu.Unlock()
			if w != nil {
				w.Write(p)
			}
		case FrameStdinEOF:
			if m.cfg.Tty {
				continue // a terminal has no EOF of its own: ^D is data
			}
			m.closeStdin()
		case FrameResize:
			if v, ok := ParseUint32s(p, 2); ok {
				m.mu.Lock()
				master := m.master
				m.mu.Unlock()
				if master != nil {
					unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(v[0]), Col: uint16(v[1])})
				}
			}
		case FrameSignal:
			if v, ok := ParseUint32s(p, 1); ok && m.c != nil {
				m.c.Kill(unix.Signal(v[0]), false)
			}
		}
	}
}

// serve accepts `hutch attach` clients on l.
func (m *monitor) serve(l net.Listener) {
	m.listener = l
	go m.accept(l)
}

func (m *monitor) accept(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		m.addClient(conn)
	}
}

// listenUnix listens on path, which may be longer than a sockaddr_un
// holds: the socket is bound through /proc/self/fd of its directory.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(dirOf(path), 0o700); err != nil {
		return nil, err
	}
	os.Remove(path)
	dir, err := os.Open(dirOf(path))
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	return net.Listen("unix", fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), baseOf(path)))
}

// DialUnix connects to a socket made by listenUnix.
func DialUnix(path string) (net.Conn, error) {
	dir, err := os.Open(dirOf(path))
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	return net.Dial("unix", fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), baseOf(path)))
}

func dirOf(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			if i == 0 {
				return "/"
			}
			return p[:i]
		}
	}
	return "."
}

func baseOf(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
