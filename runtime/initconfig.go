package runtime

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/runtime/nsenter"
	"hutch.dev/hutch/runtime/specconv"
)

// initConfig is what the container's init (C, runtime/nsenter/init.c)
// needs, gathered by create and exec. encode turns it into the prepared
// form the init executes: every option parsed, every name turned into a
// number, so that the C side only makes syscalls.
type initConfig struct {
	Kind         int // nsenter.KindStandard or nsenter.KindSetns
	ID           string
	Spec         *specs.Spec // standard init only
	Process      *specs.Process
	Rootfs       string
	NoPivot      bool
	NoNewKeyring bool
	FifoFd       int
	ConsoleFd    int
	PreserveFds  int
	HooksSync    bool
	State        *specs.State
	// SeccompBPF is the container's filter, compiled by the parent (see
	// compileSeccomp); the init only loads it.
	SeccompBPF []byte
	// SeccompListenerFd is an O_PATH fd on linux.seccomp.listenerPath
	// (SCMP_ACT_NOTIFY), -1 when there is none.
	SeccompListenerFd int
	SeccompMetadata   string
}

const (
	initStandard = nsenter.KindStandard
	initSetns    = nsenter.KindSetns
)

// defaultDevices are created in every container whose /dev is not the
// host's, as runc and Docker do.
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// configWriter writes the records of init.h: u16 tag, u32 length, payload.
type configWriter struct{ b []byte }

func (w *configWriter) record(tag int, payload []byte) {
	w.b = binary.LittleEndian.AppendUint16(w.b, uint16(tag))
	w.b = binary.LittleEndian.AppendUint32(w.b, uint32(len(payload)))
	w.b = append(w.b, payload...)
}

func (w *configWriter) int(tag int, v int64) {
	w.record(tag, binary.LittleEndian.AppendUint64(nil, uint64(v)))
}

func (w *configWriter) bool(tag int, v bool) {
	if v {
		w.int(tag, 1)
	}
}

func (w *configWriter) str(tag int, s string) { w.record(tag, []byte(s)) }

func (w *configWriter) strs(tag int, ss []string) {
	for _, s := range ss {
		w.str(tag, s)
	}
}

func (w *configWriter) nested(tag int, fill func(*configWriter)) {
	var n configWriter
	fill(&n)
	w.record(tag, n.b)
}

// encode builds the init's config.
func (cfg *initConfig) encode() ([]byte, error) {
	w := &configWriter{}
	w.int(nsenter.TKind, int64(cfg.Kind))
	w.str(nsenter.TID, cfg.ID)
	w.bool(nsenter.TNoNewKeyring, cfg.NoNewKeyring)
	w.int(nsenter.TFifoFd, int64(cfg.FifoFd))
	w.int(nsenter.TConsoleFd, int64(cfg.ConsoleFd))
	w.int(nsenter.TPreserveFds, int64(cfg.PreserveFds))
	w.int(nsenter.TSeccompListenerFd, int64(cfg.SeccompListenerFd))
	if len(cfg.SeccompBPF) > 0 {
		w.record(nsenter.TSeccompProgram, cfg.SeccompBPF)
		if cfg.SeccompListenerFd >= 0 {
			st := specs.ContainerProcessState{
				Version: specs.Version, Fds: []string{specs.SeccompFdName}, Pid: cfg.State.Pid,
				Metadata: cfg.SeccompMetadata, State: *cfg.State,
			}
			data, err := json.Marshal(st)
			if err != nil {
				return nil, err
			}
			w.record(nsenter.TSeccompState, data)
		}
	}
	if cfg.Kind == initStandard {
		if err := cfg.encodeContainer(w); err != nil {
			return nil, err
		}
	}
	if err := encodeProcess(w, cfg.Process); err != nil {
		return nil, err
	}
	return w.b, nil
}

// encodeContainer: what only a new container's init does (root, mounts,
// devices, hooks, names, sysctls, masked paths).
func (cfg *initConfig) encodeContainer(w *configWriter) error {
	spec := cfg.Spec
	w.str(nsenter.TRootfs, cfg.Rootfs)
	w.bool(nsenter.TNoPivot, cfg.NoPivot)
	w.bool(nsenter.THooksSync, cfg.HooksSync)
	// The states for the init's own hooks, only when there are hooks:
	// encoding them is a measurable part of a create without.
	if h := spec.Hooks; h != nil && len(h.CreateContainer) > 0 {
		created, err := json.Marshal(cfg.State)
		if err != nil {
			return err
		}
		w.record(nsenter.TStateCreated, created)
	}
	if h := spec.Hooks; h != nil && len(h.StartContainer) > 0 {
		running := *cfg.State
		running.Status = StatusRunning
		data, err := json.Marshal(&running)
		if err != nil {
			return err
		}
		w.record(nsenter.TStateRunning, data)
	}

	hasUser, _ := specconv.HasNamespace(spec, specs.UserNamespace)
	_, newNet := specconv.HasNamespace(spec, specs.NetworkNamespace)
	hasUTS, _ := specconv.HasNamespace(spec, specs.UTSNamespace)
	hasMnt, _ := specconv.HasNamespace(spec, specs.MountNamespace)
	cgroupns, _ := specconv.HasNamespace(spec, specs.CgroupNamespace)
	w.bool(nsenter.THasUser, hasUser)
	w.bool(nsenter.TNewNet, newNet)
	w.bool(nsenter.THasUTS, hasUTS)
	w.bool(nsenter.THasMnt, hasMnt)
	w.bool(nsenter.TCgroupNS, cgroupns)

	// Default rslave: host mounts still reach the container, nothing of
	// the container's propagates back to the host.
	prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
	if p := spec.Linux.RootfsPropagation; p != "" {
		prop = specconv.PropagationFlags[p]
		w.int(nsenter.TRootPropagationEnd, int64(prop))
	}
	w.int(nsenter.TRootPropagation, int64(prop))
	w.bool(nsenter.TRootReadonly, spec.Root.Readonly)

	bundle := ""
	if cfg.State != nil {
		bundle = cfg.State.Bundle
	}
	hostDev, seenDev := false, false
	for _, m := range spec.Mounts {
		mo := specconv.ParseMountOptions(m.Options)
		if m.Type == "bind" {
			mo.Bind = true
			mo.Flags |= unix.MS_BIND
		}
		if m.Destination == "/dev" && !seenDev {
			// The host's /dev gets no device nodes of ours: they would
			// land on the host.
			hostDev, seenDev = mo.Bind, true
		}
		src := m.Source
		if mo.Bind && !filepath.IsAbs(src) && bundle != "" {
			src = filepath.Join(bundle, src)
		}
		w.nested(nsenter.TMount, func(w *configWriter) {
			w.str(nsenter.MDest, m.Destination)
			w.str(nsenter.MSource, src)
			w.str(nsenter.MType, m.Type)
			w.int(nsenter.MFlags, int64(mo.Flags))
			w.str(nsenter.MData, mo.Data)
			w.bool(nsenter.MBind, mo.Bind)
			w.bool(nsenter.MRecursive, mo.Recursive)
			w.bool(nsenter.MCopyUp, mo.CopyUp)
			for _, p := range mo.Propagation {
				w.int(nsenter.MPropagation, int64(p))
			}
			w.int(nsenter.MAttrSet, int64(mo.AttrSet))
			w.int(nsenter.MAttrClr, int64(mo.AttrClr))
		})
	}
	w.bool(nsenter.TDevHostBind, hostDev)
	if !hostDev {
		for _, d := range append(append([]specs.LinuxDevice{}, defaultDevices...), spec.Linux.Devices...) {
			perm := int64(0o666)
			if d.FileMode != nil {
				perm = int64(*d.FileMode & 0o7777)
			}
			uid, gid := int64(-1), int64(-1)
			if d.UID != nil {
				uid = int64(*d.UID)
			}
			if d.GID != nil {
				gid = int64(*d.GID)
			}
			typ := int64(0)
			if d.Type != "" {
				typ = int64(d.Type[0])
			}
			w.nested(nsenter.TDevice, func(w *configWriter) {
				w.str(nsenter.DPath, d.Path)
				w.int(nsenter.DType, typ)
				w.int(nsenter.DMajor, d.Major)
				w.int(nsenter.DMinor, d.Minor)
				w.int(nsenter.DMode, perm)
				w.int(nsenter.DUID, uid)
				w.int(nsenter.DGID, gid)
			})
		}
	}
	if h := spec.Hooks; h != nil {
		encodeHooks(w, nsenter.THookCreate, h.CreateContainer)
		encodeHooks(w, nsenter.THookStart, h.StartContainer)
	}
	if spec.Hostname != "" {
		w.str(nsenter.THostname, spec.Hostname)
	}
	if spec.Domainname != "" {
		w.str(nsenter.TDomainname, spec.Domainname)
	}
	keys := make([]string, 0, len(spec.Linux.Sysctl))
	for k := range spec.Linux.Sysctl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w.nested(nsenter.TSysctl, func(w *configWriter) {
			w.str(nsenter.SKey, k)
			w.str(nsenter.SValue, spec.Linux.Sysctl[k])
		})
	}
	w.strs(nsenter.TReadonlyPath, spec.Linux.ReadonlyPaths)
	w.strs(nsenter.TMaskedPath, spec.Linux.MaskedPaths)
	if p := spec.Linux.Personality; p != nil {
		dom, ok := personalityDomains[p.Domain]
		if !ok {
			return fmt.Errorf("linux.personality.domain %q: unknown", p.Domain)
		}
		w.int(nsenter.TPersonality, int64(dom))
	}
	return nil
}

func encodeHooks(w *configWriter, tag int, hooks []specs.Hook) {
	for _, h := range hooks {
		w.nested(tag, func(w *configWriter) {
			w.str(nsenter.HPath, h.Path)
			w.strs(nsenter.HArg, h.Args)
			w.strs(nsenter.HEnv, h.Env)
			if h.Timeout != nil {
				w.int(nsenter.HTimeout, int64(*h.Timeout))
			}
		})
	}
}

// encodeProcess: the process's own attributes, for both inits.
func encodeProcess(w *configWriter, p *specs.Process) error {
	w.strs(nsenter.TArg, p.Args)
	w.strs(nsenter.TEnv, p.Env)
	w.str(nsenter.TCwd, p.Cwd)
	w.bool(nsenter.TTerminal, p.Terminal)
	if p.ConsoleSize != nil {
		w.int(nsenter.TConsoleWidth, int64(p.ConsoleSize.Width))
		w.int(nsenter.TConsoleHeight, int64(p.ConsoleSize.Height))
	}
	w.int(nsenter.TUID, int64(p.User.UID))
	w.int(nsenter.TGID, int64(p.User.GID))
	for _, g := range p.User.AdditionalGids {
		w.int(nsenter.TAdditionalGID, int64(g))
	}
	if p.User.Umask != nil {
		w.int(nsenter.TUmask, int64(*p.User.Umask))
	}
	w.bool(nsenter.TNoNewPrivs, p.NoNewPrivileges)
	if c := p.Capabilities; c != nil {
		w.bool(nsenter.TCaps, true)
		w.int(nsenter.TCapBounding, capMask(c.Bounding))
		w.int(nsenter.TCapEffective, capMask(c.Effective))
		w.int(nsenter.TCapPermitted, capMask(c.Permitted))
		w.int(nsenter.TCapInheritable, capMask(c.Inheritable))
		w.int(nsenter.TCapAmbient, capMask(c.Ambient))
	}
	for _, r := range p.Rlimits {
		res, ok := specconv.Rlimits[r.Type]
		if !ok {
			return fmt.Errorf("process.rlimits %s: unknown", r.Type)
		}
		w.nested(nsenter.TRlimit, func(w *configWriter) {
			w.int(nsenter.RResource, int64(res))
			w.int(nsenter.RSoft, int64(r.Soft))
			w.int(nsenter.RHard, int64(r.Hard))
			w.str(nsenter.RName, r.Type)
		})
	}
	if p.OOMScoreAdj != nil {
		w.int(nsenter.TOOMScoreAdj, int64(*p.OOMScoreAdj))
	}
	if p.IOPriority != nil {
		class, ok := ioprioClasses[p.IOPriority.Class]
		if !ok {
			return fmt.Errorf("process.ioPriority.class %q: unknown", p.IOPriority.Class)
		}
		w.int(nsenter.TIOPrio, int64(class<<13|int64(p.IOPriority.Priority)))
	}
	if s := p.Scheduler; s != nil {
		attr, err := schedAttr(s)
		if err != nil {
			return err
		}
		w.record(nsenter.TSchedAttr, attr)
	}
	return nil
}

// capMask turns capability names (validated by specconv) into a bit mask.
func capMask(names []string) int64 {
	var m uint64
	for _, n := range names {
		if v, err := specconv.CapabilityValue(n); err == nil {
			m |= 1 << uint(v)
		}
	}
	return int64(m)
}

var personalityDomains = map[specs.LinuxPersonalityDomain]int64{
	specs.PerLinux: 0x0000, specs.PerLinux32: 0x0008,
}

var ioprioClasses = map[specs.IOPriorityClass]int64{
	specs.IOPRIO_CLASS_RT: 1, specs.IOPRIO_CLASS_BE: 2, specs.IOPRIO_CLASS_IDLE: 3,
}

var schedPolicies = map[specs.LinuxSchedulerPolicy]uint32{
	specs.SchedOther: 0, specs.SchedFIFO: 1, specs.SchedRR: 2, specs.SchedBatch: 3,
	specs.SchedISO: 4, specs.SchedIdle: 5, specs.SchedDeadline: 6,
}

var schedFlags = map[specs.LinuxSchedulerFlag]uint64{
	specs.SchedFlagResetOnFork: 0x01, specs.SchedFlagReclaim: 0x02, specs.SchedFlagDLOverrun: 0x04,
	specs.SchedFlagKeepPolicy: 0x08, specs.SchedFlagKeepParams: 0x10, specs.SchedFlagUtilClampMin: 0x20,
	specs.SchedFlagUtilClampMax: 0x40,
}

// schedAttr lays out struct sched_attr (sched_setattr(2)) for the init.
func schedAttr(s *specs.Scheduler) ([]byte, error) {
	pol, ok := schedPolicies[s.Policy]
	if !ok {
		return nil, fmt.Errorf("process.scheduler.policy %q: unknown", s.Policy)
	}
	var flags uint64
	for _, f := range s.Flags {
		v, ok := schedFlags[f]
		if !ok {
			return nil, fmt.Errorf("process.scheduler.flags %q: unknown", f)
		}
		flags |= v
	}
	le := binary.LittleEndian
	b := le.AppendUint32(nil, unix.SizeofSchedAttr)
	b = le.AppendUint32(b, pol)
	b = le.AppendUint64(b, flags)
	b = le.AppendUint32(b, uint32(s.Nice))
	b = le.AppendUint32(b, uint32(s.Priority))
	b = le.AppendUint64(b, s.Runtime)
	b = le.AppendUint64(b, s.Deadline)
	b = le.AppendUint64(b, s.Period)
	for len(b) < unix.SizeofSchedAttr {
		b = append(b, 0) // util_min, util_max
	}
	return b, nil
}
