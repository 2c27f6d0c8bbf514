package engine

import (
	"reflect"
	"testing"
	"time"

	"hutch.dev/hutch/cgroups"
)

func TestParsePSOutput(t *testing.T) {
	out := []byte(`UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 10:00 ?        00:00:01 /sbin/init splash
root         100       1  0 10:01 ?        00:00:00 sleep 1000
root         101     100  0 10:01 ?        00:00:00 sh -c echo  two   spaces
`)
	res, err := parsePSOutput(out, []int{100, 101})
	if err != nil {
		t.Fatal(err)
	}
	want := &TopResult{
		Titles: []string{"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"},
		Processes: [][]string{
			{"root", "100", "1", "0", "10:01", "?", "00:00:00", "sleep 1000"},
			// Runs of spaces in the command are not kept: ps's columns
			// cannot tell them from the separators (Docker's too).
			{"root", "101", "100", "0", "10:01", "?", "00:00:00", "sh -c echo two spaces"},
		},
	}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("got %q\nwant %q", res, want)
	}

	// Thread rows (ps -m) follow the process they belong to.
	out = []byte("PID TID CMD\n100 - sleep\n- 100 -\n200 - other\n- 200 -\n")
	res, err = parsePSOutput(out, []int{100})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Processes) != 2 || res.Processes[1][0] != "-" {
		t.Errorf("threads: %q", res.Processes)
	}

	if _, err := parsePSOutput([]byte("COMMAND\nsleep\n"), []int{1}); err == nil {
		t.Error("no PID column: want an error")
	}
	if _, err := parsePSOutput([]byte("PID CMD\nabc sleep\n"), []int{1}); err == nil {
		t.Error("a PID that is not a number: want an error")
	}
}

func TestValidatePSArgs(t *testing.T) {
	for _, ok := range []string{"-ef", "aux", "-o pid,comm", "-o pid=PID", "-o user,pid=PID"} {
		if err := validatePSArgs(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"-o user=PID", "-o comm= PID", "-o pid,args=PIDX"} {
		if err := validatePSArgs(bad); err == nil {
			t.Errorf("%q: want refused", bad)
		}
	}
}

func TestParsePruneFilters(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"10m":                  now.Add(-10 * time.Minute),
		"1700000000":           time.Unix(1700000000, 0),
		"1700000000.5":         time.Unix(1700000000, 500000000),
		"2024-05-06T07:08:09Z": time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		"2024-05-06":           time.Date(2024, 5, 6, 0, 0, 0, 0, time.Local),
	} {
		got, err := parseUntil(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("until=%s: got %v, %v; want %v", in, got, err, want)
		}
	}
	f, err := ParsePruneFilters([]string{"label=a", "label=b=c", "label!=d", "until=1h"})
	if err != nil {
		t.Fatal(err)
	}
	old := &Container{Created: time.Now().Add(-2 * time.Hour), Config: Config{Labels: map[string]string{"a": "", "b": "c"}}}
	if !f.match(old) {
		t.Error("an old container with a and b=c: want a match")
	}
	for _, c := range []*Container{
		{Created: time.Now(), Config: old.Config},
		{Created: old.Created, Config: Config{Labels: map[string]string{"a": "", "b": "x"}}},
		{Created: old.Created, Config: Config{Labels: map[string]string{"a": "", "b": "c", "d": "1"}}},
	} {
		if f.match(c) {
			t.Errorf("%v %v: want no match", c.Created, c.Config.Labels)
		}
	}
	for _, bad := range [][]string{{"until=soon"}, {"name=x"}, {"label"}} {
		if _, err := ParsePruneFilters(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestStatsEntry(t *testing.T) {
	t0 := time.Unix(1000, 0)
	prev := &StatsSample{Read: t0, Stats: &cgroups.Stats{}}
	prev.Stats.CPU.Usage.Total = 1e9
	cur := &StatsSample{ID: "id", Name: "web", Read: t0.Add(time.Second), NetRx: 5, NetTx: 6, Stats: &cgroups.Stats{}}
	s := cur.Stats
	s.CPU.Usage.Total = 1e9 + 5e8 // half a CPU over one second
	s.Memory.Usage.Usage = 10 << 20
	s.Memory.Usage.Limit = 1 << 62 // unlimited: the host's memory is shown
	s.Memory.Raw = map[string]uint64{"total_inactive_file": 2 << 20}
	s.Pids.Current = 3
	s.Blkio.IoServiceBytesRecursive = []cgroups.BlkioEntry{
		{Op: "Read", Value: 100}, {Op: "Write", Value: 7}, {Op: "read", Value: 1}, {Op: "Total", Value: 108},
	}
	en := cur.Entry(prev, 80<<20)
	want := StatsEntry{
		ID: "id", Name: "web", Running: true, CPUPercent: 50,
		MemUsage: 8 << 20, MemLimit: 80 << 20, MemPercent: 10,
		NetRx: 5, NetTx: 6, BlockRead: 101, BlockWrite: 7, Pids: 3,
	}
	if en != want {
		t.Errorf("got  %+v\nwant %+v", en, want)
	}
	// No earlier sample: no CPU share; a limit below the host's is kept.
	s.Memory.Usage.Limit = 16 << 20
	if en := cur.Entry(nil, 80<<20); en.CPUPercent != 0 || en.MemLimit != 16<<20 || en.MemPercent != 50 {
		t.Errorf("first sample: %+v", en)
	}
	// A container that does not run: zeros.
	if en := (&StatsSample{ID: "id", Name: "idle"}).Entry(prev, 80<<20); en.Running || en.MemLimit != 0 {
		t.Errorf("stopped: %+v", en)
	}
}
