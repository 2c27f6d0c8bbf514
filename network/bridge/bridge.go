// Package bridge makes the kernel side of a bridge network with netlink:
// the Linux bridge that is the network's gateway, and the veth pair that
// plugs one container's namespace into it. It knows nothing of records,
// IPAM or firewall rules; every function is safe to call again (Ensure
// adds only what is missing, Delete* ignore what is already gone).
package bridge

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Config is what a network's bridge must look like.
type Config struct {
	Name string
	// MTU of the bridge; 0 takes DefaultMTU.
	MTU int
	// Addrs are the gateway addresses with the subnets' prefix lengths
	// (10.88.0.1/16), one per address family.
	Addrs []netip.Prefix
}

// Ensure creates the bridge when missing, adds the addresses it lacks, sets
// it up and allows it to carry packets from 127.0.0.0/8 (route_localnet,
// for published ports reached on 127.0.0.1: see the nat package). It
// returns the bridge's MTU, which the veth pairs plugged into it must have.
func Ensure(cfg Config) (mtu int, err error) {
	link, err := netlink.LinkByName(cfg.Name)
	if isNotFound(err) {
		link, err = create(cfg)
	}
	if err != nil {
		return 0, fmt.Errorf("bridge %s: %w", cfg.Name, err)
	}
	if link.Type() != "bridge" {
		return 0, fmt.Errorf("bridge %s: a %s interface of that name exists", cfg.Name, link.Type())
	}
	have, err := retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(link, netlink.FAMILY_ALL) })
	if err != nil {
		return 0, fmt.Errorf("bridge %s: list addresses: %w", cfg.Name, err)
	}
	for _, p := range cfg.Addrs {
		if hasAddr(have, p) {
			continue
		}
		addr := &netlink.Addr{IPNet: ipNet(p)}
		if p.Addr().Is6() {
			// The gateway must answer at once, not after the seconds of
			// duplicate address detection.
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
			return 0, fmt.Errorf("bridge %s: add address %s: %w", cfg.Name, p, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return 0, fmt.Errorf("bridge %s: set up: %w", cfg.Name, err)
	}
	if err := setRouteLocalnet(cfg.Name); err != nil {
		return 0, fmt.Errorf("bridge %s: %w", cfg.Name, err)
	}
	return link.Attrs().MTU, nil
}

func create(cfg Config) (netlink.Link, error) {
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = DefaultMTU()
	}
	la := netlink.NewLinkAttrs()
	la.Name = cfg.Name
	la.MTU = mtu
	// A bridge without an address of its own takes the lowest MAC of its
	// ports, so it would change whenever a container comes or goes and
	// the containers' ARP entries for the gateway would go stale. A MAC
	// set at creation is kept.
	la.HardwareAddr = RandomMAC()
	if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("create: %w", err)
	}
	return netlink.LinkByName(cfg.Name)
}

// Delete removes the bridge; a missing one is not an error.
func Delete(name string) error {
	link, err := netlink.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err == nil {
		err = netlink.LinkDel(link)
	}
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("bridge %s: delete: %w", name, err)
	}
	return nil
}

// Exists reports whether an interface of that name exists.
func Exists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}

// DefaultMTU is the MTU of the interface that carries the host's IPv4
// default route, or 1500 when there is none: a container's packets leave
// through it, and a larger MTU inside would fragment or black-hole them.
func DefaultMTU() int {
	routes, err := retryDump(func() ([]netlink.Route, error) { return netlink.RouteList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return 1500
	}
	for _, r := range routes {
		if r.Dst != nil && !(r.Dst.IP.IsUnspecified() && isZeroMask(r.Dst.Mask)) {
			continue
		}
		idx := r.LinkIndex
		if idx == 0 && len(r.MultiPath) > 0 {
			idx = r.MultiPath[0].LinkIndex
		}
		if link, err := netlink.LinkByIndex(idx); err == nil && link.Attrs().MTU > 0 {
			return link.Attrs().MTU
		}
	}
	return 1500
}

func isZeroMask(m net.IPMask) bool {
	ones, _ := m.Size()
	return ones == 0
}

// RandomMAC returns a random unicast, locally administered address.
func RandomMAC() net.HardwareAddr {
	mac := make(net.HardwareAddr, 6)
	rand.Read(mac)
	mac[0] = mac[0]&0xfe | 0x02
	return mac
}

func hasAddr(have []netlink.Addr, p netip.Prefix) bool {
	for _, a := range have {
		ones, _ := a.Mask.Size()
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == p.Addr() && ones == p.Bits() {
			return true
		}
	}
	return false
}

func ipNet(p netip.Prefix) *net.IPNet {
	a := p.Addr()
	return &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(p.Bits(), a.BitLen())}
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}
