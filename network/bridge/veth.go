package bridge

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/network/netns"
)

// Veth is one container's link to a bridge.
type Veth struct {
	// HostName is the host end, a port of Bridge.
	HostName string
	Bridge   string
	// Netns is the path of the container's network namespace, where the
	// peer is made under the name Name (eth0).
	Netns string
	Name  string
	MAC   net.HardwareAddr
	MTU   int
	// Addrs are the container's addresses with the subnets' prefix lengths.
	Addrs []netip.Prefix
	// Gateways get a default route each; none on an internal network.
	Gateways []netip.Addr
	// Metric of the default routes: a container on several networks has
	// one default route per network, and two routes to 0/0 need different
	// metrics to exist side by side (the lowest wins).
	Metric int
}

// AddVeth creates the pair with its peer made directly inside the
// namespace (so the peer never appears on the host, and "eth0" cannot clash
// with the host's own eth0), enslaves the host end to the bridge, and gives
// the peer its addresses and routes. On failure nothing is left: deleting
// the host end deletes the peer too.
func AddVeth(v Veth) (err error) {
	fail := func(step string, err error) error {
		return fmt.Errorf("veth %s: %s: %w", v.HostName, step, err)
	}
	br, err := netlink.LinkByName(v.Bridge)
	if err != nil {
		return fail("bridge "+v.Bridge, err)
	}
	ns, err := os.Open(v.Netns)
	if err != nil {
		return fail("netns", err)
	}
	defer ns.Close()

	la := netlink.NewLinkAttrs()
	la.Name = v.HostName
	la.MTU = v.MTU
	la.MasterIndex = br.Attrs().Index
	la.Flags = net.FlagUp
	veth := &netlink.Veth{
		LinkAttrs:        la,
		PeerName:         v.Name,
		PeerHardwareAddr: v.MAC,
		PeerNamespace:    netlink.NsFd(ns.Fd()),
		PeerMTU:          uint32(v.MTU),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		return fail("create", err)
	}
	defer func() {
		if err != nil {
			DeleteVeth(v.HostName)
		}
	}()
	host, err := netlink.LinkByName(v.HostName)
	if err != nil {
		return fail("find host end", err)
	}
	// Hairpin: a container that reaches a port published by itself, through
	// the host's address, gets its own packets back on the same port.
	if err := netlink.LinkSetHairpin(host, true); err != nil {
		return fail("hairpin", err)
	}
	if err := configurePeer(v); err != nil {
		return fail("in "+v.Netns, err)
	}
	return nil
}

// configurePeer sets the addresses, link state and routes of the peer with
// a netlink handle whose socket was opened inside the namespace: the work
// itself runs on the caller's thread, never switched.
func configurePeer(v Veth) error {
	var h *netlink.Handle
	err := netns.Do(v.Netns, func() (err error) {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return err
	}
	defer h.Close()
	link, err := h.LinkByName(v.Name)
	if err != nil {
		return err
	}
	for _, p := range v.Addrs {
		addr := &netlink.Addr{IPNet: ipNet(p)}
		if p.Addr().Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := h.AddrAdd(link, addr); err != nil {
			return fmt.Errorf("add address %s: %w", p, err)
		}
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("set %s up: %w", v.Name, err)
	}
	for _, gw := range v.Gateways {
		route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.IP(gw.AsSlice()), Priority: v.Metric}
		if err := h.RouteAdd(route); err != nil {
			return fmt.Errorf("default route via %s: %w", gw, err)
		}
	}
	return nil
}

// DeleteVeth deletes the pair by its host end; a missing one is not an
// error (the kernel deletes the pair itself when the namespace dies).
func DeleteVeth(hostName string) error {
	link, err := netlink.LinkByName(hostName)
	if isNotFound(err) {
		return nil
	}
	if err == nil {
		err = netlink.LinkDel(link)
	}
	if err != nil && !isNotFound(err) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("veth %s: delete: %w", hostName, err)
	}
	return nil
}
