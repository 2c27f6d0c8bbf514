package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/network/netns"
)

// outside is a namespace of the test's that stands in for the world beyond
// the host: a veth from the host to it, an address on each end, and a
// default route back to the host.
type outside struct {
	ns       string
	hostAddr netip.Prefix // the host's end
	addr     netip.Addr   // the outside's
	port     uint16       // an echo server listening there
}

func (e *testEnv) outside() *outside {
	t := e.t
	subnet := freeSubnet(t)
	o := &outside{ns: e.netns("outside")}
	o.hostAddr = netip.PrefixFrom(subnet.Addr().Next(), 24)
	o.addr = o.hostAddr.Addr().Next()
	hostEnd := "hbo" + e.suffix
	nsFile, err := netlinkNsFd(o.ns)
	if err != nil {
		t.Fatal(err)
	}
	defer nsFile.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: hostEnd}, PeerName: "eth0", PeerNamespace: netlink.NsFd(nsFile.Fd())}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(hostEnd); err == nil {
			netlink.LinkDel(l)
		}
	})
	l, err := netlink.LinkByName(hostEnd)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: prefixNet(o.hostAddr)}); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	err = netns.Do(o.ns, func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(o.addr, 24))}); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.IP(o.hostAddr.Addr().AsSlice())})
	})
	if err != nil {
		t.Fatal(err)
	}
	o.port = echoTCP(t, o.ns, ":0")
	return o
}

func (o *outside) target() string { return net.JoinHostPort(o.addr.String(), fmt.Sprint(o.port)) }

func TestInternalNetworkHasNoWayOut(t *testing.T) {
	e := newEnv(t)
	out := e.outside()
	internal, err := e.m.Create(CreateOptions{Name: "int-" + e.suffix, Subnet: freeSubnet(t), Internal: true})
	if err != nil {
		t.Fatal(err)
	}
	gw := internal.Subnets[0].Gateway

	if _, err := e.m.Attach(context.Background(), AttachRequest{ContainerID: randHex(32), NetnsPath: e.netns("pub"), Network: internal.Name,
		Ports: []PortMapping{{ContainerPort: 80}}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("ports on an internal network: %v", err)
	}
	a, nsA := e.container("ia", AttachRequest{Network: internal.Name})
	b, nsB := e.container("ib", AttachRequest{Network: internal.Name})
	if a.Gateway.IsValid() {
		t.Errorf("attachment reports a gateway on an internal network: %+v", a)
	}
	if _, ok := hasDefaultRoute(routesIn(t, nsA)); ok {
		t.Fatalf("default route on an internal network: %v", routesIn(t, nsA))
	}
	// The containers of the network reach each other.
	port := echoTCP(t, nsB, ":0")
	got, err := talkTCP(nsA, net.JoinHostPort(b.IPv4.Addr().String(), fmt.Sprint(port)), "inside", 5*time.Second)
	wantEcho(t, "between internal containers", got, err, "inside")

	// No route out.
	_, err = talkTCP(nsA, out.target(), "out", time.Second)
	if !errors.Is(err, syscall.ENETUNREACH) {
		t.Fatalf("internal container to outside: %v, want network unreachable", err)
	}
	// And with a route added by hand inside, the host does not forward.
	err = netns.Do(nsA, func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: net.IP(gw.AsSlice())})
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := talkTCP(nsA, out.target(), "out", time.Second); err == nil {
		t.Fatalf("internal container reached the outside: %q", got)
	}
	// Nor does it forward from the outside in.
	if got, err := talkTCP(out.ns, net.JoinHostPort(b.IPv4.Addr().String(), fmt.Sprint(port)), "in", time.Second); err == nil {
		t.Fatalf("outside reached an internal container: %q", got)
	}
}

func TestBridgeNetworkMasqueradesAndIsolates(t *testing.T) {
	e := newEnv(t)
	out := e.outside()
	a, nsA := e.container("ea", AttachRequest{Ports: []PortMapping{{ContainerPort: 9000}}})
	// Out, masqueraded: the outside sees the host's address.
	got, err := talkTCP(nsA, out.target(), "out", 5*time.Second)
	wantEcho(t, "container to outside", got, err, "out")
	if !strings.Contains(got, out.hostAddr.Addr().String()+":") {
		t.Fatalf("outside saw %q, want the host's address %s (masquerade)", got, out.hostAddr.Addr())
	}
	// In, to a published port on the host's address: DNAT.
	echoTCP(t, nsA, ":9000")
	hostPort := a.Ports[0].HostPort
	got, err = talkTCP(out.ns, net.JoinHostPort(out.hostAddr.Addr().String(), fmt.Sprint(hostPort)), "in", 5*time.Second)
	wantEcho(t, "outside to a published port", got, err, "in")
	// But not straight to the container's address and an unpublished port.
	if got, err := talkTCP(out.ns, net.JoinHostPort(a.IPv4.Addr().String(), "9000"), "direct", time.Second); err == nil {
		t.Fatalf("outside reached an unpublished path into the container: %q", got)
	}
}

func TestDualStack(t *testing.T) {
	e := newEnv(t)
	s4 := freeSubnet(t)
	s6 := netip.MustParsePrefix(fmt.Sprintf("fd89:%x::/64", s4.Addr().As4()[2]))
	n, err := e.m.Create(CreateOptions{Name: "ds-" + e.suffix, Subnet: s4, IPv6Subnet: s6})
	if err != nil {
		t.Fatal(err)
	}
	a, nsA := e.container("6a", AttachRequest{Network: n.Name})
	b, nsB := e.container("6b", AttachRequest{Network: n.Name})
	if !s6.Contains(a.IPv6.Addr()) || a.IPv6Gateway != s6.Addr().Next() || a.IPv6 == b.IPv6 {
		t.Fatalf("IPv6 attachment: %+v", a)
	}
	port := echoTCP(t, nsB, "[::]:0")
	got, err := talkTCP(nsA, net.JoinHostPort(b.IPv6.Addr().String(), fmt.Sprint(port)), "v6", 5*time.Second)
	wantEcho(t, "IPv6 between containers", got, err, "v6")
	got, err = talkTCP(nsA, net.JoinHostPort(b.IPv4.Addr().String(), fmt.Sprint(port)), "v4", 5*time.Second)
	wantEcho(t, "IPv4 on a dual-stack network", got, err, "v4")
}

// TestHostLoopbackClosedToContainers checks the guard that goes with
// route_localnet on the bridge (CVE-2020-8558): a container whose root
// routes 127.0.0.0/8 to the gateway must not reach the host's services
// that listen on 127.0.0.1 only.
func TestHostLoopbackClosedToContainers(t *testing.T) {
	e := newEnv(t)
	a, nsA := e.container("sneaky", AttachRequest{})
	// A datagram is enough to show the hole: the container's kernel drops
	// the host's replies from 127.0.0.1, so a TCP handshake would fail
	// even without the guard, but one-way packets get through.
	host, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	port := host.LocalAddr().(*net.UDPAddr).Port
	err = netns.Do(nsA, func() error {
		// What a container's root can do in its own namespace: let eth0
		// carry loopback addresses, drop the local routes of 127/8 and
		// route 127/8 to the gateway instead.
		if err := writeFile("/proc/sys/net/ipv4/conf/eth0/route_localnet", "1"); err != nil {
			return err
		}
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		for _, dst := range []string{"127.0.0.0/8", "127.0.0.1/32"} {
			err := netlink.RouteDel(&netlink.Route{LinkIndex: lo.Attrs().Index, Table: unix.RT_TABLE_LOCAL, Type: unix.RTN_LOCAL,
				Dst: prefixNet(netip.MustParsePrefix(dst)), Scope: netlink.SCOPE_HOST})
			if err != nil {
				return fmt.Errorf("delete local route %s: %w", dst, err)
			}
		}
		eth0, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		return netlink.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Dst: prefixNet(netip.MustParsePrefix("127.0.0.0/8")),
			Gw: net.IP(a.Gateway.AsSlice())})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = netns.Do(nsA, func() error {
		c, err := net.Dial("udp4", net.JoinHostPort("127.0.0.1", fmt.Sprint(port)))
		if err != nil {
			return err
		}
		defer c.Close()
		for range 3 {
			c.Write([]byte("steal"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	host.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 64)
	if n, from, err := host.ReadFrom(buf); err == nil {
		t.Fatalf("a container reached the host's 127.0.0.1:%d: %q from %s", port, buf[:n], from)
	}
}
