package bridge

import (
	"net/netip"

	"github.com/vishvananda/netlink"
)

// Route is one route of the host's main table: its destination and the
// interface it goes through.
type Route struct {
	Dst netip.Prefix
	Dev string
}

// HostRoutes lists the host's IPv4 and IPv6 routes that have a destination
// narrower than the default route: the subnets a new network must not
// overlap, or its containers could not reach them.
func HostRoutes() ([]Route, error) {
	routes, err := retryDump(func() ([]netlink.Route, error) { return netlink.RouteList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, err
	}
	names := map[int]string{}
	var out []Route
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		ones, _ := r.Dst.Mask.Size()
		a, ok := netip.AddrFromSlice(r.Dst.IP)
		if !ok || ones == 0 {
			continue
		}
		p := netip.PrefixFrom(a.Unmap(), ones).Masked()
		// IPv6 link-local and multicast routes are on every interface.
		if p.Addr().IsLinkLocalUnicast() || p.Addr().IsMulticast() {
			continue
		}
		dev, ok := names[r.LinkIndex]
		if !ok {
			if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
				dev = l.Attrs().Name
			}
			names[r.LinkIndex] = dev
		}
		out = append(out, Route{Dst: p, Dev: dev})
	}
	return out, nil
}
