// Command netattach times attaching a container's network namespace to a
// bridge network (veth pair, address, default route, firewall rules) and
// detaching it again, with hutch's network package in-process against
// Podman's netavark (`netavark setup` / `netavark teardown`, one process
// each, as Podman runs it), side by side in one run.
//
//	netattach -work DIR [-rounds N] [-publish] [-netavark PATH] \
//	    [-bridge NAME -subnet CIDR -table NAME] [-nv-bridge NAME -nv-subnet CIDR]
//
// Each side gets a bridge, subnet and firewall of its own (hutch: an
// nftables table; netavark 1.4: iptables chains named after its network).
// Before timing, one namespace is attached on each side and stays attached,
// so the bridges and the networks' rules exist, as they do for every
// container but the first: what is timed is a container's own work. Every
// round makes two fresh namespaces (untimed), then times hutch's Attach and
// Detach and netavark's setup and teardown, in alternating order. With
// -publish each container also publishes one TCP port (a DNAT rule).
//
// Everything is removed at the end, also on failure or SIGINT/SIGTERM:
// namespaces (bind mounts under DIR/ns), both bridges, hutch's table, and
// the network's chains of netavark (by its teardown of the last container).
// Netavark 1.4 leaves its global chains (NETAVARK_FORWARD,
// NETAVARK-HOSTPORT-*) in place: bench/network.sh removes those that were
// not there before it ran. No packet is sent.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/network"
	"hutch.dev/hutch/network/bridge"
	"hutch.dev/hutch/network/netns"
)

var (
	work     = flag.String("work", "", "work directory (required; emptied)")
	rounds   = flag.Int("rounds", 30, "timed rounds")
	warmup   = flag.Int("warmup", 3, "untimed rounds first")
	publish  = flag.Bool("publish", false, "each container publishes one TCP port")
	hBridge  = flag.String("bridge", "hbnattach0", "hutch's bridge")
	hSubnet  = flag.String("subnet", "10.91.10.0/24", "hutch's subnet")
	hTable   = flag.String("table", "hutch-bench-attach", "hutch's nftables table (inet)")
	navark   = flag.String("netavark", "/usr/lib/podman/netavark", "netavark binary (\"\" skips it)")
	nvBridge = flag.String("nv-bridge", "hbnnvark0", "netavark's bridge")
	nvSubnet = flag.String("nv-subnet", "10.91.11.0/24", "netavark's subnet")
	jsonOut  = flag.String("json", "", "write the per-round times (ms) here")
)

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// env is everything made, for cleanup.
type env struct {
	m      *network.Manager
	nsDir  string
	hIDs   map[string]bool   // attached hutch containers
	nvUp   map[string]string // netavark: netns path -> its options file
	subnet netip.Prefix
	nvNet  netip.Prefix
	nvID   string
	nvNext netip.Addr
	nvPort int
	hPort  int
}

func main() {
	flag.Parse()
	if *work == "" {
		fmt.Fprintln(os.Stderr, "netattach: -work DIR is required")
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "netattach: run as root")
		os.Exit(1)
	}
	e := &env{hIDs: map[string]bool{}, nvUp: map[string]string{}, nvPort: 40000, hPort: 41000}
	err := e.run()
	e.cleanup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "netattach:", err)
		os.Exit(1)
	}
}

func (e *env) run() error {
	var err error
	if e.subnet, err = netip.ParsePrefix(*hSubnet); err != nil {
		return err
	}
	if e.nvNet, err = netip.ParsePrefix(*nvSubnet); err != nil {
		return err
	}
	e.nvNext = e.nvNet.Masked().Addr().Next().Next() // .1 is the gateway
	e.nvID = randHex(32)
	if err := os.RemoveAll(*work); err != nil {
		return err
	}
	e.nsDir = filepath.Join(*work, "ns")
	for _, d := range []string{e.nsDir, filepath.Join(*work, "root"), filepath.Join(*work, "run"), filepath.Join(*work, "netavark")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	e.m, err = network.Open(filepath.Join(*work, "root"), filepath.Join(*work, "run"),
		network.WithDefaultNetwork(*hBridge, e.subnet), network.WithFirewallTable(*hTable))
	if err != nil {
		return err
	}

	// SIGINT/SIGTERM: clean up, then go.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "netattach: %v: cleaning up\n", s)
		e.cleanup()
		os.Exit(1)
	}()

	// The first container on each side makes the bridge and the network's
	// rules; it stays attached.
	if _, err := e.hAttach("hwarm"); err != nil {
		return err
	}
	if *navark != "" {
		if _, err := e.nvSetup("nwarm"); err != nil {
			return err
		}
	}

	type sample struct{ HAttach, HDetach, NAttach, NDetach float64 }
	var samples []sample
	for i := range *warmup + *rounds {
		var s sample
		hutch := func() error {
			a, err := e.hAttach(fmt.Sprint("h", i))
			if err != nil {
				return err
			}
			d, err := e.hDetach()
			s.HAttach, s.HDetach = a, d
			return err
		}
		nv := func() error {
			if *navark == "" {
				return nil
			}
			a, err := e.nvSetup(fmt.Sprint("n", i))
			if err != nil {
				return err
			}
			d, err := e.nvTeardown(fmt.Sprint("n", i))
			s.NAttach, s.NDetach = a, d
			return err
		}
		first, second := hutch, nv
		if i%2 == 1 {
			first, second = nv, hutch
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		if i >= *warmup {
			samples = append(samples, s)
		}
	}

	col := func(f func(sample) float64) []float64 {
		var v []float64
		for _, s := range samples {
			v = append(v, f(s))
		}
		return v
	}
	ha := col(func(s sample) float64 { return s.HAttach })
	hd := col(func(s sample) float64 { return s.HDetach })
	hb := col(func(s sample) float64 { return s.HAttach + s.HDetach })
	na := col(func(s sample) float64 { return s.NAttach })
	nd := col(func(s sample) float64 { return s.NDetach })
	nb := col(func(s sample) float64 { return s.NAttach + s.NDetach })
	ports := "no published port"
	if *publish {
		ports = "one published TCP port"
	}
	fmt.Printf("attach/detach, %d rounds, %s (ms: mean ± sd, median, min)\n", *rounds, ports)
	line := func(what string, v []float64) {
		mean, sd := meanSD(v)
		fmt.Printf("  %-22s %7.2f ± %5.2f  %7.2f  %7.2f\n", what, mean, sd, median(v), minOf(v))
	}
	line("hutch Attach", ha)
	line("hutch Detach", hd)
	line("hutch both", hb)
	if *navark != "" {
		line("netavark setup", na)
		line("netavark teardown", nd)
		line("netavark both", nb)
		ma, _ := meanSD(ha)
		mna, _ := meanSD(na)
		mb, _ := meanSD(hb)
		mnb, _ := meanSD(nb)
		fmt.Printf("RATIO attach %.3f both %.3f (hutch/netavark, means)\n", ma/mna, mb/mnb)
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(samples, "", " ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func (e *env) newNS(name string) (string, error) {
	p := filepath.Join(e.nsDir, name)
	return p, netns.New(p)
}

var lastHutch string

// hAttach makes a namespace and times the Attach of it.
func (e *env) hAttach(name string) (float64, error) {
	p, err := e.newNS(name)
	if err != nil {
		return 0, err
	}
	req := network.AttachRequest{ContainerID: randHex(32), ContainerName: "bench-" + name, NetnsPath: p}
	if *publish {
		e.hPort++
		req.Ports = []network.PortMapping{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: uint16(e.hPort), ContainerPort: 80, Protocol: "tcp"}}
	}
	t := time.Now()
	_, err = e.m.Attach(context.Background(), req)
	d := time.Since(t)
	if err != nil {
		netns.Remove(p)
		return 0, fmt.Errorf("hutch attach: %w", err)
	}
	e.hIDs[req.ContainerID] = true
	lastHutch = req.ContainerID + " " + p
	return ms(d), nil
}

// hDetach times the Detach of the last container attached, then removes
// its namespace.
func (e *env) hDetach() (float64, error) {
	var id, p string
	fmt.Sscan(lastHutch, &id, &p)
	t := time.Now()
	err := e.m.Detach(context.Background(), id)
	d := time.Since(t)
	if err != nil {
		return 0, fmt.Errorf("hutch detach: %w", err)
	}
	delete(e.hIDs, id)
	return ms(d), netns.Remove(p)
}

// nvOptions writes netavark's input for a container: what Podman 4.3 hands
// it (the network's record, the container's address from Podman's IPAM,
// no DNS).
func (e *env) nvOptions(name string) (string, error) {
	ip := e.nvNext
	e.nvNext = e.nvNext.Next()
	id := randHex(32)
	opts := map[string]any{
		"container_id":   id,
		"container_name": "bench-" + name,
		"networks": map[string]any{
			"hbench": map[string]any{
				"static_ips":     []string{ip.String()},
				"aliases":        []string{id[:12]},
				"interface_name": "eth0",
			},
		},
		"network_info": map[string]any{
			"hbench": map[string]any{
				"name":              "hbench",
				"id":                e.nvID,
				"driver":            "bridge",
				"network_interface": *nvBridge,
				"created":           "2026-01-01T00:00:00Z",
				"subnets":           []map[string]string{{"subnet": e.nvNet.Masked().String(), "gateway": e.nvNet.Masked().Addr().Next().String()}},
				"ipv6_enabled":      false,
				"internal":          false,
				"dns_enabled":       false,
				"ipam_options":      map[string]string{"driver": "host-local"},
			},
		},
	}
	if *publish {
		e.nvPort++
		opts["port_mappings"] = []map[string]any{{"host_ip": "127.0.0.1", "container_port": 80, "host_port": e.nvPort, "range": 1, "protocol": "tcp"}}
	}
	b, err := json.Marshal(opts)
	if err != nil {
		return "", err
	}
	f := filepath.Join(*work, "netavark", name+".json")
	return f, os.WriteFile(f, b, 0o600)
}

func (e *env) netavark(cmd, nsPath, opts string) (float64, error) {
	c := exec.Command(*navark, "--config", filepath.Join(*work, "netavark"), "--file", opts, cmd, nsPath)
	c.Stdout, c.Stderr = nil, nil
	t := time.Now()
	out, err := c.CombinedOutput()
	d := time.Since(t)
	if err != nil {
		return 0, fmt.Errorf("netavark %s %s: %v: %s", cmd, nsPath, err, out)
	}
	return ms(d), nil
}

func (e *env) nvSetup(name string) (float64, error) {
	p, err := e.newNS(name)
	if err != nil {
		return 0, err
	}
	opts, err := e.nvOptions(name)
	if err != nil {
		return 0, err
	}
	e.nvUp[p] = opts
	return e.netavark("setup", p, opts)
}

func (e *env) nvTeardown(name string) (float64, error) {
	p := filepath.Join(e.nsDir, name)
	d, err := e.netavark("teardown", p, e.nvUp[p])
	if err != nil {
		return 0, err
	}
	delete(e.nvUp, p)
	return d, netns.Remove(p)
}

// cleanup undoes everything, by name; safe to call twice.
func (e *env) cleanup() {
	ctx := context.Background()
	if e.m != nil {
		for id := range e.hIDs {
			e.m.Detach(ctx, id)
		}
		e.hIDs = map[string]bool{}
	}
	// The warm netavark container goes last: its teardown removes the
	// network's chains.
	var warm string
	for p := range e.nvUp {
		if filepath.Base(p) == "nwarm" {
			warm = p
			continue
		}
		e.netavark("teardown", p, e.nvUp[p])
	}
	if warm != "" {
		e.netavark("teardown", warm, e.nvUp[warm])
	}
	e.nvUp = map[string]string{}
	if e.nsDir != "" {
		if ents, err := os.ReadDir(e.nsDir); err == nil {
			for _, ent := range ents {
				netns.Remove(filepath.Join(e.nsDir, ent.Name()))
			}
		}
		for unix.Unmount(e.nsDir, unix.MNT_DETACH) == nil {
		}
	}
	bridge.Delete(*hBridge)
	bridge.Delete(*nvBridge)
	if e.m != nil {
		if err := e.m.Firewall().Delete(); err != nil {
			fmt.Fprintln(os.Stderr, "netattach: nftables table:", err)
		}
	}
}

func meanSD(v []float64) (float64, float64) {
	if len(v) == 0 {
		return 0, 0
	}
	var s float64
	for _, x := range v {
		s += x
	}
	m := s / float64(len(v))
	var q float64
	for _, x := range v {
		q += (x - m) * (x - m)
	}
	if len(v) < 2 {
		return m, 0
	}
	return m, math.Sqrt(q / float64(len(v)-1))
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	m := v[0]
	for _, x := range v[1:] {
		m = math.Min(m, x)
	}
	return m
}
