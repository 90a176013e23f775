package analytics

import (
	"context"
	"strings"
	"time"
)

// FineBucket is fineBucket, for the tests of medians.
var FineBucket = fineBucket

// OverviewRaw is Overview read from daily and response_hist themselves,
// never from their rollups.
func (s *Store) OverviewRaw(ctx context.Context, from, to time.Time, f Filter) (*Overview, error) {
	return s.overview(ctx, from, to, f, true)
}

// RebuildRollups empties the rollups of migration 0003 and fills them
// again with that migration's own statements, as it does on a store
// that has counters already.
func (s *Store) RebuildRollups(ctx context.Context) error {
	sqlText, err := migrationFiles.ReadFile("migrations/" + s.dialect.String() + "/0003_rollups.sql")
	if err != nil {
		return err
	}
	for _, t := range []string{"team_daily", "team_new", "team_response_hist", "day_response_hist"} {
		if _, err := s.w.ExecContext(ctx, "DELETE FROM "+t); err != nil {
			return err
		}
	}
	for stmt := range strings.SplitSeq(string(sqlText), ";") {
		if stmt = strings.TrimSpace(stmt); strings.HasPrefix(stmt, "INSERT") {
			if _, err := s.w.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
	}
	return nil
}
