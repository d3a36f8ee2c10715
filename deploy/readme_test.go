package deploy_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADME_LayoutIsATrueMap: the README's Layout section names every
// directory of the repository that holds Go code (or its parent's line
// names it, as "sinks/" names its sink packages), and every path it names
// exists.
func TestREADME_LayoutIsATrueMap(t *testing.T) {
	root := filepath.Join("..")
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no Layout section")
	}
	_, block, _ := strings.Cut(section, "```\n")
	block, _, _ = strings.Cut(block, "```")
	listed := map[string]string{} // directory -> its description
	for _, line := range strings.Split(block, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasSuffix(f[0], "/") {
			continue
		}
		dir := strings.TrimSuffix(f[0], "/")
		listed[dir] = strings.Join(f[1:], " ")
		if st, err := os.Stat(filepath.Join(root, dir)); err != nil || !st.IsDir() {
			t.Errorf("the Layout names %s/, which is not a directory of the repository", dir)
		}
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
			return fs.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(name, ".go") {
			return nil
		}
		dir, _ := filepath.Rel(root, filepath.Dir(path))
		dir = filepath.ToSlash(dir)
		if dir == "." {
			return nil
		}
		if _, ok := listed[dir]; ok {
			return nil
		}
		parent, base := filepath.ToSlash(filepath.Dir(dir)), filepath.Base(dir)
		if desc, ok := listed[parent]; ok && strings.Contains(desc, base) {
			return nil
		}
		t.Errorf("the Layout does not name %s/ (nor does its parent's line)", dir)
		listed[dir] = "" // report each directory once
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
