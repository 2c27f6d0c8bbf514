package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/network/nat"
	"hutch.dev/hutch/network/netns"
)

func TestAttachTwoContainersReachEachOther(t *testing.T) {
	e := newEnv(t)
	a, nsA := e.container("a", AttachRequest{})
	b, nsB := e.container("b", AttachRequest{})

	gw := e.subnet.Addr().Next()
	if a.Interface != "eth0" || a.Network != DefaultNetwork || a.Bridge != e.bridge || a.Gateway != gw ||
		!e.subnet.Contains(a.IPv4.Addr()) || a.IPv4.Bits() != 24 || a.IPv4 == b.IPv4 || a.MAC == "" ||
		!strings.HasPrefix(a.HostInterface, vethPrefix(a.ContainerID)) {
		t.Fatalf("attachment: %+v", a)
	}

	// Inside: eth0 with the address and MAC reported, a default route
	// through the gateway, the bridge's MTU.
	brLink, err := netlink.LinkByName(e.bridge)
	if err != nil {
		t.Fatal(err)
	}
	err = netns.Do(nsA, func() error {
		l, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		if l.Attrs().HardwareAddr.String() != a.MAC || l.Attrs().MTU != brLink.Attrs().MTU || l.Attrs().OperState != netlink.OperUp {
			return fmt.Errorf("eth0: mac %s mtu %d state %s; want %s, %d, up", l.Attrs().HardwareAddr, l.Attrs().MTU, l.Attrs().OperState, a.MAC, brLink.Attrs().MTU)
		}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil || len(addrs) != 1 || addrs[0].IPNet.String() != a.IPv4.String() {
			return fmt.Errorf("eth0 addresses %v (%v), want %s", addrs, err, a.IPv4)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := hasDefaultRoute(routesIn(t, nsA)); !ok || got != gw {
		t.Fatalf("default route in a: %v %v, want via %s", got, ok, gw)
	}

	// Both ways, by address.
	portB := echoTCP(t, nsB, ":0")
	got, err := talkTCP(nsA, net.JoinHostPort(b.IPv4.Addr().String(), fmt.Sprint(portB)), "a->b", 5*time.Second)
	wantEcho(t, "a to b", got, err, "a->b")
	if !strings.Contains(got, a.IPv4.Addr().String()) {
		t.Errorf("b saw %q, want a's own address (no NAT on the bridge)", got)
	}
	portA := echoTCP(t, nsA, ":0")
	got, err = talkTCP(nsB, net.JoinHostPort(a.IPv4.Addr().String(), fmt.Sprint(portA)), "b->a", 5*time.Second)
	wantEcho(t, "b to a", got, err, "b->a")
	// The host reaches a container's address through the bridge.
	got, err = talkTCP("", net.JoinHostPort(a.IPv4.Addr().String(), fmt.Sprint(portA)), "host->a", 5*time.Second)
	wantEcho(t, "host to a", got, err, "host->a")

	for _, id := range []string{a.ContainerID, b.ContainerID} {
		if err := e.m.Detach(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	if left := linksWithPrefix(t, vethPrefix(a.ContainerID)); len(left) > 0 {
		t.Fatalf("veths left: %v", left)
	}
	// The bridge stays for the next container.
	if _, err := netlink.LinkByName(e.bridge); err != nil {
		t.Fatalf("bridge gone with its last container: %v", err)
	}
}

func TestPublishedPorts(t *testing.T) {
	e := newEnv(t)
	udpHost := freeUDPPort(t)
	a, nsA := e.container("web", AttachRequest{Ports: []PortMapping{
		{ContainerPort: 8080, Protocol: "tcp"}, // random host port
		{HostPort: udpHost, ContainerPort: 5353, Protocol: "udp"},
	}})
	echoTCP(t, nsA, ":8080")
	echoUDP(t, nsA, ":5353")
	if len(a.Ports) != 2 || a.Ports[0].HostPort == 0 || a.Ports[1].HostPort != udpHost {
		t.Fatalf("ports: %+v", a.Ports)
	}
	tcpHost := a.Ports[0].HostPort
	gw := e.subnet.Addr().Next().String()

	for _, host := range []string{"127.0.0.1", gw} {
		got, err := talkTCP("", net.JoinHostPort(host, fmt.Sprint(tcpHost)), "tcp via "+host, 5*time.Second)
		wantEcho(t, "tcp from the host to "+host, got, err, "tcp via "+host)
		got, err = talkUDP("", net.JoinHostPort(host, fmt.Sprint(udpHost)), "udp via "+host)
		wantEcho(t, "udp from the host to "+host, got, err, "udp via "+host)
	}
	// From another container, and from the container itself (hairpin),
	// through the gateway's address.
	_, nsB := e.container("client", AttachRequest{})
	got, err := talkTCP(nsB, net.JoinHostPort(gw, fmt.Sprint(tcpHost)), "b via gw", 5*time.Second)
	wantEcho(t, "tcp from another container", got, err, "b via gw")
	got, err = talkTCP(nsA, net.JoinHostPort(gw, fmt.Sprint(tcpHost)), "hairpin", 5*time.Second)
	wantEcho(t, "tcp from the container to itself", got, err, "hairpin")

	// The rules, and what Detach leaves of them.
	tag := nat.ContainerTag(a.ContainerID, e.bridge)
	if n, err := e.m.Firewall().Count(tag); err != nil || n != 2 {
		t.Fatalf("%d rules tagged %q (%v), want 2", n, tag, err)
	}
	if err := e.m.Detach(context.Background(), a.ContainerID); err != nil {
		t.Fatal(err)
	}
	if n, err := e.m.Firewall().Count(tag); err != nil || n != 0 {
		t.Fatalf("%d rules left after Detach (%v)", n, err)
	}
	if left := linksWithPrefix(t, vethPrefix(a.ContainerID)); len(left) > 0 {
		t.Fatalf("veths left: %v", left)
	}
	if atts, _ := e.m.Attachments(a.ContainerID); len(atts) != 0 {
		t.Fatalf("lease left: %+v", atts)
	}
	if _, err := talkTCP("", net.JoinHostPort("127.0.0.1", fmt.Sprint(tcpHost)), "x", time.Second); err == nil {
		t.Fatal("the port still answers after Detach")
	}
	if err := e.m.Detach(context.Background(), a.ContainerID); err != nil {
		t.Fatalf("second Detach: %v", err)
	}
}

func freeUDPPort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

func TestPortConflicts(t *testing.T) {
	e := newEnv(t)
	a, _ := e.container("holder", AttachRequest{Ports: []PortMapping{{ContainerPort: 80}}})
	taken := a.Ports[0].HostPort

	id := randHex(32)
	req := AttachRequest{ContainerID: id, ContainerName: "late", NetnsPath: e.netns("late"),
		Ports: []PortMapping{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: taken, ContainerPort: 81}}}
	_, err := e.m.Attach(context.Background(), req)
	want := fmt.Sprintf(`port 127.0.0.1:%d->81/tcp: host port %d/tcp is already published by container "holder"`, taken, taken)
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
	// Nothing was made for the refused container.
	if atts, _ := e.m.Attachments(id); len(atts) != 0 {
		t.Fatalf("refused container has a lease: %+v", atts)
	}
	if left := linksWithPrefix(t, vethPrefix(id)); len(left) > 0 {
		t.Fatalf("refused container has veths: %v", left)
	}

	// A port that a process of the host listens on.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := uint16(l.Addr().(*net.TCPAddr).Port)
	req.Ports = []PortMapping{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: busy, ContainerPort: 81}}
	if _, err := e.m.Attach(context.Background(), req); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "in use on the host") {
		t.Fatalf("host port in use: %v", err)
	}
	// The same container number over UDP is fine.
	req.Ports = []PortMapping{{HostPort: taken, ContainerPort: 81, Protocol: "udp"}}
	if _, err := e.m.Attach(context.Background(), req); err != nil {
		t.Fatalf("udp on a tcp port's number: %v", err)
	}
}

func TestAttachFailureUndoes(t *testing.T) {
	e := newEnv(t)
	ns := e.netns("broken")
	// An eth0 already inside makes the veth's creation fail after IPAM,
	// the record and the bridge are done.
	err := netns.Do(ns, func() error {
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "squatter"})
	})
	if err != nil {
		t.Fatal(err)
	}
	id := randHex(32)
	ports := []PortMapping{{HostPort: freeUDPPort(t), ContainerPort: 53, Protocol: "udp"}}
	_, err = e.m.Attach(context.Background(), AttachRequest{ContainerID: id, NetnsPath: ns, Ports: ports})
	if err == nil {
		t.Fatal("attach over an existing eth0 succeeded")
	}
	if !strings.Contains(err.Error(), "container "+id) {
		t.Errorf("error does not name the container: %v", err)
	}
	if atts, _ := e.m.Attachments(id); len(atts) != 0 {
		t.Fatalf("lease left: %+v", atts)
	}
	if left := linksWithPrefix(t, vethPrefix(id)); len(left) > 0 {
		t.Fatalf("veth left: %v", left)
	}
	if n, _ := e.m.Firewall().Count(nat.ContainerTag(id, e.bridge)); n != 0 {
		t.Fatalf("%d port rules left", n)
	}
	// The port was not kept either.
	if _, ns2 := e.container("next", AttachRequest{Ports: ports}); ns2 == "" {
		t.Fatal("unreachable")
	}

	// A cancelled context stops Attach before it starts.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.m.Attach(ctx, AttachRequest{ContainerID: randHex(32), NetnsPath: e.netns("cancelled")}); err == nil {
		t.Fatal("attach with a cancelled context succeeded")
	}
	if _, err := e.m.Attach(context.Background(), AttachRequest{ContainerID: id, NetnsPath: "/nonexistent"}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("attach to a missing netns: %v", err)
	}
}

func TestDetachAfterNamespaceGone(t *testing.T) {
	e := newEnv(t)
	a, ns := e.container("gone", AttachRequest{Ports: []PortMapping{{ContainerPort: 80}}})
	if err := netns.Remove(ns); err != nil {
		t.Fatal(err)
	}
	// A fresh Manager, as after a crash: only the records are left.
	m2, err := Open(e.root, e.run, e.options()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Detach(context.Background(), a.ContainerID); err != nil {
		t.Fatal(err)
	}
	if n, _ := m2.Firewall().Count(nat.ContainerTag(a.ContainerID, e.bridge)); n != 0 {
		t.Fatalf("%d port rules left", n)
	}
	if atts, _ := m2.Attachments(a.ContainerID); len(atts) != 0 {
		t.Fatalf("lease left: %+v", atts)
	}
	if err := m2.Detach(context.Background(), a.ContainerID); err != nil {
		t.Fatalf("second Detach: %v", err)
	}
	if err := m2.Disconnect(context.Background(), a.ContainerID, DefaultNetwork); !errdefs.IsNotFound(err) {
		t.Fatalf("disconnect of a detached container: %v", err)
	}
}

func TestRequestedAddressAndMAC(t *testing.T) {
	e := newEnv(t)
	ip := e.subnet.Addr().Next().Next().Next().Next() // .4
	mac, _ := net.ParseMAC("02:42:0a:59:00:04")
	a, ns := e.container("fixed", AttachRequest{IP: ip, MAC: mac, InterfaceName: "net0"})
	if a.IPv4.Addr() != ip || a.MAC != mac.String() || a.Interface != "net0" {
		t.Fatalf("attachment: %+v", a)
	}
	err := netns.Do(ns, func() error {
		l, err := netlink.LinkByName("net0")
		if err != nil {
			return err
		}
		if l.Attrs().HardwareAddr.String() != mac.String() {
			return fmt.Errorf("net0 has MAC %s", l.Attrs().HardwareAddr)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.m.Attach(context.Background(), AttachRequest{ContainerID: randHex(32), NetnsPath: e.netns("clash"), IP: ip})
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), fmt.Sprintf(`address %s is already in use by container "fixed"`, ip)) {
		t.Fatalf("second container on the same address: %v", err)
	}
	_, err = e.m.Attach(context.Background(), AttachRequest{ContainerID: a.ContainerID, NetnsPath: ns})
	if !errdefs.IsAlreadyExists(err) {
		t.Fatalf("attaching twice: %v", err)
	}
}

func TestConnectSecondNetwork(t *testing.T) {
	e := newEnv(t)
	other, err := e.m.Create(CreateOptions{Name: "other-" + e.suffix, Subnet: freeSubnet(t)})
	if err != nil {
		t.Fatal(err)
	}
	a, ns := e.container("multi", AttachRequest{})
	b, err := e.m.Attach(context.Background(), AttachRequest{ContainerID: a.ContainerID, ContainerName: "multi", NetnsPath: ns, Network: other.Name})
	if err != nil {
		t.Fatal(err)
	}
	if b.Interface != "eth1" || b.HostInterface == a.HostInterface || b.Bridge != other.Bridge {
		t.Fatalf("second attachment: %+v (first %+v)", b, a)
	}
	atts, err := e.m.Attachments(a.ContainerID)
	if err != nil || len(atts) != 2 {
		t.Fatalf("attachments: %v %v", atts, err)
	}
	if err := e.m.Remove(other.Name); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), `is in use by container "multi"`) {
		t.Fatalf("remove of a network in use: %v", err)
	}
	if err := e.m.Disconnect(context.Background(), a.ContainerID, other.Name); err != nil {
		t.Fatal(err)
	}
	if atts, _ := e.m.Attachments(a.ContainerID); len(atts) != 1 || atts[0].Network != DefaultNetwork {
		t.Fatalf("after disconnect: %+v", atts)
	}
	if _, err := netlink.LinkByName(b.HostInterface); err == nil {
		t.Fatalf("veth %s left after disconnect", b.HostInterface)
	}
	// Now unused: removing it takes its bridge and rules.
	if err := e.m.Remove(other.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(other.Bridge); err == nil {
		t.Fatalf("bridge %s left after network rm", other.Bridge)
	}
	if n, _ := e.m.Firewall().Count(nat.NetworkTag(other.Bridge)); n != 0 {
		t.Fatalf("%d network rules left after network rm", n)
	}
}
