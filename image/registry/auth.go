package registry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/image/reference"
)

// Credentials are kept where Docker keeps them, in Docker's format, so
// that `docker login` and `hutch login` share them: $DOCKER_CONFIG/config.json,
// else ~/.docker/config.json (a credential helper named there by
// "credsStore"/"credHelpers" is used, as Docker would). They are not under
// the storage root: a login belongs to the user, not to one store.

// AuthFile is the credentials file o uses.
func (o *Options) authFile() string {
	if o.AuthFile != "" {
		return o.AuthFile
	}
	return filepath.Join(config.Dir(), config.ConfigFileName)
}

func loadAuthFile(path string) (*configfile.ConfigFile, error) {
	cf := configfile.New(path)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cf, nil
	}
	if err != nil {
		return nil, fmt.Errorf("credentials %s: %w", path, err)
	}
	defer f.Close()
	if err := cf.LoadFromReader(f); err != nil {
		return nil, fmt.Errorf("credentials %s: %w", path, err)
	}
	return cf, nil
}

// authKey is the key Docker files a registry's credentials under.
func authKey(reg string) string {
	if reg == name.DefaultRegistry || reg == reference.DockerHub {
		return authn.DefaultAuthKey
	}
	return reg
}

type fileKeychain struct{ path string }

func (k *fileKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	cf, err := loadAuthFile(k.path)
	if err != nil {
		return nil, err
	}
	ac, err := cf.GetAuthConfig(authKey(r.RegistryStr()))
	if err != nil {
		return nil, err
	}
	if ac.Username == "" && ac.Password == "" && ac.Auth == "" && ac.IdentityToken == "" && ac.RegistryToken == "" {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken,
	}), nil
}

// keychain reads the auth file, then (when it has nothing for the
// registry and none was named) the places go-containerregistry's default
// keychain knows, Podman's auth.json among them.
func (o *Options) keychain() authn.Keychain {
	k := &fileKeychain{path: o.authFile()}
	if o.AuthFile != "" {
		return k
	}
	return authn.NewMultiKeychain(k, authn.DefaultKeychain)
}

// Login checks user and password against the registry (a token exchange
// or a basic-auth GET /v2/) and, when they work, stores them in the
// credentials file. It returns the registry name it stored them under.
func Login(ctx context.Context, registry, user, password string, o Options) (string, error) {
	if registry == "" {
		registry = reference.DockerHub
	}
	var opts []name.Option
	if o.insecure(registry) {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(registry, opts...)
	if err != nil {
		return "", errdefs.InvalidArgument("registry %q: %v", registry, err)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: user, Password: password})
	rt, err := transport.NewWithContext(ctx, reg, auth, transport.NewRetry(o.base(reg)), nil)
	if err != nil {
		return "", loginError(registry, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s://%s/v2/", reg.Scheme(), reg.RegistryStr()), nil)
	if err != nil {
		return "", err
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return "", loginError(registry, err)
	}
	resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return "", loginError(registry, err)
	}
	cf, err := loadAuthFile(o.authFile())
	if err != nil {
		return "", err
	}
	key := authKey(reg.RegistryStr())
	if err := cf.GetCredentialsStore(key).Store(types.AuthConfig{Username: user, Password: password, ServerAddress: key}); err != nil {
		return "", fmt.Errorf("registry %s: store credentials: %w", registry, err)
	}
	if err := cf.Save(); err != nil {
		return "", fmt.Errorf("registry %s: store credentials: %w", registry, err)
	}
	return registry, nil
}

func loginError(registry string, err error) error {
	var terr *transport.Error
	if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
		return errdefs.FailedPrecondition("registry %s: login: incorrect username or password", registry)
	}
	return fmt.Errorf("registry %s: login: %w", registry, err)
}

// Logout removes the registry's credentials from the credentials file.
func Logout(registry string, o Options) error {
	if registry == "" {
		registry = reference.DockerHub
	}
	cf, err := loadAuthFile(o.authFile())
	if err != nil {
		return err
	}
	key := authKey(registry)
	if _, ok := cf.AuthConfigs[key]; !ok && cf.CredentialsStore == "" && cf.CredentialHelpers[key] == "" {
		return errdefs.NotFound("registry %s: not logged in", registry)
	}
	if err := cf.GetCredentialsStore(key).Erase(key); err != nil {
		return fmt.Errorf("registry %s: logout: %w", registry, err)
	}
	if err := cf.Save(); err != nil {
		return fmt.Errorf("registry %s: logout: %w", registry, err)
	}
	return nil
}
