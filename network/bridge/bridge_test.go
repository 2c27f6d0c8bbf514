package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/network/netns"
)

// These tests make bridges and veths named hbb<random> and namespaces in a
// temporary directory, and remove them by name at the end.

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func testName(t *testing.T, prefix string) string {
	b := make([]byte, 3)
	rand.Read(b)
	name := prefix + hex.EncodeToString(b)
	t.Cleanup(func() { Delete(name) })
	return name
}

func testNetns(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "netns")
	p := filepath.Join(dir, "ns")
	if err := netns.New(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		netns.Remove(p)
		for unix.Unmount(dir, unix.MNT_DETACH) == nil {
		}
	})
	return p
}

var (
	gw4 = netip.MustParsePrefix("10.89.127.1/24")
	gw6 = netip.MustParsePrefix("fd89:127::1/64")
)

func TestEnsure(t *testing.T) {
	requireRoot(t)
	name := testName(t, "hbb")
	cfg := Config{Name: name, MTU: 1400, Addrs: []netip.Prefix{gw4, gw6}}
	for range 2 {
		mtu, err := Ensure(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if mtu != 1400 {
			t.Fatalf("mtu %d, want 1400", mtu)
		}
	}
	link, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if link.Type() != "bridge" || link.Attrs().Flags&unix.IFF_UP == 0 {
		t.Fatalf("%s: type %s flags %v", name, link.Type(), link.Attrs().Flags)
	}
	addrs, _ := netlink.AddrList(link, netlink.FAMILY_ALL)
	var got []string
	for _, a := range addrs {
		if !a.IP.IsLinkLocalUnicast() {
			got = append(got, a.IPNet.String())
		}
	}
	if strings.Join(got, " ") != "10.89.127.1/24 fd89:127::1/64" {
		t.Fatalf("addresses %v", got)
	}
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/conf/" + name + "/route_localnet"); strings.TrimSpace(string(b)) != "1" {
		t.Fatalf("route_localnet %q", b)
	}

	// The MAC set at creation stays when a port with a lower MAC joins.
	mac := link.Attrs().HardwareAddr.String()
	ns := testNetns(t)
	host := testName(t, "hbv")
	low := RandomMAC()
	low[0], low[1] = 0x02, 0x00
	if err := AddVeth(Veth{HostName: host, Bridge: name, Netns: ns, Name: "eth0", MAC: low, MTU: 1400,
		Addrs: []netip.Prefix{netip.MustParsePrefix("10.89.127.2/24")}, Gateways: []netip.Addr{gw4.Addr()}}); err != nil {
		t.Fatal(err)
	}
	hl, err := netlink.LinkByName(host)
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetHardwareAddr(hl, []byte{0x02, 0, 0, 0, 0, 1}); err != nil {
		t.Fatal(err)
	}
	link, _ = netlink.LinkByName(name)
	if link.Attrs().HardwareAddr.String() != mac {
		t.Fatalf("bridge MAC changed from %s to %s", mac, link.Attrs().HardwareAddr)
	}
	if hl.Attrs().MasterIndex != link.Attrs().Index {
		t.Fatalf("%s is not a port of %s", host, name)
	}

	if err := DeleteVeth(host); err != nil {
		t.Fatal(err)
	}
	if err := DeleteVeth(host); err != nil {
		t.Fatalf("second DeleteVeth: %v", err)
	}
	if err := Delete(name); err != nil {
		t.Fatal(err)
	}
	if Exists(name) {
		t.Fatal("bridge left after Delete")
	}
	if err := Delete(name); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestEnsureRefusesOtherKinds(t *testing.T) {
	requireRoot(t)
	name := testName(t, "hbv")
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(Config{Name: name}); err == nil || !strings.Contains(err.Error(), "a veth interface of that name exists") {
		t.Fatalf("Ensure over a veth: %v", err)
	}
}

func TestAddVethUndoesOnFailure(t *testing.T) {
	requireRoot(t)
	name := testName(t, "hbb")
	if _, err := Ensure(Config{Name: name, Addrs: []netip.Prefix{gw4}}); err != nil {
		t.Fatal(err)
	}
	ns := testNetns(t)
	host := testName(t, "hbv")
	// A gateway outside the interface's subnet: the route fails, last.
	err := AddVeth(Veth{HostName: host, Bridge: name, Netns: ns, Name: "eth0", MTU: 1500,
		Addrs: []netip.Prefix{netip.MustParsePrefix("10.89.127.2/24")}, Gateways: []netip.Addr{netip.MustParseAddr("10.89.126.1")}})
	if err == nil || !strings.Contains(err.Error(), "default route via 10.89.126.1") {
		t.Fatalf("AddVeth with an unreachable gateway: %v", err)
	}
	if Exists(host) {
		t.Fatal("host end left after a failed AddVeth")
	}
	err = netns.Do(ns, func() error {
		if _, err := netlink.LinkByName("eth0"); err == nil {
			t.Error("peer left in the namespace after a failed AddVeth")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDefaultMTU(t *testing.T) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	want := 1500
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			l, err := netlink.LinkByIndex(r.LinkIndex)
			if err == nil {
				want = l.Attrs().MTU
			}
			break
		}
	}
	if got := DefaultMTU(); got != want {
		t.Fatalf("DefaultMTU %d, want %d", got, want)
	}
}

func TestRandomMAC(t *testing.T) {
	for range 100 {
		m := RandomMAC()
		if len(m) != 6 || m[0]&1 != 0 || m[0]&2 == 0 {
			t.Fatalf("%s is not a unicast, locally administered address", m)
		}
	}
}
