package spec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestResources(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name string
		o    Options
		want string // JSON of linux.resources without devices
	}{
		{"none", Options{}, `{}`},
		// Docker: --memory without --memory-swap allows as much swap again.
		{"memory", Options{Memory: 64 * mib}, `{"memory":{"limit":67108864,"swap":134217728}}`},
		{"memory, swap unlimited", Options{Memory: 64 * mib, MemorySwap: -1}, `{"memory":{"limit":67108864,"swap":-1}}`},
		{"memory, no swap", Options{Memory: 64 * mib, MemorySwap: 64 * mib}, `{"memory":{"limit":67108864,"swap":67108864}}`},
		{"memory at the minimum", Options{Memory: 6291456}, `{"memory":{"limit":6291456,"swap":12582912}}`},
		{"reservation", Options{Memory: 64 * mib, MemoryReservation: 32 * mib}, `{"memory":{"limit":67108864,"reservation":33554432,"swap":134217728}}`},
		{"reservation alone", Options{MemoryReservation: 32 * mib}, `{"memory":{"reservation":33554432}}`},
		// --cpus 1.5: quota = 1.5 * 100000 in a 100 ms period.
		{"cpus", Options{NanoCPUs: 1.5e9}, `{"cpu":{"quota":150000,"period":100000}}`},
		{"cpus 0.01", Options{NanoCPUs: 1e7}, `{"cpu":{"quota":1000,"period":100000}}`},
		{"quota and period", Options{CPUQuota: 50000, CPUPeriod: 200000}, `{"cpu":{"quota":50000,"period":200000}}`},
		{"quota -1", Options{CPUQuota: -1}, `{"cpu":{"quota":-1}}`},
		{"shares and cpuset", Options{CPUShares: 512, CpusetCpus: "0", CpusetMems: "0"}, `{"cpu":{"shares":512,"cpus":"0","mems":"0"}}`},
		{"pids", Options{PidsLimit: 100}, `{"pids":{"limit":100}}`},
		{"pids unlimited", Options{PidsLimit: -5}, `{"pids":{"limit":-1}}`},
		{"blkio weight", Options{BlkioWeight: 300}, `{"blockIO":{"weight":300}}`},
	} {
		r, err := resources(&tc.o)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got, _ := json.Marshal(r)
		if string(got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestResourcesRefused(t *testing.T) {
	const mib = 1 << 20
	ncpu := runtime.NumCPU()
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		// Docker's minimum is 6 MiB exactly (6291456 bytes): one byte less
		// is refused, and so is a negative value.
		{"memory below 6MB", Options{Memory: 6291455}, "spec: --memory 6291455: minimum memory limit allowed is 6MB"},
		{"memory negative", Options{Memory: -1}, "spec: --memory -1: minimum memory limit allowed is 6MB"},
		{"swap below memory", Options{Memory: 64 * mib, MemorySwap: 32 * mib}, "spec: --memory-swap 33554432: minimum memoryswap limit should be larger than memory limit (67108864)"},
		{"swap without memory", Options{MemorySwap: 64 * mib}, "spec: --memory-swap 67108864: you should always set the memory limit when using memoryswap limit"},
		{"swap -2", Options{Memory: 64 * mib, MemorySwap: -2}, "spec: --memory-swap -2: must be -1"},
		{"reservation below 6MB", Options{MemoryReservation: 1 * mib}, "spec: --memory-reservation 1048576: minimum memory reservation allowed is 6MB"},
		{"reservation above memory", Options{Memory: 16 * mib, MemoryReservation: 32 * mib}, "spec: --memory 16777216: minimum memory limit can not be less than memory reservation limit (33554432)"},
		{"cpus and period", Options{NanoCPUs: 1e9, CPUPeriod: 100000}, "spec: conflicting options: --cpus and --cpu-period cannot both be set"},
		{"cpus and quota", Options{NanoCPUs: 1e9, CPUQuota: 100000}, "spec: conflicting options: --cpus and --cpu-quota cannot both be set"},
		{"too many cpus", Options{NanoCPUs: int64(ncpu)*1e9 + 5e8}, "spec: --cpus " + strings.TrimSuffix(itoaTest(ncpu)+".5", "") + ": range of CPUs is from 0.01 to"},
		{"period too small", Options{CPUPeriod: 999}, "spec: --cpu-period 999: CPU cfs period can not be less than 1ms"},
		{"period too large", Options{CPUPeriod: 1000001}, "spec: --cpu-period 1000001: CPU cfs period can not be less than 1ms"},
		{"quota too small", Options{CPUQuota: 999}, "spec: --cpu-quota 999: CPU cfs quota can not be less than 1ms"},
		{"blkio weight", Options{BlkioWeight: 5}, "spec: --blkio-weight 5: range of blkio weight is from 10 to 1000"},
		{"blkio weight high", Options{BlkioWeight: 1001}, "spec: --blkio-weight 1001: range of blkio weight is from 10 to 1000"},
	} {
		_, err := resources(&tc.o)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %s", tc.name, err, tc.want)
		}
	}
}

func itoaTest(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// mknod makes a device node for a test, or skips it where that is not
// allowed.
func mknod(t *testing.T, path string, mode uint32, major, minor uint32) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(path, mode|0o666, int(unix.Mkdev(major, minor))); err != nil {
		t.Skipf("mknod %s: %v", path, err)
	}
}

func TestDevices(t *testing.T) {
	s := build(t, &Options{Cmd: []string{"sh"}, Devices: []DeviceRequest{
		{PathOnHost: "/dev/null"},
		{PathOnHost: "/dev/zero", PathInContainer: "/dev/myzero", Permissions: "r"},
	}})
	if len(s.Linux.Devices) != 2 {
		t.Fatalf("devices %+v", s.Linux.Devices)
	}
	null, zero := s.Linux.Devices[0], s.Linux.Devices[1]
	var st unix.Stat_t
	unix.Stat("/dev/null", &st)
	if null.Path != "/dev/null" || null.Type != "c" || null.Major != 1 || null.Minor != 3 || *null.FileMode&0o777 != 0o666 || *null.UID != st.Uid || *null.GID != st.Gid {
		t.Errorf("/dev/null: %+v", null)
	}
	if zero.Path != "/dev/myzero" || zero.Type != "c" || zero.Major != 1 || zero.Minor != 5 {
		t.Errorf("/dev/zero: %+v", zero)
	}
	rules := s.Linux.Resources.Devices
	if len(rules) != 10 || rules[0].Allow || rules[0].Access != "rwm" {
		t.Fatalf("rules %+v", rules)
	}
	if r := rules[8]; !r.Allow || r.Type != "c" || *r.Major != 1 || *r.Minor != 3 || r.Access != "rwm" {
		t.Errorf("/dev/null rule %+v", r)
	}
	if r := rules[9]; !r.Allow || r.Type != "c" || *r.Major != 1 || *r.Minor != 5 || r.Access != "r" {
		t.Errorf("/dev/zero rule %+v", r)
	}

	// A symlink to a device is followed on the host.
	link := filepath.Join(t.TempDir(), "null-link")
	os.Symlink("/dev/null", link)
	s = build(t, &Options{Cmd: []string{"sh"}, Devices: []DeviceRequest{{PathOnHost: link, PathInContainer: "/dev/n"}}})
	if d := s.Linux.Devices; len(d) != 1 || d[0].Path != "/dev/n" || d[0].Major != 1 || d[0].Minor != 3 {
		t.Errorf("symlinked device: %+v", d)
	}

	// In a privileged container a device at the same path is there
	// already; another path adds it, with all access anyway.
	s = build(t, &Options{Cmd: []string{"sh"}, Privileged: true, Devices: []DeviceRequest{
		{PathOnHost: "/dev/null", Permissions: "r"}, {PathOnHost: "/dev/zero", PathInContainer: "/dev/z2"},
	}})
	if n := len(slices.DeleteFunc(slices.Clone(s.Linux.Devices), func(d specs.LinuxDevice) bool { return d.Path != "/dev/null" })); n != 1 {
		t.Errorf("privileged: /dev/null %d times", n)
	}
	if !slices.ContainsFunc(s.Linux.Devices, func(d specs.LinuxDevice) bool { return d.Path == "/dev/z2" }) || len(s.Linux.Resources.Devices) != 1 {
		t.Errorf("privileged mapping: %d rules", len(s.Linux.Resources.Devices))
	}

	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	fifo := filepath.Join(t.TempDir(), "fifo")
	unix.Mkfifo(fifo, 0o644)
	empty := t.TempDir()
	for _, tc := range []struct {
		d    DeviceRequest
		want string
	}{
		{DeviceRequest{PathOnHost: file}, `spec: --device "` + file + `": not a device node (a regular file)`},
		{DeviceRequest{PathOnHost: fifo}, `spec: --device "` + fifo + `": not a device node (a FIFO)`},
		{DeviceRequest{PathOnHost: "/nonexistent"}, `spec: --device "/nonexistent": no such file or directory`},
		{DeviceRequest{PathOnHost: empty}, `spec: --device "` + empty + `": a directory with no device nodes`},
		{DeviceRequest{PathOnHost: "/dev/null", Permissions: "rwx"}, `spec: --device "/dev/null": invalid permissions "rwx": a combination of r, w and m`},
		{DeviceRequest{PathOnHost: "/dev/null", Permissions: "rr"}, `spec: --device "/dev/null": invalid permissions "rr"`},
		{DeviceRequest{PathOnHost: "/dev/null", PathInContainer: "dev/null"}, `spec: --device "/dev/null": path in container "dev/null" is not absolute`},
	} {
		if msg := buildErr(t, &Options{Cmd: []string{"sh"}, Devices: []DeviceRequest{tc.d}}); !strings.HasPrefix(msg, tc.want) {
			t.Errorf("%+v: %q, want %q", tc.d, msg, tc.want)
		}
	}
}

// A directory brings every device node below it, at the same relative
// path, as Docker's --device /dev/snd.
func TestDevicesDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "snd")
	mknod(t, filepath.Join(dir, "null"), unix.S_IFCHR, 1, 3)
	mknod(t, filepath.Join(dir, "by-id", "zero"), unix.S_IFCHR, 1, 5)
	mknod(t, filepath.Join(dir, "loop"), unix.S_IFBLK, 7, 0)
	os.WriteFile(filepath.Join(dir, "README"), nil, 0o644)
	unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644)

	s := build(t, &Options{Cmd: []string{"sh"}, Devices: []DeviceRequest{{PathOnHost: dir, PathInContainer: "/dev/snd", Permissions: "rw"}}})
	var got []string
	for _, d := range s.Linux.Devices {
		got = append(got, d.Type+" "+d.Path)
	}
	if want := []string{"c /dev/snd/by-id/zero", "b /dev/snd/loop", "c /dev/snd/null"}; !slices.Equal(got, want) {
		t.Errorf("devices %q, want %q", got, want)
	}
	rules := s.Linux.Resources.Devices[8:]
	if len(rules) != 3 || rules[1].Type != "b" || *rules[1].Major != 7 || rules[1].Access != "rw" {
		t.Errorf("rules %+v", rules)
	}
}
