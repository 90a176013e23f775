package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kakehashi/kakehashi/config"
	"github.com/kakehashi/kakehashi/internal/sqldb"
	"github.com/kakehashi/kakehashi/storecopy"
)

// storeCmd is `kakehashi store`: work on the stores themselves, with the
// gateway stopped.
func storeCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := group("store", "Work on the durable stores directly (gateway stopped)",
		`The gateway's durable state: SQLite files in data_dir, or a PostgreSQL
database (store: postgres://…). These commands open the stores themselves,
not the admin API: stop the gateway first.`)
	cmd.GroupID = daemonGroup
	cmd.Annotations = map[string]string{localOnly: "true"}
	cmd.AddCommand(storeCopyCmd(stdout, stderr))
	return cmd
}

func storeCopyCmd(stdout, stderr io.Writer) *cobra.Command {
	var path, from, to string
	cmd := &cobra.Command{
		Use:   "copy [--config FILE] [--from DIR] [--to URL]",
		Short: "Copy an installation's SQLite files into PostgreSQL",
		Long: `Copy an installation's state from its SQLite files (identity.db, queue.db,
analytics.db, mail-<network>.db in data_dir) into a PostgreSQL database, a
schema per store (identity, queue, analytics, mail_<network>), which the
command creates.

Stop the gateway first: the copy works on the files directly, and what a
running gateway writes meanwhile is not copied.

Each store is copied in one transaction, from one consistent read of its
file. A destination whose tables already hold rows is refused (nothing is
merged). After the copy, every table is read back and compared with its
source by row count and checksum; the command prints them and fails on any
mismatch, in which case that store's transaction is rolled back. Sequence
numbers (the audit log's, the queue's) continue after the copied ones.

--from defaults to the configuration's data_dir, --to to its store, and
the mail networks are the configuration's (without --config, those whose
mail-<network>.db is in --from). Then set store: in the configuration and
start the gateway.`,
		Example: `  kakehashi store copy --config /etc/kakehashi/kakehashi.yaml --to postgres://kakehashi:secret@db.corp.test/kakehashi
  kakehashi store copy --from sqlite:/var/lib/kakehashi --to "$KAKEHASHI_STORE"`,
		Args:        noArgs,
		Annotations: map[string]string{localOnly: "true"},
		PreRunE:     noAPIFlags,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o, notes, err := storeCopyOptions(path, from, to)
			if err != nil {
				return err
			}
			for _, n := range notes {
				fmt.Fprintln(stdout, n)
			}
			o.Logger = slog.New(slog.NewTextHandler(stderr, nil))
			fmt.Fprintf(stdout, "copying %s into %s\n", o.From, sqldb.Redact(o.To))
			rep, err := storecopy.Copy(cmd.Context(), o)
			if werr := rep.Write(stdout); werr != nil {
				err = errors.Join(err, werr)
			}
			if err == nil && !rep.OK() {
				err = storecopy.ErrMismatch
			}
			return err
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "configuration `FILE` (data_dir, store and the mail networks)")
	cmd.Flags().StringVar(&from, "from", "", "the data_dir to copy, as `DIR` or sqlite:DIR (default: the configuration's data_dir)")
	cmd.Flags().StringVar(&to, "to", "", "PostgreSQL `URL` to copy into, postgres://user:password@host/database (default: the configuration's store)")
	return cmd
}

// storeCopyOptions works out what store copy copies from its flags and
// the configuration file at path, if any; notes are what the operator
// should know (a mail network's file that the configuration does not
// name, which is not copied).
func storeCopyOptions(path, from, to string) (o storecopy.Options, notes []string, err error) {
	var cfg *config.Config
	if path != "" {
		if cfg, err = config.Load(path); err != nil {
			return o, nil, err
		}
	}
	switch {
	case from != "":
		if s, ok := strings.CutPrefix(from, "sqlite:"); ok {
			from = strings.TrimPrefix(s, "//")
		}
	case cfg != nil:
		from = cfg.DataDir
	default:
		return o, nil, errors.New("store copy: give --from DIR (or --config FILE, whose data_dir it copies)")
	}
	switch {
	case to != "":
	case cfg != nil && cfg.Store != "":
		to = cfg.Store.Reveal()
	default:
		return o, nil, errors.New("store copy: give --to postgres://… (or a --config FILE with store: set)")
	}
	src, err := sqldb.Parse(to)
	if err != nil {
		return o, nil, fmt.Errorf("store copy: --to: %w", err)
	}
	if src.Dialect != sqldb.Postgres {
		return o, nil, fmt.Errorf("store copy: --to %s is not a PostgreSQL URL: want postgres://user:password@host/database", src)
	}
	o.From, o.To = from, to
	files, err := filepath.Glob(filepath.Join(from, "mail-*.db"))
	if err != nil {
		return o, nil, fmt.Errorf("store copy: %w", err)
	}
	var found []string
	for _, f := range files {
		found = append(found, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "mail-"), ".db"))
	}
	if cfg == nil {
		o.MailNetworks = found
		return o, notes, nil
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Networks)) {
		if n := cfg.Networks[name]; n != nil && n.Kind == config.KindMail {
			o.MailNetworks = append(o.MailNetworks, name)
		}
	}
	for _, name := range found {
		if !slices.Contains(o.MailNetworks, name) {
			notes = append(notes, fmt.Sprintf("mail-%s.db: %s is not a mail network of %s: not copied", name, name, path))
		}
	}
	return o, notes, nil
}
