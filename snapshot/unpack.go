package snapshot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"hutch.dev/hutch/errdefs"
)

// unpackPrefix starts the keys of the active snapshots Unpack makes; the
// chain ID follows, then a random suffix.
const unpackPrefix = "unpack/"

// Unpack makes the committed snapshot chainID, one image layer on top of
// the committed snapshot parentChainID ("" for a base layer), unless it is
// there already: it prepares an active snapshot on the parent, lets apply
// write the layer into it (through ApplyLayer, so apply writes overlay's
// form, and gets the parent layers for archive.WithParentLayers; the image
// side passes a closure around archive.Apply) and commits
// it as chainID. So each layer is unpacked once and shared by every image
// and container that uses it.
//
// Unpacks of one chain ID are serialised by sn.Lock, across processes: the
// second finds the work done and returns nil. Active snapshots of an
// earlier unpack of chainID that died (a pull killed halfway) are found
// under that lock and removed first.
func Unpack(ctx context.Context, sn Snapshotter, chainID, parentChainID string, apply func(dir string, parents []string) error) error {
	if chainID == "" {
		return errdefs.InvalidArgument("unpack: empty chain id")
	}
	if done, err := committed(ctx, sn, chainID); done || err != nil {
		return err
	}
	unlock, err := sn.Lock(ctx, chainID)
	if err != nil {
		return fmt.Errorf("unpack %s: %w", chainID, err)
	}
	defer unlock()
	if done, err := committed(ctx, sn, chainID); done || err != nil {
		return err
	}
	if err := removeStale(ctx, sn, chainID); err != nil {
		return err
	}

	key := unpackPrefix + chainID + "/" + randomSuffix()
	if _, err := sn.Prepare(ctx, key, parentChainID); err != nil {
		return fmt.Errorf("unpack %s: %w", chainID, err)
	}
	if err := sn.ApplyLayer(ctx, key, apply); err != nil {
		return errors.Join(fmt.Errorf("unpack %s: %w", chainID, err), sn.Remove(context.WithoutCancel(ctx), key))
	}
	if err := sn.Commit(ctx, chainID, key); err != nil {
		rerr := sn.Remove(context.WithoutCancel(ctx), key)
		// Someone committed it without taking the lock: theirs will do.
		if errdefs.IsAlreadyExists(err) && rerr == nil {
			return nil
		}
		return errors.Join(fmt.Errorf("unpack %s: %w", chainID, err), rerr)
	}
	return nil
}

// committed tells whether name exists as a committed snapshot; a name held
// by an active snapshot or a view is an error, as Unpack cannot make it.
func committed(ctx context.Context, sn Snapshotter, name string) (bool, error) {
	info, err := sn.Stat(ctx, name)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("unpack %s: %w", name, err)
	}
	if info.Kind != KindCommitted {
		return false, errdefs.Conflict("unpack %s: a %s snapshot holds the name", name, info.Kind)
	}
	return true, nil
}

func removeStale(ctx context.Context, sn Snapshotter, chainID string) error {
	var stale []string
	err := sn.Walk(ctx, func(_ context.Context, info Info) error {
		if info.Kind == KindActive && strings.HasPrefix(info.Name, unpackPrefix+chainID+"/") {
			stale = append(stale, info.Name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("unpack %s: %w", chainID, err)
	}
	for _, k := range stale {
		if err := sn.Remove(ctx, k); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("unpack %s: remove stale %q: %w", chainID, k, err)
		}
	}
	return nil
}

func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
