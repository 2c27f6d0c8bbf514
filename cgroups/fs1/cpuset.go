package fs1

import (
	"log/slog"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/cgroups/internal/cgfs"
)

func setCpuset(dir string, r *specs.LinuxResources, _ *slog.Logger) error {
	if r.CPU == nil {
		return nil
	}
	if r.CPU.Cpus != "" {
		if err := cgfs.Write(dir, "cpuset.cpus", r.CPU.Cpus); err != nil {
			return err
		}
	}
	if r.CPU.Mems != "" {
		return cgfs.Write(dir, "cpuset.mems", r.CPU.Mems)
	}
	return nil
}

// initCpuset fills a new cgroup's empty cpuset.cpus and cpuset.mems from
// its parent: the kernel refuses to attach a task to a v1 cpuset cgroup
// with no cpu or no memory node (ENOSPC).
func initCpuset(dir string) error {
	parent := filepath.Dir(dir)
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := cgfs.Read(dir, f)
		if err != nil {
			return err
		}
		if cur != "" {
			continue
		}
		v, err := cgfs.Read(parent, f)
		if err != nil {
			return err
		}
		if err := cgfs.Write(dir, f, v); err != nil {
			return err
		}
	}
	return nil
}

// cpusetEnv returns the cpus and memory nodes a cgroup at dir may use: the
// effective sets of its nearest existing ancestor. Not its own, which an
// update may widen within what the parent allows.
func cpusetEnv(root, dir string) (cpus, mems, source string) {
	d := filepath.Dir(dir)
	for {
		c, err1 := readEffective(d, "cpuset.effective_cpus", "cpuset.cpus")
		n, err2 := readEffective(d, "cpuset.effective_mems", "cpuset.mems")
		if err1 == nil && err2 == nil && c != "" {
			src := "parent cgroup " + d
			if d == root {
				src = "this machine"
			}
			return c, n, src
		}
		if d == root || len(d) <= len(root) {
			return "", "", ""
		}
		d = filepath.Dir(d)
	}
}

func readEffective(dir, effective, plain string) (string, error) {
	if v, err := cgfs.Read(dir, effective); err == nil {
		return v, nil
	}
	return cgfs.Read(dir, plain)
}
