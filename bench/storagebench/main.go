// Command storagebench measures the storage layers and prints tables of
// figures, each a ratio against a baseline measured in the same run, with a
// bar-chart PNG beside them.
//
//	go run ./bench/storagebench                 # every suite, full size
//	go run ./bench/storagebench -suite appdata  # one suite
//	go run ./bench/storagebench -quick          # small sizes, for a smoke run
//	go run ./bench/storagebench -markdown BENCHMARKS.md  # also append the tables
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"

	"github.com/schollz/progressbar/v3"

	"github.com/odgm-go/odgm/bench/report"
)

// options are what every suite is given.
type options struct {
	// Dir is a scratch directory the suite may fill; removed afterwards.
	Dir string
	// Quick asks for small sizes: seconds, not minutes.
	Quick bool
}

// progress returns a bar on standard error for a long step of total units.
func (o options) progress(desc string, total int64) *progressbar.ProgressBar {
	return progressbar.NewOptions64(total,
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(200_000_000),
		progressbar.OptionClearOnFinish(),
	)
}

// result is what a suite returns: tables to print and charts to draw.
type result struct {
	Tables []*report.Table
	Charts map[string]*report.Chart // file name (without directory) → chart
}

// suite runs one group of benchmarks.
type suite func(ctx context.Context, o options) (result, error)

// suites is filled by each suite's file in its init function.
var suites = map[string]suite{}

func main() {
	only := flag.String("suite", "", "run only this suite (default: all)")
	quick := flag.Bool("quick", false, "small sizes, for a smoke run")
	out := flag.String("out", "bench/results", "directory for chart images")
	md := flag.String("markdown", "", "append the tables to this Markdown file")
	dir := flag.String("dir", "", "scratch directory (default: a new temporary one)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *only, *quick, *out, *md, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "storagebench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, only string, quick bool, out, md, dir string) error {
	var names []string
	for n := range suites {
		if only == "" || n == only {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("no suite %q; have %s", only, strings.Join(sortedKeys(), ", "))
	}
	sort.Strings(names)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	fmt.Printf("machine: %s\n\n", report.Machine())
	for _, n := range names {
		scratch, err := os.MkdirTemp(dir, "storagebench-"+n+"-")
		if err != nil {
			return err
		}
		res, err := suites[n](ctx, options{Dir: scratch, Quick: quick})
		os.RemoveAll(scratch)
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		for _, t := range res.Tables {
			if err := t.WriteText(os.Stdout); err != nil {
				return err
			}
			fmt.Println()
		}
		for file, c := range res.Charts {
			path := filepath.Join(out, file)
			if err := c.WritePNG(path); err != nil {
				return err
			}
			fmt.Printf("chart: %s\n", path)
		}
		if md != "" {
			cmd := "go run ./bench/storagebench -suite " + n
			if quick {
				cmd += " -quick"
			}
			if err := report.AppendMarkdown(md, cmd, res.Tables...); err != nil {
				return err
			}
		}
	}
	return nil
}

func sortedKeys() []string {
	var ks []string
	for k := range suites {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
