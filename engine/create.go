package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/image"
	"hutch.dev/hutch/image/unpack"
	"hutch.dev/hutch/runtime"
	"hutch.dev/hutch/store"
)

// CreateOptions is everything `hutch create` and `hutch run` were told,
// already parsed into typed values by the command line.
type CreateOptions struct {
	Name     string
	Image    string
	Platform string
	// Pull is "missing" (default), "always" or "never".
	Pull string

	Config     Config
	HostConfig HostConfig
	// EntrypointSet tells an empty Config.Entrypoint (--entrypoint "")
	// from none given.
	EntrypointSet bool
	// Extra is what the spec builder needs that inspect does not show.
	Extra SpecExtra
	// Mounts are -v, --mount and --tmpfs, parsed.
	Mounts []MountRequest
	// Net is -p, --ip, --mac-address and --network-alias.
	Net NetworkRequest
	// PublishAll (-P) publishes every exposed port on a random host port.
	PublishAll bool
}

// SpecExtra are settings kept with the record for building the runtime
// spec at every start.
type SpecExtra struct {
	Ulimits       []Ulimit          `json:"Ulimits,omitempty"`
	Devices       []Device          `json:"Devices,omitempty"`
	Sysctls       map[string]string `json:"Sysctls,omitempty"`
	ShmSize       int64             `json:"ShmSize,omitempty"`
	GroupAdd      []string          `json:"GroupAdd,omitempty"`
	MemoryReserve int64             `json:"MemoryReservation,omitempty"`
	CpusetMems    string            `json:"CpusetMems,omitempty"`
	OomScoreAdj   *int              `json:"OomScoreAdj,omitempty"`
}

// Ulimit is one --ulimit.
type Ulimit struct {
	Name string `json:"Name"`
	Soft uint64 `json:"Soft"` // RLIM_INFINITY for unlimited
	Hard uint64 `json:"Hard"`
}

// Device is one --device.
type Device struct {
	PathOnHost        string `json:"PathOnHost"`
	PathInContainer   string `json:"PathInContainer"`
	CgroupPermissions string `json:"CgroupPermissions"`
}

// record is the stored form: the container plus what only the engine
// reads.
type record struct {
	Container
	ImageConfig   *v1.Config     `json:"ImageConfig,omitempty"`
	EntrypointSet bool           `json:"EntrypointSet,omitempty"`
	Extra         SpecExtra      `json:"Extra"`
	Net           NetworkRequest `json:"Net"`
	// MoreNetworks are the networks `network connect` added after the
	// first (network_cmds.go), joined again at each start.
	MoreNetworks []ConnectedNetwork `json:"MoreNetworks,omitempty"`
}

// PullFunc fetches ref into the image store (the command line supplies
// it, with its progress output); nil means images are never pulled.
type PullFunc func(ctx context.Context, ref, platform string) error

// Create makes a container from o: its record, its name, and its
// writable layer on top of the image. Nothing runs yet. A failure undoes
// everything it made.
func (e *Engine) Create(ctx context.Context, o *CreateOptions, pull PullFunc) (c *Container, err error) {
	runtime.Tracef("engine: create")
	defer runtime.Tracef("engine: created")
	if err := e.open(); err != nil {
		return nil, err
	}
	img, err := e.resolveImage(ctx, o.Image, o.Platform, o.Pull, pull)
	if err != nil {
		return nil, err
	}
	runtime.Tracef("engine: image resolved")
	id := newID()
	name := o.Name
	if name != "" && !validName.MatchString(name) {
		return nil, errdefs.InvalidArgument("invalid container name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	name = strings.TrimPrefix(name, "/")
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	r := &record{
		Container: Container{
			ID:         id,
			Name:       name, // "" until claimName picks one
			Created:    time.Now().UTC(),
			Image:      o.Image,
			ImageID:    string(img.ID),
			Config:     o.Config,
			HostConfig: o.HostConfig,
			Snapshot:   "container-" + id,
		},
		EntrypointSet: o.EntrypointSet,
		Extra:         o.Extra,
		Net:           o.Net,
	}
	if r.HostConfig.NetworkMode == "" {
		r.HostConfig.NetworkMode = "bridge"
	}
	if img.Config != nil {
		cfg := img.Config.Config
		r.ImageConfig = &cfg
	}
	r.Config.Image = o.Image
	mergeImageConfig(r)
	if argv := append(append([]string{}, r.Config.Entrypoint...), r.Config.Cmd...); len(argv) > 0 {
		r.Path, r.Args = argv[0], argv[1:]
	} else {
		return nil, errdefs.InvalidArgument("image %q has no command: give one after the image name", o.Image)
	}
	r.LogPath = e.logPath(id)
	r.State.setStatus(StatusCreated)
	if o.PublishAll {
		publishAll(r)
	}
	if err := e.checkNetwork(r); err != nil {
		return nil, err
	}

	// The container's directory appears whole, with its lock file (made
	// here, once: lockers never create it) and its first record: it is
	// made under a temporary name and renamed into place, so a create
	// killed at any point leaves either nothing (a .tmp- directory that
	// listing sweeps) or a record `hutch rm` can finish. The record is
	// there before the name is claimed (a name whose owner has no record
	// is free to take over) and before the layer is made.
	randomName := r.Name == ""
	if randomName {
		r.Name = e.randomCandidate(id, 0)
	}
	tmp := filepath.Join(e.containersDir(), tmpPrefix+id)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	err = os.WriteFile(filepath.Join(tmp, "lock"), nil, 0o600)
	if err == nil {
		err = store.WriteJSON(filepath.Join(tmp, "container.json"), r)
	}
	if err == nil {
		err = os.Rename(tmp, e.containerDir(id))
	}
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	undo = append(undo, func() { os.RemoveAll(e.containerDir(id)) })
	if err := e.claimName(r, randomName); err != nil {
		return nil, err
	}
	runtime.Tracef("engine: name claimed")
	name = r.Name
	undo = append(undo, func() { e.releaseName(r.Name, id) })
	runtime.Tracef("engine: network checked")
	releaseVols, err := e.resolveMounts(r, o.Mounts)
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", name, err)
	}
	undo = append(undo, releaseVols)
	if err := e.writeRecord(r); err != nil {
		return nil, err
	}
	if _, err := e.sn.Prepare(ctx, r.Snapshot, string(img.ChainID())); err != nil {
		return nil, fmt.Errorf("container %q: prepare its writable layer: %w", name, err)
	}
	undo = append(undo, func() { e.sn.Remove(context.Background(), r.Snapshot) })
	return &r.Container, nil
}

// resolveImage finds ref in the store, pulling it when the policy says so,
// and makes sure its layers are unpacked.
func (e *Engine) resolveImage(ctx context.Context, ref, platform, policy string, pull PullFunc) (*image.Image, error) {
	if ref == "" {
		return nil, errdefs.InvalidArgument("an image is required")
	}
	switch policy {
	case "", "missing", "always", "never":
	default:
		return nil, errdefs.InvalidArgument("--pull %q: want missing, always or never", policy)
	}
	img, err := e.images.Get(ref)
	needPull := policy == "always" || (errdefs.IsNotFound(err) && policy != "never")
	if needPull {
		if pull == nil {
			if err != nil {
				return nil, err
			}
		} else {
			if perr := pull(ctx, ref, platform); perr != nil {
				return nil, fmt.Errorf("image %q: not in the local store and the pull failed: %w", ref, perr)
			}
			img, err = e.images.Get(ref)
		}
	}
	if errdefs.IsNotFound(err) {
		return nil, errdefs.NotFound("image %q: not in the local store (--pull=never, or no registry to pull from)", ref)
	}
	if err != nil {
		return nil, err
	}
	if err := unpack.Unpack(ctx, e.images, e.sn, img); err != nil {
		return nil, err
	}
	return img, nil
}

// mergeImageConfig fills what the user left out from the image, as Docker
// does at create: the record then shows the command that will run.
func mergeImageConfig(r *record) {
	ic := r.ImageConfig
	if ic == nil {
		ic = &v1.Config{}
	}
	c := &r.Config
	if !r.EntrypointSet {
		c.Entrypoint = ic.Entrypoint
		if c.Cmd == nil {
			c.Cmd = ic.Cmd
		}
	}
	c.Env = mergeEnv(ic.Env, c.Env)
	if c.WorkingDir == "" {
		c.WorkingDir = ic.WorkingDir
	}
	if c.User == "" {
		c.User = ic.User
	}
	if c.StopSignal == "" {
		c.StopSignal = ic.StopSignal
	}
	if len(ic.Labels) > 0 {
		labels := map[string]string{}
		for k, v := range ic.Labels {
			labels[k] = v
		}
		for k, v := range c.Labels {
			labels[k] = v
		}
		c.Labels = labels
	}
	if len(ic.ExposedPorts) > 0 && c.ExposedPorts == nil {
		c.ExposedPorts = map[string]struct{}{}
	}
	for p := range ic.ExposedPorts {
		c.ExposedPorts[p] = struct{}{}
	}
	if len(ic.Volumes) > 0 && c.Volumes == nil {
		c.Volumes = map[string]struct{}{}
	}
	for v := range ic.Volumes {
		c.Volumes[v] = struct{}{}
	}
	var imgHC *Healthcheck
	if ic.Healthcheck != nil {
		imgHC = &Healthcheck{Test: ic.Healthcheck.Test, Interval: ic.Healthcheck.Interval,
			Timeout: ic.Healthcheck.Timeout, StartPeriod: ic.Healthcheck.StartPeriod, Retries: ic.Healthcheck.Retries}
	}
	c.Healthcheck = mergeHealthcheck(c.Healthcheck, imgHC)
}

// mergeEnv overlays over on base by key, keeping base's order.
func mergeEnv(base, over []string) []string {
	out := append([]string(nil), base...)
	idx := map[string]int{}
	for i, kv := range out {
		idx[envKey(kv)] = i
	}
	for _, kv := range over {
		if i, ok := idx[envKey(kv)]; ok {
			out[i] = kv
			continue
		}
		idx[envKey(kv)] = len(out)
		out = append(out, kv)
	}
	return out
}

func envKey(kv string) string {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i]
		}
	}
	return kv
}

// claimName reserves the record's name (written already); a random name
// that another container took meanwhile is replaced by another one.
func (e *Engine) claimName(r *record, random bool) error {
	for i := 1; ; i++ {
		err := e.reserveName(r.Name, r.ID)
		if err == nil || !random || !errdefs.IsConflict(err) || i > 30 {
			return err
		}
		r.Name = e.randomCandidate(r.ID, i)
		if err := e.writeRecord(r); err != nil {
			return err
		}
	}
}
