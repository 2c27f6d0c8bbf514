package volume

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"hutch.dev/hutch/errdefs"
)

func newStore(t *testing.T, opts ...Option) (*Store, string) {
	t.Helper()
	root := t.TempDir()
	s, err := Open(root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, root
}

func TestCreateWritesDockerLayout(t *testing.T) {
	s, root := newStore(t)
	v, err := s.Create("data", CreateOptions{Labels: map[string]string{"app": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	wantMP := filepath.Join(root, "volumes", "data", "_data")
	if v.Name != "data" || v.Driver != "local" || v.Mountpoint != wantMP || v.Anonymous || v.CreatedAt.IsZero() || v.Labels["app"] != "web" {
		t.Errorf("record %+v", v)
	}
	if st, err := os.Stat(wantMP); err != nil || !st.IsDir() || st.Mode().Perm() != 0o755 {
		t.Errorf("_data: %v %v", st, err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "volumes", "data", "volume.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(raw, &m)
	for _, k := range []string{"Name", "Driver", "Mountpoint", "CreatedAt", "Labels", "Options", "Anonymous"} {
		if _, ok := m[k]; !ok {
			t.Errorf("volume.json lacks %s: %s", k, raw)
		}
	}
	got, err := s.Get("data")
	if err != nil || !reflect.DeepEqual(got, v) {
		t.Errorf("Get = %+v, %v; want %+v", got, err, v)
	}
	if _, err := s.Get("nope"); !errdefs.IsNotFound(err) || err.Error() != "no such volume: nope" {
		t.Errorf("Get(nope): %v", err)
	}
	if _, err := s.Get("../volumes"); !errdefs.IsNotFound(err) {
		t.Errorf("Get(../volumes): %v", err)
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	s, root := newStore(t)
	for _, tt := range []struct {
		name string
		opts CreateOptions
		err  string
	}{
		{"a", CreateOptions{}, "volume name is too short"},
		{"-data", CreateOptions{}, `"-data" includes invalid characters`},
		{"my/vol", CreateOptions{}, "includes invalid characters"},
		{"..", CreateOptions{}, "includes invalid characters"},
		{"data", CreateOptions{Driver: "nfs"}, `driver "nfs" is not supported`},
		{"data", CreateOptions{Options: map[string]string{"size": "1g"}}, `invalid option: "size"`},
		{"data", CreateOptions{Options: map[string]string{"type": "tmpfs"}}, `missing required option: "device"`},
		{"data", CreateOptions{Options: map[string]string{"o": "size=1m", "device": "tmpfs"}}, `missing required option: "type"`},
	} {
		_, err := s.Create(tt.name, tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.err) || !errdefs.IsInvalidArgument(err) {
			t.Errorf("Create(%q, %+v) = %v; want invalid argument %q", tt.name, tt.opts, err, tt.err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(root, "volumes")); len(entries) > 1 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestCreateAnonymousAndIdempotent(t *testing.T) {
	s, _ := newStore(t)
	a, err := s.Create("", CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Anonymous || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(a.Name) {
		t.Errorf("anonymous volume %+v", a)
	}
	opts := CreateOptions{Labels: map[string]string{"k": "v"}, Options: map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}}
	v1, err := s.Create("data", opts)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(v1.Mountpoint, "keep"), []byte("x"), 0o644)
	// Same options, or none (as `-v data:/x` asks): the same volume, content kept.
	for _, o := range []CreateOptions{opts, {}} {
		v2, err := s.Create("data", o)
		if err != nil || !reflect.DeepEqual(v1, v2) {
			t.Errorf("Create again with %+v = %+v, %v", o, v2, err)
		}
	}
	if _, err := os.Stat(filepath.Join(v1.Mountpoint, "keep")); err != nil {
		t.Error(err)
	}
	_, err = s.Create("data", CreateOptions{Labels: map[string]string{"k": "other"}})
	if !errdefs.IsConflict(err) {
		t.Errorf("different labels: %v", err)
	}
}

func TestConcurrentCreate(t *testing.T) {
	s, root := newStore(t)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Add(2)
		go func() { defer wg.Done(); _, err := s.Create("shared", CreateOptions{}); errs <- err }()
		go func() { defer wg.Done(); _, err := s.Create(fmt.Sprintf("vol%02d", i), CreateOptions{}); errs <- err }()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	vols, err := s.List(Filters{})
	if err != nil || len(vols) != 33 {
		t.Errorf("%d volumes, %v", len(vols), err)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "volumes"))
	if len(entries) != 34 { // 33 volumes and the lock
		t.Errorf("%d entries in volumes/", len(entries))
	}
}

func TestInUseVolumesAreKept(t *testing.T) {
	names := map[string]string{"3f2a1b2c3d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcd": "web", "db1d": "db"}
	lookup := func(id string) (string, bool) { n, ok := names[id]; return n, ok }
	s, _ := newStore(t, WithContainerLookup(lookup))
	if _, err := s.Create("data", CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	web := "3f2a1b2c3d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcd"
	if _, err := s.Acquire("data", web); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire("data", web); err != nil { // twice: one reference
		t.Fatal(err)
	}
	err := s.Remove("data", true)
	if !errdefs.IsConflict(err) || err.Error() != `volume "data" is in use by container "web" (3f2a1b2c3d4e)` {
		t.Errorf("Remove in use: %v", err)
	}
	s.Acquire("data", "db1d")
	if err := s.Remove("data", false); err == nil || !strings.HasSuffix(err.Error(), "and 1 other") {
		t.Errorf("two users: %v", err)
	}
	if removed, _, err := s.Prune(Filters{All: true}); err != nil || len(removed) != 0 {
		t.Errorf("prune removed %v, %v", removed, err)
	}
	s.Release("data", web)
	s.Release("data", web) // harmless
	// db's container is gone without releasing (a crash): the lookup
	// says so, and the reference is dropped.
	delete(names, "db1d")
	if err := s.Remove("data", false); err != nil {
		t.Errorf("Remove after release: %v", err)
	}
	if err := s.Release("data", web); err != nil {
		t.Errorf("Release of a removed volume: %v", err)
	}
	if _, err := s.Acquire("data", web); !errdefs.IsNotFound(err) {
		t.Errorf("Acquire of a removed volume: %v", err)
	}
	if err := s.Remove("data", false); !errdefs.IsNotFound(err) {
		t.Errorf("Remove missing: %v", err)
	}
	if err := s.Remove("data", true); err != nil {
		t.Errorf("Remove -f missing: %v", err)
	}
}

func TestInUseErrorWithoutLookup(t *testing.T) {
	s, _ := newStore(t)
	s.Create("data", CreateOptions{})
	s.Acquire("data", "0123456789abcdef")
	err := s.Remove("data", false)
	if err == nil || err.Error() != `volume "data" is in use by container 0123456789ab` {
		t.Errorf("got %v", err)
	}
	if err := s.ReleaseAll("0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("data", false); err != nil {
		t.Error(err)
	}
}

func TestListFilters(t *testing.T) {
	s, _ := newStore(t)
	s.Create("web-data", CreateOptions{Labels: map[string]string{"app": "web", "tier": "front"}})
	s.Create("db-data", CreateOptions{Labels: map[string]string{"app": "db"}})
	anon, _ := s.Create("", CreateOptions{})
	s.Acquire("db-data", "c1")

	names := func(args ...string) []string {
		t.Helper()
		f, err := ParseFilters(args)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(strings.Join(args, " "), "inuse") {
			f.InUse = map[string]bool{"web-data": true}
		}
		vols, err := s.List(f)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, v := range vols {
			out = append(out, v.Name)
		}
		return out
	}
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{nil, []string{anon.Name, "db-data", "web-data"}},
		{[]string{"label=app"}, []string{"db-data", "web-data"}},
		{[]string{"label=app=web"}, []string{"web-data"}},
		{[]string{"label=app=web", "label=tier=back"}, []string{}},
		{[]string{"label!=app"}, []string{anon.Name}},
		{[]string{"name=data"}, []string{"db-data", "web-data"}},
		{[]string{"name=^db"}, []string{"db-data"}},
		{[]string{"name=^db", "name=^web"}, []string{"db-data", "web-data"}},
		{[]string{"dangling=true"}, []string{anon.Name, "web-data"}},
		{[]string{"dangling=false"}, []string{"db-data"}},
		{[]string{"dangling=1", "label=inuse"}, []string{}},
		{[]string{"driver=local", "label=app=db"}, []string{"db-data"}},
		{[]string{"driver=nfs"}, []string{}},
	} {
		slices.Sort(tt.want)
		if got := names(tt.args...); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("filters %q: %q, want %q", tt.args, got, tt.want)
		}
	}
	for _, bad := range []string{"dangling=yes", "colour=red", "label", "name=[", "all=maybe"} {
		if _, err := ParseFilters([]string{bad}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("ParseFilters(%q): %v", bad, err)
		}
	}
}

func TestPruneAndUsage(t *testing.T) {
	s, root := newStore(t)
	anon, _ := s.Create("", CreateOptions{})
	used, _ := s.Create("", CreateOptions{})
	named, _ := s.Create("named", CreateOptions{Labels: map[string]string{"keep": "yes"}})
	s.Acquire(used.Name, "c1")
	os.WriteFile(filepath.Join(anon.Mountpoint, "a"), make([]byte, 1000), 0o644)
	os.Mkdir(filepath.Join(anon.Mountpoint, "sub"), 0o755)
	os.WriteFile(filepath.Join(anon.Mountpoint, "sub", "b"), make([]byte, 500), 0o644)
	os.Link(filepath.Join(anon.Mountpoint, "a"), filepath.Join(anon.Mountpoint, "a-link"))
	os.Symlink("/etc/passwd", filepath.Join(anon.Mountpoint, "outside"))
	if n, err := s.Usage(anon.Name); n != 1500 || err != nil {
		t.Errorf("Usage = %d, %v; want 1500", n, err)
	}

	removed, reclaimed, err := s.Prune(Filters{})
	if err != nil || !reflect.DeepEqual(removed, []string{anon.Name}) || reclaimed != 1500 {
		t.Errorf("Prune = %v, %d, %v", removed, reclaimed, err)
	}
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Error("prune followed a symlink out of the volume")
	}
	f, _ := ParseFilters([]string{"all=true", "label!=keep"})
	if removed, _, _ := s.Prune(f); len(removed) != 0 {
		t.Errorf("pruned %v", removed)
	}
	removed, _, _ = s.Prune(Filters{All: true})
	if !reflect.DeepEqual(removed, []string{"named"}) {
		t.Errorf("prune --all removed %v", removed)
	}
	if _, err := os.Stat(named.Mountpoint); !os.IsNotExist(err) {
		t.Errorf("named volume's data still there: %v", err)
	}
	// A crash between rename and RemoveAll leaves a temporary directory
	// that the next listing sweeps.
	os.MkdirAll(filepath.Join(root, "volumes", ".tmp-dead-1234", "_data"), 0o755)
	s.List(Filters{})
	if _, err := os.Stat(filepath.Join(root, "volumes", ".tmp-dead-1234")); !os.IsNotExist(err) {
		t.Error("leftover not swept")
	}
}
