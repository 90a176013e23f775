package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"

	"github.com/kakehashi/kakehashi/config"
)

func configCheck(path string, stdout io.Writer) error {
	cfg, err := config.Load(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: OK (%d inside, %d outside networks)\n", path, len(cfg.Inside()), len(cfg.Outside()))
	return nil
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", "kakehashi.yaml", "configuration file")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file (for performance work)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	opts := &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if cfg.Log.Format == "json" {
		h = slog.NewJSONHandler(stderr, opts)
	}
	return runDaemon(ctx, cfg, slog.New(h))
}
