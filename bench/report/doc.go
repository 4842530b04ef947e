// Package report prints benchmark results as aligned tables and draws them as
// bar-chart PNG images, so that every program under bench/ reports the same
// way: numbers on standard output (and appended to a Markdown file on
// request), and a picture beside them.
//
// Figures are meant to be ratios against a baseline measured in the same run:
// the machines are shared and noisy, so absolute numbers from different runs
// are not comparable.
package report
