//go:build race

package main_test

// raceBuild is true when the tests run with -race; the syncd binary under
// test is then built with -race too, so data races in the server fail the test.
const raceBuild = true

// procIdentities is how many identities TestProcess_MemoryBoundedAfterManyIdentities
// syncs in its second phase under -race, which slows its clients down about
// tenfold; a leak of the reported size would still add 7 MB.
const procIdentities = 8_000
