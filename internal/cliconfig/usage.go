package cliconfig

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/cognitosync/cognitosync/internal/buildinfo"
)

// Usage is what a command prints about itself: Head (what it does and how
// it is called) and the flags after it on --help, Line alone after a flag
// error.
type Usage struct {
	// Head precedes the flags on --help.
	Head string
	// Line is the one-line synopsis printed after a flag error, e.g.
	// "usage: syncd [flags]; syncd --help lists them".
	Line string
}

// Parse parses args into fs, which it gives a --version flag. --help (or
// -h) prints u.Head and every flag with its help and default, each once, to
// stdout; --version prints the version (internal/buildinfo) to stdout; both
// return flag.ErrHelp, which the caller turns into exit status 0. A flag
// error returns the error followed by u.Line, and nothing else is printed:
// a typo gets two lines, not the whole help.
func Parse(fs *flag.FlagSet, args []string, u Usage, stdout io.Writer) error {
	version := fs.Bool("version", false, "print the version and exit")
	fs.SetOutput(io.Discard) // flag's own error line and usage: Parse reports them
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, u.Head)
		PrintFlags(stdout, fs)
		return flag.ErrHelp
	case err != nil:
		return fmt.Errorf("%w\n%s", err, u.Line)
	case *version:
		fmt.Fprintln(stdout, buildinfo.Version())
		return flag.ErrHelp
	}
	return nil
}

// PrintFlags prints every flag of fs, sorted by name, as flag.PrintDefaults
// does, except that a default is shown once: not when the help already says
// what the default is ("default" in it), nor when it is empty, zero or false.
func PrintFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		var b strings.Builder
		fmt.Fprintf(&b, "  -%s", f.Name)
		if name != "" {
			b.WriteString(" " + name)
		}
		b.WriteString("\n    \t")
		b.WriteString(strings.ReplaceAll(usage, "\n", "\n    \t"))
		if d := f.DefValue; !strings.Contains(strings.ToLower(usage), "default") && !zeroDefault(d) {
			if name == "string" {
				d = fmt.Sprintf("%q", d)
			}
			fmt.Fprintf(&b, " (default %s)", d)
		}
		b.WriteString("\n")
		fmt.Fprint(w, b.String())
	})
}

func zeroDefault(d string) bool {
	switch d {
	case "", "0", "0s", "false", "[]":
		return true
	}
	return false
}
