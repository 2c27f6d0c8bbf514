package engine

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/runtime"
	"hutch.dev/hutch/store"
)

// Container is the record of one container: what it was created from, how
// it should run, and its last known state. It lives in
// ROOT/containers/ID/container.json and is only changed under the
// container's lock (ROOT/containers/ID/lock), written whole by temp file and
// rename. The JSON names follow Docker's inspect where a field has a Docker
// counterpart.
type Container struct {
	ID      string    `json:"Id"`
	Name    string    `json:"Name"`
	Created time.Time `json:"Created"`
	Image   string    `json:"Image"` // as the user named it
	ImageID string    `json:"ImageID"`
	// Path and Args are the command that runs (Entrypoint + Cmd), as
	// Docker's inspect shows them.
	Path       string     `json:"Path"`
	Args       []string   `json:"Args"`
	LogPath    string     `json:"LogPath"`
	Config     Config     `json:"Config"`
	HostConfig HostConfig `json:"HostConfig"`
	State      State      `json:"State"`
	Mounts     []Mount    `json:"Mounts,omitempty"`
	// NetworkSettings are the container's addresses and ports while it
	// runs.
	NetworkSettings *NetworkSettings `json:"NetworkSettings,omitempty"`
	// Snapshot is the key of the writable layer in the snapshotter.
	Snapshot string `json:"Snapshot"`
	// Creator identifies the command that made the record, so that a
	// record whose creation was interrupted can be told apart.
	RestartCount int `json:"RestartCount"`
}

// Config is the part of a container's settings that Docker calls Config.
type Config struct {
	Hostname    string            `json:"Hostname"`
	Domainname  string            `json:"Domainname,omitempty"`
	User        string            `json:"User"`
	Env         []string          `json:"Env"`
	Cmd         []string          `json:"Cmd"`
	Entrypoint  []string          `json:"Entrypoint"`
	WorkingDir  string            `json:"WorkingDir"`
	Labels      map[string]string `json:"Labels"`
	Tty         bool              `json:"Tty"`
	OpenStdin   bool              `json:"OpenStdin"`
	StopSignal  string            `json:"StopSignal,omitempty"`
	StopTimeout *int              `json:"StopTimeout,omitempty"`
	Image       string            `json:"Image"`
	// ExposedPorts as Docker keys them: "80/tcp".
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Volumes      map[string]struct{} `json:"Volumes,omitempty"`
	Healthcheck  *Healthcheck        `json:"Healthcheck,omitempty"`
}

// Healthcheck is Docker's HEALTHCHECK: Test is ["CMD", ...], ["CMD-SHELL", s]
// or ["NONE"].
type Healthcheck struct {
	Test        []string      `json:"Test,omitempty"`
	Interval    time.Duration `json:"Interval,omitempty"`
	Timeout     time.Duration `json:"Timeout,omitempty"`
	StartPeriod time.Duration `json:"StartPeriod,omitempty"`
	Retries     int           `json:"Retries,omitempty"`
}

// HostConfig is how the container runs on this host.
type HostConfig struct {
	AutoRemove     bool              `json:"AutoRemove"`
	RestartPolicy  RestartPolicy     `json:"RestartPolicy"`
	LogConfig      LogConfig         `json:"LogConfig"`
	NetworkMode    string            `json:"NetworkMode"`
	Binds          []string          `json:"Binds,omitempty"`
	Privileged     bool              `json:"Privileged"`
	ReadonlyRootfs bool              `json:"ReadonlyRootfs"`
	CapAdd         []string          `json:"CapAdd,omitempty"`
	CapDrop        []string          `json:"CapDrop,omitempty"`
	SecurityOpt    []string          `json:"SecurityOpt,omitempty"`
	Init           bool              `json:"Init,omitempty"`
	PidMode        string            `json:"PidMode,omitempty"`
	IpcMode        string            `json:"IpcMode,omitempty"`
	UTSMode        string            `json:"UTSMode,omitempty"`
	UsernsMode     string            `json:"UsernsMode,omitempty"`
	CgroupnsMode   string            `json:"CgroupnsMode,omitempty"`
	Memory         int64             `json:"Memory"`
	MemorySwap     int64             `json:"MemorySwap"`
	NanoCpus       int64             `json:"NanoCpus"`
	CpuShares      int64             `json:"CpuShares"`
	CpusetCpus     string            `json:"CpusetCpus"`
	PidsLimit      *int64            `json:"PidsLimit,omitempty"`
	BlkioWeight    uint16            `json:"BlkioWeight"`
	Tmpfs          map[string]string `json:"Tmpfs,omitempty"`
	// Dns, DnsOptions, DnsSearch and ExtraHosts are --dns, --dns-option,
	// --dns-search and --add-host, written into /etc/resolv.conf and
	// /etc/hosts (etcfiles.go).
	Dns        []string `json:"Dns"`
	DnsOptions []string `json:"DnsOptions"`
	DnsSearch  []string `json:"DnsSearch"`
	ExtraHosts []string `json:"ExtraHosts"`
}

// RestartPolicy is Docker's --restart.
type RestartPolicy struct {
	Name              string `json:"Name"` // "no", "always", "on-failure", "unless-stopped"
	MaximumRetryCount int    `json:"MaximumRetryCount"`
}

// LogConfig is the json-file driver's settings (max-size, max-file).
type LogConfig struct {
	Type   string            `json:"Type"`
	Config map[string]string `json:"Config"`
}

// Mount is one entry of inspect's Mounts.
type Mount struct {
	Type        string `json:"Type"` // bind, volume, tmpfs
	Name        string `json:"Name,omitempty"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	Mode        string `json:"Mode"`
	RW          bool   `json:"RW"`
	Propagation string `json:"Propagation"`
	Driver      string `json:"Driver,omitempty"`
	// NoCopy (volume-nocopy) skips filling an empty volume from the image.
	NoCopy bool `json:"NoCopy,omitempty"`
	// Options of a tmpfs mount.
	Options []string `json:"Options,omitempty"`
}

// Container states, as Docker names them.
const (
	StatusCreated    = "created"
	StatusRunning    = "running"
	StatusPaused     = "paused"
	StatusRestarting = "restarting"
	StatusExited     = "exited"
	StatusRemoving   = "removing"
	StatusDead       = "dead"
)

// State is the container's last known state. The monitor's pid and start
// time tell whether the process that owns a "running" container still
// lives (after a reboot or a SIGKILL of the monitor it does not).
type State struct {
	Status     string    `json:"Status"`
	Running    bool      `json:"Running"`
	Paused     bool      `json:"Paused"`
	Restarting bool      `json:"Restarting"`
	OOMKilled  bool      `json:"OOMKilled"`
	Dead       bool      `json:"Dead"`
	Pid        int       `json:"Pid"`
	ExitCode   int       `json:"ExitCode"`
	Error      string    `json:"Error"`
	StartedAt  time.Time `json:"StartedAt"`
	FinishedAt time.Time `json:"FinishedAt"`

	MonitorPid   int     `json:"MonitorPid,omitempty"`
	MonitorStart uint64  `json:"MonitorStart,omitempty"`
	Health       *Health `json:"Health,omitempty"`

	// StoppedByUser is set by stop and kill, so that restart policies
	// (other than always) leave the container stopped.
	StoppedByUser bool `json:"StoppedByUser,omitempty"`
}

func (s *State) setStatus(status string) {
	s.Status = status
	s.Running = status == StatusRunning || status == StatusPaused || status == StatusRestarting
	s.Paused = status == StatusPaused
	s.Restarting = status == StatusRestarting
	s.Dead = status == StatusDead
}

// ShortID is the 12-character form of an ID that Docker prints.
func ShortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func newID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

// validName is Docker's rule for container names.
var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// tmpPrefix names a container directory being made (see Create).
const tmpPrefix = ".tmp-"

func (e *Engine) containersDir() string         { return filepath.Join(e.Root, "containers") }
func (e *Engine) containerDir(id string) string { return filepath.Join(e.Root, "containers", id) }
func (e *Engine) namesDir() string              { return filepath.Join(e.Root, "names") }
func (e *Engine) recordPath(id string) string {
	return filepath.Join(e.containerDir(id), "container.json")
}

// bundleDir is the runtime bundle of a running container: config.json and
// the mount point of its root filesystem. It is under the runroot, which a
// reboot empties.
func (e *Engine) bundleDir(id string) string { return filepath.Join(e.Runroot, "containers", id) }

// runtimeRoot is the state root handed to the OCI runtime library.
func (e *Engine) runtimeRoot() string { return filepath.Join(e.Runroot, "runtime") }

func (e *Engine) logPath(id string) string {
	return filepath.Join(e.containerDir(id), "container.log")
}

// lockContainer takes the container's lock. The record may have been
// removed while we waited for it: then the lock is released and NotFound
// returned.
func (e *Engine) lockContainer(id string) (*store.Lock, error) {
	l, err := store.LockExisting(filepath.Join(e.containerDir(id), "lock"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errdefs.NotFound("no such container: %s", id)
		}
		return nil, err
	}
	if _, err := os.Stat(e.recordPath(id)); err != nil {
		l.Unlock()
		return nil, errdefs.NotFound("no such container: %s", id)
	}
	return l, nil
}

// lockedRecord opens the stores, finds ref (Inspect folds in a monitor
// that died, so the state read is true) and returns its record under the
// container's lock; the caller calls unlock.
func (e *Engine) lockedRecord(ref string) (r *record, unlock func() error, err error) {
	if err := e.open(); err != nil {
		return nil, nil, err
	}
	c, err := e.Inspect(ref)
	if err != nil {
		return nil, nil, err
	}
	l, err := e.lockContainer(c.ID)
	if err != nil {
		return nil, nil, err
	}
	if r, err = e.readRecord(c.ID); err != nil {
		l.Unlock()
		return nil, nil, err
	}
	return r, l.Unlock, nil
}

func (e *Engine) readRecord(id string) (*record, error) {
	var r record
	if err := store.ReadJSON(e.recordPath(id), &r); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errdefs.NotFound("no such container: %s", id)
		}
		return nil, err
	}
	return &r, nil
}

// readJSONQuiet reads a record without classifying errors (for lookups
// that only need a field and must not wait on a lock).
func readJSONQuiet(path string, v any) error { return store.ReadJSON(path, v) }

func (e *Engine) writeRecord(r *record) error {
	return store.WriteJSON(e.recordPath(r.ID), r)
}

// update runs fn on the record of id under its lock and writes the result
// when fn succeeds.
func (e *Engine) update(id string, fn func(r *record) error) (*record, error) {
	l, err := e.lockContainer(id)
	if err != nil {
		return nil, err
	}
	defer l.Unlock()
	r, err := e.readRecord(id)
	if err != nil {
		return nil, err
	}
	if err := fn(r); err != nil {
		return r, err
	}
	return r, e.writeRecord(r)
}

// reserveName links ROOT/names/NAME to id; the symlink is created
// atomically, so two commands that want one name cannot both get it.
func (e *Engine) reserveName(name, id string) error {
	if !validName.MatchString(name) {
		return errdefs.InvalidArgument("invalid container name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	name = strings.TrimPrefix(name, "/")
	if err := os.MkdirAll(e.namesDir(), 0o700); err != nil {
		return err
	}
	err := os.Symlink(id, filepath.Join(e.namesDir(), name))
	if errors.Is(err, fs.ErrExist) {
		owner, _ := os.Readlink(filepath.Join(e.namesDir(), name))
		if _, serr := os.Stat(e.recordPath(owner)); serr != nil && owner != "" {
			// The owner's record is gone (an interrupted create or rm):
			// take the name over.
			os.Remove(filepath.Join(e.namesDir(), name))
			return e.reserveName(name, id)
		}
		return errdefs.Conflict("the container name %q is already in use by container %s: remove or rename that container, or choose another name", name, ShortID(owner))
	}
	return err
}

// releaseName removes the name link when it still points at id.
func (e *Engine) releaseName(name, id string) {
	p := filepath.Join(e.namesDir(), name)
	if owner, err := os.Readlink(p); err == nil && owner == id {
		os.Remove(p)
	}
}

// randomCandidate is the i-th try at a Docker-like "adjective_noun"
// name; after a few tries a number is added, at the end the short ID.
func (e *Engine) randomCandidate(id string, i int) string {
	if i >= 25 {
		return "hutch_" + ShortID(id)
	}
	var b [2]byte
	rand.Read(b[:])
	name := adjectives[int(b[0])%len(adjectives)] + "_" + nouns[int(b[1])%len(nouns)]
	if i > 5 {
		name += fmt.Sprint(i)
	}
	return name
}

var adjectives = []string{"agile", "bold", "brave", "calm", "clever", "eager", "fond", "gentle", "happy", "jolly", "keen", "kind", "lucid", "merry", "nimble", "proud", "quiet", "quick", "sharp", "sleepy", "stoic", "sunny", "tender", "vivid", "wise", "zen"}
var nouns = []string{"badger", "beaver", "bunny", "ferret", "fox", "hare", "hedgehog", "lynx", "marten", "mole", "otter", "rabbit", "squirrel", "stoat", "vole", "weasel"}

// Lookup finds a container by full ID, name, or unique ID prefix, as
// Docker does (an exact name wins over an ID prefix).
func (e *Engine) Lookup(ref string) (string, error) {
	if ref == "" {
		return "", errdefs.InvalidArgument("container name or ID must not be empty")
	}
	name := strings.TrimPrefix(ref, "/")
	if !strings.ContainsAny(name, "/\x00") && name != "." && name != ".." {
		if _, err := os.Stat(e.recordPath(name)); err == nil {
			return name, nil
		}
		if id, err := os.Readlink(filepath.Join(e.namesDir(), name)); err == nil {
			if _, err := os.Stat(e.recordPath(id)); err == nil {
				return id, nil
			}
		}
	}
	var matches []string
	if isHexPrefix(name) {
		ids, err := e.listIDs()
		if err != nil {
			return "", err
		}
		for _, id := range ids {
			if strings.HasPrefix(id, name) {
				matches = append(matches, id)
			}
		}
	}
	switch len(matches) {
	case 0:
		return "", errdefs.NotFound("no such container: %s", ref)
	case 1:
		return matches[0], nil
	}
	return "", errdefs.InvalidArgument("container ID prefix %q is ambiguous: %d containers match", ref, len(matches))
}

func isHexPrefix(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// listIDs returns the IDs of every container with a record, oldest first.
func (e *Engine) listIDs() ([]string, error) {
	ents, err := os.ReadDir(e.containersDir())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, ent := range ents {
		if ent.IsDir() && len(ent.Name()) == 64 && isHexPrefix(ent.Name()) {
			ids = append(ids, ent.Name())
		}
		// A create killed before it renamed its directory into place:
		// after a while it is surely dead.
		if strings.HasPrefix(ent.Name(), tmpPrefix) {
			if info, err := ent.Info(); err == nil && time.Since(info.ModTime()) > 10*time.Minute {
				os.RemoveAll(filepath.Join(e.containersDir(), ent.Name()))
			}
		}
	}
	return ids, nil
}

// List returns every container's record with its state brought up to
// date, newest first as docker ps shows them.
func (e *Engine) List() ([]*Container, error) {
	ids, err := e.listIDs()
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, id := range ids {
		c, err := e.Inspect(id)
		if errdefs.IsNotFound(err) {
			continue // removed meanwhile, or a create that never wrote its record
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// Inspect returns the record of ref with its state brought up to date.
func (e *Engine) Inspect(ref string) (*Container, error) {
	id, err := e.Lookup(ref)
	if err != nil {
		return nil, err
	}
	r, err := e.readRecord(id)
	if err != nil {
		return nil, err
	}
	if r.State.Running && !e.monitorAlive(&r.Container) {
		// The monitor died (SIGKILL, reboot) without recording the end:
		// fold in what is true now, under the lock.
		r, err = e.update(id, func(r *record) error {
			if r.State.Running && !e.monitorAlive(&r.Container) {
				e.markLost(&r.Container)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return &r.Container, nil
}

// monitorAlive tells whether the monitor recorded in c still runs: same
// pid and same start time (a reused pid has another).
func (e *Engine) monitorAlive(c *Container) bool {
	if c.State.MonitorPid <= 0 {
		return false
	}
	st, err := processStart(c.State.MonitorPid)
	if err != nil || st != c.State.MonitorStart {
		return false
	}
	// A monitor exec'ing itself (the relay handoff) from a thread other
	// than its first shows as a zombie for the moment the kernel takes
	// the other threads down: look again before calling it dead.
	for i := 0; i < 20; i++ {
		if alive(c.State.MonitorPid) {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// markLost records the end of a container whose monitor is gone. Its
// init may still live (the monitor alone was killed); it is then still
// running, owned by no one, until stop, kill or rm end it.
func (e *Engine) markLost(c *Container) {
	if r, err := e.loadRuntime(c.ID); err == nil && r.Status() != runtime.StatusStopped {
		c.State.MonitorPid, c.State.MonitorStart = 0, 0
		c.State.Error = "monitor exited; the container runs unsupervised"
		return
	}
	c.State.setStatus(StatusExited)
	if c.State.ExitCode == 0 {
		c.State.ExitCode = 255
	}
	c.State.Pid = 0
	c.State.MonitorPid, c.State.MonitorStart = 0, 0
	if c.State.FinishedAt.IsZero() || c.State.FinishedAt.Before(c.State.StartedAt) {
		c.State.FinishedAt = time.Now().UTC()
	}
	if c.State.Error == "" {
		c.State.Error = "the container's monitor exited without recording its end (killed, or the host rebooted)"
	}
}

// processStart reads the start time of pid (field 22 of /proc/PID/stat).
func processStart(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: skip past its
	// last ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	var st uint64
	_, err = fmt.Sscan(fields[19], &st)
	return st, err
}

// alive reports whether pid exists (a zombie counts as gone).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := unix.Kill(pid, 0); err != nil && err != unix.EPERM {
		return false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(data), ')')
	return i < 0 || i+2 >= len(data) || data[i+2] != 'Z'
}
