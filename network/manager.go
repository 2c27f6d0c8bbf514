package network

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/network/nat"
	"hutch.dev/hutch/store"
)

// The default network, as Docker and Podman set it up.
const (
	DefaultNetwork = "bridge"
	DefaultBridge  = "hutch0"
)

var (
	defaultSubnet = netip.MustParsePrefix("10.88.0.0/16")
	// defaultPool is where Create looks for a free /24 when no subnet is
	// given, as Podman does.
	defaultPool = netip.MustParsePrefix("10.89.0.0/16")
)

// Manager reads and changes the networks of one pair of state roots. It
// holds no state of its own between calls: every call reads the disk under
// the lock, so several processes may use the same roots at once.
type Manager struct {
	records string // ROOT/networks
	run     string // RUNROOT/networks
	def     Network
	pool    netip.Prefix
	fw      *nat.Firewall
	log     *slog.Logger
}

// Option changes a Manager's defaults.
type Option func(*Manager)

// WithDefaultNetwork sets the bridge name and IPv4 subnet of the default
// network (hutch0, 10.88.0.0/16): tests use their own so as never to touch
// the real one. The gateway is the subnet's first address.
func WithDefaultNetwork(bridge string, subnet netip.Prefix) Option {
	return func(m *Manager) {
		m.def.Bridge = bridge
		m.def.Subnets = []Subnet{{Subnet: subnet.Masked(), Gateway: subnet.Masked().Addr().Next()}}
	}
}

// WithSubnetPool sets the range from which Create picks a free /24 when no
// subnet is given (10.89.0.0/16).
func WithSubnetPool(pool netip.Prefix) Option { return func(m *Manager) { m.pool = pool.Masked() } }

// WithFirewallTable sets the name of the nftables table (inet hutch).
func WithFirewallTable(name string) Option { return func(m *Manager) { m.fw = nat.New(name) } }

// WithLogger sends debug logs, which name the kernel objects made and
// removed, to l. The default discards them: the CLI decides what is shown.
func WithLogger(l *slog.Logger) Option { return func(m *Manager) { m.log = l } }

// Open returns the Manager of root (network records) and runroot
// (attachments and the lock), creating their directories.
func Open(root, runroot string, opts ...Option) (*Manager, error) {
	m := &Manager{
		records: filepath.Join(root, "networks"),
		run:     filepath.Join(runroot, "networks"),
		pool:    defaultPool,
		fw:      nat.New(nat.DefaultTable),
		log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	WithDefaultNetwork(DefaultBridge, defaultSubnet)(m)
	for _, o := range opts {
		o(m)
	}
	m.def.Name = DefaultNetwork
	m.def.ID = defaultID(DefaultNetwork)
	m.def.Driver = "bridge"
	m.def.Default = true
	for _, d := range []string{m.records, m.run} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("networks: %w", err)
		}
	}
	return m, nil
}

// Firewall is the nftables table the Manager writes to.
func (m *Manager) Firewall() *nat.Firewall { return m.fw }

// lock takes the one lock that every change holds. One lock, not one per
// network: published ports are a resource of the whole host, and a port
// check must see every network's attachments.
func (m *Manager) lock() (*store.Lock, error) {
	return store.LockFile(filepath.Join(m.run, "lock"))
}

func (m *Manager) recordPath(name string) string {
	return filepath.Join(m.records, name+".json")
}

// lookup returns the network called name, or whose ID or an unambiguous
// prefix of it (at least 3 characters) is name.
func (m *Manager) lookup(name string) (*Network, error) {
	if name == DefaultNetwork || name == "" {
		d := m.def
		return &d, nil
	}
	if validName.MatchString(name) {
		var n Network
		err := store.ReadJSON(m.recordPath(name), &n)
		if err == nil {
			return &n, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("network %q: %w", name, err)
		}
	}
	if len(name) >= 3 {
		all, err := m.list()
		if err != nil {
			return nil, err
		}
		var found []*Network
		for _, n := range all {
			if strings.HasPrefix(n.ID, name) {
				found = append(found, n)
			}
		}
		if len(found) == 1 {
			return found[0], nil
		}
		if len(found) > 1 {
			return nil, errdefs.InvalidArgument("network %q: ambiguous ID prefix", name)
		}
	}
	return nil, errdefs.NotFound("network %q: not found", name)
}

// list returns the default network and every record, by name.
func (m *Manager) list() ([]*Network, error) {
	d := m.def
	all := []*Network{&d}
	ents, err := os.ReadDir(m.records)
	if err != nil {
		return nil, fmt.Errorf("networks: %w", err)
	}
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || strings.HasPrefix(name, ".") {
			continue
		}
		var n Network
		if err := store.ReadJSON(filepath.Join(m.records, e.Name()), &n); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // removed while we listed
			}
			return nil, fmt.Errorf("network %q: %w", name, err)
		}
		all = append(all, &n)
	}
	sort.Slice(all[1:], func(i, j int) bool { return all[1+i].Name < all[1+j].Name })
	return all, nil
}

// List returns every network, the default one first.
func (m *Manager) List() ([]*Network, error) { return m.list() }

// Inspect returns the network called name (or with that ID or ID prefix).
func (m *Manager) Inspect(name string) (*Network, error) { return m.lookup(name) }
