package main

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/analytics"
)

// dayFlag reads a --from or --to flag: a day, YYYY-MM-DD.
func dayFlag(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(analytics.DayFormat, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("--%s %q: give a day as YYYY-MM-DD, e.g. 2026-11-01", name, v)
	}
	return t, nil
}

func statsCmd(o *conn) *cobra.Command {
	var from, to string
	var q adminapi.StatsQuery
	cmd := &cobra.Command{
		Use:     "stats",
		GroupID: adminGroup,
		Short:   "Show messages, new contacts, reply rate and first-response times per day",
		Long: `Show the numbers of a period, day by day (UTC) and in total: messages in
(from contacts) and out (from owners), new contacts, contacts gone,
conversations a contact started or resumed (WAITS) and how many of them
were answered since (REPLIED, REPLY RATE), and the first answers given
that day by how long the contact waited, with their median (read from a
log-scale histogram, within about 2.5 %). Then new contacts by contact
point and source. For everyone, a team or an employee.`,
		Example: `  kakehashi stats
  kakehashi stats --from 2026-11-01 --to 2026-11-30 --team sales
  kakehashi stats --employee hana --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if q.From, err = dayFlag("from", from); err != nil {
				return err
			}
			if q.To, err = dayFlag("to", to); err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			ov, err := c.Overview(cmd.Context(), q)
			if err != nil {
				return err
			}
			return o.show(statsTable(ov))
		},
	}
	cmd.Flags().StringVar(&from, "from", "", fmt.Sprintf("the period's first `DAY` (YYYY-MM-DD, UTC; default: %d days up to --to)", adminapi.DefaultStatsDays))
	cmd.Flags().StringVar(&to, "to", "", "the period's last `DAY` (YYYY-MM-DD, UTC; default: today)")
	cmd.Flags().StringVar(&q.Team, "team", "", "only the traffic of `TEAM`'s members (their department)")
	cmd.Flags().StringVar(&q.Employee, "employee", "", "only the traffic of employee `ID` as the owner")
	return cmd
}

func statsTable(ov *analytics.Overview) func(io.Writer) {
	return func(w io.Writer) {
		fmt.Fprintln(w, "DAY\tIN\tOUT\tNEW\tGONE\tWAITS\tREPLIED\tREPLY RATE\tANSWERS\tMEDIAN\t<1H\t1-4H\t4-8H\t8-24H\t>24H")
		row := func(day string, c analytics.Counts) {
			r := c.FirstResponse
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%s\t%d\t%d\t%d\t%d\t%d\n", day, c.In, c.Out, c.NewContacts, c.Gone,
				c.Waits, c.Replied, percent(c.ReplyRate), r.Count, seconds(r.MedianSeconds), r.Under1h, r.From1to4, r.From4to8, r.From8to24, r.Over24h)
		}
		for _, d := range ov.Days {
			row(d.Day, d.Counts)
		}
		row("total", ov.Total)
		if len(ov.Total.NewBySource) == 0 {
			return
		}
		fmt.Fprintln(w, "\nNEW CONTACTS BY\tCONTACT POINT\tSOURCE\tCOUNT")
		for _, d := range ov.Days {
			for _, s := range d.NewBySource {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\n", d.Day, orDash(s.ContactPoint), orDash(s.Source), s.Count)
			}
		}
	}
}

func percent(r *float64) string {
	if r == nil {
		return "-"
	}
	return strconv.FormatFloat(100**r, 'f', 1, 64) + "%"
}

// seconds shows a duration in seconds the way people read waits: to the
// minute (to the second under a minute).
func seconds(s *float64) string {
	if s == nil {
		return "-"
	}
	d := time.Duration(*s * float64(time.Second))
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	return d.Round(time.Minute).String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func waitingCmd(o *conn) *cobra.Command {
	var q adminapi.WaitingQuery
	cmd := &cobra.Command{
		Use:     "waiting",
		GroupID: adminGroup,
		Short:   "List conversations waiting for an answer, oldest first",
		Long: `List the conversations where the contact wrote last and nobody has
answered, oldest first, with their owner (as of the contact's last
message): the list to act on, by reassigning a row with kakehashi
transfers.`,
		Example: `  kakehashi waiting --older-than 4h
  kakehashi waiting --team sales --limit 20`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if q.OlderThan < 0 {
				return fmt.Errorf("--older-than %v: give a positive duration, e.g. 4h", q.OlderThan)
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			l, err := c.Waiting(cmd.Context(), q)
			if err != nil {
				return err
			}
			return o.show(waitingTable(l))
		},
	}
	cmd.Flags().DurationVar(&q.OlderThan, "older-than", 0, "only conversations waiting at least `DURATION` (e.g. 4h; default: all)")
	cmd.Flags().StringVar(&q.Team, "team", "", "only those owned by a member of `TEAM`")
	cmd.Flags().StringVar(&q.Employee, "employee", "", "only those owned by employee `ID`")
	cmd.Flags().IntVar(&q.Limit, "limit", analytics.DefaultWaitingLimit, "at most `N` conversations")
	return cmd
}

func waitingTable(l []analytics.Waiting) func(io.Writer) {
	return func(w io.Writer) {
		fmt.Fprintln(w, "RELATIONSHIP\tOWNER\tTEAM\tNETWORK\tWAITING SINCE\tFOR")
		for _, x := range l {
			secs := float64(x.WaitingSeconds)
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", x.RelationshipID, orPool(x.Owner), orDash(x.Team), x.Network,
				x.Since.UTC().Format(time.RFC3339), seconds(&secs))
		}
	}
}
