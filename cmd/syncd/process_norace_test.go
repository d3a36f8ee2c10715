//go:build !race

package main_test

// raceBuild is true when the tests run with -race; see process_race_test.go.
const raceBuild = false

// procIdentities is how many identities TestProcess_MemoryBoundedAfterManyIdentities
// syncs in its second phase: the report's figure.
const procIdentities = 20_000
