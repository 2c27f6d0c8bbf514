package runtime

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/cgroups"
	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/store"
)

const (
	stateFile    = "state.json"
	execFifoName = "exec.fifo"
)

// State is what the runtime keeps on disk for one container, under
// <root>/<id>/state.json. The OCI state (`hutch-runc state`) is derived from
// it together with a look at the live process.
type State struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	InitPid     int               `json:"init_pid"`
	InitStart   uint64            `json:"init_start"` // /proc/PID/stat starttime: tells a reused pid apart
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	CgroupPaths map[string]string `json:"cgroup_paths,omitempty"`
	// Namespaces maps each namespace type the container has to the path
	// exec joins ("/proc/<pid>/ns/<type>" or the spec's own path).
	Namespaces map[string]string `json:"namespaces,omitempty"`
	Config     *specs.Spec       `json:"config"`
	// Started is set by `start`; before it, the container is "created".
	Started bool `json:"started,omitempty"`
}

// Container is a handle on one container's state directory.
type Container struct {
	root  string // the runtime's --root
	dir   string // root/id
	State State
	mgr   cgroups.Manager // loaded on first use, or kept from Create
}

// ValidateID refuses IDs that could escape the state root or confuse
// tools: they must be plain names.
func ValidateID(id string) error {
	if id == "" {
		return errdefs.InvalidArgument("container id must not be empty")
	}
	if id == "." || id == ".." || strings.ContainsAny(id, "/\x00") || len(id) > 1024 {
		return errdefs.InvalidArgument("container id %q: invalid (it must not contain '/' or be '.' or '..')", id)
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f {
			return errdefs.InvalidArgument("container id %q: invalid character %q", id, r)
		}
	}
	return nil
}

// Load reads the container's state from root.
func Load(root, id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	c := &Container{root: root, dir: filepath.Join(root, id)}
	if err := store.ReadJSON(filepath.Join(c.dir, stateFile), &c.State); err != nil {
		if os.IsNotExist(err) {
			return nil, errdefs.NotFound("container %q does not exist", id)
		}
		return nil, fmt.Errorf("container %q: %w", id, err)
	}
	return c, nil
}

// List returns every container under root, sorted by name.
func List(root string) ([]*Container, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []*Container
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := Load(root, e.Name())
		if err != nil {
			continue // a container being created or deleted right now
		}
		out = append(out, c)
	}
	return out, nil
}

func (c *Container) save() error {
	return store.WriteJSON(filepath.Join(c.dir, stateFile), &c.State)
}

// lock serialises commands that change one container.
func (c *Container) lock() (*store.Lock, error) {
	return store.LockFile(filepath.Join(c.dir, ".lock"))
}

// Status values of the OCI state, plus "paused" as runc reports it.
const (
	StatusCreating = "creating"
	StatusCreated  = "created"
	StatusRunning  = "running"
	StatusStopped  = "stopped"
	StatusPaused   = "paused"
)

// Status looks at the live process to tell the container's status.
func (c *Container) Status() string {
	if !c.initAlive() {
		return StatusStopped
	}
	if !c.State.Started {
		if _, err := os.Lstat(filepath.Join(c.dir, execFifoName)); err == nil {
			return StatusCreated
		}
	}
	if mgr, err := c.cgroupManager(); err == nil && mgr != nil {
		if frozen, err := mgr.Frozen(); err == nil && frozen {
			return StatusPaused
		}
	}
	return StatusRunning
}

// initAlive tells whether the container's init still runs: the pid exists,
// is the same process (same start time) and is not a zombie.
func (c *Container) initAlive() bool {
	if c.State.InitPid <= 0 {
		return false
	}
	start, zombie, err := procStat(c.State.InitPid)
	if err != nil || zombie {
		return false
	}
	return start == c.State.InitStart
}

// procStat reads the start time (field 22) and the zombie/dead flag of a
// process from /proc/PID/stat.
func procStat(pid int) (start uint64, zombie bool, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false, err
	}
	// The command name (field 2) may hold spaces and parentheses: parse
	// from the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, false, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 {
		return 0, false, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	st := fields[0]
	start, err = strconv.ParseUint(fields[19], 10, 64)
	return start, st == "Z" || st == "X", err
}

// OCIState is the state as runtime-spec's `state` operation prints it.
func (c *Container) OCIState() *specs.State {
	st := &specs.State{
		Version:     specs.Version,
		ID:          c.State.ID,
		Status:      specs.ContainerState(c.Status()),
		Bundle:      c.State.Bundle,
		Annotations: c.State.Annotations,
	}
	if st.Status != StatusStopped {
		st.Pid = c.State.InitPid
	}
	return st
}

// hookState is the state given to hooks on stdin; status is the one the
// spec prescribes for that hook.
func (c *Container) hookState(status string) *specs.State {
	return &specs.State{
		Version:     specs.Version,
		ID:          c.State.ID,
		Status:      specs.ContainerState(status),
		Pid:         c.State.InitPid,
		Bundle:      c.State.Bundle,
		Annotations: c.State.Annotations,
	}
}

// signalInit sends sig to the init process, unless it is gone.
func (c *Container) signalInit(sig unix.Signal) error {
	if !c.initAlive() {
		return errdefs.FailedPrecondition("container %q is not running", c.State.ID)
	}
	if err := unix.Kill(c.State.InitPid, sig); err != nil && err != unix.ESRCH {
		return fmt.Errorf("container %q: kill %d: %w", c.State.ID, c.State.InitPid, err)
	}
	return nil
}
