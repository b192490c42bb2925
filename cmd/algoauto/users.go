package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/algoauto/algoauto/api/auth"
	"github.com/algoauto/algoauto/domain"
	"github.com/algoauto/algoauto/eventstore/codec"
)

func newUsersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Add and list the users who may log in to the API",
		Long: `users manages the API's users, recorded as events in the log (user-<id>
streams). serve creates the first one, "admin", on its first start. The
embedded store belongs to one process: stop serve first, or add users through
POST /api/v1/users/ as an admin.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newUsersAddCmd(g), newUsersListCmd(g))
	return cmd
}

func newUsersAddCmd(g *globals) *cobra.Command {
	var role string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "add <username>",
		Short: "Add a user with a role (admin, trader, viewer) and its paper account",
		Long: `add registers a user with the role given by --role and the paper account
paper-<username>. With --password-stdin the password is the first line of
stdin (at least 8 characters); without it a random password is generated and
printed once. A password is never taken from a flag (flags end up in shell
history and process listings).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := domain.ParseRole(role)
			if err != nil {
				return configErr(fmt.Errorf("--role: %w", err))
			}
			var pw string
			generated := !passwordStdin
			if passwordStdin {
				if pw, err = readPasswordLine(g.stdin); err != nil {
					return err
				}
			} else if pw, err = generatePassword(); err != nil {
				return err
			}
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			svc, err := loadUsers(cmd.Context(), st)
			if err != nil {
				return err
			}
			u, err := svc.AddUser(cmd.Context(), args[0], pw, r, "cli")
			if err != nil {
				return fmt.Errorf("users add: %w", err)
			}
			fmt.Fprintf(g.stdout, "added %s (%s), id %s, paper account %s\n", u.Username, u.Role, u.ID, u.PaperAccount)
			if generated {
				fmt.Fprintf(g.stdout, "password: %s (shown once)\n", pw)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&role, "role", "trader", "admin, trader or viewer")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin (default: generate one)")
	return cmd
}

func newUsersListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List users with their role and accounts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer st.Close()
			svc, err := loadUsers(cmd.Context(), st)
			if err != nil {
				return err
			}
			users := svc.Users()
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(users)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USERNAME\tROLE\tACCOUNTS\tID\tCREATED")
			for _, u := range users {
				accts := append([]string{u.PaperAccount}, u.Granted...)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Username, u.Role, strings.Join(accts, ","), u.ID, u.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the users as JSON")
	return cmd
}

// loadUsers returns an auth service over st, without a signing key (user
// management only), loaded.
func loadUsers(ctx context.Context, st *openedStore) (*auth.Service, error) {
	svc, err := auth.NewService(st, auth.Config{})
	if err != nil {
		return nil, err
	}
	if err := svc.Load(ctx); err != nil {
		return nil, err
	}
	return svc, nil
}

// readPasswordLine reads the first line of r, without its line ending.
func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", configErr(errors.New("--password-stdin: no password on stdin"))
	}
	return line, nil
}

// generatePassword returns 24 random base64url characters.
func generatePassword() (string, error) {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate a password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// stateDirOf is --state-dir, or its default for the store opened:
// <store>/state for an embedded store, ./state otherwise (as snapshots).
func (g *globals) stateDirOf(st *openedStore) string {
	if g.stateDir != "" {
		return g.stateDir
	}
	if st.kind == "embedded" {
		return filepath.Join(g.store, "state")
	}
	return "state"
}

// setupAuth builds serve's auth service: the signing key from
// ALGOAUTO_JWT_KEY (base64) or <state-dir>/jwt.key (created 0600), the
// users and sessions loaded from the log and then followed (so that users,
// roles, passwords and revoked sessions written by other serve nodes
// sharing the store, or by the users CLI, apply here too: Follow runs until
// ctx ends or the store is closed), and, on a log without users, the user
// admin with ALGOAUTO_ADMIN_PASSWORD or a generated password that is
// printed once and written to <state-dir>/admin-password (0600). Nodes
// sharing a store must share ALGOAUTO_JWT_KEY.
func setupAuth(ctx context.Context, g *globals, st *openedStore, reg *codec.Registry, log *slog.Logger) (*auth.Service, error) {
	dir := g.stateDirOf(st)
	adminPassword := g.getenv("ALGOAUTO_ADMIN_PASSWORD")
	if adminPassword != "" {
		if err := auth.CheckPassword("ALGOAUTO_ADMIN_PASSWORD", adminPassword); err != nil {
			return nil, configErr(err)
		}
	}
	var key []byte
	var err error
	if v := g.getenv("ALGOAUTO_JWT_KEY"); v != "" {
		if key, err = auth.ParseKey(v); err != nil {
			return nil, configErr(fmt.Errorf("ALGOAUTO_JWT_KEY: %w", err))
		}
	} else {
		path := filepath.Join(dir, "jwt.key")
		var created bool
		if key, created, err = auth.LoadOrCreateKey(path); err != nil {
			return nil, configErr(fmt.Errorf("--state-dir: %w", err))
		}
		if created {
			log.Info("created the JWT signing key", "path", path)
		}
	}
	svc, err := auth.NewService(st, auth.Config{Key: key, Registry: reg, Logger: log.With("component", "auth")})
	if err != nil {
		return nil, configErr(err)
	}
	if err := svc.Load(ctx); err != nil {
		return nil, err
	}
	go func() {
		if err := svc.Follow(ctx); err != nil {
			log.Error("auth: not following the log", "err", err)
		}
	}()
	created, pw, err := svc.Bootstrap(ctx, adminPassword)
	if err != nil {
		return nil, err
	}
	switch {
	case created && pw != "":
		path := filepath.Join(dir, "admin-password")
		if err := writeSecret(path, pw+"\n"); err != nil {
			return nil, err
		}
		fmt.Fprintf(g.stderr, "admin password: %s (also written to %s, mode 0600)\n", pw, path)
	case created:
		log.Info("created the user admin with the password in ALGOAUTO_ADMIN_PASSWORD")
	}
	return svc, nil
}

// writeSecret writes data to path with mode 0600 (its directory 0700).
func writeSecret(path, data string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// A file left from an earlier store may have a wider mode: replace it.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.WriteString(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
