package jsonl

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/cognitosync/cognitosync/pipeline"
	"github.com/cognitosync/cognitosync/sinks/changejson"
)

// ReadAll reads every *.jsonl file in dir, in file-name order (creation
// order for files of one prefix), and returns their changes with duplicates
// removed: the first line of each idempotency key wins, later copies (from
// replays) are dropped. A last line without a newline is a write torn by a
// crash, never acknowledged, and is skipped; any other line that does not
// decode is an error naming the file and line. For tests and tools: it
// holds everything in memory.
func ReadAll(dir string) ([]pipeline.Change, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("jsonl: %w", err)
	}
	sort.Strings(paths)
	seen := map[pipeline.ChangeKey]bool{}
	var out []pipeline.Change
	for _, p := range paths {
		changes, err := readFile(p)
		if err != nil {
			return nil, err
		}
		for _, c := range changes {
			if seen[c.ID()] {
				continue
			}
			seen[c.ID()] = true
			out = append(out, c)
		}
	}
	return out, nil
}

// ReadLines reads every complete line of the *.jsonl files in dir, in
// file-name order, duplicates kept: what is on disk, for tests and tools
// that check it. Errors as ReadAll.
func ReadLines(dir string) ([]pipeline.Change, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("jsonl: %w", err)
	}
	sort.Strings(paths)
	var out []pipeline.Change
	for _, p := range paths {
		changes, err := readFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, changes...)
	}
	return out, nil
}

func readFile(path string) ([]pipeline.Change, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("jsonl: %w", err)
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var out []pipeline.Change
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return out, nil // a non-empty line here is a torn write
		}
		if err != nil {
			return nil, fmt.Errorf("jsonl: %s: %w", path, err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var j changejson.Change
		if err := json.Unmarshal(line, &j); err != nil {
			return nil, fmt.Errorf("jsonl: %s:%d: %w", path, n, err)
		}
		c, err := j.Pipeline()
		if err != nil {
			return nil, fmt.Errorf("jsonl: %s:%d: %w", path, n, err)
		}
		out = append(out, c)
	}
}
