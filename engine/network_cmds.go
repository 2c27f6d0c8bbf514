package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/network"
	"hutch.dev/hutch/network/netns"
)

// ConnectedNetwork is a network that `network connect` added to a
// container besides the one of its NetworkMode. It is kept in the record
// so that every start joins it again.
type ConnectedNetwork struct {
	Network string   `json:"Network"`
	IP      string   `json:"IP,omitempty"`
	Aliases []string `json:"Aliases,omitempty"`
}

// ConnectOptions are `network connect`'s --ip and --alias.
type ConnectOptions struct {
	IP      string
	Aliases []string
}

// joinMoreNetworks is the end of setupNetwork: after the first network
// (first), it attaches the container to the networks it was connected to,
// starts the name servers of its user-defined networks, and records its
// NetworkSettings in r. A failure undoes every attachment and the
// namespace.
func (e *Engine) joinMoreNetworks(r *record, nm *network.Manager, nsPath string, first *network.Attachment) (err error) {
	ctx := context.Background()
	atts := []*network.Attachment{first}
	defer func() {
		if err != nil {
			nm.Detach(ctx, r.ID)
			netns.Remove(nsPath)
		}
	}()
	for _, cn := range r.MoreNetworks {
		req := network.AttachRequest{ContainerID: r.ID, ContainerName: r.Name, NetnsPath: nsPath, Network: cn.Network, Aliases: cn.Aliases}
		if cn.IP != "" {
			if req.IP, err = netip.ParseAddr(cn.IP); err != nil {
				return errdefs.InvalidArgument("container %q: network %q: address %q: %v", r.Name, cn.Network, cn.IP, err)
			}
		}
		a, err := nm.Attach(ctx, req)
		if errdefs.IsAlreadyExists(err) {
			// A stale attachment from the last run (a connect that
			// raced with the container's end): replace it.
			nm.Disconnect(ctx, r.ID, cn.Network)
			a, err = nm.Attach(ctx, req)
		}
		if err != nil {
			return fmt.Errorf("container %q: %w", r.Name, err)
		}
		atts = append(atts, a)
	}
	for _, a := range atts {
		if err := e.ensureDNS(nm, a.Network); err != nil {
			return fmt.Errorf("container %q: %w", r.Name, err)
		}
	}
	r.NetworkSettings = settingsOf(nsPath, atts)
	return nil
}

// primaryNetwork is the network of the container's NetworkMode, or "" for
// the modes that have none (host, none, container:).
func primaryNetwork(r *record) string {
	if !usesNetworkManager(r.HostConfig.NetworkMode) {
		return ""
	}
	return networkName(r.HostConfig.NetworkMode)
}

// connectedTo tells whether the record names network n, by name, ID or
// ID prefix (as --network may have given it).
func connectedTo(r *record, n *network.Network) bool {
	if p := primaryNetwork(r); p != "" && refersTo(p, n) {
		return true
	}
	for _, cn := range r.MoreNetworks {
		if refersTo(cn.Network, n) {
			return true
		}
	}
	return false
}

func refersTo(ref string, n *network.Network) bool {
	return ref == n.Name || ref == n.ID || (len(ref) >= 3 && strings.HasPrefix(n.ID, ref))
}

// netnsLive tells whether the container's network namespace is live: it
// runs (supervised or not) and its namespace is mounted.
func (e *Engine) netnsLive(r *record) bool {
	return r.State.Running && netns.IsNetns(e.netnsPath(r.ID))
}

// NetworkConnect connects the container ref to network name: a running
// container gains an interface at once, and every later start joins the
// network again. The record and the attachment change under the
// container's lock.
func (e *Engine) NetworkConnect(ctx context.Context, name, ref string, o ConnectOptions) error {
	nm, n, err := e.inspectNetwork(name)
	if err != nil {
		return err
	}
	id, err := e.Lookup(ref)
	if err != nil {
		return err
	}
	var ip netip.Addr
	if o.IP != "" {
		if ip, err = netip.ParseAddr(o.IP); err != nil {
			return errdefs.InvalidArgument("--ip %q: %v", o.IP, err)
		}
	}
	_, err = e.update(id, func(r *record) error {
		if !usesNetworkManager(r.HostConfig.NetworkMode) {
			return errdefs.Conflict("container %q uses network mode %q: it cannot be connected to a network", r.Name, r.HostConfig.NetworkMode)
		}
		if connectedTo(r, n) {
			return errdefs.AlreadyExists("container %q is already connected to network %q", r.Name, n.Name)
		}
		if r.State.Status == StatusRemoving || r.State.Status == StatusDead {
			return errdefs.Conflict("container %q is %s", r.Name, r.State.Status)
		}
		if e.netnsLive(r) {
			nsPath := e.netnsPath(r.ID)
			_, err := nm.Attach(ctx, network.AttachRequest{ContainerID: r.ID, ContainerName: r.Name, NetnsPath: nsPath, Network: n.Name, IP: ip, Aliases: o.Aliases})
			if err != nil {
				return fmt.Errorf("container %q: %w", r.Name, err)
			}
			if !alive(r.State.Pid) {
				// The container ended while we attached it: its own
				// teardown may have run before, so undo ours.
				nm.Disconnect(context.Background(), r.ID, n.Name)
				return errdefs.Conflict("container %q stopped while being connected", r.Name)
			}
			if err := e.ensureDNS(nm, n.Name); err != nil {
				nm.Disconnect(context.Background(), r.ID, n.Name)
				return fmt.Errorf("container %q: %w", r.Name, err)
			}
			if err := e.refreshNetworkSettings(r, nm); err != nil {
				return err
			}
		}
		r.MoreNetworks = append(r.MoreNetworks, ConnectedNetwork{Network: n.Name, IP: o.IP, Aliases: o.Aliases})
		return nil
	})
	return err
}

// NetworkDisconnect disconnects the container ref from network name: a
// running container loses that interface at once, and later starts no
// longer join it. Disconnecting the container's first network makes the
// next connected one its first; a running container cannot lose its last
// network (its namespace would stay without an owner), a stopped one is
// left with network mode none. force ignores a network or a connection
// that does not exist.
func (e *Engine) NetworkDisconnect(ctx context.Context, name, ref string, force bool) error {
	nm, err := e.Networks()
	if err != nil {
		return err
	}
	n, err := nm.Inspect(name)
	if err != nil {
		if force && errdefs.IsNotFound(err) {
			n = &network.Network{Name: name, ID: name}
		} else {
			return err
		}
	}
	id, err := e.Lookup(ref)
	if err != nil {
		return err
	}
	_, err = e.update(id, func(r *record) error {
		if !connectedTo(r, n) {
			if force {
				return nil
			}
			return errdefs.NotFound("container %q is not connected to network %q", r.Name, n.Name)
		}
		live := e.netnsLive(r)
		if p := primaryNetwork(r); p != "" && refersTo(p, n) {
			if len(r.MoreNetworks) == 0 {
				if live {
					return errdefs.FailedPrecondition("container %q: network %q is its only network: connect it to another one first, or stop it", r.Name, n.Name)
				}
				r.HostConfig.NetworkMode = "none"
				r.Net = NetworkRequest{}
				return nil
			}
			next := r.MoreNetworks[0]
			r.MoreNetworks = r.MoreNetworks[1:]
			r.HostConfig.NetworkMode = next.Network
			// Published ports move along with the first network.
			r.Net = NetworkRequest{Ports: r.Net.Ports, IP: next.IP, Aliases: next.Aliases}
		} else {
			r.MoreNetworks = slices.DeleteFunc(r.MoreNetworks, func(cn ConnectedNetwork) bool { return refersTo(cn.Network, n) })
		}
		if live {
			if err := nm.Disconnect(ctx, r.ID, n.Name); err != nil && !errdefs.IsNotFound(err) {
				return fmt.Errorf("container %q: %w", r.Name, err)
			}
			if err := e.refreshNetworkSettings(r, nm); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// refreshNetworkSettings rebuilds a running container's NetworkSettings
// from its attachments, first network first, and rewrites its /etc/hosts
// and /etc/resolv.conf in place.
func (e *Engine) refreshNetworkSettings(r *record, nm *network.Manager) error {
	atts, err := nm.Attachments(r.ID)
	if err != nil {
		return err
	}
	// The first network has the lowest route metric (100, then 101...).
	sort.SliceStable(atts, func(i, j int) bool { return atts[i].RouteMetric < atts[j].RouteMetric })
	r.NetworkSettings = settingsOf(e.netnsPath(r.ID), atts)
	return e.rewriteEtcFiles(r)
}

// NetworkUsers names the containers whose records use network n (running
// or not), sorted.
func (e *Engine) NetworkUsers(n *network.Network) ([]string, error) {
	ids, err := e.listIDs()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, id := range ids {
		r, err := e.readRecord(id)
		if err != nil {
			continue // removed meanwhile
		}
		if connectedTo(r, n) {
			names = append(names, r.Name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// NetworkRemove removes the network name. A network that a container
// uses, running or stopped, is refused with the containers named: the
// stopped ones could not start again without it.
func (e *Engine) NetworkRemove(name string) error {
	nm, n, err := e.inspectNetwork(name)
	if err != nil {
		return err
	}
	users, err := e.NetworkUsers(n)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		return errdefs.Conflict("network %q is in use by container%s %s", n.Name, plural(len(users)), quoteAll(users))
	}
	if err := nm.Remove(n.Name); err != nil {
		return err
	}
	e.forgetDNS(n)
	return nil
}

// forgetDNS removes the name server's lock, pid and log files of a
// removed network (its server, with no container left, has ended or is
// ending: none can start for a network that is gone).
func (e *Engine) forgetDNS(n *network.Network) {
	for _, ext := range []string{".lock", ".pid", ".log"} {
		os.Remove(filepath.Join(e.dnsDir(), n.ID+ext))
	}
}

// NetworkPrune removes every user-defined network that no container
// uses; keep, when not nil, spares the networks it returns true for
// (filters). It returns the names removed.
func (e *Engine) NetworkPrune(keep func(*network.Network) bool) ([]string, error) {
	nm, err := e.Networks()
	if err != nil {
		return nil, err
	}
	all, err := nm.List()
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, n := range all {
		if n.Default || (keep != nil && keep(n)) {
			continue
		}
		if users, err := e.NetworkUsers(n); err != nil || len(users) > 0 {
			continue
		}
		if err := nm.Remove(n.Name); err != nil {
			if !errdefs.IsConflict(err) && !errdefs.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		e.forgetDNS(n)
		removed = append(removed, n.Name)
	}
	return removed, errors.Join(errs...)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
