package validate

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/errdefs"
)

func i64(v int64) *int64   { return &v }
func u64(v uint64) *uint64 { return &v }
func u16(v uint16) *uint16 { return &v }

func TestResources(t *testing.T) {
	env := Env{CPUs: "0-1", Mems: "0", Source: "this machine", HugePageSizes: []string{"2MB"}}
	good := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: i64(1 << 20), Swap: i64(2 << 20), Swappiness: u64(^uint64(0))},
		CPU:    &specs.LinuxCPU{Shares: u64(1024), Quota: i64(-1), Period: u64(100000), Cpus: "0-1", Mems: "0"},
		Pids:   &specs.LinuxPids{Limit: i64(0)},
	}
	if err := Resources(good, env); err != nil {
		t.Errorf("valid resources: %v", err)
	}
	bad := map[string]*specs.LinuxResources{
		`linux.resources.cpu.cpus "99": cpu 99 not on this machine (0-1)`: {CPU: &specs.LinuxCPU{Cpus: "99"}},
		`linux.resources.cpu.cpus "1-0"`:                                  {CPU: &specs.LinuxCPU{Cpus: "1-0"}},
		"linux.resources.memory.swap 1":                                   {Memory: &specs.LinuxMemory{Limit: i64(2), Swap: i64(1)}},
		"linux.resources.memory.swappiness 101":                           {Memory: &specs.LinuxMemory{Swappiness: u64(101)}},
		"linux.resources.cpu.quota 10":                                    {CPU: &specs.LinuxCPU{Quota: i64(10)}},
		"linux.resources.cpu.period 5000000":                              {CPU: &specs.LinuxCPU{Period: u64(5000000)}},
		"linux.resources.cpu.idle 2":                                      {CPU: &specs.LinuxCPU{Idle: i64(2)}},
		"linux.resources.blockIO.weight 1001":                             {BlockIO: &specs.LinuxBlockIO{Weight: u16(1001)}},
		`linux.resources.hugepageLimits[0].pageSize "1GB"`:                {HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "1GB"}}},
		`linux.resources.network.priorities[0].name "a b"`:                {Network: &specs.LinuxNetwork{Priorities: []specs.LinuxInterfacePriority{{Name: "a b"}}}},
		`linux.resources.devices[0].type "z"`:                             {Devices: []specs.LinuxDeviceCgroup{{Type: "z"}}},
	}
	for want, r := range bad {
		err := Resources(r, env)
		if !errdefs.IsInvalidArgument(err) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %v, want one starting %q", err, want)
		}
	}
}

func TestHugePageSizes(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"hugepages-2048kB", "hugepages-1048576kB", "hugepages-64kB"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got := HugePageSizes(dir)
	slices.Sort(got)
	if want := []string{"1GB", "2MB", "64KB"}; !slices.Equal(got, want) {
		t.Errorf("HugePageSizes = %v, want %v", got, want)
	}
	if HugePageSizes(filepath.Join(dir, "none")) != nil {
		t.Error("missing dir must skip the check (nil)")
	}
}
