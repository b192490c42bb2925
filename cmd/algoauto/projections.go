package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/algoauto/algoauto/eventstore/codec"
	"github.com/algoauto/algoauto/projections"
)

func newProjectionsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "projections",
		Short: "Rebuild read models from the log and print their state hashes",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	rebuild := &cobra.Command{
		Use:   "rebuild [name...]",
		Short: "Refold projections from the start of the log and replace their snapshots",
		Long: `rebuild refolds the named projections (all when none is named) from the start
of the log, replaces their snapshots in --state-dir (atomically: a failed
rebuild leaves the old snapshot), and prints one JSON line
per projection: {"name","version","position","hash"}. Two rebuilds of the same
log print the same hashes. A running server rebuilds with
POST /api/v1/projections/{name}/rebuild instead (an embedded store is open in
one process at a time).`,
		RunE: func(cmd *cobra.Command, names []string) error {
			reg := codec.NewRegistry()
			factories := readModels(reg)
			byName := map[string]projections.Factory{}
			var all []string
			for _, f := range factories {
				n := f().Name()
				byName[n] = f
				all = append(all, n)
			}
			for _, n := range names {
				if byName[n] == nil {
					return configErr(fmt.Errorf("unknown projection %q (have %s)", n, strings.Join(all, ", ")))
				}
			}
			if len(names) == 0 {
				names = all
			}
			ctx := cmd.Context()
			st, err := g.openStore(ctx)
			if err != nil {
				return err
			}
			defer st.Close()
			snaps, err := g.snapshots(st)
			if err != nil {
				return err
			}
			head, err := st.Head(ctx)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(g.stdout)
			for _, n := range slices.Compact(names) {
				p, err := projections.Replay(ctx, st, byName[n](), head, 0)
				if err != nil {
					return fmt.Errorf("rebuild %s: %w", n, err)
				}
				if _, err := projections.SaveSnapshot(ctx, st, snaps, p); err != nil {
					return fmt.Errorf("rebuild %s: %w", n, err)
				}
				hash, err := projections.Hash(p)
				if err != nil {
					return err
				}
				if err := enc.Encode(map[string]any{"name": n, "version": p.Version(), "position": uint64(p.Position()), "hash": hash}); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.AddCommand(rebuild)
	return cmd
}
