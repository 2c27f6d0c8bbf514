package network

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// TestParallelAttach attaches 50 containers to one network at once, from
// goroutines of one process, and checks that they got 50 addresses.
func TestParallelAttach(t *testing.T) {
	e := newEnv(t)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		ns := e.netns(fmt.Sprintf("p%d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.m.Attach(context.Background(), AttachRequest{ContainerID: randHex(32), ContainerName: fmt.Sprintf("p%d", i), NetnsPath: ns})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	checkDistinct(t, e, n)
	detachAll(t, e)
}

// TestParallelAttachProcesses does the same from 5 processes of 10
// attaches each: the IPAM lock is a lock on disk, not in memory.
func TestParallelAttachProcesses(t *testing.T) {
	e := newEnv(t)
	const procs, each = 5, 10
	var wg sync.WaitGroup
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	for p := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAttachProcess$", "-test.v")
		cmd.Env = append(os.Environ(),
			"HUTCH_NET_HELPER=1",
			"HUTCH_NET_ROOT="+e.root, "HUTCH_NET_RUN="+e.run, "HUTCH_NET_NSDIR="+e.nsDir,
			"HUTCH_NET_BRIDGE="+e.bridge, "HUTCH_NET_SUBNET="+e.subnet.String(), "HUTCH_NET_SUFFIX="+e.suffix,
			"HUTCH_NET_PROC="+strconv.Itoa(p), "HUTCH_NET_COUNT="+strconv.Itoa(each))
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[p], errs[p] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	for p := range procs {
		if errs[p] != nil {
			t.Errorf("helper %d: %v\n%s", p, errs[p], outs[p])
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	checkDistinct(t, e, procs*each)
	detachAll(t, e)
}

// TestHelperAttachProcess is the body of one helper process of
// TestParallelAttachProcesses; run on its own it does nothing.
func TestHelperAttachProcess(t *testing.T) {
	if os.Getenv("HUTCH_NET_HELPER") != "1" {
		t.Skip("helper process only")
	}
	env := os.Getenv
	m, err := Open(env("HUTCH_NET_ROOT"), env("HUTCH_NET_RUN"),
		WithDefaultNetwork(env("HUTCH_NET_BRIDGE"), netip.MustParsePrefix(env("HUTCH_NET_SUBNET"))),
		WithFirewallTable("hutch-test-"+env("HUTCH_NET_SUFFIX")))
	if err != nil {
		t.Fatal(err)
	}
	count, _ := strconv.Atoi(env("HUTCH_NET_COUNT"))
	var wg sync.WaitGroup
	for i := range count {
		name := fmt.Sprintf("q%s-%d", env("HUTCH_NET_PROC"), i)
		ns := filepath.Join(env("HUTCH_NET_NSDIR"), name+"-"+env("HUTCH_NET_SUFFIX"))
		if err := newNetns(ns); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			att, err := m.Attach(context.Background(), AttachRequest{ContainerID: randHex(32), ContainerName: name, NetnsPath: ns})
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := json.Marshal(att)
			t.Logf("%s", b)
		}()
	}
	wg.Wait()
}

func checkDistinct(t *testing.T, e *testEnv, want int) {
	t.Helper()
	atts, err := e.m.Containers(DefaultNetwork)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[netip.Addr]string{}
	veths := map[string]bool{}
	for _, a := range atts {
		if other, ok := seen[a.IPv4.Addr()]; ok {
			t.Errorf("%s given to %s and %s", a.IPv4.Addr(), other, a.ContainerName)
		}
		seen[a.IPv4.Addr()] = a.ContainerName
		veths[a.HostInterface] = true
	}
	if len(seen) != want || len(veths) != want {
		t.Fatalf("%d distinct addresses and %d veths for %d attachments, want %d", len(seen), len(veths), len(atts), want)
	}
	if got := len(linksWithPrefix(t, "hv")); got < want {
		t.Fatalf("%d veths on the host, want at least %d", got, want)
	}
}

func detachAll(t *testing.T, e *testEnv) {
	t.Helper()
	atts, err := e.m.Containers(DefaultNetwork)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, a := range atts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := e.m.Detach(context.Background(), a.ContainerID); err != nil {
				t.Error(err)
			}
			if l := linksWithPrefix(t, a.HostInterface); len(l) > 0 {
				t.Errorf("veth %s left", a.HostInterface)
			}
		}()
	}
	wg.Wait()
	if atts, _ := e.m.Containers(DefaultNetwork); len(atts) != 0 {
		t.Fatalf("%d leases left", len(atts))
	}
	if _, err := os.Stat(filepath.Join(e.run, "networks", defaultID(DefaultNetwork)+".json")); !os.IsNotExist(err) {
		t.Fatalf("leases file left: %v", err)
	}
}
