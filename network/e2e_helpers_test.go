package network

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/network/bridge"
	"hutch.dev/hutch/network/netns"
)

// The end-to-end tests make real bridges, veths, namespaces and nftables
// rules, all named with a random suffix of their own and removed by name at
// the end, failed or not. Traffic goes only between namespaces the test
// made, and from the host to 127.0.0.1 and to the test bridge's address.

type testEnv struct {
	t      testing.TB
	m      *Manager
	suffix string
	root   string
	run    string
	nsDir  string
	// The default network's bridge and subnet, the test's own.
	bridge string
	subnet netip.Prefix
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

var (
	subnetsMu   sync.Mutex
	subnetsUsed = map[netip.Prefix]bool{}
)

// freeSubnet picks a /24 in 10.89.128.0/17 that no host route and no other
// test of this process uses.
func freeSubnet(t testing.TB) netip.Prefix {
	t.Helper()
	subnetsMu.Lock()
	defer subnetsMu.Unlock()
	routes, err := bridge.HostRoutes()
	if err != nil {
		t.Fatal(err)
	}
	for range 500 {
		n, _ := rand.Int(rand.Reader, big.NewInt(127))
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 89, byte(128 + n.Int64()), 0}), 24)
		free := !subnetsUsed[p]
		for _, r := range routes {
			free = free && !r.Dst.Overlaps(p)
		}
		if free {
			subnetsUsed[p] = true
			return p
		}
	}
	t.Fatal("no free test subnet in 10.89.128.0/17")
	return netip.Prefix{}
}

func newEnv(t *testing.T) *testEnv { return newEnvTB(t) }

func newEnvB(b *testing.B) *testEnv { return newEnvTB(b) }

func (e *testEnv) netnsB(b *testing.B, name string) string { return e.netns(name) }

func newEnvTB(t testing.TB) *testEnv {
	t.Helper()
	requireRoot(t)
	e := &testEnv{t: t, suffix: randHex(3), root: t.TempDir(), run: t.TempDir()}
	e.nsDir = filepath.Join(e.run, "netns")
	e.bridge = "hbt" + e.suffix
	e.subnet = freeSubnet(t)
	m, err := Open(e.root, e.run, e.options()...)
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	t.Cleanup(e.cleanup)
	return e
}

func (e *testEnv) options() []Option {
	return []Option{
		WithDefaultNetwork(e.bridge, e.subnet),
		WithFirewallTable("hutch-test-" + e.suffix),
	}
}

// cleanup removes what this test made, by name: its namespaces, the
// bridges of its networks, its nftables table, and the mount of its netns
// directory.
func (e *testEnv) cleanup() {
	if ents, err := os.ReadDir(e.nsDir); err == nil {
		for _, ent := range ents {
			netns.Remove(filepath.Join(e.nsDir, ent.Name()))
		}
	}
	if nets, err := e.m.List(); err == nil {
		for _, n := range nets {
			bridge.Delete(n.Bridge)
		}
	}
	bridge.Delete(e.bridge)
	if err := e.m.Firewall().Delete(); err != nil {
		e.t.Error(err)
	}
	for unix.Unmount(e.nsDir, unix.MNT_DETACH) == nil {
	}
}

// netns creates a namespace of the test's.
func (e *testEnv) netns(name string) string {
	e.t.Helper()
	p := filepath.Join(e.nsDir, name+"-"+e.suffix)
	if err := netns.New(p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// container makes a namespace and attaches it.
func (e *testEnv) container(name string, req AttachRequest) (*Attachment, string) {
	e.t.Helper()
	req.NetnsPath = e.netns(name)
	if req.ContainerID == "" {
		req.ContainerID = randHex(32)
	}
	req.ContainerName = name
	att, err := e.m.Attach(context.Background(), req)
	if err != nil {
		e.t.Fatalf("attach %s: %v", name, err)
	}
	return att, req.NetnsPath
}

// echoTCP serves an echo on a TCP listener made inside ns ("" for the
// host), and returns its port.
func echoTCP(t testing.TB, ns, addr string) uint16 {
	t.Helper()
	var l net.Listener
	listen := func() (err error) { l, err = net.Listen("tcp", addr); return err }
	if err := inNS(ns, listen); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				// Echo, then the peer's address, so tests see the
				// masquerade.
				b, _ := io.ReadAll(c)
				fmt.Fprintf(c, "%s from %s", b, c.RemoteAddr())
			}()
		}
	}()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// echoUDP serves a datagram echo inside ns.
func echoUDP(t testing.TB, ns, addr string) uint16 {
	t.Helper()
	var c net.PacketConn
	listen := func() (err error) { c, err = net.ListenPacket("udp", addr); return err }
	if err := inNS(ns, listen); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			c.WriteTo([]byte(fmt.Sprintf("%s from %s", buf[:n], from)), from)
		}
	}()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

func inNS(ns string, fn func() error) error {
	if ns == "" {
		return fn()
	}
	return netns.Do(ns, fn)
}

// talkTCP connects from inside ns ("" for the host) to addr, sends msg and
// returns the answer.
func talkTCP(ns, addr, msg string, timeout time.Duration) (string, error) {
	var c net.Conn
	err := inNS(ns, func() (err error) { c, err = net.DialTimeout("tcp", addr, timeout); return err })
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, msg); err != nil {
		return "", err
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	return string(b), err
}

// talkUDP sends msg to addr from inside ns and returns the answer.
func talkUDP(ns, addr, msg string) (string, error) {
	var c net.Conn
	if err := inNS(ns, func() (err error) { c, err = net.Dial("udp", addr); return err }); err != nil {
		return "", err
	}
	defer c.Close()
	buf := make([]byte, 1500)
	// A datagram may be lost while the neighbour entry resolves: retry.
	for range 10 {
		c.SetDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := io.WriteString(c, msg); err != nil {
			return "", err
		}
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n]), nil
		}
	}
	return "", fmt.Errorf("udp %s: no answer", addr)
}

func wantEcho(t *testing.T, what, got string, err error, msg string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !strings.HasPrefix(got, msg+" from ") {
		t.Fatalf("%s: got %q, want the echo of %q", what, got, msg)
	}
}

// linksWithPrefix lists the host's interfaces whose name starts with p.
func linksWithPrefix(t testing.TB, p string) []string {
	t.Helper()
	links, err := netlink.LinkList()
	for i := 0; errors.Is(err, netlink.ErrDumpInterrupted) && i < 10; i++ {
		links, err = netlink.LinkList()
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range links {
		if strings.HasPrefix(l.Attrs().Name, p) {
			names = append(names, l.Attrs().Name)
		}
	}
	return names
}

// routesIn lists the IPv4 routes inside ns.
func routesIn(t testing.TB, ns string) []netlink.Route {
	t.Helper()
	var routes []netlink.Route
	err := netns.Do(ns, func() (err error) { routes, err = netlink.RouteList(nil, netlink.FAMILY_V4); return err })
	for i := 0; errors.Is(err, netlink.ErrDumpInterrupted) && i < 10; i++ {
		err = netns.Do(ns, func() (err error) { routes, err = netlink.RouteList(nil, netlink.FAMILY_V4); return err })
	}
	if err != nil {
		t.Fatal(err)
	}
	return routes
}

func hasDefaultRoute(routes []netlink.Route) (netip.Addr, bool) {
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			gw, _ := netip.AddrFromSlice(r.Gw)
			return gw.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

func vethPrefix(id string) string { return "hv" + id[:11] }

// grep is bytes.Contains for strings of output.
func grep(out []byte, s string) bool { return bytes.Contains(out, []byte(s)) }

func netlinkNsFd(path string) (*os.File, error) { return os.Open(path) }

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func writeFile(path, value string) error { return os.WriteFile(path, []byte(value), 0o644) }

func newNetns(path string) error { return netns.New(path) }
